"""HTML reports with matplotlib plots: roofline, perf/$ against reference chips, per-kernel utilization
and stalls, DRAM traffic against compulsory bytes, and the three queues' timeline.

`write_report(results, out_dir, trace=None)` takes the JSON reports of `tinyaccel run ... --json` (a GEMM
or a network) and writes `index.html`, one PNG per plot, `results.csv` and `results.json`, atomically.
"""
from __future__ import annotations

import csv
import html
import io
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from ..arch.config import AccelConfig, cycles_to_seconds
from ..arch.isa import QUEUE_NAMES
from ..helpers import atomic_write
from .chips import h100_best, h100_measured, int8_rows, peak_rows


def _label(r: dict) -> str:
  w, c = r["workload"], r["config"]
  name = f"gemm {w['m']}x{w['k']}x{w['n']}" if w.get("kind") == "gemm" else w.get("name", w.get("path", "?"))
  return f"{name} on {c['name']} ({c['rows']}x{c['cols']} {c['dataflow']})"

def _save(fig, out_dir: str, name: str) -> str:
  buf = io.BytesIO(); fig.savefig(buf, format="png", dpi=110, bbox_inches="tight"); plt.close(fig)
  atomic_write(os.path.join(out_dir, name), buf.getvalue())
  return name

def _table(rows: list[dict], cols: list[str]) -> str:
  head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
  fmt = lambda v: f"{v:,.4g}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else html.escape(str(v))
  body = "".join("<tr>" + "".join(f"<td>{fmt(r.get(c, ''))}</td>" for c in cols) + "</tr>" for r in rows)
  return f"<table><tr>{head}</tr>{body}</table>"

def roofline(results, out_dir):
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for r in results:
    c = AccelConfig(**r["config"]); peak, bw = c.peak_flops_per_s, c.dram_bytes_per_s
    xs = [0.01, peak / bw, 1e5]
    ax.plot(xs, [min(peak, x * bw) for x in xs], "--", lw=1, label=f"{c.name} roof")
    pts = [(2 * k["macs"] / max(k["dram_bytes"], 1), 2 * k["macs"] / cycles_to_seconds(k["cycles"], c.clock_mhz)) for k in r["kernels"] if k["macs"]]
    ax.scatter(*zip(*pts), s=14, label=_label(r))
  ax.set_xscale("log"); ax.set_yscale("log"); ax.set_xlabel("operational intensity (FLOP per DRAM byte)"); ax.set_ylabel("achieved FLOP/s")
  ax.legend(fontsize=7); ax.set_title("Roofline: one point per kernel")
  return _save(fig, out_dir, "roofline.png")

def fpga_rows(fpga: list[dict]) -> list[dict]:
  """FPGA builds (`tinyaccel fpga --workload ... --json`, or a sweep's FPGA points): the model's cycles at the achieved
  Fmax, per $ of the board when a price was given (the reference data cites none for ECP5/iCE40 boards). Builds
  that name the same row (a sweep's clocks that placed alike) appear once."""
  out = {}
  for f in fpga:
    w, c, usd = f["perf"], f["config"], f["perf"].get("board_usd")
    name = f"FPGA {f['target']} {c['rows']}x{c['cols']} @ {f['fmax_mhz']:.1f} MHz on {w['workload']}" + (f" (board ${usd:,.0f})" if usd else " (no board price)")
    out[name] = dict(name=name, flops_per_usd=w.get("flops_per_s_per_usd"), peak_flops_per_usd=w["peak_flops_per_s"] / usd if usd else None, flops_per_watt=None,
                     flops_per_s=w["flops_per_s"])
  return list(out.values())

