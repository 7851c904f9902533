"""The HTML report: every plot is written, and the page references only files that exist."""
import json
import re
import subprocess
import sys

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
