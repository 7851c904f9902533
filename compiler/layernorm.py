"""Quantized layer normalization over the last axis on the vector unit: y = (x - mean) / sqrt(var + eps).

int8 x (scale s_x) -> int8 y (scale s_y). Each row of length L (a multiple of `cols`, at most 1024)
occupies L/cols lines. Per row on the store queue, in int32: x8 = x << 8; the mean comes from RSUM
over the row's lines, LSUM across lanes and a Q31 multiply by 1/L; c8 = x8 - mean8 (Q8); the variance
from c4 = c8 >> 4 rounded: c4² per element, RSUM, a multiply by 1/L per lane (keeps the sum in
range), then LSUM (Q8); RSQRT(var + eps) in Q16.16; y = REQUANT(c8 · round(2^7 / s_y), rstd) — the
scales of x cancel — saturated to int8 and stored.
"""
from __future__ import annotations
import numpy as np
from ..arch.config import AccelConfig
from ..arch.isa import Mem, VecOp
from ..arch import vector as V
from .gemm import Compiled, _vector
from .softmax import row_kernel, ROW

def _params(L: int, in_scale: float, out_scale: float, eps: float):
  m, sh = V.quantize_multiplier(1 / L)
  return m, sh, int(round(eps / in_scale ** 2 * 256)), int(round(2 ** 7 / out_scale))

def layernorm_reference(x: np.ndarray, in_scale: float, out_scale: float, eps: float, lanes: int) -> np.ndarray:
  """The integer definition the kernel implements (per-lane partial sums of squares, as the lines hold them)."""
  m, sh, eps8, k = _params(x.shape[-1], in_scale, out_scale, eps)
  x8 = x.astype(np.int64) << 8
  c8 = x8 - V.rounding_shift_right(V.srdhm(V.wrap32(x8.sum(-1, keepdims=True)), m), sh)
  c4 = V.rounding_shift_right(c8, 4)
  rows, L = x.shape
  per_lane = (c4 * c4).reshape(rows, L // lanes, lanes).sum(1)
  var8 = V.wrap32(V.rounding_shift_right(V.srdhm(per_lane, m), sh).sum(-1, keepdims=True))
  rstd = V.rsqrt_q16(var8 + eps8, 8)
  return np.clip(V.srdhm(V.wrap32(c8 * k), rstd), -128, 127).astype(np.int8)

def compile_layernorm(cfg: AccelConfig, x: np.ndarray, in_scale: float, out_scale: float, eps: float = 1e-5) -> Compiled:
  C, k = cfg.cols, x.shape[1] // cfg.cols
  m, sh, eps8, K = _params(x.shape[1], in_scale, out_scale, eps)
  def emit(xs, a, out, *_):                                # acc: x8/c8 lines, c4^2 lines, mean line, variance line
    q, mu = a + k, a + 2 * k; var = mu + 1
    return (_vector(VecOp.SHL, Mem.ACC, a, Mem.SPAD, xs, k, shift=8)
            + _vector(VecOp.RSUM, Mem.ACC, mu, Mem.ACC, a, k) + _vector(VecOp.LSUM, Mem.ACC, mu, Mem.ACC, mu, 1)
            + _vector(VecOp.REQUANT, Mem.ACC, mu, Mem.ACC, mu, 1, src2_imm=1, imm=m, shift=sh)
            + _vector(VecOp.SUB, Mem.ACC, a, Mem.ACC, a, k, src2_addr=mu, **ROW)
            + _vector(VecOp.SRAR, Mem.ACC, q, Mem.ACC, a, k, shift=4)
            + _vector(VecOp.MUL, Mem.ACC, q, Mem.ACC, q, k, src2_mem=Mem.ACC.value, src2_addr=q)
            + _vector(VecOp.RSUM, Mem.ACC, var, Mem.ACC, q, k)
            + _vector(VecOp.REQUANT, Mem.ACC, var, Mem.ACC, var, 1, src2_imm=1, imm=m, shift=sh)
            + _vector(VecOp.LSUM, Mem.ACC, var, Mem.ACC, var, 1) + _vector(VecOp.ADD, Mem.ACC, var, Mem.ACC, var, 1, src2_imm=1, imm=eps8)
            + _vector(VecOp.RSQRT, Mem.ACC, var, Mem.ACC, var, 1, shift=8)
            + _vector(VecOp.MUL, Mem.ACC, a, Mem.ACC, a, k, src2_imm=1, imm=K)
            + _vector(VecOp.REQUANT, Mem.SPAD, out, Mem.ACC, a, k, src2_addr=var, shift=0, **ROW))
  return row_kernel(cfg, x, "layernorm", 1024, lambda k: 2 * k + 2, emit, VecOp.SHL, lambda: layernorm_reference(x, in_scale, out_scale, eps, C))
