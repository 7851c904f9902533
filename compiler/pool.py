"""Pooling on the vector unit, reading its windows by DMA like a convolution (compiler/conv.py).

For one tile of output positions (whole output rows) and one `cols`-wide channel chunk, the load
queue fetches the KH x KW window tiles (the same two-level DMA windows as a convolution's A operand,
`cols` channel bytes per line); the store queue folds them with MAX (max pooling) or ADD then a Q31
requantization by 1/(KH*KW) (average pooling, same scale in and out), and stores the NHWC result.
Padding reads as -128 for max pooling and 0 for average pooling.
"""
from __future__ import annotations
import numpy as np
from ..arch.config import AccelConfig
from ..arch.isa import Instr, Opcode, Mem, Queue, VecOp
from ..arch import vector as V
from .gemm import Tensor, Compiled, Tiling, CompileError, _dma, _vector, _flag, rup, ALIGN
from .conv import Windows

def pool_reference(win: Windows, kind: str) -> np.ndarray:
  """(N*OH*OW, C) int8: the integer definition the kernel implements."""
  n, c = win.x.shape[:2]
  cols = win.matrix().reshape(-1, win.kh * win.kw, win.cp)[:, :, :c].astype(np.int64)
  if kind == "max": return cols.max(1).astype(np.int8)
  m, sh = V.quantize_multiplier(1 / (win.kh * win.kw)) if win.kh * win.kw > 1 else (None, 0)
  s = V.wrap32(cols.sum(1))
  return np.clip(V.rounding_shift_right(V.srdhm(s, m), sh) if m else s, -128, 127).astype(np.int8)

def compile_pool2d(cfg: AccelConfig, x: np.ndarray, kind: str, k: int, stride: int, padding: int = 0) -> tuple[Compiled, Windows]:
  if kind not in ("max", "avg"): raise CompileError(f"unknown pooling {kind!r}")
  C = cfg.cols
  win = Windows(np.asarray(x, np.int8), k, k, stride, padding, 1, C, -128 if kind == "max" else 0)
  n, c = x.shape[:2]; M, KK = n * win.oh * win.ow, k * k
  out = Tensor(rup(win.tensor.nbytes, ALIGN), (M, win.cp), "int8")
  dram = np.zeros(rup(out.addr + out.nbytes, ALIGN), np.uint8)
  dram[:win.tensor.nbytes] = win.image.reshape(-1).view(np.uint8)
  half = (cfg.spad_banks // 2) * cfg.spad_bank_lines
  ms = win.ow * max(1, min(win.oh, (half // 2) // (KK * win.ow), (cfg.acc_lines // 2) // win.ow, 4095 // win.ow))
  if KK * ms > half // 2: raise CompileError(f"{kind} pool {k}x{k}: {KK} window tiles of {ms} lines do not fit half the scratchpad")
  m_mult, m_shift = V.quantize_multiplier(1 / KK) if kind == "avg" and KK > 1 else (0, 0)
  tiles = [(m0, c0) for m0 in range(0, M, ms) for c0 in range(0, win.cp, C)]
  prog = []
  for t, (m0, c0) in enumerate(tiles):
    rows, b = min(ms, M - m0), t % 2
    base, acc, stage = b * KK * ms, b * ms, half + b * ms
    loads = [i for kk in range(KK) for i in _window(win, base + kk * ms, m0, rows, kk, c0, C)]
    _flag(loads, wait_next=int(t >= 2), signal_next=1)
    back = [Instr(Opcode.SYNC, queue=Queue.COMPUTE.value, wait_next=1, signal_prev=1)] if t >= 2 else []
    fwd = Instr(Opcode.SYNC, queue=Queue.COMPUTE.value, wait_prev=1, signal_next=1)
    op = VecOp.MAX if kind == "max" else VecOp.ADD
    vec = _vector(VecOp.COPY, Mem.ACC, acc, Mem.SPAD, base, rows)
    for kk in range(1, KK): vec += _vector(op, Mem.ACC, acc, Mem.ACC, acc, rows, src2_mem=Mem.SPAD.value, src2_addr=base + kk * ms)
    vec += (_vector(VecOp.REQUANT, Mem.SPAD, stage, Mem.ACC, acc, rows, src2_imm=1, imm=m_mult, shift=m_shift) if m_mult
            else _vector(VecOp.COPY, Mem.SPAD, stage, Mem.ACC, acc, rows))
    _flag(vec, wait_prev=1); vec[-1].f["signal_prev"] = int(t + 2 < len(tiles))
    st = _dma(Opcode.STORE, Mem.SPAD, stage, out.addr + m0 * win.cp + c0, min(C, win.cp - c0), rows, win.cp)
    prog += loads + back + [fwd] + vec + st
  prog_c = Compiled(cfg, prog, dram, {"A": win.tensor, "C": out}, Tiling(ms, KK, C, "pool", 0, 0), 0, {"A": x})
  prog_c.reference = lambda: pool_reference(win, kind)
  prog_c.read = lambda d: d[out.addr:out.addr + out.nbytes].view(np.int8).reshape(M, win.cp)[:, :c]
  return prog_c, win

def _window(win: Windows, sram: int, m0: int, rows: int, kk: int, c0: int, C: int) -> list:
  """The DMA window of kernel position kk for output positions m0..m0+rows, channels c0..c0+C."""
  kh, kw = divmod(kk, win.kw)
  return win.load(sram, m0, rows, (kh * win.kw + kw) * win.cp + c0, min(C, win.cp - c0), C)
