"""Random legal programs: every instruction kind with random fields, synchronized like real code, so
that the model (and later the RTL) can be exercised far from what the compiler happens to emit.

Phases alternate between two halves of each SRAM (double buffering, as the compiler does): the load
queue fills half t%2 of the scratchpad (and sometimes the accumulator) with random 2-level DMAs, the
compute queue runs random MATMULs reading it into half t%2 of the accumulator, and the store queue
runs random VECTOR instructions there (operands from the accumulator lines or the A lines, either memory
as destination) and stores random windows back. Tokens: load -> compute ->
store for the data; store -> compute -> load (a SYNC on the compute queue) returns a half to the
loads two phases later. The programs are race-free and deadlock-free by construction.
"""
from __future__ import annotations

import numpy as np

from ..arch import timing as T
from ..arch.config import DTYPE_BYTES, AccelConfig
from ..arch.isa import FIELD_MAX, Instr, Mem, Opcode, Queue, VecOp
from ..arch.vector import MAX_SHIFT


def random_program(cfg: AccelConfig, seed: int, phases: int = 4, dram_bytes: int = 1 << 16, vector: bool = True) -> tuple[list[Instr], np.ndarray]:
  """`vector=False` leaves out VECTOR instructions (for units that do not implement them yet)."""
  rng = np.random.default_rng(seed)
  R, C, W, E = cfg.rows, cfg.cols, cfg.spad_line_bytes, DTYPE_BYTES[cfg.acc_dtype]
  IMM_END = FIELD_MAX[Opcode.VECTOR]["imm"] + 1
  half_a = cfg.spad_lines // 2                       # scratchpad: A operands in the lower half, B in the upper (different banks)
  quarter = half_a // 2                              # per phase buffer: half of each half
  acc_half = cfg.acc_lines // 2
  dram = rng.integers(0, 256, dram_bytes, dtype=np.uint8)
  out_base = dram_bytes // 2                         # stores write the upper half of DRAM, loads read the lower
  ri = lambda lo, hi: int(rng.integers(lo, hi + 1))
  prog = []
  def dma(op, mem, sram, lines_max, width, region):
    outer = ri(1, min(3, lines_max)); rows = ri(1, min(8, lines_max // outer))
    lb = ri(1, width) if mem == Mem.SPAD else E * ri(1, width // E)
    stride = lb + ri(0, 16); ostride = rows * stride + ri(0, 16)
    span = (outer - 1) * ostride + (rows - 1) * stride + lb
    base = region[0] + ri(0, max(0, region[1] - region[0] - span - 1))
    return Instr(op, mem=mem.value, sram_addr=sram, dram_addr=base, line_bytes=lb, rows=rows, dram_stride=stride, outer=outer, outer_stride=ostride)
  for t in range(phases):
    b = t % 2
    a_lo, b_lo, c_lo = b * quarter, half_a + b * quarter, b * (acc_half // 2)
    # load: A and B operand blocks (whole lines, so MATMUL reads only loaded data), sometimes accumulator lines
    m, k, n = ri(1, 3 * R), ri(1, 2 * R), ri(1, 2 * C)
    a_lines, b_lines, c_lines = T.matmul_lines(cfg, m, k, n)
    m = m if max(a_lines, b_lines) <= quarter and c_lines <= acc_half // 2 else 1
    k, n = (k, n) if m > 1 else (1, 1)
    a_lines, b_lines, c_lines = T.matmul_lines(cfg, m, k, n)
    loads = [Instr(Opcode.LOAD, mem=Mem.SPAD.value, sram_addr=lo, dram_addr=ri(0, out_base - W * lines - 1), line_bytes=W, rows=lines,
                   dram_stride=W, outer=1, outer_stride=0) for lo, lines in ((a_lo, a_lines), (b_lo, b_lines))]
    loads += [dma(Opcode.LOAD, Mem.SPAD, a_lo + a_lines, quarter - a_lines, W, (0, out_base)) for _ in range(ri(0, 2)) if quarter - a_lines >= 1]
    if rng.random() < 0.5: loads.append(dma(Opcode.LOAD, Mem.ACC, c_lo, c_lines, cfg.acc_line_bytes, (0, out_base)))
    loads[0].f["wait_next"] = int(t >= 2); loads[-1].f["signal_next"] = 1
    back = [Instr(Opcode.SYNC, queue=Queue.COMPUTE.value, wait_next=1, signal_prev=1)] if t >= 2 else []
    mms = [Instr(Opcode.MATMUL, a_addr=a_lo, b_addr=b_lo, c_addr=c_lo, m=m, k=k, n=n, accumulate=ri(0, 1)) for _ in range(ri(1, 3))]
    mms[0].f["wait_prev"] = 1; mms[-1].f["signal_next"] = 1
    # store: vector functions over the phase's accumulator lines and A lines (results, int8 operands), into either;
    # a destination never starts inside a source of its memory (the model refuses that: the unit streams row by row)
    vec, regions = [], {Mem.ACC: (c_lo, acc_half // 2), Mem.SPAD: (a_lo, quarter)}
    for _ in range(ri(0, 4) if vector else 0):
      f = list(VecOp)[ri(0, len(VecOp) - 1)]              # the values need not be contiguous
      mems = [Mem.SPAD if rng.random() < 0.3 else Mem.ACC for _ in range(3)]    # src1, src2, dst
      rows = ri(1, max(c_lines, 2))
      offs = [ri(0, min(2, regions[mm][1] - rows)) for mm in mems]
      offs[2] = min([offs[2]] + [o for o, mm in zip(offs[:2], mems[:2]) if mm == mems[2]])
      (s1, s2, dst) = [regions[mm][0] + o for mm, o in zip(mems, offs)]
      vec.append(Instr(Opcode.VECTOR, funct=f.value, dst_mem=mems[2].value, dst_addr=dst, src1_mem=mems[0].value, src1_addr=s1,
                       src2_mem=mems[1].value, src2_addr=s2, rows=rows, imm=int(rng.integers(0, IMM_END)), shift=ri(0, MAX_SHIFT),
                       src2_imm=ri(0, 1), src2_bcast=ri(0, 1), relu=int(rng.random() < 0.3)))
    stores = [dma(Opcode.STORE, Mem.ACC, c_lo, c_lines, cfg.acc_line_bytes, (out_base + b * out_base // 2, out_base + (b + 1) * out_base // 2))]
    if rng.random() < 0.5: stores.append(dma(Opcode.STORE, Mem.SPAD, a_lo, a_lines, W, (out_base + b * out_base // 2, out_base + (b + 1) * out_base // 2)))
    tail = vec + stores
    tail[0].f["wait_prev"] = 1; tail[-1].f["signal_prev"] = int(t + 2 < phases)
    prog += loads + back + mms + tail
  return prog, dram
