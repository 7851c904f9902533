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
  # area by node (issue 16): logic density of one design style (NVIDIA's big dies), SRAM bitcells, a real int8 array's floor plan
  **{f"{k}_n{n}": ("logic_density", item, i) for n, item in ((65, "NVIDIA GT200"), (40, "NVIDIA GF106"), (28, "NVIDIA GM200"), (16, "NVIDIA GP100"), (7, "NVIDIA GA100"))
     for k, i in (("mtr", 0), ("die_mm2", 1))},
  "h100_btr": ("reference_products", "H100 SXM5: HBM3 / BW / TDP / die", 6),                 # 80B transistors on the 814 mm^2 4N die (5 nm class)
  "n3_density_vs_n5": ("logic_density", "TSMC N3 logic density vs N5", 0),
  "sram_bitcell_um2_n40": ("sram_density", "TSMC 40nm SRAM bitcell / scaling from 65nm", 0),
  "sram_bitcell_n40_vs_n65": ("sram_density", "TSMC 40nm SRAM bitcell / scaling from 65nm", 1),
  "sram_bitcell_um2_n28": ("sram_density", "TSMC 28nm HD SRAM bitcell", 0),
  "sram_bitcell_um2_n16": ("sram_density", "TSMC 16nm HD SRAM bitcell", 0),
  "tpu1_macs": ("accelerator_design_points", "TPUv1 (Jouppi et al., ISCA 2017)", 2),
  "tpu1_ub_mib": ("accelerator_design_points", "TPUv1 (Jouppi et al., ISCA 2017)", 7),
  "tpu1_acc_mib": ("accelerator_design_points", "TPUv1 (Jouppi et al., ISCA 2017)", 8),
  "tpu1_die_mm2": ("accelerator_design_points", "TPUv1 (Jouppi et al., ISCA 2017)", 0, "notes"),
  **{f"tpu1_{k}_pct": ("accelerator_design_points", "TPUv1 floor plan (Jouppi et al., ISCA 2017, Figure 2)", i) for i, k in enumerate(("ub", "mmu", "acc", "control"))},
  # DRAM interfaces: pin rates per stack / device
  "hbm2_gbps_pin": ("memory_bandwidth_energy", "HBM2 / HBM2E PHY data rate", 0, "value", 1e-3),
  "hbm2e_gbps_pin": ("memory_bandwidth_energy", "HBM2 / HBM2E PHY data rate", 1, "value", 1e-3),
  "hbm3_gbps_pin": ("memory_bandwidth_energy", "HBM3 per-stack BW", 1),
  "hbm3e_gbps_pin": ("memory_bandwidth_energy", "HBM3E per-stack BW", 1),
  "gddr6_gbps_pin": ("memory_bandwidth_energy", "GDDR6 per-device BW / pin rate / energy", 3),
  "gddr6x_gbps_pin": ("memory_bandwidth_energy", "GDDR6X per-device BW / pin rate / energy", 3),
  "gddr7_gbps_pin": ("memory_bandwidth_energy", "GDDR7", 0),
  "lpddr4_gbps_pin": ("memory_bandwidth_energy", "LPDDR4/4X PHY data rate", 0, "value", 1e-3),
  "lpddr5_gbps_pin": ("memory_bandwidth_energy", "LPDDR5 PHY data rate", 0, "value", 1e-3),
  "lpddr5x_gbps_pin": ("memory_bandwidth_energy", "LPDDR5X PHY data rate", 0, "value", 1e-3),
  "reticle_mm2": ("reference_products", "Lithography reticle limit", 2),
  # power (issue 16): pipeline registers clocked every cycle; what a chip burns doing nothing
  "reg_bit_pj_40nm": ("energy_area_per_op", "register bit", 0),
  "lpddr4_pj_per_bit_dally": ("energy_area_per_op", "Newer-node MAC/FMA energy tables (Dally CACM 2020 etc.)", 6, "source"),   # 'LPDDR4 ~4 pJ/bit' (secondary)
  "tpu4_min_power_w": ("accelerator_design_points", "TPU v4 measured power (Google Cloud)", 0),
  "tpu4_max_power_w": ("accelerator_design_points", "TPU v4 measured power (Google Cloud)", 2),
  # other datapaths and whole SoCs (calibration, issue 16): a bf16 MAC's Horowitz cells; the FSD SoC's published transistor count
  "fp16_mul_pj_45nm": ("energy_area_per_op", "16b FP mult energy", 0),
  "fp32_add_pj_45nm": ("energy_area_per_op", "32b FP add energy", 0),
  "fp16_mul_um2_45nm": ("energy_area_per_op", "16b FP mult area", 0),
  "fp32_add_um2_45nm": ("energy_area_per_op", "32b FP add area", 0),
  "fsd_btr": ("accelerator_design_points", "Tesla FSD (HW3)", 7),                                 # '6B tr.'
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
  "energy_scaling": (None, "dynamic energy scales as node/45 nm from Horowitz' 45 nm figures (C ~ feature size at a roughly constant supply); consistent "
                          "with the 14 nm 8 KB SRAM 50 fJ/bit of Dally et al. CACM 2020 (a secondary note in the data: model 49 fJ/bit)"),
  "sram_array_efficiency": (None, "bitcell area / macro area at 5 nm and below: the N3E bitcell x N3E macro density"),
  "sram_efficiency_28nm": (None, "bitcell area / macro area at 28 nm and above: TPU v1's Unified Buffer + accumulators (35% of <= 331 mm^2 for 28 MiB) over the 28 nm "
                                 "bitcell; a lower bound (the die size is an upper bound). Nodes between 28 and 5 nm: log-log in node"),
  "sram_bitcell_interpolation": (None, "bitcell of nodes without a cited cell (22/14/12/10 nm): log-log between the nearest cited nodes; 65 nm = the 40 nm cell / 0.46; "
                                       "90 nm: the 65 nm cell x (90/65)^2"),
  "logic_density_interpolation": (None, "logic density by node: NVIDIA big dies (GT200 65, GF106 40, GM200 28, GP100 16, GA100 7 nm, H100 5 nm class), 3 nm = H100 x TSMC's "
                                        "N3/N5 1.7x; nodes between cited ones log-log, 90 nm = 65 nm x (65/90)^2"),
  "mac_area_um2_28nm": (None, "one int8 MAC with its registers, wiring, clock tree and local control at 28 nm: TPU v1's matrix unit (24% of <= 331 mm^2) / 65,536 MACs "
                              "(an upper bound); other nodes scale by logic density"),
  "vector_lane_ops": (2.0, "a vector lane = one 32-bit adder and one 32-bit multiplier-equivalent of 8-bit multipliers (x2)"),
  "vector_lane_vs_mac": (None, "a vector lane's area and energy relative to a MAC: the ratio of their Horowitz cells (32b add + 2 x 8b mult over 8b mult + 32b add)"),
  "mac_area_vs_int8": (1.0, "area of the array's MAC (and vector lane) relative to an int8 MAC: 1 = int8, the datapath the simulator runs; a bf16 design "
                             "overrides it with `bf16_mac_area_vs_int8` (the whole real MAC, registers and wiring too, scales with its cells)"),
  "mac_energy_vs_int8": (1.0, "energy of the MAC's arithmetic (not its pipeline registers) relative to int8's: 1 = int8; bf16: `bf16_mac_energy_vs_int8`"),
  "bf16_mac_area_vs_int8": (None, "a bf16 MAC with fp32 accumulation over an int8 one: Horowitz' 16b FP multiply + 32b FP add cells over 8b int multiply + 32b int add "
                                  "(an upper bound: bf16's significand is 8 bits, fp16's 11)"),
  "bf16_mac_energy_vs_int8": (None, "the same ratio of Horowitz' energies (1.1 + 0.9 pJ over 0.2 + 0.1 pJ)"),
  "soc_other_blocks": (None, "an SoC's blocks the config does not describe (FSD: CPUs, GPU, ISP, video, safety, fabric) from its published transistor count: that "
                             "less the accelerator's (6 per SRAM bit, the 6T cell; its logic at the node's logic density), placed at the node's logic density"),
  "sram_transistors_per_bit": (6.0, "transistors per SRAM bit: the 6T high-density cell the bitcell areas are for"),
  "control_fraction": (None, "control (instruction issue, queues, DMA sequencing) as a fraction of the die: TPU v1's floor plan (2%)"),
  "noc_fraction": (0.05, "on-chip network of a multi-core chip (routers and links to the shared DRAM channels): 5% of the cores' area (no cited figure)"),
  "hbm_phy_mm2_per_stack": (12.0, "HBM PHY + controller per stack, node-independent (analog I/O; no cited area in the data)"),
  "ddr_phy_mm2_per_pin": (0.08, "DDR/LPDDR/GDDR PHY + controller per data pin, node-independent (no cited area in the data; ~5 mm^2 for a x64 DDR channel)"),
  "ddr_pin_gbps": (None, "DDR4 and DDR5 data rate per pin at the JEDEC top speed grade (not in the data): 3.2 and 6.4 Gb/s (LPDDR and GDDR rates are cited)"),
  "host_io_mm2_x16": (8.0, "host interface (PCIe x16-class link + controller) and misc I/O of a pcie/sxm/tinybox part (no cited figure)"),
  "host_io_mm2_x4": (2.0, "host interface (x4-class link) and misc I/O of a bare chip or an M.2 module (no cited figure)"),
  "idle_power_fraction": (None, "power at idle (clock tree, leakage, PHY bias) over maximum power: TPU v4's measured min / max (90 / 192 W, Google Cloud); "
                                "peak = dynamic at full activity / (1 - fraction), average = run energy / seconds + idle"),
  "wafer_price_interpolation": (None, "nodes without a 2020 price: log-log interpolation between the nearest cited nodes of the 2020 table"),
  "package_area_scaling": (None, "package+test cost scales with die area: organic flip-chip from CSET's $80 at 610 mm^2 (floor: the $8.12 FCBGA example); "
                                 "CoWoS (HBM only) from the H100's $750 at 814 mm^2 (floor: the cited $300 low end); HBM test & assembly from the H100's $920"),
  "nre_older_nodes": (None, "nodes older than 10 nm use IBS' 10 nm design cost (an upper bound: the data has no older-node figure)"),
  "tinybox_cards": (6.0, "cards of the tinybox red v1 whose host cost (price less 6 x the RX 7900 XTX's $999) a tinybox-like system shares"),
  # links between chips (arch/system.py, configs/systems/): the reference data cites no interconnect figure
  "nvlink_gb_per_s": (450.0, "NVLink-class chip-to-chip bandwidth per direction: the H100 SXM5's published 900 GB/s of NVLink 4 (18 links, both "
                             "directions together; NVIDIA's figure, not in the reference data) halved"),
  "pcie4_x16_gb_per_s": (31.5, "PCIe 4.0 x16 per direction, the tinybox red's RX 7900 XTX cards' host link: 16 GT/s x 16 lanes x 128/130 / 8 (the PCIe 4.0 "
                               "signalling rate, not in the reference data); cards reach each other through the host's root complex"),
  "link_latency_us": (1.0, "per-message latency of a chip-to-chip link (DMA set-up, wire, switch hop): no cited figure"),
  "lifetime_years": (3.0, "years of service for rent"),
  "interest_rate": (0.08, "yearly cost of capital the purchase is financed at, for rent (no cited figure)"),
  "rent_utilization": (1.0, "fraction of the lifetime's hours that are rented out and paid for"),
  "accelerators_per_server": (8.0, "accelerators sharing one host: the DGX H100 the board and host figures come from"),
  "sxm_board_usd": (None, "SXM board per accelerator (baseboard, power delivery, interconnect): the DGX H100 GPU+baseboard figure less the H100 manufacturing cost"),
  "host_usd_per_accelerator": (None, "SXM host share per accelerator: the DGX H100 non-GPU BOM / accelerators_per_server"),
  "card_board_fraction": (None, "M.2/PCIe card board (PCB, power, cooling, assembly) as a fraction of die+memory+package: 1/share - 1 with the cited GPU-vendor share"),
  "tinybox_host_usd": (None, "tinybox host (chassis, CPU, PSUs, board): tinybox red v1 price less its 6 cards at $999"),
  "lpddr_usd_per_gb": (None, "LPDDR and DDR4 $/GB: the DDR5 spot price"),
  "lpddr_pj_per_bit": (None, "LPDDR4/5/5X energy per bit: Dally et al. CACM 2020's LPDDR4 ~4 pJ/bit (a secondary note in the data, marked 'verify before use'); "
                             "DDR4/DDR5 keep Horowitz' 45 nm DRAM access (20 pJ/bit)"),
}

