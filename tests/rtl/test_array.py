"""The systolic arrays in Amaranth's simulator: back-to-back folds, bit-exact against numpy, every output
row on the exact cycle docs/timing.md implies (ws: rows + cols - 1 after its input row, with the next
fold's weights shifted in behind the stream; os: rows + cols - 1 + q after the next fold's tag)."""
from amaranth.sim import Simulator
import numpy as np
import pytest

from tinyaccel.rtl.array import WsArray


def simulate(dut, inputs, expect):
  """Drive `inputs(cyc) -> [(port, values)]` each cycle; return dut.c at every cycle in `expect`."""
  got = {}
  async def tb(ctx):
    for cyc in range(max(expect) + 2):
      for port, vals in inputs(cyc):
        if isinstance(vals, (bool, int)): ctx.set(port, int(vals))
        else:
          for x, v in enumerate(vals): ctx.set(port[x], int(v))
      if cyc in expect: got[cyc] = [ctx.get(dut.c[j]) for j in range(len(expect[cyc]))]
      await ctx.tick()
  sim = Simulator(dut); sim.add_clock(1e-8); sim.add_testbench(tb); sim.run()
  return got

def run_folds(R, C, folds, m, seed=0, mul_stages=2, transposed=()):
  """Stream `folds` weight tiles back to back, each with m A rows; the next tile's weights shift in
  during the last R cycles before its stream (the timing of docs/timing.md: a fold costs max(m, R)).
  Folds in `transposed` (square arrays) are side-loaded: their lines are W's columns, last column first (transpose_b)."""
  rng = np.random.default_rng(seed)
  W = rng.integers(-128, 128, (folds, R, C)); A = rng.integers(-128, 128, (folds, m, R))
  dut = WsArray(R, C, mul_stages)
  per = max(m, R)
  stream0 = R + 1                                   # the first fold's weights shift in over cycles 1..R
  starts = [stream0 + f * per for f in range(folds)]
  events = {}                                       # cycle -> dict of inputs
  for f in range(folds):
    p0 = starts[f] - R                              # weight rows (last row first) on cycles p0 .. p0+R-1, capture on the last
    for r in range(R): events.setdefault(p0 + r, {})["w"] = (W[f][:, C - 1 - r] if f in transposed else W[f][R - 1 - r], r == R - 1, f in transposed)
    for t in range(m): events.setdefault(starts[f] + t, {})["a"] = (A[f][t], t == 0)
  expect = {starts[f] + t + R + C - 1: A[f][t] @ W[f] for f in range(folds) for t in range(m)}
  def inputs(cyc):
    e = events.get(cyc, {})
    (w, cap, tr), (a, flip) = e.get("w", (np.zeros(C, int), False, False)), e.get("a", (np.zeros(R, int), False))
    return [(dut.w, w), (dut.w_capture, bool(cap)), (dut.w_transpose, bool(cap and tr)), (dut.a, a), (dut.a_flip, bool(flip))]
  return expect, simulate(dut, inputs, expect)


def run_os(R, C, folds, k, seed=0):
  from tinyaccel.rtl.array import OsArray
  rng = np.random.default_rng(seed)
  A = rng.integers(-128, 128, (folds, R, k)); B = rng.integers(-128, 128, (folds, k, C))
  dut = OsArray(R, C)
  per = max(k, R)
  starts = [1 + f * per for f in range(folds + 1)]   # starts[folds]: the flushing tag
  events = {}
  for f in range(folds):
    for t in range(k): events[starts[f] + t] = (A[f][:, t], B[f][t], t == 0)
  events[starts[folds]] = (np.zeros(R, int), np.zeros(C, int), True)
  expect = {}
  for f in range(folds):
    res = A[f] @ B[f]
    for q in range(R): expect[starts[f + 1] + R + C - 1 + q] = res[R - 1 - q]
  def inputs(cyc):
    a, b, first = events.get(cyc, (np.zeros(R, int), np.zeros(C, int), False))
    return [(dut.a, a), (dut.b, b), (dut.first, bool(first)), (dut.drain, bool(first))]
  return expect, simulate(dut, inputs, expect)

CASES = [(4, 4, 3, 4), (4, 4, 4, 1), (4, 4, 3, 6), (3, 5, 3, 2), (2, 3, 4, 5), (5, 1, 3, 2), (1, 6, 3, 1)]   # rows, cols, folds, rows streamed (ws: m, os: k)

@pytest.mark.parametrize("dataflow", ["ws", "os"])
@pytest.mark.parametrize("R,C,folds,n", CASES)
def test_array_back_to_back_folds(dataflow, R, C, folds, n):
  expect, got = (run_folds if dataflow == "ws" else run_os)(R, C, folds, n)
  for cyc, row in expect.items():
    assert got[cyc] == row.tolist(), f"output row due at cycle {cyc}"

@pytest.mark.parametrize("mul_stages", [0, 1, 2, 3])
@pytest.mark.parametrize("R,C", [(4, 4), (3, 8), (6, 2), (8, 5)])
def test_ws_pipelined_multipliers_keep_timing(mul_stages, R, C):
  """However deep the multipliers are pipelined, every output row leaves on the same cycle (rows + cols - 1 after
  its input): the late columns pay from their deskew, the others tap the shift chains early."""
  for m in (1, R, R + 3):
    expect, got = run_folds(R, C, 4, m, seed=m, mul_stages=mul_stages)
    for cyc, row in expect.items(): assert got[cyc] == row.tolist(), f"stages {mul_stages}, m {m}: output row due at cycle {cyc}"

@pytest.mark.parametrize("mul_stages", [0, 1, 2, 3])
@pytest.mark.parametrize("R", [1, 2, 4, 5, 8])
def test_ws_side_loaded_weights(mul_stages, R):
  """transpose_b: a fold whose lines are W's columns (shifted in from the side, PE (i, j) at stage 2j of row i's chain)
  gives the same products on the same cycles as one loaded from the top, in any mix of the two, at every multiplier depth."""
  for m, transposed in ((1, (0, 1, 2, 3)), (R, (1, 2)), (R + 3, (0, 3))):
    expect, got = run_folds(R, R, 4, m, seed=m, mul_stages=mul_stages, transposed=transposed)
    for cyc, row in expect.items(): assert got[cyc] == row.tolist(), f"stages {mul_stages}, m {m}: output row due at cycle {cyc}"
