"""The `tinyaccel` command: it parses, calls the flow (flow/) or a library, and prints.

Units: cycles are accelerator clock cycles, bytes are bytes, seconds are seconds, fractions are
0..1. Every command that prints numbers takes --json FILE ('-' for stdout). Bad input exits
with status 2 and one line on stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import warnings

import numpy as np

from .arch.config import AccelConfig, ConfigError, load_config, presets
from .arch.isa import IsaError, asm, decode_program, disasm, encode_program
from .arch.vector import quantize_multiplier
from .compiler.gemm import Epilogue
from .compiler.program import CompileError
from .flow import (
  WorkloadError,
  build_network,
  evaluate,
  load_workload,
  network_summary,
  run_gemm,
  run_graph,
  run_network,
  scalesim_compute_report,
  scalesim_config,
)
from .flow.budget import BudgetError, check_gemm
from .helpers import InputError, Spinner, atomic_write, read_json, read_text, si, write_json
from .reports.cost import cost_report
from .rtl.board import BoardError
from .rtl.cosim import RtlError
from .rtl.fpga import FpgaError
from .sim.model import Machine, ProgramError
from .sim.model import run as simulate


class UsageError(ValueError): pass
ERRORS = (ConfigError, IsaError, ProgramError, CompileError, WorkloadError, UsageError, RtlError, FpgaError, BoardError, OSError, InputError, BudgetError)

class Parser(argparse.ArgumentParser):
  """argparse with its errors in one line and exit status 2: `tinyaccel run: --m 0: must be >= 1`, no usage block."""
  def error(self, message):
    print(f"{self.prog}: {one_line(re.sub(r'^argument ([^:]+): ', lambda m: m[1] + ' ', message))}", file=sys.stderr); sys.exit(2)

def one_line(s: str) -> str: return " ".join(str(s).split("\n")).replace("\r", " ")

def positive(s: str, lo: int = 1, hi: int = 1 << 40) -> int:
  try: v = int(s)
  except ValueError: raise argparse.ArgumentTypeError(f"{s!r}: not an integer") from None
  if v < lo: raise argparse.ArgumentTypeError(f"{v}: must be >= {lo}")
  if v > hi: raise argparse.ArgumentTypeError(f"{v}: must be <= {hi}")
  return v

def seed(s: str) -> int: return positive(s, 0, (1 << 63) - 1)
def dram_size(s: str) -> int: return positive(s, 1, 1 << 32)      # the ISA's 32-bit DRAM address

def scale(s: str) -> float:
  """A requantization scale whose Q31 multiplier and shift the vector unit holds: 2^-31 <= scale < 1 - 2^-32."""
  try: v = float(s)
  except ValueError: raise argparse.ArgumentTypeError(f"{s!r}: not a number") from None
  if not 2.0 ** -31 <= v < 1 - 2.0 ** -32: raise argparse.ArgumentTypeError(f"{s}: the scale must be in [2^-31, 1 - 2^-32] (Q31 multiplier, shift 0..31)")
  return v

def say(args, text: str):
  """Print the human-readable table, unless the JSON goes to stdout."""
  if getattr(args, "json", None) != "-": print(text)

def show_progress(args) -> bool:
  """Progress bars and spinners go to stderr, and only when stderr is a terminal (logs, pipes and CI stay clean),
  unless --quiet."""
  return not getattr(args, "quiet", False) and sys.stderr.isatty()

def config_from(args) -> AccelConfig:
  if args.config.endswith(".cfg"):             # a SCALE-Sim config (compiler/importers/scalesim.py)
    cfg, _ = scalesim_config(args.config)
    return cfg.replace(dataflow=args.dataflow) if getattr(args, "dataflow", None) else cfg
  return load_config(args.config, dataflow=getattr(args, "dataflow", None), cores=getattr(args, "cores", None), dram_channels=getattr(args, "dram_channels", None))

# ---------------- run ----------------
def table(r: dict) -> str:
  cfg, w, t = r["config"], r["workload"], r["tiling"]
  dram = r["dram_read_bytes"] + r["dram_write_bytes"]
  bound_kind = "compute" if r["compute_bound_cycles"] >= r["dram_bound_cycles"] else "DRAM"
  st = "; ".join(f"{u}: " + ", ".join(f"{k} {v:,}" for k, v in d.items()) for u, d in r["stall_cycles"].items() if d) or "none"
  rows = [
    ("workload", f"gemm M={w['m']} K={w['k']} N={w['n']} (int8 x int8 -> {w['output_dtype']})" + "".join(f" + {x}" for x in ("bias", "relu") if w[x])),
    ("config", f"{cfg['name']}: {cfg['rows']}x{cfg['cols']} {cfg['dataflow']}, {cfg['clock_mhz']:g} MHz, {cfg['dram_bytes_per_cycle']} B/cycle DRAM"),
    ("tiling", f"mt={t['mt']} kt={t['kt']} nt={t['nt']} order={t['order']}, {sum(r['instructions'].values()):,} instructions"),
    ("cycles", f"{r['cycles']:,}  ({r['seconds'] * 1e3:.4g} ms)"),
    ("roofline bound", f"{r['roofline_bound_cycles']:,} cycles ({bound_kind}-bound); achieved {r['roofline_bound_cycles'] / r['cycles']:.3f} of it"),
    ("utilization", f"{r['utilization']:.3f} of {r['peak_flops_per_s'] / 1e12:.3g} TFLOP/s peak = {si(r['achieved_flops_per_s'], 'FLOP/s')}"),
    ("DRAM traffic", f"read {si(r['dram_read_bytes'], 'B')}, write {si(r['dram_write_bytes'], 'B')} = {dram / r['compulsory_dram_bytes']:.2f}x compulsory {si(r['compulsory_dram_bytes'], 'B')}"),
    ("SRAM traffic", ", ".join(f"{b} read {si(r['sram_reads'][b], 'B')} write {si(r['sram_writes'][b], 'B')}" for b in ("spad", "acc"))),
    ("array", ", ".join(f"{k} {v:,}" for k, v in r["array_cycles"].items()) + " cycles"),
    ("stall cycles", st),
    *cost_rows(r),
    ("correct", {True: "yes: bit-exact against numpy", False: "NO: differs from numpy", None: "not checked (--timing-only)"}[r["correct"]]),
    ("model", f"{r['model_seconds']:.3f} s wall, {si(r['simulated_cycles_per_s'])} simulated cycles/s"),
  ]
  return "\n".join(f"  {k:<15} {v}" for k, v in rows)

def cmd_run_graph(args) -> int:
  cfg = config_from(args)
  g, report = run_network(args.workload, cfg, functional=not args.timing_only, seq=getattr(args, "seq", None), batch=getattr(args, "batch", None),
                        args=getattr(args, "arg", None), budget=not args.force, fusion=not getattr(args, "no_fusion", False), progress=show_progress(args),
                        one_program=getattr(args, "one_program", False))
  lines = kernel_table(report["kernels"], report, g.correct)
  if a := report.get("one_program"):
    lines.append(f"  one program: {a['instructions']:,} instructions over a {a['image_bytes']:,}-byte image ({a['naive_image_bytes']:,} bytes kernel by kernel,"
                 f" {a['peak_live_bytes']:,} peak live); kernel spans {a['sum_of_kernel_cycles']:,} cycles - overlap {a['overlap_cycles']:,} + gaps {a['gap_cycles']:,}"
                 f" = {a['cycles']:,} cycles; {a['linked_bytes']:,} activation bytes read from their producer's buffer")
  if "chip" in report:
    ch = report["chip"]; u = ch["core_utilization"]
    lines.append(f"  chip: {ch['cores']} cores, {ch['dram_channels']} DRAM channels, {ch['peak_flops_per_s'] / 1e12:.4g} TFLOP/s peak, barrier {ch['barrier_cycles']} cycles;"
                 f" utilization {report['utilization']:.3f} of the chip, per core min {min(u):.3f} mean {sum(u) / len(u):.3f} max {max(u):.3f}")
  if g.accuracy: lines.append(f"  accuracy vs float32: cosine similarity {g.accuracy['cosine_similarity']:.5f}, max abs error {g.accuracy['max_abs_error']:.4g}")
  if args.config.endswith(".cfg"): lines.append(f"  SCALE-Sim config {args.config}: not mapped: {'; '.join(scalesim_config(args.config)[1])}")
  if getattr(args, "scalesim_report", None): lines += scalesim_rows(report["kernels"], scalesim_compute_report(args.scalesim_report))
  lines.append(f"  {'time':<15} {report['cycles']:,} cycles = {report['seconds'] * 1e3:.4g} ms at {cfg.clock_mhz:g} MHz: {1 / report['seconds']:,.1f} inferences/s (batch 1)")
  lines += [f"  {k:<15} {v}" for k, v in cost_rows(report)]
  say(args, "\n".join(lines))
  if args.json: write_json(args.json, report)
  return 1 if g.correct is False else 0

def scalesim_rows(ks: list, theirs: list) -> list[str]:
  """Our cycles next to SCALE-Sim's COMPUTE_REPORT.csv, layer by layer (in order)."""
  if len(theirs) != len(ks): raise UsageError(f"--scalesim-report has {len(theirs)} layers, the topology {len(ks)}")
  out = [f"  {'layer':<12} {'ours cycles':>12} {'SCALE-Sim':>12} {'ours/theirs':>11}"]
  out += [f"  {t[0][:12]:<12} {k['cycles']:>12,} {t[1]:>12,} {k['cycles'] / max(t[1], 1):>11.3f}" for k, t in zip(ks, theirs)]
  ours, tot = sum(k["cycles"] for k in ks), sum(t[1] for t in theirs)
  return out + [f"  {'total':<12} {ours:>12,} {tot:>12,} {ours / max(tot, 1):>11.3f}"]