DERIVED = {   # constants computed from others; an override of the constant itself wins, an override of an input flows through
  "sram_array_efficiency": lambda c: c["sram_macro_mib_per_mm2_n3e"] * 2 ** 20 / 1e6 * c["sram_bitcell_um2_n5"],   # Mib/mm^2 * um^2/bit
  "sram_efficiency_28nm": lambda c: (c["tpu1_ub_mib"] + c["tpu1_acc_mib"]) * 2 ** 23 * c["sram_bitcell_um2_n28"] / 1e6
                                    / ((c["tpu1_ub_pct"] + c["tpu1_acc_pct"]) / 100 * c["tpu1_die_mm2"]),
  "mac_area_um2_28nm": lambda c: c["tpu1_mmu_pct"] / 100 * c["tpu1_die_mm2"] * 1e6 / c["tpu1_macs"],
  "vector_lane_vs_mac": lambda c: (c["int32_add_um2_45nm"] + c["vector_lane_ops"] * c["int8_mul_um2_45nm"]) / (c["int8_mul_um2_45nm"] + c["int32_add_um2_45nm"]),
  "control_fraction": lambda c: c["tpu1_control_pct"] / 100,
  "bf16_mac_area_vs_int8": lambda c: (c["fp16_mul_um2_45nm"] + c["fp32_add_um2_45nm"]) / (c["int8_mul_um2_45nm"] + c["int32_add_um2_45nm"]),
  "bf16_mac_energy_vs_int8": lambda c: (c["fp16_mul_pj_45nm"] + c["fp32_add_pj_45nm"]) / (c["int8_mul_pj_45nm"] + c["int32_add_pj_45nm"]),
  "idle_power_fraction": lambda c: c["tpu4_min_power_w"] / c["tpu4_max_power_w"],
  "lpddr_usd_per_gb": lambda c: c["ddr5_usd_per_gb"],
  "lpddr_pj_per_bit": lambda c: c["lpddr4_pj_per_bit_dally"],
  "sxm_board_usd": lambda c: c["dgx_gpu_with_baseboard_usd"] - c["h100_manufacturing_usd"],
  "card_board_fraction": lambda c: 1 / (c["card_die_vram_share"] / 100) - 1,
  "tinybox_host_usd": lambda c: c["tinybox_red_usd"] - c["tinybox_cards"] * c["rx7900xtx_usd"],
  "host_usd_per_accelerator": lambda c: c["dgx_host_bom_usd"] / c["accelerators_per_server"],
}

