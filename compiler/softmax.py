"""Quantized softmax over the last axis on the vector unit (the attention building block).

int8 logits x (scale s_x) -> int8 probabilities p (scale s_p, 1/127 by default; attention rows of
hundreds of positions want a finer one, calibrated). Each row of length L (a multiple of `cols`)
occupies L/cols accumulator lines. On the store queue: RMAX over the row's lines then LMAX
across lanes gives the row maximum in every lane; d = x - max <= 0; t = d * round(s_x log2(e) 2^16)
is d·s_x·log2(e) in Q16; e = EXP2(t) in Q1.30, shifted to Q1.18 so a row of up to 2048 sums in int32;
RSUM + LSUM give the row sum, RECIP its inverse in Q16.16; p = REQUANT(K·e, 1/sum, shift 3) with
K = round(1/s_p) <= 2^13 is round(e/sum/s_p), saturated to int8 in the scratchpad, and stored (K
multiplies the one reciprocal line, not every e: SRDHM sees the same 64-bit product). With a constant
mask (causal attention) the removed logits are pushed below every kept one before the maximum (their
probabilities come out 0). A block of rows takes one VECTOR per element-wise step over all its lines and one per
step on its rows' max or sum lines; only RMAX, the SUB of the row's max, RSUM and the REQUANT by its 1/sum run per row.
A masked softmax may instead run row by row over each row's lines up to its last kept logit (the rest zeroed): the
compiler takes the one with fewer vector cycles (arch/timing.py), row by row where a line takes several chunks.
"""
from __future__ import annotations

import math

import numpy as np

from ..arch import timing as T
from ..arch import vector as V
from ..arch.config import AccelConfig
from ..arch.isa import Mem, Opcode, VecOp
from .program import MAX, ROW, Compiled, CompileError, Tiling, dma, dram_image, dram_layout, tile_loop, vector

E_SHIFT = 12                 # Q1.30 -> Q1.18 before summing: 2048 x 2^18 < 2^31; 1/sum <= 2^16 in Q16.16, so K/sum < 2^31 for K <= 2^13

def _k(out_scale: float) -> int:
  k = int(round(1 / out_scale))
  if not 1 <= k <= 1 << 13: raise CompileError(f"softmax output scale {out_scale:.3g} is outside [2^-13, 1]")
  return k

