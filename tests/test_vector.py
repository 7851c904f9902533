"""The vector unit: bit-exact functions (against plain-integer references), saturation, operand
modes, and its timing rule: ceil(cols / lanes) chunks per row, each read in one cycle per operand line of
its busiest memory (one store-queue port per SRAM), then VECTOR_STAGES - 1 cycles to the last write, + VECTOR_TAIL."""
from hypothesis import given, settings
from hypothesis import strategies as st
import numpy as np
import pytest

from tinyaccel.arch import vector as V
from tinyaccel.arch.config import load_config
from tinyaccel.arch.isa import VecOp, asm
from tinyaccel.arch.timing import VECTOR_STAGES
from tinyaccel.sim.model import Machine, ProgramError, run

DRAIN = VECTOR_STAGES - 1     # the store queue waits for a VECTOR's last write

def srdhm_ref(a, b):   # gemmlowp SaturatingRoundingDoublingHighMul, in Python integers
  if a == b == -2 ** 31: return 2 ** 31 - 1
  ab = a * b; nudge = 2 ** 30 if ab >= 0 else 1 - 2 ** 30
  return int((ab + nudge) / 2 ** 31) if abs(ab + nudge) < 2 ** 52 else (abs(ab + nudge) >> 31) * (1 if ab + nudge >= 0 else -1)

def rdbp_ref(x, e):    # gemmlowp RoundingDivideByPOT
  mask = (1 << e) - 1; rem = x & mask; thr = (mask >> 1) + (1 if x < 0 else 0)
  return (x >> e) + (1 if rem > thr else 0)

I32 = st.integers(-2 ** 31, 2 ** 31 - 1)

@settings(max_examples=300, deadline=None)
@given(a=I32, b=I32, e=st.integers(0, 31))
def test_requant_matches_gemmlowp(a, b, e):
  assert int(V.srdhm(np.array([a]), b)[0]) == srdhm_ref(a, b)
  assert int(V.rounding_shift_right(np.array([a]), e)[0]) == rdbp_ref(a, e)
  assert int(V.apply(VecOp.REQUANT, np.array([a]), np.int64(b), None, b, e)[0]) == rdbp_ref(srdhm_ref(a, b), e)

def test_per_channel_requant_in_a_gemm():
  from tinyaccel.compiler.gemm import Epilogue, compile_gemm
  cfg = load_config("tiny"); n = 11
  mult, shift = V.quantize_multipliers(np.linspace(1e-4, 9e-4, n))
  assert shift == V.quantize_multiplier(9e-4)[1] and mult.max() < 2 ** 31
  c = compile_gemm(cfg, 9, 40, n, epilogue=Epilogue(np.arange(n, dtype=np.int32) * 7, True, (mult, shift)))
  mach = Machine(cfg, c.dram.copy()); run(cfg, c.program, machine=mach)
  assert np.array_equal(c.read(mach.dram), c.reference()) and "multiplier" in c.tensors

def test_quantize_multiplier():
  for real in (0.5, 0.3, 1e-3, 0.999999):
    q, s = V.quantize_multiplier(real)
    assert 2 ** 30 <= q < 2 ** 31 and abs(q / 2 ** 31 / 2 ** s - real) < 1e-9
  with pytest.raises(ValueError): V.quantize_multiplier(1.5)

def machine_with(cfg, acc_rows):
  m = Machine(cfg, dram_bytes=64)
  m.acc[:len(acc_rows)] = np.array(acc_rows, np.int32)
  return m

