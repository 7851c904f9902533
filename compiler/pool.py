"""Pooling on the vector unit, reading its windows by DMA like a convolution (compiler/conv.py).

For one tile of output positions (whole output rows) and one `cols`-wide channel chunk, the load
queue fetches the KH x KW window tiles (the same two-level DMA windows as a convolution's A operand,
`cols` channel bytes per line); the store queue folds them with MAX (max pooling) or ADD then a Q31
requantization by 1/(KH*KW) (average pooling, same scale in and out), and stores the NHWC result.
Padding reads as -128 for max pooling and 0 for average pooling.
"""
from __future__ import annotations

import numpy as np

from ..arch import vector as V
from ..arch.config import AccelConfig
from ..arch.isa import Mem, Opcode, VecOp
from .conv import Windows
from .program import MAX, ROW, Compiled, CompileError, Tiling, dma, dram_image, dram_layout, tile_loop, vector


def pool_reference(win: Windows, kind: str) -> np.ndarray:
  """(N*OH*OW, C) int8: the integer definition the kernel implements."""
  n, c = win.x.shape[:2]
  cols = win.matrix().reshape(-1, win.kh * win.kw, win.cp)[:, :, :c].astype(np.int64)
  if kind == "max": return cols.max(1).astype(np.int8)
  m, sh = V.quantize_multiplier(1 / (win.kh * win.kw)) if win.kh * win.kw > 1 else (None, 0)
  s = V.wrap32(cols.sum(1))
  return np.clip(V.rounding_shift_right(V.srdhm(s, m), sh) if m else s, -128, 127).astype(np.int8)

