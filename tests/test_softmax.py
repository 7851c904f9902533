"""Quantized softmax on the vector unit: bit-exact with its integer definition, within about half an
output step of the real softmax, and lane reductions that broadcast to every lane."""
import numpy as np
import pytest

from tinyaccel.arch import vector as V
from tinyaccel.arch.config import load_config
from tinyaccel.arch.isa import VecOp
from tinyaccel.compiler.program import CompileError
from tinyaccel.compiler.softmax import compile_softmax
from tinyaccel.sim.model import Machine, run


def test_lane_reductions():
  s = np.array([[1, -5, 7, 2], [-(2 ** 31), 3, 0, 1]], np.int64)
  assert V.apply(VecOp.LMAX, s, None, None, 0, 0).tolist() == [[7] * 4, [3] * 4]
  assert V.apply(VecOp.LSUM, s, None, None, 0, 0).tolist() == [[5] * 4, [-(2 ** 31) + 4] * 4]

@pytest.mark.parametrize("preset,shape,scale", [("tiny", (5, 8), 0.05), ("tiny", (9, 16), 0.2), ("tiny", (50, 16), 0.1), ("edge", (40, 128), 0.08), ("edge", (3, 512), 0.01)])
def test_softmax_kernel(preset, shape, scale):
  cfg = load_config(preset); x = np.random.default_rng(shape[0]).integers(-128, 128, shape).astype(np.int8)
  c = compile_softmax(cfg, x, scale)
  mach = Machine(cfg, c.dram.copy()); run(cfg, c.program, machine=mach)
  out = c.read(mach.dram)
  assert np.array_equal(out, c.reference())
  f = x.astype(np.float64) * scale; f = np.exp(f - f.max(-1, keepdims=True)); f /= f.sum(-1, keepdims=True)
  assert np.abs(out / 127 - f).max() < 0.6 / 127                    # half a step of rounding, plus the approximations
  with pytest.raises(CompileError, match="multiple of cols"): compile_softmax(cfg, x[:, :-1], scale)

def test_finest_output_scale_does_not_overflow():
  """K = 2^13 (near-uniform attention rows calibrate to it): K·e of the row maximum would be 2^31."""
  cfg = load_config("edge"); x = np.random.default_rng(4).integers(-20, 20, (8, 128)).astype(np.int8)
  c = compile_softmax(cfg, x, 0.01, out_scale=1 / 8192)
  mach = Machine(cfg, c.dram.copy()); run(cfg, c.program, machine=mach)
  out = c.read(mach.dram); f = np.exp(x * 0.01 - (x * 0.01).max(-1, keepdims=True)); f /= f.sum(-1, keepdims=True)
  assert np.array_equal(out, c.reference()) and np.abs(out / 8192 - f).max() < 0.6 / 8192

def test_finer_output_scale_and_a_graph_with_softmax():
  cfg = load_config("edge"); x = np.random.default_rng(3).integers(-128, 128, (16, 256)).astype(np.int8)
  c = compile_softmax(cfg, x, 0.03, out_scale=1 / 2000)
  mach = Machine(cfg, c.dram.copy()); run(cfg, c.program, machine=mach)
  out = c.read(mach.dram); f = np.exp(x * 0.03 - (x * 0.03).max(-1, keepdims=True)); f /= f.sum(-1, keepdims=True)
  assert np.array_equal(out, c.reference()) and np.abs(out / 2000 - np.minimum(f, 127 / 2000)).max() < 0.6 / 2000
  from tinyaccel.compiler.schedule import schedule
  from tinyaccel.compiler.tensor import Tensor
  from tinyaccel.flow import run_graph
  t = Tensor.randn(32, 64, seed=0)
  y = t.linear((Tensor.randn(64, 64, seed=1) * 0.12).realize()).softmax() @ (Tensor.randn(64, 48, seed=2) * 0.1).realize()
  assert [type(k).__name__ for k in schedule(y.node)] == ["GemmKernel", "SoftmaxKernel", "GemmKernel"]
  r = run_graph(y, cfg)
  assert r.correct and r.accuracy["cosine_similarity"] >= 0.99 and r.kernels[1].op == "softmax"

def test_layernorm_kernel_and_graph():
  from tinyaccel.compiler.layernorm import compile_layernorm
  from tinyaccel.compiler.schedule import schedule
  from tinyaccel.compiler.tensor import Tensor
  from tinyaccel.flow import run_graph
  rng = np.random.default_rng(0)
  for preset, shape, s_in in [("tiny", (5, 8), 0.05), ("edge", (9, 768), 0.03)]:
    cfg = load_config(preset)
    x = np.clip(np.round(rng.standard_normal(shape) * 30 + rng.standard_normal((shape[0], 1)) * 10), -127, 127).astype(np.int8)
    f = x * s_in; f = (f - f.mean(-1, keepdims=True)) / np.sqrt(f.var(-1, keepdims=True) + 1e-5)
    s_out = np.abs(f).max() / 127
    c = compile_layernorm(cfg, x, s_in, s_out)
    mach = Machine(cfg, c.dram.copy()); run(cfg, c.program, machine=mach)
    out = c.read(mach.dram)
    assert np.array_equal(out, c.reference()) and np.abs(out * s_out - f).max() < 0.6 * s_out
  t = Tensor.randn(16, 64, seed=0)
  y = t.linear((Tensor.randn(64, 64, seed=1) * 0.12).realize()).layernorm().linear((Tensor.randn(32, 64, seed=2) * 0.12).realize())
  assert [type(k).__name__ for k in schedule(y.node)] == ["GemmKernel", "LayerNormKernel", "GemmKernel"]
  r = run_graph(y, load_config("edge"))
  assert r.correct and r.accuracy["cosine_similarity"] >= 0.99