def perf_per_dollar(results, out_dir, fpga=()):
  """A dot plot on a log axis, one row per design: per $ of manufacturing cost (filled) and per $ of price (open), each row
  labeled with its precision and batch; int8 dense peaks of the reference chips on both bases (price with its date), the
  measured H100 at the run's batch and at its best batch, and the fp16/bf16 peaks last, labeled as another precision."""
  rows = []
  for r in results:
    b = r.get("perf_per_usd_basis", {}).get("flops_per_usd", "per $ of chip cost")
    bt = "" if r["workload"].get("kind") == "gemm" else ", batch 1"
    rows.append(dict(name=f"{_label(r)}: int8{bt}, achieved", cost=r["flops_per_usd"], price=r.get("flops_per_usd_price"), flops_per_watt=r["flops_per_watt"], basis=b))
    rows.append(dict(name=f"{_label(r)}: int8 peak", cost=r["peak_flops_per_usd"], price=r.get("peak_flops_per_usd_price"), flops_per_watt=None, basis=b))
  rows += [dict(name=x["name"], cost=None, price=x["flops_per_usd"], flops_per_watt=None, basis="int8, achieved on the workload, per $ of the FPGA board's price (user-given)")
           for x in fpga_rows(list(fpga))]
  seen = set()
  for r in results:
    w = r["workload"]; key = f"gemm {w['m']}x{w['k']}x{w['n']}" if w.get("kind") == "gemm" else w.get("name", "")
    gemm = w.get("kind") == "gemm"
    for h in [h100_measured(key, dtype="int8")] if gemm else [h100_measured(key, batch=1), h100_best(key)]:
      if h and (h["name"], key) not in seen:
        seen.add((h["name"], key))
        rows.append(dict(name=f"{h['name']} on {key}", cost=h["flops_per_usd"], price=h["flops_per_usd_price"], flops_per_watt=h["flops_per_watt"],
                         basis=f"measured {h['precision']}; cost {h['cost']}; price {h['price']}"))
  rows += [dict(name=f"{p['name']}: int8 dense peak (price {p['price_date']})", cost=p["peak_flops_per_usd"], price=p["peak_flops_per_usd_price"], flops_per_watt=None,
                basis=f"cost {p['cost_basis'] or 'not cited'}; price {p['price_basis']}") for p in int8_rows()]
  rows += [dict(name=f"{p['name']}: fp16/bf16 peak (other precision)", cost=None, price=p["peak_flops_per_usd"], flops_per_watt=None, basis="spec-sheet fp16/bf16 peak / price")
           for p in peak_rows()]
  fig, ax = plt.subplots(figsize=(9, 0.3 * len(rows) + 1.2))
  ys = range(len(rows))
  ax.scatter([x["cost"] for x in rows if x["cost"]], [y for y, x in zip(ys, rows) if x["cost"]], color="#2a6", zorder=3, label="per $ of manufacturing cost (no NRE)")
  ax.scatter([x["price"] for x in rows if x["price"]], [y for y, x in zip(ys, rows) if x["price"]], facecolors="none", edgecolors="#c33", zorder=3, label="per $ of price")
  ax.set_yticks(list(ys), [x["name"][:80] for x in rows], fontsize=7); ax.invert_yaxis(); ax.grid(axis="x", which="both", lw=0.3)
  ax.set_xscale("log"); ax.set_xlabel("op/s per $ (log scale)"); ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1)); ax.set_title("Performance per dollar: every row states precision, batch and price date")
  return _save(fig, out_dir, "perf_per_dollar.png"), rows