def test_functions_on_the_model():
  cfg = load_config("tiny", vector_lanes=4)   # one chunk per line
  a = [[1, -2, 2 ** 31 - 1, 100], [5, 6, -7, 300]]
  b = [[3, 4, 1, -100], [-5, 6, 7, 8]]
  m = machine_with(cfg, a + b)
  prog = asm("""
    vector funct=add dst_mem=acc dst_addr=10 src1_mem=acc src1_addr=0 src2_mem=acc src2_addr=2 rows=2
    vector funct=max dst_mem=acc dst_addr=12 src1_mem=acc src1_addr=0 src2_mem=acc src2_addr=2 src2_bcast=1 rows=2
    vector funct=mul dst_mem=acc dst_addr=14 src1_mem=acc src1_addr=0 imm=-3 src2_imm=1 rows=2
    vector funct=copy dst_mem=spad dst_addr=0 src1_mem=acc src1_addr=0 rows=2
    vector funct=rsum dst_mem=acc dst_addr=16 src1_mem=acc src1_addr=0 rows=4
    vector funct=srar dst_mem=acc dst_addr=17 src1_mem=acc src1_addr=1 shift=2 rows=1
    vector funct=cmplt dst_mem=acc dst_addr=18 src1_mem=acc src1_addr=0 src2_mem=acc src2_addr=2 rows=1
    vector funct=select dst_mem=acc dst_addr=18 src1_mem=acc src1_addr=0 src2_mem=acc src2_addr=2 rows=1
  """)
  res = run(cfg, prog, machine=m)
  A, B = np.array(a, np.int64), np.array(b, np.int64)
  assert m.acc[10:12].tolist() == (A + B).astype(np.int32).tolist()                 # wraps: 2^31-1 + 1
  assert m.acc[12:14].tolist() == np.maximum(A, B[0]).tolist()                         # src2 line 0 broadcast
  assert m.acc[14:16].tolist() == (A * -3).astype(np.int32).tolist()                   # immediate, sign-extended
  assert m.spad[0:2, :4].tolist() == np.clip(A, -128, 127).tolist()                    # int8 destination saturates
  assert m.acc[16].tolist() == np.concatenate([A, B]).sum(0).astype(np.int32).tolist()
  assert m.acc[17].tolist() == [1, 2, -2, 75]                                          # 5/4, 6/4, -7/4, 300/4 rounded
  assert m.acc[18].tolist() == np.where(A[0] < B[0], A[0], B[0]).tolist()             # cmplt then select
  # timing, back to back on the store queue: one chunk per row, in as many cycles as the accumulator has lines to
  # read for it (add: src1 and src2, 2 cycles; the broadcast max reads src2 in row 0 only; select also reads dst),
  # then the drain to its last write, + 1
  steps = [n + DRAIN for n in (2 * 2, 2 + 1, 2, 2, 4, 1, 2, 3)]
  start = np.concatenate([[0], np.cumsum(steps)[:-1]])
  assert [(s, e) for _, _, _, s, e in res.trace] == [(s, s + n + 1) for s, n in zip(start.tolist(), steps)]

def test_lanes_timing_and_errors():
  cfg = load_config("tiny", vector_lanes=3)       # 4 columns on 3 lanes: 2 cycles per line
  res = run(cfg, asm("vector funct=copy dst_mem=acc dst_addr=0 src1_mem=acc src1_addr=8 rows=5"), machine=Machine(cfg, dram_bytes=64))
  assert res.trace[0][3:] == (0, 5 * 2 + DRAIN + 1)
  # src1 in the accumulator and src2 in the scratchpad are read in the same cycle; two accumulator lines take two
  two = asm("vector funct=add dst_mem=acc dst_addr=0 src1_mem=acc src1_addr=8 src2_mem=spad src2_addr=0 rows=3\n"
            "vector funct=add dst_mem=spad dst_addr=0 src1_mem=acc src1_addr=8 src2_mem=acc src2_addr=0 rows=3")
  assert [t[3:] for t in run(cfg, two, machine=Machine(cfg, dram_bytes=64)).trace] == [(0, 3 * 2 + DRAIN + 1), (6 + DRAIN, 6 + DRAIN + 3 * 2 * 2 + DRAIN + 1)]
  # a table function reads its ROM in a compute stage: one step a chunk, more when its operands need them
  table = asm("vector funct=exp2 dst_mem=acc dst_addr=0 src1_mem=acc src1_addr=8 rows=3 shift=4\n"
              "vector funct=rsqrt dst_mem=spad dst_addr=0 src1_mem=spad src1_addr=8 src2_mem=acc src2_addr=0 rows=1")
  assert [t[3:] for t in run(cfg, table, machine=Machine(cfg, dram_bytes=64)).trace] == [(0, 3 * 2 + DRAIN + 1), (6 + DRAIN, 6 + DRAIN + 2 + DRAIN + 1)]
  with pytest.raises(ProgramError, match="dst acc lines 250..259 exceed"):
    run(cfg, asm("vector funct=copy dst_mem=acc dst_addr=250 src1_mem=acc src1_addr=0 rows=10"), machine=Machine(cfg, dram_bytes=64))
  with pytest.raises(ProgramError, match="race"):     # a vector op reading acc lines a MATMUL is still writing
    run(cfg, asm("matmul a_addr=0 b_addr=512 c_addr=0 m=4 k=4 n=4\nvector funct=copy dst_mem=spad dst_addr=0 src1_mem=acc src1_addr=0 rows=4"), machine=Machine(cfg, dram_bytes=64))

