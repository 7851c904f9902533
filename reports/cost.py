"""Area, energy, chip cost and perf/$ of an AccelConfig and a run, from cited public data.

Every constant is read from `reports/data/cost_data.json` (a copy of the project's reference data,
sources intact) by its item name, and can be overridden by name (`overrides={"d0_per_cm2": 0.2}`).
Where the data has a gap, the constant is an explicit, named assumption (`ASSUMPTIONS`), reported
with every result. Formulas and sources: docs/cost-model.md.
"""
from __future__ import annotations

from functools import lru_cache
import json
import math
import os
import re

from ..arch.config import AccelConfig

DATA_PATH = os.path.join(os.path.dirname(__file__), "data", "cost_data.json")

@lru_cache(maxsize=1)
def _data() -> dict:
  with open(DATA_PATH) as f: return json.load(f)["data"]

def cite(category: str, item: str) -> dict:
  """The reference entry named `item` (exact), with its value, unit, source and url."""
  for e in _data()[category]:
    if e["item"] == item: return e
  raise KeyError(f"no reference entry {item!r} in {category}")

def _num(v, i=0) -> float:
  """The i-th number in a reference value ('10 / 20 / 100' -> 10, 20, 100; '15-17.5' -> 15, 17.5);
  a tuple of indices gives their mean (the middle of a cited range)."""
  if isinstance(i, tuple): return sum(_num(v, j) for j in i) / len(i)
  if isinstance(v, (int, float)): return float(v)
  nums = re.findall(r"(?<![\d.])-?\d+(?:,\d{3})*(?:\.\d+)?|(?<=\d-)\d+(?:\.\d+)?", str(v))   # a '-' after a digit is a range, not a sign
  return float(nums[i].replace(",", ""))