def constants(overrides: dict | None = None) -> dict:
  """Every constant by name: cited values, then assumptions, then the user's overrides."""
  c = {k: _num(cite(cat, item)[rest[0] if rest else "value"], i) * (rest[1] if len(rest) > 1 else 1) for k, (cat, item, i, *rest) in CITED.items()}
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
def _loglog(x: float, pts: dict) -> float:
  """A value at node x from cited (node, value) points: log-log between the nearest two, the end point's value beyond them."""
  ns = sorted(pts)
  if x in pts: return pts[x]
  if x < ns[0]: return pts[ns[0]]
  if x > ns[-1]: return pts[ns[-1]]
  lo, hi = max(n for n in ns if n < x), min(n for n in ns if n > x)
  t = math.log(x / lo) / math.log(hi / lo)
  return math.exp(math.log(pts[lo]) + t * (math.log(pts[hi]) - math.log(pts[lo])))

def logic_density_mtr_mm2(node_nm: int, c: dict) -> float:
  """Transistors per mm^2 of NVIDIA's big dies by node (assumption `logic_density_interpolation`): one design style across nodes."""
  pts = {n: c[f"mtr_n{n}"] / c[f"die_mm2_n{n}"] for n in (65, 40, 28, 16, 7)}
  pts[5] = c["h100_btr"] * 1e3 / c["h100_die_mm2"]
  pts[3] = pts[5] * c["n3_density_vs_n5"]
  return pts[65] * (65 / node_nm) ** 2 if node_nm > 65 else _loglog(node_nm, pts)

