"""Quantized softmax over the last axis on the vector unit (the attention building block).

int8 logits x (scale s_x) -> int8 probabilities p (scale s_p, 1/127 by default; attention rows of
hundreds of positions want a finer one, calibrated). Each row of length L (a multiple of `cols`)
occupies L/cols accumulator lines. Per row on the store queue: RMAX over the row's lines then LMAX
across lanes gives the row maximum in every lane; d = x - max <= 0; t = d * round(s_x log2(e) 2^16)
is d·s_x·log2(e) in Q16; e = EXP2(t) in Q1.30, shifted to Q1.18 so a row of up to 2048 sums in int32;
RSUM + LSUM give the row sum, RECIP its inverse in Q16.16; p = REQUANT(K·e, 1/sum, shift 3) with
K = round(1/s_p) <= 2^13 is round(e/sum/s_p), saturated to int8 in the scratchpad, and stored.
"""
from __future__ import annotations
import math
import numpy as np
from ..arch.config import AccelConfig
from ..arch.isa import Instr, Opcode, Mem, Queue, VecOp
from ..arch import vector as V
from .gemm import Tensor, Compiled, Tiling, CompileError, _dma, _vector, _flag, rup, ALIGN

E_SHIFT = 12                 # Q1.30 -> Q1.18 before summing: 2048 x 2^18 < 2^31, and K x 2^18 < 2^31 for K <= 2^13

def _k(out_scale: float) -> int:
  k = int(round(1 / out_scale))
  if not 1 <= k <= 1 << 13: raise CompileError(f"softmax output scale {out_scale:.3g} is outside [2^-13, 1]")
  return k

def softmax_reference(x: np.ndarray, scale: float, out_scale: float = 1 / 127) -> np.ndarray:
  """The integer definition the kernel implements, row by row (rows of x along axis -1)."""
  d = x.astype(np.int64) - x.max(-1, keepdims=True)
  t = V.wrap32(d * int(round(scale * math.log2(math.e) * 2 ** 16)))
  e = V.exp2_q30(t, 16) >> E_SHIFT
  r = V.recip_q16(V.wrap32(e.sum(-1, keepdims=True)), 30 - E_SHIFT)
  return np.clip(V.rounding_shift_right(V.srdhm(e * _k(out_scale), r), 3), -128, 127).astype(np.int8)

def compile_softmax(cfg: AccelConfig, x: np.ndarray, scale: float, out_scale: float = 1 / 127) -> Compiled:
  """x: int8 (rows, L) logits at `scale`; the result is int8 probabilities at `out_scale` (1/K, K integer)."""
  C, K = cfg.cols, _k(out_scale)
  rows, L = x.shape
  if L % C or L > 2048: raise CompileError(f"softmax over {L} elements: the length must be a multiple of cols={C} and at most 2048")
  k = L // C                                            # lines per row
  tx = Tensor(0, x.shape, "int8"); to = Tensor(rup(x.size, ALIGN), x.shape, "int8")
  dram = np.zeros(rup(to.addr + x.size, ALIGN), np.uint8); dram[:x.size] = x.reshape(-1).view(np.uint8)
  imm_t = int(round(scale * math.log2(math.e) * 2 ** 16))
  # tile: a block of rows; accumulator: 2 x (rows k lines + 2 scratch lines per row); scratchpad: 2 x (input, output)
  per_row_acc = k + 2
  block = max(1, min(rows, (cfg.acc_lines // 2) // per_row_acc, (cfg.spad_bank_lines // 2) // k, 4095 // k))
  half = (cfg.spad_banks // 2) * cfg.spad_bank_lines
  tiles = list(range(0, rows, block)); prog = []
  for t, r0 in enumerate(tiles):
    nr, b = min(block, rows - r0), t % 2
    sin, sout, abase = b * block * k, half + b * block * k, b * block * per_row_acc
    loads = _dma(Opcode.LOAD, Mem.SPAD, sin, tx.addr + r0 * L, C, nr * k, C)
    _flag(loads, wait_next=int(t >= 2), signal_next=1)
    back = [Instr(Opcode.SYNC, queue=Queue.COMPUTE.value, wait_next=1, signal_prev=1)] if t >= 2 else []
    fwd = Instr(Opcode.SYNC, queue=Queue.COMPUTE.value, wait_prev=1, signal_next=1)
    vec = []
    for i in range(nr):
      xs, a, m, s = sin + i * k, abase + i * per_row_acc, abase + i * per_row_acc + k, abase + i * per_row_acc + k + 1
      row = dict(src2_mem=Mem.ACC.value, src2_bcast=1)
      vec += _vector(VecOp.RMAX, Mem.ACC, m, Mem.SPAD, xs, k) + _vector(VecOp.LMAX, Mem.ACC, m, Mem.ACC, m, 1)
      vec += _vector(VecOp.SUB, Mem.ACC, a, Mem.SPAD, xs, k, src2_addr=m, **row)
      vec += _vector(VecOp.MUL, Mem.ACC, a, Mem.ACC, a, k, src2_imm=1, imm=imm_t)
      vec += _vector(VecOp.EXP2, Mem.ACC, a, Mem.ACC, a, k, shift=16) + _vector(VecOp.SRA, Mem.ACC, a, Mem.ACC, a, k, shift=E_SHIFT)
      vec += _vector(VecOp.RSUM, Mem.ACC, s, Mem.ACC, a, k) + _vector(VecOp.LSUM, Mem.ACC, s, Mem.ACC, s, 1)
      vec += _vector(VecOp.RECIP, Mem.ACC, s, Mem.ACC, s, 1, shift=30 - E_SHIFT)
      vec += _vector(VecOp.MUL, Mem.ACC, a, Mem.ACC, a, k, src2_imm=1, imm=K)
      vec += _vector(VecOp.REQUANT, Mem.SPAD, sout + i * k, Mem.ACC, a, k, src2_addr=s, shift=3, **row)
    _flag(vec, wait_prev=1)
    # the input lines are read by the first instructions: hand them back after the last read of the block
    last_read = max(j for j, v in enumerate(vec) if v.funct == VecOp.SUB.value)
    vec[last_read].f["signal_prev"] = int(t + 2 < len(tiles))
    st = _dma(Opcode.STORE, Mem.SPAD, sout, to.addr + r0 * L, C, nr * k, C)
    prog += loads + back + [fwd] + vec + st
  c = Compiled(cfg, prog, dram, {"A": tx, "C": to}, Tiling(block, k, C, "rows", 0, 0), 0, {"A": x})
  c.reference = lambda: softmax_reference(x, scale, out_scale)
  return c
