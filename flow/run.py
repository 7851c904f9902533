"""Compile a workload, run its programs on the model, and gather one report.

The flow is the only place that joins the stages: the compiler (compiler/) lowers, the model (sim/) runs, the
statistics (arch/stats.py) merge, the cost model (reports/cost.py) prices. `run_gemm` runs one GEMM,
`run_graph` a Tensor graph kernel by kernel, `run_network` a built-in network or a user's FILE.py; `report`
turns any of them into the `--json` document the CLI prints and `tinyaccel report` reads.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
import importlib.util
import os
import sys
import time

import numpy as np

from ..arch import timing as T
from ..arch.config import AccelConfig
from ..arch.stats import Stats
from ..compiler.gemm import Epilogue, compile_gemm
from ..compiler.importers.tinygrad import import_tensor as import_tinygrad
from ..compiler.importers.tinygrad import is_tinygrad_tensor
from ..compiler.ir import Ops
from ..compiler.partition import Partition, partition_gemm, parts_of, placeholder_output
from ..compiler.program import Compiled, CompileError
from ..compiler.schedule import ConvKernel, GemmKernel, GraphLowering, LayerNormKernel, schedule
from ..compiler.tensor import Tensor
from ..reports.cost import cost_report
from ..sim.model import ChipResult, Machine, Result, run_chip
from ..sim.model import run as simulate


class WorkloadError(ValueError):
  """A workload that does not exist or cannot be built (unknown name, a FILE.py that fails): one line."""

# ---------------- one program ----------------
@dataclass(frozen=True)
class ProgramRun:
  result: Result                      # cycles, statistics, trace
  output: np.ndarray | None           # what the program computed (timing-only: the integer reference, when asked for)
  correct: bool | None                # bit-exact against the reference; None when the numerics were skipped
  dram: np.ndarray | None             # the final DRAM image (functional runs)

def run_program(cfg: AccelConfig, prog: Compiled, functional: bool = True, output: bool = True) -> ProgramRun:
  """Run a compiled program on the model; functional runs check the result against the program's reference."""
  mach = Machine(cfg, prog.dram.copy()) if functional else Machine(cfg, dram_bytes=len(prog.dram), functional=False)
  res = simulate(cfg, prog.program, machine=mach)
  if not functional: return ProgramRun(res, prog.reference() if output else None, None, None)
  got = prog.read(mach.dram)
  return ProgramRun(res, got, bool(np.array_equal(got, prog.reference())), mach.dram)

def run_kernel(cfg: AccelConfig, prog: Compiled | Partition, functional: bool = True, output: bool = True) -> ProgramRun:
  """A kernel's program on one core exactly as `run_program`, or on a multi-core chip (every core its part, then the
  kernel barrier: sim/model.run_chip); a single program on a multi-core chip runs on core 0. The ProgramRun's result is
  then the ChipResult (its `cores` the per-core Results) and `dram` the list of the cores' DRAM images."""
  if cfg.cores == 1 and not isinstance(prog, Partition): return run_program(cfg, prog, functional, output)
  parts = parts_of(prog)
  machs = [Machine(cfg, p.dram.copy()) if functional else Machine(cfg, dram_bytes=len(p.dram), functional=False) for p in parts]
  res = run_chip(cfg, [p.program for p in parts], machs)
  if not functional: return ProgramRun(res, prog.reference() if output else None, None, None)
  drams = [m.dram for m in machs]
  got = prog.read(drams) if isinstance(prog, Partition) else prog.read(drams[0])
  return ProgramRun(res, got, all(bool(np.array_equal(p.read(d), p.reference())) for p, d in zip(parts, drams)), drams)

def timing_cycles(cfg: AccelConfig, prog: Compiled | Partition) -> int:
  """Exact cycles of a program (or a chip's partition) from a timing-only run: the compiler's mapper cost."""
  return run_kernel(cfg, prog, functional=False, output=False).result.cycles

