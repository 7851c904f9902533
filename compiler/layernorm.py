"""Quantized layer normalization over the last axis on the vector unit: y = (x - mean) / sqrt(var + eps).

int8 x (scale s_x) -> int8 y (scale s_y). Each row of length L (a multiple of `cols`, at most 1024)
occupies L/cols lines. Per block of rows on the store queue, in int32 (one VECTOR over the block's lines for an
element-wise step or one over its rows' mean or variance lines, one per row for a row's sum and broadcast): x8 = x << 8; the mean comes from RSUM
over the row's lines, LSUM across lanes and a Q31 multiply by 1/L; c8 = x8 - mean8 (Q8); the variance
from c4 = c8 >> 4 rounded: c4² per element, RSUM, a multiply by 1/L per lane (keeps the sum in
range), then LSUM (Q8); RSQRT(var + eps) in Q16.16; y = REQUANT(c8 · round(2^7 / s_y), rstd) — the
scales of x cancel — saturated to int8 and stored. With a gain and bias (gain·y + beta per column),
y stays in the accumulator at an 8x finer scale and each fold's line gets its column multipliers and
biases (two per-column vectors loaded once), the bias ADD saturating into the scratchpad.
"""
from __future__ import annotations

import numpy as np

from ..arch import vector as V
from ..arch.config import AccelConfig
from ..arch.isa import Mem, VecOp
from .program import ROW, Compiled, CompileError, vector
from .softmax import per_row, row_kernel


def _acc(f: VecOp, dst: int, src: int, rows: int, **kw) -> list:
  """A VECTOR from accumulator lines to accumulator lines."""
  return vector(f, Mem.ACC, dst, Mem.ACC, src, rows, **kw)

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
  def emit_block(xs, a, out, nr, *_):     # acc: the block's nr·k x8/c8 lines, nr·k c4² lines, nr means, nr variances; row-wise steps per row
    n, g, b = nr * k, emit_block.columns, emit_block.columns + k      # the column multipliers and biases (line f with line f)
    q, mu = a + n, a + 2 * n; var = mu + nr
    return (vector(VecOp.SHL, Mem.ACC, a, Mem.SPAD, xs, n, shift=8)
            + per_row(nr, lambda r: _acc(VecOp.RSUM, mu + r, a + r * k, k)) + _acc(VecOp.LSUM, mu, mu, nr)
            + _acc(VecOp.REQUANT, mu, mu, nr, src2_imm=1, imm=m, shift=sh)
            + per_row(nr, lambda r: _acc(VecOp.SUB, a + r * k, a + r * k, k, src2_addr=mu + r, **ROW))
            + _acc(VecOp.SRAR, q, a, n, shift=4) + _acc(VecOp.MUL, q, q, n, src2_mem=Mem.ACC.value, src2_addr=q)
            + per_row(nr, lambda r: _acc(VecOp.RSUM, var + r, q + r * k, k))
            + _acc(VecOp.REQUANT, var, var, nr, src2_imm=1, imm=m, shift=sh)
            + _acc(VecOp.LSUM, var, var, nr) + _acc(VecOp.ADD, var, var, nr, src2_imm=1, imm=eps8) + _acc(VecOp.RSQRT, var, var, nr, shift=8)
            + _acc(VecOp.MUL, a, a, n, src2_imm=1, imm=K)
            + (per_row(nr, lambda r: _acc(VecOp.REQUANT, a + r * k, a + r * k, k, src2_addr=var + r, shift=0, **ROW)
                       + _acc(VecOp.REQUANT, a + r * k, a + r * k, k, src2_mem=Mem.ACC.value, src2_addr=g, shift=aff[2])
                       + vector(VecOp.ADD, Mem.SPAD, out + r * k, Mem.ACC, a + r * k, k, src2_mem=Mem.ACC.value, src2_addr=b))   # saturates
               if aff
               else per_row(nr, lambda r: vector(VecOp.REQUANT, Mem.SPAD, out + r * k, Mem.ACC, a + r * k, k, src2_addr=var + r, shift=0, **ROW))))
  return row_kernel(cfg, x, "layernorm", 1024, lambda k: 2 * k + 2, emit_block, VecOp.SHL, lambda: layernorm_reference(x, in_scale, out_scale, eps, C, aff),
                    columns=(aff[1], aff[3]) if aff else ())

# ---- RMSNorm (Llama): y = gain · x / sqrt(mean(x²) + eps), the same steps without the mean ----
RMS_MAX_LINES = 511          # the per-lane sums of (x << 4)² over a row's lines stay in int32: lines · 2^22 < 2^31
RMS_K = 1 << 15              # x·(K << 8) < 2^30
RMS_FRAC = 6                 # RSQRT at shift F + 2·6 (the variance in QF) returns 1/rms in Q(16+6)
RMS_Y = 14                   # so x·(K << 8)·rstd / 2^31 is x/rms(x) in Q14 (|x/rms| <= sqrt(L) < 2^9)

