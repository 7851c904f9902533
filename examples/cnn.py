"""A small CNN in float32 (three 3x3 convs with ReLU, then a linear head): `tinyaccel run
examples/cnn.py --config edge` quantizes it and runs every conv through DMA windows."""
from tinyaccel.compiler.tensor import Tensor


def _conv(cin, cout, k, seed):
  return (Tensor.randn(cout, cin, k, k, seed=seed) * (cin * k * k) ** -0.5).realize(), (Tensor.randn(cout, seed=seed + 100) * 0.1).realize()

def workload(batch=1, size=32):
  x = Tensor.randn(batch, 3, size, size, seed=0)
  (w1, b1), (w2, b2), (w3, b3) = _conv(3, 16, 3, 1), _conv(16, 32, 3, 2), _conv(32, 32, 3, 3)
  h = x.conv2d(w1, b1, padding=1).relu()
  h = h.conv2d(w2, b2, stride=2, padding=1).relu()
  h = h.conv2d(w3, b3, stride=2, padding=1).relu()
  wl = (Tensor.randn(10, 32 * (size // 4) ** 2, seed=9) * (32 * (size // 4) ** 2) ** -0.5).realize()
  return h.reshape(batch, -1).linear(wl, (Tensor.randn(10, seed=10) * 0.1).realize())