def _logic_scale(node_nm: int, c: dict) -> float: return logic_density_mtr_mm2(28, c) / logic_density_mtr_mm2(node_nm, c)   # area relative to 28 nm
def _energy_scale(node_nm: int, ref_nm: float = 45.0) -> float: return node_nm / ref_nm                                        # assumption `energy_scaling`

def bitcell_um2(node_nm: int, c: dict) -> float:
  """Cited HD bitcells (65 nm via the 40 nm cell's 0.46x), log-log between them (assumption `sram_bitcell_interpolation`)."""
  pts = {65: c["sram_bitcell_um2_n40"] / c["sram_bitcell_n40_vs_n65"], 40: c["sram_bitcell_um2_n40"], 28: c["sram_bitcell_um2_n28"], 16: c["sram_bitcell_um2_n16"],
         7: c["sram_bitcell_um2_n7"], 5: c["sram_bitcell_um2_n5"], 3: c["sram_bitcell_um2_n3"]}
  return pts[65] * (node_nm / 65) ** 2 if node_nm > 65 else _loglog(node_nm, pts)

def sram_efficiency(node_nm: int, c: dict) -> float:
  """Bitcell area over macro area: TPU v1's at 28 nm and above, N3E's at 5 nm and below, log-log in node between."""
  return _loglog(node_nm, {28: c["sram_efficiency_28nm"], 5: c["sram_array_efficiency"]})

