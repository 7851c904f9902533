"""Convolution as a GEMM whose A operand is read by DMA windows straight from the input (no im2col).

With the input stored NHWC and zero-padded in DRAM (channels padded to a multiple of `rows`),
row m = (n, oh, ow) and column k = (kh, kw, c) of the im2col matrix is input[n, oh*s + kh*d,
ow*s + kw*d, c]: for one k-fold (kh, kw, c0..c0+rows) the m lines of a tile are a 2-level DMA, outer
over output rows (stride s*Wp*Cp bytes), inner over output columns (stride s*Cp), each line
`rows` contiguous channel bytes. So each A tile costs one DMA per (image, k-fold), and the im2col
matrix never exists in DRAM. Weights become B[k, o]; the output is NHWC, C[(n, oh, ow), o].

The `os` dataflow streams Aᵀ: each K step is one line of M values, here the same input channel at consecutive output
pixels, which are `stride·C` bytes apart in NHWC, so no DMA window supplies them. On `os` a convolution (grouped too:
B block-diagonal, dense) is an explicit im2col through DRAM: a copy kernel (compiler/copy.py) gathers the padded NHWC
input into the Aᵀ matrix (K x M, channels unpadded, k = (kh, kw, c)), one element per DMA line and so one DRAM burst
per element each way, then a plain `os` GEMM reads that matrix (docs/compiler.md, docs/config.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arch.config import AccelConfig
from ..arch.isa import Mem, Opcode
from .copy import compile_copy
from .gemm import Epilogue, compile_gemm
from .program import Compiled, CompileError, DramTensor, dma, rup


def stack_rows(kh: int, line: int, lanes: int) -> int:
  """Kernel rows one packed line carries: the fewest line groups (KH / (lanes // line), rounded up), each as few rows as that allows."""
  folds = -(-kh // max(1, min(kh, lanes // line)))
  return -(-kh // folds)

@dataclass
class Windows:
  x: np.ndarray                       # (N, C, H, W) int8
  kh: int; kw: int; stride: int; padding: int; dilation: int; lanes: int
  pad_value: int = 0                  # what padded positions read as (-128 for max pooling)
  packed: bool = False                # one line per kernel row group: KW x (stack x C) contiguous bytes (few input channels, no dilation)
  def __post_init__(self):
    n, c, h, w = self.x.shape
    self.stack = stack_rows(self.kh, self.kw * c, self.lanes) if self.packed else 1    # kernel rows one line carries
    self.cp, self.hp, self.wp = (self.stack * c if self.packed else rup(c, self.lanes)), h + 2 * self.padding, w + 2 * self.padding
    self.oh = (self.hp - self.dilation * (self.kh - 1) - 1) // self.stride + 1
    self.ow = (self.wp - self.dilation * (self.kw - 1) - 1) // self.stride + 1
    if self.oh < 1 or self.ow < 1: raise CompileError(f"conv2d window {self.kh}x{self.kw} does not fit the padded {self.hp}x{self.wp} input")
    self.m_granule = self.ow          # A tiles cover whole output rows
    self.tensor = DramTensor(0, (n, self.hp, self.wp, self.cp), "int8")
  @property
  def image(self) -> np.ndarray:       # padded NHWC input; packed: pixel (h, w) holds the C channels of rows h .. h+stack-1
    n, c, h, w = self.x.shape; p = self.padding
    img = np.zeros((n, self.hp + self.stack - 1, self.wp, c if self.packed else self.cp), np.int8)
    if p: img[:, :self.hp, :, :c] = self.pad_value
    img[:, p:p + h, p:p + w, :c] = self.x.transpose(0, 2, 3, 1)
    if not self.packed: return img
    return np.concatenate([img[:, j:j + self.hp] for j in range(self.stack)], axis=3)
  @property
  def folds(self) -> int:             # packed: lines per output pixel (kernel row groups)
    return -(-self.kh // self.stack)
  @property
  def k(self) -> int:                 # GEMM K: lines of `lanes` per (kh, kw, channel chunk), or per kernel row group when packed
    return self.folds * self.lanes if self.packed else self.kh * self.kw * self.cp
  def matrix(self, img: np.ndarray | None = None) -> np.ndarray:      # the im2col matrix the DMA windows present (of `img`: the image)
    img, s, d = self.image if img is None else img, self.stride, self.dilation
    if self.packed:
      out = np.zeros((img.shape[0], self.oh, self.ow, self.folds, self.lanes), np.int8)
      for g in range(self.folds):
        kh = g * self.stack
        for kw in range(self.kw):
          out[:, :, :, g, kw * self.cp:(kw + 1) * self.cp] = img[:, kh:kh + s * (self.oh - 1) + 1:s, kw:kw + s * (self.ow - 1) + 1:s, :]
      return out.reshape(-1, self.k)
    cols = [img[:, kh * d:kh * d + s * (self.oh - 1) + 1:s, kw * d:kw * d + s * (self.ow - 1) + 1:s, :] for kh in range(self.kh) for kw in range(self.kw)]
    return np.stack(cols, axis=3).reshape(-1, self.kh * self.kw * self.cp)
  def load(self, sram: int, m0: int, ms: int, k0: int, ks: int, R: int) -> list:
    out, s, d, cp, wp = [], self.stride, self.dilation, self.cp, self.wp
    per_image = self.oh * self.ow
    for f in range(-(-ks // R)):
      k = k0 + f * R; lanes = min(R, ks - f * R)
      if self.packed: kh, kw, c0, lanes = k // R * self.stack, 0, 0, self.kw * cp      # the whole kernel row group in one line
      else: kh, rem = divmod(k, self.kw * cp); kw, c0 = divmod(rem, cp)
      m = m0
      while m < m0 + ms:                 # one DMA per run of output rows inside one image
        n, r = divmod(m, per_image); oh = r // self.ow
        rows_here = min((m0 + ms - m) // self.ow, self.oh - oh)
        addr = self.tensor.addr + ((n * self.hp + oh * s + kh * d) * wp + kw * d) * cp + c0
        out += dma(Opcode.LOAD, Mem.SPAD, sram + f * ms + (m - m0), addr, lanes, self.ow, s * cp, rows_here, s * wp * cp)
        m += rows_here * self.ow
    return out

def compile_conv2d(cfg: AccelConfig, x: np.ndarray, w: np.ndarray, stride=1, padding=0, dilation=1, epilogue: Epilogue | None = None,
                   groups: int = 1) -> tuple[Compiled, Windows]:
  """x (N, C, H, W) int8, w (O, C/groups, KH, KW) int8 -> program whose C output is (N*OH*OW, O), NHWC.

  A grouped convolution (depthwise: groups = C = O) is one GEMM whose B is block-diagonal: output channel o
  reads only the input channels of its group. With k tiles of `rows` channels of one kernel position and
  n tiles of `cols` output channels, every other block is a tile of zeros that compile_gemm skips, so the
  array performs (per n tile) only the KH*KW k tiles that meet its group: a depthwise layer runs at `cols`
  useful MACs per cycle, the most an array that shares each input line across its columns can do."""
  n, c, h, wd = x.shape; o, cg, kh, kw = w.shape
  if groups < 1 or c % groups or o % groups: raise CompileError(f"conv2d: groups={groups} must divide {c} input and {o} output channels")
  if c != cg * groups: raise CompileError(f"conv2d: input has {c} channels, weight expects {cg} x {groups} groups")
  os_ = cfg.dataflow == "os"
  packed = not os_ and groups == 1 and dilation == 1 and c < cfg.rows and kw * c <= cfg.rows     # e.g. a 7x7 stem over 3 channels: 7 lines, not 49
  win = Windows(np.asarray(x, np.int8), kh, kw, stride, padding, dilation, 1 if os_ else cfg.rows, packed=packed)   # os: channels unpadded
  wt = np.asarray(w, np.int8).transpose(2, 3, 1, 0)                 # (kh, kw, c/groups, o)
  if packed:                                    # B[g, kw·(stack·C) + j·C + c] = w[g·stack + j, kw, c]; rows past KH stay zero
    r = win.stack; wz = np.zeros((win.folds * r, kw, c, o), np.int8); wz[:kh] = wt
    B = np.zeros((win.folds, cfg.rows, o), np.int8); B[:, :kw * r * c, :] = wz.reshape(win.folds, r, kw, c, o).transpose(0, 2, 1, 3, 4).reshape(win.folds, -1, o)
  else:
    B = np.zeros((kh, kw, win.cp, o), np.int8)
    og = o // groups
    for g in range(groups): B[:, :, g * cg:(g + 1) * cg, g * og:(g + 1) * og] = wt[:, :, :, g * og:(g + 1) * og]
  if os_: return compile_gemm(cfg, n * win.oh * win.ow, win.k, o, A=win.matrix(), B=B.reshape(-1, o), epilogue=epilogue), win   # A: im2col_copy's
  block = (cfg.rows, cfg.cols) if groups > 1 else None
  prog = compile_gemm(cfg, n * win.oh * win.ow, win.k, o, B=B.reshape(-1, o), epilogue=epilogue, a_src=win, block=block)
  return prog, win

def im2col_copy(cfg: AccelConfig, x: np.ndarray, kh: int, kw: int, stride=1, padding=0, dilation=1) -> Compiled:
  """The copy kernel that gathers the padded NHWC input x (N, C, H, W) into the im2col matrix as Aᵀ (K x M), which an `os`
  GEMM streams (compile_conv2d on os). Its output is what that GEMM's DRAM image holds as A."""
  win = Windows(np.asarray(x, np.int8), kh, kw, stride, padding, dilation, 1)
  img = win.image
  return compile_copy(cfg, img, win.matrix(np.arange(img.size).reshape(img.shape)).T)
