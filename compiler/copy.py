"""Copy kernels: materialize a view that the consumer's DMA cannot read in place (a transpose, a head merge).

A GEMM reads each operand row as contiguous bytes (A along K, B along N) at an affine row address;
a view of another kernel's output that is not such a pattern (K of a per-head QKᵀ is read along
the sequence axis; merged heads jump between head blocks) is first copied on the accelerator: the
load queue gathers the view's lines (runs of contiguous elements, or single elements when the inner
axis is strided: a transpose costs one DRAM burst per element) into the scratchpad, double-buffered,
and the store queue writes them out contiguously. No array or vector work.
"""
from __future__ import annotations

import math

import numpy as np

from ..arch.config import AccelConfig
from ..arch.isa import Mem, Opcode
from .program import Compiled, Tiling, dma, dram_image, dram_layout, tile_loop


def dma_readable(off: np.ndarray) -> bool:
  """Element offsets (batch, rows, L): every row L contiguous elements, row starts affine in (batch, row)."""
  s = off[:, :, :1]
  if not (off - s == np.arange(off.shape[2])).all(): return False
  d_row = s[:, 1:2] - s[:, :1] if off.shape[1] > 1 else np.zeros_like(s[:, :1])
  if not (s == s[:, :1] + np.arange(off.shape[1])[None, :, None] * d_row).all(): return False
  return off.shape[0] == 1 or len(np.unique(d_row)) == 1 and (s[1:, 0] - s[:-1, 0] == s[1, 0] - s[0, 0]).all()

def _runs(starts: np.ndarray) -> list[tuple[int, int, int]]:
  """Cut line starts into maximal arithmetic runs: (first line, count, stride)."""
  out, i = [], 0
  while i < len(starts):
    n = 1 if i + 1 == len(starts) else 2
    st = int(starts[i + 1] - starts[i]) if n == 2 else 0
    while i + n < len(starts) and starts[i + n] - starts[i + n - 1] == st: n += 1
    if st < 0: n, st = 1, 0                                   # DMA strides are unsigned: lines one by one
    out.append((i, n, st)); i += n
  return out

def compile_copy(cfg: AccelConfig, src: np.ndarray, off: np.ndarray) -> Compiled:
  """out (shape of off) = src.flat[off], by DMA through the scratchpad."""
  src = np.ascontiguousarray(src).reshape(-1); item = src.itemsize
  off = np.asarray(off, np.int64)
  flat = off.reshape(-1, off.shape[-1]) if off.ndim else off.reshape(1, 1)
  line, L = max(cfg.rows, cfg.cols), flat.shape[1]
  chunk = max(d for d in range(1, L + 1) if L % d == 0 and d * item <= line and (np.diff(flat.reshape(-1, d), axis=1) == 1).all())
  starts = flat.reshape(-1, chunk)[:, 0]                      # line j is output elements j·chunk ...
  tensors = dram_layout(A=((src.size,), src.dtype.name), C=(off.shape, src.dtype.name)); to = tensors["C"]
  dram = dram_image(tensors, {"A": src})
  cap = cfg.spad_lines // 2                                   # two buffers of lines
  lb = chunk * item
  groups = []
  for j, n, st in _runs(starts):                              # cut runs at buffer boundaries
    while n:
      take = min(n, cap - j % cap); groups.append((j, take, st)); j += take; n -= take
  def tile(t):
    b0, b1 = t * cap, min(len(starts), (t + 1) * cap)
    sram = (t % 2) * cap
    loads = [i for j, n, st in groups if b0 <= j < b1 for i in dma(Opcode.LOAD, Mem.SPAD, sram + j - b0, int(starts[j]) * item, lb, n, st * item)]
    return loads, dma(Opcode.STORE, Mem.SPAD, sram, to.addr + b0 * lb, lb, b1 - b0, lb), -1     # the store is the buffer's only reader
  prog = tile_loop([tile(t) for t in range(math.ceil(len(starts) / cap))])
  return Compiled(cfg, prog, dram, tensors, Tiling(cap, 0, chunk, "copy", 0, 0), 0, {"A": src}, to.read, lambda: src[off])
