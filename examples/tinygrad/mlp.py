"""A two-layer MLP in real tinygrad (float32): `tinyaccel run examples/tinygrad/mlp.py --config edge` quantizes it to
int8 and runs its two GEMMs (bias and ReLU fused) on the accelerator model."""
import numpy as np
from tinygrad.tensor import Tensor


def workload(batch=16, d_in=64, d_hidden=128, d_out=10):
  rng = np.random.default_rng(0)
  x = Tensor(rng.standard_normal((batch, d_in), np.float32))
  w1, b1 = Tensor(rng.standard_normal((d_hidden, d_in), np.float32) * d_in ** -0.5), Tensor(rng.standard_normal(d_hidden, np.float32) * 0.1)
  w2, b2 = Tensor(rng.standard_normal((d_out, d_hidden), np.float32) * d_hidden ** -0.5), Tensor(rng.standard_normal(d_out, np.float32) * 0.1)
  return x.linear(w1.T, b1).relu().linear(w2.T, b2)
