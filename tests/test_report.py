"""The HTML report: every plot is written, and the page references only files that exist."""
import json
import os
import re
import subprocess
import sys

import matplotlib
import matplotlib.legend
import matplotlib.pyplot
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

def tinyaccel(*args): return subprocess.run([sys.executable, "-m", "tinyaccel.cli", *args], capture_output=True, text=True)

def test_report_from_runs(tmp_path):
  g, n, t = tmp_path / "g.json", tmp_path / "n.json", tmp_path / "t.json"
  assert tinyaccel("run", "gemm", "--m", "64", "--k", "64", "--n", "64", "--config", "tiny", "--json", str(g), "--trace", str(t)).returncode == 0
  assert tinyaccel("run", "mlp", "--config", "edge", "--json", str(n)).returncode == 0
  out = tmp_path / "rep"
  p = tinyaccel("report", str(g), str(n), "--trace", str(t), "-o", str(out))
  assert p.returncode == 0, p.stderr
  page = (out / "index.html").read_text()
  refs = re.findall(r'src="([^"]+)"', page)
  assert set(refs) == {"roofline.png", "perf_per_dollar.png", "kernels_0.png", "kernels_1.png", "timeline.png"}
  assert all((out / r).stat().st_size > 1000 for r in refs)
  assert "H100 SXM5" in page and "MI300X" in page and "tinybox" in page            # reference chips beside the designs
  assert len(json.loads((out / "results.json").read_text())) == 2 and (out / "results.csv").read_text().count("\n") == 3
  bad = tmp_path / "bad.json"; bad.write_text("[1, 2]")
  p = tinyaccel("report", str(bad), "-o", str(out))
  assert p.returncode == 2 and "no FPGA point with a workload in it" in p.stderr
  bad.write_text('{"a": 1}')
  p = tinyaccel("report", str(bad), "-o", str(out))
  assert p.returncode == 2 and "not a `tinyaccel run --json`, `tinyaccel fpga --json` or sweep result" in p.stderr
  bad.write_text('{"a": ')
  p = tinyaccel("report", str(bad), "-o", str(out))
  assert p.returncode == 2 and p.stderr.startswith("tinyaccel: error: ") and "not JSON" in p.stderr and len(p.stderr.splitlines()) == 1

def test_fpga_rows_on_the_perf_per_dollar_plot(tmp_path):
  """An FPGA build's achieved Fmax times the model's cycles, per $ of the board the user prices (none is cited)."""
  from tinyaccel.arch.config import load_config
  from tinyaccel.flow import run_gemm
  from tinyaccel.reports.fpga import perf_per_usd
  cfg = load_config("tiny"); g = run_gemm(cfg, 64, 64, 64); rep = g.report
  fpga = dict(target="ecp5-25k", fmax_mhz=35.5, config=cfg.to_dict())
  perf = lambda usd: perf_per_usd(fpga, "gemm 64x64x64", g.run.result.stats, usd)
  priced, unpriced = dict(fpga, perf=perf(99.0)), dict(fpga, perf=perf(None))
  assert priced["perf"]["flops_per_s"] == pytest.approx(2 * 64 ** 3 / (rep["cycles"] / 35.5e6))
  assert priced["perf"]["flops_per_s_per_usd"] == pytest.approx(priced["perf"]["flops_per_s"] / 99) and unpriced["perf"]["flops_per_s_per_usd"] is None
  files = []
  for name, r in (("g.json", rep), ("f1.json", priced), ("f2.json", unpriced)):
    (tmp_path / name).write_text(json.dumps(r, default=str)); files.append(str(tmp_path / name))
  p = tinyaccel("report", *files, "-o", str(tmp_path / "rep"))
  assert p.returncode == 0, p.stderr
  page = (tmp_path / "rep" / "index.html").read_text()
  assert "FPGA ecp5-25k 4x4 @ 35.5 MHz on gemm 64x64x64 (board $99)" in page and "(no board price)" in page
  (tmp_path / "f3.json").write_text(json.dumps(fpga))
  p = tinyaccel("report", files[0], str(tmp_path / "f3.json"), "-o", str(tmp_path / "rep"))
  assert p.returncode == 2 and "needs a workload" in p.stderr

