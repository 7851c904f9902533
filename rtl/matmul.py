"""The MATMUL unit: a fold sequencer that reads operands from the scratchpad, the systolic array, and the
accumulator write-back (read-modify-write when accumulating). Cycle for cycle it follows docs/timing.md:

ws  preload fold 0's weights (rows cycles), then each fold streams m A rows; the next fold's weights are
    read during the last `rows` cycles of the current fold's span max(m, rows). A row read at cycle t
    reaches the accumulator read at t + rows + cols - 1 and is written at t + rows + cols.
os  each fold streams k lines of A^T and B in a span of max(k, rows); the first line carries the tag
    that drains the previous fold. After the last fold, the next MATMUL's first line is the flush if it
    issues right away, else the sequencer inserts a zero line; its drain reaches the accumulator
    read at T + rows + cols - 1 and writes rows R-1 ... 0 on the following cycles.
"""
from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..arch.config import AccelConfig
from ..arch.isa import Instruction, Matmul
from .array import OsArray, WsArray
from .common import delay, latched
from .sram import line_layout

AW, BW, CW = (Matmul[f].width for f in ("a_addr", "b_addr", "c_addr"))   # line registers as wide as the fields they start from
CTR = max(Matmul[f].width for f in ("m", "k", "n")) + 2                  # sequencer counters over m, k, n (2 bits spare)

def write_record(id_bits: int) -> data.StructLayout:
  """One accumulator line on its way to being written; `last` completes the instruction."""
  return data.StructLayout({"valid": 1, "line": CW, "accumulate": 1, "last": 1, "id": id_bits, "signal_prev": 1, "signal_next": 1})

