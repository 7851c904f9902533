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
  assert wafer_price_usd(7) == (9346, "TSMC 7nm wafer price (2020)") and nre_usd(7) == 300e6 and nre_usd(3) == 1.5e9 and nre_usd(28) == 170e6
  # same-era (2020) prices: 28 nm log-log between 16 nm ($3,984) and 90 nm ($1,650); 12 nm is the table's 16/12 nm row; 3 nm its 2022 report
  assert wafer_price_usd(28)[0] == pytest.approx(math.exp(math.log(3984) + math.log(28 / 16) / math.log(90 / 16) * math.log(1650 / 3984)))
  assert wafer_price_usd(12)[0] == 3984 and wafer_price_usd(3)[0] == 20000
  # SRAM energy: Horowitz 64-bit reads, 10 pJ at 8 KB, 20 pJ at 32 KB (45 nm) -> per byte, scaled by node/45
  assert sram_pj_per_byte(8, 45, C) == pytest.approx(10 / 8) and sram_pj_per_byte(32, 45, C) == pytest.approx(20 / 8)
  assert sram_pj_per_byte(16, 45, C) == pytest.approx(math.sqrt(10 * 20) / 8)            # log-log midpoint
  # array area: TPU v1's int8 MAC (its matrix unit: 24% of <= 331 mm^2 for 65,536 MACs at 28 nm), scaled by NVIDIA's big-die density (GM200 28 nm, GA100 7 nm)
  cfg = load_config("edge")
  mac7 = 0.24 * 331e6 / 65536 * (8000 / 601) / (54200 / 826)
  assert area_mm2(cfg, C)["array"] == pytest.approx(1024 * mac7 / 1e6)
  # SRAM: bits x bitcell / efficiency; efficiency TPU v1's at 28 nm (28 MiB x 0.127 um^2 over 35% of 331 mm^2), N3E's at 5 nm, log-log between
  eff28, eff5 = 28 * 2 ** 23 * 0.127 / 1e6 / (0.35 * 331), 31.8 * 2 ** 20 / 1e6 * 0.021
  eff7 = math.exp(math.log(eff28) + math.log(7 / 28) / math.log(5 / 28) * math.log(eff5 / eff28))
  assert area_mm2(cfg, C)["spad"] == pytest.approx(512 * 8192 * 0.027 / eff7 / 1e6)
  stats = dict(macs=1000, sram_reads={"spad": 800, "acc": 0}, sram_writes={"spad": 0, "acc": 0}, dram_read_bytes=10, dram_write_bytes=0)
  e = energy_pj(cfg, stats, C)
  # a MAC: Horowitz 8b mult + 32b add (0.3 pJ at 45 nm) and 56 register bits (Aladdin 0.009 pJ at 40 nm), each x node/ref; LPDDR: Dally's ~4 pJ/bit
  assert e["mac"] == pytest.approx(1000 * (0.3 * 7 / 45 + 56 * 0.009 * 7 / 40)) and e["dram"] == pytest.approx(80 * 4)
  assert energy_pj(cfg.replace(memory_type="ddr4"), stats, C)["dram"] == pytest.approx(80 * 20)                       # DDR: Horowitz 20 pJ/bit

def test_area_blocks_by_hand():
  from tinyaccel.reports.cost import bitcell_um2, dram_phys, logic_density_mtr_mm2
  assert logic_density_mtr_mm2(28, C) == pytest.approx(8000 / 601) and logic_density_mtr_mm2(5, C) == pytest.approx(80e3 / 814)
  assert logic_density_mtr_mm2(3, C) == pytest.approx(1.7 * 80e3 / 814) and logic_density_mtr_mm2(65, C) == pytest.approx(1400 / 576)
  assert bitcell_um2(28, C) == 0.127 and bitcell_um2(16, C) == 0.074 and bitcell_um2(65, C) == pytest.approx(0.242 / 0.46)
  assert 0.027 < bitcell_um2(10, C) < 0.074 and bitcell_um2(12, C) < bitcell_um2(14, C) < bitcell_um2(16, C)      # interpolated, monotone
  # DRAM interfaces: LPDDR5 51.2 GB/s = 4 x16 channels at 6.4 Gb/s; HBM2E 2.05 TB/s = 5 stacks of 1024 x 3.6 Gb/s; 32 x 2.05 TB/s of HBM3 = 80 stacks
  assert dram_phys(load_config("edge"), C) == dict(kind="lpddr5 x16 channel", units=4, unit_bytes_per_s=12.8e9, mm2=4 * 16 * 0.08)
  assert dram_phys(load_config("server"), C)["units"] == 5 and dram_phys(load_config("server"), C)["mm2"] == 5 * 12
  assert dram_phys(load_config("petaflop"), C)["units"] == 80
  a = area_mm2(load_config("edge"), C)
  assert a["host_io"] == 2 and area_mm2(load_config("edge").replace(form_factor="pcie"), C)["host_io"] == 8
  assert a["total"] == pytest.approx((a["array"] + a["spad"] + a["acc"] + a["vector"] + a["dram_phy"] + a["host_io"]) / 0.98)   # control: 2% of the die (TPU v1)