def core_macs(cfg: AccelConfig, res: Result | ChipResult) -> tuple:
  """Array MACs per core of a chip run (idle cores 0); () on a single-core chip."""
  if cfg.cores == 1: return ()
  got = [r.stats.macs for r in res.cores]
  return tuple(got + [0] * (cfg.cores - len(got)))

def chip_cores(cfg: AccelConfig, stats: Stats, kernels: list) -> dict:
  """The report's per-core figures of a multi-core run: each core's array MACs and utilization over the whole run
  (its MACs / (chip cycles x one core's MACs per cycle)); {} on a single-core chip."""
  if cfg.cores == 1: return {}
  macs = [sum(k.core_macs[c] for k in kernels if k.core_macs) for c in range(cfg.cores)]
  util = [m / (stats.cycles * cfg.macs_per_cycle) if stats.cycles else 0.0 for m in macs]
  return dict(chip=dict(cores=cfg.cores, dram_channels=cfg.dram_channels, barrier_cycles=T.barrier_cycles(cfg), core_macs=macs, core_utilization=util,
                        peak_flops_per_s=cfg.chip_peak_flops_per_s, dram_bytes_per_cycle=cfg.chip_dram_bytes_per_cycle))

# ---------------- kernels and graphs ----------------
@dataclass(frozen=True)
class KernelRun:
  name: str; kind: str; op: str; shape: list; fused: list
  stats: Stats
  correct: bool | None
  program: Compiled | Partition = field(repr=False)
  core_macs: tuple = ()               # multi-core chips: array MACs each core performed (per-core utilization)
  span: tuple | None = None           # one-program runs: (start, end) cycles of the kernel's first and last instruction in the trace
  overlap_cycles: int = 0             # one-program runs: cycles of this kernel's span that the previous kernel's span also covers

  def to_json(self) -> dict:
    """A kernel's row of a report (docs/model.md: per-kernel keys)."""
    s = self.stats
    return dict(name=self.name, kind=self.kind, op=self.op, shape=self.shape, fused=self.fused, cycles=s.cycles, macs=s.macs, array_macs=s.array_macs,
                utilization=s.utilization, roofline_bound_cycles=s.roofline_bound_cycles, dram_bytes=s.dram_bytes, compulsory_dram_bytes=s.compulsory_dram_bytes,
                dram_read_bytes=s.dram_read_bytes, dram_write_bytes=s.dram_write_bytes, stall_cycles=s.stall_cycles,
                instructions=sum(s.instructions.values()), correct=self.correct, **({"core_macs": list(self.core_macs)} if self.core_macs else {}),
                **({"start": self.span[0], "end": self.span[1], "overlap_cycles": self.overlap_cycles} if self.span else {}))

def all_correct(flags) -> bool | None:
  """True when every part was checked and bit-exact, False when one differs, None when none was checked."""
  flags = list(flags)
  return None if all(f is None for f in flags) else all(f is not False for f in flags)

@dataclass(frozen=True)
class GraphRun:
  output: np.ndarray                  # the accelerator's result (int8 / int32; dequantized float for float graphs)
  kernels: list[KernelRun]
  correct: bool | None                # every kernel bit-exact against the integer reference; None: timing only
  accuracy: dict | None               # float graphs: max_abs_error, cosine_similarity vs float32
  whole: Stats | None = None          # one-program runs: the program's own statistics (kernels overlap, so their sum is not it)
  attribution: dict | None = None     # one-program runs: how the kernels' spans add up to the whole (attribute())
  compile_seconds: float = 0.0        # lowering (and linking), the model's timing-only mapper runs included
  simulate_seconds: float = 0.0       # the model running the network's program(s)
  linked: object = field(default=None, repr=False)   # one-program runs: the compiler/link.Linked program that ran
  @property
  def stats(self) -> Stats: return self.whole or Stats.merge([k.stats for k in self.kernels])

