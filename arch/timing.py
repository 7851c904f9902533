"""Timing rules: every instruction's resource occupancy and completion as a closed formula.

This module is the executable form of docs/timing.md; the model (sim/) calls it and the RTL
(rtl/) is held to it cycle for cycle. Conventions:
- `start` is the first cycle an instruction holds its resource.
- `occupancy` is how many cycles it holds it: the queue's next instruction may start at
  start + occupancy (DMA: the DRAM port; MATMUL: the array's input edge; SYNC: one cycle).
- `completion` = start + occupancy + tail: the cycle its last effect lands (DMA: last byte in
  SRAM or acknowledged by DRAM; MATMUL: last row written to the accumulator).
- A token signalled by an instruction is visible to a waiting instruction from
  completion + TOKEN_DELAY on.
"""
from __future__ import annotations

from .config import AccelConfig
from .isa import BIAS_FUNCTS, READS_DST_FUNCTS, REDUCE_ROWS_FUNCTS, UNARY_FUNCTS, Instr, Mem, Opcode, Queue

TOKEN_DELAY = 1        # cycles from a producer's completion to the consumer seeing the token
DMA_ISSUE_CYCLES = 1   # a DMA's address stage (and, for a store, its SRAM read) runs one cycle ahead of its bus beat
SYNC_CYCLES = 1        # a SYNC holds its queue for one cycle and completes then
VECTOR_STAGES = 6      # vector pipeline: a chunk's operands arrive, three compute stages, the scaler, the write (rtl/vector.py)
VECTOR_TAIL = 1        # an instruction completes the cycle after its last write
# When instructions of several queues could start on the same cycle, this order decides; it matters only
# for the DRAM port, which the store queue wins (it frees accumulator space the compute queue waits for).
ISSUE_PRIORITY = {Queue.STORE: 0, Queue.LOAD: 1, Queue.COMPUTE: 2}