def test_multi_core_chip():
  one = load_config("server")
  two = one.replace(cores=2, dram_channels=2)
  a1, a2 = area_mm2(one, C), area_mm2(two, C)
  assert a2["array"] == 2 * a1["array"] and a2["spad"] == 2 * a1["spad"] and a2["one_core"] == a1["one_core"] and a1["noc"] == 0
  assert a2["noc"] == pytest.approx(0.05 * 2 * (a1["array"] + a1["spad"] + a1["acc"] + a1["vector"])) and a2["dram_phy"] == 2 * a1["dram_phy"] - 12   # 9 stacks (4.1 TB/s), not 2 x 5
  p1, p2 = cost_report(one)["peak_power"], cost_report(two)["peak_power"]
  assert p2["mac"] == pytest.approx(2 * p1["mac"]) and p2["dram"] == pytest.approx(2 * p1["dram"]) and cost_report(two)["peak_flops_per_usd"] > 0
  assert cost_report(two)["peak_flops_per_usd"] * cost_report(two)["deployed_cost_usd"] == pytest.approx(2 * one.peak_flops_per_s)
  # petaflop: 32 server cores at 5 nm with 65.5 TB/s of HBM3 (80 stacks' worth of PHYs): beyond the 858 mm^2 reticle and an H100's 700 W;
  # with an H100-class 4.1 TB/s (5 stacks) the same compute is a plausible die: under half an H100's 814 mm^2 and under its 700 W
  pf = cost_report(load_config("petaflop"))
  assert pf["exceeds_reticle"] and pf["area_mm2"]["total"] > 858 and pf["peak_power_w"] > 700
  h = cost_report(load_config("petaflop").replace(dram_bytes_per_cycle=128))
  assert not h["exceeds_reticle"] and 250 < h["area_mm2"]["total"] < 814 / 2 and 200 < h["peak_power_w"] < 700

def test_power_model_by_hand():
  cfg = load_config("edge")
  from tinyaccel.reports.cost import peak_power_w
  p = peak_power_w(cfg, C)
  f = 800e6 * 1e-12
  mac = 1024 * f * (0.3 * 7 / 45 + 56 * 0.009 * 7 / 40)
  assert p["mac"] == pytest.approx(mac) and p["vector"] == pytest.approx(32 * f * (0.3 * 7 / 45 + 56 * 0.009 * 7 / 40) * (137 + 2 * 282) / (282 + 137))
  idle = 90 / 192                                                                                  # TPU v4: measured min / max power (Google Cloud)
  assert p["chip"] == pytest.approx((p["mac"] + p["vector"] + p["sram"]) / (1 - idle)) and p["idle"] == pytest.approx(p["chip"] * idle)
  assert p["dram"] == pytest.approx(51.2e9 * 8 * 4e-12) and p["total"] == pytest.approx(p["chip"] + p["dram"])
  # the linear energy rule against a later node's data point: Dally et al. (CACM 2020, 14 nm) 8 KB SRAM ~50 fJ/bit; Horowitz 10 pJ / 64 b x 14/45
  assert sram_pj_per_byte(8, 14, C) / 8 * 1e3 == pytest.approx(50, rel=0.05)

