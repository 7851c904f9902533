"""Quantized softmax over the last axis on the vector unit (the attention building block).

int8 logits x (scale s_x) -> int8 probabilities p (scale s_p, 1/127 by default; attention rows of
hundreds of positions want a finer one, calibrated). Each row of length L (a multiple of `cols`)
occupies L/cols accumulator lines. Per row on the store queue: RMAX over the row's lines then LMAX
across lanes gives the row maximum in every lane; d = x - max <= 0; t = d * round(s_x log2(e) 2^16)
is d·s_x·log2(e) in Q16; e = EXP2(t) in Q1.30, shifted to Q1.18 so a row of up to 2048 sums in int32;
RSUM + LSUM give the row sum, RECIP its inverse in Q16.16; p = REQUANT(K·e, 1/sum, shift 3) with
K = round(1/s_p) <= 2^13 is round(e/sum/s_p), saturated to int8 in the scratchpad, and stored (K
multiplies the one reciprocal line, not every e: SRDHM sees the same 64-bit product). With a constant
mask (causal attention) the removed logits are pushed below every kept one before the maximum, and a
row's lines after its last kept logit are only zeroed: a causal softmax does about half the work.
"""
from __future__ import annotations
import math
import numpy as np
from ..arch.config import AccelConfig
from ..arch.isa import Instr, Opcode, Mem, Queue, VecOp
from ..arch import vector as V
from .gemm import Tensor, Compiled, Tiling, CompileError, _dma, _vector, _flag, rup, ALIGN, MAX

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

