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
from matplotlib.lines import Line2D
import matplotlib.pyplot as plt
from matplotlib.ticker import EngFormatter, FuncFormatter, PercentFormatter

from ..arch.config import AccelConfig, cycles_to_seconds
from ..arch.isa import QUEUE_NAMES
from ..helpers import atomic_write, si
from .chips import h100_best, h100_measured, int8_rows, peak_rows


def _label(r: dict) -> str:
  w, c = r["workload"], r["config"]
  name = f"gemm {w['m']}x{w['k']}x{w['n']}" if w.get("kind") == "gemm" else w.get("name", w.get("path", "?"))
  return f"{name} on {c['name']} ({c['rows']}x{c['cols']} {c['dataflow']})"

def _save(fig, out_dir: str, name: str) -> str:
  buf = io.BytesIO(); fig.savefig(buf, format="png", dpi=110, bbox_inches="tight"); plt.close(fig)
  atomic_write(os.path.join(out_dir, name), buf.getvalue())
  return name

def _fmt(v, kind: str = "") -> str:
  """A table cell at human scale: SI prefixes for rates and money ratios, thousands separators for counts, fractions as %."""
  if v is None or v == "": return "&ndash;"
  if isinstance(v, bool): return "yes" if v else "no"
  if kind == "frac": return f"{100 * v:.1f} %"
  if kind == "si" and isinstance(v, (int, float)): return si(v)
  if isinstance(v, int): return f"{v:,}"
  if isinstance(v, float): return f"{v:,.4g}" if 1e-3 <= abs(v) < 1e6 or v == 0 else si(v)
  return html.escape(str(v))

def _table(rows: list[dict], cols) -> str:
  """cols: keys, or (key, header with its unit, kind) where kind is '' (count/number), 'si' (SI prefix) or 'frac' (shown in %)."""
  cols = [c if isinstance(c, tuple) else (c, c, "") for c in cols]
  head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in cols)
  td = lambda v, kind: f"<td class=t>{_fmt(v, kind)}</td>" if isinstance(v, str) else f"<td>{_fmt(v, kind)}</td>"   # text left, numbers right
  body = "".join("<tr>" + "".join(td(r.get(k), kind) for k, _, kind in cols) + "</tr>" for r in rows)
  return f"<table><tr>{head}</tr>{body}</table>"

def _eng(*axes, unit: str = "", plain: bool = False):
  """SI prefixes (or plain numbers: 0.5, 2, 1000) on both the major and minor tick labels of log axes (no '2x10^11' beside '100 G')."""
  eng = FuncFormatter(lambda v, _: f"{v:,g}") if plain else EngFormatter(unit=unit)
  minor = FuncFormatter(lambda v, _: eng(v) if v > 0 and f"{v:e}"[0] in "25" else "")   # 2 and 5 of each decade: no crowding
  for a in axes: a.set_major_formatter(eng); a.set_minor_formatter(minor)

def _params_label(p: dict) -> str:
  """A sweep point's parameters, short: 'rows 64 cols 64 process_nm 7' -> '64x64, 7 nm'."""
  p = dict(p); out = [f"{p.pop('rows')}x{p.pop('cols')}"] if "rows" in p and "cols" in p else []
  if "process_nm" in p: p["process_nm"] = f"{p['process_nm']} nm"
  return ", ".join(out + [v if k == "process_nm" else f"{k} {v}" for k, v in p.items()])

def _config_label(c: dict) -> str: return f"{c['name']} ({c['rows']}x{c['cols']} {c['dataflow']}, {c['clock_mhz']:g} MHz)"