# (category, item, index of the number in the value[, field]): every cited constant of the models
CITED = {
  "int8_mul_pj_45nm": ("energy_area_per_op", "8b int mult energy", 0),
  "int32_add_pj_45nm": ("energy_area_per_op", "32b int add energy", 0),
  "int8_mul_um2_45nm": ("energy_area_per_op", "8b int mult area", 0),
  "int32_add_um2_45nm": ("energy_area_per_op", "32b int add area", 0),
  "reg_bit_um2_40nm": ("energy_area_per_op", "register bit", 1),
  "sram_8kb_pj_per_64b_45nm": ("energy_area_per_op", "64b SRAM read 8KB / 32KB / 1MB", 0),
  "sram_32kb_pj_per_64b_45nm": ("energy_area_per_op", "64b SRAM read 8KB / 32KB / 1MB", 1),
  "sram_1mb_pj_per_64b_45nm": ("energy_area_per_op", "64b SRAM read 8KB / 32KB / 1MB", 2),
  "dram_pj_per_bit_ddr": ("memory_bandwidth_energy", "DRAM access energy (Horowitz)", 0),
  "dram_pj_per_bit_gddr6": ("memory_bandwidth_energy", "GDDR6 per-device BW / pin rate / energy", 4),
  "dram_pj_per_bit_hbm2e": ("memory_bandwidth_energy", "HBM2E per-stack BW / pin rate / energy", 4),
  "sram_bitcell_um2_n7": ("sram_density", "TSMC N7 SRAM bitcell", 0),
  "sram_bitcell_um2_n5": ("sram_density", "TSMC HD SRAM bitcell N5 / N3E", 0),
  "sram_bitcell_um2_n3": ("sram_density", "TSMC HD SRAM bitcell N3B", 0),
  "sram_macro_mib_per_mm2_n3e": ("sram_density", "TSMC SRAM macro density N3E / N3B", 0),
  "d0_per_cm2_n7": ("defect_density", "TSMC N7 D0", 0),
  "d0_per_cm2_n5": ("defect_density", "TSMC N5 D0", 0),
  "package_test_usd_large": ("packaging_test_and_bom", "CSET packaging+test cost per chip", 0),
  "package_usd_fcbga": ("packaging_test_and_bom", "Flip-chip BGA package example", 0),
  "package_usd_cowos": ("recommended_model_defaults", "2.5D CoWoS package (ex-HBM)", 2),
  "hbm_usd_per_gb": ("recommended_model_defaults", "HBM", (0, 1)),
  "gddr6_usd_per_gb": ("recommended_model_defaults", "GDDR6/GDDR7", 0),
  "ddr5_usd_per_gb": ("recommended_model_defaults", "DDR5", 2),                  # the Dec 2025 spot price
  "electricity_usd_per_kwh": ("recommended_model_defaults", "electricity / PUE", (0, 1)),
  "pue": ("opex_power", "Average data-center PUE", 0),
  "nb_alpha": ("recommended_model_defaults", "NB clustering alpha", 1),
  "h100_manufacturing_usd": ("packaging_test_and_bom", "H100 SXM5 manufacturing cost (incl. HBM)", 0),
  "dgx_host_bom_usd": ("packaging_test_and_bom", "DGX H100 sale price / implied build cost", 0, "notes"),        # non-GPU BOM of the 8-GPU server
  "dgx_gpu_with_baseboard_usd": ("packaging_test_and_bom", "DGX H100 sale price / implied build cost", 1, "notes"),
  "edge_exclusion_mm": ("recommended_model_defaults", "edge exclusion / scribe", 0),
  "cowos_usd_min": ("packaging_test_and_bom", "CoWoS packaging cost range", 0),                 # the low end of $300-2,000
  "h100_die_mm2": ("reference_products", "H100 SXM5: HBM3 / BW / TDP / die", 3),               # 814 mm^2: the die the $750 CoWoS figure packages
  "h100_test_assembly_usd": ("packaging_test_and_bom", "H100 SXM5 cost breakdown: logic/HBM/packaging/test&assembly/total/sell", 3),
  "cset_die_mm2": ("packaging_test_and_bom", "CSET 5nm reference chip (610 mm2, P100-size): fab cost per chip", 1, "item"),
  "card_die_vram_share": ("packaging_test_and_bom", "Graphics card: GPU die + VRAM share of card manufacturing cost", 0),
  "tinybox_red_usd": ("tinybox_tinycorp", "tinybox red v1: 6x 7900XTX, 738 FP16(FP32acc) TFLOPS, 144 GB, 5.76 TB/s, 2x1600W", 0),
  "rx7900xtx_usd": ("reference_products", "RX 7900 XTX: price / TBP / memory", 0),
  "mi300x_manufacturing_usd": ("packaging_test_and_bom", "MI300X cost breakdown: logic/HBM/packaging/test&assembly/total/sell", 4),
  "mi300x_street_usd": ("purchase_prices", "MI300X street price", 1),
  "scribe_mm": ("recommended_model_defaults", "edge exclusion / scribe", 1),
}
# Same-era wafer prices: the April 2020 TSMC table for every node it lists; nodes between them are log-log interpolated
# (assumption `wafer_price_interpolation`); 3 nm did not exist in 2020, so its 2022 report stands in (named in the result)
WAFER_2020 = {5: "TSMC 5nm wafer price", 7: "TSMC 7nm wafer price", 10: "TSMC 10nm wafer price", 12: "TSMC 16/12nm wafer price", 16: "TSMC 16/12nm wafer price", 90: "TSMC 90nm wafer price"}
WAFER_3NM = "TSMC 3nm wafer price"
NRE_ITEM = ("nre_design_masks", "Chip design cost (IBS)")   # 10nm >170M; 7nm ~300M; 5nm 542.2M; 3nm GPU-class ~1.5B
# Gaps in the reference data, filled by named assumptions (override any of them by name)
ASSUMPTIONS = {
  "wafer_mm": (300.0, "300 mm wafers"),
  "d0_per_cm2_mature": (0.1, "D0 for nodes without a reported value: the middle of the 'mature leading edge 0.09-0.11' default"),
  "logic_scaling_exponent": (2.0, "logic area scales as (node/45nm)^2 and energy as (node/45nm)^1 from the 45 nm Horowitz figures"),
  "sram_array_efficiency": (None, "bitcell area / macro area, derived from the N3E bitcell and macro density"),
  "vector_lane_ops": (2.0, "a vector lane = one 32-bit adder and one 32-bit multiplier-equivalent of 8-bit multipliers (x2)"),
  "dma_engine_mm2_45nm": (0.5, "DMA engine and instruction queues: 0.5 mm^2 at 45 nm (no cited figure)"),
  "static_power_fraction": (0.1, "static power = 10% of the power at full activity (no cited figure)"),
  "wafer_price_interpolation": (None, "nodes without a 2020 price: log-log interpolation between the nearest cited nodes of the 2020 table"),
  "package_area_scaling": (None, "package+test cost scales with die area: organic flip-chip from CSET's $80 at 610 mm^2 (floor: the $8.12 FCBGA example); "
                                 "CoWoS (HBM only) from the H100's $750 at 814 mm^2 (floor: the cited $300 low end); HBM test & assembly from the H100's $920"),
  "nre_older_nodes": (None, "nodes older than 10 nm use IBS' 10 nm design cost (an upper bound: the data has no older-node figure)"),
  "tinybox_cards": (6.0, "cards of the tinybox red v1 whose host cost (price less 6 x the RX 7900 XTX's $999) a tinybox-like system shares"),
  "lifetime_years": (3.0, "years of service for rent"),
  "interest_rate": (0.08, "yearly cost of capital the purchase is financed at, for rent (no cited figure)"),
  "rent_utilization": (1.0, "fraction of the lifetime's hours that are rented out and paid for"),
  "accelerators_per_server": (8.0, "accelerators sharing one host: the DGX H100 the board and host figures come from"),
  "sxm_board_usd": (None, "SXM board per accelerator (baseboard, power delivery, interconnect): the DGX H100 GPU+baseboard figure less the H100 manufacturing cost"),
  "host_usd_per_accelerator": (None, "SXM host share per accelerator: the DGX H100 non-GPU BOM / accelerators_per_server"),
  "card_board_fraction": (None, "M.2/PCIe card board (PCB, power, cooling, assembly) as a fraction of die+memory+package: 1/share - 1 with the cited GPU-vendor share"),
  "tinybox_host_usd": (None, "tinybox host (chassis, CPU, PSUs, board): tinybox red v1 price less its 6 cards at $999"),
  "lpddr_usd_per_gb": (None, "LPDDR and DDR4 $/GB: the DDR5 spot price"),
  "lpddr_pj_per_bit": (None, "DDR/LPDDR energy per bit: Horowitz' 45 nm DRAM access figure"),
}