def _rms_params(L: int, in_scale: float, out_scale: float, eps: float, gain):
  """(1/L multiplier and shift, the variance's fractional bits F, eps in QF of x's step, the gain multipliers and their
  shift): the per-lane means keep up to 4 more bits than Q8 (a per-lane sum of k lines is < k·2^22, so ·16/L and the
  sum over cols lanes stay below 2^26); x/rms(x) in Q14, then per column gain·2^-14/s_out (a sign in its multiplier)."""
  m, sh = V.quantize_multiplier(1 / L)
  e = min(4, sh)
  g = np.ones(L) if gain is None else np.asarray(gain, np.float64)
  gm, gsh = V.quantize_multipliers(np.maximum(np.abs(g), 1e-9) * 2.0 ** -RMS_Y / out_scale)
  return m, sh - e, 8 + e, int(round(eps / in_scale ** 2 * 2 ** (8 + e))), (np.sign(g) + (g == 0)).astype(np.int64) * gm, gsh

def rmsnorm_reference(x: np.ndarray, in_scale: float, out_scale: float, eps: float, lanes: int, gain=None) -> np.ndarray:
  """The integer definition the kernel implements (per-lane partial sums of squares, as the lines hold them)."""
  rows, L = x.shape
  m, sh, F, eps8, gm, gsh = _rms_params(L, in_scale, out_scale, eps, gain)
  c4 = x.astype(np.int64) << 4
  per_lane = (c4 * c4).reshape(rows, L // lanes, lanes).sum(1)
  var8 = V.wrap32(V.rounding_shift_right(V.srdhm(per_lane, m), sh).sum(-1, keepdims=True))
  y = V.srdhm(V.wrap32(x.astype(np.int64) * (RMS_K << 8)), V.rsqrt_q16(var8 + eps8, F + 2 * RMS_FRAC))
  return np.clip(V.rounding_shift_right(V.srdhm(y, gm), gsh), -128, 127).astype(np.int8)

def compile_rmsnorm(cfg: AccelConfig, x: np.ndarray, in_scale: float, out_scale: float, eps: float = 1e-5, gain: np.ndarray | None = None) -> Compiled:
  """int8 x (rows, L) at in_scale -> int8 gain·x/rms(x) at out_scale. Per block of rows (as compile_layernorm): (x << 4)² per element, RSUM over the
  row's lines, 1/L per lane, LSUM, + eps (Q8 to Q12), RSQRT (1/rms in Q22); x·(K << 8) times it by SRDHM (x/rms in Q14);
  then per line its gain multipliers (loaded once) in one REQUANT that saturates to int8."""
  C, k = cfg.cols, x.shape[1] // cfg.cols
  if k > RMS_MAX_LINES: raise CompileError(f"rmsnorm over {x.shape[1]} elements: at most {RMS_MAX_LINES} lines of cols={C} (int32 sums of squares)")
  try: m, sh, F, eps8, gm, gsh = _rms_params(x.shape[1], in_scale, out_scale, eps, gain)
  except ValueError as e: raise CompileError(f"rmsnorm gain: {e}") from None
  def emit_block(xs, a, out, nr, *_):     # acc: the block's nr·k x·K lines, nr·k (x<<4)² lines, nr variances; row-wise steps per row
    n, g = nr * k, emit_block.columns
    q, var = a + n, a + 2 * n
    return (vector(VecOp.SHL, Mem.ACC, q, Mem.SPAD, xs, n, shift=4) + _acc(VecOp.MUL, q, q, n, src2_mem=Mem.ACC.value, src2_addr=q)
            + per_row(nr, lambda r: _acc(VecOp.RSUM, var + r, q + r * k, k))
            + _acc(VecOp.REQUANT, var, var, nr, src2_imm=1, imm=m, shift=sh)
            + _acc(VecOp.LSUM, var, var, nr) + _acc(VecOp.ADD, var, var, nr, src2_imm=1, imm=eps8)
            + _acc(VecOp.RSQRT, var, var, nr, shift=F + 2 * RMS_FRAC)
            + vector(VecOp.MUL, Mem.ACC, a, Mem.SPAD, xs, n, src2_imm=1, imm=RMS_K << 8)
            + per_row(nr, lambda r: _acc(VecOp.REQUANT, a + r * k, a + r * k, k, src2_addr=var + r, shift=0, **ROW)
                      + vector(VecOp.REQUANT, Mem.SPAD, out + r * k, Mem.ACC, a + r * k, k, src2_mem=Mem.ACC.value, src2_addr=g, shift=gsh)))   # line f by gain line f
  return row_kernel(cfg, x, "rmsnorm", RMS_MAX_LINES * C, lambda k: 2 * k + 1, emit_block, VecOp.MUL,
                    lambda: rmsnorm_reference(x, in_scale, out_scale, eps, C, gain), columns=(gm,))
