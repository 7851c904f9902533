"""A two-layer MLP in float32: `tinyaccel run examples/mlp.py --config edge` quantizes it to int8 and
runs it kernel by kernel on the accelerator model."""
from tinyaccel.compiler.tensor import Tensor


def workload(batch=64, d_in=256, d_hidden=512, d_out=10):
  x = Tensor.randn(batch, d_in, seed=0)
  w1, b1 = (Tensor.randn(d_hidden, d_in, seed=1) * d_in ** -0.5).realize(), (Tensor.randn(d_hidden, seed=2) * 0.1).realize()
  w2, b2 = (Tensor.randn(d_out, d_hidden, seed=3) * d_hidden ** -0.5).realize(), (Tensor.randn(d_out, seed=4) * 0.1).realize()
  return x.linear(w1, b1).relu().linear(w2, b2)
