"""A memory with several write ports built from one-write-port block RAMs, so it maps to FPGA block RAM (yosys maps
a memory with two write ports to flip-flops: the tiny preset's 4 KiB accumulator became 30 k FFs and 90 k LUTs).

Each writer w has its own copy of the data for each reader r (a simple dual-port memory: writer w, reader r). Which
copy holds the live value is tracked per *granule*, the smallest unit a writer writes (a scratchpad byte, an
accumulator int32: the vector unit writes one element per lane), since a line may be part one writer's and part
another's: a VECTOR that works in place rewrites a line chunk by chunk and reads its later chunks in between.

The live value table is XOR-coded (LaForest and Steffan's XOR multi-ported memory, applied to the table) and kept
next to the data, in the block RAMs' spare bits (a DP16KD row is 36 bits: 4 x (byte + 1 bit), or 4 x (int32 + 2)
bits): with every granule a writer writes a code of log2(writers) bits, its own number XOR the other writers'
current codes of that granule, so the XOR of all writers' codes names the last writer. A reader reads every
writer's copy (data and code) and takes each granule from the copy the codes name. A writer looks the other
writers' codes up in small LUT-RAM tables (asynchronous reads at its own address), so no write address is needed a
cycle early; a LUT RAM has one write enable per 4 bits, so each writer writes its whole row of codes (new where it
writes, its current codes, from a table of its own, elsewhere): W x W tables for W writers. The flip-flop table this
replaces took 1,000 to 3,000 LUTs per bank for its decoders and 512-way read multiplexers.

Two writers never write one granule in the same cycle (the model refuses any program where two queues touch a
line without a token between them), and a writer writes whole granules (a DMA row writes every byte of its line).

Drop-in for amaranth.lib.memory.Memory as rtl/sram.py uses it (write_port(granularity), read_port(transparent_for)),
in FPGA builds only (rtl/fpga.FpgaBuild); tests/rtl/test_lvt.py holds it against one multi-port memory.
"""
from amaranth.hdl import Cat, Elaboratable, Module, Mux, unsigned
from amaranth.lib import data
from amaranth.lib.memory import Memory, ReadPort, WritePort
from amaranth.utils import ceil_log2


def code_bits(writers: int) -> int: return max(1, ceil_log2(writers))

def copy_bits(line_bytes: int, granule_bytes: int, writers: int) -> int:
  """Width of one writer's copy for one reader: each granule's data and its writer's code."""
  return line_bytes // granule_bytes * (8 * granule_bytes + code_bits(writers))

class LvtMemory(Elaboratable):
  def __init__(self, *, shape: data.ArrayLayout, depth: int, granule_bytes: int = 1, init=()):
    """shape: a line of bytes (rtl/sram.line_layout); granule_bytes must divide it."""
    self.shape, self.depth, self.aw, self.granule_bytes = shape, depth, max(1, ceil_log2(depth)), granule_bytes
    self.granules = shape.length // granule_bytes
    assert self.granules * granule_bytes == shape.length, (shape, granule_bytes)
    self.writers, self.readers = [], []

  def write_port(self, *, granularity=None):
    p = WritePort.Signature(addr_width=self.aw, shape=self.shape, granularity=granularity).create()
    self.writers.append(p); return p

  def read_port(self, *, transparent_for=()):
    p = ReadPort.Signature(addr_width=self.aw, shape=self.shape).create()
    self.readers.append((p, [w for w, wp in enumerate(self.writers) if any(wp is t for t in transparent_for)])); return p

  def elaborate(self, platform):
    m = Module()
    W, G, gb = len(self.writers), self.granules, self.granule_bytes
    codes_layout = data.ArrayLayout(unsigned(code_bits(W)), G)
    granule = data.StructLayout({"data": unsigned(8 * gb), "code": unsigned(code_bits(W))})
    # each writer's granule enables (a granule's first byte stands for it) and the code it writes with them
    gen = [Cat(wp.en[g * gb] for g in range(G)) for wp in self.writers]
    codes = [data.Signal(codes_layout, name=f"code{w}") for w in range(W)]      # the codes writer w writes this cycle
    # LUT-RAM code tables, written a whole row at a time (a DPR16X4 has one write enable for its 4 bits): writer v's
    # row is its new code where it writes and its current code elsewhere, which its own table holds
    def table(v, at, name):
      t = m.submodules[name] = Memory(shape=codes_layout, depth=self.depth, init=[])
      tw, tr = t.write_port(), t.read_port(domain="comb")
      m.d.comb += [tw.addr.eq(self.writers[v].addr), tw.data.eq(rows[v]), tw.en.eq(gen[v].any()), tr.addr.eq(self.writers[at].addr)]
      return tr.data
    rows = [data.Signal(codes_layout, name=f"row{v}") for v in range(W)]
    for v in range(W):
      own = table(v, v, f"codes{v}")
      m.d.comb += [rows[v][g].eq(Mux(gen[v][g], codes[v][g], own[g])) for g in range(G)]
    for w in range(W):
      others = [table(v, w, f"codes{v}_at{w}") for v in range(W) if v != w]
      for g in range(G):
        x = w
        for o in others: x = x ^ o[g]
        m.d.comb += codes[w][g].eq(x)
    row = data.ArrayLayout(granule, G)
    for r, (rp, transparent) in enumerate(self.readers):
      words = []                                    # words[w][g]: granule g of writer w's copy, as this reader reads it
      for w, wp in enumerate(self.writers):
        copy = m.submodules[f"w{w}_r{r}"] = Memory(shape=row, depth=self.depth, init=[])
        cw = copy.write_port(granularity=1)
        cr = copy.read_port(transparent_for=[cw] if w in transparent else [])
        m.d.comb += [cw.addr.eq(wp.addr), cw.en.eq(gen[w]), cr.addr.eq(rp.addr), cr.en.eq(rp.en)]
        m.d.comb += [cw.data[g].data.eq(wp.data.as_value()[8 * gb * g:8 * gb * (g + 1)]) for g in range(G)]
        m.d.comb += [cw.data[g].code.eq(codes[w][g]) for g in range(G)]
        words.append(cr.data)
      for g in range(G):
        owner = words[0][g].code
        for w in range(1, W): owner = owner ^ words[w][g].code
        out = words[0][g].data
        for w in range(1, W): out = Mux(owner == w, words[w][g].data, out)
        m.d.comb += rp.data.as_value()[8 * gb * g:8 * gb * (g + 1)].eq(out)
    return m
