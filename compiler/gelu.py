"""GELU (tanh form) in a GEMM epilogue: three vector steps around the unit's GELU function (arch/vector.gelu_q31).

gelu(x) = x·Phi(x), Phi(x) = sigmoid(2z), z = sqrt(2/pi)·(x + 0.044715x³). The product is taken on the int32
accumulator itself (per-column scale s_acc), so the final per-channel requantization of the plain epilogue still
applies; only Phi needs the real value of x: x = acc·s_acc in Q`F` (one REQUANT by per-column multipliers, F the
finest format whose multipliers are < 1), Phi(x) = GELU(x) in Q0.31 (a 513-point table of sigmoid(-2z(|x|)) over
|x| in [0, 8), interpolated), acc·Phi = SRDHM(acc, Phi), rounded to the accumulator's own step.
Every step is one VECTOR instruction over the tile (per n-fold when it reads a per-column line);
the step list below is both what the compiler emits and what the integer reference executes.
"""
from __future__ import annotations

import math

import numpy as np

from ..arch import vector as V
from ..arch.isa import VecOp

F_MIN, F_MAX = 5, 27                                         # x in Q5 at the coarsest (the table's step is 1/32); Q27 holds |x| < 16
TEMPS = ("P",)                                               # accumulator tiles besides C that the steps use
ROW = "gelu"                                                 # the per-column multiplier line

def params(s_acc: np.ndarray) -> tuple[np.ndarray, int, int]:
  """(per-column Q31 multipliers, their shared shift, F): acc -> x in Q F, the finest F <= F_MAX with every multiplier < 1."""
  F = min(F_MAX, math.floor(math.log2(1 / float(np.max(s_acc))) - 1e-9))
  if F < F_MIN: raise ValueError(f"GELU input scale {float(np.max(s_acc)):.3g} is too coarse (needs F >= {F_MIN} fractional bits)")
  m, sh = V.quantize_multipliers(np.asarray(s_acc, np.float64) * 2.0 ** F)
  return m, sh, F

def steps(shift: int, F: int) -> list[tuple]:
  """(funct, dst, src1, src2, imm, shift): src2 a tile name, ROW, or None (the immediate)."""
  return [(VecOp.REQUANT, "P", "C", ROW, 0, shift),         # x = acc·s_acc in Q F
          (VecOp.GELU, "P", "P", None, 0, F),               # Phi(x) in Q0.31
          (VecOp.REQUANT, "C", "C", "P", 0, 0)]             # acc·Phi(x)

def reference(acc: np.ndarray, mult: np.ndarray, shift: int, F: int) -> np.ndarray:
  """The steps on int32 values (M, N), exactly as the vector unit computes them."""
  t = {"C": np.asarray(acc, np.int64)}
  for f, dst, s1, s2, imm, sh in steps(shift, F):
    b = np.asarray(mult, np.int64) if s2 == ROW else t[s2] if s2 else np.int64(imm)
    t[dst] = V.wrap32(V.apply(f, t[s1], b, t.get(dst), imm, sh))
  return t["C"]
