"""Bit-exact definitions of the vector unit's functions (the model computes them, the RTL matches).

All arithmetic is int32 two's complement. Operands read from the scratchpad are int8 sign-extended;
results written to the scratchpad saturate to int8, results written to the accumulator wrap to
int32. REQUANT is the gemmlowp/TFLite fixed-point requantization: a rounding doubling high multiply
by a Q31 multiplier, then a rounding arithmetic shift right.
"""
from __future__ import annotations

import numpy as np

from .isa import VecOp

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1
I8_MIN, I8_MAX = -(1 << 7), (1 << 7) - 1     # a scratchpad destination saturates to these
MAX_SHIFT = 31                               # the largest shift of an int32 value: the model refuses a larger `shift`
PRESHIFT = 20                                # RESCALE / ADDRS: int8 << 20 keeps 20 fractional bits through the rescale (TFLite ADD)

def wrap32(x: np.ndarray) -> np.ndarray: return np.asarray(x, np.int64).astype(np.int32).astype(np.int64)

def srdhm(a: np.ndarray, b) -> np.ndarray:
  """SaturatingRoundingDoublingHighMul: round(a * b / 2^31), the one overflow case saturated."""
  ab = np.asarray(a, np.int64) * np.asarray(b, np.int64)
  neg = ab < 0
  num = ab + (1 << 30) - neg * ((1 << 31) - 1)                 # nudge: +2^30, or 1 - 2^30 for negative products
  q = (num + (num < 0) * ((1 << 31) - 1)) >> 31                # C division by 2^31: truncate toward zero
  return np.where((np.asarray(a) == I32_MIN) & (np.asarray(b) == I32_MIN), I32_MAX, q)

def rounding_shift_right(x: np.ndarray, shift: int) -> np.ndarray:
  """RoundingDivideByPOT: x / 2^shift rounded to nearest, ties away from zero."""
  x = np.asarray(x, np.int64)
  if shift == 0: return x
  mask = (1 << shift) - 1
  threshold = (mask >> 1) + (x < 0)
  return (x >> shift) + ((x & mask) > threshold)

# ---- transcendental approximations: a 257-point table over [1, 2) (or [0, 1)) and linear interpolation ----
# Inputs carry `shift` fractional bits; EXP2 returns Q1.30, LOG2 / RECIP / RSQRT return Q16.16 (saturating).
TABLE_BITS = 8                               # 256 intervals: a Q0.30 fraction's top 8 bits pick one, the low 22 interpolate
INTERP_BITS = 30 - TABLE_BITS
_T = np.arange((1 << TABLE_BITS) + 1) / (1 << TABLE_BITS)
EXP2_TABLE = np.round(2.0 ** -_T * 2 ** 30).astype(np.int64)             # 2^-t, t in [0, 1]
LOG2_TABLE = np.round(np.log2(1 + _T) * 2 ** 16).astype(np.int64)        # log2(1 + t)
RECIP_TABLE = np.round(2 ** 30 / (1 + _T)).astype(np.int64)              # 1 / (1 + t)
RSQRT_TABLE = np.round(2 ** 30 / np.sqrt(1 + _T)).astype(np.int64)       # 1 / sqrt(1 + t)
RSQRT_ODD_TABLE = np.round(2 ** 30 / np.sqrt(2 + 2 * _T)).astype(np.int64)   # 1 / sqrt(2 (1 + t)): an odd exponent, no multiply by 1/sqrt(2)

def _lookup(table, frac30, bits: int = TABLE_BITS):
  """Table value at a Q0.30 fraction: entry frac >> (30 - bits), interpolated by the low 30 - bits bits (22)."""
  lo_bits = 30 - bits
  i, lo = frac30 >> lo_bits, frac30 & ((1 << lo_bits) - 1)
  return table[i] + (((table[i + 1] - table[i]) * lo) >> lo_bits)

def _normalize(x):
  """x > 0 -> (p, m): x = 2^p * (1 + m / 2^30), p the leading one's position (0..30)."""
  p = np.floor(np.log2(np.maximum(x, 1))).astype(np.int64)
  p += (x >> np.minimum(p + 1, 62)) > 0; p -= (x >> p) == 0         # exact at powers of two despite float rounding
  m = np.where(p <= 30, x << np.maximum(30 - p, 0), x >> np.maximum(p - 30, 0)) - (1 << 30)
  return p, m

