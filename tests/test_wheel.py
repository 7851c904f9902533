"""A non-editable install works (issue 21): build the wheel, install it into a fresh venv that reuses this venv's
packages (a .pth line: no downloads of the dependencies), and run the CLI from another folder, where only the
installed package (its presets, cited cost data and example sweeps) can be found."""
import json
import os
import subprocess
import sys
import sysconfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

def test_wheel_installs_and_runs(tmp_path):
  b = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", ROOT, "-w", tmp_path / "wheel"], capture_output=True, text=True)
  assert b.returncode == 0, b.stderr
  assert "Warning" not in b.stderr, b.stderr                                   # no setuptools warnings (license, data packages)
  (whl,) = (tmp_path / "wheel").iterdir()
  venv = tmp_path / "venv"
  subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
  py = venv / "bin" / "python"
  site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], capture_output=True, text=True, check=True).stdout.strip()
  with open(os.path.join(site, "shared.pth"), "w") as f: f.write(sysconfig.get_path("purelib") + "\n")   # numpy, amaranth, tqdm from here
  i = subprocess.run([sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-deps", whl], capture_output=True, text=True)
  assert i.returncode == 0, i.stderr
  elsewhere = tmp_path / "elsewhere"; elsewhere.mkdir()
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  r = subprocess.run([venv / "bin" / "tinyaccel", "run", "resnet50", "--config", "edge", "--timing-only", "--json", "-"], capture_output=True, text=True, cwd=elsewhere, env=env)
  assert r.returncode == 0, r.stderr
  rep = json.loads(r.stdout)
  assert rep["cycles"] > 0 and rep["chip_cost_usd"]["total"] > 0 and rep["config"]["name"] == "edge"
  where = subprocess.run([py, "-c", "import tinyaccel; print(tinyaccel.__file__)"], capture_output=True, text=True, cwd=elsewhere, env=env).stdout
  assert where.startswith(site), where                                          # the installed copy ran, not the checkout
  s = subprocess.run([venv / "bin" / "tinyaccel", "cost", "--config", "tiny", "--sources"], capture_output=True, text=True, cwd=elsewhere, env=env)
  assert s.returncode == 0 and "ASSUMPTION" in s.stdout, s.stderr
