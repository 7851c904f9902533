"""Reference chips: spec-sheet perf/$ from the reference data and the measured H100 on the same workloads.

`peak_rows()` reads the derived peak-dense perf/$ rows (each with its source); `h100_measured(...)`
finds the measured H100 throughput and power for a workload in `data/h100_measured.csv` (fastest
variant at that batch; never a number the file lacks) and prices it at the cited H100 sale price.
"""
from __future__ import annotations

import csv
import os

from .cost import _data, _num, cite


def cite_at(category: str, item: str, when: str) -> dict:
  """The entry named `item` whose node_year is `when` (the data holds some items at several dates)."""
  for e in _data()[category]:
    if e["item"] == item and e["node_year"] == when: return e
  raise KeyError(f"no reference entry {item!r} at {when!r} in {category}")

H100_INT8 = ("reference_products", "H100 SXM5: FP8 / INT8 dense", 1)
# Like-for-like int8 rows: (name, int8 dense peak (category, item, index), manufacturing cost (category, item, index) or None,
# price (category, item, index[, node_year])); every number cited in reports/data/cost_data.json
INT8_CHIPS = (
  ("H100 SXM5", H100_INT8, ("packaging_test_and_bom", "H100 SXM5 manufacturing cost (incl. HBM)", 0), ("purchase_prices", "H100 sale price", (0, 1))),
  ("H200 SXM (GH100 compute)", H100_INT8, ("packaging_test_and_bom", "B200 manufacturing cost", 6, "notes"), ("purchase_prices", "HGX H200 per GPU", 0, "2025-01")),
  ("B200", ("reference_products", "B200 (HGX, 1000W): FP16/BF16 dense / FP8 / INT8 / FP4", 2), ("packaging_test_and_bom", "B200 manufacturing cost", 0),
   ("purchase_prices", "B200 ASP", 0)),
  ("MI300X", ("reference_products", "MI300X: FP16/BF16 matrix dense / FP8 / INT8", 2),
   ("packaging_test_and_bom", "MI300X cost breakdown: logic/HBM/packaging/test&assembly/total/sell", 4), ("purchase_prices", "MI300X street price", (0, 1))),
  ("A100 SXM 80GB", ("reference_products", "A100 SXM: BF16/FP16 dense / INT8 dense", 1), None, ("purchase_prices", "A100 SXM4 80GB single-unit list", 0)),
  ("RTX 4090", ("reference_products", "RTX 4090: FP16 tensor dense (FP32 acc / FP16 acc)", 1, "notes"), None, ("reference_products", "RTX 4090: price / TDP / BW / die", 0)),
  ("TPU v4", ("reference_products", "TPU v4: peak bf16/int8 / HBM / power", 0), None, ("purchase_prices", "TPU v4 purchase-equivalent (est.)", 0)),
  ("TPU v5e", ("reference_products", "TPU v5e: peak bf16 / int8 / HBM", 1), None, ("purchase_prices", "TPU v5e purchase-equivalent (est.)", 0)),
  ("TPU v6e", ("reference_products", "TPU v6e (Trillium): peak bf16 / int8 / HBM", 1), None, ("purchase_prices", "TPU v6e purchase-equivalent (est.)", 0)),
)

def _cited(ref) -> tuple[float, dict]:
  cat, item, i, *rest = ref
  field = rest[0] if rest and rest[0] in ("notes", "item") else "value"
  e = cite_at(cat, item, rest[0]) if rest and field == "value" else cite(cat, item)
  return _num(e[field], i), e