def roofline_fig(results):
  """Top: the roofline, one colour and one legend entry per config (its roof and its kernels), a marker shape per workload,
  marker area proportional to the kernel's share of its run's time. Bottom: kernels without MACs (vector, pooling, copies),
  which have no place on a FLOP roofline, as achieved DRAM bandwidth against the config's DRAM roof, sized the same way."""
  configs = list(dict.fromkeys(json.dumps(r["config"], sort_keys=True) for r in results))
  works = list(dict.fromkeys(_label(r).split(" on ")[0] for r in results))
  marks = "osD^vP*X"
  fig, (ax, av) = plt.subplots(2, 1, figsize=(9, 7.5), height_ratios=[3, 1.3])
  handles, nvec = [], 0
  oi = [2 * k["macs"] / max(k["dram_bytes"], 1) for r in results for k in r["kernels"] if k["macs"]] or [1.0]
  for ci, cj in enumerate(configs):
    c = AccelConfig(**json.loads(cj)); peak, bw, col = c.peak_flops_per_s, c.dram_bytes_per_s, f"C{ci % 10}"
    xs = [min(min(oi) / 4, peak / bw / 4), peak / bw, max(max(oi) * 4, peak / bw * 4)]
    ax.plot(xs, [min(peak, x * bw) for x in xs], "--", lw=1, color=col)
    ax.annotate(f"{c.name}: {si(peak, 'OP/s')} int8 peak, {si(bw, 'B/s')} DRAM", (xs[-1], peak), xytext=(-4, 3), textcoords="offset points",
                ha="right", va="bottom", fontsize=7, color=col)
    av.axvline(bw, color=col, ls="--", lw=1)
    handles.append(Line2D([], [], color=col, ls="--", marker="o", label=f"{_config_label(c.to_dict())}: roof and kernels"))
    for r in (r for r in results if json.dumps(r["config"], sort_keys=True) == cj):
      m = marks[works.index(_label(r).split(" on ")[0]) % len(marks)]
      sec = lambda k: cycles_to_seconds(k["cycles"], c.clock_mhz)
      size = lambda k: 6 + 400 * k["cycles"] / max(r["cycles"], 1)        # a whole run's one kernel: ~20 pt across, not a blot
      mac = [k for k in r["kernels"] if k["macs"] and k["cycles"]]
      if mac: ax.scatter([2 * k["macs"] / max(k["dram_bytes"], 1) for k in mac], [2 * k["macs"] / sec(k) for k in mac], s=[size(k) for k in mac], marker=m,
                         color=col, alpha=0.55, edgecolors="k", linewidths=0.3)
      vec = [k for k in r["kernels"] if not k["macs"] and k["cycles"]]; nvec += len(vec)
      if vec: av.scatter([max(k["dram_bytes"], 1) / sec(k) for k in vec], [ci] * len(vec), s=[size(k) for k in vec], marker=m, color=col, alpha=0.55,
                         edgecolors="k", linewidths=0.3)
  ax.set_xscale("log"); ax.set_yscale("log"); ax.set_xlabel("operational intensity (FLOP per DRAM byte)"); ax.set_ylabel("achieved int8 ops/s")
  _eng(ax.yaxis, unit="OP/s"); _eng(ax.xaxis, plain=True)
  leg = ax.legend(handles=handles, fontsize=7, loc="lower right", title="config", title_fontsize=7)
  if len(works) > 1:
    ax.add_artist(leg)
    ax.legend(handles=[Line2D([], [], ls="", marker=marks[i % len(marks)], color="gray", label=w) for i, w in enumerate(works)], fontsize=7, loc="upper left", title="workload", title_fontsize=7)
  ax.set_title("Roofline: one marker per kernel with MACs, marker area = share of its run's time", fontsize=10)
  av.set_xscale("log"); av.set_yticks(range(len(configs)), [json.loads(cj)["name"] for cj in configs], fontsize=7); av.set_ylim(-0.6, len(configs) - 0.4)
  _eng(av.xaxis, unit="B/s"); av.set_xlabel("achieved DRAM bandwidth; dashed: the config's DRAM roof")
  if not nvec: av.text(0.5, 0.5, "every kernel of these runs has MACs", transform=av.transAxes, ha="center", va="center", fontsize=8, color="gray")
  av.set_title("Kernels without MACs (vector, pooling, copies): same marker area rule", fontsize=9)
  fig.tight_layout()
  return fig