def _top_stall(k: dict) -> str:
  """What held the kernel's busiest unit back most: the array (compute queue) of a GEMM, the vector unit (store
  queue) of a vector kernel, as 'reason cycles' (the stall reasons of docs/model.md)."""
  d = k["stall_cycles"].get("compute" if k["kind"] == "gemm" else "store", {})
  why, n = max(d.items(), key=lambda x: x[1], default=("", 0))
  return f"{why} {n:,}" if n else "-"

def kernel_table(ks: list, total: dict, correct: bool | None) -> list[str]:
  """Per-layer rows: kind, shape, fused epilogue, cycles, utilization, cycles against the roofline bound,
  DRAM bytes against compulsory, the largest stall; then totals (geometric mean of the bound ratio over GEMMs)."""
  hdr = f"  {'kernel':<9} {'kind':<6} {'shape':>18} {'fused':<20} {'cycles':>11} {'util':>6} {'of bound':>8} {'DRAM B':>11} {'/comp':>5} {'main stall':<24} {'exact':>5}"
  row = lambda k: (f"  {k['name']:<9} {k['kind']:<6} {'x'.join(map(str, k['shape'])):>18} {'+'.join(k['fused']) or '-':<20} {k['cycles']:>11,} {k['utilization']:>6.3f}"
                   f" {k['roofline_bound_cycles'] / k['cycles']:>8.3f} {k['dram_bytes']:>11,} {k['dram_bytes'] / max(k['compulsory_dram_bytes'], 1):>5.2f} {_top_stall(k):<24} {CORRECT_SHORT[k['correct']]:>5}")
  gemm = [k["roofline_bound_cycles"] / k["cycles"] for k in ks if k["kind"] == "gemm"]
  geo = float(np.exp(np.mean(np.log(gemm)))) if gemm else float("nan")
  comp = sum(k["compulsory_dram_bytes"] for k in ks)
  return [hdr, *map(row, ks), f"  {'total':<9} {'':<6} {'':>18} {'':<20} {total['cycles']:>11,} {total['utilization']:>6.3f} {geo:>8.3f} {total['dram_bytes']:>11,}"
          f" {total['dram_bytes'] / max(comp, 1):>5.2f} {'(bound: GEMM geomean)':<24} {CORRECT_SHORT[correct]:>5}",
          f"  exact: bit-exact against the integer reference{'' if correct is not None else ' (not checked: --timing-only)'}"]

CORRECT_SHORT = {True: "True", False: "False", None: "-"}

def cmd_compile(args):
  from .compiler.ir import print_graph
  from .compiler.schedule import GemmKernel, schedule
  cfg = config_from(args)
  out = load_workload(args.file)
  if args.print == "ir": print(print_graph(out.node)); return 0
  ks = schedule(out.node)
  if args.print == "kernels":
    for i, k in enumerate(ks):
      fused = "+".join(x for x, on in (("bias", k.bias is not None), ("scale", getattr(k, "scale", None) is not None), ("gelu", getattr(k, "gelu", False)),
                                       ("relu", k.relu), ("mask", getattr(k, "mask", None) is not None)) if on) or "none"
      what = (f"GEMM M={k.M} K={k.K} N={k.N}" + (f" x {k.batch} (batched)" if k.batch > 1 else "")) if isinstance(k, GemmKernel) else f"{type(k).__name__.removesuffix('Kernel')} {list(k.out.shape)}"
      print(f"kernel{i}: {what}, fused epilogue: {fused}, inputs: {', '.join(repr(n) for n in k.inputs)}")
    return 0
  for k in run_graph(out, cfg, functional=False).kernels: print(f"# {k.name}: {k.op} {'x'.join(map(str, k.shape))}\n{disasm(k.program.program)}", end="")
  return 0

def cost_rows(r: dict) -> list:
  a, ch, e, sy = r["area_mm2"], r["chip_cost_usd"], r["energy_pj"], r["system_cost_usd"]
  b = r["perf_per_usd_basis"]
  return [("area", f"{a['total']:.3g} mm^2 (array {a['array']:.3g}, scratchpad {a['spad']:.3g}, accumulator {a['acc']:.3g}, DRAM PHYs {a['dram_phy']:.3g}, "
                   f"host I/O {a['host_io']:.3g}, control {a['control']:.3g})"),
          ("energy", f"{e['total'] / 1e6:.4g} uJ (MAC {e['mac'] / e['total']:.0%}, SRAM {(e['spad'] + e['acc']) / e['total']:.0%}, DRAM {e['dram'] / e['total']:.0%}), "
                     f"{r['avg_power_w']:.3g} W average, {r['peak_power_w']:.3g} W peak"),
          ("unit cost", f"${ch['total']:,.2f} manufacturing, no NRE (die ${ch['die']:,.2f} at yield {ch['yield']:.3f}, {ch['package_kind']} ${ch['package_test']:,.2f}, memory ${ch['memory']:,.2f})"),
          ("form factor", f"{sy['form_factor']}: ${r['deployed_cost_usd']:,.2f} (board ${sy['board']:,.2f}, host share ${sy['host']:,.2f}); price ${r['price_usd']:,.2f} at gross margin {r['gross_margin']:g}"),
          ("NRE", f"${r['nre_usd'] / 1e6:,.0f}M / {r['nre_volume_units']:,} units = ${r['nre_usd_per_unit']:,.2f} per unit (not in the perf/$ figures)"),
          ("perf per $", f"{si(r['flops_per_usd'], 'FLOP/s')} per $ of cost, {si(r['flops_per_usd_price'], 'FLOP/s')} per $ of price ({si(r['peak_flops_per_usd'], 'FLOP/s')} peak per $ of cost), "
                         f"{si(r['flops_per_watt'], 'FLOP/s')} per W, ${r['usd_per_pflops_hour']:.3g} per PFLOP-hour rented"),
          ("basis", b["flops_per_usd"])]

def cmd_cost(args):
  """Area and cost of a config, with every constant and its source."""
  from .reports.cost import ASSUMPTIONS, CITED, cite, constants
  cfg = config_from(args)
  r = cost_report(cfg)
  usd = ("die", "package", "test_assembly", "memory", "total")
  ph = r["dram_phys"]
  lines = [f"  area {k:<20} {v:>12.4g} mm^2" for k, v in r["area_mm2"].items()]
  lines += [f"  dram interfaces           {ph['units']} x {ph['kind']} ({ph['unit_bytes_per_s'] / 1e9:.4g} GB/s each)"]
  lines += [f"  chip {k:<20} {r['chip_cost_usd'][k]:>12,.2f} USD" for k in usd]
  ch = r["chip_cost_usd"]
  lines += [f"  chip yield                {ch['yield']:>12.4f} (fraction, {ch['gross_dies_per_wafer']:,.0f} gross dies per wafer); package: {ch['package_kind']}"]
  lines += [f"  system {k:<18} {v:>12,.2f} USD" for k, v in r["system_cost_usd"].items() if isinstance(v, (int, float))] + [f"  system form factor        {cfg.form_factor}"]
  lines += [f"  power {k:<19} {v:>12.4g} W" for k, v in r["peak_power"].items()]
  lines += [f"  unit cost (no NRE)        {r['unit_cost_usd']:>12,.2f} USD; price {r['price_usd']:,.2f} USD at gross margin {r['gross_margin']:g}",
            f"  NRE                       {r['nre_usd'] / 1e6:,.0f}M USD / {r['nre_volume_units']:,} units = {r['nre_usd_per_unit']:,.2f} USD per unit (reported apart)",
            f"  peak power                {r['peak_power_w']:>12.4g} W (every unit busy, DRAM at full bandwidth; chip alone {r['peak_power']['chip']:.4g} W)",
            f"  peak per $                {si(r['peak_flops_per_usd'], 'FLOP/s')} per USD of cost, {si(r['peak_flops_per_usd_price'], 'FLOP/s')} per USD of price  (wafer: {r['wafer_price']})"]
  if r["exceeds_reticle"]: lines += [f"  WARNING: the die ({r['area_mm2']['total']:,.0f} mm^2) exceeds the {r['reticle_limit_mm2']:,.0f} mm^2 reticle limit: not one monolithic die"]
  if args.calibration:
    from .reports.cost import calibration
    rows = calibration()
    lines += [f"  {'config':<11} {'quantity':<17} {'model':>9} {'published':>9} {'ratio':>6}  source", *(f"  {r['config']:<11} {r['quantity']:<17} {r['model']:>9.3g} {r['published']:>9.3g} "
              f"{r['ratio']:>6.2f}  {r['source'][:60]}" for r in rows)]
    r = dict(r, calibration=rows)
  if args.sources:
    c = constants()
    lines += [f"  {k:<30} {c[k]:<12.4g} {cite(cat, item)['source'][:90]}" for k, (cat, item, *_) in CITED.items()]
    lines += [f"  {k:<30} {c[k] if k in c else '':<12.4g} ASSUMPTION: {why}" if k in c else f"  {k:<30} {'':<12} ASSUMPTION: {why}" for k, (_, why) in ASSUMPTIONS.items()]
  say(args, "\n".join(lines))
  if args.json: write_json(args.json, r)
  return 0

