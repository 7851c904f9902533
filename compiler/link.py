"""The linker: a network's per-kernel programs joined into ONE program over one planned DRAM image.

Each kernel's image is cut into segments (one per tensor, to the next tensor's start). A segment that reads exactly what
an earlier kernel's output holds (the same bytes, and no DMA of the reader past them) is *linked*: it is relocated onto
the producer's output buffer, so the activation flows through DRAM from the producer's stores to the consumer's loads.
Every other input segment (weights, biases, network inputs, and activations whose layout the consumer changes, such as a
convolution's zero-padded NHWC input) is placed in the initial image. compiler/plan.py places every buffer with its live
range; the DMAs are relocated to the plan.

Kernel boundaries are token barriers (queues exchange tokens with neighbours only, docs/isa.md; _boundary): kernel
i+1's loads of what kernel i stores (RAW through DRAM) and its SRAM writes to lines kernel i's store queue still uses
(WAR on SRAM: every kernel uses SRAM from line 0) wait for kernel i's last store; its weight loads (and inputs from
earlier kernels) wait only for kernel i's array, so they overlap kernel i's epilogue and stores. Kernels are
token-balanced (every token they signal they consume), so the barrier's tokens cannot pair with a kernel's own.
"""
from __future__ import annotations

import bisect
import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..arch import timing as T
from ..arch.isa import Instr, Mem, Opcode, Queue
from .plan import Buffer, MemoryPlan, plan_memory
from .program import MAX, Compiled, CompileError


@dataclass(frozen=True)
class Segment:
  kernel: int; name: str
  lo: int; hi: int                      # bytes [lo, hi) of the kernel's own image
  @property
  def key(self) -> str: return f"{self.kernel}.{self.name}"

@dataclass(frozen=True, eq=False)
class Linked:
  program: list[Instr]
  dram: np.ndarray                      # the image the program starts from
  plan: MemoryPlan
  spans: list[tuple[int, int]]          # kernel i's instructions: program[lo:hi] (its barrier SYNCs after it)
  segments: list[list[Segment]]
  where: dict = field(repr=False)       # segment key -> (buffer name, byte offset in it)
  linked_bytes: int = 0                 # activation bytes a consumer reads straight from its producer's buffer
  initial_bytes: int = 0                # input bytes the initial image holds: weights, network inputs, and activations whose
                                        # layout the consumer changes (padding, NCHW <-> NHWC), from the integer reference
  def local(self, i: int, kernels: list[Compiled], dram: np.ndarray) -> np.ndarray:
    """Kernel i's image as its own program addressed it, taken from the linked `dram`."""
    out = np.zeros(len(kernels[i].dram), np.uint8)
    for s in self.segments[i]:
      name, off = self.where[s.key]; a = self.plan.addr(name) + off
      out[s.lo:s.hi] = dram[a:a + s.hi - s.lo]
    return out

def segments(i: int, c: Compiled) -> list[Segment]:
  """Kernel i's image cut at its tensors' addresses (a tensor's segment runs to the next tensor: padding included). The
  output's segment ends where its STOREs end: what lies past them is data the kernel does not list as a tensor (a row
  kernel's per-column vectors), an input segment `rest` of its own."""
  starts = sorted({t.addr: n for n, t in c.tensors.items()}.items())
  ends = [a for a, _ in starts[1:]] + [len(c.dram)]
  segs = [Segment(i, n, a, e) for (a, n), e in zip(starts, ends) if e > a]
  j, out = next((j, s) for j, s in enumerate(segs) if s.name == "C")
  end = max((hi for x in c.program if x.opcode == Opcode.STORE for lo, hi in [_dma_extent(x)] if out.lo <= lo < out.hi), default=out.hi)
  if end < out.hi: segs[j:j + 1] = [Segment(i, "C", out.lo, end), Segment(i, "rest", end, out.hi)]
  return segs

def _dma_extent(ins: Instr) -> tuple[int, int]:
  return ins.dram_addr, ins.dram_addr + (ins.outer - 1) * ins.outer_stride + (ins.rows - 1) * ins.dram_stride + ins.line_bytes

def _sync(q: Queue, **flags) -> Instr: return Instr(Opcode.SYNC, queue=q.value, **flags)

def _regions(cfg, ins: Instr) -> list[tuple[int, int, int]]:
  """SRAM lines (memory, first, end) an instruction reads or writes (the regions the model's race check compares)."""
  if ins.opcode in (Opcode.LOAD, Opcode.STORE): return [(ins.mem, ins.sram_addr, ins.sram_addr + ins.outer * ins.rows)]
  if ins.opcode == Opcode.MATMUL:
    a, b, c = T.operand_lines(cfg, ins)
    return [(Mem.SPAD.value, ins.a_addr, ins.a_addr + a), (Mem.SPAD.value, ins.b_addr, ins.b_addr + b), (Mem.ACC.value, ins.c_addr, ins.c_addr + c)]
  if ins.opcode == Opcode.VECTOR: return [(mem, lo, lo + n) for _, mem, lo, n in T.vector_operands(ins)]
  return []

