"""Quantized softmax on the vector unit: bit-exact with its integer definition, within about half an
output step of the real softmax, and lane reductions that broadcast to every lane."""
import numpy as np, pytest
from tinyaccel.arch.config import load_config
from tinyaccel.arch.isa import VecOp
from tinyaccel.arch import vector as V
from tinyaccel.compiler.softmax import compile_softmax
from tinyaccel.compiler.gemm import CompileError
from tinyaccel.sim.model import run, Machine

def test_lane_reductions():
  s = np.array([[1, -5, 7, 2], [-(2 ** 31), 3, 0, 1]], np.int64)
  assert V.apply(VecOp.LMAX, s, None, None, 0, 0).tolist() == [[7] * 4, [3] * 4]
  assert V.apply(VecOp.LSUM, s, None, None, 0, 0).tolist() == [[5] * 4, [-(2 ** 31) + 4] * 4]

@pytest.mark.parametrize("preset,shape,scale", [("tiny", (5, 8), 0.05), ("tiny", (9, 16), 0.2), ("edge", (40, 128), 0.08), ("edge", (3, 512), 0.01)])
def test_softmax_kernel(preset, shape, scale):
  cfg = load_config(preset); x = np.random.default_rng(shape[0]).integers(-128, 128, shape).astype(np.int8)
  c = compile_softmax(cfg, x, scale)
  mach = Machine(cfg, c.dram.copy()); run(cfg, c.program, machine=mach)
  out = c.read(mach.dram)
  assert np.array_equal(out, c.reference())
  f = x.astype(np.float64) * scale; f = np.exp(f - f.max(-1, keepdims=True)); f /= f.sum(-1, keepdims=True)
  assert np.abs(out / 127 - f).max() < 0.6 / 127                    # half a step of rounding, plus the approximations
  with pytest.raises(CompileError, match="multiple of cols"): compile_softmax(cfg, x[:, :-1], scale)
