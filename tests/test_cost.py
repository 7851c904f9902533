"""Cost, area and energy models against hand calculations from the cited numbers, and the
calibration rows of the reference data (its derived_cost_model_examples)."""
import json
import math
import subprocess
import sys

import pytest

from tinyaccel.arch.config import load_config
from tinyaccel.reports.cost import (
  _num,
  area_mm2,
  cite,
  constants,
  cost_report,
  die_cost_usd,
  dies_per_wafer,
  energy_pj,
  nre_usd,
  rent_usd_per_hour,
  sram_pj_per_byte,
  wafer_price_usd,
  yield_nb,
  yield_poisson,
)

C = constants()

@pytest.mark.parametrize("item,area", [("H100-class 814 mm^2 on 5nm-class wafer", 814), ("TPUv1-class 331 mm^2 on 28nm", 331), ("100 mm^2 array die on 7nm", 100),
                                       ("100 mm^2 array die on 16/12nm", 100), ("400 mm^2 die on 3nm", 400)])
def test_calibration_rows(item, area):
  e = cite("derived_cost_model_examples", item)
  wafer, d0 = _num(e["node_year"]), _num(e["node_year"], 2)       # "wafer $16988, D0 0.1/cm^2": 16988, 0 (of D0), 0.1
  got = die_cost_usd(area, 0, C, wafer, d0)
  v = e["value"]
  assert got["gross_dpw"] == pytest.approx(v["gross_dpw"], abs=0.1)
  assert got["yield_nb"] == pytest.approx(v["yield_NB_alpha3"], abs=0.001) and got["yield_poisson"] == pytest.approx(v["yield_Poisson"], abs=0.001)
  assert got["die_cost_nb_usd"] == pytest.approx(v["die_cost_NB_usd"], abs=0.1) and got["die_cost_poisson_usd"] == pytest.approx(v["die_cost_Poisson_usd"], abs=0.1)

def test_formulas_by_hand():
  # 300 mm wafer, 3 mm edge -> 294 mm usable; a 10 mm die with 0.1 mm scribe -> A = 102.01 mm^2
  assert dies_per_wafer(100, C) == pytest.approx(math.pi * 147 ** 2 / 102.01 - math.pi * 294 / math.sqrt(204.02))
  assert yield_nb(200, 0.1, 3) == pytest.approx((1 + 2 * 0.1 / 3) ** -3) and yield_poisson(200, 0.1) == pytest.approx(math.exp(-0.2))
  assert C["hbm_usd_per_gb"] == 16.25 and C["electricity_usd_per_kwh"] == pytest.approx(0.08) and C["nb_alpha"] == 3 and C["pue"] == 1.58
  assert wafer_price_usd(7) == (9346, "TSMC 7nm wafer price") and nre_usd(7) == 300e6 and wafer_price_usd(22)[0] == 3000   # 22 nm: nearest cited (28)
  # SRAM energy: Horowitz 64-bit reads, 10 pJ at 8 KB, 20 pJ at 32 KB (45 nm) -> per byte, scaled by node/45
  assert sram_pj_per_byte(8, 45, C) == pytest.approx(10 / 8) and sram_pj_per_byte(32, 45, C) == pytest.approx(20 / 8)
  assert sram_pj_per_byte(16, 45, C) == pytest.approx(math.sqrt(10 * 20) / 8)            # log-log midpoint
  # array area: a PE is an 8b multiplier + 32b adder (45 nm) + 56 register bits (40 nm), scaled by (node/ref)^2
  cfg = load_config("edge")
  pe = (282 + 137) * (7 / 45) ** 2 + 56 * 5.98 * (7 / 40) ** 2
  assert area_mm2(cfg, C)["array"] == pytest.approx(1024 * pe / 1e6)
  assert area_mm2(cfg, C)["spad"] == pytest.approx(512 * 8192 * 0.027 / C["sram_array_efficiency"] / 1e6)
  stats = dict(macs=1000, sram_reads={"spad": 800, "acc": 0}, sram_writes={"spad": 0, "acc": 0}, dram_read_bytes=10, dram_write_bytes=0)
  e = energy_pj(cfg, stats, C)
  assert e["mac"] == pytest.approx(1000 * 0.3 * 7 / 45) and e["dram"] == pytest.approx(80 * 20)   # LPDDR: Horowitz 20 pJ/bit