def roofline(results, out_dir): return _save(roofline_fig(results), out_dir, "roofline.png")

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
  seen, cuts = set(), [len(rows)]               # section boundaries: ours | measured H100 | int8 peaks | other precision
  for r in results:
    w = r["workload"]; key = f"gemm {w['m']}x{w['k']}x{w['n']}" if w.get("kind") == "gemm" else w.get("name", "")
    gemm = w.get("kind") == "gemm"
    for h in [h100_measured(key, dtype="int8")] if gemm else [h100_measured(key, batch=1), h100_best(key)]:
      if h and (h["name"], key) not in seen:
        seen.add((h["name"], key))
        rows.append(dict(name=f"{h['name']} on {key}", cost=h["flops_per_usd"], price=h["flops_per_usd_price"], flops_per_watt=h["flops_per_watt"],
                         basis=f"measured {h['precision']}; cost {h['cost']}; price {h['price']}"))
  cuts.append(len(rows))
  rows += [dict(name=f"{p['name']}: int8 dense peak (price {p['price_date']})", cost=p["peak_flops_per_usd"], price=p["peak_flops_per_usd_price"], flops_per_watt=None,
                basis=f"cost {p['cost_basis'] or 'not cited'}; price {p['price_basis']}") for p in int8_rows()]
  cuts.append(len(rows))
  rows += [dict(name=f"{p['name']}: fp16/bf16 peak (other precision)", cost=None, price=p["peak_flops_per_usd"], flops_per_watt=None, basis="spec-sheet fp16/bf16 peak / price")
           for p in peak_rows()]
  fig, ax = plt.subplots(figsize=(11, 0.3 * len(rows) + 1.6))
  ys = range(len(rows))
  ax.scatter([x["cost"] for x in rows if x["cost"]], [y for y, x in zip(ys, rows) if x["cost"]], color="#2a6", zorder=3, label="per $ of manufacturing cost (no NRE)")
  ax.scatter([x["price"] for x in rows if x["price"]], [y for y, x in zip(ys, rows) if x["price"]], facecolors="none", edgecolors="#c33", zorder=3, label="per $ of price")
  ax.set_yticks(list(ys), [x["name"][:90] for x in rows], fontsize=8); ax.invert_yaxis(); ax.grid(axis="x", which="both", lw=0.3)
  for c in dict.fromkeys(cuts):
    if 0 < c < len(rows): ax.axhline(c - 0.5, color="k", lw=0.6)
  for lo, hi, what in zip([0, *cuts], [*cuts, len(rows)], ("this report's runs", "H100 measured", "int8 dense peaks", "fp16/bf16 peaks (other precision)")):
    if hi > lo: ax.annotate(what.replace(" (", "\n("), (1.0, lo - 0.5), xycoords=("axes fraction", "data"), xytext=(4, -2), textcoords="offset points",
                            ha="left", va="top", fontsize=7, color="#555", style="italic")      # in the right margin: no dot hides under it
  ax.set_xscale("log"); _eng(ax.xaxis); ax.set_xlabel("op/s per $ (log scale; int8 unless the row says otherwise)")
  ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
  ax.set_title("Performance per dollar: every row states precision, batch and price date", pad=24, fontsize=10)
  return _save(fig, out_dir, "perf_per_dollar.png"), rows

H200_LLM = os.path.join(os.path.dirname(__file__), "data", "h200_llm_measured.json")

def is_llm_decode(r) -> bool: return isinstance(r, dict) and isinstance(r.get("workload"), dict) and r["workload"].get("kind") == "llm" and r["workload"].get("phase") == "decode"

def h200_decode_rows(h200_model: str | None, ctx: int) -> list[dict]:
  """The measured H200 decode rows (reports/data/h200_llm_measured.json, bf16) of one model and context, by batch."""
  if not h200_model: return []
  with open(H200_LLM) as f: rows = json.load(f)["rows"]
  return sorted((r for r in rows if r.get("kind") == "decode" and r.get("model") == h200_model and r.get("ctx") == ctx), key=lambda r: r["batch"])

def llm_tokens_fig(runs: list[dict]):
  """Decode tokens/s (all sequences of the batch) against batch, log-log: one solid line per (config, model, context) of
  our runs (`tinyaccel run MODEL --phase decode --json`), and dashed beside it the measured H200 rows of that model and context."""
  fig, ax = plt.subplots(figsize=(7.5, 4.8))
  groups: dict[tuple, list[dict]] = {}
  for r in runs: groups.setdefault((r["config"]["name"], r["workload"]["model"], r["workload"]["ctx"], r["workload"].get("h200_model")), []).append(r)
  batches, h200_done = set(), set()
  for i, ((cfg, model, ctx, h200), rs) in enumerate(sorted(groups.items())):
    rs = sorted(rs, key=lambda r: r["workload"]["batch"]); c = rs[0]["config"]
    ax.plot([r["workload"]["batch"] for r in rs], [r["tokens_per_s"] for r in rs], "o-", color=f"C{i}",
            label=f"{model} ctx {ctx} on {cfg} ({c['cores']}x {c['rows']}x{c['cols']} {c['dataflow']}), int8, model")
    batches |= {r["workload"]["batch"] for r in rs}
    hs = h200_decode_rows(h200, ctx)
    if hs and (h200, ctx) not in h200_done:
      h200_done.add((h200, ctx)); batches |= {h["batch"] for h in hs}
      ax.plot([h["batch"] for h in hs], [h["tokens_per_s"] for h in hs], "s--", color=f"C{i}", mfc="none", label=f"{model} ctx {ctx} on H200, bf16, measured")
  ax.set_xscale("log", base=2); ax.set_yscale("log")
  ax.set_xticks(sorted(batches), [str(b) for b in sorted(batches)]); ax.minorticks_off()
  ax.set_xlabel("batch (sequences decoded together)"); ax.set_ylabel("decode tokens/s (whole batch, log scale)")
  ax.grid(which="major", lw=0.3); ax.legend(fontsize=7, loc="upper left")
  ax.set_title("LLM decode: tokens/s against batch (one step at a fixed context)", fontsize=10)
  return fig

def llm_tokens(runs, out_dir): return _save(llm_tokens_fig(runs), out_dir, "llm_tokens_per_s.png")

