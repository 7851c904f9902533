"""Sweeps: the product of parameters x workloads, parallel, stored as each point finishes; a sweep
killed midway resumes without recomputing or losing a point; invalid configs are recorded results."""
import json
import os
import signal
import subprocess
import sys
import time

from tinyaccel.flow.sweep import load_sweep, points

SWEEP = '''base = "tiny"
[params]
array = [2, 4, 8]
spad_kib = [4, 8]
dram_bytes_per_cycle = [4, 64]
[workloads]
gemm = ["200x300x100", "64x64x64"]
'''

def test_points_product_and_sample(tmp_path):
  f = tmp_path / "s.toml"; f.write_text(SWEEP)
  pts = points(load_sweep(str(f)))
  assert len(pts) == 3 * 2 * 2 * 2 and pts[0] == ({"spad_kib": 4, "dram_bytes_per_cycle": 4, "rows": 2, "cols": 2}, "gemm 200x300x100", None)
  f.write_text(SWEEP + "[sample]\npoints = 5\nseed = 1\n")
  assert len(points(load_sweep(str(f)))) == 5

def test_kill_and_resume(tmp_path):
  f = tmp_path / "s.toml"; f.write_text(SWEEP); out = tmp_path / "out"
  cmd = [sys.executable, "-m", "tinyaccel.cli", "sweep", str(f), "-o", str(out), "-j", "1", "--json", "-"]
  p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
  store = out / "points"
  deadline = time.time() + 60
  while time.time() < deadline and (not store.exists() or len(list(store.glob("*.json"))) < 3): time.sleep(0.05)
  os.killpg(p.pid, signal.SIGKILL); p.wait()
  done_before = {x.name for x in store.glob("*.json")}
  assert 3 <= len(done_before) < 24                       # killed midway
  r = json.loads(subprocess.run(cmd, capture_output=True, text=True).stdout)
  assert r["points"] == 24 and r["cached"] == len(done_before) and r["computed"] == 24 - len(done_before)
  files = list(store.glob("*.json"))
  assert len(files) == 24 and all(json.loads(x.read_text())["workload"].startswith("gemm") for x in files)
  assert r["failed"] == sum(1 for x in r["results"] if not x["ok"]) > 0          # 2x2 arrays cannot take 64 B/cycle
  assert all("dram_bytes_per_cycle" in x["error"] for x in r["results"] if not x["ok"])
  ok = [x for x in r["results"] if x["ok"]]
  beats = lambda a, b: a["workload"] == b["workload"] and a["flops_per_watt"] >= b["flops_per_watt"] and a["flops_per_usd"] >= b["flops_per_usd"] and a != b
  front = r["pareto"]
  assert front and all(not any(beats(o, p) for o in ok) for p in front)              # nothing beats a front point
  assert all(any(beats(o, p) for o in ok) for p in ok if p not in front)              # everything else is beaten
  assert {p["workload"] for p in front} == {p["workload"] for p in ok}                 # a front per workload
  from tinyaccel.reports.sweep import PERF_AREA, pareto
  front3 = pareto(r["results"], PERF_AREA)
  assert all(p in front3 for p in front) and len(front3) > len(front)                   # a smaller die can be optimal too
  assert all(not any(beats(o, p) and o["area_mm2"]["total"] <= p["area_mm2"]["total"] for o in ok) for p in front3)
  again = json.loads(subprocess.run(cmd, capture_output=True, text=True).stdout)
  assert again["computed"] == 0 and again["cached"] == 24 and again["results"] == r["results"]

def test_dask_cluster_runs_the_same_points(tmp_path):
  """A sweep on a dask.distributed cluster stores the same results as the local process pool."""
  distributed = __import__("pytest").importorskip("distributed")
  from tinyaccel.flow.sweep import run_sweep
  f = tmp_path / "s.toml"; f.write_text(SWEEP.replace("array = [2, 4, 8]", "array = [4]").replace('"200x300x100", ', ""))
  local = run_sweep(str(f), str(tmp_path / "local"), jobs=1, progress=False)
  with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
    remote = run_sweep(str(f), str(tmp_path / "dask"), progress=False, scheduler=cluster.scheduler_address)
  assert remote["computed"] == local["computed"] == 4 and remote["results"] == local["results"]
  assert len(list((tmp_path / "dask" / "points").glob("*.json"))) == 4

def test_unreachable_scheduler_is_one_line(tmp_path):
  f = tmp_path / "s.toml"; f.write_text(SWEEP)
  p = subprocess.run([sys.executable, "-m", "tinyaccel.cli", "sweep", str(f), "-o", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:9"],
                     capture_output=True, text=True)
  assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "scheduler" in p.stderr, p.stderr

def test_fpga_points_are_config_x_target_x_clock(tmp_path):
  f = tmp_path / "s.toml"
  f.write_text('base = "tiny"\n[params]\narray = [2, 4]\n[fpga]\ntargets = ["ecp5-25k", "ecp5-85k"]\nfreq_mhz = [50, 100, 150]\n')
  s = load_sweep(str(f))
  assert s["fpga"] == dict(targets=["ecp5-25k", "ecp5-85k"], freq_mhz=[50, 100, 150], top="axi", imem_depth=512, seed=1, board_usd={})
  pts = points(s)
  assert len(pts) == 2 * 2 * 3 and pts[0] == ({"rows": 2, "cols": 2}, None, ("ecp5-25k", 50)) and pts[-1] == ({"rows": 4, "cols": 4}, None, ("ecp5-85k", 150))
  f.write_text(f.read_text() + '[workloads]\ngemm = ["64x64x64", "8x8x8"]\n')
  assert len(points(load_sweep(str(f)))) == 24

def test_bad_fpga_sweeps_are_one_line_errors(tmp_path):
  f = tmp_path / "s.toml"
  for body, words in (('targets = ["ecp5-99k"]', "fpga.targets: unknown target 'ecp5-99k'"), ('targets = []', "fpga.targets must be a non-empty list"),
                      ('targets = ["ecp5-25k"]\nfreq_mhz = [0]', "fpga.freq_mhz must be a non-empty list of clocks > 0 (MHz)"),
                      ('targets = ["ecp5-25k"]\ntop = "chip"', "fpga.top: 'chip' is not axi, core, array, array-unpipelined"),
                      ('targets = ["ecp5-25k"]\nboard_usd = { ecp5-85k = 10 }', "fpga.board_usd.ecp5-85k: a price > 0"),
                      ('targets = ["ecp5-25k"]\nclock = 3', "fpga.clock: unknown key")):
    f.write_text(f'base = "tiny"\n[fpga]\n{body}\n')
    p = subprocess.run([sys.executable, "-m", "tinyaccel.cli", "sweep", str(f), "-o", str(tmp_path / "o")], capture_output=True, text=True)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and words in p.stderr, (body, p.stderr)