def test_report_keys_and_overrides():
  cfg = load_config("server")
  r = cost_report(cfg, dict(macs=10 ** 9, seconds=1e-3, achieved_flops_per_s=2e12, sram_reads={"spad": 1e8, "acc": 1e8},
                            sram_writes={"spad": 1e7, "acc": 1e8}, dram_read_bytes=1e7, dram_write_bytes=1e6))
  for k in ("area_mm2", "energy_pj", "avg_power_w", "chip_cost_usd", "flops_per_usd", "peak_flops_per_usd", "flops_per_watt", "usd_per_pflops_hour"): assert k in r
  assert r["chip_cost_usd"]["memory"] == pytest.approx(32 * 1.073741824 * 16.25) and r["chip_cost_usd"]["package_test"] == 750
  assert r["flops_per_usd"] == pytest.approx(2e12 / r["chip_cost_usd"]["total"])
  cheap = cost_report(cfg, overrides={"hbm_usd_per_gb": 1.0})
  assert cheap["chip_cost_usd"]["memory"] == pytest.approx(32 * 1.073741824)
  with pytest.raises(KeyError): constants({"nope": 1})

def test_board_host_and_rent_by_hand():
  # DGX H100 (SemiAnalysis): GPU+baseboard $5,875 per GPU less the H100's $3,320 manufacturing cost; non-GPU BOM $32,010 / 8
  assert C["board_usd"] == 5875 - 3320 and C["host_usd_per_accelerator"] == pytest.approx(32010 / 8)
  assert constants({"accelerators_per_server": 4})["host_usd_per_accelerator"] == pytest.approx(32010 / 4)   # an input's override flows through
  assert constants({"board_usd": 100})["board_usd"] == 100
  r = cost_report(load_config("edge"), dict(macs=10 ** 9, seconds=1e-3, achieved_flops_per_s=2e12, sram_reads={"spad": 0, "acc": 0},
                                             sram_writes={"spad": 0, "acc": 0}, dram_read_bytes=0, dram_write_bytes=0))
  sys_usd = r["chip_cost_usd"]["total"] + 2555 + 32010 / 8
  assert r["system_cost_usd"]["total"] == pytest.approx(sys_usd) and r["flops_per_usd_system"] == pytest.approx(2e12 / sys_usd)
  # rent: $10,000 at 8 % over 3 years is 10000 * 0.08 / (1 - 1.08^-3) = $3,880.34 a year; 1 kW at PUE 1.58 and $0.08/kWh
  assert rent_usd_per_hour(10_000, 1000, C) == pytest.approx(3880.335 / 8760 + 1.58 * 0.08, rel=1e-6)
  assert rent_usd_per_hour(10_000, 0, constants({"interest_rate": 0, "rent_utilization": 0.5})) == pytest.approx(10_000 / 3 / 8760 / 0.5)
  assert r["usd_per_pflops_hour"] == pytest.approx(rent_usd_per_hour(sys_usd, r["avg_power_w"], C) / 2e-3)

def test_cli_cost_and_run_keys():
  p = subprocess.run([sys.executable, "-m", "tinyaccel.cli", "cost", "--config", "edge", "--json", "-"], capture_output=True, text=True)
  assert p.returncode == 0 and json.loads(p.stdout)["chip_cost_usd"]["nre"] == pytest.approx(300)
  p = subprocess.run([sys.executable, "-m", "tinyaccel.cli", "run", "gemm", "--m", "64", "--k", "64", "--n", "64", "--config", "tiny", "--json", "-"], capture_output=True, text=True)
  r = json.loads(p.stdout)
  assert r["energy_pj"]["total"] > 0 and r["flops_per_usd"] == pytest.approx(r["achieved_flops_per_s"] / r["chip_cost_usd"]["total"])

def test_reference_chips_and_h100_measured():
  from tinyaccel.reports.chips import h100_measured, h100_price_usd, peak_rows
  rows = {r["name"]: r for r in peak_rows()}
  assert rows["H100 SXM5 (chip, $25k-30k sale)"]["peak_flops_per_usd"] == 36.0e9 and rows["RX 7900 XTX @ $999"]["peak_flops_per_usd"] == 122.9e9
  assert h100_price_usd()[0] == 27_500
  h = h100_measured("resnet50", batch=1)
  assert h["achieved_flops_per_s"] == 2.882e12 and h["flops_per_usd"] == pytest.approx(2.882e12 / 27_500)   # the compiled bf16 row, the faster one
  assert h100_measured("gemm 1024x1024x1024", dtype="int8")["achieved_flops_per_s"] == 202.211e12
  assert h100_measured("resnet50", batch=7) is None                  # never a figure the file lacks

def test_cli_compare():
  p = subprocess.run([sys.executable, "-m", "tinyaccel.cli", "compare", "gemm", "--m", "256", "--k", "256", "--n", "256", "--configs", "tiny,edge", "--json", "-"], capture_output=True, text=True)
  assert p.returncode == 0, p.stderr
  r = json.loads(p.stdout)
  assert [d["name"].split()[0] for d in r["designs"]] == ["tiny", "edge"] and r["h100_measured"]["achieved_flops_per_s"] == 5.218e12
  assert len(r["reference_peaks"]) == 14