DERIVED = {   # constants computed from others; an override of the constant itself wins, an override of an input flows through
  "sram_array_efficiency": lambda c: c["sram_macro_mib_per_mm2_n3e"] * 2 ** 20 / 1e6 * c["sram_bitcell_um2_n5"],   # Mib/mm^2 * um^2/bit
  "lpddr_usd_per_gb": lambda c: c["ddr5_usd_per_gb"],
  "lpddr_pj_per_bit": lambda c: c["dram_pj_per_bit_ddr"],
  "sxm_board_usd": lambda c: c["dgx_gpu_with_baseboard_usd"] - c["h100_manufacturing_usd"],
  "card_board_fraction": lambda c: 1 / (c["card_die_vram_share"] / 100) - 1,
  "tinybox_host_usd": lambda c: c["tinybox_red_usd"] - c["tinybox_cards"] * c["rx7900xtx_usd"],
  "host_usd_per_accelerator": lambda c: c["dgx_host_bom_usd"] / c["accelerators_per_server"],
}

def constants(overrides: dict | None = None) -> dict:
  """Every constant by name: cited values, then assumptions, then the user's overrides."""
  c = {k: _num(cite(cat, item)[field[0] if field else "value"], i) for k, (cat, item, i, *field) in CITED.items()}
  c |= {k: v for k, (v, _) in ASSUMPTIONS.items() if v is not None}
  overrides = overrides or {}
  for k, v in overrides.items():
    if k not in c and k not in DERIVED: raise KeyError(f"unknown cost constant {k!r}")
    c[k] = float(v)
  for k, f in DERIVED.items(): c.setdefault(k, f(c))
  return c

def wafer_price_usd(node_nm: int) -> tuple[float, str]:
  """Same-era (2020) wafer price: cited for 5/7/10/16/90 nm, log-log interpolated between them, 3 nm from its 2022 report."""
  if node_nm <= 3: e = cite("wafer_price_usd_per_300mm_wafer", WAFER_3NM); return _num(e["value"]), f"{e['item']} ({e['node_year']}: no 2020 price exists)"
  price = lambda n: _num(cite("wafer_price_usd_per_300mm_wafer", WAFER_2020[n])["value"])
  if node_nm in WAFER_2020: return price(node_nm), WAFER_2020[node_nm] + " (2020)"
  nodes = sorted(WAFER_2020)
  lo, hi = max(n for n in nodes if n < node_nm), min((n for n in nodes if n > node_nm), default=None)
  if hi is None: return price(lo), f"{WAFER_2020[lo]} (2020; nearest cited node to {node_nm} nm)"
  t = math.log(node_nm / lo) / math.log(hi / lo)
  return math.exp(math.log(price(lo)) + t * (math.log(price(hi)) - math.log(price(lo)))), f"2020 TSMC table, log-log between {lo} and {hi} nm"

