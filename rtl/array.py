"""The weight-stationary systolic array: rows x cols PEs, int8 x int8 -> int32.

Activations enter on the left (row i delayed i cycles), move right one PE per cycle; partial sums move
down one PE per cycle and leave at the bottom, where column j is delayed cols-1-j cycles so a whole
output row appears at once, rows + cols - 1 cycles after its input row was presented
(docs/timing.md: with the SRAM read and the accumulator write this is the MATMUL tail rows + cols).

Weights are double-buffered. The next fold's weights move down a transport chain (column j skewed by
j cycles) while the current fold streams, and are captured into each PE's shadow register on a skewed
`capture` wave; the first activation row of a fold carries a `flip` tag that travels with it and
makes each PE switch to its shadow weights exactly when the new fold's data reaches it.
"""
from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring, data
from amaranth.lib.wiring import In, Out
from .common import delay

class PE(wiring.Component):
  """One MAC. `pipe` chooses where the product is registered, so the multiplier and the 32-bit adder are never in
  one cycle (the FPGA critical path) while every partial sum leaves on the same cycle as without the register:
    "early": the product is computed a cycle ahead from `a_next`/`flip_next` (what a_in/a_flip_in will be next
             cycle: the D inputs of their registers) with the weight the PE will use then;
    "late":  the product of this cycle's a_in is registered and added a cycle later: column 0, whose deskew at the
             bottom gives that cycle back (PE(0, 0) has no earlier copy of its input: it comes from the SRAM);
    None:    multiply and add in one cycle (a 1-column array)."""
  a_in: In(signed(8));  a_flip_in: In(1);  a_out: Out(signed(8));  a_flip_out: Out(1)
  a_next: In(signed(8)); flip_next: In(1)
  ps_in: In(signed(32)); ps_out: Out(signed(32))
  w_in: In(signed(8));  w_out: Out(signed(8))      # weight transport (down)
  capture: In(1)                                   # shadow <= transport value
  def __init__(self, pipe: str | None = None):
    self.pipe = pipe
    super().__init__()

  def elaborate(self, platform):
    m = Module()
    shadow, active = Signal(signed(8)), Signal(signed(8))
    w = Mux(self.a_flip_in, shadow, active)          # a flipping row already uses the new weights
    m.d.sync += [self.a_out.eq(self.a_in), self.a_flip_out.eq(self.a_flip_in), self.w_out.eq(self.w_in)]
    with m.If(self.a_flip_in): m.d.sync += active.eq(shadow)
    with m.If(self.capture): m.d.sync += shadow.eq(self.w_in)
    prod = Signal(signed(16))
    if self.pipe == "early":                         # next cycle's weight, from next cycle's shadow and active
      w_next = Mux(self.flip_next, Mux(self.capture, self.w_in, shadow), Mux(self.a_flip_in, shadow, active))
      m.d.sync += [prod.eq(self.a_next * w_next), self.ps_out.eq(self.ps_in + prod)]
    elif self.pipe == "late": m.d.sync += [prod.eq(self.a_in * w), self.ps_out.eq(self.ps_in + prod)]
    else: m.d.sync += self.ps_out.eq(self.ps_in + self.a_in * w)
    return m

def _grid(m: Module, make, rows: int, cols: int) -> list:
  """rows x cols PEs, registered as submodules pe_i_j; make(i, j) builds one."""
  pe = [[make(i, j) for j in range(cols)] for i in range(rows)]
  for i in range(rows):
    for j in range(cols): m.submodules[f"pe_{i}_{j}"] = pe[i][j]
  return pe


class WsArray(wiring.Component):
  def __init__(self, rows: int, cols: int, pipelined: bool = True):
    self.rows, self.cols, self.pipelined = rows, cols, pipelined     # pipelined=False: multiply and add in one cycle (for comparison)
    super().__init__({
      "a": In(data.ArrayLayout(signed(8), rows)), "a_flip": In(1),    # one A row (k lanes) per cycle; flip on a fold's first row
      "w": In(data.ArrayLayout(signed(8), cols)), "w_capture": In(1), # one weight row per cycle, last row first; capture after the last
      "c": Out(data.ArrayLayout(signed(32), cols)),                   # one output row per cycle, rows + cols - 1 cycles after its input
    })

  def elaborate(self, platform):
    m = Module()
    R, C = self.rows, self.cols
    late = C > 1 and self.pipelined                  # column 0 registers its products late: its deskew pays for it
    pe = _grid(m, lambda i, j: PE(("late" if j == 0 else "early") if late else None), R, C)
    for i in range(R):                               # left edge: row i skewed by i cycles
      m.d.comb += [pe[i][0].a_in.eq(delay(m, self.a[i], i, f"a{i}")), pe[i][0].a_flip_in.eq(delay(m, self.a_flip, i, f"f{i}"))]
      for j in range(1, C): m.d.comb += [pe[i][j].a_in.eq(pe[i][j - 1].a_out), pe[i][j].a_flip_in.eq(pe[i][j - 1].a_flip_out),
                                         pe[i][j].a_next.eq(pe[i][j - 1].a_in), pe[i][j].flip_next.eq(pe[i][j - 1].a_flip_in)]
    for j in range(C):                               # top edge: weights and capture wave skewed by j cycles; zero partial sums
      m.d.comb += [pe[0][j].w_in.eq(delay(m, self.w[j], j, f"w{j}")), pe[0][j].ps_in.eq(0)]
      cap = delay(m, self.w_capture, j, f"cap{j}")
      for i in range(R):
        m.d.comb += pe[i][j].capture.eq(cap)
        if i: m.d.comb += [pe[i][j].w_in.eq(pe[i - 1][j].w_out), pe[i][j].ps_in.eq(pe[i - 1][j].ps_out)]
      m.d.comb += self.c[j].eq(delay(m, pe[R - 1][j].ps_out, C - 1 - j - (late and j == 0), f"c{j}"))   # bottom edge: deskew
    return m