def run_graph(out: Tensor, cfg: AccelConfig, functional: bool = True, fusion: bool = True, progress: str | None = None,
              one_program: bool = False) -> GraphRun:
  """Lower every kernel of `out` (fused by compiler/schedule.FUSIONS unless `fusion` is off), run each on the model
  (bit-exact check unless timing only) and feed its output to the kernels that read it; timing only, nothing is computed:
  placeholder activations, the same cycles (GraphLowering). `progress`: a label for a per-kernel progress bar on stderr (None: none).
  `one_program`: link every kernel into one program over one planned image and run that once (run_linked)."""
  if one_program: return run_linked(out, cfg, functional, fusion, progress)
  from tqdm import tqdm
  g = GraphLowering(out, cfg, lambda prog: timing_cycles(cfg, prog), timing_only=not functional, fusion=fusion)
  runs, sim_s, t0 = [], 0.0, time.perf_counter()
  for i in tqdm(range(len(g.kernels)), desc=progress, unit="kernel", disable=progress is None, leave=False, file=sys.stderr):
    *copies, main = g.lower(i)
    for low in copies + [main]:
      t1 = time.perf_counter()
      r = run_kernel(cfg, low.program, functional, output=functional and low is main)
      sim_s += time.perf_counter() - t1
      stats = r.result.stats.with_macs(low.macs, low.array_macs)
      runs.append(KernelRun(low.name, low.kind, low.op, low.shape, low.fused, stats, r.correct, low.program, core_macs(cfg, r.result)))
    g.bind(i, main, r.output if functional else placeholder_output(main.program))   # timing only: no numerics (GraphLowering)
  output, accuracy = g.result()
  return GraphRun(output, runs, all_correct(k.correct for k in runs), accuracy, compile_seconds=time.perf_counter() - t0 - sim_s, simulate_seconds=sim_s)

def attribute(spans: list[tuple[int, int]], total: int) -> tuple[list[int], dict]:
  """Per-kernel overlap (cycles of a kernel's span the previous kernel's span also covers) and how the spans add up to
  `total`: sum of spans - overlaps + gaps (cycles no kernel's span covers: barriers, token hand-offs) = total."""
  overlap, gaps, reach = [], 0, 0
  for s, e in spans:
    overlap.append(max(0, min(reach, e) - s)); gaps += max(0, s - reach); reach = max(reach, e)
  gaps += total - reach
  return overlap, dict(sum_of_kernel_cycles=sum(e - s for s, e in spans), overlap_cycles=sum(overlap), gap_cycles=gaps, cycles=total)

def _segment_stats(cfg: AccelConfig, c: Compiled, trace: list, lo: int, hi: int, low) -> Stats:
  """A linked kernel's statistics from the whole program's trace: its span's cycles, its DMAs' bytes, its distinct bytes."""
  mach = Machine(cfg, dram_bytes=len(c.dram), functional=False)
  rd = wr = 0
  for ins in c.program:
    if ins.opcode.name in ("LOAD", "STORE"): mach.execute(ins); rd, wr = (rd + T.dma_bus_bytes(cfg, ins), wr) if ins.opcode.name == "LOAD" else (rd, wr + T.dma_bus_bytes(cfg, ins))
  return Stats.of(cfg, cycles=max(t[4] for t in trace[lo:hi]) - min(t[3] for t in trace[lo:hi]), macs=low.macs, array_macs=low.array_macs,
                  dram_read_bytes=rd, dram_write_bytes=wr, compulsory_dram_bytes=int(mach.read_mask.sum()) + int(mach.write_mask.sum()),
                  instructions={q: sum(1 for t in trace[lo:hi] if t[1] == q) for q in ("load", "compute", "store")})

