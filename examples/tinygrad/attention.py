"""One attention head in real tinygrad (float32), softmax(Q Kᵀ / √d) V: `tinyaccel run examples/tinygrad/attention.py
--config edge` imports tinygrad's lazy graph (its softmax recognized as a whole) and runs it quantized to int8: the three
projections and both attention matmuls on the array (1/√d folded into the QKᵀ requantization), softmax on the vector unit."""
import numpy as np
from tinygrad.tensor import Tensor


def workload(seq=32, d_model=64, d_head=32):
  rng = np.random.default_rng(0)
  x = Tensor(rng.standard_normal((seq, d_model)).astype(np.float32))
  wq, wk, wv = (Tensor((rng.standard_normal((d_model, d_head)) * d_model ** -0.5).astype(np.float32)) for _ in range(3))
  q, k, v = x @ wq, x @ wk, x @ wv
  return (q @ k.T / d_head ** 0.5).softmax(-1) @ v