@pytest.mark.parametrize("shift", [8, 16, 24])
def test_transcendental_approximations(shift):
  rng = np.random.default_rng(shift)
  x = -rng.integers(0, 20 << shift, 20000)
  assert np.abs(V.exp2_q30(x, shift) / 2 ** 30 - 2.0 ** (x / 2 ** shift)).max() < 2e-6
  x = rng.integers(1, 1 << 30, 20000)
  assert np.abs(V.log2_q16(x, shift) / 2 ** 16 - np.log2(x / 2 ** shift)).max() < 3e-5
  for fn, ref in ((V.recip_q16, 2 ** 16 / (x / 2 ** shift)), (V.rsqrt_q16, 2 ** 16 / np.sqrt(x / 2 ** shift))):
    y, ok = fn(x, shift), ref < 2 ** 31 - 1
    # within one Q16 LSB, or 1e-4 relative (the table and its interpolation) for large results
    assert (np.abs(y[ok] - ref[ok]) <= np.maximum(1.0, 1e-4 * ref[ok])).all()
    assert (y[~ok] == 2 ** 31 - 1).all()                        # saturates
  x = rng.integers(-(10 << shift), 10 << shift, 20000); u = x / 2 ** shift      # GELU's factor Phi = sigmoid(2z), past its table too
  assert np.abs(V.gelu_q31(x, shift) / 2 ** 31 - 0.5 * (1 + np.tanh(np.sqrt(2 / np.pi) * (u + 0.044715 * u ** 3)))).max() < 8e-6
  assert V.gelu_q31(np.array([0, 8 << shift, -(8 << shift), -(1 << 31)]), shift).tolist() == [2 ** 30, 2 ** 31 - 1, 0, 0]
  assert V.exp2_q30(np.array([0, 1 << shift, -(40 << shift)]), shift).tolist() == [2 ** 30, 2 ** 30, 0]
  assert V.log2_q16(np.array([1 << shift, 0]), shift).tolist() == [0, -2 ** 31] and V.recip_q16(np.array([1 << shift]), shift).tolist() == [2 ** 16]

def test_transcendentals_on_the_model():
  cfg = load_config("tiny")
  m = machine_with(cfg, [[-(1 << 16), -(3 << 15), 0, 1 << 14], [1 << 16, 3 << 16, 5, 1 << 20]])
  run(cfg, asm("""
    vector funct=exp2 dst_mem=acc dst_addr=8 src1_mem=acc src1_addr=0 rows=1 shift=16
    vector funct=log2 dst_mem=acc dst_addr=9 src1_mem=acc src1_addr=1 rows=1 shift=16
    vector funct=recip dst_mem=acc dst_addr=10 src1_mem=acc src1_addr=1 rows=1 shift=16
    vector funct=rsqrt dst_mem=acc dst_addr=11 src1_mem=acc src1_addr=1 rows=1 shift=16
    vector funct=gelu dst_mem=acc dst_addr=12 src1_mem=acc src1_addr=0 rows=1 shift=16"""), machine=m)
  a0, a1 = m.acc[0].astype(np.int64), m.acc[1].astype(np.int64)
  assert m.acc[8].tolist() == V.exp2_q30(a0, 16).tolist() and m.acc[8, 0] == 2 ** 29        # 2^-1 in Q1.30
  assert m.acc[9].tolist() == V.log2_q16(a1, 16).tolist() and m.acc[9, 0] == 0 and m.acc[9, 3] == 4 << 16
  assert m.acc[10].tolist() == V.recip_q16(a1, 16).tolist() and m.acc[11, 0] == 1 << 16
  assert m.acc[12].tolist() == V.gelu_q31(a0, 16).tolist() and m.acc[12, 2] == 2 ** 30                   # Phi(0) = 1/2 in Q0.31

