"""Rotary position embedding on the vector unit (Llama's rotate-half form; docs/llm.md).

A head vector x of dh elements at position p is split in halves x1 = x[:dh/2], x2 = x[dh/2:], and with c_i, s_i =
cos, sin(p·θ_i): out = [x1·c - x2·s, x2·c + x1·s]. The partners of a pair are dh/2 elements apart inside a head, and the
unit has no lane permutation, so the DMA brings them to the same lanes: every (token, head) half is its own scratchpad
line of min(dh/2, cols) elements (one load per half and chunk with `outer` over the heads, strided over the tokens; a
line then uses dh/2 of `cols` lanes). The cos and sin rows of each token's position (Q14 int32, a table in DRAM indexed
by position; here the rows of the positions used) are accumulator lines, so one VECTOR covers a block of tokens of one
head: four multiplies, a subtract and an add per (head, chunk), and a REQUANT by s_in/(s_out·2^14) saturating to int8.
The input is a row of `width` elements per token whose heads head0 .. head0+heads-1 are roped (Q or K inside the qkv output).
"""
from __future__ import annotations

import numpy as np

from ..arch import vector as V
from ..arch.config import AccelConfig
from ..arch.isa import FIELD_MAX, Mem, Opcode, VecOp
from .program import Compiled, CompileError, Tiling, dma, dram_image, dram_layout, tile_loop, vector

TRIG_FRAC = 14            # cos, sin in Q14: int8 · Q14 products and their sums stay below 2^23