def run_linked(out: Tensor, cfg: AccelConfig, functional: bool = True, fusion: bool = True, progress: str | None = None) -> GraphRun:
  """The graph as ONE program (compiler/link.py): lower every kernel (binding each kernel's integer reference as its
  output, so nothing runs while compiling but the mapper's timing-only cost), link them over one planned DRAM image, run
  the program once; `correct`: the network's output read from the final image equals the integer reference. Kernel rows
  are attributed from the trace (attribute). Single-core chips (a multi-core chip runs kernel by kernel: run_graph)."""
  from ..compiler.link import link
  if cfg.cores > 1: raise WorkloadError("one-program networks run on single-core chips; multi-core chips run kernel by kernel")
  t0 = time.perf_counter()
  g = GraphLowering(out, cfg, lambda prog: timing_cycles(cfg, prog), timing_only=not functional, fusion=fusion)
  lows, outs = [], []
  for i in range(len(g.kernels)):
    *copies, main = g.lower(i)
    # timing only: random nonzero int8 values per kernel as its output (timing reads no data but a B tile's zeros; distinct
    # values, unlike all ones, let link() tell each input's producer, a copy's permuted output included)
    ph = placeholder_output(main.program)
    val = main.program.reference() if functional else np.random.default_rng(i).integers(1, 128, ph.shape).astype(ph.dtype)
    lows += copies + [main]; outs += [c.program.reference() for c in copies] + [val]
    g.bind(i, main, val)
  kernels = [low.program for low in lows]
  ln = link(kernels, outs)
  t1 = time.perf_counter()
  mach = Machine(cfg, ln.dram.copy()) if functional else Machine(cfg, dram_bytes=len(ln.dram), functional=False)
  res = simulate(cfg, ln.program, machine=mach)
  t2 = time.perf_counter()
  correct = None
  if functional:
    last = kernels[-1]; got = last.read(ln.local(len(kernels) - 1, kernels, mach.dram))
    correct = bool(np.array_equal(got, last.reference()))
    g.bind(len(g.kernels) - 1, lows[-1], got)              # the network's output as the one program computed it
  spans = [(min(t[3] for t in res.trace[lo:hi]), max(t[4] for t in res.trace[lo:hi])) for lo, hi in ln.spans]
  overlap, attr = attribute(spans, res.cycles)
  attr.update(image_bytes=ln.plan.size, naive_image_bytes=ln.plan.naive_bytes, peak_live_bytes=ln.plan.peak_live_bytes,
              linked_bytes=ln.linked_bytes, initial_bytes=ln.initial_bytes, instructions=len(ln.program))
  runs = [KernelRun(low.name, low.kind, low.op, low.shape, low.fused, _segment_stats(cfg, low.program, res.trace, lo, hi, low), None, low.program,
                    span=sp, overlap_cycles=ov) for low, (lo, hi), sp, ov in zip(lows, ln.spans, spans, overlap)]
  # compulsory bytes as the kernels count them (a planned image reuses addresses, so its masks would count a reused byte once)
  whole = dataclasses.replace(res.stats.with_macs(sum(low.macs for low in lows), sum(low.array_macs for low in lows)),
                              compulsory_dram_bytes=sum(k.stats.compulsory_dram_bytes for k in runs))
  output, accuracy = g.result()
  return GraphRun(output, runs, correct, accuracy, whole, attr, compile_seconds=t1 - t0, simulate_seconds=t2 - t1, linked=ln)

# ---------------- workloads ----------------
def _typed(fn, kv: list[str]) -> dict:
  """`--arg name=value` strings typed from workload()'s defaults (bool, int, float, str; int, then float, then str without one)."""
  import inspect
  params, out = inspect.signature(fn).parameters, {}
  for item in kv:
    name, eq, text = item.partition("=")
    if not eq or name not in params: raise WorkloadError(f"--arg {item!r}: workload() takes {', '.join(params) or 'no arguments'} (as name=value)")
    d = params[name].default
    try:
      if isinstance(d, bool):
        if text.lower() not in ("true", "false", "1", "0"): raise ValueError("expected true or false")
        out[name] = text.lower() in ("true", "1")
      elif isinstance(d, (int, float)) or d is None or d is inspect.Parameter.empty:
        kind = type(d) if isinstance(d, (int, float)) else None
        out[name] = kind(text) if kind else next(v for f in (int, float, str) for v in [_try(f, text)] if v is not None)
      else: out[name] = type(d)(text)
    except ValueError as e: raise WorkloadError(f"--arg {item!r}: {e}") from None
  return out

