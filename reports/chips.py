"""Reference chips: spec-sheet perf/$ from the reference data and the measured H100 on the same workloads.

`peak_rows()` reads the derived peak-dense perf/$ rows (each with its source); `h100_measured(...)`
finds the measured H100 throughput and power for a workload in `data/h100_measured.csv` (fastest
variant at that batch; never a number the file lacks) and prices it at the cited H100 sale price.
"""
from __future__ import annotations

import csv
import os

from .cost import _data, _num, cite

CSV_PATH = os.path.join(os.path.dirname(__file__), "data", "h100_measured.csv")
COMPARE = ("H100 SXM5 (chip, $25k-30k sale)", "H200 SXM (HGX/8, 2025-01)", "B200 (ASP est.)", "A100 SXM 80GB (2020 list)", "MI300X (street est.)",
           "RTX 4090 (FP16-acc 330.3) @ $1,599", "RTX 5090 (FP16-acc 419.2) @ $1,999", "RX 7900 XTX @ $999",
           "TPU v4 (Epoch purchase-equivalent est.)", "TPU v5e (Epoch est.)", "TPU v6e (Epoch est.)",
           "tinybox red v1 (6x7900XTX) $15k", "tinybox green v2 (4x5090, as listed 1492) $25k", "tinybox pro (8x4090) $40k")

def peak_rows(names=COMPARE) -> list[dict]:
  """Peak dense FLOP/s per $ of reference chips (spec sheet / price), as the reference data derives them."""
  rows = {e["item"]: e for e in _data()["derived_perf_per_dollar"]}
  return [dict(name=n, peak_flops_per_usd=_num(rows[n]["value"]) * 1e9, source=rows[n]["source"], kind=rows[n]["kind"]) for n in names]

def h100_price_usd() -> tuple[float, str]:
  e = cite("purchase_prices", "H100 sale price")
  return _num(e["value"], (0, 1)), f"{e['item']} ({e['value']} USD, {e['node_year']}): midpoint"

def h100_measured(workload: str, batch: int | None = None, dtype: str | None = None) -> dict | None:
  """The fastest measured H100 row for a workload ('resnet50', 'bert', 'gemm 1024x1024x1024', ...)."""
  name, _, shape = workload.partition(" ")
  with open(CSV_PATH) as f: rows = list(csv.DictReader(f))
  rows = [r for r in rows if r["workload"] == name and r["achieved_tflops"]
          and (not shape or r["seq_or_size"] == f"MxKxN={shape}") and (batch is None or r["batch"] in ("", str(batch)))
          and (dtype is None or r["dtype"] == dtype)]
  if not rows: return None
  best = max(rows, key=lambda r: float(r["achieved_tflops"]))
  price, why = h100_price_usd()
  flops = float(best["achieved_tflops"]) * 1e12
  return dict(name=f"H100 measured ({best['variant']}, {best['dtype']}, batch {best['batch'] or '-'})", achieved_flops_per_s=flops,
              flops_per_usd=flops / price, flops_per_watt=flops / float(best["avg_power_w"]) if best["avg_power_w"] else None,
              median_ms=float(best["median_ms"]), price=why)
