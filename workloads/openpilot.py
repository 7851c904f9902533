"""A small openpilot-style driving vision net: a camera frame (3 x 128 x 256, the supercombo input
resolution) through a strided-convolution backbone (five 3x3 stride-2 convolutions with ReLU, each
followed by a 3x3 stride-1 one from the third on), then a dense policy head (two linears with ReLU)
regressing a path of 33 (x, y) points. Not openpilot's trained model: its shape, random weights with
a fixed seed, He-scaled; batch norm folded into each convolution as deployed."""
from __future__ import annotations

from ..compiler.tensor import Tensor
from .resnet import _conv, _Seeds

STAGES = (32, 64, 128, 256, 256)          # output channels of the stride-2 convolutions
PATH_POINTS = 33

def backbone_convs(h: int = 128, w: int = 256) -> list[tuple[int, int, int, int, int]]:
  """(cin, cout, stride, out_h, out_w) of every convolution, in order."""
  out, cin = [], 3
  for i, c in enumerate(STAGES):
    h, w = (h + 1) // 2, (w + 1) // 2
    out.append((cin, c, 2, h, w))
    if i >= 2: out.append((c, c, 1, h, w))
    cin = c
  return out

def driving_net(batch: int = 1, h: int = 128, w: int = 256, hidden: int = 512, seed: int = 0) -> Tensor:
  s = _Seeds(seed)
  x = Tensor.randn(batch, 3, h, w, seed=s())
  for cin, cout, stride, _, _ in backbone_convs(h, w): x = _conv(x, cin, cout, 3, stride, s)
  feat = x.reshape(batch, -1)
  wa = (Tensor.randn(hidden, feat.shape[1], seed=s()) * (2.0 / feat.shape[1]) ** 0.5).realize()
  z = feat.linear(wa, (Tensor.randn(hidden, seed=s()) * 0.05).realize()).relu()
  wb = (Tensor.randn(2 * PATH_POINTS, hidden, seed=s()) * hidden ** -0.5).realize()
  return z.linear(wb, (Tensor.randn(2 * PATH_POINTS, seed=s()) * 0.05).realize())
