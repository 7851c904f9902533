"""GPT-2 small (Radford et al., 2019) transformer blocks at their published shapes: hidden 768, 12 heads,
FFN 3072 with GELU, pre-LN residual blocks, a causal mask, and the final layernorm; prefill of `seq`
tokens, batch 1. Random weights with a fixed seed (see bert.py). The input is the token + position embedding (seq x 768)."""
from __future__ import annotations

import numpy as np

from ..compiler.tensor import Tensor
from .bert import FFN, HEADS, HIDDEN, LAYERS, attention, mlp, norm
from .resnet import _Seeds


def causal_mask(seq: int) -> Tensor:
  """0 on and below the diagonal, -inf above: position i attends to positions <= i."""
  return Tensor(np.triu(np.full((seq, seq), -np.inf, np.float32), 1))

def block(x: Tensor, seed, mask: Tensor, heads: int = HEADS, ffn: int = FFN) -> Tensor:
  h = x + attention(norm(x, seed), seed, heads, mask)
  return h + mlp(norm(h, seed), seed, ffn)

def gpt2(layers: int = LAYERS, seq: int = 128, seed: int = 0, final_norm: bool = True, hidden: int = HIDDEN, heads: int = HEADS, ffn: int = FFN) -> Tensor:
  """GPT-2 small by default; smaller widths build the same graph faster (tests)."""
  s = _Seeds(seed)
  h, mask = Tensor.randn(seq, hidden, seed=s()), causal_mask(seq)
  for _ in range(layers): h = block(h, s, mask, heads, ffn)
  return norm(h, s) if final_norm else h
