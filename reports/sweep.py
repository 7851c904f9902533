"""Sweep analysis: the Pareto front of a sweep's points (flow/sweep.py runs them) on perf/$, perf/W and area, and
the objectives of FPGA sweeps."""
from __future__ import annotations

PERF = (("flops_per_watt", 1), ("flops_per_usd", 1))
PERF_AREA = PERF + (("area_mm2.total", -1),)          # and the smaller die

def _get(r: dict, k: str) -> float:
  for part in k.split("."): r = r[part]
  return r

def fpga_objectives(results: list[dict]) -> tuple[tuple, callable]:
  """FPGA points: with a board price for every point, FLOP/s per $ and FLOP/s per workload; else, per workload and
  target, FLOP/s (the workload's, or the peak without one) against LUTs."""
  ok = [r for r in results if r.get("ok")]
  speed = "flops_per_s" if all(r.get("workload") for r in ok) else "peak_flops_per_s"
  if ok and all(r.get("flops_per_s_per_usd") for r in ok): return ((speed, 1), ("flops_per_s_per_usd", 1)), lambda r: r["workload"]
  return ((speed, 1), ("resources.lut.used", -1)), lambda r: (r["workload"], r["target"])

def pareto(results: list[dict], objectives=PERF, group=lambda r: r["workload"]) -> list[dict]:
  """Per group (by default, per workload), the points no other point of the group beats: at least as good on every
  objective and better on one (each objective a (key, +1 higher is better | -1 lower is better); dotted keys reach into dicts)."""
  ok = [r for r in results if r.get("ok")]
  v = [[_get(r, k) * d for k, d in objectives] for r in ok]
  beats = lambda i, j: group(ok[i]) == group(ok[j]) and all(x >= y for x, y in zip(v[i], v[j])) and v[i] != v[j]
  return [r for j, r in enumerate(ok) if not any(beats(i, j) for i in range(len(ok)))]