def sram_mm2(kib: float, node_nm: int, c: dict) -> float: return kib * 8192 * bitcell_um2(node_nm, c) / sram_efficiency(node_nm, c) / 1e6

def mac_um2(node_nm: int, c: dict) -> float:
  """One MAC of a real array (registers, wiring, clock tree, local control): TPU v1's int8 MAC at 28 nm, scaled by logic density
  and by the datapath (`mac_area_vs_int8`)."""
  return c["mac_area_um2_28nm"] * _logic_scale(node_nm, c) * c["mac_area_vs_int8"]

def _ddr_pin_gbps(t: str, c: dict) -> float:
  return dict(ddr4=3.2, ddr5=6.4).get(t) or c[f"{t}_gbps_pin"]        # DDR4/5: assumption `ddr_pin_gbps`

def dram_phys(cfg: AccelConfig, c: dict) -> dict:
  """The DRAM interfaces the chip's bandwidth needs: HBM stacks of 1024 pins at the type's cited pin rate, or DDR-class pins rounded up to
  whole channels (x16 LPDDR, x32 GDDR device, x64 DDR), each with its PHY and controller (assumptions `hbm_phy_mm2_per_stack`, `ddr_phy_mm2_per_pin`)."""
  t, gbps = cfg.memory_type, cfg.chip_dram_bytes_per_cycle * cfg.clock_mhz * 1e6 * 8 / 1e9      # Gb/s the chip moves
  if t.startswith("hbm"):
    stack = c[f"{t}_gbps_pin"] * 1024
    n = math.ceil(gbps / stack - 1e-9)
    return dict(kind=f"{t} stack", units=n, unit_bytes_per_s=stack / 8 * 1e9, mm2=n * c["hbm_phy_mm2_per_stack"])
  width = 16 if t.startswith("lpddr") else 32 if t.startswith("gddr") else 64
  n = math.ceil(gbps / (_ddr_pin_gbps(t, c) * width) - 1e-9)
  return dict(kind=f"{t} x{width} channel", units=n, unit_bytes_per_s=_ddr_pin_gbps(t, c) * width / 8 * 1e9, mm2=n * width * c["ddr_phy_mm2_per_pin"])

def core_area_mm2(cfg: AccelConfig, c: dict) -> dict:
  """One core: MAC array, scratchpad, accumulator, vector unit."""
  mac = mac_um2(cfg.process_nm, c)
  return dict(array=cfg.rows * cfg.cols * mac / 1e6, spad=sram_mm2(cfg.spad_kib, cfg.process_nm, c), acc=sram_mm2(cfg.acc_kib, cfg.process_nm, c),
              vector=cfg.vector_lanes * mac * c["vector_lane_vs_mac"] / 1e6)