BATCHED = ("mlp", "resnet", "mobilenet", "openpilot", "bert")    # built-in networks whose builder takes a batch size

def _try(f, text):
  try: return f(text)
  except ValueError: return None

def _user_line(path: str, e: BaseException) -> str:
  """'FILE:LINE: ' of the innermost frame of the user's file in e's traceback (where their model went wrong)."""
  import traceback
  ap = os.path.abspath(path)
  frames = [f for f in traceback.extract_tb(e.__traceback__) if os.path.abspath(f.filename) == ap]
  return f"{path}:{frames[-1].lineno}: " if frames else f"{path}: "

def load_workload(path: str, args: list[str] | None = None) -> Tensor:
  """The Tensor returned by `workload(**args)` in a user's Python file (ours or a tinygrad Tensor), or an ONNX model's output.
  The file's folder is on the import path while it runs; errors inside it name its file and line."""
  if not os.path.isfile(path): raise WorkloadError(f"no such workload file {path!r}")
  if path.endswith(".onnx"):                 # an ONNX model (compiler/importers/onnx.py)
    if args: raise WorkloadError("--arg applies to a FILE.py's workload()")
    from ..compiler.importers.onnx import import_onnx
    try: return import_onnx(path)
    except CompileError as e: raise WorkloadError(f"{path}: {e}") from None
    except Exception as e: raise WorkloadError(f"{path}: cannot read the ONNX model: {type(e).__name__}: {e}") from None
  os.environ.setdefault("DEV", "PYTHON")    # tinygrad models: its pure-Python device needs no compiler (it only realizes rand()-like constants)
  spec = importlib.util.spec_from_file_location("tinyaccel_user_workload", path)
  mod = importlib.util.module_from_spec(spec)
  folder = os.path.dirname(os.path.abspath(path))
  sys.path.insert(0, folder)
  try:
    try: spec.loader.exec_module(mod)
    except SystemExit as e: raise WorkloadError(f"{path}: called sys.exit({e.code!r}) instead of returning a Tensor from workload()") from None
    except Exception as e: raise WorkloadError(f"{_user_line(path, e)}{type(e).__name__}: {e}") from None
    if not callable(getattr(mod, "workload", None)): raise WorkloadError(f"{path}: defines no workload() function")
    kw = _typed(mod.workload, args or [])
    try: out = mod.workload(**kw)
    except SystemExit as e: raise WorkloadError(f"{path}: called sys.exit({e.code!r}) instead of returning a Tensor from workload()") from None
    except Exception as e: raise WorkloadError(f"{_user_line(path, e)}{type(e).__name__}: {e}") from None
  finally:
    if folder in sys.path: sys.path.remove(folder)
  if is_tinygrad_tensor(out):                # a real tinygrad Tensor: import its lazy graph (compiler/importers/tinygrad.py)
    try: return import_tinygrad(out)
    except CompileError as e: raise WorkloadError(f"{path}: {e}") from None
  if not isinstance(out, Tensor): raise WorkloadError(f"{path}: workload() must return a Tensor (ours or tinygrad's), got {type(out).__name__}")
  return out