LLM_COLS = [("run", "run", ""), ("batch", "batch", ""), ("ctx", "context", ""), ("tokens_per_s", "tokens/s", ""), ("ms_per_token", "ms per step", ""),
            ("cycles_vs_dram_bound", "cycles / DRAM bound", ""), ("dram_bandwidth_utilization", "DRAM BW utilization", "frac"),
            ("tokens_per_s_per_usd", "tokens/s per $ (cost)", ""), ("tokens_per_j", "tokens/J", "")]

def _llm_section(runs: list[dict], out_dir: str) -> list[str]:
  rows = [dict(run=f"{r['workload']['model']} on {r['config']['name']}", batch=r["workload"]["batch"], ctx=r["workload"]["ctx"], **{k: r[k] for k, *_ in LLM_COLS[3:]})
          for r in sorted(runs, key=lambda r: (r["config"]["name"], r["workload"]["model"], r["workload"]["batch"]))]
  return ["<h2>LLM decode: tokens/s against batch</h2>", f'<img src="{llm_tokens(runs, out_dir)}">', _table(rows, LLM_COLS),
          "<p>H200 rows: measured, bf16 weights and KV cache (reports/data/h200_llm_measured.json); ours: int8 weights and KV cache, the cycle-exact model.</p>"]

TOP_KERNELS = 20     # per-kernel charts show the N longest kernels and one bar for the rest: readable at 180 kernels

def _stalls(k: dict) -> dict: return (k.get("stall_cycles") or {}).get("compute", {})

def _group(name: str, ks: list[dict]) -> dict:
  """Several kernels as one row: their cycles, MACs, bytes and stalls summed, utilization and bound cycle-weighted."""
  cyc = sum(k["cycles"] for k in ks)
  stalls = {}
  for k in ks:
    for x, v in _stalls(k).items(): stalls[x] = stalls.get(x, 0) + v
  return dict(name=name, kernels=len(ks), cycles=cyc, macs=sum(k["macs"] for k in ks), utilization=sum(k["utilization"] * k["cycles"] for k in ks) / cyc if cyc else 0.0,
              roofline_bound_cycles=sum(k["roofline_bound_cycles"] for k in ks), dram_bytes=sum(k["dram_bytes"] for k in ks),
              compulsory_dram_bytes=sum(k["compulsory_dram_bytes"] for k in ks), stall_cycles=dict(compute=stalls))

def kernel_rows(ks: list[dict], top: int = TOP_KERNELS) -> list[dict]:
  """Identical kernels (same name, op and shape: a network's repeated blocks) as one row named with their count and first
  position, then the `top` rows with the most cycles, longest first, and one row for all the others: at most top + 1 rows,
  their cycles summing to the run's."""
  sig = {}
  for i, k in enumerate(ks): sig.setdefault((k["name"], k.get("op"), json.dumps(k.get("shape"))), []).append(i)
  groups = sorted(sig.values(), key=lambda ix: -sum(ks[i]["cycles"] for i in ix))
  name = lambda ix: f"{ks[ix[0]]['name']} {'x'.join(map(str, ks[ix[0]].get('shape') or []))}".strip() + (f" ×{len(ix)} (#{ix[0]}, ...)" if len(ix) > 1 else f" (#{ix[0]})")
  rows = [_group(name(ix), [ks[i] for i in ix]) for ix in groups[:top]]
  rest = [ks[i] for ix in groups[top:] for i in ix]
  if rest: rows.append(_group(f"other {len(rest)} kernels", rest))
  return rows

def kind_rows(ks: list[dict], seconds_per_cycle: float) -> list[dict]:
  """One row per layer kind (op: conv2d, matmul, add, pool ...), longest first: where a network's time goes."""
  total = sum(k["cycles"] for k in ks) or 1
  ops = {}
  for k in ks: ops.setdefault(k.get("op") or k.get("kind") or k["name"], []).append(k)
  rows = [dict(_group(op, g), share=sum(k["cycles"] for k in g) / total) for op, g in ops.items()]
  for r in rows: r["ms"] = r["cycles"] * seconds_per_cycle * 1e3
  return sorted(rows, key=lambda r: -r["cycles"])