def cmd_report(args):
  from .reports.report import is_chip_scaling, is_core_scaling, is_llm_decode, write_report
  results, fpga, scaling, llm = [], [], [], []
  for p in args.results:
    r = read_json(p)
    if isinstance(r, dict) and "points" in r and isinstance(r.get("results"), list): r = r["results"]   # `tinyaccel sweep --json`
    if isinstance(r, list):                      # a sweep's results.json: its FPGA points with a workload, or a scaling sweep's points
      pts = [x for x in r if isinstance(x, dict) and x.get("ok")]
      if is_core_scaling(pts) or is_chip_scaling(pts): scaling += pts; continue
      pts = [x for x in pts if "perf" in x]
      if not pts: raise UsageError(f"{p}: no FPGA point with a workload in it, and no scaling over cores or chips (a sweep enters the report through "
                                   "[fpga] points with [workloads], or through several `cores` or a system's `chips`)")
      fpga += pts; continue
    if isinstance(r, dict) and "fmax_mhz" in r:
      if "perf" not in r: raise UsageError(f"{p}: an FPGA result needs a workload for perf/$ (tinyaccel fpga ... --workload gemm:M,K,N)")
      fpga.append(r); continue
    if is_llm_decode(r): llm.append(r); continue
    if not isinstance(r, dict) or "kernels" not in r: raise UsageError(f"{p}: not a `tinyaccel run --json`, `tinyaccel fpga --json` or sweep result")
    if not r["kernels"] or not all(isinstance(r.get(k), dict) for k in ("workload", "config")): raise UsageError(f"{p}: a run result needs its workload, config and kernels (this one has none)")
    results.append(r)
  if not results and not scaling and not llm: raise UsageError("report: give at least one `tinyaccel run --json` result or a scaling sweep's results.json")
  trace = None
  if args.trace:
    if args.trace.endswith(".csv"): raise UsageError(f"--trace {args.trace}: the timeline reads a .json trace (`tinyaccel run gemm --trace t.json`)")
    trace = read_json(args.trace)
    if not isinstance(trace, list) or not all(isinstance(t, dict) and {"queue", "start", "end"} <= set(t) for t in trace):
      raise UsageError(f"--trace {args.trace}: not a trace (a list of {{queue, start, end}} from `tinyaccel run gemm --trace t.json`)")
  if trace and not results: raise UsageError("--trace: the timeline goes with a run that has kernels (`tinyaccel run gemm --json`), not an LLM decode run alone")
  print(write_report(results, args.output, trace, fpga=fpga, trace_name=args.trace, scaling=scaling, llm=llm))
  return 0

def _chip_sweep_table(args, r) -> int:
  """A system sweep: per point the step's time and its split into compute, links and waiting; plot DIR/scaling_chips.png."""
  from .reports.report import _save, chip_split_fig, chip_split_rows
  rows = chip_split_rows(r["results"])
  lines = [f"  {r['points']} points: {r['computed']} computed, {r['cached']} from the store, {r['failed']} invalid",
           *(f"  invalid: {json.dumps(p['params'])} {p['workload']}: {p['error']}" for p in r["results"] if not p["ok"]),
           f"  {'workload and system':<56} {'chips':>5} {'tp':>3} {'pp':>3} {'ms/step':>9} {'compute':>9} {'links':>9} {'wait':>9} {'speed-up':>8}",
           *(f"  {x['series']:<56} {x['chips']:>5} {x['tp']:>3} {x['pp']:>3} {x['ms']:>9.4g} {x['compute_ms']:>9.4g} {x['link_ms']:>9.4g} {x['wait_ms']:>9.4g} "
             f"{x['speedup']:>7.2f}x" for x in rows)]
  if rows: lines.append(f"  plot: {os.path.join(args.output, _save(chip_split_fig(r['results']), args.output, 'scaling_chips.png'))}")
  say(args, "\n".join(lines))
  if args.json: write_json(args.json, r)
  return 0

def cmd_sweep(args):
  from .flow.sweep import SweepError, run_sweep
  from .reports.report import fpga_sweep_plot, sweep_plot
  from .reports.sweep import PERF, PERF_AREA, fpga_objectives, pareto
  try: r = run_sweep(args.file, args.output, args.jobs, progress=show_progress(args), scheduler=args.scheduler)
  except SweepError as e: raise UsageError(str(e)) from None
  bad = [p for p in r["results"] if not p["ok"]]
  if bad and len(bad) == r["points"]: raise UsageError(f"{args.file}: every one of the {len(bad)} points is invalid; the first, {json.dumps(bad[0]['params'])}: {bad[0]['error']}")
  if r["results"] and "target" in r["results"][0]: return _fpga_sweep_table(args, r, pareto, fpga_objectives, fpga_sweep_plot)
  if any("compute_seconds" in p for p in r["results"]): return _chip_sweep_table(args, r)
  front = pareto(r["results"], PERF_AREA if args.area else PERF)
  lines = [f"  {r['points']} points: {r['computed']} computed, {r['cached']} from the store, {r['failed']} invalid configs"]
  lines += [f"  invalid: {json.dumps(p['params'])} {p['workload']}: {p['error']}" for p in bad]
  lines += [f"  pareto: {p['workload']:<22} {json.dumps(p['params']):<40} {si(p['flops_per_usd'], 'FLOP/s')}/$ {si(p['flops_per_watt'], 'FLOP/s')}/W {p['area_mm2']['total']:.3g} mm2" for p in front]
  if r["results"] and front: lines.append(f"  plot: {sweep_plot(r['results'], front, args.output)}")
  say(args, "\n".join(lines))
  if args.json: write_json(args.json, dict(r, pareto=front))
  return 0

def _fpga_sweep_table(args, r, pareto, fpga_objectives, fpga_sweep_plot):
  """One row per FPGA point: resources, Fmax against the requested clock, and the workload's speed at that Fmax."""
  front = pareto(r["results"], *fpga_objectives(r["results"]))
  lines = [f"  {r['points']} points: {r['computed']} computed, {r['cached']} from the store, {r['failed']} failed",
           f"  {'config':<28} {'target':<11} {'MHz':>5} {'Fmax':>6}  {'LUT':>6} {'DSP':>4} {'BRAM':>4}  {'workload':<20} {'FLOP/s':>9} {'per $':>9}"]
  varying = [k for k in dict.fromkeys(k for p in r["results"] for k in p["params"]) if k not in ("rows", "cols")
             and len({json.dumps(p["params"].get(k)) for p in r["results"]}) > 1]
  for p in r["results"]:
    size = f"{p['config']['rows']}x{p['config']['cols']}" if "config" in p else "x".join(str(p["params"].get(k, "?")) for k in ("rows", "cols"))
    name = " ".join([size] + [f"{k}={p['params'][k]}" for k in varying if k in p["params"]])
    head = f"  {name[:28]:<28} {p['target']:<11} {p['freq_mhz']:>5g}"
    if not p["ok"]: lines.append(f"{head} {p['error']}"); continue
    res, star = p["resources"], "*" if p in front else " "
    speed = si(p["flops_per_s"] or p["peak_flops_per_s"], "") + ("" if p["flops_per_s"] else " pk")
    lines.append(f"{head} {p['fmax_mhz']:>6.1f}{' ' if p['meets_freq'] else '!'} {res['lut']['utilization']:>6.1%} {res['dsp']['used']:>4} {res['bram']['used']:>4}  "
                 f"{(p['workload'] or '-')[:20]:<20} {speed:>9} {si(p['flops_per_s_per_usd'], '') if p['flops_per_s_per_usd'] else '-':>9}{star}")
  lines.append("  ! misses the requested clock (speeds are at the achieved Fmax); pk: peak, no workload; * Pareto-optimal")
  if front: lines.append(f"  plot: {fpga_sweep_plot(r['results'], front, args.output)}")
  say(args, "\n".join(lines))
  if args.json: write_json(args.json, dict(r, pareto=front))
  return 0

def compare_row(r: dict) -> dict:
  """A design's row of `tinyaccel compare`: achieved int8 ops/s, per $ of cost and of price (achieved, peak) and per W."""
  c = r["config"]
  return dict(name=f"{c['name']} ({c['rows']}x{c['cols']}, {c['process_nm']} nm, {c['form_factor']})", precision="int8", achieved_flops_per_s=r["achieved_flops_per_s"],
              flops_per_usd=r["flops_per_usd"], flops_per_usd_price=r["flops_per_usd_price"], peak_flops_per_usd=r["peak_flops_per_usd"],
              peak_flops_per_usd_price=r["peak_flops_per_usd_price"], flops_per_watt=r["flops_per_watt"], unit_cost_usd=r["unit_cost_usd"],
              deployed_cost_usd=r["deployed_cost_usd"], price_usd=r["price_usd"], nre_usd_per_unit=r["nre_usd_per_unit"], nre_volume_units=r["nre_volume_units"],
              peak_power_w=r["peak_power_w"], avg_power_w=r["avg_power_w"], perf_per_usd_basis=r["perf_per_usd_basis"])