def test_report_keys_and_overrides():
  cfg = load_config("server")
  r = cost_report(cfg, dict(macs=10 ** 9, seconds=1e-3, achieved_flops_per_s=2e12, sram_reads={"spad": 1e8, "acc": 1e8},
                            sram_writes={"spad": 1e7, "acc": 1e8}, dram_read_bytes=1e7, dram_write_bytes=1e6))
  for k in ("area_mm2", "energy_pj", "avg_power_w", "chip_cost_usd", "flops_per_usd", "peak_flops_per_usd", "flops_per_watt", "usd_per_pflops_hour"): assert k in r
  ch = r["chip_cost_usd"]
  assert ch["memory"] == pytest.approx(32 * 1.073741824 * 16.25) and ch["package_kind"] == "2.5D CoWoS (HBM)"
  assert ch["package"] == pytest.approx(max(300, 750 * r["area_mm2"]["total"] / 814)) and ch["test_assembly"] == pytest.approx(920 * r["area_mm2"]["total"] / 814)
  assert r["unit_cost_usd"] == pytest.approx(ch["die"] + ch["package"] + ch["test_assembly"] + ch["memory"]) == r["deployed_cost_usd"]   # no NRE, chip alone
  assert r["flops_per_usd"] == pytest.approx(2e12 / r["unit_cost_usd"]) and r["flops_per_usd_price"] == pytest.approx(2e12 * (1 - 0.647) / r["unit_cost_usd"])
  assert r["nre_usd_per_unit"] == pytest.approx(300e6 / 1e6) and r["flops_per_usd_incl_nre"] == pytest.approx(2e12 / (r["unit_cost_usd"] + 300))
  assert set(r["perf_per_usd_basis"]) >= {"flops_per_usd", "flops_per_usd_price", "peak_flops_per_usd", "peak_flops_per_usd_price", "flops_per_usd_incl_nre"}
  assert "manufacturing cost" in r["perf_per_usd_basis"]["flops_per_usd"] and "gross_margin 0.647" in r["perf_per_usd_basis"]["flops_per_usd_price"]
  assert r["peak_power_w"] > r["avg_power_w"] > 0
  cheap = cost_report(cfg, overrides={"hbm_usd_per_gb": 1.0})
  assert cheap["chip_cost_usd"]["memory"] == pytest.approx(32 * 1.073741824)
  with pytest.raises(KeyError): constants({"nope": 1})

def test_form_factor_package_and_nre_by_hand():
  # DGX H100 (SemiAnalysis): GPU+baseboard $5,875 per GPU less the H100's $3,320 manufacturing cost; non-GPU BOM $32,010 / 8
  assert C["sxm_board_usd"] == 5875 - 3320 and C["host_usd_per_accelerator"] == pytest.approx(32010 / 8)
  assert constants({"accelerators_per_server": 4})["host_usd_per_accelerator"] == pytest.approx(32010 / 4)   # an input's override flows through
  assert C["card_board_fraction"] == pytest.approx(0.25) and C["tinybox_host_usd"] == 15000 - 6 * 999      # die+VRAM 80% of a card; tinybox red v1
  stats = dict(macs=10 ** 9, seconds=1e-3, achieved_flops_per_s=2e12, sram_reads={"spad": 0, "acc": 0}, sram_writes={"spad": 0, "acc": 0}, dram_read_bytes=0, dram_write_bytes=0)
  edge = load_config("edge")
  r = cost_report(edge, stats)
  ch = r["chip_cost_usd"]
  assert r["system_cost_usd"]["board"] == 0 and r["system_cost_usd"]["host"] == 0 and r["deployed_cost_usd"] == r["unit_cost_usd"]   # default: the chip alone
  assert ch["package"] == 8.12 and ch["test_assembly"] == 0 and ch["package_kind"].startswith("organic")   # a small LPDDR die: no interposer
  assert r["unit_cost_usd"] < 30 and r["nre_usd_per_unit"] == 300          # the edge chip's $300 of NRE no longer hides in its unit cost
  assert cost_report(edge.replace(nre_volume_units=10_000_000))["nre_usd_per_unit"] == 30
  sxm = cost_report(edge.replace(form_factor="sxm"), stats)
  assert sxm["deployed_cost_usd"] == pytest.approx(sxm["unit_cost_usd"] + 2555 + 32010 / 8) and sxm["unit_cost_usd"] > r["unit_cost_usd"]   # x16 host I/O on the die
  pcie = cost_report(edge.replace(form_factor="pcie"))
  assert pcie["deployed_cost_usd"] == pytest.approx(1.25 * pcie["unit_cost_usd"])
  tb = cost_report(edge.replace(form_factor="tinybox", form_factor_cards=4))
  assert tb["deployed_cost_usd"] == pytest.approx(1.25 * pcie["unit_cost_usd"] + 9006 / 4)
  r = sxm; sys_usd = sxm["deployed_cost_usd"]
  # rent: $10,000 at 8 % over 3 years is 10000 * 0.08 / (1 - 1.08^-3) = $3,880.34 a year; 1 kW at PUE 1.58 and $0.08/kWh
  assert rent_usd_per_hour(10_000, 1000, C) == pytest.approx(3880.335 / 8760 + 1.58 * 0.08, rel=1e-6)
  assert rent_usd_per_hour(10_000, 0, constants({"interest_rate": 0, "rent_utilization": 0.5})) == pytest.approx(10_000 / 3 / 8760 / 0.5)
  assert r["usd_per_pflops_hour"] == pytest.approx(rent_usd_per_hour(sys_usd, r["avg_power_w"], C) / 2e-3)

