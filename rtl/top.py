"""The accelerator's top level: three in-order instruction queues joined by dependency tokens, the DMA
engine on the DRAM port, the MATMUL unit, the scratchpad and the accumulator. Built from AccelConfig.

Issue rule (docs/timing.md), evaluated every cycle for each queue's head instruction: the queue's unit
has left the previous instruction's occupancy, every token it waits for is visible (a semaphore above
zero), and a DMA finds the port's address stage free; the store queue wins the port on a tie. There is
no fetch bubble: each queue reads its own instruction buffer one instruction ahead.
"""
from math import gcd

from amaranth.hdl import Cat, Module, Mux, Shape, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..arch.config import DTYPE_BYTES, AccelConfig
from ..arch.isa import INSTR_BITS, QUEUE_OF, Instruction, Opcode, Queue
from .dma import DmaEngine, dram_signature, port_geometry
from .matmul import MatmulUnit
from .sram import Sram
from .vector import VectorUnit

LOAD, COMPUTE, STORE = (q.value for q in Queue)
SEMAPHORES = {"l2c": (LOAD, COMPUTE), "c2l": (COMPUTE, LOAD), "c2s": (COMPUTE, STORE), "s2c": (STORE, COMPUTE)}
OPCODES = {q.value: tuple(o for o, oq in QUEUE_OF.items() if oq == q) for q in Queue}   # besides SYNC
END_QUEUES = (LOAD, LOAD, COMPUTE, COMPUTE, STORE, STORE, STORE)   # the queue of each t_end bit: DMA, SYNC | MATMUL, SYNC | DMA, VECTOR, SYNC
SEM_BITS = 16
DEFAULT_IMEM_DEPTH = 1024

def sram_ports(cfg: AccelConfig) -> dict:
  """{memory: (read groups, writers, granule bytes)} as the Accelerator builds its SRAMs (rtl/sram.py). Readers:
  the array (A and B share a group in the scratchpad), each DMA lane (lane 0 is the store queue's port, which the
  vector unit shares: docs/timing.md); writers: (the array), each DMA lane, the vector unit. Store-queue readers see
  the vector unit's write of the same cycle. The granule is the smallest unit a writer writes: the vector unit
  writes an element per lane, a DMA lane a chunk of the line per beat."""
  lanes, chunk = port_geometry(cfg)
  return {"spad": ([2] + [1] * lanes, lanes + 1, gcd(DTYPE_BYTES[cfg.input_dtype], chunk)),
          "acc": ([1] * (1 + lanes), 2 + lanes, gcd(DTYPE_BYTES[cfg.acc_dtype], chunk))}