def kernels_fig(r: dict, top: int = TOP_KERNELS):
  """Horizontal bars, one per row of kernel_rows: share of the run's time, utilization against the roofline bound,
  the array's stall reasons, DRAM bytes against compulsory."""
  rows = kernel_rows(r["kernels"], top)
  total = sum(x["cycles"] for x in rows) or 1
  ys = list(range(len(rows))); names = [x["name"][:56] for x in rows]
  fig, (a0, a1, a2, a3) = plt.subplots(1, 4, figsize=(13, 0.28 * len(rows) + 1.8), sharey=True)
  a0.barh(ys, [x["cycles"] / total for x in rows], color="#777"); a0.set_xlabel("share of run time"); a0.xaxis.set_major_formatter(PercentFormatter(1, decimals=0)); a0.set_xlim(0, max(x["cycles"] for x in rows) / total * 1.25)
  a1.barh(ys, [min(x["roofline_bound_cycles"] / x["cycles"], 1) if x["cycles"] else 0 for x in rows], color="#ccc", label="roofline bound / cycles")
  a1.barh(ys, [x["utilization"] for x in rows], color="#36c", height=0.4, label="array utilization"); a1.set_xlim(0, 1.05); a1.set_xlabel("array utilization; roofline bound / cycles")
  a1.xaxis.set_major_formatter(PercentFormatter(1, decimals=0))
  reasons = sorted({x for k in rows for x in _stalls(k)})
  left = [0.0] * len(rows)
  for reason in reasons:
    v = [_stalls(k).get(reason, 0) / k["cycles"] if k["cycles"] else 0 for k in rows]
    a2.barh(ys, v, left=left, label=reason); left = [b + x for b, x in zip(left, v)]
  a2.set_xlabel("array stalled (of the row's cycles)"); a2.set_xlim(0, 1.05); a2.xaxis.set_major_formatter(PercentFormatter(1, decimals=0))
  if not reasons: a2.text(0.5, 0.5, "no array stalls", transform=a2.transAxes, ha="center", va="center", fontsize=8, color="gray")
  a3.barh(ys, [x["dram_bytes"] / x["compulsory_dram_bytes"] if x["compulsory_dram_bytes"] else 0 for x in rows], color="#c63")
  a3.axvline(1, color="k", lw=0.7); a3.set_xlabel("DRAM / compulsory bytes (1: each once)")
  if max((x["dram_bytes"] / x["compulsory_dram_bytes"] for x in rows if x["compulsory_dram_bytes"]), default=0) > 10:
    a3.set_xscale("log"); a3.xaxis.set_major_formatter(EngFormatter(unit="×")); a3.set_xlabel("DRAM / compulsory bytes (log)")   # one 60x copy hides the rest
  for y, x in zip(ys, rows): a0.annotate(f" {x['cycles'] / total:.1%}", (x["cycles"] / total, y), va="center", fontsize=6)
  for a in (a1, a2, a3):
    if a.get_legend_handles_labels()[0]: a.legend(fontsize=6, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)   # above: hides no bar
  a0.set_yticks(ys, names, fontsize=7); a0.invert_yaxis()
  rest = rows[-1]["kernels"] if rows[-1]["name"].startswith("other ") else 0
  shown = f"{len(r['kernels'])} kernels, identical ones on one row" + (f", the {len(rows) - 1} longest rows and the other {rest}" if rest else "")
  fig.suptitle(f"{_label(r)}: {shown}", fontsize=10)
  fig.text(0.01, 0.005, "shapes: conv N x Cout x Cin x Kh x Kw; gemm M x K x N; bmm batch x M x K x N; vector kernels their output; ×n: n identical kernels, "
           "#i: the first one's position in the network", fontsize=7, color="#444")
  fig.tight_layout(rect=(0, 0.02, 1, 0.97))
  return fig

def kernels(results, out_dir): return [_save(kernels_fig(r), out_dir, f"kernels_{n}.png") for n, r in enumerate(results)]

def timeline_fig(trace: list[dict], title: str, clock_mhz: float | None = None):
  fig, ax = plt.subplots(figsize=(11, 2.6))
  for y, q in enumerate(QUEUE_NAMES):
    spans = [(t["start"], t["end"] - t["start"]) for t in trace if t["queue"] == q]
    ax.broken_barh(spans, (y - 0.35, 0.7), alpha=0.6, color=f"C{y}")
  end = max((t["end"] for t in trace), default=0)
  ax.set_yticks(range(len(QUEUE_NAMES)), QUEUE_NAMES); ax.invert_yaxis()
  ax.set_xlabel("cycle" + (f" (end {end:,} = {end / clock_mhz:,.4g} us at {clock_mhz:g} MHz)" if clock_mhz else f" (end {end:,})"))
  ax.set_title(f"Timeline of {title}: {len(trace):,} instructions, each bar from issue to completion (darker: instructions of one queue in flight together)", fontsize=10)
  fig.tight_layout()
  return fig

def trace_run(trace: list[dict], results: list[dict]) -> dict | None:
  """The run a trace belongs to: the one whose cycles end where the trace ends (the trace file names no run)."""
  end = max((t["end"] for t in trace), default=None)
  return next((r for r in results if r["cycles"] == end), None)

def timeline(trace: list[dict], out_dir: str, results: list[dict] = (), name: str | None = None) -> str:
  r = trace_run(trace, list(results))
  title = _label(r) if r else f"{name or 'a trace'} (no run in this report ends at its last cycle)"
  return _save(timeline_fig(trace, title, r["config"]["clock_mhz"] if r else None), out_dir, "timeline.png")