def build_network(name: str, seq: int | None = None, args: list[str] | None = None, batch: int | None = None) -> Tensor:
  """A built-in network of `tinyaccel list` (transformers at sequence length `seq`, CNNs and MLPs at `batch`), a user's FILE.py or MODEL.onnx."""
  from ..workloads import WORKLOADS
  if seq is not None and not name.startswith(("bert", "gpt2")): raise WorkloadError("--seq applies to the transformer workloads (bert*, gpt2*)")
  if args and not name.endswith(".py"): raise WorkloadError("--arg applies to a FILE.py's workload()")
  if batch is not None and not name.startswith(BATCHED): raise WorkloadError(f"--batch applies to the built-in networks {', '.join(n for n in WORKLOADS if n.startswith(BATCHED))}")
  if name in WORKLOADS: return WORKLOADS[name][0](**({"seq": seq} if seq else {}), **({"batch": batch} if batch else {}))
  if name.endswith((".py", ".onnx")): return load_workload(name, args)
  raise WorkloadError(f"unknown workload {name!r} (available: gemm, {', '.join(WORKLOADS)}, or a FILE.py defining workload())")

def network_summary(out: Tensor) -> dict:
  """Parameters (constant operands of matmuls, convolutions and layernorms: not inputs, not masks) and MACs of a graph."""
  ks, weights, macs = schedule(out.node), {}, 0
  for k in ks:
    for b in (k.inputs[1], k.bias) if isinstance(k, (GemmKernel, ConvKernel)) else (k.gain, k.bias) if isinstance(k, LayerNormKernel) else ():
      if b is not None and b.op == Ops.BUFFER: weights[id(b)] = int(np.prod(b.shape))
    if isinstance(k, GemmKernel): macs += k.batch * k.M * k.K * k.N
    elif isinstance(k, ConvKernel): macs += int(np.prod(k.out.shape)) * int(np.prod(k.w.shape[1:]))   # per output: C/groups x KH x KW
  return dict(params=sum(weights.values()), macs=macs)

# ---------------- reports ----------------
def report(cfg: AccelConfig, workload: dict, stats: Stats, correct: bool | None, kernels: list[KernelRun], **extra) -> dict:
  """The `--json` document of a run: workload, config, the statistics' keys, correctness, cost and power, the kernels."""
  s = stats.to_json()
  return dict(workload=workload, config=cfg.to_dict(), **extra, **s, correct=correct, **cost_report(cfg, s), kernels=[k.to_json() for k in kernels])

@dataclass(frozen=True)
class GemmRun:
  compiled: Compiled
  run: ProgramRun
  kernel: KernelRun
  report: dict

def run_gemm(cfg: AccelConfig, m: int, k: int, n: int, seed: int = 0, functional: bool = True, epilogue: Epilogue | None = None) -> GemmRun:
  """Compile and simulate one GEMM (random int8 operands from `seed`), checked bit for bit unless timing only."""
  if cfg.cores == 1: c = prog = compile_gemm(cfg, m, k, n, seed=seed, epilogue=epilogue)
  else:   # the operands compile_gemm draws from `seed`, split over the cores (compiler/partition.py); `compiled` is core 0's part
    rng = np.random.default_rng(seed)
    A = rng.integers(-128, 128, (m, k), dtype=np.int8); B = rng.integers(-128, 128, (k, n), dtype=np.int8)
    prog = partition_gemm(cfg, m, k, n, A, B, epilogue); c = parts_of(prog)[0]
  r = run_kernel(cfg, prog, functional, output=False)
  fused = [x for x, on in (("bias", epilogue and epilogue.bias is not None), ("relu", epilogue and epilogue.relu), ("requant", epilogue and epilogue.requant)) if on]
  kern = KernelRun("gemm", "gemm", "matmul", [m, k, n], fused, r.result.stats, r.correct, prog, core_macs(cfg, r.result))
  wl = dict(kind="gemm", m=m, k=k, n=n, seed=seed, bias="bias" in fused, relu="relu" in fused, output_dtype=epilogue.out_dtype if epilogue else "int32")
  t = c.tiling
  rep = report(cfg, wl, r.result.stats, r.correct, [kern], tiling=dict(mt=t.mt, kt=t.kt, nt=t.nt, order=t.order, est_cycles=t.est_cycles),
               **chip_cores(cfg, r.result.stats, [kern]))
  return GemmRun(c, r, kern, rep)

