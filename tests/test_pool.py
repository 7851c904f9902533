"""Pooling on the vector unit with DMA windows, and a ResNet-style graph (stem conv, max pool,
residual block, global average pool, linear head) found in the IR and run end to end."""
import numpy as np
import pytest

from tinyaccel.arch.config import load_config
from tinyaccel.compiler.pool import compile_pool2d
from tinyaccel.compiler.schedule import schedule
from tinyaccel.compiler.tensor import Tensor
from tinyaccel.flow import run_graph
from tinyaccel.sim.model import Machine, run


@pytest.mark.parametrize("kind,shape,k,s,p", [("max", (1, 4, 6, 6), 2, 2, 0), ("max", (2, 6, 7, 7), 3, 2, 1), ("avg", (1, 4, 6, 6), 2, 2, 0), ("avg", (2, 5, 7, 7), 7, 1, 0)])
def test_pool_kernels(kind, shape, k, s, p):
  cfg = load_config("tiny"); x = np.random.default_rng(1).integers(-128, 128, shape).astype(np.int8)
  c, win = compile_pool2d(cfg, x, kind, k, s, p)
  mach = Machine(cfg, c.dram.copy()); run(cfg, c.program, machine=mach)
  out = c.read(mach.dram)
  assert np.array_equal(out, c.reference())
  t = Tensor(x.astype(np.float32))
  ref = (t.max_pool2d(k, s, p) if kind == "max" else t.avg_pool2d(k, s, p)).numpy().transpose(0, 2, 3, 1).reshape(out.shape)
  assert np.abs(out - ref).max() <= (0 if kind == "max" else 0.75)     # avg: two roundings (Q31 multiply, then shift)

def test_resnet_style_graph():
  def conv(cin, cout, k, seed): return (Tensor.randn(cout, cin, k, k, seed=seed) * (cin * k * k) ** -0.5).realize(), (Tensor.randn(cout, seed=seed + 9) * 0.1).realize()
  x = Tensor.randn(1, 3, 16, 16, seed=0)
  (w0, b0), (w1, b1), (w2, b2) = conv(3, 8, 7, 1), conv(8, 8, 3, 2), conv(8, 8, 3, 3)
  h = x.conv2d(w0, b0, stride=2, padding=3).relu().max_pool2d(3, 2, 1)
  h = (h.conv2d(w1, b1, padding=1).relu().conv2d(w2, b2, padding=1) + h).relu()
  y = h.avg_pool2d(4).reshape(1, 8).linear((Tensor.randn(5, 8, seed=7) * 0.3).realize())
  assert [type(k).__name__ for k in schedule(y.node)] == ["ConvKernel", "PoolKernel", "ConvKernel", "ConvKernel", "AddKernel", "PoolKernel", "GemmKernel"]
  r = run_graph(y, load_config("tiny", acc_kib=8))
  assert r.correct and r.accuracy["cosine_similarity"] >= 0.99
  assert [k.kind for k in r.kernels] == ["gemm", "vector", "gemm", "gemm", "vector", "vector", "gemm"]