SUMMARY_COLS = [("run", "run", ""), ("ms", "time (ms)", ""), ("cycles", "cycles", ""), ("per_s", "inferences/s (batch 1)", "si"), ("utilization", "array utilization", "frac"),
                ("correct", "bit-exact", ""), ("area_mm2", "die area (mm²)", ""), ("unit_cost_usd", "unit cost (US$, no NRE)", ""),
                ("avg_power_w", "avg power (W)", ""), ("peak_power_w", "peak power (W)", ""), ("flops_per_usd", "op/s per $ of cost", "si"),
                ("flops_per_watt", "op/s per W", "si"), ("usd_per_pflops_hour", "US$ per PFLOP-hour", "")]
KERNEL_COLS = [("name", "kernel", ""), ("kind", "kind", ""), ("shape", "shape", ""), ("cycles", "cycles", ""), ("us", "time (µs)", ""), ("utilization", "array utilization", "frac"),
               ("roofline_bound_cycles", "roofline bound (cycles)", ""), ("dram_bytes", "DRAM bytes", "si"), ("compulsory_dram_bytes", "compulsory DRAM bytes", "si"),
               ("correct", "bit-exact", "")]
KIND_COLS = [("name", "layer kind", ""), ("kernels", "kernels", ""), ("cycles", "cycles", ""), ("ms", "time (ms)", ""), ("share", "share of time", "frac"),
             ("utilization", "array utilization (time-weighted)", "frac"), ("dram_bytes", "DRAM bytes", "si"), ("compulsory_dram_bytes", "compulsory DRAM bytes", "si")]
PERF_COLS = [("name", "design or chip", ""), ("cost", "op/s per $ of cost", "si"), ("price", "op/s per $ of price", "si"), ("flops_per_watt", "op/s per W", "si"), ("basis", "basis", "")]

def _kernel_section(r: dict, png: str) -> list[str]:
  spc = 1e-6 / r["config"]["clock_mhz"]
  ks = [dict(k, shape="x".join(map(str, k.get("shape") or [])), us=k["cycles"] * spc * 1e6) for k in r["kernels"]]
  return [f"<h2>Kernels: {html.escape(_label(r))}</h2>", f'<img src="{png}">', "<h3>By layer kind</h3>", _table(kind_rows(r["kernels"], spc), KIND_COLS),
          f"<details><summary>All {len(ks)} kernels, in network order</summary>", _table(ks, KERNEL_COLS), "</details>"]

# ---------------- scaling sweeps (issue 17): cores of a chip, chips of a system ----------------
def is_core_scaling(points: list[dict]) -> bool:
  """A sweep whose ok points vary `cores` (sweeps/scaling_cores.toml)."""
  return len({p["config"]["cores"] for p in points if p.get("ok") and "config" in p and "cycles" in p}) > 1

def is_chip_scaling(points: list[dict]) -> bool: return any(p.get("ok") and "compute_seconds" in p for p in points)

def core_scaling_rows(points: list[dict]) -> list[dict]:
  """Per workload, by cores: speed-up over the fewest cores swept (their cycles / these cycles) and its fraction of linear
  (cores / fewest cores); points that differ in anything but cores and dram_channels are separate series."""
  series = {}
  for p in (p for p in points if p.get("ok") and "cycles" in p):
    rest = {k: v for k, v in p["params"].items() if k not in ("cores", "dram_channels")}
    series.setdefault((p["workload"], json.dumps(rest, sort_keys=True)), []).append(p)
  rows = []
  for (w, rest), ps in series.items():
    ps = sorted(ps, key=lambda p: p["config"]["cores"]); c0, y0 = ps[0]["config"]["cores"], ps[0]["cycles"]
    label = w + ("" if rest == "{}" else f" {rest}")
    rows += [dict(series=label, cores=p["config"]["cores"], dram_channels=p["config"]["dram_channels"], cycles=p["cycles"], speedup=y0 / p["cycles"],
                  linear=p["config"]["cores"] / c0, of_linear=y0 / p["cycles"] / (p["config"]["cores"] / c0), utilization=p["utilization"]) for p in ps]
  return rows