def _hits(a: list, b: list) -> bool: return any(m == n and lo < h2 and l2 < hi for m, lo, hi in a for n, l2, h2 in b)

def _boundary(cfg, prev: list[Instr], nxt: list[Instr], overlap: bool) -> tuple[list[Instr], list[Instr]]:
  """The token barrier between two linked kernels: (SYNCs after `prev`, `nxt` with its load-queue SYNCs).
  Kernel i's last store-queue instruction signals the compute queue at its end (B: every store of kernel i landed); a
  compute SYNC forwards B to the load queue. With `overlap`, kernel i's last compute instruction also signals the load
  queue at its end (A: kernel i's array and its loads are done), and kernel i+1's loads up to the first that would read
  what kernel i stores (RAW through DRAM), write SRAM lines kernel i's store queue may still use after A (WAR/WAW on
  SRAM; _settled) or waits for a
  token of its own (tokens pair in order) wait only for A: they overlap kernel i's epilogue and stores. The rest of
  kernel i+1 waits for B: its compute queue before its first instruction (the accumulator and staging lines kernel i's
  store queue still reads), its load queue before that first conflicting load."""
  last = lambda q: max(j for j, x in enumerate(prev) if x.queue == q)
  sq = [j for j, x in enumerate(prev) if x.queue == Queue.STORE]
  self_signal = max((n for n, j in enumerate(sq) if prev[j].signal_prev), default=-1)    # kernel i's own last store->compute token
  st = prev[sq[-1]]
  if st.signal_prev: raise CompileError("a kernel whose last store-queue instruction signals already cannot be linked")
  st.f["signal_prev"] = 1
  cp = prev[last(Queue.COMPUTE)]
  overlap = overlap and not cp.signal_prev
  if not overlap: return [_sync(Queue.COMPUTE, wait_next=1, signal_prev=1)], [_sync(Queue.LOAD, wait_next=1)] + nxt
  cp.f["signal_prev"] = 1
  stored = [_dma_extent(x) for x in prev if x.opcode == Opcode.STORE]
  busy = [r for j in sq[_settled(cfg, prev, sq, self_signal):] for r in _regions(cfg, prev[j])]
  raw = lambda x, st_: any(a < hi and lo < b for a, b in st_ for lo, hi in [_dma_extent(x)])
  early = lambda x: x.opcode != Opcode.LOAD or not (raw(x, stored) or _hits(_regions(cfg, x), busy))
  nxt = _hoist(cfg, nxt, early)
  cut = next((j for j, x in enumerate(nxt) if x.queue == Queue.LOAD and (x.wait_next or not early(x))), len(nxt))
  return ([_sync(Queue.COMPUTE, wait_next=1, signal_prev=1)],
          [_sync(Queue.LOAD, wait_next=1)] + nxt[:cut] + [_sync(Queue.LOAD, wait_next=1)] + nxt[cut:])

def _settled(cfg, prev: list[Instr], sq: list[int], n: int) -> int:
  """How many of kernel i's store-queue instructions (indices `sq`) have surely ended when its last compute instruction
  does: those up to its own last store->compute token (`n`: the compute queue waited for it), less the ones before it
  whose tail may outlast it (an in-order queue starts each instruction at least its predecessor's occupancy later)."""
  if n < 0: return 0
  ahead, first = T.occupancy(cfg, prev[sq[n]]) + T.tail(cfg, prev[sq[n]]), n
  for m in range(n - 1, -1, -1):
    x = prev[sq[m]]; ahead += T.occupancy(cfg, x)
    if T.occupancy(cfg, x) + T.tail(cfg, x) > ahead: first = m
  return first + 1 if first == n else first

def _hoist(cfg, prog: list[Instr], early) -> list[Instr]:
  """`prog` with its first load group (the loads up to the first that signals the compute queue) reordered so that the
  loads `early` accepts come first: the loads of one group write disjoint SRAM lines and are waited for together, so
  their order within the group is free (the group's signal moves to its new last load)."""
  loads = [j for j, x in enumerate(prog) if x.queue == Queue.LOAD]
  end = next((n for n, j in enumerate(loads) if prog[j].signal_next), None)
  if end is None: return prog
  group = [prog[j] for j in loads[:end + 1]]
  if any(x.wait_next for x in group) or any(x.opcode != Opcode.LOAD for x in group): return prog
  a, b = [x for x in group if early(x)], [x for x in group if not early(x)]
  if not a or not b or _hits([r for x in a for r in _regions(cfg, x)], [r for x in b for r in _regions(cfg, x)]): return prog
  group[-1].f["signal_next"] = 0
  new = a + b; new[-1].f["signal_next"] = 1
  out = list(prog)
  for j, x in zip(loads[:end + 1], new): out[j] = x
  return out