def int8_rows() -> list[dict]:
  """Reference chips at int8 dense peak, per $ of manufacturing cost (where cited) and per $ of price, each with its date."""
  out = []
  for name, peak_ref, cost_ref, price_ref in INT8_CHIPS:
    peak, pe = _cited(peak_ref)
    price, pr = _cited(price_ref)
    row = dict(name=name, precision="int8 dense", peak_ops_per_s=peak * 1e12, price_usd=price, price_date=pr['node_year'], price_basis=f"{pr['item']} ({pr['node_year']})",
               peak_flops_per_usd_price=peak * 1e12 / price, peak_flops_per_usd=None, cost_usd=None, cost_basis=None, source=pe["source"])
    if cost_ref:
      cost, ce = _cited(cost_ref)
      row |= dict(cost_usd=cost, cost_basis=f"{ce['item']} ({ce['node_year']})", peak_flops_per_usd=peak * 1e12 / cost)
    out.append(row)
  return out

def chip_prices(name: str) -> dict:
  """A reference chip's cited manufacturing cost and price with their bases (INT8_CHIPS), e.g. to price its measured LLM rows."""
  r = next(x for x in int8_rows() if x["name"] == name)
  return {k: r[k] for k in ("cost_usd", "cost_basis", "price_usd", "price_basis")}

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

# our workload names -> the measured CSV's (workload, seq_or_size); a BERT or GPT-2 layer runs at the whole model's rate
MEASURED_NAMES = {"resnet18": ("resnet18", "224x224"), "resnet50": ("resnet50", "224x224"), "mobilenetv2": ("mobilenet_v2", "224x224"),
                  "bert": ("bert", "128"), "bert_layer": ("bert", "128"), "gpt2": ("gpt2", "128"), "gpt2_block": ("gpt2", "128")}

def h100_cost_usd() -> tuple[float, str]:
  e = cite("packaging_test_and_bom", "H100 SXM5 manufacturing cost (incl. HBM)")
  return _num(e["value"]), f"{e['item']} ({e['node_year']})"

def _rows(workload: str) -> list[dict]:
  name, _, shape = workload.partition(" ")
  csv_name, seq = MEASURED_NAMES.get(name, (name, None))
  with open(CSV_PATH) as f: rows = list(csv.DictReader(f))
  return [r for r in rows if r["workload"] == csv_name and r["achieved_tflops"] and (not shape or r["seq_or_size"] == f"MxKxN={shape}")], seq

def _priced(best: dict, label: str) -> dict:
  price, why = h100_price_usd()
  cost, cwhy = h100_cost_usd()
  flops = float(best["achieved_tflops"]) * 1e12
  return dict(name=f"H100 measured ({best['variant']}, {best['dtype']}, batch {best['batch'] or '-'}{', seq ' + best['seq_or_size'] if best['batch'] else ''}) {label}",
              precision=best["dtype"], batch=int(best["batch"]) if best["batch"] else None, achieved_flops_per_s=flops,
              flops_per_usd=flops / cost, flops_per_usd_price=flops / price, flops_per_watt=flops / float(best["avg_power_w"]) if best["avg_power_w"] else None,
              median_ms=float(best["median_ms"]), cost=cwhy, price=why)

def h100_measured(workload: str, batch: int | None = None, dtype: str | None = None, seq: str | None = None) -> dict | None:
  """The fastest measured H100 row for a workload ('resnet50', 'mobilenetv2', 'bert', 'gemm 1024x1024x1024', ...) at this batch
  (and, for our transformer workloads, their sequence length), per $ of manufacturing cost and per $ of sale price."""
  rows, wseq = _rows(workload)
  seq = seq or wseq
  rows = [r for r in rows if (batch is None or r["batch"] in ("", str(batch))) and (dtype is None or r["dtype"] == dtype)
          and (seq is None or batch is None or r["seq_or_size"] == seq)]
  if not rows: return None
  return _priced(max(rows, key=lambda r: float(r["achieved_tflops"])), "same batch" if batch else "")

def h100_best(workload: str, dtype: str | None = None) -> dict | None:
  """The H100's best measured row for the workload at any batch (its best case: large batches amortize launch overhead)."""
  rows, _ = _rows(workload)
  rows = [r for r in rows if dtype is None or r["dtype"] == dtype]
  return _priced(max(rows, key=lambda r: float(r["achieved_tflops"])), "best batch") if rows else None
