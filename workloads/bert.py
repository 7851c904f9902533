"""BERT-base (Devlin et al., 2019) encoder layers at their published shapes: hidden 768, 12 heads of 64,
FFN 3072 with GELU, post-LN residual blocks; batch 1, inference. Random weights with a fixed seed,
scaled by 1/sqrt(fan_in) so activations keep their range through the depth; layernorm gains around 1
and small biases; no downloads. The input is the embedding output (seq x 768)."""
from __future__ import annotations

import numpy as np

from ..compiler.tensor import Tensor
from .resnet import _Seeds

HIDDEN, HEADS, FFN, LAYERS = 768, 12, 3072, 12

def _linear(x: Tensor, cin: int, cout: int, seed) -> Tensor:
  w = (Tensor.randn(cout, cin, seed=seed()) * cin ** -0.5).realize()
  return x.linear(w, (Tensor.randn(cout, seed=seed()) * 0.02).realize())

def norm(x: Tensor, seed) -> Tensor:
  """Layernorm with a per-feature gain and bias (fused into the layernorm kernel)."""
  d = x.shape[-1]
  return x.layernorm() * (1.0 + Tensor.randn(d, seed=seed()) * 0.1).realize() + (Tensor.randn(d, seed=seed()) * 0.02).realize()

def attention(x: Tensor, seed, heads: int = HEADS, mask: Tensor | None = None, batch: int = 1) -> Tensor:
  """Multi-head self-attention of x (seq, d), or of `batch` sequences stacked as (batch·seq, d): heads split and merged
  by views, one GEMM per (sequence, head) for Q·Kᵀ and for P·V, an additive constant mask (if any) folded into the
  softmax input. The projections see all batch·seq tokens as one GEMM."""
  s, d = x.shape[0] // batch, x.shape[1]; dh = d // heads
  if batch == 1:
    q, k, v = (_linear(x, d, d, seed).reshape(s, heads, dh) for _ in range(3))
    scores = (q.permute(1, 0, 2) @ k.permute(1, 2, 0)) / float(np.sqrt(dh))        # (heads, seq, seq)
    if mask is not None: scores = scores + mask
    ctx = scores.softmax(-1) @ v.permute(1, 0, 2)                                  # (heads, seq, dh)
    return _linear(ctx.permute(1, 0, 2).reshape(s, d), d, d, seed)
  q, k, v = (_linear(x, d, d, seed).reshape(batch, s, heads, dh) for _ in range(3))
  scores = (q.permute(0, 2, 1, 3) @ k.permute(0, 2, 3, 1)) / float(np.sqrt(dh))  # (batch, heads, seq, seq)
  if mask is not None: scores = scores + mask
  ctx = scores.softmax(-1) @ v.permute(0, 2, 1, 3)                               # (batch, heads, seq, dh)
  return _linear(ctx.permute(0, 2, 1, 3).reshape(batch * s, d), d, d, seed)

def mlp(x: Tensor, seed, ffn: int = FFN) -> Tensor:
  return _linear(_linear(x, x.shape[1], ffn, seed).gelu(), ffn, x.shape[1], seed)

def encoder_layer(x: Tensor, seed, heads: int = HEADS, ffn: int = FFN, batch: int = 1) -> Tensor:
  h = norm(x + attention(x, seed, heads, batch=batch), seed)
  return norm(h + mlp(h, seed, ffn), seed)

def bert(layers: int = LAYERS, seq: int = 128, seed: int = 0, hidden: int = HIDDEN, heads: int = HEADS, ffn: int = FFN, batch: int = 1) -> Tensor:
  """BERT-base by default; smaller widths build the same graph faster (tests). `batch` sequences: (batch·seq, hidden)."""
  s = _Seeds(seed)
  h = Tensor.randn(batch * seq, hidden, seed=s())
  for _ in range(layers): h = encoder_layer(h, s, heads, ffn, batch)
  return h

def layer_params(d: int = HIDDEN, f: int = FFN) -> int:
  """Weights and biases of one layer: Q, K, V, O projections, the two FFN linears, two layernorms' gain and bias."""
  return 4 * (d * d + d) + 2 * d * f + f + d + 2 * 2 * d

def layer_macs(seq: int, d: int = HIDDEN, f: int = FFN) -> int:
  """Projections, FFN, and the two attention products (Q·Kᵀ and P·V over all heads)."""
  return 4 * seq * d * d + 2 * seq * d * f + 2 * seq * seq * d