def cmd_compare(args):
  """One workload on several configs next to reference chips, like for like: int8 against int8 dense peaks and measured int8
  rows, manufacturing cost against manufacturing cost, price against price; the H100 at our batch and at its best batch."""
  from .reports.chips import h100_best, h100_measured, int8_rows
  key = f"gemm {args.m}x{args.k}x{args.n}" if args.workload == "gemm" else args.workload
  rows = [compare_row(evaluate(load_config(name), key, progress=show_progress(args))[1]) for name in args.configs.split(",")]
  dtype = "int8" if args.workload == "gemm" else None                 # networks were measured in bf16 only
  measured = [h for h in (h100_measured(key, batch=None if args.workload == "gemm" else 1, dtype=dtype), h100_best(key, dtype)) if h]
  if args.workload == "gemm": measured = measured[:1]                 # a GEMM has no batch
  f = lambda v: si(v) if v else "-"
  lines = [f"  {'design':<62} {'prec':>5} {'achieved':>12} {'per $ cost':>11} {'per $ price':>11} {'pk/$ cost':>10} {'pk/$ price':>10} {'per W':>8}"]
  for r in rows: lines.append(f"  {r['name'][:62]:<62} {'int8':>5} {si(r['achieved_flops_per_s'], 'op/s'):>12} {f(r['flops_per_usd']):>11} {f(r['flops_per_usd_price']):>11} "
                              f"{f(r['peak_flops_per_usd']):>10} {f(r['peak_flops_per_usd_price']):>10} {f(r['flops_per_watt']):>8}")
  for h in measured: lines.append(f"  {h['name'][:62]:<62} {h['precision']:>5} {si(h['achieved_flops_per_s'], 'op/s'):>12} {f(h['flops_per_usd']):>11} {f(h['flops_per_usd_price']):>11} "
                                  f"{'':>10} {'':>10} {f(h['flops_per_watt']):>8}")
  refs = int8_rows()
  for p in refs: lines.append(f"  {p['name'] + ' int8 dense peak (price of ' + p['price_date'] + ')':<62}" + f" {'int8':>5} {'':>12} {'':>11} {'':>11} {f(p['peak_flops_per_usd']):>10} {f(p['peak_flops_per_usd_price']):>10}")
  notes = [f"  ours: {rows[0]['perf_per_usd_basis']['flops_per_usd']}; price = cost / (1 - gross_margin), gross_margin from the config",
           "  per $ cost: manufacturing cost, no NRE (GPUs: " + "; ".join(f"{p['name']} ${p['cost_usd']:,.0f}, {p['cost_basis']}" for p in refs if p["cost_usd"]) + ");"
           " per $ price: street/list price at its date (ours: cost / (1 - margin))",
           "  measured H100 rows: " + ("int8 GEMM (torch._int_mm)" if args.workload == "gemm" else "bf16 (no int8 network was measured; not the same precision as ours)")
           + "; batch 1 = ours, best batch = the H100's best case"]
  say(args, "\n".join(lines + notes))
  if args.json: write_json(args.json, dict(workload=key, designs=rows, h100_measured=measured, reference_int8=refs))
  return 0

def cmd_run_generate(args) -> int:
  from .flow.llm import run_generate
  if args.ctx: raise UsageError("--ctx is a decode step's context; a generation grows it from --prompt over --tokens")
  r = run_generate(config_from(args), args.workload, args.batch or 1, args.prompt or 512, args.tokens or 128).report
  w, tpot = r["workload"], r["time_per_output_token_s"]
  rows = [("model", f"{w['model']} generate, batch {w['batch']}, prompt {w['prompt']}, {w['tokens']} output tokens per sequence"),
          ("time to first", f"{r['time_to_first_token_s'] * 1e3:.4g} ms (prefill of {w['prompt']})"),
          ("time/out token", f"{tpot * 1e3:.4g} ms (mean over {w['tokens'] - 1} decode steps)" if tpot else "- (one token: the prefill's)"),
          ("tokens/s", f"{r['tokens_per_s']:,.1f} total ({r['output_tokens']:,} tokens in {r['total_seconds'] * 1e3:.4g} ms), {r['tokens_per_s_per_sequence']:,.1f} per sequence"),
          ("tokens/s per $", f"{r['tokens_per_s_per_usd']:.4g} (chip + memory, no NRE)"), ("tokens/J", f"{r['tokens_per_j']:.4g} ({r['energy_j']:.4g} J)"),
          ("KV cache", f"{si(r['kv_cache_bytes_final'], 'B')} at the end"),
          ("SAMPLED", f"decode cost at {len(r['buckets'])} context bucket(s) of {r['bucket_positions']} positions (every step of a bucket timed over the whole bucket)"),
          *[(f"  ctx {b['ctx']}", f"{b['steps']} steps x {b['cycles_per_step']:,} cycles ({b['seconds_per_step'] * 1e3:.4g} ms, {b['cycles_vs_dram_bound']:.3f}x its DRAM bound)") for b in r["buckets"]],
          ("basis", r["perf_basis"]), ("method", w["method"])]
  say(args, "\n".join(f"  {k:<15} {v}" for k, v in rows))
  if args.json: write_json(args.json, r)
  return 0

def cmd_run_llm(args) -> int:
  from .flow.llm import run_phase
  if args.tokens and args.phase != "generate": raise UsageError("--tokens is the length of a generation (--phase generate)")
  if args.phase == "generate": return cmd_run_generate(args)
  if args.phase == "prefill" and args.ctx: raise UsageError("--ctx is the decode context; a prefill takes --prompt")
  if args.phase == "decode" and args.prompt: raise UsageError("--prompt is the prefill length; a decode step takes --ctx")
  r = run_phase(config_from(args), args.workload, args.phase, args.batch or 1, (args.ctx or 2048) if args.phase == "decode" else (args.prompt or 512)).report
  rows = [("model", f"{r['workload']['model']} {r['phase'] if 'phase' in r else args.phase}, batch {args.batch or 1}, {r['workload']['params']:,} parameters, {si(r['workload']['weight_bytes'], 'B')} int8 weights"),
          ("tokens/s", f"{r['tokens_per_s']:,.1f}"), ("ms/token", f"{r['ms_per_token']:.4g}"),
          *([("time to first", f"{r['time_to_first_token_s']:.4g} s")] if r["time_to_first_token_s"] is not None else []),
          ("KV cache", si(r["kv_cache_bytes"], "B")), ("cycles", f"{r['cycles']:,} ({r['cycles_vs_dram_bound']:.3f}x the DRAM bound {r['dram_bound_cycles_step']:,})"),
          ("DRAM BW util", f"{r['dram_bandwidth_utilization']:.3f} of {si(r['config']['dram_bytes_per_cycle'] * r['config']['dram_channels'] * r['config']['clock_mhz'] * 1e6, 'B/s')}"),
          ("tokens/s per $", f"{r['tokens_per_s_per_usd']:.4g} (chip + memory, no NRE), {r['tokens_per_s_per_usd_with_nre']:.4g} (with NRE), {r['tokens_per_s_per_usd_system']:.4g} (system)"), ("tokens/J", f"{r['tokens_per_j']:.4g} at {r['avg_power_w']:.3g} W"),
          ("basis", r["perf_basis"]), ("method", r["workload"]["method"])]
  rows += [("H200 measured", f"{h['kind']} batch {h['batch']} ctx {h['ctx']}: {h['tokens_per_s']:,.0f} tokens/s, {h.get('avg_w', 0):.0f} W"
            + (f", {h['tokens_per_joule']:.3g} tokens/J" if h.get("tokens_per_joule") else "")
            + f", {h['tokens_per_s_per_usd']:.3g} tokens/s per $ of cost, {h['tokens_per_s_per_usd_price']:.3g} per $ of price (bf16)") for h in r["h200"]]
  rows += [(f"  {k['name']}", f"{k['cycles']:,} cycles, {k['cycles'] / max(k['dram_bound_cycles'], 1):.2f}x its DRAM bound") for k in r["layer_kernels"]]
  say(args, "\n".join(f"  {k:<15} {v}" for k, v in rows))
  if args.json: write_json(args.json, r)
  return 0