def core_scaling_fig(points: list[dict]):
  """Speed-up against cores on log2 axes with the linear line, each point labeled with its fraction of linear."""
  rows = core_scaling_rows(points)
  fig, ax = plt.subplots(figsize=(7, 4.5))
  xs = sorted({r["cores"] for r in rows})
  ax.plot(xs, [x / xs[0] for x in xs], "--", color="gray", lw=1, label="linear")
  for i, sname in enumerate(dict.fromkeys(r["series"] for r in rows)):
    rs = [r for r in rows if r["series"] == sname]
    ax.plot([r["cores"] for r in rs], [r["speedup"] for r in rs], "o-", color=f"C{i}", label=sname)
    for r in rs: ax.annotate(f"{r['of_linear']:.2f}", (r["cores"], r["speedup"]), xytext=(4, -10), textcoords="offset points", fontsize=7, color=f"C{i}")
  ax.set_xscale("log", base=2); ax.set_yscale("log", base=2)
  for a in (ax.xaxis, ax.yaxis): a.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
  ax.set_xticks(xs); ax.set_xlabel("cores (one DRAM channel each)" if all(r["cores"] == r["dram_channels"] for r in rows) else "cores")
  ax.set_ylabel(f"speed-up over {xs[0]} core{'s' if xs[0] > 1 else ''} (cycles ratio)"); ax.grid(which="major", lw=0.3); ax.legend(fontsize=7)
  ax.set_title("Multi-core scaling: speed-up against linear (labels: fraction of linear)", fontsize=10)
  fig.tight_layout()
  return fig

def chip_split_rows(points: list[dict]) -> list[dict]:
  """Per workload and system, by chips: the step's time split into compute, links and waiting (latency and pipeline bubbles), in ms."""
  ps = sorted((p for p in points if p.get("ok") and "compute_seconds" in p), key=lambda p: (p["workload"], p["system"]["name"], p["chips"]))
  return [dict(series=f"{p['workload'].removeprefix('llm ')} on {p['system']['name']}", chips=p["chips"], tp=p["tp"], pp=p["pp"], ms=p["seconds"] * 1e3,
               compute_ms=p["compute_seconds"] * 1e3, link_ms=p["link_seconds"] * 1e3, wait_ms=p["wait_seconds"] * 1e3,
               tokens_per_s=p["tokens_per_s"], speedup=next(q["seconds"] for q in ps if q["workload"] == p["workload"] and q["system"]["name"] == p["system"]["name"]) / p["seconds"])
          for p in ps]

def chip_split_fig(points: list[dict]):
  """One stacked bar per chip count (per series): compute, links, waiting, in ms, each labeled with its tp x pp plan."""
  rows = chip_split_rows(points)
  series = list(dict.fromkeys(r["series"] for r in rows))
  fig, axes = plt.subplots(1, len(series), figsize=(max(5, 4.2 * len(series)), 4.2), squeeze=False)
  for ax, sname in zip(axes[0], series):
    rs = [r for r in rows if r["series"] == sname]; xs = range(len(rs)); bottom = [0.0] * len(rs)
    for key, label, col in (("compute_ms", "compute", "#36c"), ("link_ms", "links", "#c63"), ("wait_ms", "waiting (latency, bubbles)", "#bbb")):
      v = [r[key] for r in rs]
      ax.bar(xs, v, bottom=bottom, color=col, label=label); bottom = [b + x for b, x in zip(bottom, v)]
    for x, r in zip(xs, rs): ax.annotate(f"{r['ms']:.3g} ms\ntp {r['tp']} x pp {r['pp']}", (x, r["ms"]), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=7)
    ax.set_xticks(list(xs), [str(r["chips"]) for r in rs]); ax.set_xlabel("chips"); ax.set_ylabel("time per step (ms)")
    ax.set_ylim(0, max(r["ms"] for r in rs) * 1.2); ax.set_title(sname, fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, frameon=False)          # below the axis: hides no bar
  fig.suptitle("Multi-chip scaling: where a step's time goes", fontsize=10); fig.tight_layout()
  return fig

CORE_COLS = [("series", "workload", ""), ("cores", "cores", ""), ("dram_channels", "DRAM channels", ""), ("cycles", "cycles", ""), ("speedup", "speed-up (×)", ""),
             ("of_linear", "of linear", "frac"), ("utilization", "array utilization", "frac")]
CHIP_COLS = [("series", "workload and system", ""), ("chips", "chips", ""), ("tp", "tp", ""), ("pp", "pp", ""), ("ms", "time per step (ms)", ""),
             ("compute_ms", "compute (ms)", ""), ("link_ms", "links (ms)", ""), ("wait_ms", "waiting (ms)", ""), ("speedup", "speed-up over 1 chip (×)", ""),
             ("tokens_per_s", "tokens/s", "si")]

def scaling_sections(points: list[dict], out_dir: str) -> list[str]:
  parts = []
  if is_core_scaling(points):
    parts += ["<h2>Multi-core scaling</h2>", f'<img src="{_save(core_scaling_fig(points), out_dir, "scaling_cores.png")}">', _table(core_scaling_rows(points), CORE_COLS)]
  if is_chip_scaling(points):
    parts += ["<h2>Multi-chip scaling</h2>", f'<img src="{_save(chip_split_fig(points), out_dir, "scaling_chips.png")}">', _table(chip_split_rows(points), CHIP_COLS)]
  return parts

