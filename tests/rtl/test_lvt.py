"""rtl/lvt.py: an SRAM bank with several writers, built as the FPGA build builds it (block-RAM copies and an XOR-coded
live value table per granule), answers every read exactly as one memory with several write ports would: any writer
may write any set of granules of any line, and a line may be part one writer's, part another's (an in-place VECTOR
rewrites a line chunk by chunk). The only rule is the accelerator's: two writers never write one line in the same
cycle. Reader 0 is transparent to writer 0 (the accumulator's read-modify-write), reader 1 to the last writer (the
store queue's port sees the vector unit's write), reader 2 to none."""
import random

from amaranth.hdl import Fragment
from amaranth.sim import Simulator
import pytest

from tinyaccel.rtl.fpga import FpgaBuild
from tinyaccel.rtl.lvt import LvtMemory, copy_bits
from tinyaccel.rtl.sram import Sram

LINES, BANKS = 16, 2

@pytest.mark.parametrize("writers,line_bytes,granule_bytes", [(3, 8, 2), (2, 4, 1)])
def test_multi_writer_bank_reads_like_one_memory(writers, line_bytes, granule_bytes):
  G, transparent = line_bytes // granule_bytes, {0: [0], 1: [writers - 1]}
  dut = Sram(LINES, line_bytes, BANKS, read_groups=[1, 1, 1], writers=writers, transparent=transparent, granule_bytes=granule_bytes)
  assert isinstance(dut.elaborate(FpgaBuild())._named_submodules["bank0"][0], LvtMemory)
  assert not isinstance(dut.elaborate(None)._named_submodules["bank0"][0], LvtMemory)      # simulation builds keep one memory
  frag = Fragment.get(dut, FpgaBuild())
  rng, mem, checked = random.Random(writers), [[0] * line_bytes for _ in range(LINES)], [0]
  async def tb(ctx):
    expect = [None] * 3
    for cyc in range(800):
      lines = rng.sample(range(LINES), writers)     # writers never share a line in one cycle
      writes = []
      for w in range(writers):
        gmask = rng.randrange(1 << G) if rng.random() < 0.6 else 0
        en = sum(((gmask >> g) & 1) << (g * granule_bytes + i) for g in range(G) for i in range(granule_bytes))
        d = [rng.randrange(256) for _ in range(line_bytes)]
        ctx.set(dut.wr[w].addr, lines[w]); ctx.set(dut.wr[w].en, en)
        for i in range(line_bytes): ctx.set(dut.wr[w].data[i], d[i])
        writes.append((lines[w], en, d))
      reads = [rng.randrange(LINES) if rng.random() < 0.8 else None for _ in range(3)]
      for r in range(3): ctx.set(dut.rd[r].addr, reads[r] or 0); ctx.set(dut.rd[r].en, reads[r] is not None)
      for r in range(3):          # last cycle's reads
        if expect[r] is not None:
          assert [ctx.get(dut.rd[r].data[i]) for i in range(line_bytes)] == expect[r], f"cycle {cyc - 1} reader {r}"
          checked[0] += 1
      def written(ws):
        after = [list(l) for l in mem]
        for w in ws:
          line, en, d = writes[w]
          for i in range(line_bytes):
            if en >> i & 1: after[line][i] = d[i]
        return after
      expect = [None if reads[r] is None else written(transparent.get(r, []))[reads[r]] for r in range(3)]
      mem[:] = written(range(writers))
      await ctx.tick()
  sim = Simulator(frag); sim.add_clock(1e-8); sim.add_testbench(tb); sim.run()
  assert checked[0] > 1800

def test_copies_hold_the_codes_in_the_block_rams_spare_bits():
  """A DP16KD row is 36 bits: a scratchpad copy (two writers) of 4 x (byte + 1-bit code) and an accumulator copy (three
  writers) of 4 x (int32 + 2-bit code) take as many block RAMs as their data alone."""
  assert copy_bits(4, 1, 2) == 36 and copy_bits(16, 4, 3) == 136 and copy_bits(8, 1, 3) == 80