def cdiv(a: int, b: int) -> int: return -(-a // b)

def dma_bytes(ins: Instr) -> int:
  """Bytes the program asks for: outer x rows x line_bytes."""
  return ins.outer * ins.rows * ins.line_bytes

def dma_bus_bytes(cfg: AccelConfig, ins: Instr) -> int:
  """Bytes moved on the DRAM port: every row is a separate access rounded up to whole bursts."""
  return ins.outer * ins.rows * cdiv(ins.line_bytes, cfg.dram_burst_bytes) * cfg.dram_burst_bytes

def dma_occupancy(cfg: AccelConfig, ins: Instr) -> int:
  """Cycles the DMA holds the single DRAM port."""
  return cdiv(dma_bus_bytes(cfg, ins), cfg.dram_bytes_per_cycle)

def matmul_lines(cfg: AccelConfig, m: int, k: int, n: int, transpose_b: int = 0) -> tuple[int, int, int]:
  """Scratchpad lines of A and B and accumulator lines of C that an m x k x n MATMUL touches (layouts in docs/isa.md):
  A is ceil(k/rows) k-folds of m lines (ws) or ceil(m/rows) m-folds of k lines of A^T (os); B ceil(n/cols) n-folds of k
  lines, or with transpose_b ceil(k/rows) k-folds of n lines (B^T's rows); C ceil(n/cols) n-folds of m lines."""
  nf = cdiv(n, cfg.cols)
  return (cdiv(k, cfg.rows) * m if cfg.dataflow == "ws" else cdiv(m, cfg.rows) * k), (cdiv(k, cfg.rows) * n if transpose_b else nf * k), nf * m

def operand_lines(cfg: AccelConfig, ins: Instr) -> tuple[int, int, int]: return matmul_lines(cfg, ins.m, ins.k, ins.n, ins.transpose_b)

def transpose_b_refusal(cfg: AccelConfig) -> str | None:
  """Why a config cannot run a transpose_b MATMUL (None: it can). The side-loaded weight tile takes `cols` cycles to
  shift in, one column a cycle; with rows == cols that is the `rows`-cycle preload of the timing rule, and the
  transport chains of the array serve both directions (rtl/array.py). Other shapes are refused, not timed."""
  if cfg.dataflow != "ws": return f"transpose_b needs the ws dataflow (config {cfg.name} is {cfg.dataflow}): os streams B's rows from the top"
  if cfg.rows != cfg.cols: return f"transpose_b needs a square array (config {cfg.name} is {cfg.rows}x{cfg.cols})"
  return None

def matmul_folds(cfg: AccelConfig, ins: Instr) -> int:
  """Array-sized folds the sequencer steps through: (k, n) tiles in ws, (m, n) tiles in os."""
  if cfg.dataflow == "ws": return cdiv(ins.k, cfg.rows) * cdiv(ins.n, cfg.cols)
  return cdiv(ins.m, cfg.rows) * cdiv(ins.n, cfg.cols)

def matmul_occupancy(cfg: AccelConfig, ins: Instr) -> int:
  """Cycles MATMUL holds the array's input edge.
  ws: preload the first weight fold (rows cycles), then each fold streams m rows of A; the next
      fold's weights shift in behind the current stream, so a fold costs max(m, rows).
  os: each fold streams k lines of A^T and B; its results drain down a chain (rows cycles) when the
      next fold's first line (or the flush after the last fold) passes, and two drains must not
      overlap in the chain, so every fold, the last one included, costs max(k, rows)."""
  f, r = matmul_folds(cfg, ins), cfg.rows
  if cfg.dataflow == "ws": return r + (f - 1) * max(ins.m, r) + ins.m
  return f * max(ins.k, r)

def matmul_tail(cfg: AccelConfig) -> int:
  """Cycles from the last input entering the array to its result being written:
  ws: 1 (SRAM read) + rows-1 + cols-1 (skewed pass) + 1 (accumulator write) = rows + cols;
  os: the same pass, then rows cycles to shift the stationary outputs out = 2 rows + cols."""
  return cfg.rows + cfg.cols if cfg.dataflow == "ws" else 2 * cfg.rows + cfg.cols

def reads_src2(ins: Instr) -> bool: return not ins.src2_imm and ins.funct not in UNARY_FUNCTS

def vector_operands(ins: Instr) -> list[tuple[str, int, int, int]]:
  """(role, Mem value, first line, lines) of each SRAM operand of a VECTOR, dst last: src1 and src2 (unless an immediate
  or a one-operand function; one line when broadcast) are read, and BIASRQ's bias line (src2_addr + imm in src2's memory);
  dst is written (one line for RSUM/RMAX over the rows)."""
  out = [("src1", ins.src1_mem, ins.src1_addr, ins.rows)]
  if reads_src2(ins): out.append(("src2", ins.src2_mem, ins.src2_addr, 1 if ins.src2_bcast else ins.rows))
  if ins.funct in BIAS_FUNCTS: out.append(("bias", ins.src2_mem, ins.src2_addr + ins.signed("imm"), 1))
  return out + [("dst", ins.dst_mem, ins.dst_addr, 1 if ins.funct in REDUCE_ROWS_FUNCTS else ins.rows)]

def vector_reads(ins: Instr, first_row: bool) -> list[tuple[str, int]]:
  """(role, Mem value) of each operand line a VECTOR reads for one chunk of a row, in read order. A one-line source (a
  broadcast src2, BIASRQ's bias) is read in the first row only and held; dst is read only as SELECT's selector."""
  return [(role, mem) for role, mem, _, n in vector_operands(ins) if (role != "dst" or ins.funct in READS_DST_FUNCTS) and (first_row or n > 1)]

def vector_steps(ins: Instr, first_row: bool) -> int:
  """Cycles to read one chunk's operands: the store queue has one read port on each SRAM (shared with the store
  DMA, which never runs in the same cycle), so each memory delivers one operand line per cycle."""
  mems = [mem for _, mem in vector_reads(ins, first_row)]
  return max(mems.count(m.value) for m in Mem)

def vector_occupancy(cfg: AccelConfig, ins: Instr) -> int:
  """A VECTOR processes `cols` elements per line, `vector_lanes` per chunk, reading each chunk's operands in
  vector_steps cycles; it holds the store queue until its last chunk is written, VECTOR_STAGES cycles after its
  last read, so the next instruction (which starts in that cycle) reads what it wrote."""
  reads = cdiv(cfg.cols, cfg.vector_lanes) * (vector_steps(ins, True) + (ins.rows - 1) * vector_steps(ins, False))
  return reads + VECTOR_STAGES - 1

def occupancy(cfg: AccelConfig, ins: Instr) -> int:
  if ins.opcode in (Opcode.LOAD, Opcode.STORE): return dma_occupancy(cfg, ins)
  if ins.opcode == Opcode.MATMUL: return matmul_occupancy(cfg, ins)
  if ins.opcode == Opcode.VECTOR: return vector_occupancy(cfg, ins)
  return SYNC_CYCLES

def tail(cfg: AccelConfig, ins: Instr) -> int:
  if ins.opcode in (Opcode.LOAD, Opcode.STORE): return DMA_ISSUE_CYCLES + cfg.dram_latency_cycles
  if ins.opcode == Opcode.MATMUL: return matmul_tail(cfg)
  if ins.opcode == Opcode.VECTOR: return VECTOR_TAIL
  return 0

# ---- multi-core chips (docs/timing.md "Cores, channels and the kernel barrier") ----
def barrier_cycles(cfg: AccelConfig) -> int:
  """Cycles from the last core's completion of a kernel to every core starting the next: the cores' done flags are
  AND-ed up a binary tree of registers (one level a cycle) and the release is sent down the same tree; one core needs none."""
  return 0 if cfg.cores == 1 else 2 * (cfg.cores - 1).bit_length()

def chip_cycles(cfg: AccelConfig, core_cycles: list[int]) -> int:
  """A kernel on the chip: every core starts it at cycle 0; it ends when the barrier after the slowest core releases."""
  return max(core_cycles, default=0) + barrier_cycles(cfg)

def port_rank(core: int, last_granted: int, group: int) -> int:
  """Tie-break among the `group` cores of one DRAM channel whose DMAs could take the port in the same cycle (after the
  store-before-load order of ISSUE_PRIORITY): round-robin, starting after the core granted the port last."""
  return (core - last_granted - 1) % group

def uses_dram_port(ins: Instr) -> bool: return ins.opcode in (Opcode.LOAD, Opcode.STORE)

def matmul_macs(ins: Instr) -> int: return ins.m * ins.k * ins.n