def _mask_value(scale: float) -> int:
  """What a masked logit becomes: low enough that x - max times the exp2 multiplier is below -32 (2^-32: 0 in Q1.30)
  and below every unmasked int8 logit, small enough that the product stays in int32."""
  t = int(round(scale * math.log2(math.e) * 2 ** 16))
  b = max(256, -(-32 * 2 ** 16 // max(t, 1)))
  if (255 + b) * t >= 2 ** 31: raise CompileError(f"masked softmax: input scale {scale:.3g} is too coarse")
  return b

def softmax_reference(x: np.ndarray, scale: float, out_scale: float = 1 / 127, mask: np.ndarray | None = None) -> np.ndarray:
  """The integer definition the kernel implements, row by row (rows of x along axis -1); mask row r % P removes logits."""
  d = x.astype(np.int64)
  if mask is not None: d = d - _mask_value(scale) * np.tile(mask, (len(x) // len(mask), 1))
  d = d - d.max(-1, keepdims=True)
  t = V.wrap32(d * int(round(scale * math.log2(math.e) * 2 ** 16)))
  e = V.exp2_q30(t, 16) >> E_SHIFT
  r = V.recip_q16(V.wrap32(e.sum(-1, keepdims=True)), 30 - E_SHIFT)
  return np.clip(V.rounding_shift_right(V.srdhm(e * _k(out_scale), r), 3), -128, 127).astype(np.int8)

def per_row(nr: int, f) -> list:
  """The instructions f(r) emits for each row r of a block of nr rows, in row order (a block kernel's row-wise steps)."""
  return [i for r in range(nr) for i in f(r)]

def row_kernel(cfg: AccelConfig, x: np.ndarray, what: str, max_len: int, acc_per_row, emit, input_reader: VecOp, reference,
               extra: np.ndarray | None = None, columns: tuple = ()) -> Compiled:
  """A row-wise vector kernel over int8 (rows, L): blocks of rows are loaded (double-buffered), the
  token is forwarded to the store queue through a SYNC on the compute queue, `emit(xs, acc, out, nr, es, r0)`
  gives the VECTOR instructions of the block of nr rows from row r0 (xs: its scratchpad input lines, row after row; acc: its
  nr·acc_per_row(k) accumulator lines, laid out as emit likes; out: its scratchpad output lines; es: its lines of
  `extra`), and the block is stored. Element-wise steps run as one instruction over the block's lines (each
  instruction costs VECTOR_STAGES - 1 cycles of drain beyond its lines: per row, that is most of a short row's
  time); only a row's reductions and broadcasts need one instruction per row. `extra` (P, L) int8 is a second input
  whose row r % P goes with row r (a causal mask shared by the heads). `columns`: int32 vectors of L values
  (per-column gain multipliers, biases), loaded once into accumulator lines after the row buffers; emit finds
  vector v's line for fold f at `emit.columns + v·k + f`. The input block is handed back to the loads after the last
  `input_reader` instruction of the block."""
  C = cfg.cols
  rows, L = x.shape
  if L % C or L > max_len: raise CompileError(f"{what} over {L} elements: the length must be a multiple of cols={C} and at most {max_len}")
  k, row_acc = L // C, acc_per_row(L // C)
  values = {"A": x} | ({"mask": extra} if extra is not None else {}) | {f"column{i}": v for i, v in enumerate(columns)}
  ts = dram_layout(A=(x.shape, "int8"), C=(x.shape, "int8"), **({"mask": (extra.shape, "int8")} if extra is not None else {}),
                   **{f"column{i}": ((L,), "int32") for i in range(len(columns))})
  dram = dram_image(ts, values)
  tx, to, te, tv = ts["A"], ts["C"], ts.get("mask"), [ts[f"column{i}"] for i in range(len(columns))]
  half = (cfg.spad_banks // 2) * cfg.spad_bank_lines
  acc_rows = cfg.acc_lines - len(columns) * k               # the column vectors' lines sit at the top of the accumulator
  emit.columns = acc_rows
  block = max(1, min(rows, (acc_rows // 2) // row_acc, (cfg.spad_bank_lines // 2) // k, MAX['rows'] // k, (half // 4) // k if te else rows))
  def tile(t):
    r0 = t * block; nr, b = min(block, rows - r0), t % 2
    sin, sout, abase = b * block * k, half + b * block * k, b * block * row_acc
    loads = [i for j, t_ in enumerate(tv) if t == 0 for i in dma(Opcode.LOAD, Mem.ACC, acc_rows + j * k, t_.addr, cfg.acc_line_bytes, k, cfg.acc_line_bytes)]
    loads += dma(Opcode.LOAD, Mem.SPAD, sin, tx.addr + r0 * L, C, nr * k, C)
    sext = 2 * block * k + b * block * k                    # the extra rows after the two input buffers
    for r in (range(r0, r0 + nr) if te else ()):            # its rows r % P, in runs that do not wrap
      if r == r0 or r % len(extra) == 0:
        n = min(r0 + nr - r, len(extra) - r % len(extra))
        loads += dma(Opcode.LOAD, Mem.SPAD, sext + (r - r0) * k, te.addr + (r % len(extra)) * L, C, n * k, C)
    vec = emit(sin, abase, sout, nr, sext, r0)
    last = max(j for j, v in enumerate(vec) if v.funct == input_reader.value)
    return loads, vec + dma(Opcode.STORE, Mem.SPAD, sout, to.addr + r0 * L, C, nr * k, C), last
  prog = tile_loop([tile(t) for t in range(-(-rows // block))])
  tensors = {"A": tx, "C": to} | ({"mask": te} if te else {})      # the column vectors are not listed
  return Compiled(cfg, prog, dram, tensors, Tiling(block, k, C, "rows", 0, 0), 0, {"A": x}, to.read, reference)

def compile_softmax(cfg: AccelConfig, x: np.ndarray, scale: float, out_scale: float = 1 / 127, mask: np.ndarray | None = None) -> Compiled:
  """x: int8 (rows, L) logits at `scale`; the result is int8 probabilities at `out_scale` (1/K, K integer).
  mask: (P, L) bool, P dividing rows: row r's logits where mask[r % P] are removed (a causal mask)."""
  K, k = _k(out_scale), x.shape[1] // cfg.cols
  imm_t = int(round(scale * math.log2(math.e) * 2 ** 16))
  if mask is not None and (len(x) % len(mask) or mask.shape[1] != x.shape[1]): raise CompileError(f"softmax mask {mask.shape} does not tile logits {x.shape}")
  mb = _mask_value(scale) if mask is not None else 0
  def emit_block(xs, a, out, nr, ms, _):               # acc holds the block's nr·k lines, then nr maxima, nr sums
    n, m, s = nr * k, a + nr * k, a + nr * k + nr
    # masked: the logits x - B·mask in the accumulator (the mask is 1 where removed; the rows' mask lines follow each other at ms)
    logits, (mem, src) = ([], (Mem.SPAD, xs)) if mask is None else (
      vector(VecOp.MUL, Mem.ACC, a, Mem.SPAD, ms, n, src2_imm=1, imm=-mb & 0xFFFFFFFF)
      + vector(VecOp.ADD, Mem.ACC, a, Mem.ACC, a, n, src2_mem=Mem.SPAD.value, src2_addr=xs), (Mem.ACC, a))
    return (logits + per_row(nr, lambda r: vector(VecOp.RMAX, Mem.ACC, m + r, mem, src + r * k, k)) + vector(VecOp.LMAX, Mem.ACC, m, Mem.ACC, m, nr)
            + per_row(nr, lambda r: vector(VecOp.SUB, Mem.ACC, a + r * k, mem, src + r * k, k, src2_addr=m + r, **ROW))
            + vector(VecOp.MUL, Mem.ACC, a, Mem.ACC, a, n, src2_imm=1, imm=imm_t)
            + vector(VecOp.EXP2, Mem.ACC, a, Mem.ACC, a, n, shift=16) + vector(VecOp.SRA, Mem.ACC, a, Mem.ACC, a, n, shift=E_SHIFT)
            + per_row(nr, lambda r: vector(VecOp.RSUM, Mem.ACC, s + r, Mem.ACC, a + r * k, k)) + vector(VecOp.LSUM, Mem.ACC, s, Mem.ACC, s, nr)
            + vector(VecOp.RECIP, Mem.ACC, s, Mem.ACC, s, nr, shift=30 - E_SHIFT) + vector(VecOp.MUL, Mem.ACC, s, Mem.ACC, s, nr, src2_imm=1, imm=K)
            + per_row(nr, lambda r: vector(VecOp.REQUANT, Mem.SPAD, out + r * k, Mem.ACC, a + r * k, k, src2_addr=s + r, shift=3, **ROW)))
  # masked, row by row instead: a row computes only its lines up to the last unmasked logit; the lines after it are
  # all removed, their probabilities exactly 0 (as the reference computes them), and are just zeroed (about half the
  # lines of a causal softmax, but every step once per row: cheaper where a line takes several chunks, as on tiny)
  live = [k if not m.any() else int(np.flatnonzero(~m).max()) // cfg.cols + 1 for m in mask] if mask is not None else None
  def emit_row(xs, a, out, ms, r):                     # acc: k lines of the row, then its max and its sum
    m, s, v = a + k, a + k + 1, live[r % len(live)]
    return (vector(VecOp.MUL, Mem.ACC, a, Mem.SPAD, ms, v, src2_imm=1, imm=-mb & 0xFFFFFFFF)
            + vector(VecOp.ADD, Mem.ACC, a, Mem.ACC, a, v, src2_mem=Mem.SPAD.value, src2_addr=xs)
            + vector(VecOp.RMAX, Mem.ACC, m, Mem.ACC, a, v) + vector(VecOp.LMAX, Mem.ACC, m, Mem.ACC, m, 1)
            + vector(VecOp.SUB, Mem.ACC, a, Mem.ACC, a, v, src2_addr=m, **ROW)
            + vector(VecOp.MUL, Mem.ACC, a, Mem.ACC, a, v, src2_imm=1, imm=imm_t)
            + vector(VecOp.EXP2, Mem.ACC, a, Mem.ACC, a, v, shift=16) + vector(VecOp.SRA, Mem.ACC, a, Mem.ACC, a, v, shift=E_SHIFT)
            + vector(VecOp.RSUM, Mem.ACC, s, Mem.ACC, a, v) + vector(VecOp.LSUM, Mem.ACC, s, Mem.ACC, s, 1)
            + vector(VecOp.RECIP, Mem.ACC, s, Mem.ACC, s, 1, shift=30 - E_SHIFT)
            + vector(VecOp.MUL, Mem.ACC, s, Mem.ACC, s, 1, src2_imm=1, imm=K)       # K/sum, not K·e: one line, the same product
            + vector(VecOp.REQUANT, Mem.SPAD, out, Mem.ACC, a, v, src2_addr=s, shift=3, **ROW)
            + (vector(VecOp.MUL, Mem.SPAD, out + v, Mem.SPAD, out + v, k - v, src2_imm=1, imm=0) if v < k else []))
  def emit_rows(xs, a, out, nr, ms, r0): return [i for r in range(nr) for i in emit_row(xs + r * k, a + r * (k + 2), out + r * k, ms + r * k, r0 + r)]
  kernel = lambda emit: row_kernel(cfg, x, "softmax", 2048, lambda k: k + 2, emit, VecOp.SUB, lambda: softmax_reference(x, scale, out_scale, mask),
                                   mask.astype(np.int8) if mask is not None else None)
  vector_cycles = lambda c: sum(T.occupancy(cfg, i) for i in c.program if i.opcode == Opcode.VECTOR)
  return kernel(emit_block) if mask is None else min((kernel(emit_block), kernel(emit_rows)), key=vector_cycles)   # the cheaper by the timing rule