class MatmulUnit(wiring.Component):
  def __init__(self, cfg: AccelConfig, id_bits: int):
    self.cfg, self.id_bits = cfg, id_bits
    spad = ReadPort.Signature(addr_width=max(1, ceil_log2(cfg.spad_lines)), shape=line_layout(cfg.spad_line_bytes))
    acc_aw, acc_line = max(1, ceil_log2(cfg.acc_lines)), line_layout(cfg.acc_line_bytes)
    super().__init__({
      "ins": In(Instruction), "issue": In(1), "id": In(id_bits), "busy": Out(1),
      "a_rd": In(spad), "b_rd": In(spad),
      "acc_rd": In(ReadPort.Signature(addr_width=acc_aw, shape=acc_line)),
      "acc_wr": In(WritePort.Signature(addr_width=acc_aw, shape=acc_line, granularity=1)),
      "done": Out(1), "done_id": Out(id_bits), "done_signal_prev": Out(1), "done_signal_next": Out(1),
    })

  def elaborate(self, platform):
    m = Module()
    cfg, R, C = self.cfg, self.cfg.rows, self.cfg.cols
    mm, hdr = self.ins.body.matmul, self.ins.header
    cur, _ = latched(m, self.issue, {"m": mm.m, "k": mm.k, "n": mm.n, "a_addr": mm.a_addr, "b_addr": mm.b_addr, "c_addr": mm.c_addr,
                                  "accumulate": mm.accumulate, "transpose_b": mm.transpose_b, "id": self.id, "signal_prev": hdr.signal_prev, "signal_next": hdr.signal_next}, "mm")
    rec = Signal(write_record(self.id_bits))                 # the line a streamed row (ws) or a drained row (os) will write
    for k in ("id", "signal_prev", "signal_next"): m.d.comb += getattr(rec, k).eq(cur[k])
    array = m.submodules.array = (WsArray if cfg.dataflow == "ws" else OsArray)(R, C)
    a_valid, b_mask = Signal(), Signal(C)                    # registered with the SRAM read: which operand lanes are real
    m.d.comb += [array.a[i].eq(Mux(a_valid, self.a_rd.data[i], 0)) for i in range(R)]
    if cfg.dataflow == "ws": line_out = self._ws(m, cur, rec, array, a_valid, b_mask)
    else: line_out = self._os(m, cur, rec, array, a_valid, b_mask)
    # ---- write-back: read the old line (transparent to the previous cycle's write), add, write
    m.d.comb += self.acc_rd.addr.eq(line_out.line)
    w = Signal(write_record(self.id_bits)); m.d.sync += w.eq(line_out)
    old = data.View(data.ArrayLayout(signed(32), C), self.acc_rd.data.as_value())
    m.d.comb += [self.acc_wr.addr.eq(w.line), self.acc_wr.en.eq(Cat(w.valid for _ in range(cfg.acc_line_bytes))),
                 self.acc_wr.data.eq(Cat((Mux(w.accumulate, old[j], 0) + array.c[j])[:32] for j in range(C)))]
    m.d.sync += [self.done.eq(w.valid & w.last), self.done_id.eq(w.id), self.done_signal_prev.eq(w.signal_prev), self.done_signal_next.eq(w.signal_next)]
    return m

  def _regs(self, m, init: dict, widths: dict, name: str):
    """Sequencer registers and their values this cycle: the initial values in the cycle the instruction issues."""
    regs = {k: Signal(w, name=f"{name}_{k}") for k, w in widths.items()}
    return regs, {k: Mux(self.issue, init[k], regs[k]) for k in regs}

  def _ws(self, m, cur, rec, array, a_valid, b_mask):
    R, C = self.cfg.rows, self.cfg.cols
    busy = Signal()
    regs, s = self._regs(m, {"preload": 1, "p": 0, "kb": 0, "nb": 0, "a_base": cur["a_addr"], "c_base": cur["c_addr"]},
                         {"preload": 1, "p": CTR, "kb": CTR, "nb": CTR, "a_base": AW, "c_base": CW}, "ws")
    active = self.issue | busy
    last_k, last_n = s["kb"] + R >= cur["k"], s["nb"] + C >= cur["n"]
    last_fold = last_k & last_n
    span = Mux(cur["m"] > R, cur["m"], R)
    end = Mux(s["preload"], s["p"] == R - 1, s["p"] == Mux(last_fold, cur["m"], span) - 1)
    stream = active & ~s["preload"] & (s["p"] < cur["m"])
    m.d.comb += [self.busy.eq(busy), self.a_rd.addr.eq(s["a_base"] + s["p"]), self.a_rd.en.eq(stream),
                 rec.valid.eq(stream), rec.line.eq(s["c_base"] + s["p"]), rec.accumulate.eq(cur["accumulate"] | (s["kb"] != 0)),
                 rec.last.eq(last_fold & (s["p"] == cur["m"] - 1))]
    m.d.sync += [a_valid.eq(stream), array.a_flip.eq(stream & (s["p"] == 0))]
    m.d.sync += busy.eq(active & ~(end & ~s["preload"] & last_fold))
    with m.If(active):
      m.d.sync += [regs[k].eq(s[k]) for k in regs]
      with m.If(~end): m.d.sync += regs["p"].eq(s["p"] + 1)
      with m.Elif(s["preload"]): m.d.sync += [regs["preload"].eq(0), regs["p"].eq(0)]
      with m.Else():
        m.d.sync += regs["p"].eq(0)
        with m.If(last_k): m.d.sync += [regs["kb"].eq(0), regs["a_base"].eq(cur["a_addr"]), regs["nb"].eq(s["nb"] + C), regs["c_base"].eq(s["c_base"] + cur["m"])]
        with m.Else(): m.d.sync += [regs["kb"].eq(s["kb"] + R), regs["a_base"].eq(s["a_base"] + cur["m"])]
    # weight reader: R rows of the next fold, last row first, capture with row 0; started at issue (fold 0)
    # and `rows` cycles before the end of every fold's span but the last. transpose_b (R == C): the fold's C lines are B's
    # columns nb + C-1 ... nb, in k-fold kb / R of n lines (`base` steps by n per k-fold and restarts per n-fold)
    trigger = (self.issue) | (active & ~s["preload"] & ~last_fold & (s["p"] == span - R))
    wbusy, tb = Signal(), cur["transpose_b"]
    wregs, w = self._regs(m, {"j": R - 1, "kb": 0, "nb": 0, "base": cur["b_addr"]}, {"j": CTR, "kb": CTR, "nb": CTR, "base": BW}, "wt")
    j = Mux(trigger, R - 1, w["j"])
    reading = trigger | wbusy
    m.d.comb += [self.b_rd.addr.eq(w["base"] + Mux(tb, w["nb"], w["kb"]) + j), self.b_rd.en.eq(reading)]   # A and B share a port per bank: only real reads claim it
    m.d.sync += [b_mask.eq(Cat(reading & Mux(tb, (w["kb"] + c < cur["k"]) & (w["nb"] + j < cur["n"]), (w["kb"] + j < cur["k"]) & (w["nb"] + c < cur["n"]))
                               for c in range(C))),
                 array.w_capture.eq(reading & (j == 0)), array.w_transpose.eq(tb)]
    m.d.comb += [array.w[c].eq(Mux(b_mask[c], self.b_rd.data[c], 0)) for c in range(C)]
    with m.If(reading):
      m.d.sync += [wregs[k].eq(w[k]) for k in wregs]
      with m.If(j == 0):
        m.d.sync += wbusy.eq(0)
        with m.If(w["kb"] + R >= cur["k"]): m.d.sync += [wregs["kb"].eq(0), wregs["nb"].eq(w["nb"] + C), wregs["base"].eq(Mux(tb, cur["b_addr"], w["base"] + cur["k"]))]
        with m.Else(): m.d.sync += [wregs["kb"].eq(w["kb"] + R), wregs["base"].eq(Mux(tb, w["base"] + cur["n"], w["base"]))]
      with m.Else(): m.d.sync += [wbusy.eq(1), wregs["j"].eq(j - 1)]
    return delay(m, rec, R + C - 1, "ws_rec")

  def _os(self, m, cur, rec, array, a_valid, b_mask):
    R, C = self.cfg.rows, self.cfg.cols
    busy, need_flush, prev_real = Signal(), Signal(), Signal()
    regs, s = self._regs(m, {"p": 0, "mb": 0, "nb": 0, "a_base": cur["a_addr"], "b_base": cur["b_addr"], "c_base": cur["c_addr"]},
                         {"p": CTR, "mb": CTR, "nb": CTR, "a_base": AW, "b_base": BW, "c_base": CW}, "os")
    active = self.issue | busy
    last_m, last_n = s["mb"] + R >= cur["m"], s["nb"] + C >= cur["n"]
    last_fold = last_m & last_n
    span = Mux(cur["k"] > R, cur["k"], R)
    end = s["p"] == span - 1
    stream = active & (s["p"] < cur["k"])
    real_tag = active & (s["p"] == 0)
    flush = need_flush & ~self.issue                          # nothing follows the last fold: a zero line flushes it
    m.d.comb += [self.busy.eq(busy), self.a_rd.addr.eq(s["a_base"] + s["p"]), self.a_rd.en.eq(stream), self.b_rd.addr.eq(s["b_base"] + s["p"]),
                 self.b_rd.en.eq(stream)]
    m.d.sync += [a_valid.eq(stream), b_mask.eq(Cat(stream & (s["nb"] + c < cur["n"]) for c in range(C))),
                 array.first.eq(real_tag | flush), array.drain.eq(prev_real)]
    m.d.comb += [array.b[c].eq(Mux(b_mask[c], self.b_rd.data[c], 0)) for c in range(C)]
    # drain records: this fold's (first line, valid rows) waits in `pending` until the next tag drains it
    drain_rec = data.StructLayout({"rec": write_record(self.id_bits), "rows": CTR})
    pending, push = Signal(drain_rec), Signal(drain_rec)
    with m.If(real_tag | flush):
      m.d.sync += prev_real.eq(real_tag)
      m.d.comb += [push.eq(pending), push.rec.valid.eq(prev_real)]
    with m.If(real_tag):
      m.d.comb += [rec.valid.eq(1), rec.line.eq(s["c_base"] + s["mb"]), rec.accumulate.eq(cur["accumulate"]), rec.last.eq(last_fold)]
      m.d.sync += [pending.rec.eq(rec), pending.rows.eq(cur["m"] - s["mb"])]
    m.d.sync += [need_flush.eq(active & end & last_fold), busy.eq(active & ~(end & last_fold))]
    with m.If(active):
      m.d.sync += [regs[k].eq(s[k]) for k in regs]
      with m.If(~end): m.d.sync += regs["p"].eq(s["p"] + 1)
      with m.Else():
        m.d.sync += regs["p"].eq(0)
        with m.If(last_m): m.d.sync += [regs["mb"].eq(0), regs["a_base"].eq(cur["a_addr"]), regs["nb"].eq(s["nb"] + C),
                                         regs["b_base"].eq(s["b_base"] + cur["k"]), regs["c_base"].eq(s["c_base"] + cur["m"])]
        with m.Else(): m.d.sync += [regs["mb"].eq(s["mb"] + R), regs["a_base"].eq(s["a_base"] + cur["k"])]
    # the drain leaves the array rows + cols - 1 cycles after its tag, last row first, one row per cycle
    out = delay(m, push, R + C - 1, "os_drain")
    held, q_reg, draining = Signal(drain_rec), Signal(range(R + 1)), Signal()
    d = Mux(out.rec.valid, out, held)
    d = data.View(drain_rec, d)
    q = Mux(out.rec.valid, 0, q_reg)
    row = R - 1 - q
    line = Signal(write_record(self.id_bits))
    m.d.comb += [line.eq(d.rec), line.valid.eq((out.rec.valid | draining) & (row < d.rows)), line.line.eq(d.rec.line + row),
                 line.last.eq(d.rec.last & (q == R - 1))]
    with m.If(out.rec.valid | draining):
      m.d.sync += [held.eq(d), q_reg.eq(q + 1), draining.eq(q != R - 1)]
    return line
