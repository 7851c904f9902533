"""GELU (tanh form) in a GEMM epilogue, from the vector unit's existing exp2 and recip: no new hardware.

gelu(x) = x·sigmoid(2z), z = sqrt(2/pi)·(x + 0.044715x³). z is odd in x, so with u = |x| and
s = sigmoid(-2|z|) = e/(1+e), e = exp(-2|z|) in (0, 1]:  gelu(x) = relu(x) - |x|·s.
Both terms are computed on the int32 accumulator itself (per-column scale s_acc), so the final
per-channel requantization of the plain epilogue still applies; only s needs the real value of |x|:
u = |acc|·s_acc in Q27 (through Q`F` with per-column multipliers, clamped at 8, where e < 2^-71
is already 0 in Q30), u² and u³ by rounding doubling high multiplies, t = -(a·u + b·u³) in Q19,
e = EXP2(t) in Q1.30, 1/(1+e) = RECIP in Q16.16, s in Q29, |acc|·s = SRDHM(4|acc|, s).
Every step is one VECTOR instruction over the tile (per n-fold when it reads a per-column line);
the step list below is both what the compiler emits and what the integer reference executes.
"""
from __future__ import annotations

import math

import numpy as np

from ..arch import vector as V
from ..arch.isa import VecOp

A_LIN = 2 * math.log2(math.e) * math.sqrt(2 / math.pi)       # -t = A_LIN·u + B_CUB·u³ = 2|z|·log2(e)
B_CUB = A_LIN * 0.044715
CLAMP = 8                                                    # |x| >= 8: e = 2^-71, 0 in Q1.30
TEMPS = ("P", "Q", "R")                                      # accumulator tiles besides C that the steps use
ROW = "gelu"                                                 # the per-column multiplier line

def params(s_acc: np.ndarray) -> tuple[np.ndarray, int, int]:
  """(per-column Q31 multipliers, their shared shift, F): 4|acc| -> |x| in Q F, the finest F <= 27 with every multiplier < 1."""
  F = min(27, math.floor(math.log2(4 / float(np.max(s_acc))) - 1e-9))
  if F < 8: raise ValueError(f"GELU input scale {float(np.max(s_acc)):.3g} is too coarse (needs F >= 8 fractional bits)")
  m, sh = V.quantize_multipliers(np.asarray(s_acc, np.float64) * 2.0 ** F / 4)
  return m, sh, F

def steps(shift: int, F: int) -> list[tuple]:
  """(funct, dst, src1, src2, imm, shift): src2 a tile name, ROW, or None (the immediate)."""
  return [(VecOp.MUL, "P", "C", None, -1, 0), (VecOp.MAX, "P", "P", "C", 0, 0), (VecOp.SHL, "P", "P", None, 0, 2),   # P = 4|acc|
          (VecOp.REQUANT, "Q", "P", ROW, 0, shift), (VecOp.MIN, "Q", "Q", None, CLAMP << F, 0), (VecOp.SHL, "Q", "Q", None, 0, 27 - F),  # u, Q27
          (VecOp.REQUANT, "R", "Q", "Q", 0, 0), (VecOp.REQUANT, "R", "R", "Q", 0, 0),                                  # u² Q23, u³ Q19
          (VecOp.REQUANT, "R", "R", None, -round(B_CUB * 2 ** 31), 0),                                                # -b·u³ Q19
          (VecOp.REQUANT, "Q", "Q", None, -round(A_LIN / 256 * 2 ** 31), 0), (VecOp.ADD, "Q", "Q", "R", 0, 0),        # t Q19
          (VecOp.EXP2, "Q", "Q", None, 0, 19),                                                                        # e Q30
          (VecOp.SRA, "R", "Q", None, 0, 1), (VecOp.ADD, "R", "R", None, 1 << 29, 0), (VecOp.RECIP, "R", "R", None, 0, 29),  # 1/(1+e) Q16
          (VecOp.SHL, "R", "R", None, 0, 14), (VecOp.REQUANT, "Q", "Q", "R", 0, 0),                                    # s Q29
          (VecOp.REQUANT, "P", "P", "Q", 0, 0),                                                                       # |acc|·s
          (VecOp.MAX, "C", "C", None, 0, 0), (VecOp.SUB, "C", "C", "P", 0, 0)]                                        # relu(acc) - |acc|·s

def reference(acc: np.ndarray, mult: np.ndarray, shift: int, F: int) -> np.ndarray:
  """The steps on int32 values (M, N), exactly as the vector unit computes them."""
  t = {"C": np.asarray(acc, np.int64)}
  for f, dst, s1, s2, imm, sh in steps(shift, F):
    b = np.asarray(mult, np.int64) if s2 == ROW else t[s2] if s2 else np.int64(imm)
    t[dst] = V.wrap32(V.apply(f, t[s1], b, t.get(dst), imm, sh))
  return t["C"]
