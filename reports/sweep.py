"""Design-space sweeps: the Cartesian product (or a random sample) of config parameters x workloads,
run in parallel on all cores (or on a dask.distributed cluster: `--scheduler tcp://HOST:8786`), each result stored as it finishes under a hash of its config and
workload, so an interrupted sweep resumes without recomputing or losing a point.

Sweep file (TOML):
    base = "edge"                          # preset or path every point starts from
    [params]                               # each a list; `array` sets rows = cols
    array = [16, 32, 64]
    spad_kib = [256, 512]
    [workloads]
    gemm = ["1024x1024x1024"]              # M x K x N
    networks = ["resnet18"]                # names from `tinyaccel list`
    [sample]                               # optional: a random subset of the product
    points = 10
    seed = 0
"""
from __future__ import annotations
import hashlib, itertools, json, os, random, tomllib
from concurrent.futures import ProcessPoolExecutor, as_completed
from tqdm import tqdm
from ..arch.config import load_config, ConfigError
from ..helpers import atomic_write

class SweepError(ValueError): pass

def load_sweep(path: str) -> dict:
  try:
    with open(path, "rb") as f: s = tomllib.load(f)
  except tomllib.TOMLDecodeError as e: raise SweepError(f"{path}: malformed TOML: {e}") from None
  for k in s:
    if k not in ("base", "params", "workloads", "sample"): raise SweepError(f"{path}: unknown key {k!r} (base, params, workloads, sample)")
  for k, v in s.get("params", {}).items():
    if not isinstance(v, list) or not v: raise SweepError(f"{path}: params.{k} must be a non-empty list")
  if not s.get("workloads"): raise SweepError(f"{path}: [workloads] needs gemm and/or networks")
  return s

def points(s: dict) -> list[tuple[dict, str]]:
  """(config overrides, workload) for every point of the sweep, in a fixed order."""
  params = s.get("params", {})
  names = list(params)
  configs = [dict(zip(names, combo)) for combo in itertools.product(*(params[n] for n in names))]
  for c in configs:
    if "array" in c: a = c.pop("array"); c["rows"] = c["cols"] = a
  works = [f"gemm {g}" for g in s["workloads"].get("gemm", [])] + list(s["workloads"].get("networks", []))
  pts = [(c, w) for c in configs for w in works]
  if "sample" in s:
    rnd = random.Random(s["sample"].get("seed", 0))
    pts = rnd.sample(pts, min(s["sample"].get("points", len(pts)), len(pts)))
  return pts

def key(base: str, over: dict, workload: str) -> str:
  return hashlib.sha256(json.dumps([base, sorted(over.items()), workload]).encode()).hexdigest()[:16]

def run_point(base: str, over: dict, workload: str) -> dict:
  """One design point, timing-only (cycles, traffic, cost, perf/$); errors are results too."""
  from ..cli import run_gemm
  from ..compiler.schedule import run_graph
  from ..reports.cost import cost_report
  from ..workloads import WORKLOADS
  rec = dict(base=base, params=over, workload=workload)
  try:
    cfg = load_config(base, **over)
    if workload.startswith("gemm "):
      m, k, n = (int(x) for x in workload.split()[1].split("x"))
      r, _, _ = run_gemm(cfg, m, k, n, functional=False)
      cycles, macs = r["cycles"], r["macs"]
      cost = {x: r[x] for x in ("area_mm2", "chip_cost_usd", "energy_pj", "avg_power_w", "flops_per_usd", "flops_per_watt", "usd_per_pflops_hour")}
    else:
      g = run_graph(WORKLOADS[workload][0](), cfg, functional=False)
      cycles, macs = sum(x["cycles"] for x in g.kernels), sum(x["macs"] for x in g.kernels)
      seconds = cycles / (cfg.clock_mhz * 1e6)
      agg = dict(macs=macs, seconds=seconds, achieved_flops_per_s=2 * macs / seconds,
                 sram_reads={b: sum(x["stats"]["sram_reads"][b] for x in g.kernels) for b in ("spad", "acc")},
                 sram_writes={b: sum(x["stats"]["sram_writes"][b] for x in g.kernels) for b in ("spad", "acc")},
                 dram_read_bytes=sum(x["dram_read_bytes"] for x in g.kernels), dram_write_bytes=sum(x["dram_write_bytes"] for x in g.kernels))
      c = cost_report(cfg, agg)
      cost = {x: c[x] for x in ("area_mm2", "chip_cost_usd", "energy_pj", "avg_power_w", "flops_per_usd", "flops_per_watt", "usd_per_pflops_hour")}
    rec |= dict(ok=True, config=cfg.to_dict(), cycles=cycles, macs=macs, utilization=macs / (cycles * cfg.macs_per_cycle),
                seconds=cycles / (cfg.clock_mhz * 1e6), **cost)
  except (ConfigError, ValueError) as e:
    rec |= dict(ok=False, error=str(e))
  return rec