def test_destination_inside_a_later_source_row_is_refused():
  # the unit reads row r+1 after it wrote row r: dst may start at or below a source, or past its end, never inside it
  cfg = load_config("tiny")
  vec = lambda dst, src, funct="add", more="": asm(f"vector funct={funct} dst_mem=acc dst_addr={dst} src1_mem=acc src1_addr={src} src2_mem=acc src2_addr=0 rows=4 src2_imm=1 {more}")
  for dst, src in ((8, 8), (7, 8), (12, 8), (0, 8)): run(cfg, vec(dst, src), machine=Machine(cfg, dram_bytes=64))
  with pytest.raises(ProgramError, match="overwrite src1 lines 8..11 before they are read"): run(cfg, vec(9, 8), machine=Machine(cfg, dram_bytes=64))
  with pytest.raises(ProgramError, match="overwrite src2 lines 8..11"): run(cfg, asm("vector funct=sub dst_mem=acc dst_addr=11 src1_mem=acc src1_addr=20 src2_mem=acc src2_addr=8 rows=4"), machine=Machine(cfg, dram_bytes=64))
  run(cfg, vec(9, 8, "rsum"), machine=Machine(cfg, dram_bytes=64))                                   # one destination line, written last
  run(cfg, asm("vector funct=add dst_mem=acc dst_addr=0 src1_mem=acc src1_addr=4 src2_mem=acc src2_addr=1 rows=4 src2_bcast=1"), machine=Machine(cfg, dram_bytes=64))   # a broadcast line is held

def test_relu_after_requant_equals_relu_before():
  """The compiler fuses a ReLU into REQUANT's `relu` flag (max after): the same as max before, bit for bit."""
  from tinyaccel.arch import vector as V
  rng = np.random.default_rng(0)
  x = np.concatenate([rng.integers(-2 ** 31, 2 ** 31, 20000), np.arange(-300, 300), [-2 ** 31, 2 ** 31 - 1]]).astype(np.int64)
  for m in (1 << 30, 1_234_567_890, 2 ** 31 - 1, 1):
    for shift in (0, 1, 7, 20, 31):
      req = lambda v: V.rounding_shift_right(V.srdhm(v, m), shift)
      assert np.array_equal(np.maximum(req(x), 0), req(np.maximum(x, 0)))

@settings(max_examples=300, deadline=None)
@given(x=st.lists(st.integers(-128, 127), min_size=1, max_size=16), a=I32, b=I32, e=st.integers(0, 31), seed=st.integers(0, 2 ** 16))
def test_rescale_and_addrs_are_the_unfused_tflite_add(x, a, b, e, seed):
  """RESCALE = SHL by PRESHIFT then REQUANT; ADDRS = ADD of src1 and src2 so rescaled (wrapping): bit for bit, on int8
  operands (the TFLite ADD's) and on any int32 (the shift wraps)."""
  for v in (np.array(x, np.int64), np.random.default_rng(seed).integers(-2 ** 31, 2 ** 31, len(x))):
    sq = V.apply(VecOp.REQUANT, V.apply(VecOp.SHL, v, None, None, 0, V.PRESHIFT), np.int64(b), None, b, e)
    assert np.array_equal(V.apply(VecOp.RESCALE, v, np.int64(b), None, b, e), sq)
    s1 = np.full(len(x), a, np.int64)
    assert np.array_equal(V.apply(VecOp.ADDRS, s1, v, None, b, e), V.apply(VecOp.ADD, s1, sq, None, 0, 0))