def cmd_run_system(args) -> int:
  from .arch.system import load_system
  from .flow.system import run_system
  if not args.phase: raise UsageError("--system runs an LLM phase: give --phase decode or --phase prefill")
  if args.phase == "prefill" and args.ctx: raise UsageError("--ctx is the decode context; a prefill takes --prompt")
  if args.phase == "decode" and args.prompt: raise UsageError("--prompt is the prefill length; a decode step takes --ctx")
  s = load_system(args.system, chips=args.chips)
  r = run_system(s, args.workload, args.phase, args.batch or 1, (args.ctx or 2048) if args.phase == "decode" else (args.prompt or 512),
                 args.tp, args.pp, args.microbatches).report
  sy, ms = r["system"], lambda x: f"{x * 1e3:.4g} ms"
  rows = [("model", f"{r['workload']['model']} {args.phase}, batch {r['workload']['batch']}, ctx {r['workload']['ctx']}, {r['workload']['params']:,} parameters"),
          ("system", f"{sy['name']}: {sy['chips']} x {sy['chip']} ({sy['form_factor']}), {sy['topology']}, {sy['link_gb_per_s']:g} GB/s per direction, {sy['link_latency_us']:g} us per message"),
          ("partition", f"tp {r['tp']} x pp {r['pp']}, {r['microbatches']} microbatches, layers per stage {r['stage_layers']}"),
          ("time", f"{ms(r['seconds'])}: compute {ms(r['compute_seconds'])} ({r['compute_fraction']:.3f}), links {ms(r['link_seconds'])} ({r['link_fraction']:.3f}), "
                   f"waiting {ms(r['wait_seconds'])} ({r['wait_fraction']:.3f}: latency {ms(r['wait_latency_seconds'])}, bubble {ms(r['wait_bubble_seconds'])})"),
          ("bytes per link", f"{si(r['link_bytes_per_step'], 'B')} per step (busiest link, one direction)"),
          ("tokens/s", f"{r['tokens_per_s']:,.1f} ({r['ms_per_token']:.4g} ms/token)"),
          ("tokens/s per $", f"{r['tokens_per_s_per_usd']:.4g} of {r['system_cost_usd']['total']:,.0f} USD"),
          ("memory/chip", f"{si(r['memory_per_chip_bytes'], 'B')} of {si(r['chip_memory_bytes'], 'B')}" + ("" if r["fits_memory"] else "  WARNING: does not fit")),
          ("chip shard", f"{r['chip_layer_cycles']:,} cycles a layer, {r['chip_head_cycles']:,} the LM head (cycle-exact, timing only)"),
          ("basis", r["perf_basis"]), ("method", r["workload"]["method"])]
  say(args, "\n".join(f"  {k:<15} {v}" for k, v in rows))
  if args.json: write_json(args.json, r)
  return 0

def cmd_run(args):
  from .workloads import WORKLOADS
  if args.system: return cmd_run_system(args)
  if args.tp or args.pp or args.microbatches or args.chips: raise UsageError("--tp, --pp, --microbatches and --chips need --system NAME")
  if args.phase: return cmd_run_llm(args)
  if args.workload.endswith((".py", ".onnx", ".csv")) or args.workload in WORKLOADS: return cmd_run_graph(args)
  if args.workload != "gemm": raise UsageError(f"unknown workload {args.workload!r} (available: gemm, {', '.join(WORKLOADS)}, or a FILE.py defining workload())")
  cfg = config_from(args)
  if args.requant is not None and not 0 < args.requant < 1: raise UsageError(f"--requant {args.requant}: the scale must be in (0, 1)")
  if not args.force: check_gemm(cfg, args.m, args.k, args.n)
  ep = None
  if args.bias or args.relu or args.requant:
    bias = np.random.default_rng(args.seed + 1).integers(-(1 << 15), 1 << 15, args.n).astype(np.int32) if args.bias else None
    ep = Epilogue(bias, args.relu, quantize_multiplier(args.requant) if args.requant else None)
  g = run_gemm(cfg, args.m, args.k, args.n, seed=args.seed, functional=not args.timing_only, epilogue=ep)
  say(args, table(g.report))
  if args.json: write_json(args.json, g.report)
  res = g.run.result
  if args.trace: atomic_write(args.trace, res.trace_csv() if args.trace.endswith(".csv") else res.trace_json())
  if args.emit: emit(args.emit, g.compiled)
  return 1 if g.report["correct"] is False else 0

def emit(d: str, c):
  """Write program.bin, program.s, dram.bin and layout.json: everything `tinyaccel sim` (and the RTL) needs."""
  os.makedirs(d, exist_ok=True)
  atomic_write(os.path.join(d, "program.bin"), encode_program(c.program))
  atomic_write(os.path.join(d, "program.s"), disasm(c.program))
  atomic_write(os.path.join(d, "dram.bin"), c.dram.tobytes())
  write_json(os.path.join(d, "layout.json"), {k: dict(addr=t.addr, shape=list(t.shape), dtype=t.dtype, transposed=t.transposed) for k, t in c.tensors.items()})

# ---------------- sim, asm, disasm, config ----------------
def read_program(path: str):
  if path.endswith(".s"): return asm(read_text(path))
  with open(path, "rb") as f: return decode_program(f.read())

def cmd_sim(args):
  cfg, prog = config_from(args), read_program(args.program)
  dram = np.fromfile(args.dram, np.uint8) if args.dram else None
  mach = Machine(cfg, dram) if dram is not None else Machine(cfg, dram_bytes=args.dram_bytes)
  res = simulate(cfg, prog, machine=mach)
  s = res.stats
  say(args, f"  {'cycles':<15} {s.cycles:,}\n  {'instructions':<15} " + ", ".join(f"{q} {n}" for q, n in s.instructions.items()) +
      f"\n  {'utilization':<15} {s.utilization:.3f}\n"
      f"  {'DRAM traffic':<15} read {s.dram_read_bytes:,} B, write {s.dram_write_bytes:,} B, compulsory {s.compulsory_dram_bytes:,} B")
  if args.json: write_json(args.json, dict(config=cfg.to_dict(), **s.to_json()))
  if args.trace: atomic_write(args.trace, res.trace_csv() if args.trace.endswith(".csv") else res.trace_json())
  if args.dram_out: atomic_write(args.dram_out, mach.dram.tobytes())
  return 0

def cmd_asm(args):
  prog = asm(read_text(args.input))
  atomic_write(args.output, encode_program(prog))
  print(f"{len(prog)} instructions -> {args.output}")
  return 0

def cmd_disasm(args):
  with open(args.input, "rb") as f: text = disasm(decode_program(f.read()))
  if args.output: atomic_write(args.output, text)
  else: sys.stdout.write(text)
  return 0

def cmd_verilog(args):
  import time

  from .rtl.cosim import TOPLEVEL, verilog
  cfg, t0 = config_from(args), time.perf_counter()
  with Spinner(f"Verilog of {cfg.name} ({cfg.rows}x{cfg.cols})", show_progress(args)): text = verilog(cfg, args.imem_depth)
  atomic_write(args.output, text)
  out = dict(config=cfg.to_dict(), module=TOPLEVEL, file=args.output, lines=text.count("\n"), seconds=time.perf_counter() - t0, imem_depth=args.imem_depth)
  say(args, f"module {TOPLEVEL} ({cfg.name}: {cfg.rows}x{cfg.cols} {cfg.dataflow}) -> {args.output}: {out['lines']:,} lines in {out['seconds']:.1f} s (ports: docs/rtl.md)")
  if args.json: write_json(args.json, out)
  return 0

def cmd_verify(args):
  from .flow.verify import verify_gemm, verify_graph, verify_random
  from .workloads import WORKLOADS
  cfg = config_from(args)
  lines = []
  if args.what == "gemm":
    r, what = verify_gemm(cfg, args.m, args.k, args.n, args.seed, sim=args.sim, waves=args.waves), f"gemm M={args.m} K={args.k} N={args.n}"
  elif args.what == "random":
    r, what = verify_random(cfg, args.seed, sim=args.sim, waves=args.waves), f"random program (seed {args.seed})"
  elif args.what in WORKLOADS or args.what.endswith(".py"):
    r, what = verify_graph(build_network(args.what), cfg, sim=args.sim, progress=show_progress(args)), f"{args.what}, kernel by kernel"
    lines = [f"  {k['name']:<16} {k['model_cycles']:>10,} cycles model {k['rtl_cycles']:>10,} RTL  outputs {'match' if k['outputs_match'] else 'DIFFER'}"
             f"  cycles {'match' if k['cycles_match'] else 'DIFFER: ' + str(k['first_divergence'])}" for k in r["kernels"]]
  else: raise UsageError(f"verify: {args.what!r} is not gemm, random, a workload from `tinyaccel list` or a FILE.py")
  for dram in ("model_dram", "rtl_dram", "model_drams", "rtl_drams"): r.pop(dram, None)
  rate = lambda sec: f"{r['model_cycles'] / sec:,.0f} cycles/s" if sec else "-"
  say(args, "\n".join(lines + [""]) * bool(lines) + f"  {'workload':<16} {what}, {r['instructions']} instructions on {cfg.name} ({cfg.rows}x{cfg.cols} {cfg.dataflow})\n"
            f"  {'model':<16} {r['model_cycles']:,} cycles in {r['model_seconds']:.3f} s ({rate(r['model_seconds'])})\n"
            f"  {'RTL (' + args.sim + ')':<16} {r['rtl_cycles']:,} cycles in {r['rtl_seconds']:.2f} s ({rate(r['rtl_seconds'])})\n"
            f"  {'outputs':<16} {'match' if r['outputs_match'] else 'DIFFER'} (DRAM image bit for bit" + (", and numpy)" if args.what == "gemm" else ")") + "\n"
            f"  {'cycles':<16} {'match' if r['cycles_match'] else 'DIFFER: ' + str(r['first_divergence'])} (every instruction's start and end)")
  if args.json: write_json(args.json, dict(config=cfg.to_dict(), workload=what, **r))
  return 0 if r["outputs_match"] and r["cycles_match"] else 1