class OsPE(wiring.Component):
  a_in: In(signed(8)); a_out: Out(signed(8)); first_in: In(1); first_out: Out(1); drain_in: In(1); drain_out: Out(1)
  b_in: In(signed(8)); b_out: Out(signed(8))
  d_in: In(signed(32)); d_out: Out(signed(32)); load: In(1)     # drain chain (down)
  def elaborate(self, platform):
    m = Module()
    acc, hold = Signal(signed(32)), Signal(signed(32))
    prod = self.a_in * self.b_in
    m.d.sync += [self.a_out.eq(self.a_in), self.first_out.eq(self.first_in), self.drain_out.eq(self.drain_in), self.b_out.eq(self.b_in)]
    with m.If(self.first_in): m.d.sync += acc.eq(prod)            # a fold ends where the next one's first data arrives
    with m.Else(): m.d.sync += acc.eq(acc + prod)
    with m.If(self.first_in & self.drain_in): m.d.sync += hold.eq(acc)
    # the bottom row loads its sum as it finishes; a row a drain-less tag passes right then still loads its hold
    m.d.sync += self.d_out.eq(Mux(self.load, Mux(self.first_in & self.drain_in, acc, hold), self.d_in))
    return m

class OsArray(wiring.Component):
  """Output-stationary array: PE(i, j) accumulates C[i, j]. A^T lines enter on the left (row i skewed i),
  B lines on the top (column j skewed j), one k step per cycle; the first k step of each fold carries a
  `first` tag (a lone tag with zero data flushes the last fold). When the tag passes PE(i, j) the finished
  sum moves to a hold register; when it reaches the bottom row the column's holds load into a drain chain
  that shifts down, so a fold's rows leave the bottom, last row first, deskewed to whole rows:
  row R-1-q of a fold appears rows + cols - 1 + q cycles after the next fold's tag entered. A tag whose
  `drain` is low neither holds nor drains: it follows a flush of zeros (possibly by fewer than `rows`
  cycles), whose fold holds nothing, and must not overwrite the holds the flush is still draining."""
  def __init__(self, rows: int, cols: int):
    self.rows, self.cols = rows, cols
    super().__init__({
      "a": In(data.ArrayLayout(signed(8), rows)), "b": In(data.ArrayLayout(signed(8), cols)), "first": In(1),
      "drain": In(1),                                   # with `first`: the previous fold is real and drains now
      "c": Out(data.ArrayLayout(signed(32), cols)),
    })

  def elaborate(self, platform):
    m = Module()
    R, C = self.rows, self.cols
    pe = _grid(m, lambda i, j: OsPE(), R, C)
    for i in range(R):
      m.d.comb += [pe[i][0].a_in.eq(delay(m, self.a[i], i, f"a{i}")), pe[i][0].first_in.eq(delay(m, self.first, i, f"t{i}")),
                   pe[i][0].drain_in.eq(delay(m, self.drain, i, f"dr{i}"))]
      for j in range(1, C): m.d.comb += [pe[i][j].a_in.eq(pe[i][j - 1].a_out), pe[i][j].first_in.eq(pe[i][j - 1].first_out),
                                         pe[i][j].drain_in.eq(pe[i][j - 1].drain_out)]
    for j in range(C):
      m.d.comb += [pe[0][j].b_in.eq(delay(m, self.b[j], j, f"b{j}")), pe[0][j].d_in.eq(0)]
      for i in range(R):
        m.d.comb += pe[i][j].load.eq(pe[R - 1][j].first_in & pe[R - 1][j].drain_in)   # the tag reaching the bottom row: every hold is final
        if i: m.d.comb += [pe[i][j].b_in.eq(pe[i - 1][j].b_out), pe[i][j].d_in.eq(pe[i - 1][j].d_out)]
      m.d.comb += self.c[j].eq(delay(m, pe[R - 1][j].d_out, C - 1 - j, f"c{j}"))
    return m