# ---------------- silicon cost ----------------
def dies_per_wafer(area_mm2: float, c: dict) -> float:
  """Gross dies: pi*(d/2)^2/A - pi*d/sqrt(2A), d = wafer diameter less the edge exclusion, A with scribe."""
  d = c["wafer_mm"] - 2 * c["edge_exclusion_mm"]
  a = (math.sqrt(area_mm2) + c["scribe_mm"]) ** 2
  return math.pi * (d / 2) ** 2 / a - math.pi * d / math.sqrt(2 * a)

def yield_nb(area_mm2: float, d0: float, alpha: float) -> float: return (1 + area_mm2 / 100 * d0 / alpha) ** -alpha
def yield_poisson(area_mm2: float, d0: float) -> float: return math.exp(-area_mm2 / 100 * d0)

def d0_for(node_nm: int, c: dict) -> float:
  return {7: c["d0_per_cm2_n7"], 5: c["d0_per_cm2_n5"]}.get(node_nm, c["d0_per_cm2_mature"])

def die_cost_usd(area_mm2: float, node_nm: int, c: dict, wafer_usd: float | None = None, d0: float | None = None) -> dict:
  wafer = wafer_usd if wafer_usd is not None else wafer_price_usd(node_nm)[0]
  d0 = d0 if d0 is not None else d0_for(node_nm, c)
  dpw = dies_per_wafer(area_mm2, c)
  y_nb, y_p = yield_nb(area_mm2, d0, c["nb_alpha"]), yield_poisson(area_mm2, d0)
  return dict(gross_dpw=dpw, yield_nb=y_nb, yield_poisson=y_p, die_cost_nb_usd=wafer / (dpw * y_nb), die_cost_poisson_usd=wafer / (dpw * y_p))

# ---------------- area and energy of the accelerator ----------------
def _logic_scale(node_nm: int, c: dict, ref_nm: float = 45.0) -> float: return (node_nm / ref_nm) ** c["logic_scaling_exponent"]
def _energy_scale(node_nm: int, ref_nm: float = 45.0) -> float: return node_nm / ref_nm

def bitcell_um2(node_nm: int, c: dict) -> float:
  if node_nm <= 3: return c["sram_bitcell_um2_n3"]
  if node_nm <= 5: return c["sram_bitcell_um2_n5"]
  return c["sram_bitcell_um2_n7"] * (node_nm / 7) ** 2       # older nodes: N7 bitcell scaled (assumption: logic_scaling_exponent = 2)

def area_mm2(cfg: AccelConfig, c: dict) -> dict:
  """Die area by component: MAC array, scratchpad, accumulator, vector unit, DMA/control."""
  reg_bits = 8 + 16 + 32                                       # input, double-buffered weight, partial sum per PE
  pe_um2 = (c["int8_mul_um2_45nm"] + c["int32_add_um2_45nm"]) * _logic_scale(cfg.process_nm, c) + reg_bits * c["reg_bit_um2_40nm"] * _logic_scale(cfg.process_nm, c, 40)
  sram = lambda kib: kib * 8192 * bitcell_um2(cfg.process_nm, c) / c["sram_array_efficiency"] / 1e6
  lane_um2 = (c["int32_add_um2_45nm"] + c["vector_lane_ops"] * c["int8_mul_um2_45nm"]) * _logic_scale(cfg.process_nm, c)
  out = dict(array=cfg.rows * cfg.cols * pe_um2 / 1e6, spad=sram(cfg.spad_kib), acc=sram(cfg.acc_kib),
             vector=cfg.vector_lanes * lane_um2 / 1e6, dma_control=c["dma_engine_mm2_45nm"] * _logic_scale(cfg.process_nm, c))
  out["total"] = sum(out.values())
  return out

