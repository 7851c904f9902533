"""Program emission shared by every kernel: the DRAM layout, DMA and VECTOR instructions split at the ISA's
field limits, token flags, the double-buffered tile loop of the vector and copy kernels, and `Compiled`,
the program with its DRAM image that each compile_* returns.

The tile loop: per tile the load queue fills buffer t % 2 and signals the compute queue, where a SYNC
forwards the token to the store queue (queues only exchange tokens with their neighbours, docs/isa.md);
the store queue's last reader of the buffer hands it back the same way, and the loads of tile t+2 wait
for it. So the loads of tile t+1 overlap the work of tile t.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..arch.config import AccelConfig
from ..arch.isa import FIELD_MAX, Instr, Mem, Opcode, Queue


class CompileError(ValueError):
  """A workload this accelerator cannot run (tile does not fit, field out of range ...)."""

ALIGN = 64
MAX = {**FIELD_MAX[Opcode.LOAD], **FIELD_MAX[Opcode.MATMUL]}   # the largest value of each DMA and MATMUL field
ROW = dict(src2_mem=Mem.ACC.value, src2_bcast=1)      # src2: one accumulator line for every row (a per-row or per-column value)
rup = lambda x, g: -(-x // g) * g

# ---------------- DRAM ----------------
@dataclass(frozen=True)
class DramTensor:
  """A DRAM-resident tensor: byte address, logical shape, dtype, and storage order."""
  addr: int
  shape: tuple
  dtype: str
  transposed: bool = False     # stored with its last two axes swapped (A^T for output-stationary)
  @property
  def nbytes(self) -> int: return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize
  @property
  def end(self) -> int: return self.addr + self.nbytes
  def read(self, dram: np.ndarray) -> np.ndarray:
    """Its value in `dram`, in logical order (a view)."""
    a = dram[self.addr:self.end].view(self.dtype)
    return np.swapaxes(a.reshape(*self.shape[:-2], self.shape[-1], self.shape[-2]), -1, -2) if self.transposed else a.reshape(self.shape)
  def write(self, dram: np.ndarray, value: np.ndarray):
    """Store `value` (its logical order; fewer elements than the tensor leave the rest as they are)."""
    v = np.asarray(value, self.dtype)
    b = (np.swapaxes(v, -1, -2) if self.transposed else v).reshape(-1).view(np.uint8)
    dram[self.addr:self.addr + b.size] = b

def dram_layout(**specs) -> dict[str, DramTensor]:
  """Tensors one after another at ALIGN-byte boundaries, in argument order: name=(shape, dtype[, transposed]),
  or name=DramTensor, placed already (a convolution's padded input)."""
  out, end = {}, 0
  for name, s in specs.items():
    out[name] = t = s if isinstance(s, DramTensor) else DramTensor(rup(end, ALIGN), *s)
    end = t.end
  return out

def dram_image(tensors: dict[str, DramTensor], values: dict[str, np.ndarray]) -> np.ndarray:
  """The DRAM a program starts from: zeros up to the end of the last tensor (rounded to ALIGN), `values` at their tensors."""
  dram = np.zeros(rup(max(t.end for t in tensors.values()), ALIGN), np.uint8)
  for name, v in values.items(): tensors[name].write(dram, v)
  return dram

# ---------------- instructions ----------------
def dma(op, mem, sram, dram, line_bytes, rows, stride, outer=1, ostride=0) -> list[Instr]:
  """DMAs for `outer` x `rows` lines, split where a count exceeds its ISA field."""
  for field_, v in (("dram_stride", stride), ("outer_stride", ostride), ("dram_addr", dram)):
    if v > MAX[field_]: raise CompileError(f"{field_}={v} exceeds the ISA limit {MAX[field_]}")
  if rows > MAX["rows"]:
    return [i for o in range(outer) for r0 in range(0, rows, MAX["rows"])
            for i in dma(op, mem, sram + o * rows + r0, dram + o * ostride + r0 * stride, line_bytes, min(MAX["rows"], rows - r0), stride)]
  return [Instr(op, mem=mem.value, sram_addr=sram + o0 * rows, dram_addr=dram + o0 * ostride, line_bytes=line_bytes, rows=rows,
                dram_stride=stride, outer=min(MAX["outer"], outer - o0), outer_stride=ostride) for o0 in range(0, outer, MAX["outer"])]

def tile_dma(op, mem, sram, dram, rows, stride, width, chunk, elem=1) -> list[Instr]:
  """A tile whose `rows` DRAM rows hold `width` elements, cut into `chunk`-element lines."""
  full, rem = divmod(width, chunk)
  out = dma(op, mem, sram, dram, chunk * elem, rows, stride, full, chunk * elem) if full else []
  if rem: out += dma(op, mem, sram + full * rows, dram + full * chunk * elem, rem * elem, rows, stride)
  return out

def vector(funct, dst_mem, dst, src1_mem, src1, rows, **kw) -> list[Instr]:
  """VECTOR instructions over `rows` lines, split at the ISA's row limit (a src2 of `rows` lines advances with them)."""
  step, lines2 = FIELD_MAX[Opcode.VECTOR]["rows"], not kw.get("src2_bcast") and not kw.get("src2_imm")
  return [Instr(Opcode.VECTOR, funct=funct.value, dst_mem=dst_mem.value, dst_addr=dst + r, src1_mem=src1_mem.value, src1_addr=src1 + r,
                rows=min(step, rows - r), **{**kw, **({"src2_addr": kw.get("src2_addr", 0) + r} if lines2 and r else {})}) for r in range(0, rows, step)]

def flag(instrs: list[Instr], **flags):
  """Set token flags on a group: waits on its first instruction, signals on its last."""
  for k, v in flags.items(): instrs[0 if k.startswith("wait") else -1].f[k] |= int(v)

def tile_loop(tiles: list[tuple[list[Instr], list[Instr], int]]) -> list[Instr]:
  """The double-buffered tile loop (module docstring) from each tile's (loads, work, last): its LOADs into
  buffer t % 2, its store-queue work (VECTORs, then STOREs) and the index in `work` of the instruction that
  last reads the loaded buffer, which hands it back to the loads of tile t+2."""
  prog = []
  for t, (loads, work, last) in enumerate(tiles):
    flag(loads, wait_next=int(t >= 2), signal_next=1)
    flag(work, wait_prev=1); work[last].f["signal_prev"] = int(t + 2 < len(tiles))
    # compute queue: before forwarding tile t, pass tile t-2's "buffer free" token from the store queue to the load queue
    back = [Instr(Opcode.SYNC, queue=Queue.COMPUTE.value, wait_next=1, signal_prev=1)] if t >= 2 else []
    prog += loads + back + [Instr(Opcode.SYNC, queue=Queue.COMPUTE.value, wait_prev=1, signal_next=1)] + work
  return prog

# ---------------- the artifact ----------------
@dataclass(frozen=True)
class Tiling:
  """A program's blocking: the GEMM's tiles (m, k, n) and loop order, or a vector or copy kernel's rows per tile."""
  mt: int; kt: int; nt: int
  order: str                   # "mnk": k tiled; "mn": A resident over n; "nm": B resident over m
  est_cycles: int
  dram_bytes: int

@dataclass(frozen=True, eq=False)
class Compiled:
  """A kernel's program and the DRAM image it starts from. `read(dram)` is its output in a DRAM after the run,
  `reference()` what that output must be (the integer definition the program implements)."""
  cfg: AccelConfig
  program: list[Instr]
  dram: np.ndarray
  tensors: dict[str, DramTensor]
  tiling: Tiling                       # the GEMM's tiles; the vector and copy kernels record their blocking in it
  macs: int                            # MACs the array performs (B tiles of zeros are skipped)
  inputs: dict = field(repr=False)
  read: Callable[[np.ndarray], np.ndarray] = field(repr=False)
  reference: Callable[[], np.ndarray] = field(repr=False)
  @property
  def compulsory_dram_bytes(self) -> int: return sum(t.nbytes for t in self.tensors.values())
