"""SwiGLU's product h = silu(g)·u on the vector unit, from its existing exp2 and recip (no new hardware; docs/llm.md).

int8 g (scale s_g) and int8 u (scale s_u), the gate and up halves of the gate_up GEMM, -> int8 h (scale s_h).
silu(x) = x·sigmoid(x) is, with s = sigmoid(-|x|) = e/(1+e) and e = exp(-|x|) in (0, 1]: relu(x) - |x|·s (the identity
GELU used before the vector unit had its table function). On int32 per element: G = g << 16; T = -|G|·s_g·log2(e) in Q`F` (one
Q31 REQUANT); e = EXP2(T) in Q1.30; 1/(1+e) = RECIP in Q16.16, shifted to Q30; s = e/(1+e) in Q29; |G|·s =
SRDHM(4|G|, s); silu = relu(G) - |G|·s (Q16 of g's step, |silu| < 2^23); times u (< 2^30); one REQUANT by
s_g·s_u/(s_h·2^16) saturates to int8. Both operands are viewed as lines of `cols` elements and double-buffered like
compiler/eltwise.py's residual add; the step list is what the compiler emits and what the integer reference executes.
"""
from __future__ import annotations

import math

import numpy as np

from ..arch import vector as V
from ..arch.config import AccelConfig
from ..arch.isa import FIELD_MAX, Mem, Opcode, VecOp
from .program import Compiled, CompileError, DramTensor, Tiling, dma, dram_image, dram_layout, tile_loop, vector

G_SHIFT = 16                      # g in Q16 of its step: |g|·2^16 < 2^23 keeps 4|G| and silu·u in int32
TEMPS = ("A", "B", "C", "D")      # accumulator tiles; "g", "u" are the scratchpad inputs, "h" the output

def params(s_g: float, s_u: float, s_h: float) -> tuple[int, int, int, int, int]:
  """(F, exp multiplier, its shift, output multiplier, its shift): F the finest Q format <= 24 whose multiplier
  s_g·log2(e)·2^(F-16) is < 1."""
  F = min(24, math.floor(G_SHIFT + math.log2(1 / (s_g * math.log2(math.e))) - 1e-9))
  if F < 8: raise CompileError(f"swiglu gate scale {s_g:.3g} is too coarse (needs F >= 8 fractional bits)")
  try: (me, she), (mo, sho) = V.quantize_multiplier(s_g * math.log2(math.e) * 2.0 ** (F - G_SHIFT)), V.quantize_multiplier(s_g * s_u / s_h / 2 ** G_SHIFT)
  except ValueError as e: raise CompileError(f"swiglu scales: {e}") from None
  return F, me, she, mo, sho

def steps(F: int, me: int, she: int, mo: int, sho: int) -> list[tuple]:
  """(funct, dst, src1, src2, imm, shift): src2 a tile name, or None (the immediate)."""
  return [(VecOp.SHL, "A", "g", None, 0, G_SHIFT), (VecOp.MUL, "B", "A", None, -1, 0), (VecOp.MAX, "B", "B", "A", 0, 0),   # G, |G|
          (VecOp.REQUANT, "C", "B", None, -me, she), (VecOp.EXP2, "C", "C", None, 0, F),                                 # e Q30
          (VecOp.SRA, "D", "C", None, 0, 1), (VecOp.ADD, "D", "D", None, 1 << 29, 0), (VecOp.RECIP, "D", "D", None, 0, 29),  # 1/(1+e) Q16
          (VecOp.SHL, "D", "D", None, 0, 14), (VecOp.REQUANT, "C", "C", "D", 0, 0),                                      # s Q29
          (VecOp.SHL, "B", "B", None, 0, 2), (VecOp.REQUANT, "B", "B", "C", 0, 0),                                       # |G|·s
          (VecOp.MAX, "A", "A", None, 0, 0), (VecOp.SUB, "A", "A", "B", 0, 0),                                           # silu(G)
          (VecOp.MUL, "A", "A", "u", 0, 0), (VecOp.REQUANT, "h", "A", None, mo, sho)]                                    # ·u, to int8

def swiglu_reference(g: np.ndarray, u: np.ndarray, s_g: float, s_u: float, s_h: float) -> np.ndarray:
  """The steps on the int8 operands, exactly as the vector unit computes them (int8 destinations saturate)."""
  t = {"g": g.astype(np.int64), "u": u.astype(np.int64)}
  for f, dst, s1, s2, imm, sh in steps(*params(s_g, s_u, s_h)):
    r = V.apply(f, t[s1], t[s2] if s2 else np.int64(imm), t.get(dst), imm, sh)
    t[dst] = np.clip(r, -128, 127) if dst == "h" else V.wrap32(r)
  return t["h"].astype(np.int8)

def compile_swiglu(cfg: AccelConfig, g: np.ndarray, u: np.ndarray, s_g: float, s_u: float, s_h: float) -> Compiled:
  """g, u: int8 arrays of one shape (gate and up activations); the result h = silu(g·s_g)·(u·s_u) / s_h in int8."""
  if g.shape != u.shape: raise CompileError(f"swiglu of shapes {g.shape} and {u.shape}")
  st = steps(*params(s_g, s_u, s_h))
  C, L = cfg.cols, -(-g.size // cfg.cols)
  ts = dram_layout(A=((L * C,), "int8"), B=((L * C,), "int8"), C=((L * C,), "int8")); tg, tu, to = ts.values()
  dram = dram_image(ts, {"A": g.reshape(-1), "B": u.reshape(-1)})
  # tile of `rows` lines: the scratchpad holds 2 x (g, u, h), the accumulator 2 x the four temporaries
  rows = max(1, min(L, cfg.spad_bank_lines // 3 // 2, cfg.acc_lines // (2 * len(TEMPS)), FIELD_MAX[Opcode.VECTOR]["rows"]))
  half = (cfg.spad_banks // 2) * cfg.spad_bank_lines
  def tile(t):
    l0, ls, b = t * rows, min(rows, L - t * rows), t % 2
    at = {"g": (Mem.SPAD, b * rows), "u": (Mem.SPAD, half + b * rows), "h": (Mem.SPAD, half + (2 + b) * rows)}
    at |= {n: (Mem.ACC, (b * len(TEMPS) + j) * rows) for j, n in enumerate(TEMPS)}
    loads = dma(Opcode.LOAD, Mem.SPAD, at["g"][1], tg.addr + l0 * C, C, ls, C) + dma(Opcode.LOAD, Mem.SPAD, at["u"][1], tu.addr + l0 * C, C, ls, C)
    vec = []
    for f, dst, s1, s2, imm, sh in st:
      src2 = dict(src2_mem=at[s2][0].value, src2_addr=at[s2][1]) if s2 else dict(src2_imm=1, imm=imm & 0xFFFFFFFF)
      vec += vector(f, *at[dst], *at[s1], ls, shift=sh, **src2)
    last = max(i for i, (_, _, s1, s2, *_) in enumerate(st) if "u" in (s1, s2))        # u is read by the last multiply
    return loads, vec + dma(Opcode.STORE, Mem.SPAD, at["h"][1], to.addr + l0 * C, C, ls, C), last
  prog = tile_loop([tile(t) for t in range(-(-L // rows))])
  out = DramTensor(to.addr, g.shape, "int8")                 # the output without its padding to whole lines
  return Compiled(cfg, prog, dram, {"A": tg, "B": tu, "C": out}, Tiling(rows, 0, 0, "lines", 0, 0), 0, {"A": g, "B": u}, out.read,
                  lambda: swiglu_reference(g, u, s_g, s_u, s_h))