def test_cli_cost_and_run_keys():
  p = subprocess.run([sys.executable, "-m", "tinyaccel.cli", "cost", "--config", "edge", "--json", "-"], capture_output=True, text=True)
  j = json.loads(p.stdout)
  assert p.returncode == 0 and j["nre_usd_per_unit"] == pytest.approx(300) and j["nre_volume_units"] == 1_000_000 and "nre" not in j["chip_cost_usd"]
  p = subprocess.run([sys.executable, "-m", "tinyaccel.cli", "run", "gemm", "--m", "64", "--k", "64", "--n", "64", "--config", "tiny", "--json", "-"], capture_output=True, text=True)
  r = json.loads(p.stdout)
  assert r["energy_pj"]["total"] > 0 and r["flops_per_usd"] == pytest.approx(r["achieved_flops_per_s"] / r["unit_cost_usd"])
  for k in ("unit_cost_usd", "nre_usd_per_unit", "nre_volume_units", "peak_power_w", "avg_power_w"): assert k in r
  assert all(k in r["perf_per_usd_basis"] for k in r if "per_usd" in k and k != "perf_per_usd_basis")

def test_reference_chips_and_h100_measured():
  from tinyaccel.reports.chips import h100_best, h100_measured, h100_price_usd, int8_rows, peak_rows
  rows = {r["name"]: r for r in peak_rows()}
  assert rows["H100 SXM5 (chip, $25k-30k sale)"]["peak_flops_per_usd"] == 36.0e9 and rows["RX 7900 XTX @ $999"]["peak_flops_per_usd"] == 122.9e9
  assert h100_price_usd()[0] == 27_500
  i8 = {r["name"]: r for r in int8_rows()}
  h = i8["H100 SXM5"]
  assert h["peak_ops_per_s"] == 1978.9e12 and h["cost_usd"] == 3320 and h["price_usd"] == 27_500 and h["price_date"] == "2023-08"
  assert i8["H200 SXM (GH100 compute)"]["cost_usd"] == 4800 and i8["H200 SXM (GH100 compute)"]["price_usd"] == 39083.38
  assert i8["MI300X"]["peak_ops_per_s"] == 2614.9e12 and i8["MI300X"]["cost_usd"] == 5300 and i8["RTX 4090"]["peak_ops_per_s"] == 660.6e12
  assert i8["TPU v5e"]["peak_ops_per_s"] == 393e12 and i8["B200"]["peak_ops_per_s"] == 4500e12 and i8["A100 SXM 80GB"]["cost_usd"] is None
  h = h100_measured("resnet50", batch=1)
  assert h["achieved_flops_per_s"] == 2.882e12 and h["flops_per_usd_price"] == pytest.approx(2.882e12 / 27_500) and h["flops_per_usd"] == pytest.approx(2.882e12 / 3320)
  assert h100_best("resnet50")["achieved_flops_per_s"] == 171.381e12 and h100_best("resnet50")["batch"] == 256
  assert h100_measured("mobilenetv2", batch=1)["achieved_flops_per_s"] == 0.341e12      # the CSV spells it mobilenet_v2
  assert h100_measured("bert_layer", batch=1)["achieved_flops_per_s"] == 4.515e12       # BERT-base at seq 128, batch 1 (eager is the faster there)
  assert h100_measured("gemm 1024x1024x1024", dtype="int8")["achieved_flops_per_s"] == 202.211e12
  assert h100_measured("resnet50", batch=7) is None                  # never a figure the file lacks

def test_cli_compare():
  p = subprocess.run([sys.executable, "-m", "tinyaccel.cli", "compare", "gemm", "--m", "256", "--k", "256", "--n", "256", "--configs", "tiny,edge", "--json", "-"], capture_output=True, text=True)
  assert p.returncode == 0, p.stderr
  r = json.loads(p.stdout)
  assert [d["name"].split()[0] for d in r["designs"]] == ["tiny", "edge"] and [h["achieved_flops_per_s"] for h in r["h100_measured"]] == [5.154e12]   # the int8 row
  assert r["h100_measured"][0]["precision"] == "int8" and len(r["reference_int8"]) == 9
  d = r["designs"][1]
  assert d["flops_per_usd"] == pytest.approx(d["achieved_flops_per_s"] / d["unit_cost_usd"]) and "manufacturing cost" in d["perf_per_usd_basis"]["flops_per_usd"]

def test_default_margin_is_cited_and_bad_fields_are_one_line():
  from tinyaccel.arch.config import AccelConfig, ConfigError
  assert AccelConfig().gross_margin == pytest.approx(1 - C["mi300x_manufacturing_usd"] / C["mi300x_street_usd"], abs=5e-4)   # 1 - 5300 / 15000
  for bad in (dict(form_factor="dimm"), dict(form_factor="pcie", form_factor_cards=2), dict(gross_margin=1.0), dict(nre_volume_units=0)):
    with pytest.raises(ConfigError): load_config("edge").replace(**bad)