def kernels(results, out_dir):
  files = []
  for n, r in enumerate(results):
    ks = r["kernels"]; names = [k["name"] for k in ks]
    fig, (a1, a2, a3) = plt.subplots(3, 1, figsize=(max(6, 0.25 * len(ks) + 2), 8), sharex=True)
    a1.bar(names, [k["roofline_bound_cycles"] / k["cycles"] if k["cycles"] else 0 for k in ks], color="#ccc", label="roofline bound / cycles")
    a1.bar(names, [k["utilization"] for k in ks], color="#36c", width=0.5, label="utilization"); a1.set_ylim(0, 1.05); a1.legend(fontsize=7)
    reasons = sorted({x for k in ks for x in (k.get("stall_cycles") or {}).get("compute", {})})
    bottom = [0.0] * len(ks)
    for reason in reasons:
      v = [(k.get("stall_cycles") or {}).get("compute", {}).get(reason, 0) / k["cycles"] for k in ks]
      a2.bar(names, v, bottom=bottom, label=reason); bottom = [b + x for b, x in zip(bottom, v)]
    a2.set_ylabel("array stall share"); a2.legend(fontsize=7) if reasons else None
    a3.bar(names, [k["dram_bytes"] for k in ks], color="#c63", label="DRAM bytes")
    a3.bar(names, [k["compulsory_dram_bytes"] for k in ks], fill=False, edgecolor="k", lw=0.7, label="compulsory")
    a3.set_yscale("log"); a3.set_ylabel("bytes"); a3.legend(fontsize=7)
    plt.setp(a3.get_xticklabels(), rotation=90, fontsize=6); a1.set_title(_label(r))
    files.append(_save(fig, out_dir, f"kernels_{n}.png"))
  return files

def timeline(trace: list[dict], out_dir: str) -> str:
  fig, ax = plt.subplots(figsize=(9, 2.4))
  for y, q in enumerate(QUEUE_NAMES):
    spans = [(t["start"], t["end"] - t["start"]) for t in trace if t["queue"] == q]
    ax.broken_barh(spans, (y - 0.35, 0.7), alpha=0.6)
  ax.set_yticks(range(len(QUEUE_NAMES)), QUEUE_NAMES); ax.set_xlabel("cycle"); ax.set_title("instruction windows per queue (start to completion)")
  return _save(fig, out_dir, "timeline.png")

def write_report(results: list[dict], out_dir: str, trace: list[dict] | None = None, sweep: tuple[list, list] | None = None, fpga: list[dict] = ()) -> str:
  os.makedirs(out_dir, exist_ok=True)
  parts = ["<h1>tinyaccel report</h1>"]
  summary = [dict(run=_label(r), cycles=r["cycles"], utilization=r["utilization"], correct=r["correct"], area_mm2=r["area_mm2"]["total"],
                  unit_cost_usd=r.get("unit_cost_usd", r["chip_cost_usd"]["total"]), avg_power_w=r["avg_power_w"], peak_power_w=r.get("peak_power_w"), flops_per_usd=r["flops_per_usd"], flops_per_watt=r["flops_per_watt"],
                  usd_per_pflops_hour=r["usd_per_pflops_hour"]) for r in results]
  parts += ["<h2>Summary</h2>", _table(summary, list(summary[0]))]
  parts += ["<h2>Roofline</h2>", f'<img src="{roofline(results, out_dir)}">']
  png, rows = perf_per_dollar(results, out_dir, fpga)
  parts += ["<h2>Performance per dollar</h2>", f'<img src="{png}">', _table(rows, ["name", "cost", "price", "flops_per_watt", "basis"])]
  for r, png in zip(results, kernels(results, out_dir)):
    parts += [f"<h2>Kernels: {html.escape(_label(r))}</h2>", f'<img src="{png}">',
              _table(r["kernels"], ["name", "kind", "shape", "cycles", "utilization", "roofline_bound_cycles", "dram_bytes", "compulsory_dram_bytes", "correct"])]
  if trace: parts += ["<h2>Timeline</h2>", f'<img src="{timeline(trace, out_dir)}">']
  if sweep:
    pts, front = sweep
    rows = [dict(workload=r["workload"], **r["params"], cycles=r["cycles"], area_mm2=r["area_mm2"]["total"], flops_per_usd=r["flops_per_usd"],
                 flops_per_watt=r["flops_per_watt"], pareto=r in front) for r in pts if r.get("ok")]
    parts += ["<h2>Design sweep: Pareto front</h2>", f'<img src="{os.path.basename(sweep_plot(pts, front, out_dir))}">', _table(rows, list(rows[0]))]
  css = "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
  atomic_write(os.path.join(out_dir, "index.html"), f"<!doctype html><html><head><meta charset='utf-8'><title>tinyaccel report</title><style>{css}</style></head><body>{''.join(parts)}</body></html>\n")
  out = io.StringIO(); w = csv.DictWriter(out, fieldnames=list(summary[0])); w.writeheader(); w.writerows(summary)
  atomic_write(os.path.join(out_dir, "results.csv"), out.getvalue())
  atomic_write(os.path.join(out_dir, "results.json"), json.dumps(results, default=str))
  return os.path.join(out_dir, "index.html")