def sram_pj_per_byte(kib_per_bank: float, node_nm: int, c: dict) -> float:
  """Read energy per byte for a bank of this size: log-log interpolation of Horowitz' 8 KB / 32 KB / 1 MB points."""
  pts = [(8, c["sram_8kb_pj_per_64b_45nm"]), (32, c["sram_32kb_pj_per_64b_45nm"]), (1024, c["sram_1mb_pj_per_64b_45nm"])]
  x = min(max(kib_per_bank, 8), 1024)
  for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
    if x <= x1:
      y = math.exp(math.log(y0) + (math.log(y1) - math.log(y0)) * (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0)))
      return y / 8 * _energy_scale(node_nm)
  return pts[-1][1] / 8 * _energy_scale(node_nm)

def dram_pj_per_bit(memory_type: str, c: dict) -> float:
  if memory_type.startswith("hbm"): return c["dram_pj_per_bit_hbm2e"]
  if memory_type.startswith("gddr"): return c["dram_pj_per_bit_gddr6"]
  return c["lpddr_pj_per_bit"]

def energy_pj(cfg: AccelConfig, stats: dict, c: dict) -> dict:
  """Dynamic energy of a run by component, from its MACs and traffic (docs/model.md keys)."""
  mac_pj = (c["int8_mul_pj_45nm"] + c["int32_add_pj_45nm"]) * _energy_scale(cfg.process_nm)
  spad = sram_pj_per_byte(cfg.spad_kib / cfg.spad_banks, cfg.process_nm, c)
  acc = sram_pj_per_byte(cfg.acc_kib / cfg.acc_banks, cfg.process_nm, c)
  out = dict(mac=stats["macs"] * mac_pj,
             spad=(stats["sram_reads"]["spad"] + stats["sram_writes"]["spad"]) * spad,
             acc=(stats["sram_reads"]["acc"] + stats["sram_writes"]["acc"]) * acc,
             dram=(stats["dram_read_bytes"] + stats["dram_write_bytes"]) * 8 * dram_pj_per_bit(cfg.memory_type, c))
  out["total"] = sum(out.values())
  return out

# ---------------- chip, rent, perf per dollar ----------------
def memory_usd(cfg: AccelConfig, c: dict) -> float:
  t = cfg.memory_type
  per_gb = c["hbm_usd_per_gb"] if t.startswith("hbm") else c["gddr6_usd_per_gb"] if t.startswith("gddr") else c["lpddr_usd_per_gb"]
  return cfg.memory_gib * 1.073741824 * per_gb

def nre_usd(node_nm: int) -> float:
  """Design cost by node (IBS): the nearest of 10 / 7 / 5 / 3 nm; older nodes the 10 nm figure (assumption `nre_older_nodes`)."""
  v = cite(*NRE_ITEM)["value"]
  table = {10: _num(v, 1), 7: _num(v, 3), 5: _num(v, 5), 3: _num(v, 7) * 1000}             # millions of USD ('~1.5B' -> 1500)
  return table[min(table, key=lambda n: abs(n - node_nm))] * 1e6

def package_usd(area: float, hbm: bool, c: dict) -> dict:
  """Package by die size and memory: a CoWoS interposer only where HBM needs one, sized to the die; organic flip-chip otherwise
  (CSET's figure includes test); HBM parts add test & assembly (assumption `package_area_scaling`)."""
  if hbm: return dict(package=max(c["cowos_usd_min"], c["package_usd_cowos"] * area / c["h100_die_mm2"]),
                      test_assembly=c["h100_test_assembly_usd"] * area / c["h100_die_mm2"], kind="2.5D CoWoS (HBM)")
  return dict(package=max(c["package_usd_fcbga"], c["package_test_usd_large"] * area / c["cset_die_mm2"]), test_assembly=0.0, kind="organic flip-chip BGA (incl. test)")

def chip_cost_usd(cfg: AccelConfig, c: dict, area: dict | None = None) -> dict:
  """Unit manufacturing cost of the chip: die, package, test & assembly, memory. No NRE (reported apart: `nre_report`)."""
  area = area or area_mm2(cfg, c)
  die = die_cost_usd(area["total"], cfg.process_nm, c)
  pkg = package_usd(area["total"], cfg.memory_type.startswith("hbm"), c)
  out = dict(die=die["die_cost_nb_usd"], package=pkg["package"], test_assembly=pkg["test_assembly"], memory=memory_usd(cfg, c))
  out["total"] = sum(out.values())
  return out | {"package_test": pkg["package"] + pkg["test_assembly"], "package_kind": pkg["kind"], "yield": die["yield_nb"], "gross_dies_per_wafer": die["gross_dpw"]}

