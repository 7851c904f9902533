"""The cycle-accurate model: executes a binary program on an AccelConfig.

Event-driven per instruction, not per cycle: each queue's head instruction gets a start cycle
from the rules of arch/timing.py (its queue, its tokens, the DRAM port), and the instruction
with the earliest start is issued next. Numerics are bit-exact int8 x int8 -> int32 (wrapping).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
import csv
import dataclasses
from dataclasses import dataclass, field
import io
import json
import time

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..arch import timing as T
from ..arch import vector as V
from ..arch.config import DRAM_DTYPE, DTYPE_BYTES, AccelConfig
from ..arch.isa import BIAS_FUNCTS, MEM_NAMES, QUEUE_NAMES, Instr, Mem, Opcode, Queue, VecOp
from ..arch.stats import Stats


class ProgramError(ValueError):
  """A program the hardware cannot run (out-of-range address, bank conflict, deadlock ...)."""

ACC_DT = np.dtype(DRAM_DTYPE["int32"])    # an accumulator element as DRAM holds it (acc_dtype is int32 so far)

@dataclass(frozen=True)
class ChipResult:
  """A kernel on a multi-core chip: one Result per core (a core without work has none) and the chip's cycles."""
  cycles: int
  stats: Stats                        # Stats.chip: summed counts, the chip's cycles, peak and bandwidth
  cores: list                         # Result per core, in core order
  def trace_records(self):
    return [dict(core=c, **t) for c, r in enumerate(self.cores) for t in r.trace_records()]
  def trace_json(self) -> str: return json.dumps(self.trace_records())
  def trace_csv(self) -> str:
    out = io.StringIO(); w = csv.writer(out, lineterminator="\n")
    w.writerow(["core", "index", "queue", "opcode", "start", "end"]); w.writerows((c, *t) for c, r in enumerate(self.cores) for t in r.trace)
    return out.getvalue()

@dataclass
class Result:
  cycles: int
  stats: Stats
  trace: list = field(repr=False)     # (index, queue, opcode, start, end) per instruction, program order

  def trace_records(self):
    return [dict(index=i, queue=q, opcode=op, start=s, end=e) for i, q, op, s, e in self.trace]
  def trace_json(self) -> str: return json.dumps(self.trace_records())
  def trace_csv(self) -> str:
    out = io.StringIO(); w = csv.writer(out, lineterminator="\n")
    w.writerow(["index", "queue", "opcode", "start", "end"]); w.writerows(self.trace)
    return out.getvalue()

