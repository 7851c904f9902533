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

def apply(funct: VecOp, s1: np.ndarray, s2: np.ndarray, dst: np.ndarray, imm: int, shift: int) -> np.ndarray:
  """One vector function on int64 arrays holding int32 values; returns int64 (not yet saturated)."""
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
  while real < 0.5: real *= 2; shift += 1
  q = int(round(real * (1 << 31)))
  if q == 1 << 31: q //= 2; shift -= 1
  return q, shift