def _shift(y, by):
  """y * 2^by, rounding when by < 0, saturating to int32 when by > 0."""
  left = np.minimum(np.maximum(by, 0), 62); right = np.minimum(np.maximum(-by, 0), 62)
  out = np.where(by >= 0, np.minimum(y << left, I32_MAX), (y + ((1 << right) >> 1)) >> right)
  return np.minimum(out, I32_MAX)

def exp2_q30(x, shift: int):
  """2^(x / 2^shift) for x <= 0 (positive x reads as 0) in Q1.30."""
  u = np.maximum(-np.asarray(x, np.int64), 0)
  frac = u & ((1 << shift) - 1)
  n, f = u >> shift, (frac << (30 - shift) if shift <= 30 else frac >> (shift - 30))
  return np.where(n > 30, 0, _lookup(EXP2_TABLE, f) >> np.minimum(n, 30))

def log2_q16(x, shift: int):
  """log2(x / 2^shift) in Q16.16; x <= 0 gives INT32_MIN."""
  x = np.asarray(x, np.int64)
  p, m = _normalize(np.where(x > 0, x, 1))                        # non-positive lanes are computed on 1, then replaced
  return np.where(x > 0, ((p - shift) << 16) + _lookup(LOG2_TABLE, m), I32_MIN)

def recip_q16(x, shift: int):
  """1 / (x / 2^shift) in Q16.16, saturating; x <= 0 gives INT32_MAX."""
  x = np.asarray(x, np.int64)
  p, m = _normalize(np.where(x > 0, x, 1))
  return np.where(x > 0, _shift(_lookup(RECIP_TABLE, m), shift - p - 14), I32_MAX)

def rsqrt_q16(x, shift: int):
  """1 / sqrt(x / 2^shift) in Q16.16, saturating; x <= 0 gives INT32_MAX."""
  x = np.asarray(x, np.int64)
  p, m = _normalize(np.where(x > 0, x, 1))
  e = p - shift                                                   # x / 2^shift = 2^e * (1 + m)
  y = np.where(e & 1, _lookup(RSQRT_ODD_TABLE, m), _lookup(RSQRT_TABLE, m))   # odd exponent: the table of 1/sqrt(2 (1 + t))
  return np.where(x > 0, _shift(y, -((e - (e & 1)) >> 1) - 14), I32_MAX)

def rescale(x: np.ndarray, mult, shift: int) -> np.ndarray:
  """The TFLite ADD's rescale of an operand: REQUANT(wrap32(x << PRESHIFT), mult, shift); for int8 x the shift cannot overflow."""
  return rounding_shift_right(srdhm(wrap32(np.asarray(x, np.int64) << PRESHIFT), mult), shift)

# ---- the GELU's factor: gelu(x) = x·Phi(x), Phi(x) = sigmoid(2z), z = sqrt(2/pi)·(x + 0.044715x³) (the tanh form) ----
# z is odd, so Phi(-u) = s(u) and Phi(u) = 1 - s(u) with s(u) = sigmoid(-2z(u)) for u >= 0: one table of s in Q1.30 over
# u in [0, 8), 513 points (512 intervals: the top 9 bits of u / 8 as a Q0.30 fraction pick one, the low 21 interpolate),
# 0 from 8 on (s(8) < 2^-70, below one LSB of Q0.31).
GELU_CLAMP_BITS, GELU_TABLE_BITS = 3, 9
_U = np.arange((1 << GELU_TABLE_BITS) + 1) / (1 << GELU_TABLE_BITS) * (1 << GELU_CLAMP_BITS)
GELU_TABLE = np.round(2 ** 30 / (1 + np.exp(2 * np.sqrt(2 / np.pi) * (_U + 0.044715 * _U ** 3)))).astype(np.int64)   # s(u)

