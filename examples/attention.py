"""One attention head in float32, softmax(Q Kᵀ / √d) V: `tinyaccel run examples/attention.py --config edge`
quantizes it to int8; the projections and both attention matmuls run on the array, softmax on the vector unit."""
from tinyaccel.compiler.tensor import Tensor


def workload(seq=64, d_model=128, d_head=64):
  x = Tensor.randn(seq, d_model, seed=0)
  wq, wk, wv = ((Tensor.randn(d_head, d_model, seed=s) * d_model ** -0.5).realize() for s in (1, 2, 3))
  q, k, v = x.linear(wq), x.linear(wk), x.linear(wv)
  return ((q @ k.T) * d_head ** -0.5).softmax() @ v
