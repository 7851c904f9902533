"""Elementwise kernels on the vector unit: the quantized residual add out = q(relu?(x·sx + r·sr)).

Both int8 operands are viewed as lines of `cols` elements. Per tile the load queue fetches x and r
into the scratchpad, a SYNC on the compute queue forwards the token, and the store queue rescales
each operand to the output scale (shift left 20, then a Q31 requantization: the TFLite ADD scheme),
adds, applies ReLU, saturates to int8 (a scratchpad write) and stores. Buffers are double-buffered;
the store queue hands a tile's buffers back to the load queue through a SYNC on the compute queue.
"""
from __future__ import annotations
import numpy as np
from ..arch.config import AccelConfig
from ..arch.isa import Instr, Opcode, Mem, Queue, VecOp
from ..arch import vector as V
from .gemm import Tensor, Compiled, Tiling, CompileError, _dma, _vector, _flag, rup, ALIGN

PRESHIFT = 20   # int8 << 20 keeps 20 fractional bits through the rescale, and |x| << 20 < 2^27 cannot overflow

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
  tx = Tensor(0, (L * C,), "int8"); tr = Tensor(rup(L * C, ALIGN), (L * C,), "int8"); to = Tensor(rup(tr.addr + L * C, ALIGN), (L * C,), "int8")
  dram = np.zeros(rup(to.addr + L * C, ALIGN), np.uint8)
  dram[tx.addr:tx.addr + x.size] = x.reshape(-1).view(np.uint8); dram[tr.addr:tr.addr + r.size] = r.reshape(-1).view(np.uint8)
  # tile of `rows` lines: spad holds 2 x (x, r, out) tiles, the accumulator 2 x (two temporaries)
  rows = max(1, min(L, cfg.spad_bank_lines // 3 // 2, cfg.acc_lines // 4, (1 << 12) - 1))
  half = (cfg.spad_banks // 2) * cfg.spad_bank_lines
  n_tiles = -(-L // rows)
  prog = []
  for t in range(n_tiles):
    l0, ls, b = t * rows, min(rows, L - t * rows), t % 2
    sx, sr, so = b * rows, half + b * rows, half + (2 + b) * rows
    t1, t2 = b * 2 * rows, b * 2 * rows + rows
    loads = _dma(Opcode.LOAD, Mem.SPAD, sx, tx.addr + l0 * C, C, ls, C) + _dma(Opcode.LOAD, Mem.SPAD, sr, tr.addr + l0 * C, C, ls, C)
    _flag(loads, wait_next=int(t >= 2), signal_next=1)
    fwd = Instr(Opcode.SYNC, queue=Queue.COMPUTE.value, wait_prev=1, signal_next=1)
    vec = (_vector(VecOp.SHL, Mem.ACC, t1, Mem.SPAD, sx, ls, shift=PRESHIFT) + _vector(VecOp.REQUANT, Mem.ACC, t1, Mem.ACC, t1, ls, src2_imm=1, imm=mx[0], shift=mx[1])
           + _vector(VecOp.SHL, Mem.ACC, t2, Mem.SPAD, sr, ls, shift=PRESHIFT) + _vector(VecOp.REQUANT, Mem.ACC, t2, Mem.ACC, t2, ls, src2_imm=1, imm=mr[0], shift=mr[1])
           + _vector(VecOp.ADD, Mem.SPAD, so, Mem.ACC, t1, ls, src2_mem=Mem.ACC.value, src2_addr=t2, relu=int(relu)))   # saturates to int8
    st = _dma(Opcode.STORE, Mem.SPAD, so, to.addr + l0 * C, C, ls, C)
    _flag(vec, wait_prev=1); vec[-1].f["signal_prev"] = int(t + 2 < n_tiles)          # x and r tiles read: hand them back
    # compute queue: before forwarding tile t, pass tile t-2's "buffers free" token from store to load
    back = [Instr(Opcode.SYNC, queue=Queue.COMPUTE.value, wait_next=1, signal_prev=1)] if t >= 2 else []
    prog += loads + back + [fwd] + vec + st
  c = Compiled(cfg, prog, dram, {"A": tx, "B": tr, "C": to}, Tiling(rows, 0, 0, "lines", 0, 0), 0, {"A": x, "B": r})
  c.tensors["C"] = Tensor(to.addr, x.shape, "int8")
  c.reference = lambda: add_reference(x, r, mx, mr, relu)
  return c