def area_mm2(cfg: AccelConfig, c: dict) -> dict:
  """Die area by block: `cores` x (array, scratchpad, accumulator, vector unit), the on-chip network between them, the DRAM PHYs and controllers
  the chip's bandwidth needs, the host interface and I/O, and control (a share of the die)."""
  core = core_area_mm2(cfg, c)
  out = {k: cfg.cores * v for k, v in core.items()}
  out["noc"] = c["noc_fraction"] * sum(out.values()) if cfg.cores > 1 else 0.0
  out["dram_phy"] = dram_phys(cfg, c)["mm2"]
  out["host_io"] = c["host_io_mm2_x16"] if cfg.form_factor in ("pcie", "sxm", "tinybox") else c["host_io_mm2_x4"]
  rest = sum(out.values())
  out["control"] = rest * c["control_fraction"] / (1 - c["control_fraction"])
  out["one_core"] = sum(core.values())
  out["total"] = rest + out["control"]
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
  return c["lpddr_pj_per_bit"] if memory_type.startswith("lpddr") else c["dram_pj_per_bit_ddr"]

def mac_pj(node_nm: int, c: dict) -> float:
  """One MAC of the array: the 8-bit multiply and 32-bit add (Horowitz, 45 nm) and its PE's 56 pipeline-register bits clocked (Aladdin, 40 nm)."""
  return (c["int8_mul_pj_45nm"] + c["int32_add_pj_45nm"]) * c["mac_energy_vs_int8"] * _energy_scale(node_nm) + 56 * c["reg_bit_pj_40nm"] * _energy_scale(node_nm, 40)

def energy_pj(cfg: AccelConfig, stats: dict, c: dict) -> dict:
  """Dynamic energy of a run by component, from the MACs the array performed and the traffic (docs/model.md keys)."""
  spad = sram_pj_per_byte(cfg.spad_kib / cfg.spad_banks, cfg.process_nm, c)
  acc = sram_pj_per_byte(cfg.acc_kib / cfg.acc_banks, cfg.process_nm, c)
  out = dict(mac=stats.get("array_macs", stats["macs"]) * mac_pj(cfg.process_nm, c),
             spad=(stats["sram_reads"]["spad"] + stats["sram_writes"]["spad"]) * spad,
             acc=(stats["sram_reads"]["acc"] + stats["sram_writes"]["acc"]) * acc,
             dram=(stats["dram_read_bytes"] + stats["dram_write_bytes"]) * 8 * dram_pj_per_bit(cfg.memory_type, c))
  out["total"] = sum(out.values())
  return out

def peak_power_w(cfg: AccelConfig, c: dict) -> dict:
  """Every unit busy every cycle (the TDP an architect budgets): on every core all MACs, the vector lanes, one scratchpad line read and one
  accumulator line read and written per cycle; the DRAM interfaces at full bandwidth; plus idle power (clock tree, leakage, PHY bias), the
  cited share of a chip's maximum (assumption `idle_power_fraction`), on the die's dynamic power. `chip` is the die's; `dram` the DRAM
  traffic at full bandwidth (devices and interface), in `total`."""
  f, n = cfg.clock_mhz * 1e6 * 1e-12, cfg.cores
  mac = n * cfg.macs_per_cycle * f * mac_pj(cfg.process_nm, c)
  vector = n * cfg.vector_lanes * f * mac_pj(cfg.process_nm, c) * c["vector_lane_vs_mac"]
  sram = n * f * (cfg.spad_line_bytes * sram_pj_per_byte(cfg.spad_kib / cfg.spad_banks, cfg.process_nm, c)
                  + 2 * cfg.acc_line_bytes * sram_pj_per_byte(cfg.acc_kib / cfg.acc_banks, cfg.process_nm, c))
  dram = cfg.chip_dram_bytes_per_cycle * cfg.clock_mhz * 1e6 * 8 * dram_pj_per_bit(cfg.memory_type, c) * 1e-12
  chip = (mac + vector + sram) / (1 - c["idle_power_fraction"])
  idle, total = chip - (mac + vector + sram), chip + dram
  return dict(mac=mac, vector=vector, sram=sram, idle=idle, chip=chip, dram=dram, total=total)

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

