"""The weight-stationary systolic array: rows x cols PEs, int8 x int8 -> int32.

Activations enter on the left (row i delayed i cycles), move right one PE per cycle; partial sums move
down one PE per cycle and leave at the bottom, where column j is delayed cols-1-j cycles so a whole
output row appears at once, rows + cols - 1 cycles after its input row was presented
(docs/timing.md: with the SRAM read and the accumulator write this is the MATMUL tail rows + cols).

Weights are double-buffered. The next fold's weights move down a transport chain (column j skewed by
j cycles) while the current fold streams, and are captured into each PE's shadow register on a skewed
`capture` wave; the first activation row of a fold carries a `flip` tag that travels with it and
makes each PE switch to its shadow weights exactly when the new fold's data reaches it.

transpose_b (square arrays): the fold's lines are B's columns (lane i of line c is the weight of PE(i, c)), fed last column
first, and shift in from the side: lane i's chain is row i's, PE(i, j) taps it at stage 2j (two registers per PE, so that the
capture wave, skewed by column, finds column j's line there; docs/timing.md). Lane x's chain serves column x and row x, so it is
only made longer; each PE's weight input is a 2:1 mux, selected by a tag that travels with the capture wave.
"""
from amaranth.hdl import Cat, ClockSignal, Instance, Module, Mux, ResetSignal, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .common import delay

MUL_STAGES = 3     # ws multiplier pipeline depth: 150 MHz for 8x8 on an ECP5-85k (docs/fpga.md); invisible to the ISA timing

class PE(wiring.Component):
  """One MAC whose multiplier has `stages` pipeline registers (0: multiply and add in one cycle; 1: a product
  register; 2: operand and product registers, the ECP5 DSP's own input and output registers in FPGA builds;
  3: and the product once more in the fabric).
  The PE sees its inputs E cycles early (taps on the shift chains, see WsArray) and keeps its weights in an
  early copy of the double buffer: `shadow`, `active` and the weight it selects are those of E cycles later.
  So the product of the activation and weight of cycle t is ready in cycle t + stages - E (its lateness)."""
  a: In(signed(8)); flip: In(1)                    # activation and fold tag, E cycles early
  w: In(signed(8)); capture: In(1)                 # weight transport and capture wave, E cycles early
  ps_in: In(signed(32)); ps_out: Out(signed(32))
  def __init__(self, stages: int = 2):
    self.stages = stages
    super().__init__()

  def elaborate(self, platform):
    m = Module()
    shadow, active = Signal(signed(8)), Signal(signed(8))
    with m.If(self.flip): m.d.sync += active.eq(shadow)
    with m.If(self.capture): m.d.sync += shadow.eq(self.w)
    w = Mux(self.flip, shadow, active)               # a flipping row already uses the new weights
    if self.stages == 0: m.d.sync += self.ps_out.eq(self.ps_in + self.a * w); return m
    prod = Signal(signed(16))
    if self.stages == 1: m.d.sync += prod.eq(self.a * w)
    elif getattr(platform, "dsp", None) == "ecp5": mult18x18d_registered(m, self.a, w, prod)
    else:
      a, b = Signal(signed(8)), Signal(signed(8))
      m.d.sync += [a.eq(self.a), b.eq(w), prod.eq(a * b)]
    # a third stage: the product once more in the fabric, next to the adder (the DSP-to-fabric route is long)
    m.d.sync += self.ps_out.eq(self.ps_in + delay(m, prod, self.stages - 2, "prod"))
    return m

def mult18x18d_registered(m: Module, a, b, prod):
  """prod = a * b two cycles later through one ECP5 MULT18X18D with its input and output registers (yosys' DSP
  mapping leaves registers in the fabric: the DSP's combinational multiply would then sit between two routed
  nets). Same behaviour as the two register stages of PE, reset included (synchronous, as Amaranth's)."""
  sext = lambda v: Cat(v, *[v[-1]] * (18 - len(v)))
  p = Signal(36)
  m.submodules += Instance("MULT18X18D",
    p_REG_INPUTA_CLK="CLK0", p_REG_INPUTB_CLK="CLK0", p_REG_OUTPUT_CLK="CLK0", p_RESETMODE="SYNC", p_GSR="DISABLED",
    **{f"i_A{k}": sext(a)[k] for k in range(18)}, **{f"i_B{k}": sext(b)[k] for k in range(18)},
    **{f"i_C{k}": 0 for k in range(18)}, i_SIGNEDA=1, i_SIGNEDB=1, i_SOURCEA=0, i_SOURCEB=0,
    i_CLK0=ClockSignal(), i_CE0=1, i_RST0=ResetSignal(), **{f"o_P{k}": p[k] for k in range(36)})
  m.d.comb += prod.eq(p[:len(prod)])

