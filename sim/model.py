"""The cycle-accurate model: executes a binary program on an AccelConfig.

Event-driven per instruction, not per cycle: each queue's head instruction gets a start cycle
from the rules of arch/timing.py (its queue, its tokens, the DRAM port), and the instruction
with the earliest start is issued next. Numerics are bit-exact int8 x int8 -> int32 (wrapping).
"""
from __future__ import annotations
import csv, io, json, time
from dataclasses import dataclass, field
import numpy as np
from numpy.lib.stride_tricks import as_strided
from ..arch.config import AccelConfig
from ..arch.isa import Instr, Opcode, Queue, Mem
from ..arch import timing as T

class ProgramError(ValueError):
  """A program the hardware cannot run (out-of-range address, bank conflict, deadlock ...)."""

QUEUES = (Queue.LOAD, Queue.COMPUTE, Queue.STORE)
QNAME = {q: q.name.lower() for q in Queue}
ISSUE_PRIORITY = {Queue.STORE: 0, Queue.LOAD: 1, Queue.COMPUTE: 2}   # ties: store wins the DRAM port

@dataclass
class Result:
  cycles: int
  stats: dict
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
    self.dram_size = len(self.dram) if dram is not None or dram_bytes is None else dram_bytes
    if functional:
      self.spad = np.zeros((cfg.spad_lines, cfg.spad_line_bytes), np.int8)
      self.acc = np.zeros((cfg.acc_lines, cfg.cols), np.int32)
    self.read_mask = np.zeros(self.dram_size, bool)
    self.write_mask = np.zeros(self.dram_size, bool)

  # ---------------- checks: one line naming the instruction and the rule ----------------
  def check(self, idx: int, ins: Instr):
    cfg, name = self.cfg, f"instruction {idx} ({ins.opcode.name.lower()})"
    def need(ok, msg):
      if not ok: raise ProgramError(f"{name}: {msg}")
    q = ins.queue
    need(not ((ins.wait_prev or ins.signal_prev) and q == Queue.LOAD), "the load queue has no previous queue")
    need(not ((ins.wait_next or ins.signal_next) and q == Queue.STORE), "the store queue has no next queue")
    if ins.opcode in (Opcode.LOAD, Opcode.STORE):
      need(ins.rows >= 1 and ins.outer >= 1 and ins.line_bytes >= 1, "rows, outer and line_bytes must be >= 1")
      mem = Mem(ins.mem)
      width, lines = (cfg.spad_line_bytes, cfg.spad_lines) if mem == Mem.SPAD else (cfg.acc_line_bytes, cfg.acc_lines)
      need(ins.line_bytes <= width, f"line_bytes={ins.line_bytes} exceeds the {width}-byte {mem.name.lower()} line")
      need(mem == Mem.SPAD or ins.line_bytes % 4 == 0, f"line_bytes={ins.line_bytes} must be a multiple of 4 for the int32 accumulator")
      need(ins.sram_addr + ins.outer * ins.rows <= lines, f"{mem.name.lower()} lines {ins.sram_addr}..{ins.sram_addr + ins.outer * ins.rows - 1} exceed its {lines} lines")
      last = ins.dram_addr + (ins.outer - 1) * ins.outer_stride + (ins.rows - 1) * ins.dram_stride + ins.line_bytes
      need(last <= self.dram_size, f"DRAM bytes up to {last} exceed the {self.dram_size}-byte image")
      if ins.opcode == Opcode.STORE:
        starts = np.sort((ins.dram_addr + np.arange(ins.outer)[:, None] * ins.outer_stride + np.arange(ins.rows)[None, :] * ins.dram_stride).ravel())
        need(len(starts) < 2 or np.diff(starts).min() >= ins.line_bytes, "rows written to DRAM overlap each other")
    elif ins.opcode == Opcode.MATMUL:
      need(ins.m >= 1 and ins.k >= 1 and ins.n >= 1, "m, k and n must be >= 1")
      a, b, c = operand_lines(cfg, ins)
      need(ins.a_addr + a <= cfg.spad_lines, f"A lines {ins.a_addr}..{ins.a_addr + a - 1} exceed the {cfg.spad_lines} scratchpad lines")
      need(ins.b_addr + b <= cfg.spad_lines, f"B lines {ins.b_addr}..{ins.b_addr + b - 1} exceed the {cfg.spad_lines} scratchpad lines")
      need(ins.c_addr + c <= cfg.acc_lines, f"C lines {ins.c_addr}..{ins.c_addr + c - 1} exceed the {cfg.acc_lines} accumulator lines")
      bank = lambda lo, n: set(range(lo // cfg.spad_bank_lines, (lo + n - 1) // cfg.spad_bank_lines + 1))
      need(not bank(ins.a_addr, a) & bank(ins.b_addr, b), "A and B share a scratchpad bank (the array reads both in the same cycle)")
    elif ins.opcode == Opcode.SYNC:
      need(ins.f["queue"] in (0, 1, 2), f"invalid queue {ins.f['queue']}")

  # ---------------- effects ----------------
  def _dram_view(self, buf, ins):
    return as_strided(buf[ins.dram_addr:], (ins.outer, ins.rows, ins.line_bytes), (ins.outer_stride, ins.dram_stride, 1), writeable=True)

  def execute(self, ins: Instr):
    op = ins.opcode
    if op == Opcode.LOAD:
      self._dram_view(self.read_mask, ins)[...] = True
      if not self.functional: return
      data = self._dram_view(self.dram, ins).reshape(-1, ins.line_bytes)
      lo, hi = ins.sram_addr, ins.sram_addr + ins.outer * ins.rows
      if ins.mem == Mem.SPAD.value:
        self.spad[lo:hi] = 0; self.spad[lo:hi, :ins.line_bytes] = data.view(np.int8)
      else:
        self.acc[lo:hi] = 0; self.acc[lo:hi, :ins.line_bytes // 4] = np.ascontiguousarray(data).view("<i4")
    elif op == Opcode.STORE:
      self._dram_view(self.write_mask, ins)[...] = True
      if not self.functional: return
      lo, hi = ins.sram_addr, ins.sram_addr + ins.outer * ins.rows
      src = self.spad[lo:hi].view(np.uint8) if ins.mem == Mem.SPAD.value else self.acc[lo:hi].astype("<i4").view(np.uint8)
      self._dram_view(self.dram, ins)[...] = src[:, :ins.line_bytes].reshape(ins.outer, ins.rows, ins.line_bytes)
    elif op == Opcode.MATMUL and self.functional:
      self._matmul(ins)

  def _matmul(self, ins: Instr):
    cfg, m, k, n = self.cfg, ins.m, ins.k, ins.n
    R, C = cfg.rows, cfg.cols
    nf = T.cdiv(n, C)
    if cfg.dataflow == "ws":   # A: k-folds of m lines (R lanes); lanes past k are masked to zero
      kf = T.cdiv(k, R)
      A = self.spad[ins.a_addr:ins.a_addr + kf * m, :R].reshape(kf, m, R).transpose(1, 0, 2).reshape(m, kf * R)[:, :k]
    else:                      # A^T: m-folds of k lines (R lanes = M rows of the fold)
      mf = T.cdiv(m, R)
      A = self.spad[ins.a_addr:ins.a_addr + mf * k, :R].reshape(mf, k, R).transpose(0, 2, 1).reshape(mf * R, k)[:m]
    B = np.zeros((k, nf * C), np.int8)   # B: n-folds of k lines (C lanes); columns past n read as zero
    B[:, :n] = self.spad[ins.b_addr:ins.b_addr + nf * k, :C].reshape(nf, k, C).transpose(1, 0, 2).reshape(k, nf * C)[:, :n]
    ft = np.float32 if k <= 1024 else np.float64      # exact: |sum| <= k * 2^14 <= 2^24 (fp32) or 2^53 (fp64)
    res = (A.astype(ft) @ B.astype(ft)).astype(np.int64).reshape(m, nf, C).transpose(1, 0, 2)
    blk = self.acc[ins.c_addr:ins.c_addr + nf * m].reshape(nf, m, C)
    if ins.accumulate: res = res + blk
    blk[...] = res.astype(np.int32)   # int64 -> int32 wraps modulo 2^32

def operand_lines(cfg: AccelConfig, ins: Instr) -> tuple[int, int, int]:
  """Scratchpad lines of A and B and accumulator lines of C that a MATMUL touches."""
  nf = T.cdiv(ins.n, cfg.cols)
  a = T.cdiv(ins.k, cfg.rows) * ins.m if cfg.dataflow == "ws" else T.cdiv(ins.m, cfg.rows) * ins.k
  return a, nf * ins.k, nf * ins.m

def sram_traffic(cfg: AccelConfig, ins: Instr) -> tuple[dict, dict]:
  """(reads, writes) in bytes per buffer caused by one instruction."""
  sp, ac = cfg.spad_line_bytes, cfg.acc_line_bytes
  if ins.opcode in (Opcode.LOAD, Opcode.STORE):
    nbytes = ins.outer * ins.rows * (sp if ins.mem == Mem.SPAD.value else ac)
    buf = "spad" if ins.mem == Mem.SPAD.value else "acc"
    return ({buf: nbytes}, {}) if ins.opcode == Opcode.STORE else ({}, {buf: nbytes})
  if ins.opcode == Opcode.MATMUL:
    f, nf = T.matmul_folds(cfg, ins), T.cdiv(ins.n, cfg.cols)
    if cfg.dataflow == "ws":   # each fold streams m A lines and preloads its valid weight lines
      spad_lines, acc_writes = f * ins.m + nf * ins.k, f * ins.m
      acc_reads = f * ins.m if ins.accumulate else (f - nf) * ins.m
    else:                      # each fold streams k A^T lines and k B lines; drains its valid rows
      spad_lines, acc_writes = 2 * f * ins.k, nf * ins.m
      acc_reads = nf * ins.m if ins.accumulate else 0
    return {"spad": spad_lines * sp, "acc": acc_reads * ac}, {"acc": acc_writes * ac}
  return {}, {}

def run(cfg: AccelConfig, program: list[Instr], machine: Machine | None = None, dram: np.ndarray | None = None) -> Result:
  """Execute `program`; returns cycles, statistics and the per-instruction trace."""
  t0 = time.perf_counter()
  mach = machine or Machine(cfg, dram)
  for i, ins in enumerate(program): mach.check(i, ins)
  queues = {q: [i for i, ins in enumerate(program) if ins.queue == q] for q in QUEUES}
  head = dict.fromkeys(QUEUES, 0)
  free = dict.fromkeys(QUEUES, 0)           # cycle each queue may issue its next instruction
  port_free = 0
  tokens = {}                               # (from, to) -> visibility cycles of produced tokens
  taken = {}                                # (from, to) -> tokens consumed so far
  stall = {QNAME[q]: {} for q in QUEUES}
  busy = dict.fromkeys(map(QNAME.get, QUEUES), 0)
  sram_r, sram_w = {"spad": 0, "acc": 0}, {"spad": 0, "acc": 0}
  trace = [None] * len(program)
  macs = stream = dram_rd = dram_wr = 0
  neighbour = lambda q, d: Queue(q.value + d)

  def waits(q, ins):
    return [(neighbour(q, d), q) for d, flag in ((-1, ins.wait_prev), (1, ins.wait_next)) if flag]

  def ready(q):
    """(start, token_ready, binding semaphore) of q's head, or None while a token is not yet produced."""
    ins = program[queues[q][head[q]]]
    t, why = free[q], None
    for sem in waits(q, ins):
      got = tokens.get(sem, ())
      if taken.get(sem, 0) >= len(got): return None
      if got[taken.get(sem, 0)] > t: t, why = got[taken.get(sem, 0)], sem
    return (max(t, port_free) if T.uses_dram_port(ins) else t), t, why

  remaining = len(program)
  while remaining:
    best = None
    for q in QUEUES:
      if head[q] < len(queues[q]) and (r := ready(q)) is not None:
        if best is None or (r[0], ISSUE_PRIORITY[q]) < (best[1][0], ISSUE_PRIORITY[best[0]]): best = (q, r)
    if best is None:
      blocked = [f"{QNAME[q]} queue at instruction {queues[q][head[q]]}" for q in QUEUES if head[q] < len(queues[q])]
      raise ProgramError(f"deadlock: {', '.join(blocked)} wait for tokens that are never signalled")
    q, (start, tok_ready, why) = best
    idx = queues[q][head[q]]; ins = program[idx]
    occ = T.occupancy(cfg, ins); end = start + occ + T.tail(cfg, ins)
    # stall accounting: gap before this instruction, split into token wait and DRAM-port wait
    name, s = QNAME[q], stall[QNAME[q]]
    if tok_ready > free[q]: s[f"wait_{QNAME[why[0]]}"] = s.get(f"wait_{QNAME[why[0]]}", 0) + tok_ready - free[q]
    if start > max(tok_ready, free[q]): s["dram_port"] = s.get("dram_port", 0) + start - max(tok_ready, free[q])
    for sem in waits(q, ins): taken[sem] = taken.get(sem, 0) + 1
    for d, flag in ((-1, ins.signal_prev), (1, ins.signal_next)):
      if flag: tokens.setdefault((q, neighbour(q, d)), []).append(end + T.TOKEN_DELAY)
    free[q] = start + occ; busy[name] += occ
    if T.uses_dram_port(ins):
      port_free = start + occ
      if ins.opcode == Opcode.LOAD: dram_rd += T.dma_bus_bytes(cfg, ins)
      else: dram_wr += T.dma_bus_bytes(cfg, ins)
    elif ins.opcode == Opcode.MATMUL:
      macs += T.matmul_macs(ins)
      stream += T.matmul_folds(cfg, ins) * (ins.m if cfg.dataflow == "ws" else ins.k)
    rd, wr = sram_traffic(cfg, ins)
    for k, v in rd.items(): sram_r[k] += v
    for k, v in wr.items(): sram_w[k] += v
    mach.execute(ins)
    trace[idx] = (idx, name, ins.opcode.name.lower(), start, end)
    head[q] += 1; remaining -= 1

  cycles = max((t[4] for t in trace), default=0)
  compulsory = int(mach.read_mask.sum()) + int(mach.write_mask.sum())
  compute_bound = T.cdiv(macs, cfg.macs_per_cycle)
  dram_bound = T.cdiv(compulsory, cfg.dram_bytes_per_cycle)
  seconds = cycles / (cfg.clock_mhz * 1e6)
  wall = time.perf_counter() - t0
  stats = dict(
    cycles=cycles, seconds=seconds, macs=macs, flops=2 * macs,
    achieved_flops_per_s=2 * macs / seconds if seconds else 0.0, peak_flops_per_s=cfg.peak_flops_per_s,
    utilization=macs / (cycles * cfg.macs_per_cycle) if cycles else 0.0,
    roofline_bound_cycles=max(compute_bound, dram_bound), compute_bound_cycles=compute_bound, dram_bound_cycles=dram_bound,
    dram_read_bytes=dram_rd, dram_write_bytes=dram_wr, compulsory_dram_bytes=compulsory,
    sram_reads=sram_r, sram_writes=sram_w,
    busy_cycles=busy, stall_cycles=stall,
    array_cycles=dict(stream=stream, fill_drain=busy["compute"] - stream, idle=cycles - busy["compute"]),
    instructions={QNAME[q]: len(queues[q]) for q in QUEUES},
    model_seconds=wall, simulated_cycles_per_s=cycles / wall if wall else 0.0,
  )
  return Result(cycles, stats, trace)