def basis(cfg: AccelConfig, price: bool, batch: str = "the run's batch") -> str:
  what = f"price (unit cost / (1 - gross_margin {cfg.gross_margin:g}))" if price else "manufacturing cost (no NRE)"
  return f"int8 ops/s, {batch}, per $ of {what} of the {cfg.form_factor}" + (f" ({cfg.form_factor_cards} cards)" if cfg.form_factor == "tinybox" else "")

def cost_report(cfg: AccelConfig, stats: dict | None = None, overrides: dict | None = None) -> dict:
  """The keys every run reports about money and power (docs/cost-model.md); `stats` is a model run's. Every perf/$ key's
  basis is in `perf_per_usd_basis`."""
  c = constants(overrides)
  area = area_mm2(cfg, c)
  chip = chip_cost_usd(cfg, c, area)
  peak = cfg.chip_peak_flops_per_s
  pw = peak_power_w(cfg, c)
  system = system_cost_usd(cfg, chip, c)
  nre = nre_report(cfg)
  cost, price = system["total"], system["total"] / (1 - cfg.gross_margin)
  out = dict(area_mm2=area, dram_phys=dram_phys(cfg, c), reticle_limit_mm2=c["reticle_mm2"], exceeds_reticle=area["total"] > c["reticle_mm2"],
             chip_cost_usd=chip, system_cost_usd=system, unit_cost_usd=chip["total"], deployed_cost_usd=cost, price_usd=price,
             gross_margin=cfg.gross_margin, **nre, peak_power_w=pw["total"], peak_power=pw, idle_power_w=pw["idle"],
             peak_flops_per_usd=peak / cost, peak_flops_per_usd_price=peak / price, peak_flops_per_usd_incl_nre=peak / (cost + nre["nre_usd_per_unit"]),
             wafer_price=wafer_price_usd(cfg.process_nm)[1], assumptions={k: ASSUMPTIONS[k][1] for k in ASSUMPTIONS})
  b = dict(peak_flops_per_usd=basis(cfg, False, "peak"), peak_flops_per_usd_price=basis(cfg, True, "peak"),
           peak_flops_per_usd_incl_nre=basis(cfg, False, "peak") + f" + NRE / {cfg.nre_volume_units:,} units")
  if stats:
    e = energy_pj(cfg, stats, c)
    seconds = stats["seconds"]
    power = e["total"] * 1e-12 / seconds + pw["idle"] if seconds else pw["idle"]
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
BF16 = {"mac_area_vs_int8": "bf16_mac_area_vs_int8", "mac_energy_vs_int8": "bf16_mac_energy_vs_int8"}   # a bf16-MAC chip: overrides from cited cells
# (config, quantity, published: (item, field, index or indices multiplied, scale), why the model may differ, what the model adds: datapath
# overrides (BF16) and/or `soc_transistors` (the published SoC's transistor count for `soc_other_mm2`)). Quantities: "die area" the whole
# die; "core area" without DRAM PHYs and host I/O (an IP block's published area); "peak power" with the DRAM traffic (a board's or a
# package's TDP); "chip power" without it (a die's measured or rated power, DRAM chips apart)
CALIBRATION = (
  ("tpu_v1", "die area (mm^2)", ("TPUv1 (Jouppi et al., ISCA 2017)", "notes", (0,), 1),
   "not independent: the MAC and SRAM densities come from this chip's floor plan (59% of the die); published is an upper bound (<= 331); "
   "the activation pipeline, weight FIFO and DDR3/PCIe PHYs are the model's generic blocks", {}),
  ("tpu_v1", "peak power (W)", ("TPUv1 (Jouppi et al., ISCA 2017)", "notes", (2,), 1), "the 75 W TDP is the card's budget with its DDR3 (measured busy: 40 W)", {}),
  ("nvdla_2048", "core area (mm^2)", ("NVDLA 2048 MACs / 512KB CBUF / 20 GB/s", "value", (0,), 1), "synthesis estimate of the IP with its memories, no PHYs", {}),
  ("tesla_fsd", "die area (mm^2)", ("Tesla FSD (HW3)", "value", (8,), 1),
   "the published die is the whole SoC: the two NPUs are modeled block by block, its 12 CPU cores, GPU, ISP, video and fabric as the published 6B "
   "transistors less the NPUs' at the node's logic density (assumption `soc_other_blocks`)", {"soc_transistors": "fsd_btr"}),
  ("tesla_fsd", "chip power (W)", ("Tesla FSD (HW3)", "value", (10,), 1), "the published TDP is the whole SoC's (CPUs, GPU, ISP too); LPDDR4 devices apart", {}),
  ("eyeriss", "die area (mm^2)", ("Eyeriss v1", "value", (1, 2), 1),
   "offsetting errors: the core is underestimated (16-bit PEs with per-PE scratchpads there, int8 without here) and the pad-limited die's I/O ring is "
   "stood in for by the model's DDR4 PHY and host I/O assumptions, which carry most of the model's area", {}),
  ("eyeriss", "chip power (W)", ("Eyeriss v1", "value", (6,), 1e-3), "published is AlexNet conv at 278 mW, chip only (DRAM apart), near peak activity", {}),
  ("tpu_v4i", "die area (mm^2)", ("TPU v4i (Jouppi et al., ISCA 2021)", "value", (12,), 1),
   "4 MXUs as 4 cores of 128x128 bf16 MACs with fp32 accumulation (Horowitz cells: 13.9x an int8 MAC's area, assumption `bf16_mac_area_vs_int8`); "
   "ICI links, scalar core and the CMEM/VMEM split not modeled; published is an upper bound (< 400)", BF16),
  ("tpu_v4i", "peak power (W)", ("TPU v4i (Jouppi et al., ISCA 2021)", "value", (14,), 1),
   "TDP; bf16 MACs (Horowitz: a 16b FP multiply + 32b FP add is 6.7x an int8 MAC's energy) and fp32 vector lanes modeled; ICI and the scalar core not", BF16),
)