def _windowed(cfg: AccelConfig, win: Windows, fold, acc_reserved: int = 0, params: np.ndarray | None = None) -> tuple[list, dict, np.ndarray, int]:
  """The tile loop shared by window kernels: per tile of output rows and `cols`-wide channel chunk, load
  the KH x KW window tiles (double-buffered), forward the token to the store queue, run
  `fold(acc, rows, base, ms, c0, stage)` (its VECTOR instructions) and store the int8 result.
  `params` (int32 lines) are loaded into the accumulator once, after `acc_reserved` lines, ahead of the first tile."""
  C = cfg.cols
  n = win.x.shape[0]; M, KK = n * win.oh * win.ow, win.kh * win.kw
  tensors = dram_layout(A=win.tensor, **({"params": (params.shape, "int32")} if params is not None else {}), C=((M, win.cp), "int8"))
  dram = dram_image(tensors, {"A": win.image} | ({"params": params} if params is not None else {}))
  out = tensors["C"]
  half = (cfg.spad_banks // 2) * cfg.spad_bank_lines
  ms = win.ow * max(1, min(win.oh, (half // 2) // (KK * win.ow), (cfg.acc_lines - acc_reserved - (0 if params is None else len(params))) // 4 // win.ow, MAX['rows'] // win.ow))
  if KK * ms > half // 2 or 4 * ms + acc_reserved > cfg.acc_lines: raise CompileError(f"window kernel {win.kh}x{win.kw}: {KK} tiles of {ms} lines do not fit the SRAMs")
  tiles = [(m0, c0) for c0 in range(0, win.cp, C) for m0 in range(0, M, ms)]
  def tile(t, m0, c0):
    rows, b = min(ms, M - m0), t % 2
    base, acc, stage = b * KK * ms, b * 2 * ms, half + b * ms
    loads = [i for kk in range(KK) for i in _window(win, base + kk * ms, m0, rows, kk, c0, C)]
    if t == 0 and params is not None:
      loads = dma(Opcode.LOAD, Mem.ACC, 4 * ms + acc_reserved, tensors["params"].addr, cfg.acc_line_bytes, len(params), cfg.acc_line_bytes) + loads
    vec = fold(acc, rows, base, ms, c0, stage, 4 * ms + acc_reserved)
    return loads, vec + dma(Opcode.STORE, Mem.SPAD, stage, out.addr + m0 * win.cp + c0, min(C, win.cp - c0), rows, win.cp), len(vec) - 1
  return tile_loop([tile(t, m0, c0) for t, (m0, c0) in enumerate(tiles)]), tensors, dram, ms

def _compiled(cfg, prog, tensors, dram, ms, win, reference, x) -> Compiled:
  c = win.x.shape[1]
  return Compiled(cfg, prog, dram, tensors, Tiling(ms, win.kh * win.kw, cfg.cols, "window", 0, 0), 0, {"A": x},
                  lambda d: tensors["C"].read(d)[:, :c], reference)       # the channels, without their padding to whole lines

def compile_pool2d(cfg: AccelConfig, x: np.ndarray, kind: str, k: int, stride: int, padding: int = 0) -> tuple[Compiled, Windows]:
  if kind not in ("max", "avg"): raise CompileError(f"unknown pooling {kind!r}")
  win = Windows(np.asarray(x, np.int8), k, k, stride, padding, 1, cfg.cols, -128 if kind == "max" else 0)
  KK = k * k
  m_mult, m_shift = V.quantize_multiplier(1 / KK) if kind == "avg" and KK > 1 else (0, 0)
  op = VecOp.MAX if kind == "max" else VecOp.ADD
  def fold(acc, rows, base, ms, c0, stage, _):
    vec = vector(VecOp.COPY, Mem.ACC, acc, Mem.SPAD, base, rows)
    for kk in range(1, KK): vec += vector(op, Mem.ACC, acc, Mem.ACC, acc, rows, src2_mem=Mem.SPAD.value, src2_addr=base + kk * ms)
    return vec + (vector(VecOp.REQUANT, Mem.SPAD, stage, Mem.ACC, acc, rows, src2_imm=1, imm=m_mult, shift=m_shift) if m_mult
                  else vector(VecOp.COPY, Mem.SPAD, stage, Mem.ACC, acc, rows))
  prog, tensors, dram, ms = _windowed(cfg, win, fold)
  return _compiled(cfg, prog, tensors, dram, ms, win, lambda: pool_reference(win, kind), x), win

def depthwise_reference(win: Windows, w: np.ndarray, bias, relu: bool, mult, shift: int, clamp_hi: int | None) -> np.ndarray:
  c = win.x.shape[1]
  cols = win.matrix().reshape(-1, win.kh * win.kw, win.cp)[:, :, :c].astype(np.int64)
  acc = V.wrap32((cols * w.reshape(c, -1).T[None].astype(np.int64)).sum(1))
  if bias is not None: acc = V.wrap32(acc + np.asarray(bias, np.int64))
  if relu: acc = np.maximum(acc, 0)
  y = np.clip(V.rounding_shift_right(V.srdhm(acc, np.asarray(mult, np.int64)), shift), -128, 127)
  return (np.minimum(y, clamp_hi) if clamp_hi is not None else y).astype(np.int8)

def compile_depthwise(cfg: AccelConfig, x: np.ndarray, w: np.ndarray, stride: int, padding: int, bias: np.ndarray | None,
                      relu: bool, mult: np.ndarray, shift: int, clamp_hi: int | None = None) -> tuple[Compiled, Windows]:
  """Depthwise conv2d (one KH x KW filter per channel) on the vector unit: per window position a MUL by the
  channel's weight line and an ADD into the accumulator, then bias, ReLU and per-channel requantization to int8 in
  one pass (BIASRQ) and an optional upper clamp (ReLU6), all on the store queue."""
  n, c, h, wd = x.shape
  if w.shape[:2] != (c, 1): raise CompileError(f"depthwise weight {w.shape} does not match {c} channels")
  k = w.shape[2]; C = cfg.cols
  win = Windows(np.asarray(x, np.int8), k, w.shape[3], stride, padding, 1, C)
  KK, chunks = k * w.shape[3], win.cp // C
  P = KK + 2                                              # per channel chunk: KK weight lines, bias, multiplier
  params = np.zeros((chunks, P, C), np.int64)
  wp = np.zeros((win.cp, KK), np.int64); wp[:c] = w.reshape(c, KK)
  bp = np.zeros(win.cp, np.int64); bp[:c] = 0 if bias is None else bias
  mp = np.zeros(win.cp, np.int64); mp[:c] = np.broadcast_to(mult, (c,))
  for ch in range(chunks):
    params[ch, :KK] = wp[ch * C:(ch + 1) * C].T; params[ch, KK] = bp[ch * C:(ch + 1) * C]; params[ch, KK + 1] = mp[ch * C:(ch + 1) * C]
  def fold(acc, rows, base, ms, c0, stage, pbase):
    p = pbase + (c0 // C) * P; tmp = acc + ms
    vec = vector(VecOp.MUL, Mem.ACC, acc, Mem.SPAD, base, rows, src2_addr=p, **ROW)
    for kk in range(1, KK):
      vec += vector(VecOp.MUL, Mem.ACC, tmp, Mem.SPAD, base + kk * ms, rows, src2_addr=p + kk, **ROW)
      vec += vector(VecOp.ADD, Mem.ACC, acc, Mem.ACC, acc, rows, src2_mem=Mem.ACC.value, src2_addr=tmp)
    rq = dict(funct=VecOp.BIASRQ, imm=0xFFFFFFFF) if bias is not None else dict(funct=VecOp.REQUANT)    # BIASRQ: the bias line is src2 - 1
    vec += vector(rq.pop("funct"), Mem.SPAD, stage, Mem.ACC, acc, rows, src2_addr=p + KK + 1, shift=shift, relu=int(relu), **ROW, **rq)
    if clamp_hi is not None: vec += vector(VecOp.MIN, Mem.SPAD, stage, Mem.SPAD, stage, rows, src2_imm=1, imm=clamp_hi)
    return vec
  prog, tensors, dram, ms = _windowed(cfg, win, fold, params=params.reshape(-1, C).astype(np.int32))
  ref = lambda: depthwise_reference(win, np.asarray(w, np.int64), bias, relu, mult, shift, clamp_hi)
  return _compiled(cfg, prog, tensors, dram, ms, win, ref, x), win

def _window(win: Windows, sram: int, m0: int, rows: int, kk: int, c0: int, C: int) -> list:
  """The DMA window of kernel position kk for output positions m0..m0+rows, channels c0..c0+C."""
  kh, kw = divmod(kk, win.kw)
  return win.load(sram, m0, rows, (kh * win.kw + kw) * win.cp + c0, min(C, win.cp - c0), C)