def run_network(name: str, cfg: AccelConfig, functional: bool = True, seq: int | None = None, args: list[str] | None = None,
                batch: int | None = None, budget: bool = False, fusion: bool = True, progress: bool = False,
                one_program: bool = False) -> tuple[GraphRun, dict]:
  """A network (built-in, FILE.py, MODEL.onnx, or a SCALE-Sim topology CSV) run kernel by kernel, and its report;
  `budget`: refuse work above flow/budget.py's; `fusion`: off runs the unfused schedule (for comparison); `progress`: a
  per-kernel progress bar on stderr; `one_program`: the network linked into one program (run_linked)."""
  if name.endswith(".csv"): return run_topology(name, cfg, functional, progress=progress)
  out = build_network(name, seq, args, batch)
  if budget:
    from .budget import check_graph
    check_graph(cfg, out, name)
  g = run_graph(out, cfg, functional, fusion, f"{os.path.basename(name)} on {cfg.name}" if progress else None, one_program)
  wl = dict(kind="network", name=name, **({"batch": batch} if batch else {}), **({} if fusion else {"fusion": False}),
            **({"one_program": True} if one_program else {}))
  extra = dict(one_program=g.attribution) if g.attribution else {}
  return g, report(cfg, wl, g.stats, g.correct, g.kernels, accuracy=g.accuracy, compile_seconds=g.compile_seconds, simulate_seconds=g.simulate_seconds,
                   **extra, **chip_cores(cfg, g.stats, g.kernels))

def evaluate(cfg: AccelConfig, workload: str, progress: bool = False) -> tuple[Stats, dict]:
  """Timing-only statistics and report of "gemm MxKxN" or a network of `tinyaccel list`, optionally "NAME batch B" (a sweep point, a compare row)."""
  if workload.startswith("gemm "):
    try: m, k, n = (int(x) for x in workload.split()[1].split("x"))
    except ValueError: raise WorkloadError(f"workload {workload!r}: expected gemm MxKxN") from None
    g = run_gemm(cfg, m, k, n, functional=False)
    return g.run.result.stats, g.report
  from ..workloads import WORKLOADS
  name, _, batch = workload.partition(" batch ")
  if name not in WORKLOADS or (batch and not batch.isdigit()): raise WorkloadError(f"unknown workload {workload!r} (gemm MxKxN or one of {', '.join(WORKLOADS)}, optionally 'NAME batch B')")
  g, rep = run_network(name, cfg, functional=False, batch=int(batch) if batch else None, progress=progress)
  return g.stats, rep

# ---------------- SCALE-Sim topologies ----------------
def run_topology(path: str, cfg: AccelConfig, functional: bool = True, seed: int = 0, progress: bool = False) -> tuple[GraphRun, dict]:
  """Every layer of a SCALE-Sim topology CSV as the GEMM SCALE-Sim simulates (compiler/importers/scalesim.py), one row each."""
  from ..compiler.importers.scalesim import read_topology
  try: layers = read_topology(path)
  except CompileError as e: raise WorkloadError(str(e)) from None
  ks = []
  from tqdm import tqdm
  for i, ly in enumerate(tqdm(layers, desc=f"{os.path.basename(path)} on {cfg.name}", unit="layer", disable=not progress, leave=False, file=sys.stderr)):
    g = run_gemm(cfg, ly.m, ly.k, ly.n, seed=seed + i, functional=functional)
    ks.append(dataclasses.replace(g.kernel, name=ly.name[:9], op="conv2d" if ly.conv else "matmul"))
  run = GraphRun(np.zeros(0, np.int32), ks, all_correct(k.correct for k in ks), None)
  return run, report(cfg, dict(kind="scalesim_topology", name=path, layers=[dict(name=ly.name, m=ly.m, k=ly.k, n=ly.n) for ly in layers]), run.stats, run.correct, ks)
