"""Compile a workload, run its programs on the model, and gather one report.

The flow is the only place that joins the stages: the compiler (compiler/) lowers, the model (sim/) runs, the
statistics (arch/stats.py) merge, the cost model (reports/cost.py) prices. `run_gemm` runs one GEMM,
`run_graph` a Tensor graph kernel by kernel, `run_network` a built-in network or a user's FILE.py; `report`
turns any of them into the `--json` document the CLI prints and `tinyaccel report` reads.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import importlib.util
import os

import numpy as np

from ..arch.config import AccelConfig
from ..arch.stats import Stats
from ..compiler.gemm import Epilogue, compile_gemm
from ..compiler.ir import Ops
from ..compiler.program import Compiled
from ..compiler.schedule import ConvKernel, GemmKernel, GraphLowering, LayerNormKernel, schedule
from ..compiler.tensor import Tensor
from ..reports.cost import cost_report
from ..sim.model import Machine, Result
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

def timing_cycles(cfg: AccelConfig, prog: Compiled) -> int:
  """Exact cycles of a program from a timing-only run: the compiler's mapper cost."""
  return run_program(cfg, prog, functional=False, output=False).result.cycles

# ---------------- kernels and graphs ----------------
@dataclass(frozen=True)
class KernelRun:
  name: str; kind: str; op: str; shape: list; fused: list
  stats: Stats
  correct: bool | None
  program: Compiled = field(repr=False)

  def to_json(self) -> dict:
    """A kernel's row of a report (docs/model.md: per-kernel keys)."""
    s = self.stats
    return dict(name=self.name, kind=self.kind, op=self.op, shape=self.shape, fused=self.fused, cycles=s.cycles, macs=s.macs, array_macs=s.array_macs,
                utilization=s.utilization, roofline_bound_cycles=s.roofline_bound_cycles, dram_bytes=s.dram_bytes, compulsory_dram_bytes=s.compulsory_dram_bytes,
                dram_read_bytes=s.dram_read_bytes, dram_write_bytes=s.dram_write_bytes, stall_cycles=s.stall_cycles,
                instructions=sum(s.instructions.values()), correct=self.correct)

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
  @property
  def stats(self) -> Stats: return Stats.merge([k.stats for k in self.kernels])

def run_graph(out: Tensor, cfg: AccelConfig, functional: bool = True) -> GraphRun:
  """Lower every kernel of `out`, run each on the model (bit-exact check unless timing only) and feed its output
  to the kernels that read it."""
  g = GraphLowering(out, cfg, lambda prog: timing_cycles(cfg, prog))
  runs = []
  for i in range(len(g.kernels)):
    *copies, main = g.lower(i)
    for low in copies + [main]:
      r = run_program(cfg, low.program, functional, output=low is main)
      stats = r.result.stats.with_macs(low.macs, low.array_macs)
      runs.append(KernelRun(low.name, low.kind, low.op, low.shape, low.fused, stats, r.correct, low.program))
    g.bind(i, main, r.output)
  output, accuracy = g.result()
  return GraphRun(output, runs, all_correct(k.correct for k in runs), accuracy)

# ---------------- workloads ----------------
def load_workload(path: str) -> Tensor:
  """The Tensor returned by `workload()` in a user's Python file."""
  if not os.path.isfile(path): raise WorkloadError(f"no such workload file {path!r}")
  spec = importlib.util.spec_from_file_location("tinyaccel_user_workload", path)
  mod = importlib.util.module_from_spec(spec)
  try: spec.loader.exec_module(mod); out = mod.workload()
  except SystemExit as e: raise WorkloadError(f"{path}: called sys.exit({e.code!r}) instead of returning a Tensor from workload()") from None
  except RecursionError: raise WorkloadError(f"{path}: RecursionError") from None
  except Exception as e: raise WorkloadError(f"{path}: {type(e).__name__}: {e}") from None
  if not isinstance(out, Tensor): raise WorkloadError(f"{path}: workload() must return a Tensor, got {type(out).__name__}")
  return out

def build_network(name: str, seq: int | None = None) -> Tensor:
  """A built-in network of `tinyaccel list` (transformers at sequence length `seq`) or a user's FILE.py."""
  from ..workloads import WORKLOADS
  if seq is not None and not name.startswith(("bert", "gpt2")): raise WorkloadError("--seq applies to the transformer workloads (bert*, gpt2*)")
  if name in WORKLOADS: return WORKLOADS[name][0](**({"seq": seq} if seq else {}))
  if name.endswith(".py"): return load_workload(name)
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
  c = compile_gemm(cfg, m, k, n, seed=seed, epilogue=epilogue)
  r = run_program(cfg, c, functional, output=False)
  fused = [x for x, on in (("bias", epilogue and epilogue.bias is not None), ("relu", epilogue and epilogue.relu), ("requant", epilogue and epilogue.requant)) if on]
  kern = KernelRun("gemm", "gemm", "matmul", [m, k, n], fused, r.result.stats, r.correct, c)
  wl = dict(kind="gemm", m=m, k=k, n=n, seed=seed, bias="bias" in fused, relu="relu" in fused, output_dtype=epilogue.out_dtype if epilogue else "int32")
  t = c.tiling
  rep = report(cfg, wl, r.result.stats, r.correct, [kern], tiling=dict(mt=t.mt, kt=t.kt, nt=t.nt, order=t.order, est_cycles=t.est_cycles))
  return GemmRun(c, r, kern, rep)

def run_network(name: str, cfg: AccelConfig, functional: bool = True, seq: int | None = None, budget: bool = False) -> tuple[GraphRun, dict]:
  """A network (built-in or FILE.py) run kernel by kernel, and its report; `budget`: refuse work above flow/budget.py's."""
  out = build_network(name, seq)
  if budget:
    from .budget import check_graph
    check_graph(cfg, out, name)
  g = run_graph(out, cfg, functional)
  return g, report(cfg, dict(kind="network", name=name), g.stats, g.correct, g.kernels, accuracy=g.accuracy)

def evaluate(cfg: AccelConfig, workload: str) -> tuple[Stats, dict]:
  """Timing-only statistics and report of "gemm MxKxN" or a network of `tinyaccel list` (a sweep point, a compare row)."""
  if workload.startswith("gemm "):
    try: m, k, n = (int(x) for x in workload.split()[1].split("x"))
    except ValueError: raise WorkloadError(f"workload {workload!r}: expected gemm MxKxN") from None
    g = run_gemm(cfg, m, k, n, functional=False)
    return g.run.result.stats, g.report
  from ..workloads import WORKLOADS
  if workload not in WORKLOADS: raise WorkloadError(f"unknown workload {workload!r} (gemm MxKxN or one of {', '.join(WORKLOADS)})")
  g, rep = run_network(workload, cfg, functional=False)
  return g.stats, rep
