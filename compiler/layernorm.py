"""Quantized layer normalization over the last axis on the vector unit: y = (x - mean) / sqrt(var + eps).

int8 x (scale s_x) -> int8 y (scale s_y). Each row of length L (a multiple of `cols`, at most 1024)
occupies L/cols lines. Per row on the store queue, in int32: x8 = x << 8; the mean comes from RSUM
over the row's lines, LSUM across lanes and a Q31 multiply by 1/L; c8 = x8 - mean8 (Q8); the variance
from c4 = c8 >> 4 rounded: c4² per element, RSUM, a multiply by 1/L per lane (keeps the sum in
range), then LSUM (Q8); RSQRT(var + eps) in Q16.16; y = REQUANT(c8 · round(2^7 / s_y), rstd) — the
scales of x cancel — saturated to int8 and stored. With a gain and bias (gain·y + beta per column),
y stays in the accumulator at an 8x finer scale and each fold's line gets its column multipliers and
biases (two per-column vectors loaded once), then saturates to int8.
"""
from __future__ import annotations

import numpy as np

from ..arch import vector as V
from ..arch.config import AccelConfig
from ..arch.isa import Mem, VecOp
from .program import ROW, Compiled, CompileError, vector
from .softmax import row_kernel


def _params(L: int, in_scale: float, out_scale: float, eps: float):
  m, sh = V.quantize_multiplier(1 / L)
  return m, sh, int(round(eps / in_scale ** 2 * 256)), int(round(2 ** 7 / out_scale))

def _affine(gain, bias, L: int, norm_scale: float, out_scale: float):
  """gain·y + beta per column: y first at a finer scale s_z (K_z = 2^7/s_z <= 2^14 keeps c8·K_z in int32),
  then per-column signed Q31 multipliers gain·s_z/s_out sharing one shift, and int32 biases at s_out."""
  kz = min(1 << 14, int(round(2 ** 10 / norm_scale)))
  g = np.ones(L) if gain is None else np.asarray(gain, np.float64)
  m, sh = V.quantize_multipliers(np.maximum(np.abs(g), 1e-9) * (2 ** 7 / kz) / out_scale)
  b = np.zeros(L) if bias is None else np.asarray(bias, np.float64)
  return kz, (np.sign(g) + (g == 0)).astype(np.int64) * m, sh, np.round(b / out_scale).astype(np.int64)

def layernorm_reference(x: np.ndarray, in_scale: float, out_scale: float, eps: float, lanes: int, affine=None) -> np.ndarray:
  """The integer definition the kernel implements (per-lane partial sums of squares, as the lines hold them)."""
  m, sh, eps8, k = _params(x.shape[-1], in_scale, out_scale, eps)
  if affine: k = affine[0]
  x8 = x.astype(np.int64) << 8
  c8 = x8 - V.rounding_shift_right(V.srdhm(V.wrap32(x8.sum(-1, keepdims=True)), m), sh)
  c4 = V.rounding_shift_right(c8, 4)
  rows, L = x.shape
  per_lane = (c4 * c4).reshape(rows, L // lanes, lanes).sum(1)
  var8 = V.wrap32(V.rounding_shift_right(V.srdhm(per_lane, m), sh).sum(-1, keepdims=True))
  rstd = V.rsqrt_q16(var8 + eps8, 8)
  y = V.srdhm(V.wrap32(c8 * k), rstd)
  if affine: y = V.wrap32(V.rounding_shift_right(V.srdhm(y, affine[1]), affine[2]) + affine[3])
  return np.clip(y, -128, 127).astype(np.int8)

def compile_layernorm(cfg: AccelConfig, x: np.ndarray, in_scale: float, out_scale: float, eps: float = 1e-5,
                      gain: np.ndarray | None = None, bias: np.ndarray | None = None, norm_scale: float | None = None) -> Compiled:
  """gain and bias (float, per column) make it gain·y + bias; norm_scale is then the scale y alone would get."""
  C, k = cfg.cols, x.shape[1] // cfg.cols
  m, sh, eps8, K = _params(x.shape[1], in_scale, out_scale, eps)
  try: aff = _affine(gain, bias, x.shape[1], norm_scale, out_scale) if gain is not None or bias is not None else None
  except ValueError as e: raise CompileError(f"layernorm gain: {e}") from None
  if aff: K = aff[0]
  def affine(a, out):                                  # per fold: the column multipliers and biases, then saturate to int8
    g, b = emit.columns, emit.columns + k
    return ([i for f in range(k) for i in vector(VecOp.REQUANT, Mem.ACC, a + f, Mem.ACC, a + f, 1, src2_addr=g + f, shift=aff[2], **ROW)
                                       + vector(VecOp.ADD, Mem.ACC, a + f, Mem.ACC, a + f, 1, src2_addr=b + f, **ROW)]
            + vector(VecOp.COPY, Mem.SPAD, out, Mem.ACC, a, k))
  def emit(xs, a, out, *_):                                # acc: x8/c8 lines, c4^2 lines, mean line, variance line
    q, mu = a + k, a + 2 * k; var = mu + 1
    return (vector(VecOp.SHL, Mem.ACC, a, Mem.SPAD, xs, k, shift=8)
            + vector(VecOp.RSUM, Mem.ACC, mu, Mem.ACC, a, k) + vector(VecOp.LSUM, Mem.ACC, mu, Mem.ACC, mu, 1)
            + vector(VecOp.REQUANT, Mem.ACC, mu, Mem.ACC, mu, 1, src2_imm=1, imm=m, shift=sh)
            + vector(VecOp.SUB, Mem.ACC, a, Mem.ACC, a, k, src2_addr=mu, **ROW)
            + vector(VecOp.SRAR, Mem.ACC, q, Mem.ACC, a, k, shift=4)
            + vector(VecOp.MUL, Mem.ACC, q, Mem.ACC, q, k, src2_mem=Mem.ACC.value, src2_addr=q)
            + vector(VecOp.RSUM, Mem.ACC, var, Mem.ACC, q, k)
            + vector(VecOp.REQUANT, Mem.ACC, var, Mem.ACC, var, 1, src2_imm=1, imm=m, shift=sh)
            + vector(VecOp.LSUM, Mem.ACC, var, Mem.ACC, var, 1) + vector(VecOp.ADD, Mem.ACC, var, Mem.ACC, var, 1, src2_imm=1, imm=eps8)
            + vector(VecOp.RSQRT, Mem.ACC, var, Mem.ACC, var, 1, shift=8)
            + vector(VecOp.MUL, Mem.ACC, a, Mem.ACC, a, k, src2_imm=1, imm=K)
            + (vector(VecOp.REQUANT, Mem.ACC, a, Mem.ACC, a, k, src2_addr=var, shift=0, **ROW) + affine(a, out) if aff
               else vector(VecOp.REQUANT, Mem.SPAD, out, Mem.ACC, a, k, src2_addr=var, shift=0, **ROW)))
  return row_kernel(cfg, x, "layernorm", 1024, lambda k: 2 * k + 2, emit, VecOp.SHL, lambda: layernorm_reference(x, in_scale, out_scale, eps, C, aff),
                    columns=(aff[1], aff[3]) if aff else ())
