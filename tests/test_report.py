"""The HTML report: every plot is written, and the page references only files that exist."""
import json, re, subprocess, sys

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
  assert p.returncode == 2 and "not a `tinyaccel run --json` result" in p.stderr
