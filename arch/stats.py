"""Statistics of a run: the counts the model measures, the figures derived from them, and their `--json` keys.

One `Stats` describes a program (the model's `Result.stats`), a kernel (its MACs counted as the workload's
useful MACs), a network (`Stats.merge` of its kernels, which run one after another) or a sweep point. Counts
are fields; everything derived (seconds, utilization, roofline bounds, FLOP/s) is a property computed from
them and the config's clock, array size and DRAM bandwidth, so no caller computes a ratio of its own.
`to_json` is the one serializer; docs/model.md documents every key.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .config import AccelConfig, cycles_to_seconds, peak_flops_per_s


def _sum_nested(ds) -> dict:
  """Key-wise sum of dicts whose values are numbers or dicts of numbers (stall cycles per unit and reason)."""
  out: dict = {}
  for d in ds:
    for k, v in d.items(): out[k] = _sum_nested([out.get(k, {}), v]) if isinstance(v, dict) else out.get(k, 0) + v
  return out

@dataclass(frozen=True)
class Stats:
  cycles: int                                 # completion of the last instruction (a network: the kernels' sum)
  macs: int                                   # useful multiply-accumulates of the workload
  array_macs: int                             # MACs the array performs (m·k·n per MATMUL; padding and blocks included)
  dram_read_bytes: int                        # burst-rounded bytes on the DRAM port
  dram_write_bytes: int
  compulsory_dram_bytes: int                  # distinct DRAM bytes read + distinct bytes written
  # the config figures the derived properties need
  macs_per_cycle: int
  clock_mhz: float
  dram_bytes_per_cycle: int
  sram_reads: dict = field(default_factory=dict)      # bytes per buffer (spad, acc)
  sram_writes: dict = field(default_factory=dict)
  busy_cycles: dict = field(default_factory=dict)     # per queue: sum of occupancies
  stall_cycles: dict = field(default_factory=dict)    # per queue and reason
  array_cycles: dict = field(default_factory=dict)    # stream, fill_drain, idle
  instructions: dict = field(default_factory=dict)    # per queue
  model_seconds: float = 0.0                          # wall time of the model

  @classmethod
  def of(cls, cfg: AccelConfig, **counts) -> "Stats":
    return cls(macs_per_cycle=cfg.macs_per_cycle, clock_mhz=cfg.clock_mhz, dram_bytes_per_cycle=cfg.dram_bytes_per_cycle, **counts)

  def with_macs(self, macs: int, array_macs: int) -> "Stats":
    """The same run credited with a workload's useful MACs (a kernel whose program pads, or runs on the vector unit)."""
    return dataclasses.replace(self, macs=macs, array_macs=array_macs)

  @staticmethod
  def merge(parts: list["Stats"]) -> "Stats":
    """Kernels run one after another: cycles, counts and stalls add; the config figures are the parts' (all equal)."""
    if not parts: raise ValueError("Stats.merge needs at least one part")
    first = parts[0]
    add = lambda name: sum(getattr(p, name) for p in parts)
    nested = lambda name: _sum_nested(getattr(p, name) for p in parts)
    return Stats(cycles=add("cycles"), macs=add("macs"), array_macs=add("array_macs"), dram_read_bytes=add("dram_read_bytes"),
                 dram_write_bytes=add("dram_write_bytes"), compulsory_dram_bytes=add("compulsory_dram_bytes"),
                 macs_per_cycle=first.macs_per_cycle, clock_mhz=first.clock_mhz, dram_bytes_per_cycle=first.dram_bytes_per_cycle,
                 **{k: nested(k) for k in ("sram_reads", "sram_writes", "busy_cycles", "stall_cycles", "array_cycles", "instructions")},
                 model_seconds=add("model_seconds"))

  @staticmethod
  def chip(cfg: AccelConfig, cores: list["Stats"], cycles: int) -> "Stats":
    """A kernel on a multi-core chip (cores run side by side, docs/model.md): `cycles` is the chip's (arch/timing.chip_cycles);
    counts, busy and stall cycles sum over the cores; the peak and bandwidth figures are the whole chip's, so utilization
    is of every core's array; array idle cycles are the cores' cycles not streaming or filling, cores with no work included."""
    m = Stats.merge(cores)
    stream, fill = m.array_cycles.get("stream", 0), m.array_cycles.get("fill_drain", 0)
    return dataclasses.replace(m, cycles=cycles, macs_per_cycle=cfg.chip_macs_per_cycle, dram_bytes_per_cycle=cfg.chip_dram_bytes_per_cycle,
                               array_cycles=dict(stream=stream, fill_drain=fill, idle=cfg.cores * cycles - stream - fill))

  @property
  def seconds(self) -> float: return cycles_to_seconds(self.cycles, self.clock_mhz)
  @property
  def flops(self) -> int: return 2 * self.macs
  @property
  def dram_bytes(self) -> int: return self.dram_read_bytes + self.dram_write_bytes
  @property
  def peak_flops_per_s(self) -> float: return peak_flops_per_s(self.macs_per_cycle, self.clock_mhz)
  @property
  def achieved_flops_per_s(self) -> float: return self.flops / self.seconds if self.cycles else 0.0
  @property
  def utilization(self) -> float: return self.macs / (self.cycles * self.macs_per_cycle) if self.cycles else 0.0
  @property
  def compute_bound_cycles(self) -> int: return -(-self.macs // self.macs_per_cycle)
  @property
  def dram_bound_cycles(self) -> int: return -(-self.compulsory_dram_bytes // self.dram_bytes_per_cycle)
  @property
  def roofline_bound_cycles(self) -> int: return max(self.compute_bound_cycles, self.dram_bound_cycles)
  @property
  def simulated_cycles_per_s(self) -> float: return self.cycles / self.model_seconds if self.model_seconds else 0.0

  def to_json(self) -> dict:
    """The `--json` keys of a run (docs/model.md), in the order the tables print them."""
    return dict(cycles=self.cycles, seconds=self.seconds, macs=self.macs, array_macs=self.array_macs, flops=self.flops, achieved_flops_per_s=self.achieved_flops_per_s,
                peak_flops_per_s=self.peak_flops_per_s, utilization=self.utilization, roofline_bound_cycles=self.roofline_bound_cycles,
                compute_bound_cycles=self.compute_bound_cycles, dram_bound_cycles=self.dram_bound_cycles,
                dram_read_bytes=self.dram_read_bytes, dram_write_bytes=self.dram_write_bytes, dram_bytes=self.dram_bytes,
                compulsory_dram_bytes=self.compulsory_dram_bytes,
                sram_reads=self.sram_reads, sram_writes=self.sram_writes, busy_cycles=self.busy_cycles, stall_cycles=self.stall_cycles,
                array_cycles=self.array_cycles, instructions=self.instructions,
                model_seconds=self.model_seconds, simulated_cycles_per_s=self.simulated_cycles_per_s)
