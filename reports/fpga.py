"""Performance per dollar of an FPGA build (`tinyaccel fpga --workload`, FPGA sweep points): the model's cycles for
the workload at the Fmax the build achieved (rtl/fpga.py measures it), priced at the board the user names."""
from __future__ import annotations

from ..arch.config import cycles_to_seconds
from ..arch.config import peak_flops_per_s as peak_at
from ..arch.stats import Stats

NO_BOARD_PRICE = ("no board price: the reference data (cost_data.json, fpga_boards) cites none for ECP5 or iCE40 "
                  "('ECP5 eval board price not found'); pass --board-usd")

def peak_flops_per_s(fpga: dict) -> float:
  """A build's peak: every MAC of the array each cycle at the achieved Fmax."""
  return peak_at(fpga["config"]["rows"] * fpga["config"]["cols"], fpga["fmax_mhz"])

def perf_per_usd(fpga: dict, workload: str, stats: Stats, board_usd: float | None) -> dict:
  """A workload's model cycles at the achieved Fmax: time, FLOP/s, and FLOP/s per $ of the board when its price is
  given. It assumes a memory that delivers the config's dram_bytes_per_cycle and latency at that clock; the AXI
  bridge adds latency of its own, so for the AXI top this is an upper bound (docs/fpga.md)."""
  clock = fpga["fmax_mhz"]
  seconds = cycles_to_seconds(stats.cycles, clock) if clock else float("inf")
  flops_per_s = stats.flops / seconds if clock else 0.0
  return dict(workload=workload, cycles=stats.cycles, macs=stats.macs, clock_mhz=clock, seconds=seconds, flops_per_s=flops_per_s,
              peak_flops_per_s=peak_flops_per_s(fpga), utilization=stats.utilization,
              board_usd=board_usd, flops_per_s_per_usd=flops_per_s / board_usd if board_usd else None, note=None if board_usd else NO_BOARD_PRICE)
