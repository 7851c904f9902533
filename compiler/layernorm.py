"""Quantized layer normalization over the last axis on the vector unit: y = (x - mean) / sqrt(var + eps).

int8 x (scale s_x) -> int8 y (scale s_y). Each row of length L (a multiple of `cols`, at most 1024)
occupies L/cols lines. Per row on the store queue, in int32: x8 = x << 8; the mean comes from RSUM
over the row's lines, LSUM across lanes and a Q31 multiply by 1/L; c8 = x8 - mean8 (Q8); the variance
from c4 = c8 >> 4 rounded: c4² per element, RSUM, a multiply by 1/L per lane (keeps the sum in
range), then LSUM (Q8); RSQRT(var + eps) in Q16.16; y = REQUANT(c8 · round(2^7 / s_y), rstd) — the
scales of x cancel — saturated to int8 and stored.
"""
from __future__ import annotations
import numpy as np
from ..arch.config import AccelConfig
from ..arch.isa import Instr, Opcode, Mem, Queue, VecOp
from ..arch import vector as V
from .gemm import Tensor, Compiled, Tiling, CompileError, _dma, _vector, _flag, rup, ALIGN

def _params(L: int, in_scale: float, out_scale: float, eps: float):
  m, sh = V.quantize_multiplier(1 / L)
  return m, sh, int(round(eps / in_scale ** 2 * 256)), int(round(2 ** 7 / out_scale))

def layernorm_reference(x: np.ndarray, in_scale: float, out_scale: float, eps: float, lanes: int) -> np.ndarray:
  """The integer definition the kernel implements (per-lane partial sums of squares, as the lines hold them)."""
  m, sh, eps8, k = _params(x.shape[-1], in_scale, out_scale, eps)
  x8 = x.astype(np.int64) << 8
  c8 = x8 - V.rounding_shift_right(V.srdhm(V.wrap32(x8.sum(-1, keepdims=True)), m), sh)
  c4 = V.rounding_shift_right(c8, 4)
  rows, L = x.shape
  per_lane = (c4 * c4).reshape(rows, L // lanes, lanes).sum(1)
  var8 = V.wrap32(V.rounding_shift_right(V.srdhm(per_lane, m), sh).sum(-1, keepdims=True))
  rstd = V.rsqrt_q16(var8 + eps8, 8)
  return np.clip(V.srdhm(V.wrap32(c8 * k), rstd), -128, 127).astype(np.int8)

def compile_layernorm(cfg: AccelConfig, x: np.ndarray, in_scale: float, out_scale: float, eps: float = 1e-5) -> Compiled:
  C = cfg.cols
  rows, L = x.shape
  if L % C or L > 1024: raise CompileError(f"layernorm over {L} elements: the length must be a multiple of cols={C} and at most 1024")
  m, sh, eps8, K = _params(L, in_scale, out_scale, eps)
  k = L // C
  tx = Tensor(0, x.shape, "int8"); to = Tensor(rup(x.size, ALIGN), x.shape, "int8")
  dram = np.zeros(rup(to.addr + x.size, ALIGN), np.uint8); dram[:x.size] = x.reshape(-1).view(np.uint8)
  per_row = 2 * k + 2                                             # x8/c8 lines, c4²/scratch lines, mean and var lines
  block = max(1, min(rows, (cfg.acc_lines // 2) // per_row, (cfg.spad_bank_lines // 2) // k, 4095 // k))
  half = (cfg.spad_banks // 2) * cfg.spad_bank_lines
  tiles = list(range(0, rows, block)); prog = []
  for t, r0 in enumerate(tiles):
    nr, b = min(block, rows - r0), t % 2
    sin, sout, abase = b * block * k, half + b * block * k, b * block * per_row
    loads = _dma(Opcode.LOAD, Mem.SPAD, sin, tx.addr + r0 * L, C, nr * k, C)
    _flag(loads, wait_next=int(t >= 2), signal_next=1)
    back = [Instr(Opcode.SYNC, queue=Queue.COMPUTE.value, wait_next=1, signal_prev=1)] if t >= 2 else []
    fwd = Instr(Opcode.SYNC, queue=Queue.COMPUTE.value, wait_prev=1, signal_next=1)
    vec = []
    row = dict(src2_mem=Mem.ACC.value, src2_bcast=1)
    for i in range(nr):
      a = abase + i * per_row; q = a + k; mu = a + 2 * k; var = mu + 1
      vec += _vector(VecOp.SHL, Mem.ACC, a, Mem.SPAD, sin + i * k, k, shift=8)                     # x8
      vec += _vector(VecOp.RSUM, Mem.ACC, mu, Mem.ACC, a, k) + _vector(VecOp.LSUM, Mem.ACC, mu, Mem.ACC, mu, 1)
      vec += _vector(VecOp.REQUANT, Mem.ACC, mu, Mem.ACC, mu, 1, src2_imm=1, imm=m, shift=sh)       # mean8
      vec += _vector(VecOp.SUB, Mem.ACC, a, Mem.ACC, a, k, src2_addr=mu, **row)                      # c8
      vec += _vector(VecOp.SRAR, Mem.ACC, q, Mem.ACC, a, k, shift=4)                                 # c4
      vec += _vector(VecOp.MUL, Mem.ACC, q, Mem.ACC, q, k, src2_mem=Mem.ACC.value, src2_addr=q)      # c4²
      vec += _vector(VecOp.RSUM, Mem.ACC, var, Mem.ACC, q, k)
      vec += _vector(VecOp.REQUANT, Mem.ACC, var, Mem.ACC, var, 1, src2_imm=1, imm=m, shift=sh)
      vec += _vector(VecOp.LSUM, Mem.ACC, var, Mem.ACC, var, 1)
      vec += _vector(VecOp.ADD, Mem.ACC, var, Mem.ACC, var, 1, src2_imm=1, imm=eps8)
      vec += _vector(VecOp.RSQRT, Mem.ACC, var, Mem.ACC, var, 1, shift=8)
      vec += _vector(VecOp.MUL, Mem.ACC, a, Mem.ACC, a, k, src2_imm=1, imm=K)
      vec += _vector(VecOp.REQUANT, Mem.SPAD, sout + i * k, Mem.ACC, a, k, src2_addr=var, shift=0, **row)
    _flag(vec, wait_prev=1)
    first_reads = [j for j, v in enumerate(vec) if v.funct == VecOp.SHL.value]
    vec[first_reads[-1]].f["signal_prev"] = int(t + 2 < len(tiles))    # the input lines are read only by the SHLs
    st = _dma(Opcode.STORE, Mem.SPAD, sout, to.addr + r0 * L, C, nr * k, C)
    prog += loads + back + [fwd] + vec + st
  c = Compiled(cfg, prog, dram, {"A": tx, "C": to}, Tiling(block, k, C, "rows", 0, 0), 0, {"A": x})
  c.reference = lambda: layernorm_reference(x, in_scale, out_scale, eps, C)
  return c