# plot properties: each test builds the figure from report dicts and reads the drawn artists back

def _kernel(i: int, op: str = "conv2d", macs: int = 1000, cycles: int = 100, shape=None) -> dict:
  return dict(name=op, kind="gemm" if macs else "vector", op=op, shape=shape or [1, i], cycles=cycles, macs=macs, utilization=0.5 if macs else 0.0,
              roofline_bound_cycles=cycles // 2, dram_bytes=400, compulsory_dram_bytes=200, stall_cycles=dict(compute=dict(wait_load=cycles // 4)), correct=True)

def _run(config: str, kernels: list[dict], name: str = "net") -> dict:
  from tinyaccel.arch.config import load_config
  return dict(workload=dict(kind="network", name=name), config=load_config(config).to_dict(), kernels=kernels, cycles=sum(k["cycles"] for k in kernels))

def test_roofline_one_legend_entry_per_config_and_vector_kernels_drawn():
  from tinyaccel.reports.report import roofline_fig
  ks = [_kernel(i) for i in range(5)] + [_kernel(9, op="add", macs=0, cycles=300)]
  runs = [_run("edge", ks, "a"), _run("edge", ks, "b"), _run("server", ks, "a")]    # two workloads on edge: still one edge entry
  fig = roofline_fig(runs)
  ax, av = fig.axes
  config_legend = [c for c in ax.get_children() if isinstance(c, matplotlib.legend.Legend) and c.get_title().get_text() == "config"][0]
  assert [t.get_text().split(" (")[0] for t in config_legend.get_texts()] == ["edge", "server"]
  assert ax.get_legend().get_title().get_text() == "workload" and [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
  sizes = [s for coll in ax.collections for s in coll.get_sizes()]                  # marker area = share of the run's time
  assert len(sizes) == 15 and max(sizes) / min(sizes) == pytest.approx(1) and sizes[0] == pytest.approx(6 + 400 * 100 / 800)
  vec = [s for coll in av.collections for s in coll.get_sizes()]                   # the add kernel, once per run, 3x the conv's time
  assert len(vec) == 3 and vec[0] == pytest.approx(6 + 400 * 300 / 800)
  matplotlib.pyplot.close(fig)

def test_kernel_chart_stays_readable_at_180_kernels():
  from tinyaccel.reports.report import TOP_KERNELS, kernel_rows, kernels_fig
  ks = [_kernel(i, cycles=100 + i) for i in range(170)] + [_kernel(0, op="add", macs=0, cycles=50) for _ in range(10)]   # 10 identical adds
  rows = kernel_rows(ks)
  assert len(rows) == TOP_KERNELS + 1 and rows[-1]["name"] == f"other {180 - 10 - (TOP_KERNELS - 1)} kernels"
  assert sum(r["cycles"] for r in rows) == sum(k["cycles"] for k in ks) and sum(r["kernels"] for r in rows) == 180
  assert (rows[0]["name"], rows[0]["kernels"], rows[0]["cycles"]) == ("add 1x0 ×10 (#170, ...)", 10, 500)      # identical kernels: one row
  assert rows[1]["name"] == "conv2d 1x169 (#169)" and [r["cycles"] for r in rows[1:4]] == [269, 268, 267]
  fig = kernels_fig(_run("edge", ks))
  assert len(fig.axes[0].patches) == TOP_KERNELS + 1 and len(fig.axes[0].get_yticklabels()) == TOP_KERNELS + 1
  matplotlib.pyplot.close(fig)

def test_kind_rows_and_timeline_title():
  from tinyaccel.reports.report import kind_rows, timeline_fig, trace_run
  ks = [_kernel(0, cycles=300), _kernel(1, cycles=100), _kernel(2, op="add", macs=0, cycles=100)]
  rows = kind_rows(ks, 1e-9)
  assert [(r["name"], r["kernels"], r["cycles"], r["share"]) for r in rows] == [("conv2d", 2, 400, 0.8), ("add", 1, 100, 0.2)] and rows[0]["ms"] == pytest.approx(4e-4)
  run, trace = _run("tiny", ks, "mlp"), [dict(queue="load", start=0, end=200), dict(queue="compute", start=10, end=500)]
  assert trace_run(trace, [_run("edge", ks[:1]), run]) is run and trace_run(trace[:1], [run]) is None
  fig = timeline_fig(trace, "mlp on tiny", 100.0)
  assert fig.axes[0].get_title().startswith("Timeline of mlp on tiny: 2 instructions") and "5 us at 100 MHz" in fig.axes[0].get_xlabel()
  matplotlib.pyplot.close(fig)

def test_tables_have_units_and_human_scale_numbers(tmp_path):
  from tinyaccel.reports.report import _fmt, _table
  assert [_fmt(x, k) for x, k in ((5.131e10, "si"), (0.7133, "frac"), (5598015, ""), (True, ""), (None, ""), (22.78, ""), (3.2e7, ""))] == \
    ["51.3 G", "71.3 %", "5,598,015", "yes", "&ndash;", "22.78", "32 M"]
  t = _table([dict(a="x", b=1.5e9)], [("a", "name", ""), ("b", "op/s per W", "si")])
  assert t == "<table><tr><th>name</th><th>op/s per W</th></tr><tr><td class=t>x</td><td>1.5 G</td></tr></table>"

def test_plots_read_in_units():
  """Roofs labeled with their peak and bandwidth, SI tick labels (no 10^12 beside 'TOP/s'), shares and utilization in %, shapes explained."""
  from tinyaccel.reports.report import kernels_fig, roofline_fig
  ks = [_kernel(i) for i in range(3)] + [_kernel(9, op="add", macs=0, cycles=300)]
  fig = roofline_fig([_run("edge", ks)])
  ax, av = fig.axes
  assert [t.get_text() for t in ax.texts] == ["edge: 1.64 TOP/s int8 peak, 51.2 GB/s DRAM"]
  assert ax.yaxis.get_major_formatter()(1e12) == "1 TOP/s" and av.xaxis.get_major_formatter()(5.12e10) == "51.2 GB/s"
  assert ax.xaxis.get_minor_formatter()(2e3) == "2,000" and ax.xaxis.get_minor_formatter()(3e3) == "" and ax.xaxis.get_minor_formatter()(0.5) == "0.5"        # minor ticks: 2 and 5 only
  matplotlib.pyplot.close(fig)
  fig = kernels_fig(_run("edge", ks))
  assert [a.xaxis.get_major_formatter()(0.25) for a in fig.axes[:3]] == ["25%"] * 3
  assert fig.texts[-1].get_text().startswith("shapes: conv N x Cout x Cin x Kh x Kw; gemm M x K x N")
  matplotlib.pyplot.close(fig)

def test_sweep_points_are_labeled_with_their_parameters():
  from tinyaccel.reports.report import _params_label
  assert _params_label(dict(rows=64, cols=64, process_nm=7)) == "64x64, 7 nm" and _params_label(dict(spad_kib=512)) == "spad_kib 512"

# scaling sweeps (issue 17): cores of a chip, chips of a system

def _core_point(cores: int, cycles: int, workload: str = "resnet50 batch 32") -> dict:
  return dict(ok=True, params=dict(cores=cores, dram_channels=cores), workload=workload, config=dict(cores=cores, dram_channels=cores), cycles=cycles, utilization=0.5)

def test_core_scaling_speedup_against_linear():
  from tinyaccel.reports.report import core_scaling_fig, core_scaling_rows, is_chip_scaling, is_core_scaling
  pts = [_core_point(4, 300), _core_point(1, 1000), _core_point(2, 520), dict(ok=False, params=dict(cores=8), workload="resnet50 batch 32", error="x")]
  assert is_core_scaling(pts) and not is_chip_scaling(pts) and not is_core_scaling(pts[:1])
  rows = core_scaling_rows(pts)
  assert [(r["cores"], r["speedup"], r["linear"]) for r in rows] == [(1, 1.0, 1.0), (2, 1000 / 520, 2.0), (4, 1000 / 300, 4.0)]
  assert rows[2]["of_linear"] == pytest.approx(1000 / 300 / 4)
  fig = core_scaling_fig(pts)
  ax = fig.axes[0]
  lin, run = ax.get_lines()
  assert list(lin.get_xdata()) == [1, 2, 4] and list(lin.get_ydata()) == [1, 2, 4] and list(run.get_ydata()) == [1.0, 1000 / 520, 1000 / 300]
  assert [t.get_text() for t in ax.texts] == ["1.00", "0.96", "0.83"] and ax.get_xlabel() == "cores (one DRAM channel each)"
  matplotlib.pyplot.close(fig)

def _chip_point(chips: int, tp: int, pp: int, compute: float, link: float, wait: float) -> dict:
  return dict(ok=True, params=dict(chips=chips), workload="llm gpt2_decoder decode batch 8 ctx 1024", system=dict(name="box"), chips=chips, tp=tp, pp=pp,
              seconds=compute + link + wait, compute_seconds=compute, link_seconds=link, wait_seconds=wait, tokens_per_s=8 / (compute + link + wait))

def test_chip_scaling_stacked_bars():
  from tinyaccel.reports.report import chip_split_fig, chip_split_rows, is_chip_scaling
  pts = [_chip_point(2, 2, 1, 2e-3, 1e-4, 2e-4), _chip_point(1, 1, 1, 4e-3, 0, 0), _chip_point(8, 4, 2, 1e-3, 1e-4, 2e-3)]
  assert is_chip_scaling(pts)
  rows = chip_split_rows(pts)
  assert [r["chips"] for r in rows] == [1, 2, 8] and rows[1]["speedup"] == pytest.approx(4e-3 / 2.3e-3) and rows[0]["series"] == "gpt2_decoder decode batch 8 ctx 1024 on box"
  fig = chip_split_fig(pts)
  ax = fig.axes[0]
  bars = [(round(p.get_x() + p.get_width() / 2), p.get_y(), p.get_height()) for p in ax.patches]      # compute, then links, then waiting, per chip count
  assert [b[2] for b in bars] == pytest.approx([4, 2, 1, 0, 0.1, 0.1, 0, 0.2, 2])
  assert [b[1] for b in bars[3:6]] == pytest.approx([4, 2, 1]) and [b[1] for b in bars[6:]] == pytest.approx([4, 2.1, 1.1])
  assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "8"] and ax.get_ylabel() == "time per step (ms)"
  assert [t.get_text() for t in ax.get_legend().get_texts()] == ["compute", "links", "waiting (latency, bubbles)"]
  assert ax.texts[2].get_text() == "3.1 ms\ntp 4 x pp 2"
  matplotlib.pyplot.close(fig)

def test_scaling_sweeps_run_and_report(tmp_path):
  """The shipped sweep files: cores with one DRAM channel each; a system over 1, 2, 4, 8 chips, run for real (about a second),
  its split adding up, and `report` drawing both sections from results.json."""
  from tinyaccel.flow.sweep import SweepError, load_sweep, points, run_sweep
  from tinyaccel.reports.report import write_report
  pts = points(load_sweep(os.path.join(ROOT, "sweeps", "scaling_cores.toml")))
  assert [p[0] for p in pts] == [dict(cores=n, dram_channels=n) for n in (1, 2, 4, 8, 16, 32)] and {p[1] for p in pts} == {"resnet50 batch 32"}
  r = run_sweep(os.path.join(ROOT, "sweeps", "scaling_chips.toml"), str(tmp_path / "chips"), jobs=1, progress=False)
  res = sorted(r["results"], key=lambda p: p["chips"])
  assert [(p["ok"], p["chips"], p["tp"] * p["pp"]) for p in res] == [(True, n, n) for n in (1, 2, 4, 8)]
  for p in res: assert p["compute_seconds"] + p["link_seconds"] + p["wait_seconds"] == pytest.approx(p["seconds"])
  assert res[0]["link_seconds"] == 0 and all(p["link_seconds"] > 0 for p in res[1:])
  bad = tmp_path / "bad.toml"
  bad.write_text('base = "edge"\n[params]\ncores = [1, 2]\n[same]\ndram_channels = "rows"\n[workloads]\ngemm = ["64x64x64"]\n')
  with pytest.raises(SweepError, match="same.dram_channels = 'rows': must name a swept parameter"): load_sweep(str(bad))
  cores = [_core_point(1, 1000, "gemm 64x64x64"), _core_point(2, 600, "gemm 64x64x64")]
  html = open(write_report([], str(tmp_path / "rep"), scaling=res + cores)).read()
  assert "<h2>Multi-core scaling</h2>" in html and "<h2>Multi-chip scaling</h2>" in html and "<h2>Summary</h2>" not in html
  assert os.path.isfile(tmp_path / "rep" / "scaling_cores.png") and os.path.isfile(tmp_path / "rep" / "scaling_chips.png")

def test_llm_tokens_per_s_against_batch_beside_the_h200():
  """Our decode runs as one line per (config, model, context); the H200's measured rows of that model and context beside it."""
  from tinyaccel.arch.config import load_config
  from tinyaccel.reports.report import llm_tokens_fig
  cfg = load_config("decode").to_dict()
  runs = [dict(workload=dict(kind="llm", phase="decode", model="llama3_8b", h200_model="llama-8b", batch=b, ctx=2048), config=cfg, tokens_per_s=30.0 * b)
          for b in (32, 1, 128, 8)]                                               # any order: drawn by batch
  fig = llm_tokens_fig(runs); ax = fig.axes[0]
  ours, h200 = ax.get_lines()
  assert list(ours.get_xdata()) == [1, 8, 32, 128] and list(ours.get_ydata()) == [30.0, 240.0, 960.0, 3840.0]
  assert list(h200.get_xdata()) == [1, 8, 32, 128] and [round(y) for y in h200.get_ydata()] == [194, 1385, 4421, 8761]   # ctx 2048 only, not the 8192 row
  assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log") and "batch" in ax.get_xlabel() and "tokens/s" in ax.get_ylabel()
  assert [t.get_text() for t in ax.get_legend().get_texts()] == ["llama3_8b ctx 2048 on decode (2x 64x256 ws), int8, model", "llama3_8b ctx 2048 on H200, bf16, measured"]
  assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "8", "32", "128"]
  matplotlib.pyplot.close(fig)

def test_report_of_llm_decode_runs(tmp_path):
  files = []
  for b in (1, 4):
    files.append(str(tmp_path / f"d{b}.json"))
    p = tinyaccel("run", "tiny_decoder", "--phase", "decode", "--batch", str(b), "--ctx", "256", "--config", "decode", "--json", files[-1])
    assert p.returncode == 0, p.stderr
  p = tinyaccel("report", *files, "-o", str(tmp_path / "rep"))
  assert p.returncode == 0, p.stderr
  page = (tmp_path / "rep" / "index.html").read_text()
  assert re.findall(r'src="([^"]+)"', page) == ["llm_tokens_per_s.png"] and (tmp_path / "rep" / "llm_tokens_per_s.png").stat().st_size > 1000
  assert "tokens/s per $ (cost)" in page and page.count("<td class=t>tiny_decoder on decode</td>") == 2
  (tmp_path / "t.json").write_text('[{"queue": "load", "start": 0, "end": 1}]')
  p = tinyaccel("report", files[0], "--trace", str(tmp_path / "t.json"), "-o", str(tmp_path / "rep"))
  assert p.returncode == 2 and "not an LLM decode run alone" in p.stderr
