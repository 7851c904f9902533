"""MobileNetV2 (Sandler et al., 2018), width 1.0, 224x224, inference with batch norm folded into each
convolution. Inverted residual blocks: 1x1 expansion + ReLU6, 3x3 depthwise + ReLU6, 1x1 linear
projection, and a residual add when the block keeps stride 1 and width."""
from __future__ import annotations

from ..compiler.tensor import Tensor
from .resnet import _Seeds

SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]   # t, c, n, s

def _conv(x, cin, cout, k, stride, seed, groups=1, act=True):
  w = (Tensor.randn(cout, cin // groups, k, k, seed=seed()) * (2.0 / (cin // groups * k * k)) ** 0.5).realize()
  y = x.conv2d(w, (Tensor.randn(cout, seed=seed()) * 0.05).realize(), stride=stride, padding=k // 2, groups=groups)
  return y.relu6() if act else y

def mobilenet_v2(batch: int = 1, size: int = 224, classes: int = 1000, seed: int = 0) -> Tensor:
  s = _Seeds(seed)
  x = Tensor.randn(batch, 3, size, size, seed=s())
  h, cin = _conv(x, 3, 32, 3, 2, s), 32
  for t, c, n, stride in SETTINGS:
    for i in range(n):
      st, hidden = stride if i == 0 else 1, cin * t
      y = _conv(h, cin, hidden, 1, 1, s) if t != 1 else h
      y = _conv(y, hidden, hidden, 3, st, s, groups=hidden)
      y = _conv(y, hidden, c, 1, 1, s, act=False)
      h, cin = (y + h if st == 1 and cin == c else y), c
  h = _conv(h, cin, 1280, 1, 1, s).avg_pool2d(size // 32).reshape(batch, 1280)
  return h.linear((Tensor.randn(classes, 1280, seed=s()) * 1280 ** -0.5).realize(), (Tensor.randn(classes, seed=s()) * 0.05).realize())
