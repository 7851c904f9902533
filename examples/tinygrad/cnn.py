"""A small residual CNN in real tinygrad (float32): conv+bias+ReLU, 2x2 max pooling, a residual block of two convs, ReLU,
2x2 average pooling, a linear head. `tinyaccel run examples/tinygrad/cnn.py --config edge` imports tinygrad's lazy graph
(its conv2d, max_pool2d and avg_pool2d are recognized as wholes) and runs it quantized to int8: 3 convs on the array with
their bias/ReLU fused, both pools and the residual add on the vector unit, the head as a GEMM."""
import numpy as np
from tinygrad.tensor import Tensor


def _w(rng, *shape): return Tensor((rng.standard_normal(shape) * np.prod(shape[1:]) ** -0.5).astype(np.float32))
def _b(rng, n): return Tensor((rng.standard_normal(n) * 0.1).astype(np.float32))

def workload(batch=1, size=16, width=16, classes=10):
  rng = np.random.default_rng(0)
  x = Tensor(rng.standard_normal((batch, 3, size, size)).astype(np.float32))
  w1, b1, w2, b2, w3, b3 = _w(rng, width, 3, 3, 3), _b(rng, width), _w(rng, width, width, 3, 3), _b(rng, width), _w(rng, width, width, 3, 3), _b(rng, width)
  h = x.conv2d(w1, b1, padding=1).relu().max_pool2d(2)
  r = h.conv2d(w2, b2, padding=1).relu().conv2d(w3, b3, padding=1)
  h = (r + h).relu().avg_pool2d(2)
  return h.reshape(batch, -1).linear(_w(rng, width * (size // 4) ** 2, classes), _b(rng, classes))