def nre_report(cfg: AccelConfig) -> dict:
  total = nre_usd(cfg.process_nm)
  return dict(nre_usd=total, nre_volume_units=cfg.nre_volume_units, nre_usd_per_unit=total / cfg.nre_volume_units)

def system_cost_usd(cfg: AccelConfig, chip: dict, c: dict) -> dict:
  """What the config's form factor costs to build: the chip alone, an M.2 or PCIe card, an SXM module with its share of an
  8-way server, or a card with its share of a tinybox-like host of `form_factor_cards` cards."""
  ff, unit = cfg.form_factor, chip["total"]
  board = {"chip": 0.0, "sxm": c["sxm_board_usd"]}.get(ff, unit * c["card_board_fraction"])
  host = {"sxm": c["host_usd_per_accelerator"], "tinybox": c["tinybox_host_usd"] / cfg.form_factor_cards}.get(ff, 0.0)
  return dict(chip=unit, board=board, host=host, total=unit + board + host, form_factor=ff)

def rent_usd_per_hour(capex_usd: float, power_w: float, c: dict) -> float:
  """Capex as an annuity (capital recovery factor at `interest_rate` over `lifetime_years`) spread over
  the rented hours, plus the electricity of the hour at the data center's PUE."""
  i, n = c["interest_rate"], c["lifetime_years"]
  per_year = capex_usd * (i / (1 - (1 + i) ** -n) if i else 1 / n)
  return per_year / (365 * 24 * c["rent_utilization"]) + power_w / 1000 * c["pue"] * c["electricity_usd_per_kwh"]

def peak_power_w(cfg: AccelConfig, c: dict) -> dict:
  """Every unit busy every cycle (the TDP an architect budgets): all MACs, the array's operand SRAM traffic (a spad line in
  and an accumulator line read and written per cycle), the DRAM port at full bandwidth, and static power."""
  f = cfg.clock_mhz * 1e6
  mac = cfg.macs_per_cycle * f * (c["int8_mul_pj_45nm"] + c["int32_add_pj_45nm"]) * _energy_scale(cfg.process_nm) * 1e-12
  sram = f * 1e-12 * (cfg.spad_line_bytes * sram_pj_per_byte(cfg.spad_kib / cfg.spad_banks, cfg.process_nm, c)
                      + 2 * cfg.acc_line_bytes * sram_pj_per_byte(cfg.acc_kib / cfg.acc_banks, cfg.process_nm, c))
  dram = cfg.dram_bytes_per_s * 8 * dram_pj_per_bit(cfg.memory_type, c) * 1e-12
  static = c["static_power_fraction"] * mac
  return dict(mac=mac, sram=sram, dram=dram, static=static, total=mac + sram + dram + static)

def basis(cfg: AccelConfig, price: bool, batch: str = "the run's batch") -> str:
  what = f"price (unit cost / (1 - gross_margin {cfg.gross_margin:g}))" if price else "manufacturing cost (no NRE)"
  return f"int8 ops/s, {batch}, per $ of {what} of the {cfg.form_factor}" + (f" ({cfg.form_factor_cards} cards)" if cfg.form_factor == "tinybox" else "")

