"""ResNet-18 and ResNet-50 (He et al., 2016) at their published shapes, inference, batch norm folded
into each convolution's weight and bias (as deployed). Random weights with a fixed seed, He-scaled so
activations keep their range through the depth; no downloads."""
from __future__ import annotations

from ..compiler.tensor import Tensor


class _Seeds:
  def __init__(self, seed): self.n = seed
  def __call__(self): self.n += 1; return self.n

def _conv(x, cin, cout, k, stride, seed, relu=True, gain=1.0):
  w = (Tensor.randn(cout, cin, k, k, seed=seed()) * (gain * (2.0 / (cin * k * k)) ** 0.5)).realize()
  b = (Tensor.randn(cout, seed=seed()) * 0.05).realize()
  y = x.conv2d(w, b, stride=stride, padding=k // 2)
  return y.relu() if relu else y

def _basic(x, cin, cout, stride, seed):
  h = _conv(_conv(x, cin, cout, 3, stride, seed), cout, cout, 3, 1, seed, relu=False, gain=0.5)
  sc = _conv(x, cin, cout, 1, stride, seed, relu=False) if stride != 1 or cin != cout else x
  return (h + sc).relu()

def _bottleneck(x, cin, width, stride, seed):
  cout = width * 4
  h = _conv(_conv(_conv(x, cin, width, 1, 1, seed), width, width, 3, stride, seed), width, cout, 1, 1, seed, relu=False, gain=0.5)
  sc = _conv(x, cin, cout, 1, stride, seed, relu=False) if stride != 1 or cin != cout else x
  return (h + sc).relu()

def resnet(depth: int = 50, batch: int = 1, size: int = 224, classes: int = 1000, seed: int = 0) -> Tensor:
  blocks = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3)), 101: ("bottleneck", (3, 4, 23, 3))}
  if depth not in blocks: raise ValueError(f"ResNet-{depth} is not defined (18, 34, 50, 101)")
  kind, counts = blocks[depth]
  s = _Seeds(seed)
  x = Tensor.randn(batch, 3, size, size, seed=s())
  h = _conv(x, 3, 64, 7, 2, s).max_pool2d(3, 2, 1)
  cin = 64
  for stage, (n, width) in enumerate(zip(counts, (64, 128, 256, 512))):
    for i in range(n):
      stride = 2 if stage > 0 and i == 0 else 1
      if kind == "basic": h = _basic(h, cin, width, stride, s); cin = width
      else: h = _bottleneck(h, cin, width, stride, s); cin = width * 4
  h = h.avg_pool2d(size // 32).reshape(batch, cin)
  w = (Tensor.randn(classes, cin, seed=s()) * cin ** -0.5).realize()
  return h.linear(w, (Tensor.randn(classes, seed=s()) * 0.05).realize())