def test_rescale_and_addrs_on_the_model():
  """The residual epilogue's two passes: RESCALE reads the scratchpad only, ADDRS the accumulator and the scratchpad
  in one step; the multiplier of ADDRS is its immediate (src2 is the operand), ReLU and int8 saturation after the add."""
  cfg = load_config("tiny", vector_lanes=4)
  m = Machine(cfg, dram_bytes=64)
  x, r = np.array([[1, -2, 127, -128], [5, 60, -7, 100]]), np.array([[3, 4, -128, -100], [-5, 6, 127, 8]])
  m.spad[0:2, :4], m.spad[8:10, :4] = x, r
  (mx, sx), (mr, sr) = V.quantize_multiplier(0.7 / 2 ** V.PRESHIFT), V.quantize_multiplier(1.3 / 2 ** V.PRESHIFT)
  res = run(cfg, asm(f"""
    vector funct=rescale dst_mem=acc dst_addr=4 src1_mem=spad src1_addr=0 src2_imm=1 imm={mx} shift={sx} rows=2
    vector funct=addrs dst_mem=spad dst_addr=16 src1_mem=acc src1_addr=4 src2_mem=spad src2_addr=8 imm={mr} shift={sr} relu=1 rows=2"""), machine=m)
  from tinyaccel.compiler.eltwise import add_reference
  assert m.spad[16:18, :4].astype(np.int8).tolist() == add_reference(x, r, (mx, sx), (mr, sr), True).tolist()
  assert [(s, e) for _, _, _, s, e in res.trace] == [(0, 2 + DRAIN + 1), (2 + DRAIN, 2 * (2 + DRAIN) + 1)]

def test_biasrq_on_the_model():
  """BIASRQ: requant(src1 + bias, multiplier line, shift), the multiplier (src2) and bias (src2 + imm) lines broadcast: read
  in row 0 (three accumulator lines: 3 steps), held after (1 step a row); equal to ADD of the bias row then REQUANT."""
  cfg = load_config("tiny", vector_lanes=4)
  rng = np.random.default_rng(1)
  a = rng.integers(-2 ** 31, 2 ** 31, (3, 4))
  mult, bias = rng.integers(1 << 29, 1 << 31, 4), np.array([2 ** 31 - 1, -5, 1000, -(2 ** 31)])   # the add wraps
  m = machine_with(cfg, [*a, mult, np.zeros(4, np.int64), bias])
  res = run(cfg, asm("vector funct=biasrq dst_mem=spad dst_addr=0 src1_mem=acc src1_addr=0 src2_mem=acc src2_addr=3 src2_bcast=1 imm=2 shift=5 relu=1 rows=3\n"
                     "vector funct=biasrq dst_mem=acc dst_addr=8 src1_mem=acc src1_addr=0 src2_mem=acc src2_addr=5 src2_bcast=1 imm=-2 shift=5 rows=3"), machine=m)
  want = V.apply(VecOp.REQUANT, V.apply(VecOp.ADD, a, bias, None, 0, 0), mult, None, 0, 5)
  assert m.spad[0:3, :4].tolist() == np.clip(np.maximum(want, 0), -128, 127).tolist()
  assert m.acc[8:11].tolist() == V.apply(VecOp.REQUANT, V.apply(VecOp.ADD, a, mult, None, 0, 0), bias, None, 0, 5).tolist()   # roles swapped: a negative imm
  assert [(s, e) for _, _, _, s, e in res.trace] == [(0, 5 + DRAIN + 1), (5 + DRAIN, 2 * (5 + DRAIN) + 1)]
  with pytest.raises(ProgramError, match="biasrq reads its multiplier and bias lines broadcast"):
    run(cfg, asm("vector funct=biasrq dst_mem=spad dst_addr=0 src1_mem=acc src1_addr=0 src2_mem=acc src2_addr=3 imm=2 rows=3"), machine=Machine(cfg, dram_bytes=64))
  with pytest.raises(ProgramError, match="bias line -1 is below line 0"):
    run(cfg, asm("vector funct=biasrq dst_mem=spad dst_addr=0 src1_mem=acc src1_addr=0 src2_mem=acc src2_addr=3 src2_bcast=1 imm=-4 rows=3"), machine=Machine(cfg, dram_bytes=64))