def cost_report(cfg: AccelConfig, stats: dict | None = None, overrides: dict | None = None) -> dict:
  """The keys every run reports about money and power (docs/cost-model.md); `stats` is a model run's. Every perf/$ key's
  basis is in `perf_per_usd_basis`."""
  c = constants(overrides)
  area = area_mm2(cfg, c)
  chip = chip_cost_usd(cfg, c, area)
  peak = cfg.peak_flops_per_s
  pw = peak_power_w(cfg, c)
  system = system_cost_usd(cfg, chip, c)
  nre = nre_report(cfg)
  cost, price = system["total"], system["total"] / (1 - cfg.gross_margin)
  out = dict(area_mm2=area, chip_cost_usd=chip, system_cost_usd=system, unit_cost_usd=chip["total"], deployed_cost_usd=cost, price_usd=price,
             gross_margin=cfg.gross_margin, **nre, peak_power_w=pw["total"], peak_power=pw, static_power_w=pw["static"],
             peak_flops_per_usd=peak / cost, peak_flops_per_usd_price=peak / price, peak_flops_per_usd_incl_nre=peak / (cost + nre["nre_usd_per_unit"]),
             wafer_price=wafer_price_usd(cfg.process_nm)[1], assumptions={k: ASSUMPTIONS[k][1] for k in ASSUMPTIONS})
  b = dict(peak_flops_per_usd=basis(cfg, False, "peak"), peak_flops_per_usd_price=basis(cfg, True, "peak"),
           peak_flops_per_usd_incl_nre=basis(cfg, False, "peak") + f" + NRE / {cfg.nre_volume_units:,} units")
  if stats:
    e = energy_pj(cfg, stats, c)
    seconds = stats["seconds"]
    power = e["total"] * 1e-12 / seconds + pw["static"] if seconds else pw["static"]
    achieved = stats["achieved_flops_per_s"]
    usd_per_hour = rent_usd_per_hour(cost, power, c)
    out |= dict(energy_pj=e, avg_power_w=power, flops_per_usd=achieved / cost, flops_per_usd_price=achieved / price,
                flops_per_usd_incl_nre=achieved / (cost + nre["nre_usd_per_unit"]), flops_per_watt=achieved / power,
                usd_per_hour=usd_per_hour, usd_per_pflops_hour=usd_per_hour / (achieved / 1e15) if achieved else float("inf"))
    b |= dict(flops_per_usd=basis(cfg, False), flops_per_usd_price=basis(cfg, True),
              flops_per_usd_incl_nre=basis(cfg, False) + f" + NRE / {cfg.nre_volume_units:,} units", flops_per_watt="int8 ops/s per W of average power on the run")
  return out | {"perf_per_usd_basis": b}

# ---------------- calibration against published accelerators (configs/calibration/*.toml) ----------------
CALIBRATION_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "calibration")
DP = "accelerator_design_points"
# (config, quantity, published: (item, field, index or indices multiplied, scale), why the model may differ)
CALIBRATION = (
  ("tpu_v1", "die area (mm^2)", ("TPUv1 (Jouppi et al., ISCA 2017)", "notes", (0,), 1), "published is an upper bound (<= 331); no PCIe/DDR3 PHYs or control modeled"),
  ("tpu_v1", "peak power (W)", ("TPUv1 (Jouppi et al., ISCA 2017)", "notes", (2,), 1), "TDP 75 W is the board's budget (measured busy 40 W: ratio x1.9); no clock tree or leakage model"),
  ("nvdla_2048", "die area (mm^2)", ("NVDLA 2048 MACs / 512KB CBUF / 20 GB/s", "value", (0,), 1), "synthesis estimate including memories"),
  ("tesla_fsd", "die area (mm^2)", ("Tesla FSD (HW3)", "value", (8,), 1), "the published die is the whole SoC: 12 CPU cores, GPU, ISP and I/O are not modeled"),
  ("tesla_fsd", "peak power (W)", ("Tesla FSD (HW3)", "value", (10,), 1), "the published TDP is the whole SoC's"),
  ("eyeriss", "die area (mm^2)", ("Eyeriss v1", "value", (1, 2), 1), "16-bit PEs with per-PE scratchpads and a pad-limited 4x4 mm die; the model's PEs are int8 without scratchpads"),
  ("eyeriss", "peak power (W)", ("Eyeriss v1", "value", (6,), 1e-3), "published is AlexNet conv at 200 MHz, near peak activity"),
  ("tpu_v4i", "die area (mm^2)", ("TPU v4i (Jouppi et al., ISCA 2021)", "value", (12,), 1),
   "published is an upper bound (< 400); (node/45)^2 logic scaling is far too optimistic at 7 nm, and HBM PHYs, ICI, vector units are not modeled"),
  ("tpu_v4i", "peak power (W)", ("TPU v4i (Jouppi et al., ISCA 2021)", "value", (14,), 1), "TDP; linear (node/45) energy scaling is too optimistic at 7 nm; no clock tree, leakage or HBM PHY power"),
)

def calibration() -> list[dict]:
  """Model against published: one row per (config, quantity) of CALIBRATION, with the ratio and the source."""
  from ..arch.config import load_config
  rows = []
  for name, qty, (item, field, idx, scale), why in CALIBRATION:
    e = cite(DP, item)
    published = math.prod(_num(e[field], i) for i in idx) * scale
    r = cost_report(load_config(os.path.join(CALIBRATION_DIR, name + ".toml")))
    model = r["area_mm2"]["total"] if qty.startswith("die area") else r["peak_power_w"]
    rows.append(dict(config=name, quantity=qty, model=model, published=published, ratio=model / published, source=e["source"], why=why))
  return rows
