"""Elementwise kernels on the vector unit: the quantized residual add out = q(relu?(x·sx + r·sr)).

Both int8 operands are viewed as lines of `cols` elements. Per tile the load queue fetches x and r
into the scratchpad, a SYNC on the compute queue forwards the token, and the store queue rescales
each operand to the output scale (shift left 20, then a Q31 requantization: the TFLite ADD scheme),
adds, applies ReLU, saturates to int8 (a scratchpad write) and stores: RESCALE of x into the accumulator, then
ADDRS (it + r rescaled, one read step a line: accumulator and scratchpad) back to the scratchpad, equal bit for
bit to the unfused SHL, REQUANT, SHL, REQUANT, ADD of `add_reference`. Buffers are double-buffered;
the store queue hands a tile's buffers back to the load queue through a SYNC on the compute queue.
"""
from __future__ import annotations

import numpy as np

from ..arch import vector as V
from ..arch.config import AccelConfig
from ..arch.isa import FIELD_MAX, Mem, Opcode, VecOp
from .program import Compiled, CompileError, DramTensor, Tiling, dma, dram_image, dram_layout, tile_loop, vector

PRESHIFT = V.PRESHIFT   # the TFLite ADD's operand pre-shift (arch/vector.py: RESCALE and ADDRS apply it)

def _rescale(q: np.ndarray, mult: int, shift: int) -> np.ndarray:
  return V.apply(VecOp.REQUANT, V.apply(VecOp.SHL, q.astype(np.int64), None, None, 0, PRESHIFT), np.int64(mult), None, mult, shift)

def add_reference(x: np.ndarray, r: np.ndarray, mx: tuple, mr: tuple, relu: bool) -> np.ndarray:
  y = V.wrap32(_rescale(x, *mx) + _rescale(r, *mr))
  return np.clip(np.maximum(y, 0) if relu else y, -128, 127).astype(np.int8)

def compile_add(cfg: AccelConfig, x: np.ndarray, r: np.ndarray, scale_x: float, scale_r: float, relu: bool = False) -> Compiled:
  """x, r: int8 arrays of one shape; scale_x, scale_r: their scales relative to the output scale."""
  if x.shape != r.shape: raise CompileError(f"residual add of shapes {x.shape} and {r.shape}")
  C, L = cfg.cols, -(-x.size // cfg.cols)
  try: mx, mr = (V.quantize_multiplier(s / 2 ** PRESHIFT) for s in (scale_x, scale_r))
  except ValueError as e: raise CompileError(f"residual add: {e}") from None
  ts = dram_layout(A=((L * C,), "int8"), B=((L * C,), "int8"), C=((L * C,), "int8")); tx, tr, to = ts.values()
  dram = dram_image(ts, {"A": x, "B": r})
  # tile of `rows` lines: spad holds 2 x (x, r, out) tiles, the accumulator 2 x (one temporary)
  rows = max(1, min(L, cfg.spad_bank_lines // 3 // 2, cfg.acc_lines // 2, FIELD_MAX[Opcode.VECTOR]["rows"]))
  half = (cfg.spad_banks // 2) * cfg.spad_bank_lines
  def tile(t):
    l0, ls, b = t * rows, min(rows, L - t * rows), t % 2
    sx, sr, so = b * rows, half + b * rows, half + (2 + b) * rows
    t1 = b * rows
    loads = dma(Opcode.LOAD, Mem.SPAD, sx, tx.addr + l0 * C, C, ls, C) + dma(Opcode.LOAD, Mem.SPAD, sr, tr.addr + l0 * C, C, ls, C)
    vec = (vector(VecOp.RESCALE, Mem.ACC, t1, Mem.SPAD, sx, ls, src2_imm=1, imm=mx[0], shift=mx[1])
           + vector(VecOp.ADDRS, Mem.SPAD, so, Mem.ACC, t1, ls, src2_addr=sr, imm=mr[0], shift=mr[1], relu=int(relu)))   # saturates to int8
    return loads, vec + dma(Opcode.STORE, Mem.SPAD, so, to.addr + l0 * C, C, ls, C), len(vec) - 1   # x and r read by the last vector op
  prog = tile_loop([tile(t) for t in range(-(-L // rows))])
  out = DramTensor(to.addr, x.shape, "int8")                 # the output without its padding to whole lines
  return Compiled(cfg, prog, dram, {"A": tx, "B": tr, "C": out}, Tiling(rows, 0, 0, "lines", 0, 0), 0, {"A": x, "B": r}, out.read,
                  lambda: add_reference(x, r, mx, mr, relu))