def cmd_fpga(args):
  from .reports.fpga import perf_per_usd
  from .rtl.fpga import DEFAULT_FREQ_MHZ
  from .rtl.fpga import run as fpga_run
  cfg = config_from(args)
  if args.board: return fpga_board(args, cfg)
  if not args.target: raise UsageError("fpga: give --target DEVICE (or --board BOARD for a bitstream)")
  workload = None
  if args.workload:
    from .workloads import WORKLOADS
    if args.workload in WORKLOADS: workload = args.workload
    else:
      try:
        kind, dims = args.workload.split(":"); m, k, n = (int(x) for x in dims.split(","))
        assert kind == "gemm" and min(m, k, n) >= 1
      except (ValueError, AssertionError):
        raise UsageError(f"--workload {args.workload!r}: expected gemm:M,K,N with positive sizes or a network of `tinyaccel list`") from None
      workload = f"gemm {m}x{k}x{n}"
  if args.board_usd is not None and not args.board_usd > 0: raise UsageError(f"--board-usd {args.board_usd}: must be > 0")
  r = fpga_run(cfg, args.target, DEFAULT_FREQ_MHZ if args.freq is None else args.freq, top=args.top, imem_depth=args.imem_depth, progress=show_progress(args), seed=args.seed)
  if workload:
    r["perf"] = perf_per_usd(r, workload, evaluate(cfg, workload)[0], args.board_usd)
  res, cp = r["resources"], r["critical_path"]
  rows = [("design", f"{cfg.name} ({cfg.rows}x{cfg.cols} {cfg.dataflow}), top {r['top']}, on {r['target']} ({r['device']} {r['package']})" + (" [cached]" if r["cached"] else "")),
          *((k.upper() if k != "bram" else "block RAM", f"{v['used']:,} of {v['available']:,} ({v['utilization']:.1%})") for k, v in res.items()),
          ("Fmax", f"{r['fmax_mhz']:.1f} MHz: {'meets' if r['meets_freq'] else 'MISSES'} the requested {r['freq_mhz']:g} MHz"),
          ("fits", "yes" if r["fits"] else "NO")]
  if cp: rows.append(("critical path", f"{cp['delay_ns']:.2f} ns ({cp['logic_ns']:.2f} logic, {cp['routing_ns']:.2f} routing, {cp['logic_levels']} cells): {cp['start']} -> {cp['end']}"))
  rows.append(("harness", f"{r['harness_ffs']:,} FFs of the counts above are the scan harness around the top's {r['design_port_bits']:,} port bits (rtl/fpga.py)"))
  rows.append(("tool time", ", ".join(f"{k[:-2]} {v:.1f} s" for k, v in r["seconds"].items()) + (f" (this call: Verilog {r['verilog_seconds']:.1f} s, the rest cached)" if r["cached"]
               else " (synthesis from the cache)" if r.get("synth_cached") else "")))
  if workload:
    w = r["perf"]
    rows.append(("workload", f"{workload}: {w['cycles']:,} cycles at {w['clock_mhz']:.1f} MHz = {w['seconds'] * 1e3:.4g} ms, "
                             f"{si(w['flops_per_s'], 'FLOP/s')} ({w['utilization']:.3f} of {si(w['peak_flops_per_s'], 'FLOP/s')} peak)"))
    rows.append(("per $", f"{si(w['flops_per_s_per_usd'], 'FLOP/s')} per $ at a ${args.board_usd:g} board" if w["flops_per_s_per_usd"] else w["note"]))
  say(args, "\n".join(f"  {k:<15} {v}" for k, v in rows))
  if args.json: write_json(args.json, r)
  return 0

def fpga_board(args, cfg):
  """--board: the self-test bitstream (flow/board.py): a GEMM from on-chip memory, its verdict on the LEDs."""
  from .flow.board import board_build
  from .rtl.board import BOARDS, LEDS
  if args.target and args.target != BOARDS.get(args.board, args).target: raise UsageError(f"--target {args.target}: {args.board} carries {BOARDS[args.board].target}")
  try: m, k, n = (int(x) for x in (args.workload or "gemm:8,8,8").removeprefix("gemm:").split(",")); assert min(m, k, n) >= 1
  except (ValueError, AssertionError): raise UsageError(f"--workload {args.workload!r}: the self-test runs a gemm:M,K,N with positive sizes") from None
  check_gemm(cfg, m, k, n)
  r = board_build(cfg, args.board, m, k, n, core_mhz=args.freq, progress=show_progress(args), pnr_seed=args.seed)
  f = r["fpga"]
  if args.output:
    import shutil
    shutil.copyfile(f["bitstream"], args.output + ".tmp"); os.replace(args.output + ".tmp", args.output)
  p = r["pll"]
  rows = [("board", f"{r['board']} ({f['device']} {f['package']}); pins from {r['pins']}" + (" [cached]" if f["cached"] else "")),
          ("self-test", f"gemm {'x'.join(map(str, r['gemm']))} on {cfg.name}: {r['instructions']} instructions, {r['dram_bytes']:,} B of on-chip DRAM, "
                        f"{r['model_cycles']:,} cycles; simulated: {r['simulation']}"),
          ("clock", f"{r['core_mhz']:g} MHz from the board's oscillator by the PLL (CLKI_DIV {p['clki_div']}, CLKFB_DIV {p['clkfb_div']}, CLKOP_DIV {p['clkop_div']}, VCO {p['vco_mhz']:g} MHz)"),
          ("Fmax", f"{f['fmax_mhz']:.1f} MHz: {'meets' if f['meets_freq'] else 'MISSES'} the {r['core_mhz']:g} MHz clock"),
          *((k.upper() if k != "bram" else "block RAM", f"{v['used']:,} of {v['available']:,}") for k, v in f["resources"].items()),
          ("bitstream", f"{args.output or f['bitstream']} ({f['bitstream_bytes']:,} B); constraints {f['constraints']}"),
          ("LEDs", ", ".join(f"led[{i}] {what}" for i, what in LEDS.items()) + "; FIRE1 restarts the test"),
          ("tool time", ", ".join(f"{k[:-2]} {v:.1f} s" for k, v in f["seconds"].items()))]
  say(args, "\n".join(f"  {k:<15} {v}" for k, v in rows))
  if args.json: write_json(args.json, r)
  return 0

def cmd_list(args):
  """Networks with their parameter count and MACs (from the graph: contractions and their shapes)."""
  from .workloads import WORKLOADS
  rows = [dict(name=name, description=desc, **network_summary(build())) for name, (build, desc) in WORKLOADS.items()]
  say(args, "\n".join(f"  {r['name']:<12} {r['description']:<40} {r['params'] / 1e6:>8.2f} M params {r['macs'] / 1e9:>8.3f} GMACs" for r in rows))
  if args.json: write_json(args.json, rows)
  return 0

def config_unit(field: str) -> str:
  """The unit a config field or derived value is in, from its name (arch/config.py spells the unit in every name)."""
  for end, unit in (("_kib", "KiB"), ("_bytes_per_cycle", "B/cycle"), ("_bytes_per_s", "B/s"), ("_flops_per_s", "FLOP/s"), ("_per_cycle", "per cycle"),
                    ("_bytes", "B"), ("_cycles", "cycles"), ("_mhz", "MHz"), ("_nm", "nm"), ("_gib", "GiB"), ("_lines", "lines"), ("_banks", "banks"), ("_lanes", "lanes")):
    if field.endswith(end): return unit
  return {"rows": "PEs", "cols": "PEs", "cores": "cores", "dram_channels": "channels", "form_factor_cards": "cards", "nre_volume_units": "units",
          "gross_margin": "fraction 0-1"}.get(field, "")

def cmd_config(args):
  cfg = config_from(args)
  derived = dict(spad_line_bytes=cfg.spad_line_bytes, spad_lines=cfg.spad_lines, acc_line_bytes=cfg.acc_line_bytes, acc_lines=cfg.acc_lines,
                 macs_per_cycle=cfg.macs_per_cycle, peak_flops_per_s=cfg.peak_flops_per_s, dram_bytes_per_s=cfg.dram_bytes_per_s)
  say(args, "\n".join(f"  {k:<22} {v} {config_unit(k)}".rstrip() for k, v in {**cfg.to_dict(), **derived}.items()))
  if args.json: write_json(args.json, {**cfg.to_dict(), **derived})
  return 0

DEMO_NETWORKS = [("resnet50", "edge"), ("resnet50", "server"), ("bert", "edge"), ("bert", "server")]   # the workloads H100 was measured on