def row_kernel(cfg: AccelConfig, x: np.ndarray, what: str, max_len: int, acc_per_row, emit, input_reader: VecOp, reference,
               extra: np.ndarray | None = None, columns: tuple = ()) -> Compiled:
  """A row-wise vector kernel over int8 (rows, L): blocks of rows are loaded (double-buffered), the
  token is forwarded to the store queue through a SYNC on the compute queue, `emit(xs, acc, out, es, r)`
  gives row r's VECTOR instructions (xs: its scratchpad input lines, acc: its `acc_per_row(k)`
  accumulator lines, out: its scratchpad output lines, es: its lines of `extra`), and the block is
  stored. `extra` (P, L) int8 is a second input whose row r % P goes with row r (a causal mask
  shared by the heads). `columns`: int32 vectors of L values (per-column gain multipliers, biases),
  loaded once into accumulator lines after the row buffers; emit finds vector v's line for fold f
  at `emit.columns + v·k + f`. The input block is handed back to the loads after the last
  `input_reader` instruction of the block."""
  C = cfg.cols
  rows, L = x.shape
  if L % C or L > max_len: raise CompileError(f"{what} over {L} elements: the length must be a multiple of cols={C} and at most {max_len}")
  k, per_row = L // C, acc_per_row(L // C)
  tx = Tensor(0, x.shape, "int8"); to = Tensor(rup(x.size, ALIGN), x.shape, "int8")
  te = Tensor(rup(to.addr + x.size, ALIGN), extra.shape, "int8") if extra is not None else None
  end = te.addr + extra.size if te else to.addr + x.size
  tv = [Tensor(rup(end, ALIGN) + i * rup(4 * L, ALIGN), (L,), "int32") for i in range(len(columns))]
  dram = np.zeros(rup(tv[-1].addr + 4 * L if tv else end, ALIGN), np.uint8); dram[:x.size] = x.reshape(-1).view(np.uint8)
  if te: dram[te.addr:te.addr + extra.size] = extra.reshape(-1).view(np.uint8)
  for t_, v in zip(tv, columns): dram[t_.addr:t_.addr + 4 * L] = np.asarray(v, "<i4").view(np.uint8)
  half = (cfg.spad_banks // 2) * cfg.spad_bank_lines
  acc_rows = cfg.acc_lines - len(columns) * k               # the column vectors' lines sit at the top of the accumulator
  emit.columns = acc_rows
  block = max(1, min(rows, (acc_rows // 2) // per_row, (cfg.spad_bank_lines // 2) // k, MAX['rows'] // k, (half // 4) // k if te else rows))
  tiles = list(range(0, rows, block)); prog = []
  for t, r0 in enumerate(tiles):
    nr, b = min(block, rows - r0), t % 2
    sin, sout, abase = b * block * k, half + b * block * k, b * block * per_row
    loads = [i for j, t_ in enumerate(tv) if t == 0 for i in _dma(Opcode.LOAD, Mem.ACC, acc_rows + j * k, t_.addr, 4 * C, k, 4 * C)]
    loads += _dma(Opcode.LOAD, Mem.SPAD, sin, tx.addr + r0 * L, C, nr * k, C)
    sext = 2 * block * k + b * block * k                    # the extra rows after the two input buffers
    for r in (range(r0, r0 + nr) if te else ()):            # its rows r % P, in runs that do not wrap
      if r == r0 or r % len(extra) == 0:
        n = min(r0 + nr - r, len(extra) - r % len(extra))
        loads += _dma(Opcode.LOAD, Mem.SPAD, sext + (r - r0) * k, te.addr + (r % len(extra)) * L, C, n * k, C)
    _flag(loads, wait_next=int(t >= 2), signal_next=1)
    back = [Instr(Opcode.SYNC, queue=Queue.COMPUTE.value, wait_next=1, signal_prev=1)] if t >= 2 else []
    fwd = Instr(Opcode.SYNC, queue=Queue.COMPUTE.value, wait_prev=1, signal_next=1)
    vec = [v for i in range(nr) for v in emit(sin + i * k, abase + i * per_row, sout + i * k, sext + i * k, r0 + i)]
    _flag(vec, wait_prev=1)
    vec[max(j for j, v in enumerate(vec) if v.funct == input_reader.value)].f["signal_prev"] = int(t + 2 < len(tiles))
    st = _dma(Opcode.STORE, Mem.SPAD, sout, to.addr + r0 * L, C, nr * k, C)
    prog += loads + back + [fwd] + vec + st
  c = Compiled(cfg, prog, dram, {"A": tx, "C": to} | ({"mask": te} if te else {}), Tiling(block, k, C, "rows", 0, 0), 0, {"A": x})
  c.reference = reference
  return c

ROW = dict(src2_mem=Mem.ACC.value, src2_bcast=1)      # src2: one accumulator line (per-row value in every lane)

def compile_softmax(cfg: AccelConfig, x: np.ndarray, scale: float, out_scale: float = 1 / 127, mask: np.ndarray | None = None) -> Compiled:
  """x: int8 (rows, L) logits at `scale`; the result is int8 probabilities at `out_scale` (1/K, K integer).
  mask: (P, L) bool, P dividing rows: row r's logits where mask[r % P] are removed (a causal mask)."""
  K, k = _k(out_scale), x.shape[1] // cfg.cols
  imm_t = int(round(scale * math.log2(math.e) * 2 ** 16))
  if mask is not None and (len(x) % len(mask) or mask.shape[1] != x.shape[1]): raise CompileError(f"softmax mask {mask.shape} does not tile logits {x.shape}")
  mb = _mask_value(scale) if mask is not None else 0
  # a masked row computes only its lines up to the last unmasked logit; the lines after it are all
  # removed, their probabilities exactly 0 (as the reference computes them), and are just zeroed
  live = [k if not m.any() else int(np.flatnonzero(~m).max()) // cfg.cols + 1 for m in mask] if mask is not None else None
  def emit(xs, a, out, ms, r):                         # acc: k lines of the row, then its max and its sum
    m, s, v = a + k, a + k + 1, live[r % len(live)] if live else k
    logits, src = ([], (Mem.SPAD, xs)) if mask is None else (   # masked: x - B·mask in the accumulator (the mask is 1 where removed)
      _vector(VecOp.MUL, Mem.ACC, a, Mem.SPAD, ms, v, src2_imm=1, imm=-mb & 0xFFFFFFFF)
      + _vector(VecOp.ADD, Mem.ACC, a, Mem.ACC, a, v, src2_mem=Mem.SPAD.value, src2_addr=xs), (Mem.ACC, a))
    return (logits + _vector(VecOp.RMAX, Mem.ACC, m, *src, v) + _vector(VecOp.LMAX, Mem.ACC, m, Mem.ACC, m, 1)
            + _vector(VecOp.SUB, Mem.ACC, a, *src, v, src2_addr=m, **ROW)
            + _vector(VecOp.MUL, Mem.ACC, a, Mem.ACC, a, v, src2_imm=1, imm=imm_t)
            + _vector(VecOp.EXP2, Mem.ACC, a, Mem.ACC, a, v, shift=16) + _vector(VecOp.SRA, Mem.ACC, a, Mem.ACC, a, v, shift=E_SHIFT)
            + _vector(VecOp.RSUM, Mem.ACC, s, Mem.ACC, a, v) + _vector(VecOp.LSUM, Mem.ACC, s, Mem.ACC, s, 1)
            + _vector(VecOp.RECIP, Mem.ACC, s, Mem.ACC, s, 1, shift=30 - E_SHIFT)
            + _vector(VecOp.MUL, Mem.ACC, s, Mem.ACC, s, 1, src2_imm=1, imm=K)       # K/sum, not K·e: one line, the same product
            + _vector(VecOp.REQUANT, Mem.SPAD, out, Mem.ACC, a, v, src2_addr=s, shift=3, **ROW)
            + (_vector(VecOp.MUL, Mem.SPAD, out + v, Mem.SPAD, out + v, k - v, src2_imm=1, imm=0) if v < k else []))
  return row_kernel(cfg, x, "softmax", 2048, lambda k: k + 2, emit, VecOp.SUB, lambda: softmax_reference(x, scale, out_scale, mask),
                    mask.astype(np.int8) if mask is not None else None)