class Machine:
  """SRAMs and DRAM of one accelerator. `dram` is the byte image the program runs against."""
  def __init__(self, cfg: AccelConfig, dram: np.ndarray | None = None, dram_bytes: int | None = None, functional: bool = True):
    self.cfg, self.functional = cfg, functional
    self.dram = np.zeros(dram_bytes or 0, np.uint8) if dram is None else np.ascontiguousarray(dram, np.uint8)
    self.dram_size = len(self.dram)
    if functional:
      # int8 scratchpad values are held exactly in float32, ready for BLAS
      self.spad = np.zeros((cfg.spad_lines, cfg.spad_line_bytes), np.float32)
      self.pending = {}   # first line -> (first, end, outer, rows, line_bytes, rows x outer*line_bytes data)
      self.acc = np.zeros((cfg.acc_lines, cfg.cols), np.int32)
    self.read_mask = np.zeros(self.dram_size, bool)     # DRAM bytes ever read / written: compulsory traffic
    self.write_mask = np.zeros(self.dram_size, bool)
    self._marked = set()                                # DMA footprints already marked

  # ---------------- checks: one line naming the instruction and the rule ----------------
  def check(self, idx: int, ins: Instr):
    cfg = self.cfg
    def need(ok, msg):   # msg: a string, or a lambda so the message is only built on failure
      if not ok: raise ProgramError(f"instruction {idx} ({ins.opcode.name.lower()}): {msg() if callable(msg) else msg}")
    q = ins.queue
    need(not ((ins.wait_prev or ins.signal_prev) and q == Queue.LOAD), "the load queue has no previous queue")
    need(not ((ins.wait_next or ins.signal_next) and q == Queue.STORE), "the store queue has no next queue")
    if ins.opcode in (Opcode.LOAD, Opcode.STORE):
      f = ins.f
      rows, outer, lb, stride, ostride = f["rows"], f["outer"], f["line_bytes"], f["dram_stride"], f["outer_stride"]
      need(rows >= 1 and outer >= 1 and lb >= 1, "rows, outer and line_bytes must be >= 1")
      spad, ab = f["mem"] == Mem.SPAD.value, DTYPE_BYTES[cfg.acc_dtype]
      mem, width, lines = ("spad", cfg.spad_line_bytes, cfg.spad_lines) if spad else ("acc", cfg.acc_line_bytes, cfg.acc_lines)
      need(lb <= width, lambda: f"line_bytes={lb} exceeds the {width}-byte {mem} line")
      need(spad or lb % ab == 0, lambda: f"line_bytes={lb} must be a multiple of {ab} for the {cfg.acc_dtype} accumulator")
      need(f["sram_addr"] + outer * rows <= lines, lambda: f"{mem} lines {f['sram_addr']}..{f['sram_addr'] + outer * rows - 1} exceed its {lines} lines")
      last = f["dram_addr"] + (outer - 1) * ostride + (rows - 1) * stride + lb
      need(last <= self.dram_size, lambda: f"DRAM bytes up to {last} exceed the {self.dram_size}-byte image")
      # rows a store writes must not overlap: cheap sufficient tests first (outer blocks apart, or interleaved within one stride)
      apart = stride >= lb and (outer == 1 or ostride >= rows * stride)
      within = rows == 1 or (ostride >= lb and (outer - 1) * ostride + lb <= stride)
      if ins.opcode == Opcode.STORE and not (apart or within):
        starts = np.sort((np.arange(outer)[:, None] * ostride + np.arange(rows)[None, :] * stride).ravel())
        need(np.diff(starts).min() >= lb, "rows written to DRAM overlap each other")
    elif ins.opcode == Opcode.MATMUL:
      need(ins.m >= 1 and ins.k >= 1 and ins.n >= 1, "m, k and n must be >= 1")
      need(not ins.transpose_b or T.transpose_b_refusal(cfg) is None, lambda: T.transpose_b_refusal(cfg))
      a, b, c = T.operand_lines(cfg, ins)
      need(ins.a_addr + a <= cfg.spad_lines, lambda: f"A lines {ins.a_addr}..{ins.a_addr + a - 1} exceed the {cfg.spad_lines} scratchpad lines")
      need(ins.b_addr + b <= cfg.spad_lines, lambda: f"B lines {ins.b_addr}..{ins.b_addr + b - 1} exceed the {cfg.spad_lines} scratchpad lines")
      need(ins.c_addr + c <= cfg.acc_lines, lambda: f"C lines {ins.c_addr}..{ins.c_addr + c - 1} exceed the {cfg.acc_lines} accumulator lines")
      bl = cfg.spad_bank_lines   # bank ranges [first, last] of A and B must not intersect
      need((ins.a_addr + a - 1) // bl < ins.b_addr // bl or (ins.b_addr + b - 1) // bl < ins.a_addr // bl, "A and B share a scratchpad bank (the array reads both in the same cycle)")
    elif ins.opcode == Opcode.SYNC:
      need(ins.f["queue"] < len(QUEUE_NAMES), lambda: f"invalid queue {ins.f['queue']}")
    elif ins.opcode == Opcode.VECTOR:
      need(ins.rows >= 1, "rows must be >= 1")
      need(ins.shift <= V.MAX_SHIFT, lambda: f"shift={ins.shift} must be <= {V.MAX_SHIFT}")
      need(ins.funct not in BIAS_FUNCTS or (ins.src2_bcast and not ins.src2_imm), "biasrq reads its multiplier and bias lines broadcast: src2_bcast=1, src2_imm=0")
      ops = _vector_operands(ins)
      for name, mem, lo, n in ops:
        need(lo >= 0, lambda: f"{name} line {lo} is below line 0")
        lines = cfg.spad_lines if mem == "spad" else cfg.acc_lines
        need(lo + n <= lines, lambda: f"{name} {mem} lines {lo}..{lo + n - 1} exceed its {lines} lines")
      # the unit streams row by row, writing row r before it reads row r+1: a source whose lines the destination
      # reaches at an earlier row would be read after this instruction overwrote it (the model reads first)
      _, dmem, dlo, dn = ops[-1]
      for name, mem, lo, n in ops[:-1]:
        need(not (mem == dmem and dn > 1 and n > 1 and lo < dlo < lo + n), lambda: f"dst {dmem} lines {dlo}.. overwrite {name} lines {lo}..{lo + n - 1}"
             " before they are read (the unit streams row by row): start dst at or below the source, or past its end")

  # ---------------- effects ----------------
  def _dram_view(self, buf, ins):
    return as_strided(buf[ins.dram_addr:], (ins.outer, ins.rows, ins.line_bytes), (ins.outer_stride, ins.dram_stride, 1), writeable=True)

  def _mark(self, mask, ins):
    key = (ins.opcode, ins.dram_addr, ins.line_bytes, ins.rows, ins.dram_stride, ins.outer, ins.outer_stride)
    if key not in self._marked: self._marked.add(key); self._dram_view(mask, ins)[...] = True

  # Scratchpad loads are kept as they came from DRAM (rows x outer*line_bytes, row-major) until a
  # reader needs them as lines: a MATMUL whose operand is exactly one such load reads the matrix
  # directly, which saves two line-by-line shuffles per tile. Anything else materializes the lines.
  def _materialize(self, lo: int, hi: int):
    for key, (l, h, outer, rows, lb, data) in list(self.pending.items()):
      if l < hi and lo < h:
        del self.pending[key]
        self.spad[l:h].reshape(outer, rows, -1)[:, :, :lb] = data.reshape(rows, outer, lb).transpose(1, 0, 2); self.spad[l:h, lb:] = 0

  def _operand(self, lo: int, folds: int, lines: int, lanes: int):
    """The matrix (lines x folds*lanes) held by one pending load of exactly this shape, else None."""
    p = self.pending.get(lo)
    return p[5] if p is not None and p[1:5] == (lo + folds * lines, folds, lines, lanes) else None

  def _operand_bt(self, ins: Instr, nf: int) -> np.ndarray:
    """transpose_b: B (k x nf*C, columns past n zero) from ceil(k/R) k-folds of n lines, line j of fold f = B[f*R : f*R+R, j]."""
    R, k, n, kf = self.cfg.rows, ins.k, ins.n, T.cdiv(ins.k, self.cfg.rows)
    Bt = self._operand(ins.b_addr, kf, n, R)
    if Bt is None:
      self._materialize(ins.b_addr, ins.b_addr + kf * n)
      Bt = self.spad[ins.b_addr:ins.b_addr + kf * n, :R].reshape(kf, n, R).transpose(1, 0, 2).reshape(n, kf * R)
    B = np.zeros((k, nf * self.cfg.cols), np.float32); B[:, :n] = Bt[:, :k].T
    return B

  def execute(self, ins: Instr):
    op = ins.opcode
    if op == Opcode.LOAD:
      self._mark(self.read_mask, ins)
      if not self.functional: return
      lo, hi, lb, outer, rows = ins.sram_addr, ins.sram_addr + ins.outer * ins.rows, ins.line_bytes, ins.outer, ins.rows
      src = as_strided(self.dram[ins.dram_addr:], (rows, outer, lb), (ins.dram_stride, ins.outer_stride, 1))
      if ins.mem == Mem.SPAD.value:   # a DMA writes whole lines: bytes past line_bytes become zero
        for key, p in list(self.pending.items()):   # drop loads this one overwrites entirely, write out the others it touches
          if lo <= p[0] and p[1] <= hi: del self.pending[key]
        self._materialize(lo, hi)
        self.pending[lo] = (lo, hi, outer, rows, lb, src.reshape(rows, outer * lb).view(np.int8).astype(np.float32))
      else:
        e = lb // ACC_DT.itemsize
        self.acc[lo:hi, :e] = src.transpose(1, 0, 2).reshape(-1, lb).view(ACC_DT); self.acc[lo:hi, e:] = 0
    elif op == Opcode.STORE:
      self._mark(self.write_mask, ins)
      if not self.functional: return
      lo, hi, lb = ins.sram_addr, ins.sram_addr + ins.outer * ins.rows, ins.line_bytes
      if ins.mem == Mem.SPAD.value: self._materialize(lo, hi)
      src = self.spad[lo:hi].astype(np.int8).view(np.uint8) if ins.mem == Mem.SPAD.value else self.acc[lo:hi].astype(ACC_DT).view(np.uint8)
      self._dram_view(self.dram, ins)[...] = src[:, :lb].reshape(ins.outer, ins.rows, lb)
    elif op == Opcode.MATMUL and self.functional:
      self._matmul(ins)
    elif op == Opcode.VECTOR and self.functional:
      self._vector(ins)

  def _read(self, mem: str, lo: int, n: int) -> np.ndarray:
    if mem == "acc": return self.acc[lo:lo + n].astype(np.int64)
    self._materialize(lo, lo + n)
    return self.spad[lo:lo + n, :self.cfg.cols].astype(np.int64)

  def _vector(self, ins: Instr):
    ops = {name: (mem, lo, n) for name, mem, lo, n in _vector_operands(ins)}
    imm = ins.signed("imm")
    s1 = self._read(*ops["src1"])
    s2 = self._read(*ops["src2"]) if "src2" in ops else np.int64(imm)
    cur = self._read(*ops["dst"])
    res = V.apply(VecOp(ins.funct), s1, s2, cur, imm, ins.shift, self._read(*ops["bias"]) if "bias" in ops else None)
    if ins.relu: res = np.maximum(res, 0)
    mem, lo, n = ops["dst"]
    if mem == "acc": self.acc[lo:lo + n] = res.astype(np.int32)
    else: self.spad[lo:lo + n, :self.cfg.cols] = np.clip(res, V.I8_MIN, V.I8_MAX)      # int8 destinations saturate

  def _matmul(self, ins: Instr):
    cfg, m, k, n, sp = self.cfg, ins.m, ins.k, ins.n, self.spad
    R, C = cfg.rows, cfg.cols
    nf, ws = T.cdiv(n, C), cfg.dataflow == "ws"
    af = T.cdiv(k, R) if ws else T.cdiv(m, R)
    # A as an (m x k) matrix: ws holds k-folds of m lines (A's rows); os holds m-folds of k lines (A^T's rows)
    A = self._operand(ins.a_addr, af, m, R) if ws else self._operand(ins.a_addr, af, k, R)
    if A is not None: A = A[:, :k] if ws else A[:, :m].T
    else:
      self._materialize(ins.a_addr, ins.a_addr + af * (m if ws else k))
      blk = sp[ins.a_addr:ins.a_addr + af * (m if ws else k), :R]
      A = blk.reshape(af, m, R).transpose(1, 0, 2).reshape(m, af * R)[:, :k] if ws else blk.reshape(af, k, R).transpose(0, 2, 1).reshape(af * R, k)[:m]
    # B as a (k x nf*C) matrix from n-folds of k lines; columns past n are masked to zero
    B = self._operand_bt(ins, nf) if ins.transpose_b else self._operand(ins.b_addr, nf, k, C)
    if B is None or n % C:
      if B is None:
        self._materialize(ins.b_addr, ins.b_addr + nf * k)
        B = sp[ins.b_addr:ins.b_addr + nf * k, :C].reshape(nf, k, C).transpose(1, 0, 2).reshape(k, nf * C)
      B = B.copy(); B[:, n:] = 0
    # fp32 BLAS is exact while |sum| <= k * 2^14 <= 2^24, so K is summed in chunks of 1024
    res = (A[:, :1024] @ B[:1024]).astype(np.int32)
    for k0 in range(1024, k, 1024): res += (A[:, k0:k0 + 1024] @ B[k0:k0 + 1024]).astype(np.int32)
    res = res.reshape(m, nf, C).transpose(1, 0, 2)                   # the accumulator layout: n-folds of m lines
    blk = self.acc[ins.c_addr:ins.c_addr + nf * m].reshape(nf, m, C)
    if ins.accumulate: np.add(blk, res, out=blk)                     # int32 adds wrap modulo 2^32
    else: blk[...] = res

class RaceCheck:
  """Refuses programs whose correctness would depend on timing inside an instruction's window.

  An instruction touches its SRAM lines somewhere in [start, end). Two instructions of different
  queues that touch the same line, one of them writing, must not overlap in time: tokens have to
  order them. (Within a queue the unit is an in-order pipeline, so overlap there is safe.) This is
  what makes the model's result the RTL's result whatever the order of accesses inside a window."""
  def __init__(self, cfg: AccelConfig, names):
    self.names, self.cfg = names, cfg
    self.active = []   # (mem, lo, hi, kind, end, idx, queue) of accesses that may still be in flight

  def regions(self, ins):
    if ins.opcode in (Opcode.LOAD, Opcode.STORE):
      return [(MEM_NAMES[ins.mem], ins.sram_addr, ins.sram_addr + ins.outer * ins.rows, "w" if ins.opcode == Opcode.LOAD else "r")]
    if ins.opcode == Opcode.MATMUL:
      a, b, c = T.operand_lines(self.cfg, ins)
      return [("spad", ins.a_addr, ins.a_addr + a, "r"), ("spad", ins.b_addr, ins.b_addr + b, "r"), ("acc", ins.c_addr, ins.c_addr + c, "w")]
    if ins.opcode == Opcode.VECTOR:
      return [(mem, lo, lo + n, "w" if role == "dst" else "r") for role, mem, lo, n in _vector_operands(ins)]
    return []

  def check(self, idx, q, start, end, ins):
    # instructions arrive in order of start cycle, so an access that ended by `start` never conflicts again
    self.active = [x for x in self.active if x[4] > start]
    mine = self.regions(ins)
    for mem, lo, hi, kind in mine:
      for omem, olo, ohi, okind, oend, oidx, oq in self.active:
        if oq != q and omem == mem and olo < hi and lo < ohi and "w" in (kind, okind):
          raise ProgramError(f"race: instruction {idx} ({self.names[q]}) {'writes' if kind == 'w' else 'reads'} {mem} line {max(lo, olo)} at cycles {start}..{end}"
                             f" while instruction {oidx} ({self.names[oq]}) {'writes' if okind == 'w' else 'reads'} it until {oend}: a token is missing")
    self.active += [(mem, lo, hi, kind, end, idx, q) for mem, lo, hi, kind in mine]

def _vector_operands(ins: Instr) -> list[tuple[str, str, int, int]]:
  """arch/timing.vector_operands with the memory by name."""
  return [(role, MEM_NAMES[mem], lo, n) for role, mem, lo, n in T.vector_operands(ins)]

def sram_traffic(cfg: AccelConfig, ins: Instr) -> tuple[dict, dict]:
  """(reads, writes) in bytes per buffer caused by one instruction."""
  sp, ac = cfg.spad_line_bytes, cfg.acc_line_bytes
  if ins.opcode in (Opcode.LOAD, Opcode.STORE):
    nbytes = ins.outer * ins.rows * (sp if ins.mem == Mem.SPAD.value else ac)
    buf = MEM_NAMES[ins.mem]
    return ({buf: nbytes}, {}) if ins.opcode == Opcode.STORE else ({}, {buf: nbytes})
  if ins.opcode == Opcode.MATMUL:
    f, nf = T.matmul_folds(cfg, ins), T.cdiv(ins.n, cfg.cols)
    if cfg.dataflow == "ws":   # each fold streams m A lines and preloads its valid weight lines
      spad_lines, acc_writes = f * ins.m + T.operand_lines(cfg, ins)[1], f * ins.m
      acc_reads = f * ins.m if ins.accumulate else (f - nf) * ins.m
    else:                      # each fold streams k A^T lines and k B lines; drains its valid rows
      spad_lines, acc_writes = 2 * f * ins.k, nf * ins.m
      acc_reads = nf * ins.m if ins.accumulate else 0
    return {"spad": spad_lines * sp, "acc": acc_reads * ac}, {"acc": acc_writes * ac}
  if ins.opcode == Opcode.VECTOR:
    rd, wr = {}, {}
    for role, mem, _, n in _vector_operands(ins):
      d = wr if role == "dst" else rd
      d[mem] = d.get(mem, 0) + n * (sp if mem == "spad" else ac)
    return rd, wr
  return {}, {}

def run(cfg: AccelConfig, program: list[Instr], machine: Machine | None = None, dram: np.ndarray | None = None) -> Result:
  """Execute `program` on one core with the DRAM port to itself; returns cycles, statistics and the per-instruction trace."""
  return run_channel(cfg, [program], [machine or Machine(cfg, dram)])[0]

def _plan(cfg: AccelConfig, program: list[Instr]) -> list:
  """Decode once: queue, token semaphores ((from, to) queue pairs), port use, occupancy, occupancy + tail."""
  plan = []
  for ins in program:
    q = ins.queue.value
    waits = tuple((q + d, q) for d, f in ((-1, ins.wait_prev), (1, ins.wait_next)) if f)
    signals = tuple((q, q + d) for d, f in ((-1, ins.signal_prev), (1, ins.signal_next)) if f)
    occ = T.occupancy(cfg, ins)
    plan.append((q, waits, signals, T.uses_dram_port(ins), occ, occ + T.tail(cfg, ins)))
  return plan

class _Core:
  """One core's event state: its three queues, tokens, stalls, trace, race check and the worker applying its effects."""
  def __init__(self, cfg: AccelConfig, program: list[Instr], mach: Machine):
    self.program, self.mach, self.plan = program, mach, _plan(cfg, program)
    self.queues = [[i for i, p in enumerate(self.plan) if p[0] == q] for q in range(3)]
    self.head, self.free = [0, 0, 0], [0, 0, 0]     # next instruction of each queue; cycle it may issue
    self.tokens, self.taken = {}, {}                 # (from, to) -> visibility cycles of produced tokens / tokens consumed so far
    self.stall = {n: {} for n in QUEUE_NAMES}
    self.busy = dict.fromkeys(QUEUE_NAMES, 0)
    self.trace = [None] * len(program)
    self.races = RaceCheck(cfg, QUEUE_NAMES)
    # Data effects run in schedule order on one worker thread, overlapping the timing loop (numpy
    # and BLAS release the GIL); a race-free program gives the same result in any token-respecting order.
    self.worker, self.pending, self.batch = ThreadPoolExecutor(max_workers=1), [], []

  def ready(self, q, port_free):
    """(start, token_ready, binding semaphore) of q's head, or None while a token is not yet produced."""
    _, waits, _, port, _, _ = self.plan[self.queues[q][self.head[q]]]
    t, why = self.free[q], None
    for sem in waits:
      got, n = self.tokens.get(sem, ()), self.taken.get(sem, 0)
      if n >= len(got): return None
      if got[n] > t: t, why = got[n], sem
    return (max(t, port_free) if port else t), t, why

  def flush(self):
    if self.batch: self.pending.append(self.worker.submit(lambda b: [self.mach.execute(i) for i in b], self.batch.copy())); self.batch.clear()

  def issue(self, q, start, tok_ready, why):
    """Issue q's head at `start`; returns its port occupancy (0 when it does not use the port)."""
    names = QUEUE_NAMES
    idx = self.queues[q][self.head[q]]; self.head[q] += 1
    _, waits, signals, port, occ, total = self.plan[idx]
    end = start + total
    # stall accounting: the gap before this instruction, split into token wait and DRAM-port wait
    s, free = self.stall[names[q]], self.free[q]
    if tok_ready > free: s[f"wait_{names[why[0]]}"] = s.get(f"wait_{names[why[0]]}", 0) + tok_ready - free
    if start > max(tok_ready, free): s["dram_port"] = s.get("dram_port", 0) + start - max(tok_ready, free)
    for sem in waits: self.taken[sem] = self.taken.get(sem, 0) + 1
    for sem in signals: self.tokens.setdefault(sem, []).append(end + T.TOKEN_DELAY)
    self.free[q] = start + occ; self.busy[names[q]] += occ
    self.batch.append(self.program[idx])
    if len(self.batch) >= 32: self.flush()
    self.trace[idx] = (idx, names[q], self.program[idx].opcode.name.lower(), start, end)
    self.races.check(idx, q, start, end, self.program[idx])
    return occ if port else 0

  def result(self, cfg: AccelConfig, t0: float) -> Result:
    self.flush(); self.worker.shutdown()
    for p in self.pending: p.result()      # re-raise the first error of an effect, if any
    program, mach, names, busy = self.program, self.mach, QUEUE_NAMES, self.busy
    macs = stream = dram_rd = dram_wr = 0
    sram_r, sram_w = {"spad": 0, "acc": 0}, {"spad": 0, "acc": 0}
    for ins in program:
      if ins.opcode == Opcode.LOAD: dram_rd += T.dma_bus_bytes(cfg, ins)
      elif ins.opcode == Opcode.STORE: dram_wr += T.dma_bus_bytes(cfg, ins)
      elif ins.opcode == Opcode.MATMUL:
        macs += T.matmul_macs(ins)
        stream += T.matmul_folds(cfg, ins) * (ins.m if cfg.dataflow == "ws" else ins.k)
      rd, wr = sram_traffic(cfg, ins)
      for k, v in rd.items(): sram_r[k] += v
      for k, v in wr.items(): sram_w[k] += v
    cycles = max((t[4] for t in self.trace), default=0)
    stats = Stats.of(cfg, cycles=cycles, macs=macs, array_macs=macs, dram_read_bytes=dram_rd, dram_write_bytes=dram_wr,
                     compulsory_dram_bytes=int(mach.read_mask.sum()) + int(mach.write_mask.sum()), sram_reads=sram_r, sram_writes=sram_w,
                     busy_cycles=busy, stall_cycles=self.stall, array_cycles=dict(stream=stream, fill_drain=busy["compute"] - stream, idle=cycles - busy["compute"]),
                     instructions=dict(zip(names, map(len, self.queues))), model_seconds=time.perf_counter() - t0)
    return Result(cycles, stats, self.trace)

def run_channel(cfg: AccelConfig, programs: list[list[Instr]], machines: list[Machine]) -> list[Result]:
  """Execute one program per core on the cores that share one DRAM channel, all starting at cycle 0; one Result per core.
  Each core keeps its own queues, tokens and SRAMs; the port is the one shared resource, granted per DMA instruction
  (arch/timing.py: store before load, then round-robin over the cores). One core alone is today's single-core model."""
  t0 = time.perf_counter()
  for prog, mach in zip(programs, machines):
    for i, ins in enumerate(prog): mach.check(i, ins)
  cores = [_Core(cfg, p, m) for p, m in zip(programs, machines)]
  port_free, last, g = 0, len(cores) - 1, len(cores)
  priority = [T.ISSUE_PRIORITY[q] for q in Queue]
  for _ in range(sum(len(p) for p in programs)):
    best = None
    for c, core in enumerate(cores):
      for q in range(3):
        if core.head[q] < len(core.queues[q]) and (r := core.ready(q, port_free)) is not None:
          key = (r[0], priority[q], T.port_rank(c, last, g))
          if best is None or key < best[0]: best = (key, c, q, r)
    if best is None:
      for core in cores: core.worker.shutdown(cancel_futures=True)
      blocked = [f"{'' if g == 1 else f'core {c} '}{QUEUE_NAMES[q]} queue at instruction {core.queues[q][core.head[q]]}"
                 for c, core in enumerate(cores) for q in range(3) if core.head[q] < len(core.queues[q])]
      raise ProgramError(f"deadlock: {', '.join(blocked)} wait for tokens that are never signalled")
    _, c, q, (start, tok_ready, why) = best
    if occ := cores[c].issue(q, start, tok_ready, why): port_free, last = start + occ, c
  return [core.result(cfg, t0) for core in cores]

def run_chip(cfg: AccelConfig, programs: list[list[Instr]], machines: list[Machine]) -> ChipResult:
  """Execute one program per core (at most `cfg.cores`) on the whole chip, every core starting at cycle 0, then the
  kernel barrier (arch/timing.chip_cycles). The cores of a channel run together under its port rule (run_channel);
  cores of different channels share nothing, so each channel's cores are simulated on their own. Timing-only runs
  simulate each distinct (program, DRAM size) of a core alone on its channel once: the model's timing is a function of
  the instructions alone, so cores running the same program (a batch split) have the same Result."""
  if len(programs) > cfg.cores: raise ProgramError(f"{len(programs)} programs for a chip of {cfg.cores} cores")
  t0, g = time.perf_counter(), cfg.cores_per_channel
  results, memo = [None] * len(programs), {}
  for lo in range(0, len(programs), g):
    idx = list(range(lo, min(lo + g, len(programs))))
    alone, p = len(idx) == 1 and not machines[idx[0]].functional, programs[idx[0]]
    same = (id(p), machines[idx[0]].dram_size)      # cores sharing one compiled slice: one list, no need to hash its instructions
    if alone and same in memo: results[idx[0]] = memo[same]; continue
    key = (tuple(p), same[1]) if alone else None
    if key is not None and key in memo: results[idx[0]] = memo[same] = memo[key]; continue
    for i, r in zip(idx, run_channel(cfg, [programs[i] for i in idx], [machines[i] for i in idx])): results[i] = r
    if key is not None: memo[key] = memo[same] = results[idx[0]]
  cycles = T.chip_cycles(cfg, [r.cycles for r in results])
  stats = dataclasses.replace(Stats.chip(cfg, [r.stats for r in results], cycles), model_seconds=time.perf_counter() - t0)
  return ChipResult(cycles, stats, results)
