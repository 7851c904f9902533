"""rtl/lvt.py: a two-writer SRAM bank built as the FPGA build builds it (LVT memory) answers every read exactly as one
memory with two write ports would, under the accelerator's usage: the MATMUL write-back writes whole lines, a DMA
writes a line chunk by chunk on consecutive cycles, and nobody reads a line a DMA has only partly written. Reader 0
is transparent to writer 0 (the accumulator's read-modify-write), reader 1 is not."""
import random
from amaranth.hdl import Fragment
from amaranth.sim import Simulator
from tinyaccel.rtl.sram import Sram
from tinyaccel.rtl.fpga import FpgaBuild
from tinyaccel.rtl.lvt import LvtMemory

LINES, LB, BANKS = 16, 4, 2

def test_two_writer_bank_reads_like_one_memory():
  dut = Sram(LINES, LB, BANKS, read_groups=[1, 1], writers=2, transparent={0: [0]})
  assert isinstance(dut.elaborate(FpgaBuild())._named_submodules["bank0"][0], LvtMemory)
  assert not isinstance(dut.elaborate(None)._named_submodules["bank0"][0], LvtMemory)      # simulation builds keep one memory
  frag = Fragment.get(dut, FpgaBuild())
  rng, mem, checked = random.Random(5), [[0] * LB for _ in range(LINES)], [0]
  async def tb(ctx):
    pending = None                                  # the DMA's line in progress: (line, next chunk)
    expect = [None, None]
    for cyc in range(600):
      # writer 0: a whole line, sometimes
      w0 = rng.randrange(LINES) if rng.random() < 0.5 else None
      # writer 1: two 2-byte chunks of one line on consecutive cycles
      if pending is None and rng.random() < 0.4: pending = (rng.choice([l for l in range(LINES) if l != w0]), 0)
      if pending and pending[0] == w0: w0 = None
      busy = {pending[0]} if pending else set()
      reads = [rng.choice([l for l in range(LINES) if l not in busy]) if rng.random() < 0.8 else None for _ in range(2)]
      d0, d1 = [rng.randrange(256) for _ in range(LB)], [rng.randrange(256) for _ in range(LB)]
      ctx.set(dut.wr[0].addr, w0 or 0); ctx.set(dut.wr[0].en, 0b1111 if w0 is not None else 0)
      for i in range(LB): ctx.set(dut.wr[0].data[i], d0[i]); ctx.set(dut.wr[1].data[i], d1[i])
      if pending: ctx.set(dut.wr[1].addr, pending[0]); ctx.set(dut.wr[1].en, 0b0011 << (2 * pending[1]))
      else: ctx.set(dut.wr[1].en, 0)
      for r in range(2): ctx.set(dut.rd[r].addr, reads[r] or 0); ctx.set(dut.rd[r].en, reads[r] is not None)
      # reads of last cycle
      for r in range(2):
        if expect[r] is not None:
          assert [ctx.get(dut.rd[r].data[i]) for i in range(LB)] == expect[r], f"cycle {cyc} reader {r}"
          checked[0] += 1
      # this cycle's expected reads: reader 0 sees writer 0's write of this cycle, reader 1 the old line
      if w0 is not None: new0 = list(d0)
      expect = [None, None]
      if reads[1] is not None: expect[1] = list(mem[reads[1]])
      if w0 is not None: mem[w0] = new0
      if reads[0] is not None: expect[0] = list(mem[reads[0]])
      if pending:
        line, k = pending
        for i in range(2 * k, 2 * k + 2): mem[line][i] = d1[i]
        pending = (line, 1) if k == 0 else None
      await ctx.tick()
  sim = Simulator(frag); sim.add_clock(1e-8); sim.add_testbench(tb); sim.run()
  assert checked[0] > 800