def cmd_demo(args):
  """GEMMs on every preset, networks on the presets, a short design sweep, and the HTML report of all of it."""
  from .flow.sweep import run_sweep
  from .reports.report import write_report
  from .reports.sweep import PERF_AREA, pareto
  from .workloads import WORKLOADS
  shapes = {"tiny": (64, 64, 64), "edge": (1024, 1024, 1024), "server": (2048, 2048, 2048)}
  out, trace = [], None
  print(f"{'preset':<8} {'array':>8} {'GEMM M x K x N':>18} {'cycles':>12} {'util':>6} {'of bound':>9} {'DRAM/comp':>9} {'TFLOP/s':>8} {'correct':>8} {'model s':>8}")
  for p in presets():
    cfg = load_config(p); shape = shapes.get(p, (256, 256, 256))
    g = run_gemm(cfg, *shape); r = g.report
    out.append(r)
    if p == "tiny": trace = json.loads(g.run.result.trace_json())     # small enough to draw every instruction
    print(f"{p:<8} {cfg.rows:>4}x{cfg.cols:<3} {'x'.join(map(str, shape)):>18} {r['cycles']:>12,} {r['utilization']:>6.3f} {r['roofline_bound_cycles'] / r['cycles']:>9.3f}"
          f" {r['dram_bytes'] / r['compulsory_dram_bytes']:>9.2f} {r['achieved_flops_per_s'] / 1e12:>8.3g} {str(r['correct']):>8} {r['model_seconds']:>8.3f}")
  nets = []
  for name, preset in DEMO_NETWORKS:
    if name not in WORKLOADS: continue
    _, n = run_network(name, load_config(preset), progress=show_progress(args))
    write_json(os.path.join(args.output, f"{name}_{preset}.json"), n); nets.append(n)
    print(f"{name} on {preset}: {n['cycles']:,} cycles ({n['seconds'] * 1e3:.3g} ms), utilization {n['utilization']:.3f}, cosine vs float32 {n['accuracy']['cosine_similarity']:.5f},"
          f" {si(n['flops_per_usd'], 'FLOP/s')} per $, correct {n['correct']}")
  sweep = run_sweep(os.path.join(os.path.dirname(__file__), "sweeps", "demo.toml"), os.path.join(args.output, "sweep"), progress=show_progress(args))
  front = pareto(sweep["results"], PERF_AREA)
  print(f"sweep: {sweep['points']} design points ({sweep['computed']} computed), {len(front)} on the Pareto front (perf/$, perf/W, die area)")
  print(f"report: {write_report(out + nets, args.output, trace, sweep=(sweep['results'], front))}")
  if args.json: write_json(args.json, out + nets)
  return 0 if all(r["correct"] for r in out + nets) else 1