CSS = ("body{font-family:sans-serif;max-width:1200px;margin:auto}img{max-width:100%;height:auto}details{margin:6px 0}table{border-collapse:collapse;font-size:12px}"
       "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}td.t{text-align:left}th{text-align:center}summary{cursor:pointer}")

def write_report(results: list[dict], out_dir: str, trace: list[dict] | None = None, sweep: tuple[list, list] | None = None, fpga: list[dict] = (),
                 trace_name: str | None = None, scaling: list[dict] = (), llm: list[dict] = ()) -> str:
  """results: run reports with kernels; scaling: a scaling sweep's points (cores or chips); llm: LLM decode runs
  (`tinyaccel run MODEL --phase decode --json`), plotted against batch."""
  os.makedirs(out_dir, exist_ok=True)
  parts = ["<h1>tinyaccel report</h1>", *scaling_sections(list(scaling), out_dir)] + (_llm_section(list(llm), out_dir) if llm else [])
  summary = [dict(run=_label(r), cycles=r["cycles"], seconds=r["seconds"], utilization=r["utilization"], correct=r["correct"], area_mm2=r["area_mm2"]["total"],
                  unit_cost_usd=r.get("unit_cost_usd", r["chip_cost_usd"]["total"]), avg_power_w=r["avg_power_w"], peak_power_w=r.get("peak_power_w"), flops_per_usd=r["flops_per_usd"], flops_per_watt=r["flops_per_watt"],
                  usd_per_pflops_hour=r["usd_per_pflops_hour"]) for r in results]
  shown = [dict(x, ms=x["seconds"] * 1e3, per_s=1 / x["seconds"] if x["seconds"] else None) for x in summary]
  if results:
    parts += ["<h2>Summary</h2>", _table(shown, SUMMARY_COLS)]
    parts += ["<h2>Roofline</h2>", f'<img src="{roofline(results, out_dir)}">']
  if results or fpga:
    png, rows = perf_per_dollar(results, out_dir, fpga)
    parts += ["<h2>Performance per dollar</h2>", f'<img src="{png}">', _table(rows, PERF_COLS)]
  for r, png in zip(results, kernels(results, out_dir)): parts += _kernel_section(r, png)
  if trace: parts += ["<h2>Timeline</h2>", f'<img src="{timeline(trace, out_dir, results, trace_name)}">']
  if sweep:
    pts, front = sweep
    rows = [dict(workload=r["workload"], **r["params"], cycles=r["cycles"], area_mm2=r["area_mm2"]["total"], flops_per_usd=r["flops_per_usd"],
                 flops_per_watt=r["flops_per_watt"], pareto=r in front) for r in pts if r.get("ok")]
    parts += ["<h2>Design sweep: Pareto front</h2>", f'<img src="{os.path.basename(sweep_plot(pts, front, out_dir))}">', _table(rows, [("workload", "workload", ""), *[(k, k, "") for k in dict.fromkeys(k for x in pts for k in x.get("params", {}))],
                ("cycles", "cycles", ""), ("area_mm2", "die area (mm²)", ""), ("flops_per_usd", "op/s per $ of cost", "si"), ("flops_per_watt", "op/s per W", "si"), ("pareto", "Pareto-optimal", "")])]
  atomic_write(os.path.join(out_dir, "index.html"), f"<!doctype html><html><head><meta charset='utf-8'><title>tinyaccel report</title><style>{CSS}</style></head><body>{''.join(parts)}</body></html>\n")
  if summary:
    out = io.StringIO(); w = csv.DictWriter(out, fieldnames=list(summary[0])); w.writeheader(); w.writerows(summary)
    atomic_write(os.path.join(out_dir, "results.csv"), out.getvalue())
  atomic_write(os.path.join(out_dir, "results.json"), json.dumps(list(results) + list(scaling) + list(llm), default=str))
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
  for r in ok: ax.annotate(f" {_params_label(r.get('params', {}))}", (r["flops_per_watt"], r["flops_per_usd"]), fontsize=6, va="center")
  ax.set_xscale("log"); ax.set_yscale("log"); ax.set_xlabel("int8 ops/s per W (average power on the run)"); ax.set_ylabel("int8 ops/s per $ of manufacturing cost")
  _eng(ax.xaxis, ax.yaxis); ax.margins(x=0.12); ax.legend(fontsize=7)
  big = max(x["area_mm2"]["total"] for x in ok)
  ax.set_title(f"sweep: marker area = die area (largest {big:,.3g} mm²); {len(front)} Pareto-optimal points", fontsize=10)
  return os.path.join(out_dir, _save(fig, out_dir, "pareto.png"))
