"""The multi-core chip's top level (docs/rtl.md "The chip top"): `cores` copies of the core top (rtl/top.py), each
channel's DRAM port shared by its `cores_per_channel` cores under the arbitration of docs/timing.md, and the kernel
barrier. Built from AccelConfig alone; its timing comes from arch/timing.py.

- **Arbiter** (one per channel): in a cycle no core of the channel has its DMA address stage busy, it grants the port
  to one core with a DMA head ready: a store if any core has one, else a load, round-robin over the cores starting
  after the one granted last (arch/timing.port_rank). The granted core issues its DMA that very cycle, so a DMA's
  start is the model's `max(ready, port free)` with the model's tie-break.
- **Bus**: only the granted core's bus stage drives the channel (beats of two DMAs never share a cycle: the next grant
  comes with the previous DMA's last beat's address stage over). `req_core` names the core, so core c's DRAM image is
  region c of the channel (the high address bits); the memory echoes it with the response (`resp_core`), which goes to
  that core alone.
- **Barrier**: the cores' `done` flags (high from the cycle of a core's last completion) are AND-ed up a binary tree of
  registers, one level a cycle, and the root's release goes down the same tree, so every core sees the release (`released`) exactly
  arch/timing.barrier_cycles after the last core's last completion: the cycle the next kernel's cycle 0 would be.
"""
from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..arch import timing as T
from ..arch.config import AccelConfig
from ..arch.isa import INSTR_BITS, Queue
from .dma import dram_signature
from .top import DEFAULT_IMEM_DEPTH, END_QUEUES, Accelerator


def bits(n: int) -> int: return max(1, ceil_log2(n))

def channel_signature(cfg: AccelConfig, id_bits: int) -> wiring.Signature:
  """A channel's DRAM port: a core's port (rtl/dma.py) plus the core of the beat, echoed with its response."""
  core = dram_signature(cfg, id_bits).members
  return wiring.Signature({**{k: core[k] for k in core}, "req_core": Out(bits(cfg.cores_per_channel)), "resp_core": In(bits(cfg.cores_per_channel))})

def barrier_levels(cfg: AccelConfig) -> int:
  """Levels of the done/release tree: arch/timing.barrier_cycles is two passes over them, one register a level."""
  levels = ceil_log2(cfg.cores) if cfg.cores > 1 else 0
  assert 2 * levels == T.barrier_cycles(cfg), "the barrier tree no longer matches arch/timing.barrier_cycles"
  return levels

class Chip(wiring.Component):
  """Ports (docs/rtl.md): as the core top's, with `prog_core` choosing the core the host writes, per-core trace and
  error ports, one DRAM port per channel, and `released` (the barrier) instead of `idle`."""
  def __init__(self, cfg: AccelConfig, imem_depth: int = DEFAULT_IMEM_DEPTH):
    self.cfg, self.imem_depth = cfg, imem_depth
    self.cores = [Accelerator(cfg, imem_depth, shared_port=True) for _ in range(cfg.cores)]
    idw, n = self.cores[0].id_bits, cfg.cores
    super().__init__({
      "prog_we": In(1), "prog_core": In(bits(n)), "prog_queue": In(Shape.cast(Queue).width), "prog_addr": In(idw), "prog_data": In(INSTR_BITS),
      "start": In(1), "running": Out(1), "released": Out(1), "error": Out(n),
      "dram": Out(channel_signature(cfg, idw)).array(cfg.dram_channels),
      "t_start": Out(len(Queue)).array(n), "t_start_id": Out(data.ArrayLayout(idw, len(Queue))).array(n),
      "t_end": Out(len(END_QUEUES)).array(n), "t_end_id": Out(data.ArrayLayout(idw, len(END_QUEUES))).array(n),
    })

  def elaborate(self, platform):
    m, cfg, g = Module(), self.cfg, self.cfg.cores_per_channel
    for c, core in enumerate(self.cores):
      m.submodules[f"core{c}"] = core
      m.d.comb += [core.prog_we.eq(self.prog_we & (self.prog_core == c)), core.prog_queue.eq(self.prog_queue), core.prog_addr.eq(self.prog_addr),
                   core.prog_data.eq(self.prog_data), core.start.eq(self.start), self.error[c].eq(core.error),
                   self.t_start[c].eq(core.t_start), self.t_start_id[c].eq(core.t_start_id), self.t_end[c].eq(core.t_end), self.t_end_id[c].eq(core.t_end_id)]
    m.d.comb += self.running.eq(self.cores[0].running)
    for ch in range(cfg.dram_channels): self.channel(m, ch, self.cores[ch * g:(ch + 1) * g], self.dram[ch])
    self.barrier(m)
    return m

  def channel(self, m: Module, ch: int, cores: list, port):
    """The channel's arbiter, bus multiplexer and response routing."""
    g = len(cores)
    last = Signal(range(g), init=g - 1, name=f"ch{ch}_last")   # as the model: core 0 first after reset
    free = ~Cat(c.port_busy for c in cores).any()
    stores = Cat(c.port_req_store for c in cores)
    reqs = Mux(stores.any(), stores, Cat(c.port_req_load for c in cores))
    grant = Signal(g, name=f"ch{ch}_grant")
    with m.Switch(last):
      for lst in range(g):
        with m.Case(lst):
          order = [(lst + 1 + j) % g for j in range(g)]   # arch/timing.port_rank 0, 1, ...
          taken = Const(0, 1)
          for c in order:
            m.d.comb += grant[c].eq(free & reqs[c] & ~taken); taken = taken | reqs[c]
    for c, core in enumerate(cores): m.d.comb += core.port_grant.eq(grant[c])
    for c in range(g):
      with m.If(grant[c]): m.d.sync += last.eq(c)
    # bus: the one core whose beat is valid drives the channel
    members = [k for k in port.signature.members if k.startswith("req_") and k != "req_core"]
    for k in members:
      v = Const(0, len(Value.cast(getattr(port, k))))
      for c in reversed(range(g)): v = Mux(cores[c].dram.req_valid, Value.cast(getattr(cores[c].dram, k)), v)
      m.d.comb += getattr(port, k).eq(v)
    core_id = Const(0, len(port.req_core))
    for c in reversed(range(g)): core_id = Mux(cores[c].dram.req_valid, c, core_id)
    m.d.comb += port.req_core.eq(core_id)
    for c, core in enumerate(cores):
      m.d.comb += [core.dram.resp_valid.eq(port.resp_valid & (port.resp_core == c)), core.dram.resp_write.eq(port.resp_write),
                   core.dram.resp_rdata.eq(port.resp_rdata), core.dram.resp_tag.eq(port.resp_tag)]

  def barrier(self, m: Module):
    """Done flags up a tree of AND registers, the release down it: 2 x levels cycles from the last done to `release`."""
    levels = barrier_levels(self.cfg)
    nodes = [c.done for c in self.cores] + [Const(1, 1)] * ((1 << levels) - len(self.cores))
    for lvl in range(levels):
      up = [Signal(name=f"bar_up{lvl + 1}_{i}") for i in range(len(nodes) // 2)]
      m.d.sync += [u.eq(nodes[2 * i] & nodes[2 * i + 1]) for i, u in enumerate(up)]
      nodes = up
    rel = nodes   # the root
    for lvl in reversed(range(levels)):
      down = [Signal(name=f"bar_down{lvl}_{i}") for i in range(2 * len(rel))]
      m.d.sync += [d.eq(rel[i // 2]) for i, d in enumerate(down)]
      rel = down
    m.d.comb += self.released.eq(Cat(rel[:len(self.cores)]).all())