def parser() -> argparse.ArgumentParser:
  ap = Parser(prog="tinyaccel", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = ap.add_subparsers(dest="cmd", required=True)
  def common(p, dataflow=True):
    p.add_argument("--config", default="edge", help=f"preset name ({', '.join(presets())}), path to a TOML file, or a SCALE-Sim .cfg (default: edge)")
    if dataflow: p.add_argument("--dataflow", choices=("ws", "os"), help="override the config's dataflow: ws weight-stationary, os output-stationary")
    p.add_argument("--json", metavar="FILE", help="also write the numbers as JSON to FILE ('-' for stdout)")
    quiet(p)
  def quiet(p): p.add_argument("--quiet", "-q", action="store_true", help="no progress bars (they go to stderr, only when it is a terminal)")
  p = sub.add_parser("run", help="compile a workload and run it on the cycle-accurate model",
                     description="Compile a workload and run it on the cycle-accurate model. Sizes are element counts; cycles are accelerator clock cycles.")
  p.add_argument("workload", help="gemm, a network from `tinyaccel list`, FILE.py whose workload() returns the output Tensor (ours or tinygrad's), MODEL.onnx, or a SCALE-Sim topology CSV (with --config FILE.cfg)")
  p.add_argument("--m", type=positive, default=256, help="rows of A and C (elements)")
  p.add_argument("--k", type=positive, default=256, help="columns of A, rows of B (elements)")
  p.add_argument("--n", type=positive, default=256, help="columns of B and C (elements)")
  p.add_argument("--seed", type=seed, default=0, help="seed of the random int8 operands (>= 0)")
  p.add_argument("--seq", type=positive, help="sequence length of a transformer workload (bert*, gpt2*; default 128)")
  p.add_argument("--arg", action="append", metavar="NAME=VALUE", help="an argument of FILE.py's workload(), typed from its default (repeatable)")
  p.add_argument("--scalesim-report", metavar="COMPUTE_REPORT.csv", help="with a SCALE-Sim topology: print SCALE-Sim's cycles per layer next to ours")
  p.add_argument("--batch", type=positive, help="batch: of a built-in CNN or MLP (resnet*, mobilenetv2, openpilot, mlp; default theirs), or sequences of an LLM phase (default 1)")
  p.add_argument("--cores", type=positive, help="cores of the chip (overrides the config's `cores`; each core is the config's accelerator)")
  p.add_argument("--dram-channels", type=positive, help="DRAM channels of the chip (overrides `dram_channels`; must divide cores)")
  p.add_argument("--phase", choices=("decode", "prefill", "generate"), help="LLM serving phase of llama3_1b, llama3_8b, gpt2_decoder, tiny_decoder (timing only; docs/llm.md); "
                 "generate: prefill then decode steps, the decode cost sampled at context buckets")
  p.add_argument("--ctx", type=positive, help="decode: KV-cache positions attended, the new token included (default 2048)")
  p.add_argument("--prompt", type=positive, help="prefill, generate: prompt tokens per sequence (default 512)")
  p.add_argument("--tokens", type=positive, help="generate: output tokens per sequence, the prefill's first one included (default 128)")
  p.add_argument("--system", metavar="NAME", help="LLM phase on a system of chips: a preset of configs/systems/ or a TOML path (its `chip` is the config; docs/config.md \"Systems\")")
  p.add_argument("--chips", type=positive, help="--system: chips (overrides the system's `chips`)")
  p.add_argument("--tp", type=positive, help="--system: tensor-parallel chips (must divide heads and KV heads; tp x pp = chips; default: as many as allowed)")
  p.add_argument("--pp", type=positive, help="--system: pipeline stages (tp x pp = chips)")
  p.add_argument("--microbatches", type=positive, help="--system with pp > 1: microbatches of the batch (must divide it; default: the largest divisor <= pp)")
  p.add_argument("--trace", metavar="FILE", help="write the per-instruction trace (queue, start cycle, end cycle): .csv or .json")
  p.add_argument("--emit", metavar="DIR", help="write program.bin, program.s, dram.bin and layout.json to DIR")
  p.add_argument("--timing-only", action="store_true", help="skip the numerics (faster; 'correct' is not checked)")
  p.add_argument("--no-fusion", action="store_true", help="networks: run the unfused schedule (each residual add its own vector kernel), for comparison")
  p.add_argument("--one-program", action="store_true", help="networks on a single-core chip: link every kernel into one program over one planned DRAM image"
                 " (the next kernel's weight loads overlap this one's epilogue; docs/compiler.md \"One program per network\")")
  p.add_argument("--bias", action="store_true", help="fuse a random int32 bias per output column (vector unit)")
  p.add_argument("--relu", action="store_true", help="fuse a ReLU (vector unit)")
  p.add_argument("--force", action="store_true", help="run even when the predicted work exceeds the budget (flow/budget.py: instructions)")
  p.add_argument("--requant", type=scale, metavar="SCALE", help="fuse requantization to int8 by SCALE in (0, 1) (gemmlowp fixed point); C becomes int8")
  common(p); p.set_defaults(fn=cmd_run)
  p = sub.add_parser("compile", help="show the IR, the kernels or the program of FILE.py's workload()")
  p.add_argument("file"); p.add_argument("--print", choices=("ir", "kernels", "program"), default="kernels", help="what to print")
  common(p); p.set_defaults(fn=cmd_compile)
  p = sub.add_parser("sim", help="run a binary (.bin) or assembly (.s) program on the model",
                     description="Run a binary (.bin) or assembly (.s) program on the cycle-accurate model of --config (the config the program was "
                                 "compiled for); prints cycles, instructions per queue, utilization (0-1) and DRAM traffic in bytes.")
  p.add_argument("program"); p.add_argument("--dram", metavar="FILE", help="DRAM image (raw bytes)")
  p.add_argument("--dram-bytes", type=dram_size, default=1 << 20, help="DRAM size in bytes when no image is given (at most 2^32)")
  p.add_argument("--dram-out", metavar="FILE", help="write the final DRAM image")
  p.add_argument("--trace", metavar="FILE", help="per-instruction trace (.csv or .json)")
  common(p); p.set_defaults(fn=cmd_sim)
  p = sub.add_parser("asm", help="assemble text (.s) into the 128-bit binary encoding",
                     description="Assemble UTF-8 text (.s: `opcode field=value ...`, docs/isa.md) into 16-byte (128-bit) little-endian instructions.")
  p.add_argument("input"); p.add_argument("-o", "--output", required=True); p.set_defaults(fn=cmd_asm)
  p = sub.add_parser("disasm", help="disassemble a binary program into text",
                     description="Disassemble a binary program (16-byte instructions) into the text `tinyaccel asm` reads; stdout unless -o.")
  p.add_argument("input"); p.add_argument("-o", "--output"); p.set_defaults(fn=cmd_disasm)
  p = sub.add_parser("verilog", help="write the accelerator as synthesizable Verilog (module tinyaccel_top)")
  p.add_argument("-o", "--output", required=True, metavar="FILE.v")
  p.add_argument("--imem-depth", type=positive, default=1024, help="instructions each queue's buffer holds (default 1024)")
  common(p); p.set_defaults(fn=cmd_verilog)
  p = sub.add_parser("verify", help="run model and RTL (cocotb) on the same program; compare outputs and every instruction's cycles",
                     description="Run the model and the RTL on one program and compare the DRAM result bit for bit and every instruction's "
                                 "(start, end) cycle. Exit status 1 on any difference, 2 on bad input.")
  p.add_argument("what", help="gemm (a compiled GEMM), random (a random legal program), a network from `tinyaccel list` "
                 "or FILE.py defining workload(): every kernel of it on the RTL")
  p.add_argument("--m", type=positive, default=16, help="rows of A and C (elements)")
  p.add_argument("--k", type=positive, default=16, help="columns of A, rows of B (elements)")
  p.add_argument("--n", type=positive, default=16, help="columns of B and C (elements)")
  p.add_argument("--seed", type=seed, default=0, help="seed of the operands or of the random program (>= 0)")
  p.add_argument("--sim", choices=("icarus", "verilator"), default="icarus", help="HDL simulator (default icarus)")
  p.add_argument("--waves", metavar="FILE", help="write the waveform (FST) to FILE")
  common(p); p.set_defaults(fn=cmd_verify)
  from .rtl.board import BOARDS
  from .rtl.fpga import IMEM_DEPTH, TARGETS, TOPS
  p = sub.add_parser("fpga", help="synthesize, place and route on an FPGA (yosys + nextpnr): resources, Fmax, tool times",
                     description="Synthesize the accelerator (yosys, DSP inference on), place and route it (nextpnr) and report LUTs, "
                                 "flip-flops, DSPs, block RAMs and IOs with their utilization (fractions of the device), the achieved "
                                 "Fmax in MHz and whether it meets --freq, the critical path (ns) and the tools' run times (s). Results "
                                 "are cached by Verilog hash under build/fpga/. Exit status 2 (one line) for an unknown target, a design "
                                 "that does not fit (checked from the config, then after synthesis, before placement) or missing tools "
                                 "(pip install -e .[fpga]). docs/fpga.md explains the top level and the scan harness.")
  p.add_argument("--target", help=f"device: {', '.join(TARGETS)}")
  p.add_argument("--board", choices=BOARDS, help="write a self-test bitstream for this board (a GEMM from on-chip memory, pass/fail on the LEDs; docs/fpga.md)")
  p.add_argument("-o", "--output", metavar="FILE.bit", help="with --board: where to copy the bitstream")
  p.add_argument("--freq", type=float, metavar="MHZ", help="clock to place and route for, in MHz (default 100; with --board the board's oscillator)")
  p.add_argument("--top", choices=TOPS, default="axi",
                 help="axi: the deployable AXI4 top (rtl/axi.py, default); core: the bare accelerator; array: the systolic array alone "
                      "(array-unpipelined: with multiply and add in one cycle, for comparison)")
  p.add_argument("--imem-depth", type=positive, default=IMEM_DEPTH, help=f"instructions each queue's buffer holds (default {IMEM_DEPTH}: "
                 "the three 128-bit buffers then take up to 12 DP16KD block RAMs on an ECP5, 24 at 1024)")
  p.add_argument("--workload", metavar="gemm:M,K,N|NETWORK", help="also report this GEMM's or network's time (model cycles at the achieved Fmax), FLOP/s and FLOP/s per $")
  p.add_argument("--seed", type=int, default=1, help="nextpnr's placement seed (default 1): Fmax moves by a few percent from seed to seed")
  p.add_argument("--board-usd", type=float, metavar="USD", help="board price in US$ for FLOP/s per $ (the reference data cites no ECP5/iCE40 board price)")
  common(p); p.set_defaults(fn=cmd_fpga)
  p = sub.add_parser("config", help="show a validated config with its derived geometry")
  common(p); p.set_defaults(fn=cmd_config)
  p = sub.add_parser("sweep", help="run a design-space sweep (TOML) in parallel; resumable",
                     description="Every point of a sweep file: configs x workloads through the model and the cost model (cycles, "
                                 "FLOP/s per $ and per W, die area in mm^2), or, with an [fpga] table, configs x FPGA targets x "
                                 "clocks (MHz) through yosys and nextpnr (LUTs, FFs, DSPs, block RAMs, Fmax in MHz, a workload's "
                                 "FLOP/s at that Fmax; synthesis shared per family and cached by Verilog hash). Prints one line "
                                 "per Pareto-optimal point (a row per point for FPGA sweeps) and a plot. reports/sweep.py and "
                                 "docs/fpga.md describe the file.")
  p.add_argument("file", help="sweep TOML (see reports/sweep.py; sweeps/ has examples, sweeps/fpga.toml an FPGA one)")
  p.add_argument("-o", "--output", default="build/sweep", help="results folder; rerunning resumes from it")
  p.add_argument("-j", "--jobs", type=positive, help="worker processes (default: all cores)")
  p.add_argument("--area", action="store_true", help="the Pareto front also minimizes die area (mm^2), beside maximizing FLOP/s per $ and per W")
  p.add_argument("--scheduler", metavar="ADDR", help="run the points on a dask.distributed cluster instead (e.g. tcp://host:8786; "
                 "start one with `dask scheduler` and `dask worker ADDR` on each machine)")
  p.add_argument("--json", metavar="FILE"); quiet(p); p.set_defaults(fn=cmd_sweep)
  p = sub.add_parser("report", help="HTML report with plots from `run --json` results")
  p.add_argument("results", nargs="+", help="JSON files written by `tinyaccel run ... --json`, and `tinyaccel fpga ... --workload gemm:M,K,N "
                 "--json` results for FPGA rows on the perf/$ plot (priced when --board-usd was given)")
  p.add_argument("-o", "--output", default="reports/out", help="output folder (default reports/out)")
  p.add_argument("--trace", metavar="FILE", help="a .json trace from `run gemm --trace` for the timeline plot")
  p.set_defaults(fn=cmd_report)
  p = sub.add_parser("compare", help="a workload on several configs next to reference chips (perf per $ and per W)")
  p.add_argument("workload", help="gemm or a network from `tinyaccel list`")
  p.add_argument("--configs", default="edge,server", help="comma-separated presets or TOML paths")
  p.add_argument("--m", type=positive, default=1024); p.add_argument("--k", type=positive, default=1024); p.add_argument("--n", type=positive, default=1024)
  p.add_argument("--json", metavar="FILE"); quiet(p); p.set_defaults(fn=cmd_compare)
  p = sub.add_parser("cost", help="area, chip cost and peak perf/$ of a config (--sources: every constant and where it comes from)")
  p.add_argument("--sources", action="store_true", help="list every constant with its source or assumption")
  p.add_argument("--calibration", action="store_true", help="the model against published accelerators (configs/calibration): model, published, ratio, source")
  common(p); p.set_defaults(fn=cmd_cost)
  p = sub.add_parser("list", help="the built-in networks with parameter count and MACs",
                     description="The built-in networks: parameters (millions) and multiply-accumulates per inference (GMACs), from their graphs.")
  p.add_argument("--json", metavar="FILE"); p.set_defaults(fn=cmd_list)
  p = sub.add_parser("demo", help="GEMMs on every preset, ResNet-50 and BERT-base on edge and server, a design sweep, and an HTML report")
  p.add_argument("-o", "--output", default="reports/out", help="report folder (default reports/out)")
  p.add_argument("--json", metavar="FILE"); quiet(p); p.set_defaults(fn=cmd_demo)
  return ap

def main(argv=None) -> int:
  args = parser().parse_args(argv)
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("error", RuntimeWarning)      # numerical warnings become the one-line error they announce
      return args.fn(args)
  except BrokenPipeError:    # `tinyaccel ... | head`
    sys.stderr.close(); return 0
  except ERRORS as e:
    print(f"tinyaccel: error: {one_line(e)}", file=sys.stderr); return 2
  except (FloatingPointError, RuntimeWarning) as e:
    print(f"tinyaccel: error: numerical: {one_line(e)} (NaN, infinite or overflowing input?)", file=sys.stderr); return 2
  except MemoryError:
    print("tinyaccel: error: out of memory (a smaller workload or config?)", file=sys.stderr); return 2
  except KeyboardInterrupt:
    print("tinyaccel: interrupted", file=sys.stderr); return 130
  except Exception as e:     # a bug: still one line; TINYACCEL_DEBUG=1 shows the traceback
    if os.environ.get("TINYACCEL_DEBUG"): raise
    print(f"tinyaccel: internal error: {type(e).__name__}: {one_line(e)} (please report; TINYACCEL_DEBUG=1 for the traceback)", file=sys.stderr); return 3

if __name__ == "__main__": sys.exit(main())