def _balanced(i: int, c: Compiled):
  """Every token a kernel signals it also consumes (else a barrier token could pair with a kernel's own)."""
  sig, wait = {}, {}
  for ins in c.program:
    q = ins.queue.value
    for d, s, w in ((-1, ins.signal_prev, ins.wait_prev), (1, ins.signal_next, ins.wait_next)):
      if s: sig[(q, q + d)] = sig.get((q, q + d), 0) + 1
      if w: wait[(q + d, q)] = wait.get((q + d, q), 0) + 1
  if sig != wait: raise CompileError(f"kernel {i}: its tokens are not balanced (signalled {sig}, consumed {wait}); it cannot be linked")

def _expected(c: Compiled, ref: np.ndarray) -> bytes | None:
  """The bytes kernel c's output tensor holds after it ran (`ref`: its output as c.read gives it), when that is the whole tensor."""
  t, ref = c.tensors["C"], np.asarray(ref)
  if ref.dtype != np.dtype(t.dtype) or ref.size * ref.itemsize != t.nbytes: return None
  buf = np.zeros(t.nbytes, np.uint8); dataclasses.replace(t, addr=0).write(buf, ref.reshape(t.shape) if not t.transposed else ref)
  return buf.tobytes()

def link(kernels: list[Compiled], outputs: list[np.ndarray], overlap: bool = True) -> Linked:
  """One program for `kernels` (run in this order, each consuming earlier outputs; `outputs[i]`: what kernel i's output
  holds after it ran, as its `read` gives it). An input segment whose bytes are a whole earlier output is linked to the
  latest such producer (_expected). A timing-only lowering binds random values per kernel as its output (flow/run.run_linked),
  so the same segments are linked, and the barriers (which depend on what is linked) are the functional run's.
  `overlap`: the next kernel's first loads overlap this kernel's epilogue and stores (_boundary); off: a full barrier."""
  segs = [segments(i, c) for i, c in enumerate(kernels)]
  reads = [{} for _ in kernels]                 # kernel -> segment name -> highest byte its loads read
  for i, c in enumerate(kernels):
    _balanced(i, c)
    los = [s.lo for s in segs[i]]
    for ins in c.program:
      if ins.opcode not in (Opcode.LOAD, Opcode.STORE): continue
      lo, hi = _dma_extent(ins); s = segs[i][bisect.bisect_right(los, lo) - 1]
      if hi > s.hi: raise CompileError(f"kernel {i}: a DMA at bytes {lo}..{hi} crosses its segment {s.name} ({s.lo}..{s.hi})")
      if ins.opcode == Opcode.LOAD: reads[i][s.name] = max(reads[i].get(s.name, s.lo), hi)
  produced = {}                                  # expected output bytes -> producing kernel (the latest)
  where, bufs, linked, host = {}, {}, 0, 0
  for i, c in enumerate(kernels):
    for s in segs[i]:
      if s.name == "C": continue
      t = c.tensors.get(s.name)
      src = produced.get(bytes(c.dram[t.addr:t.end])) if t is not None and reads[i].get(s.name, s.lo) <= t.end else None
      if src is not None:                        # read the producer's buffer in place; it lives until this reader
        where[s.key] = (f"{src}.C", 0); b = bufs[f"{src}.C"]; bufs[b.name] = dataclasses.replace(b, last=i); linked += t.nbytes
      else:
        where[s.key] = (s.key, 0); bufs[s.key] = Buffer(s.key, s.hi - s.lo, 0, i)
        host += s.hi - s.lo
    out = next(s for s in segs[i] if s.name == "C")
    where[out.key] = (out.key, 0); bufs[out.key] = Buffer(out.key, out.hi - out.lo, i, len(kernels) if i == len(kernels) - 1 else i)
    if (e := _expected(c, outputs[i])) is not None: produced[e] = i
  plan = plan_memory(list(bufs.values()))
  if plan.size > MAX["dram_addr"] + 1: raise CompileError(f"the network's image needs {plan.size} bytes, past the {MAX['dram_addr'] + 1}-byte DMA address space")
  dram = np.zeros(plan.size, np.uint8)
  for i, c in enumerate(kernels):               # the initial image: every segment that is its own buffer and read before written
    for s in segs[i]:
      if s.name != "C" and where[s.key][0] == s.key: a = plan.addr(s.key); dram[a:a + s.hi - s.lo] = c.dram[s.lo:s.hi]
  body = []
  for i, c in enumerate(kernels):              # a copy of every instruction, its DMA relocated to the plan
    los, out = [s.lo for s in segs[i]], []
    for ins in c.program:
      f = dict(ins.f)
      if ins.opcode in (Opcode.LOAD, Opcode.STORE):
        s = segs[i][bisect.bisect_right(los, ins.dram_addr) - 1]; name, off = where[s.key]
        f["dram_addr"] = plan.addr(name) + off + ins.dram_addr - s.lo
      out.append(Instr(ins.opcode, **f))
    body.append(out)
  cfg = kernels[0].cfg
  for i in range(len(kernels) - 1):
    after, body[i + 1] = _boundary(cfg, body[i], body[i + 1], overlap)
    body[i] = body[i] + after
  prog, spans = [], []
  for b in body: spans.append((len(prog), len(prog) + len(b))); prog += b
  return Linked(prog, dram, plan, spans, segs, where, linked, host)
