"""The systolic arrays in Amaranth's simulator: back-to-back folds, bit-exact against numpy, every output
row on the exact cycle docs/timing.md implies (ws: rows + cols - 1 after its input row, with the next
fold's weights shifted in behind the stream; os: rows + cols - 1 + q after the next fold's tag)."""
import numpy as np, pytest
from amaranth.sim import Simulator
from tinyaccel.rtl.array import WsArray

def run_folds(R, C, folds, m, seed=0):
  """Stream `folds` weight tiles back to back, each with m A rows; the next tile's weights shift in
  during the last R cycles before its stream (the timing of docs/timing.md: a fold costs max(m, R))."""
  rng = np.random.default_rng(seed)
  W = rng.integers(-128, 128, (folds, R, C)); A = rng.integers(-128, 128, (folds, m, R))
  dut = WsArray(R, C)
  per = max(m, R)
  stream0 = R + 1                                   # the first fold's weights shift in over cycles 1..R
  starts = [stream0 + f * per for f in range(folds)]
  events = {}                                       # cycle -> dict of inputs
  for f in range(folds):
    p0 = starts[f] - R                              # weight rows (last row first) on cycles p0 .. p0+R-1, capture on the last
    for r in range(R): events.setdefault(p0 + r, {})["w"] = (W[f][R - 1 - r], r == R - 1)
    for t in range(m): events.setdefault(starts[f] + t, {})["a"] = (A[f][t], t == 0)
  expect = {starts[f] + t + R + C - 1: A[f][t] @ W[f] for f in range(folds) for t in range(m)}
  got = {}
  last = max(expect) + 2
  async def tb(ctx):
    for cyc in range(last):
      e = events.get(cyc, {})
      w, cap = e.get("w", (np.zeros(C, int), False)); a, flip = e.get("a", (np.zeros(R, int), False))
      for j in range(C): ctx.set(dut.w[j], int(w[j]))
      ctx.set(dut.w_capture, int(cap))
      for i in range(R): ctx.set(dut.a[i], int(a[i]))
      ctx.set(dut.a_flip, int(flip))
      if cyc in expect: got[cyc] = [ctx.get(dut.c[j]) for j in range(C)]
      await ctx.tick()
  sim = Simulator(dut); sim.add_clock(1e-8); sim.add_testbench(tb); sim.run()
  return expect, got

@pytest.mark.parametrize("R,C,folds,m", [(4, 4, 3, 4), (4, 4, 4, 1), (4, 4, 3, 6), (3, 5, 3, 2), (2, 2, 5, 3)])
def test_ws_array_back_to_back_folds(R, C, folds, m):
  expect, got = run_folds(R, C, folds, m)
  for cyc, row in expect.items():
    assert got[cyc] == row.tolist(), f"output row due at cycle {cyc}"

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
  got = {}
  async def tb(ctx):
    for cyc in range(max(expect) + 2):
      a, b, first = events.get(cyc, (np.zeros(R, int), np.zeros(C, int), False))
      for i in range(R): ctx.set(dut.a[i], int(a[i]))
      for j in range(C): ctx.set(dut.b[j], int(b[j]))
      ctx.set(dut.first, int(first))
      if cyc in expect: got[cyc] = [ctx.get(dut.c[j]) for j in range(C)]
      await ctx.tick()
  sim = Simulator(dut); sim.add_clock(1e-8); sim.add_testbench(tb); sim.run()
  return expect, got

@pytest.mark.parametrize("R,C,folds,k", [(4, 4, 3, 4), (4, 4, 3, 1), (4, 4, 2, 7), (3, 5, 3, 2), (2, 3, 4, 5)])
def test_os_array_back_to_back_folds(R, C, folds, k):
  expect, got = run_os(R, C, folds, k)
  for cyc, row in expect.items():
    assert got[cyc] == row.tolist(), f"output row due at cycle {cyc}"
