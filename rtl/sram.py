"""A banked on-chip SRAM (scratchpad or accumulator): lines of bytes, one-cycle synchronous reads.

Lines are banked contiguously (bank = line // bank_lines, as in the model). Each requester port sees
the whole address space and is routed to the bank its address selects while its `en` is high. The readers of one *group*
share a single physical port per bank: the array's A and B operands form one group, which is why the
program must keep them in different banks (the model refuses a program that does not). Every other
requester (each DMA lane) is its own group.
"""
from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory, ReadPort, WritePort
from amaranth.lib.wiring import Out
from amaranth.utils import ceil_log2

from .lvt import LvtMemory


def line_layout(line_bytes: int): return data.ArrayLayout(unsigned(8), line_bytes)

def fpga_banks(banks: int, read_groups: list[int]) -> int:
  """Banks an FPGA build makes: one when every reader has its own port (only a shared read group, the array's A and
  B, needs the banks to read two lines at once), since a block RAM's depth is cheap and its width is not (the tiny
  accumulator's 128-line banks would fill a quarter of each DP16KD)."""
  return 1 if all(g == 1 for g in read_groups) else banks

class Sram(wiring.Component):
  def __init__(self, lines: int, line_bytes: int, banks: int, read_groups: list[int], writers: int, granule_bytes: int = 1,
               transparent: dict | None = None):
    """read_groups: the number of readers in each group; `transparent`: {reader: [writers]} whose writes a
    read in the same cycle already returns (the accumulator's read-modify-write, a STORE or VECTOR that
    reads what the VECTOR before it writes in that cycle); `granule_bytes`: the smallest unit any writer writes."""
    self.lines, self.line_bytes, self.banks, self.groups, self.granule_bytes = lines, line_bytes, banks, read_groups, granule_bytes
    self.transparent = transparent or {}
    aw, line = max(1, ceil_log2(lines)), line_layout(line_bytes)
    super().__init__({
      "rd": Out(ReadPort.Signature(addr_width=aw, shape=line)).array(sum(read_groups)),
      "wr": Out(WritePort.Signature(addr_width=aw, shape=line, granularity=1)).array(writers),
    })

  def elaborate(self, platform):
    m = Module()
    fpga = getattr(platform, "lvt_memories", False)
    nbanks = fpga_banks(self.banks, self.groups) if fpga else self.banks
    bank_lines = self.lines // nbanks
    def route(addr):   # (bank-select signals, address inside the bank)
      sel = [(addr >= b * bank_lines) & (addr < (b + 1) * bank_lines) for b in range(nbanks)]
      local = addr
      for b in range(1, nbanks): local = Mux(sel[b], addr - b * bank_lines, local)
      return sel, local[:max(1, ceil_log2(bank_lines))]
    # several writers on an FPGA build: one-write-port copies and a live value table (rtl/lvt.py), which block RAM can hold
    lvt = len(self.wr) > 1 and fpga
    banks = [LvtMemory(shape=line_layout(self.line_bytes), depth=bank_lines, granule_bytes=self.granule_bytes) if lvt else
             Memory(shape=line_layout(self.line_bytes), depth=bank_lines, init=[]) for _ in range(nbanks)]
    for b, mem in enumerate(banks): m.submodules[f"bank{b}"] = mem
    wports = []
    for w, port in enumerate(self.wr):
      sel, local = route(port.addr)
      wports.append([])
      for b, mem in enumerate(banks):
        wp = mem.write_port(granularity=1); wports[w].append(wp)
        m.d.comb += [wp.addr.eq(local), wp.data.eq(port.data), wp.en.eq(Mux(sel[b], port.en, 0))]
    reader = 0
    for size in self.groups:
      group = list(range(reader, reader + size)); reader += size
      routes = [route(self.rd[r].addr) for r in group]
      for b, mem in enumerate(banks):
        tw = [wports[w][b] for r in group for w in self.transparent.get(r, ())]
        rp = mem.read_port(transparent_for=tw)
        addr = 0
        for r, (sel, local) in zip(group, routes): addr = Mux(sel[b] & self.rd[r].en, local, addr)
        m.d.comb += [rp.addr.eq(addr), rp.en.eq(1)]
        for r, (sel, _) in zip(group, routes):   # the bank this reader chose last cycle drives its data
          chose = Signal(name=f"rd{r}_bank{b}"); m.d.sync += chose.eq(sel[b] & self.rd[r].en)
          with m.If(chose): m.d.comb += self.rd[r].data.eq(rp.data)
    return m
