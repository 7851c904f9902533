"""One vector lane (rtl/vector.py `element`) in Amaranth's simulator against arch/vector.py, function by
function: the ROM words, the leading-one normalization, the table interpolation, the saturating and
rounding shifts, on edge values (0, +-1, powers of two, INT32_MIN/MAX) and random ones, every shift."""
from amaranth.hdl import Elaboratable, Module, Signal, signed
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator
import numpy as np

from tinyaccel.arch import vector as V
from tinyaccel.arch.isa import VecOp
from tinyaccel.rtl.vector import GELU_BASE, ROM_INIT, RSQRT_ODD_BASE, TABLES, element

LANEWISE = [op for op in VecOp if op not in (VecOp.RSUM, VecOp.RMAX, VecOp.LSUM, VecOp.LMAX)]

class Lane(Elaboratable):
  def __init__(self):
    self.funct, self.shift, self.imm = Signal(5), Signal(6), Signal(signed(32))
    self.s1, self.s2, self.d, self.out, self.out8 = Signal(signed(32)), Signal(signed(32)), Signal(signed(32)), Signal(signed(32)), Signal(signed(8))
  def elaborate(self, platform):
    m = Module()
    rom = m.submodules.rom = Memory(shape=64, depth=len(ROM_INIT), init=ROM_INIT)
    # combinational: no stage registers, an asynchronous ROM (the unit's stages are held to the model by the co-simulation)
    # no reduction, no ReLU: the value as the accumulator (int32) and the scratchpad (int8, saturated) store it
    w = element(m, rom.read_port(domain="comb"), self.funct, self.s1, self.s2, self.d, 0, self.shift, 0, 0, "lane", lambda values: values,
                imm=self.imm)
    m.d.comb += [self.out.eq(w["acc"].as_signed()), self.out8.eq(w["spad"].as_signed())]
    return m

def test_rom_words_are_the_tables():
  words = np.array(ROM_INIT, np.uint64)
  value, step = (words & 0xFFFFFFFF).astype(np.uint32).view(np.int32), (words >> 32).astype(np.uint32).view(np.int32)
  at = np.cumsum([0] + [len(t) - 1 for t in TABLES])                 # EXP2, LOG2, RECIP, RSQRT: 256 words each; GELU: 512; RSQRT odd: 256
  assert at.tolist() == [0, 256, 512, 768, GELU_BASE, RSQRT_ODD_BASE, 1792] and len(words) == at[-1]
  for t, lo, hi in zip(TABLES, at, at[1:]): assert np.array_equal(value[lo:hi], t[:-1]) and np.array_equal(step[lo:hi], np.diff(t))

def test_lane_functions_match_the_model():
  rng = np.random.default_rng(0)
  edge = [0, 1, -1, 2, -2, 127, -128, 1 << 30, -(1 << 30), (1 << 31) - 1, -(1 << 31), 3 << 20, -(3 << 20), 1 << 11]   # 2^11 << 20: INT32_MIN
  cases = []
  for op in LANEWISE:
    for i in range(48):
      s1 = edge[i] if i < len(edge) else int(rng.integers(-(1 << 31), 1 << 31) >> int(rng.integers(0, 31)))
      s2 = edge[(i * 5) % len(edge)] if i < len(edge) else int(rng.integers(-(1 << 31), 1 << 31))
      imm = edge[(i * 7) % len(edge)] if i < len(edge) else int(rng.integers(-(1 << 31), 1 << 31))   # ADDRS's multiplier
      cases.append((op, s1, s2, int(rng.integers(-2, 3)), int(rng.integers(0, 32)) if i % 4 else (0, 16, 30, 31)[i // 4 % 4], imm))
  for i in range(96):     # GELU inside its table (|x| < 8 · 2^shift) and around its end, at every shift
    sh = i % 32; lim = min(9 << sh, 1 << 31)
    cases.append((VecOp.GELU, int(rng.integers(-lim, lim)) if i % 3 else (8 << sh) - (i % 2) if sh < 28 else -(1 << 31), 0, 0, sh, 0))
  dut, got = Lane(), []
  async def tb(ctx):
    for op, s1, s2, d, sh, imm in cases:
      ctx.set(dut.funct, op.value); ctx.set(dut.s1, s1); ctx.set(dut.s2, s2); ctx.set(dut.d, d); ctx.set(dut.shift, sh); ctx.set(dut.imm, imm)
      got.append((ctx.get(dut.out), ctx.get(dut.out8)))
  sim = Simulator(dut); sim.add_testbench(tb); sim.run()
  for (op, s1, s2, d, sh, imm), (g, g8) in zip(cases, got):
    want = int(V.apply(op, np.array([s1], np.int64), np.array([s2], np.int64), np.array([d], np.int64), imm, sh, np.zeros(1, np.int64))[0])   # BIASRQ's bias is added before the lane
    assert g == want, f"{op.name}(s1={s1}, s2={s2}, d={d}, shift={sh}): RTL {g}, model {want}"
    assert g8 == min(max(want, V.I8_MIN), V.I8_MAX), f"{op.name}(s1={s1}, s2={s2}, d={d}, shift={sh}): RTL int8 {g8}, model {want}"