def fpga_sweep_plot(results: list[dict], front: list[dict], out_dir: str) -> str:
  """An FPGA sweep: speed (the workload's at the achieved Fmax, or the peak) against LUTs, one colour per target;
  hollow markers miss their requested clock, each point labelled rows x cols @ requested MHz."""
  ok = [r for r in results if r.get("ok")]
  speed = lambda r: r["flops_per_s"] or r["peak_flops_per_s"]
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for i, t in enumerate(sorted({r["target"] for r in ok})):
    pts = [r for r in ok if r["target"] == t]
    for meets in (True, False):
      sel = [r for r in pts if r["meets_freq"] == meets]
      if sel: ax.scatter([r["resources"]["lut"]["used"] for r in sel], [speed(r) for r in sel], s=40, edgecolors=f"C{i}",
                         facecolors=f"C{i}" if meets else "none", label=t + ("" if meets else " (misses clock)"))
    labels = {}                                  # one label per spot: clocks that placed identically share it
    for r in pts: labels.setdefault((r["resources"]["lut"]["used"], speed(r), f"{r['config']['rows']}x{r['config']['cols']}"), []).append(f"{r['freq_mhz']:g}")
    for (x, y, size), mhz in labels.items(): ax.annotate(f" {size} @ {'/'.join(mhz)} MHz", (x, y), fontsize=6)
  ax.scatter([r["resources"]["lut"]["used"] for r in front], [speed(r) for r in front], s=12, c="k", marker="x", label="Pareto-optimal")
  works = sorted({r["workload"] or "peak" for r in ok})
  ax.set_xscale("log"); ax.set_yscale("log"); ax.set_xlabel("LUTs (LUT4)"); ax.set_ylabel(f"FLOP/s at the achieved Fmax ({', '.join(works)})")
  ax.legend(fontsize=7); ax.set_title("FPGA sweep: speed against LUTs per target")
  return os.path.join(out_dir, _save(fig, out_dir, "fpga.png"))

def sweep_plot(results: list[dict], front: list[dict], out_dir: str) -> str:
  """Pareto front of a sweep: perf/$ against perf/W, marker area proportional to die area."""
  ok = [r for r in results if r.get("ok")]
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for w in sorted({r["workload"] for r in ok}):
    pts = [r for r in ok if r["workload"] == w]
    ax.scatter([r["flops_per_watt"] for r in pts], [r["flops_per_usd"] for r in pts], s=[20 + 200 * r["area_mm2"]["total"] / max(x["area_mm2"]["total"] for x in ok) for r in pts], alpha=0.6, label=w)
  ax.scatter([r["flops_per_watt"] for r in front], [r["flops_per_usd"] for r in front], s=12, c="k", marker="x", label="Pareto-optimal")
  ax.set_xscale("log"); ax.set_yscale("log"); ax.set_xlabel("FLOP/s per W"); ax.set_ylabel("FLOP/s per $"); ax.legend(fontsize=7)
  ax.set_title(f"sweep: marker size = die area; {len(front)} Pareto-optimal points")
  return os.path.join(out_dir, _save(fig, out_dir, "pareto.png"))