def frequencies(dh: int, theta: float = 500000.0) -> np.ndarray:
  """θ_i = theta^(-2i/dh), i < dh/2 (Llama 3's base; its long-context rescaling of low frequencies is not applied)."""
  return theta ** (-np.arange(dh // 2) * 2.0 / dh)

def trig(pos: np.ndarray, freqs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  a = np.asarray(pos, np.float64)[:, None] * freqs[None, :]
  return (np.round(np.cos(a) * 2 ** TRIG_FRAC).astype(np.int32), np.round(np.sin(a) * 2 ** TRIG_FRAC).astype(np.int32))

def rope_reference(x: np.ndarray, heads: int, dh: int, pos, freqs, in_scale: float, out_scale: float, head0: int = 0) -> np.ndarray:
  """The integer definition: (T, width) int8 -> (T, heads·dh) int8."""
  m, sh = _mult(in_scale, out_scale)
  c, s = (t[:, None, :].astype(np.int64) for t in trig(pos, freqs))
  h = x[:, head0 * dh:(head0 + heads) * dh].reshape(len(x), heads, 2, dh // 2).astype(np.int64)
  o1, o2 = V.wrap32(h[:, :, 0] * c - h[:, :, 1] * s), V.wrap32(h[:, :, 1] * c + h[:, :, 0] * s)
  q = lambda v: np.clip(V.rounding_shift_right(V.srdhm(v, m), sh), -128, 127)
  return np.stack([q(o1), q(o2)], 2).reshape(len(x), heads * dh).astype(np.int8)

def _mult(in_scale, out_scale):
  try: return V.quantize_multiplier(in_scale / out_scale / 2 ** TRIG_FRAC)
  except ValueError as e: raise CompileError(f"rope scales: {e}") from None

def compile_rope(cfg: AccelConfig, x: np.ndarray, heads: int, dh: int, pos, in_scale: float, out_scale: float, freqs: np.ndarray | None = None,
                 head0: int = 0) -> Compiled:
  """x: int8 (T, width) at in_scale, its head vectors head0 .. head0+heads-1 of dh roped at positions pos (T,) -> int8 (T, heads·dh)."""
  C, (T, W), half = cfg.cols, x.shape, dh // 2
  freqs = frequencies(dh) if freqs is None else np.asarray(freqs, np.float64)
  if dh % 2 or (head0 + heads) * dh > W or len(pos) != T: raise CompileError(f"rope: {heads} heads of {dh} in rows of {W}, {len(pos)} positions for {T} tokens")
  if half > C and half % C: raise CompileError(f"rope: half a head ({half}) must fit a line of cols={C} or be whole lines")
  lb, hc = min(half, C), -(-half // C)                     # elements per line, lines per half
  m, sh = _mult(in_scale, out_scale)
  cos, sin = trig(pos, freqs)
  ts = dram_layout(A=(x.shape, "int8"), cos=(cos.shape, "int32"), sin=(sin.shape, "int32"), C=((T, heads * dh), "int8"))
  dram = dram_image(ts, {"A": x, "cos": cos, "sin": sin})
  per = 2 * hc * heads                                    # scratchpad lines per token (every half-chunk of every head)
  tt = min(T, cfg.spad_lines // (4 * per), cfg.acc_lines // (4 * hc + 2), FIELD_MAX[Opcode.VECTOR]["rows"], FIELD_MAX[Opcode.LOAD]["rows"])
  if tt < 1: raise CompileError(f"rope: {heads} heads of {dh} need {4 * per} scratchpad lines per token, more than the {cfg.spad_lines}")
  tA, tO = ts["A"], ts["C"]
  def tile(t):
    t0, n, b = t * tt, min(tt, T - t * tt), t % 2
    line = lambda s, j, h: ((s * hc + j) * heads + h) * n  # half s, chunk j, head h: n lines, one per token (a DMA's outer order)
    sin_, sout = b * per * tt, (2 + b) * per * tt
    cs = b * 2 * hc * tt; ta, tb = 4 * hc * tt, 4 * hc * tt + tt    # cos/sin lines of this buffer; two temporaries
    loads = []
    for s in range(2):
      for j in range(hc):
        off = head0 * dh + s * half + j * C
        loads += dma(Opcode.LOAD, Mem.SPAD, sin_ + line(s, j, 0), tA.addr + t0 * W + off, lb, n, W, heads, dh)
    for k, tab in enumerate((ts["cos"], ts["sin"])):
      for j in range(hc): loads += dma(Opcode.LOAD, Mem.ACC, cs + (k * hc + j) * tt, tab.addr + (t0 * half + j * C) * 4, lb * 4, n, half * 4)
    vec = []
    for h in range(heads):
      for j in range(hc):
        x1, x2, c, s_ = sin_ + line(0, j, h), sin_ + line(1, j, h), cs + j * tt, cs + (hc + j) * tt
        mul = lambda d, a, tr: vector(VecOp.MUL, Mem.ACC, d, Mem.SPAD, a, n, src2_mem=Mem.ACC.value, src2_addr=tr)
        add = lambda f: vector(f, Mem.ACC, ta, Mem.ACC, ta, n, src2_mem=Mem.ACC.value, src2_addr=tb)
        req = lambda o: vector(VecOp.REQUANT, Mem.SPAD, o, Mem.ACC, ta, n, src2_imm=1, imm=m, shift=sh)
        vec += (mul(ta, x1, c) + mul(tb, x2, s_) + add(VecOp.SUB) + req(sout + line(0, j, h))
                + mul(ta, x2, c) + mul(tb, x1, s_) + add(VecOp.ADD) + req(sout + line(1, j, h)))
    last = len(vec) - 3                                    # the last multiply reads the inputs and the trig lines
    stores = [i for s in range(2) for j in range(hc)
              for i in dma(Opcode.STORE, Mem.SPAD, sout + line(s, j, 0), tO.addr + t0 * heads * dh + s * half + j * C, lb, n, heads * dh, heads, dh)]
    return loads, vec + stores, last
  prog = tile_loop([tile(t) for t in range(-(-T // tt))])
  return Compiled(cfg, prog, dram, {"A": tA, "cos": ts["cos"], "sin": ts["sin"], "C": tO}, Tiling(tt, 0, 0, "tokens", 0, 0), 0, {"A": x},
                  tO.read, lambda: rope_reference(x, heads, dh, pos, freqs, in_scale, out_scale, head0))