def _task(args):
  base, over, workload, path = args
  return path, run_point(base, over, workload)

def _executor(jobs: int, scheduler: str | None):
  """A process pool on this machine, or a dask.distributed cluster's executor: the same futures API,
  and every result comes back here to be stored, so workers need no shared disk."""
  if not scheduler: return ProcessPoolExecutor(jobs)
  try: from distributed import Client
  except ImportError: raise SweepError("--scheduler needs dask.distributed: pip install -e .[dist]") from None
  try: client = Client(scheduler, timeout="5s")
  except OSError as e: raise SweepError(f"cannot reach the dask scheduler at {scheduler}: {e}") from None
  return client.get_executor()

def run_sweep(path: str, out_dir: str, jobs: int | None = None, progress: bool = True, scheduler: str | None = None) -> dict:
  s = load_sweep(path)
  base = s.get("base", "edge")
  load_config(base)                       # a bad base fails now, with its one-line message
  store = os.path.join(out_dir, "points"); os.makedirs(store, exist_ok=True)
  todo, cached = [], 0
  for over, w in points(s):
    p = os.path.join(store, key(base, over, w) + ".json")
    if os.path.exists(p): cached += 1
    else: todo.append((base, over, w, p))
  if todo:
    with _executor(jobs or os.cpu_count() or 1, scheduler) as ex:
      futs = [ex.submit(_task, t) for t in todo]
      for f in tqdm(as_completed(futs), total=len(futs), desc="sweep", disable=not progress):
        p, rec = f.result()
        atomic_write(p, json.dumps(rec))  # stored as soon as it is done: a kill loses nothing finished
  results = [json.load(open(os.path.join(store, key(base, over, w) + ".json"))) for over, w in points(s)]
  atomic_write(os.path.join(out_dir, "results.json"), json.dumps(results))
  return dict(points=len(results), computed=len(todo), cached=cached, failed=sum(not r["ok"] for r in results), results=results)

PERF = (("flops_per_watt", 1), ("flops_per_usd", 1))
PERF_AREA = PERF + (("area_mm2.total", -1),)          # and the smaller die

def _get(r: dict, k: str) -> float:
  for part in k.split("."): r = r[part]
  return r

def pareto(results: list[dict], objectives=PERF) -> list[dict]:
  """Per workload, the points no other point of that workload beats: at least as good on every objective
  and better on one (each objective a (key, +1 higher is better | -1 lower is better); dotted keys reach into dicts)."""
  ok = [r for r in results if r.get("ok")]
  v = [[_get(r, k) * d for k, d in objectives] for r in ok]
  beats = lambda i, j: ok[i]["workload"] == ok[j]["workload"] and all(x >= y for x, y in zip(v[i], v[j])) and v[i] != v[j]
  return [r for j, r in enumerate(ok) if not any(beats(i, j) for i in range(len(ok)))]