def gelu_q31(x, shift: int):
  """Phi(x / 2^shift) in Q0.31 (1 saturates to INT32_MAX): s = s(|x| / 2^shift) in Q1.30 from the table at
  |x| / 2^(shift + 3) as a Q0.30 fraction (0 from 8 on); 2s for x < 0, 2^31 - 2s otherwise."""
  x = np.asarray(x, np.int64)
  u, k = np.abs(x), shift + GELU_CLAMP_BITS                      # u / 2^k = |x| / 2^shift / 8
  f = (u & ((1 << k) - 1)) << max(30 - k, 0) >> max(k - 30, 0)
  s = np.where(u >> k > 0, 0, _lookup(GELU_TABLE, f, GELU_TABLE_BITS))
  return np.where(x < 0, 2 * s, np.minimum((1 << 31) - 2 * s, I32_MAX))

def apply(funct: VecOp, s1: np.ndarray, s2: np.ndarray, dst: np.ndarray, imm: int, shift: int, bias: np.ndarray | None = None) -> np.ndarray:
  """One vector function on int64 arrays holding int32 values; returns int64 (not yet saturated). `bias`: BIASRQ's bias line."""
  f = VecOp(funct)
  if f == VecOp.ADD: return wrap32(s1 + s2)
  if f == VecOp.SUB: return wrap32(s1 - s2)
  if f == VecOp.MUL: return wrap32(s1 * s2)
  if f == VecOp.MAX: return np.maximum(s1, s2)
  if f == VecOp.MIN: return np.minimum(s1, s2)
  if f == VecOp.CMPLT: return (s1 < s2).astype(np.int64)
  if f == VecOp.SELECT: return np.where(dst != 0, s1, s2)
  if f == VecOp.SHL: return wrap32(s1 << shift)
  if f == VecOp.SRA: return s1 >> shift
  if f == VecOp.SRAR: return rounding_shift_right(s1, shift)
  if f == VecOp.REQUANT: return rounding_shift_right(srdhm(s1, s2), shift)   # s2: per-lane multipliers, or imm
  if f == VecOp.RSUM: return wrap32(s1.sum(0, keepdims=True))
  if f == VecOp.RMAX: return s1.max(0, keepdims=True)
  if f == VecOp.COPY: return s1.copy()
  if f == VecOp.LSUM: return np.broadcast_to(wrap32(s1.sum(1, keepdims=True)), s1.shape).copy()
  if f == VecOp.LMAX: return np.broadcast_to(s1.max(1, keepdims=True), s1.shape).copy()
  if f == VecOp.EXP2: return exp2_q30(s1, shift)
  if f == VecOp.LOG2: return log2_q16(s1, shift)
  if f == VecOp.RECIP: return recip_q16(s1, shift)
  if f == VecOp.RSQRT: return rsqrt_q16(s1, shift)
  if f == VecOp.RESCALE: return rescale(s1, s2, shift)                      # s2: per-lane multipliers, or imm (as REQUANT)
  if f == VecOp.ADDRS: return wrap32(s1 + rescale(s2, np.int64(imm), shift))  # the multiplier is always imm; s2 the operand
  if f == VecOp.BIASRQ: return rounding_shift_right(srdhm(wrap32(s1 + bias), s2), shift)   # s2: the multiplier line
  if f == VecOp.GELU: return gelu_q31(s1, shift)
  raise ValueError(f"unknown vector function {funct}")

def quantize_multipliers(reals) -> tuple[np.ndarray, int]:
  """Per-channel Q31 multipliers sharing one right shift (set by the largest scale), all in (0, 1)."""
  reals = np.asarray(reals, np.float64)
  if not ((reals > 0) & (reals < 1)).all(): raise ValueError(f"requantization scales must be in (0, 1), got {reals.min():.3g}..{reals.max():.3g}")
  _, shift = quantize_multiplier(float(reals.max()))
  return np.minimum(np.round(reals * 2.0 ** (31 + shift)), I32_MAX).astype(np.int32), shift

def quantize_multiplier(real: float) -> tuple[int, int]:
  """(Q31 multiplier, right shift) with real ~= multiplier / 2^31 / 2^shift, for 0 < real < 1."""
  if not 0 < real < 1: raise ValueError(f"requantization scale {real} must be in (0, 1)")
  shift = 0
  while real < 0.5 and shift < MAX_SHIFT: real *= 2; shift += 1   # past MAX_SHIFT the multiplier shrinks instead (toward 0: the output is 0)
  q = int(round(real * (1 << 31)))
  if q == 1 << 31: q //= 2; shift -= 1
  return q, shift