def soc_other_mm2(cfg: AccelConfig, c: dict, area: dict, soc_transistors: float) -> float:
  """The blocks of a published SoC the config does not describe (CPUs, GPU, ISP, ...): its transistor count less the accelerator's
  (`sram_transistors_per_bit` per SRAM bit, the logic blocks at the node's density), at the node's logic density (assumption `soc_other_blocks`)."""
  dens = logic_density_mtr_mm2(cfg.process_nm, c) * 1e6
  logic = sum(area[k] for k in ("array", "vector", "noc", "control"))
  accel = cfg.cores * (cfg.spad_kib + cfg.acc_kib) * 8192 * c["sram_transistors_per_bit"] + logic * dens
  return max(0.0, soc_transistors - accel) / dens

def calibration() -> list[dict]:
  """Model against published: one row per (config, quantity) of CALIBRATION, with the ratio and the source."""
  from ..arch.config import load_config
  rows, c0 = [], constants()
  for name, qty, (item, field, idx, scale), why, adds in CALIBRATION:
    e = cite(DP, item)
    published = math.prod(_num(e[field], i) for i in idx) * scale
    cfg = load_config(os.path.join(CALIBRATION_DIR, name + ".toml"))
    ov = {k: c0[v] for k, v in adds.items() if k != "soc_transistors"}
    r = cost_report(cfg, overrides=ov)
    a, p = r["area_mm2"], r["peak_power"]
    other = soc_other_mm2(cfg, constants(ov), a, c0[adds["soc_transistors"]] * 1e9) if "soc_transistors" in adds else 0.0
    model = {"die area": a["total"] + other, "core area": a["total"] - (a["dram_phy"] + a["host_io"]) / (1 - constants()["control_fraction"]),
             "peak power": p["total"], "chip power": p["chip"]}[qty.rsplit(" ", 1)[0]]
    rows.append(dict(config=name, quantity=qty, model=model, published=published, ratio=model / published, source=e["source"], why=why,
                     overrides=ov, soc_other_mm2=other))
  return rows
