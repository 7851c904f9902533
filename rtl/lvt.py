"""A memory with several write ports built from one-write-port memories and a live value table (LVT), so it maps
to FPGA block RAM (yosys maps a memory with two write ports to flip-flops: the tiny preset's 4 KiB accumulator
became 30 k FFs and 90 k LUTs).

Each writer w has its own copy of the data for each reader r (a simple dual-port memory: writer w, reader r);
the LVT, a small memory of log2(writers) bits per line with every write port, remembers which writer wrote each
line last, and reader r takes its data from that writer's copy. Ownership is per line, not per byte: a writer that
writes part of a line owns all of it. That is exact for the accelerator's SRAMs, whose writers each finish the
lines they start before anyone else may read them (the model refuses any program where two queues touch a line
without a token between them, and a DMA row writes every byte of its line, zeros past `line_bytes`).

Drop-in for amaranth.lib.memory.Memory as rtl/sram.py uses it (write_port(granularity), read_port(transparent_for)),
in FPGA builds only (rtl/fpga.FpgaBuild); tests/rtl/test_lvt.py holds it against one multi-port memory.
"""
from amaranth.hdl import Module, Elaboratable
from amaranth.lib.memory import Memory, ReadPort, WritePort
from amaranth.utils import ceil_log2

class LvtMemory(Elaboratable):
  def __init__(self, *, shape, depth: int, init=()):
    self.shape, self.depth, self.aw = shape, depth, max(1, ceil_log2(depth))
    self.writers, self.readers = [], []

  def write_port(self, *, granularity=None):
    p = WritePort.Signature(addr_width=self.aw, shape=self.shape, granularity=granularity).create()
    self.writers.append(p); self.granularity = granularity; return p

  def read_port(self, *, transparent_for=()):
    p = ReadPort.Signature(addr_width=self.aw, shape=self.shape).create()
    self.readers.append((p, [w for w, wp in enumerate(self.writers) if any(wp is t for t in transparent_for)])); return p

  def elaborate(self, platform):
    m = Module()
    W = len(self.writers)
    lvt = m.submodules.lvt = Memory(shape=range(max(2, W)), depth=self.depth, init=[])
    lvt_w = []
    for w, wp in enumerate(self.writers):
      lw = lvt.write_port(); lvt_w.append(lw)
      m.d.comb += [lw.addr.eq(wp.addr), lw.data.eq(w), lw.en.eq(wp.en.any())]
    for r, (rp, transparent) in enumerate(self.readers):
      owner = lvt.read_port(transparent_for=[lvt_w[w] for w in transparent])
      m.d.comb += [owner.addr.eq(rp.addr), owner.en.eq(rp.en)]
      for w, wp in enumerate(self.writers):
        copy = m.submodules[f"w{w}_r{r}"] = Memory(shape=self.shape, depth=self.depth, init=[])
        cw = copy.write_port(granularity=self.granularity)
        cr = copy.read_port(transparent_for=[cw] if w in transparent else [])
        m.d.comb += [cw.addr.eq(wp.addr), cw.data.eq(wp.data), cw.en.eq(wp.en), cr.addr.eq(rp.addr), cr.en.eq(rp.en)]
        with m.If(owner.data == w): m.d.comb += rp.data.eq(cr.data)
    return m
