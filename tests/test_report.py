"""The HTML report: every plot is written, and the page references only files that exist."""
import json
import re
import subprocess
import sys

import matplotlib
import matplotlib.legend
import matplotlib.pyplot
import pytest


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
  assert len(sizes) == 15 and max(sizes) / min(sizes) == pytest.approx(1) and sizes[0] == pytest.approx(6 + 1200 * 100 / 800)
  vec = [s for coll in av.collections for s in coll.get_sizes()]                   # the add kernel, once per run, 3x the conv's time
  assert len(vec) == 3 and vec[0] == pytest.approx(6 + 1200 * 300 / 800)
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