class Accelerator(wiring.Component):
  """Ports (docs/rtl.md): the host writes each queue's instructions through `prog_*` (a zero word ends
  a queue), pulses `start`, and waits for `idle`; `dram` is the memory port; `t_*` report every
  instruction's start and completion (its index within its queue). With `shared_port` (a core of a multi-core chip,
  rtl/chip.py) the DRAM port is the channel's: the core raises `port_req_store`/`port_req_load` for a DMA head that
  may issue but for the port, issues it in a cycle the channel's arbiter sets `port_grant`, shows its address stage
  on `port_busy`, and raises `done` from the cycle of its last completion on (the kernel barrier's input)."""
  def __init__(self, cfg: AccelConfig, imem_depth: int = DEFAULT_IMEM_DEPTH, shared_port: bool = False):
    self.cfg, self.imem_depth, self.shared_port = cfg, imem_depth, shared_port
    self.id_bits = idw = max(1, ceil_log2(imem_depth))
    shared = {"port_req_store": Out(1), "port_req_load": Out(1), "port_busy": Out(1), "port_grant": In(1), "done": Out(1)} if shared_port else {}
    super().__init__({**shared,
      "prog_we": In(1), "prog_queue": In(Shape.cast(Queue).width), "prog_addr": In(idw), "prog_data": In(INSTR_BITS),
      "start": In(1), "running": Out(1), "idle": Out(1), "error": Out(1), "error_queue": Out(Shape.cast(Queue).width),
      "dram": Out(dram_signature(cfg, idw)),
      "t_start": Out(len(Queue)), "t_start_id": Out(data.ArrayLayout(idw, len(Queue))),     # queue q started its instruction t_start_id[q]
      "t_end": Out(len(END_QUEUES)), "t_end_id": Out(data.ArrayLayout(idw, len(END_QUEUES))),   # bit e: a unit of queue END_QUEUES[e] completed one
    })

  def elaborate(self, platform):
    m = Module()
    cfg = self.cfg
    lanes, _ = port_geometry(cfg)
    vw = lanes
    ports = sram_ports(cfg)
    spad = m.submodules.spad = Sram(cfg.spad_lines, cfg.spad_line_bytes, cfg.spad_banks, *ports["spad"],
                                    transparent={2 + r: [vw] for r in range(lanes)})
    acc = m.submodules.acc = Sram(cfg.acc_lines, cfg.acc_line_bytes, cfg.acc_banks, *ports["acc"],
                                  transparent={0: [0], **{1 + r: [1 + vw] for r in range(lanes)}})
    vec = m.submodules.vector = VectorUnit(cfg, self.id_bits)
    dma = m.submodules.dma = DmaEngine(cfg, self.id_bits)
    mmu = m.submodules.matmul = MatmulUnit(cfg, self.id_bits)
    wiring.connect(m, mmu.a_rd, spad.rd[0]); wiring.connect(m, mmu.b_rd, spad.rd[1])
    wiring.connect(m, mmu.acc_rd, acc.rd[0]); wiring.connect(m, mmu.acc_wr, acc.wr[0])
    wiring.connect(m, vec.spad_wr, spad.wr[vw]); wiring.connect(m, vec.acc_wr, acc.wr[1 + vw])
    for lane in range(lanes):
      wiring.connect(m, dma.spad_wr[lane], spad.wr[lane]); wiring.connect(m, dma.acc_wr[lane], acc.wr[1 + lane])
      for port, dma_rd, vec_rd in ((spad.rd[2 + lane], dma.spad_rd[lane], vec.spad_rd), (acc.rd[1 + lane], dma.acc_rd[lane], vec.acc_rd)):
        if lane == 0:   # the store queue's port: the vector unit drives it in the cycles it reads (never while a STORE does)
          m.d.comb += [port.addr.eq(Mux(vec_rd.en, vec_rd.addr, dma_rd.addr)), vec_rd.data.eq(port.data), dma_rd.data.eq(port.data)]
        else: wiring.connect(m, dma_rd, port)
    wiring.connect(m, wiring.flipped(self.dram), dma.dram)

    running, error = Signal(), Signal()
    with m.If(self.start): m.d.sync += running.eq(1)
    m.d.comb += [self.running.eq(running), self.error.eq(error)]
    # ---- instruction buffers: the head of each queue is read one instruction ahead
    pc = [Signal(self.id_bits + 1, name=f"pc{q}") for q in range(3)]
    heads, nexts, issue = [], [], [Signal(name=f"issue{q}") for q in range(3)]
    for q in range(3):
      mem = m.submodules[f"imem{q}"] = Memory(shape=INSTR_BITS, depth=self.imem_depth, init=[])
      wp, rp = mem.write_port(), mem.read_port()
      # the head (instruction pc) is held in flip-flops and the buffer reads the one after it (pc + 1), so the issue
      # decision starts at registers, not at the block RAM's output; before `start` the head is the host's word 0 as written
      head = Signal(INSTR_BITS, name=f"head{q}")
      m.d.comb += [wp.addr.eq(self.prog_addr), wp.data.eq(self.prog_data), wp.en.eq(self.prog_we & (self.prog_queue == q)),
                   rp.addr.eq(Mux(issue[q], pc[q] + 2, pc[q] + 1))]
      nxt = Mux(wp.en & (self.prog_addr == 0) & ~running, self.prog_data, Mux(issue[q], rp.data, head))
      m.d.sync += head.eq(nxt)
      heads.append(data.View(Instruction, head))
      with m.If(issue[q]): m.d.sync += pc[q].eq(pc[q] + 1)
      nexts.append(data.View(Instruction, nxt))
    # what the issue decision needs of each head, decoded from the next head a cycle early and registered
    def decoded(name, f):
      r = [Signal(name=f"{name}{q}") for q in range(3)]
      for q in range(3): m.d.sync += r[q].eq(f(q, nexts[q]))
      return r
    ended = decoded("ended", lambda q, h: h.header.opcode.as_value() == 0)
    ops = {o: decoded(f"is_{o.name.lower()}", lambda q, h, o=o: h.header.opcode == o) for o in Opcode if o.value != 0}
    is_op = lambda q, o: ops[o][q]
    def bad_of(q, h):
      b = ~(h.header.opcode.as_value() == 0) & ~(sum(h.header.opcode == o for o in OPCODES[q]).bool() |
                                                  ((h.header.opcode == Opcode.SYNC) & (h.body.sync.queue.as_value() == q)))
      if q == LOAD: b |= h.header.wait_prev | h.header.signal_prev
      if q == STORE: b |= h.header.wait_next | h.header.signal_next
      return b
    bad = decoded("bad", bad_of)
    # ---- tokens
    sem = {k: Signal(SEM_BITS, name=f"sem_{k}") for k in SEMAPHORES}
    def waits_ok(q):
      ok = 1
      for k, (src, dst) in SEMAPHORES.items():
        if dst == q: ok &= ~(heads[q].header.wait_prev if src < dst else heads[q].header.wait_next) | (sem[k] != 0)
      return ok
    queue_free = [~(dma.busy & ~dma.busy_store), ~mmu.busy, ~(dma.busy & dma.busy_store) & ~vec.busy]
    ready = [Signal(name=f"ready{q}") for q in range(3)]
    for q in range(3): m.d.comb += ready[q].eq(running & ~error & ~ended[q] & ~bad[q] & queue_free[q] & waits_ok(q))
    with m.If(running & ~error & (bad[0] | bad[1] | bad[2])):
      m.d.sync += [error.eq(1), self.error_queue.eq(Mux(bad[0], 0, Mux(bad[1], 1, 2)))]
    store_req, load_req = ready[STORE] & is_op(STORE, Opcode.STORE), ready[LOAD] & is_op(LOAD, Opcode.LOAD)
    port_ok = self.port_grant if self.shared_port else ~dma.busy   # a chip's channel arbiter sees every core's address stage
    dma_store = store_req & port_ok
    dma_load = load_req & port_ok & ~dma_store     # the store wins the port on a tie
    if self.shared_port: m.d.comb += [self.port_req_store.eq(store_req), self.port_req_load.eq(load_req), self.port_busy.eq(dma.busy)]
    m.d.comb += [issue[LOAD].eq(Mux(is_op(LOAD, Opcode.LOAD), dma_load, ready[LOAD])), issue[COMPUTE].eq(ready[COMPUTE]),
                 issue[STORE].eq(Mux(is_op(STORE, Opcode.STORE), dma_store, ready[STORE]))]
    m.d.comb += [dma.ins.eq(Mux(dma_store, heads[STORE], heads[LOAD])), dma.issue.eq(dma_load | dma_store),
                 dma.id.eq(Mux(dma_store, pc[STORE], pc[LOAD])),
                 mmu.ins.eq(heads[COMPUTE]), mmu.issue.eq(issue[COMPUTE] & is_op(COMPUTE, Opcode.MATMUL)), mmu.id.eq(pc[COMPUTE]),
                 vec.ins.eq(heads[STORE]), vec.issue.eq(issue[STORE] & is_op(STORE, Opcode.VECTOR)), vec.id.eq(pc[STORE])]
    # ---- completions: (valid, queue index, signal_prev, signal_next) from each queue's unit and its SYNCs
    syncs = []
    for q in range(3):
      v, i, sp, sn = Signal(name=f"sync{q}_done"), Signal(self.id_bits, name=f"sync{q}_id"), Signal(), Signal()
      m.d.sync += [v.eq(issue[q] & is_op(q, Opcode.SYNC)), i.eq(pc[q]), sp.eq(heads[q].header.signal_prev), sn.eq(heads[q].header.signal_next)]
      syncs.append((v, i, sp, sn))
    units = [(dma.done & ~dma.done_store, dma.done_id, dma.done_signal_prev, dma.done_signal_next),
             (mmu.done, mmu.done_id, mmu.done_signal_prev, mmu.done_signal_next),
             (dma.done & dma.done_store, dma.done_id, dma.done_signal_prev, dma.done_signal_next)]
    vec_done = (vec.done, vec.done_id, vec.done_signal_prev, vec.done_signal_next)
    events = [units[LOAD], syncs[LOAD], units[COMPUTE], syncs[COMPUTE], units[STORE], vec_done, syncs[STORE]]
    of = lambda q: [ev for ev, eq in zip(events, END_QUEUES) if eq == q]
    for k, (src, dst) in SEMAPHORES.items():
      inc = sum(Cat(v & (sn if dst > src else sp)) for v, _, sp, sn in of(src))
      dec = issue[dst] & (heads[dst].header.wait_prev if src < dst else heads[dst].header.wait_next)
      m.d.sync += sem[k].eq(sem[k] + inc - dec)
    # ---- trace and completion
    m.d.comb += [self.t_start.eq(Cat(issue)), self.t_end.eq(Cat(v for v, *_ in events))]
    m.d.comb += [self.t_start_id[q].eq(Mux(issue[q], pc[q], 0)) for q in range(3)] + [self.t_end_id[e].eq(Mux(v, i, 0)) for e, (v, i, _, _) in enumerate(events)]
    inflight = [Signal(self.id_bits + 1, name=f"inflight{q}") for q in range(3)]
    for q in range(3): m.d.sync += inflight[q].eq(inflight[q] + issue[q] - sum(Cat(ev[0]) for ev in of(q)))
    m.d.comb += self.idle.eq(running & ended[0] & ended[1] & ended[2] & (Cat(inflight) == 0))
    if self.shared_port:   # every queue at its end word and whatever is in flight completes this cycle
      m.d.comb += self.done.eq(running & ended[0] & ended[1] & ended[2] & Cat(inflight[q] == sum(Cat(ev[0]) for ev in of(q)) for q in range(3)).all())
    return m