def _chain(m: Module, sig, n: int, name: str) -> list:
  """[sig, sig delayed 1, ..., sig delayed n]: a shift register with every stage tapped."""
  out = [sig]
  for k in range(n):
    r = Signal.like(sig, name=f"{name}_d{k}"); m.d.sync += r.eq(out[-1]); out.append(r)
  return out

def _grid(m: Module, make, rows: int, cols: int) -> list:
  """rows x cols PEs, registered as submodules pe_i_j; make(i, j) builds one."""
  pe = [[make(i, j) for j in range(cols)] for i in range(rows)]
  for i in range(rows):
    for j in range(cols): m.submodules[f"pe_{i}_{j}"] = pe[i][j]
  return pe


class WsArray(wiring.Component):
  """`mul_stages` pipeline registers per multiplier (capped at cols - 1) without changing when an output row
  leaves: activations, fold tags and weights move through shift chains, PE(i, j) sees the activation of
  cycle t on stage i + j of row i's chain (stage 0 is the input), the weight on stage i + j of column j's, the
  capture wave on stage j of its chain. A PE tapping each chain E stages earlier sees its inputs E cycles
  ahead, so its product is late by stages - E. Column j is late by max(0, slack - j), where slack =
  min(stages + 1, cols - 1): the late columns give the cycles back from their output deskew (column j is
  delayed cols - 1 - j cycles to line up whole rows), the others tap stages early; with the slack one above
  `stages`, no PE multiplies a value straight off the array's inputs (they come from SRAM)."""
  def __init__(self, rows: int, cols: int, mul_stages: int = MUL_STAGES):
    assert mul_stages in (0, 1, 2, 3), "PE pipelines its multiplier by 0 to 3 registers"
    self.rows, self.cols = rows, cols
    self.stages = min(mul_stages, cols - 1)
    self.slack = min(self.stages + 1, cols - 1) if self.stages else 0
    super().__init__({
      "a": In(data.ArrayLayout(signed(8), rows)), "a_flip": In(1),    # one A row (k lanes) per cycle; flip on a fold's first row
      "w": In(data.ArrayLayout(signed(8), cols)), "w_capture": In(1), # one weight row per cycle, last row first; capture after the last
      "w_transpose": In(1),                                           # with w_capture: the fold's lines were B's columns (transpose_b)
      "c": Out(data.ArrayLayout(signed(32), cols)),                   # one output row per cycle, rows + cols - 1 cycles after its input
    })

  def late(self, j: int) -> int: return max(0, self.slack - j)

  def elaborate(self, platform):
    m = Module()
    R, C = self.rows, self.cols
    pe = _grid(m, lambda i, j: PE(self.stages), R, C)
    a = [_chain(m, self.a[i], i + C, f"a{i}") for i in range(R)]          # row i: stage s is PE(i, s - i)'s input
    f = [_chain(m, self.a_flip, i + C, f"f{i}") for i in range(R)]
    early = [self.stages - self.late(j) for j in range(C)]                 # E: how many stages ahead column j taps
    side = R == C                                                          # transpose_b: row chains on the same lanes
    w = [_chain(m, self.w[x], max([R + x] + [2 * j - early[j] for j in range(C) if side]), f"w{x}") for x in range(C)]
    cap = _chain(m, self.w_capture, C, "cap")                              # column j: stage s of w[j] is PE(s - j, j)'s weight
    tr = _chain(m, self.w_transpose, C, "tr") if side else None            # row i: stage 2j of w[i] is PE(i, j)'s (transpose_b)
    for j in range(C):
      for i in range(R):
        p, e = pe[i][j], early[j]
        wt = Mux(tr[j - e], w[i][2 * j - e], w[j][i + j - e]) if side else w[j][i + j - e]
        m.d.comb += [p.a.eq(a[i][i + j - e]), p.flip.eq(f[i][i + j - e]), p.w.eq(wt),
                     p.capture.eq(cap[j - e]), p.ps_in.eq(pe[i - 1][j].ps_out if i else 0)]
      m.d.comb += self.c[j].eq(delay(m, pe[R - 1][j].ps_out, C - 1 - j - self.late(j), f"c{j}"))   # bottom edge: deskew
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
