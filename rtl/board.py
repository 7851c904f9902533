"""A self-test for a real board: the accelerator, its program in a boot ROM, its DRAM image in on-chip block RAM, and
a checker that compares the DRAM after the run byte by byte with the model's and shows the verdict on the board's LEDs.

    boot ROM --prog_*--> Accelerator <--dram port--> on-chip DRAM (byte banks) <-- checker <-- expected ROM
                               \\______ idle / error ______________________________/     |
                                                                                    led[0] pass, led[1] fail ...

The board (pins, oscillator, package) is data: `BOARDS`, each from its vendor's published constraint file, cited.
Its oscillator feeds an ECP5 PLL (EHXPLLL) that makes the core's clock (`pll_dividers`), and FIRE1 restarts the test.
"""
from dataclasses import dataclass

from amaranth.hdl import Array, Cat, ClockDomain, ClockSignal, Instance, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..arch.isa import INSTR_BITS, Instr, encode
from .dma import port_geometry
from .top import Accelerator

LEDS = {0: "pass", 1: "fail", 2: "running", 3: "queue error (an invalid instruction at a queue's head)", 4: "timeout", 7: "heartbeat (~1.5 Hz at 25 MHz)"}

@dataclass(frozen=True)
class Board:
  """An FPGA board: the target it carries (rtl/fpga.TARGETS), its oscillator, and the pins the self-test uses."""
  name: str
  target: str
  clock_pin: str
  clock_mhz: float
  led_pins: tuple[str, ...]   # led[0], led[1], ...
  restart_pin: str            # a push button, active high (the board pulls it down)
  source: str

ULX3S_LPF = "ULX3S constraint file ulx3s_v20.lpf, https://github.com/emard/ulx3s/blob/master/doc/constraints/ulx3s_v20.lpf (file version 0a4321a, 24 Feb 2019)"
ULX3S = dict(clock_pin="G2", clock_mhz=25.0, led_pins=("B2", "C2", "C1", "D2", "D1", "E2", "E1", "H3"), restart_pin="R1", source=ULX3S_LPF)
BOARDS = {f"ulx3s-{n}f": Board(f"ulx3s-{n}f", f"ecp5-{n}k", **ULX3S) for n in (25, 45, 85)}   # the ULX3S comes with an LFE5U-12F/25F/45F/85F

class BoardError(ValueError):
  """The self-test cannot be built for this config or board: one line for the CLI."""

def refusal(cfg) -> str | None:
  """Why the on-chip DRAM cannot serve this config's port (one lane of a power-of-two number of bytes per cycle)."""
  lanes, chunk = port_geometry(cfg)
  if lanes != 1 or chunk & (chunk - 1):
    return f"the board self-test's on-chip DRAM serves one lane of 2^n bytes per cycle; {cfg.name}'s port moves {lanes} x {chunk} B"
  return None

def pll_dividers(clkin_mhz: float, want_mhz: float) -> tuple[int, int, int, float]:
  """(CLKI_DIV, CLKFB_DIV, CLKOP_DIV, output MHz) of an ECP5 EHXPLLL with CLKOP fed back, the output closest to
  `want_mhz` at or below it, with the VCO nearest 600 MHz: PFD clkin/CLKI_DIV in 3.125..400 MHz, VCO out*CLKOP_DIV
  in 400..800 MHz (Lattice FPGA-TN-02200, "ECP5 and ECP5-5G sysCLOCK PLL/DLL Design and User Guide", PLL timing
  parameters). yowasp-ecppll -i 25 -o 20 picks the same (5, 4, 30)."""
  best = None
  for ki in range(1, 129):
    if not 3.125 <= clkin_mhz / ki <= 400: continue
    for kf in range(1, 81):
      out = clkin_mhz / ki * kf
      if out > want_mhz + 1e-9: break
      kop = min((k for k in range(1, 129) if 400 <= out * k <= 800), key=lambda k: abs(out * k - 600), default=None)
      if kop and (best is None or (out, -abs(out * kop - 600)) > (best[3], -abs(best[3] * best[2] - 600))): best = (ki, kf, kop, out)
  if best is None: raise BoardError(f"no PLL setting makes {want_mhz:g} MHz or less from {clkin_mhz:g} MHz (the VCO runs at 400-800 MHz)")
  return best

class SelfTest(wiring.Component):
  """Boot, run, check: writes `program` into the accelerator's queues, starts it on `dram`, and once it is idle compares
  every DRAM byte with `expected` (the model's DRAM after the same program). `led` shows the verdict (LEDS);
  `timeout_cycles` bounds the run."""
  led: Out(8)
  def __init__(self, core: Accelerator, program: list[Instr], dram: bytes, expected: bytes, timeout_cycles: int):
    if (why := refusal(core.cfg)) is not None: raise BoardError(why)
    if len(dram) != len(expected): raise BoardError(f"DRAM image of {len(dram)} B but {len(expected)} B expected")
    self.core, self.dram, self.expected, self.timeout_cycles = core, bytes(dram), bytes(expected), timeout_cycles
    idx = {q: 0 for q in range(3)}
    self.boot = []                    # (queue, index within the queue, instruction word), in program order
    for ins in program:
      q = ins.queue.value
      if idx[q] >= core.imem_depth - 1: raise BoardError(f"queue {q} holds {core.imem_depth - 1} instructions at most")
      self.boot.append((q, idx[q], encode(ins))); idx[q] += 1
    super().__init__()

  def elaborate(self, platform):
    m = Module()
    core = m.submodules.core = self.core
    _, chunk = port_geometry(core.cfg)
    lo_bits, idw = chunk.bit_length() - 1, core.id_bits
    # ---- boot ROM: one word per instruction, {queue, index, instruction}
    rom = m.submodules.boot = Memory(shape=INSTR_BITS + idw + 2, depth=max(1, len(self.boot)),
                                     init=[w | i << INSTR_BITS | q << (INSTR_BITS + idw) for q, i, w in self.boot] or [0])
    boot = rom.read_port()
    i, wr = Signal(range(len(self.boot) + 1)), Signal()
    m.d.comb += [boot.addr.eq(i), core.prog_data.eq(boot.data[:INSTR_BITS]), core.prog_addr.eq(boot.data[INSTR_BITS:INSTR_BITS + idw]),
                 core.prog_queue.eq(boot.data[INSTR_BITS + idw:]), core.prog_we.eq(wr)]
    m.d.sync += wr.eq(0)
    # ---- on-chip DRAM: `chunk` byte banks, so a chunk at any byte address is one word of each bank
    port, words = core.dram, -(-len(self.dram) // chunk) + 1
    banks = [Memory(shape=8, depth=words, init=list(self.dram[b::chunk]) + [0]) for b in range(chunk)]
    a, a_lo = port.req_addr[0], port.req_addr[0][:lo_bits] if lo_bits else 0
    rd, chk = [], []
    for b, bank in enumerate(banks):
      m.submodules[f"dram{b}"] = bank
      j = (b - a_lo)[:lo_bits] if lo_bits else 0          # the request's byte that lands in bank b
      r, w, c = bank.read_port(), bank.write_port(), bank.read_port()
      m.d.comb += [r.addr.eq((a + j) >> lo_bits), w.addr.eq((a + j) >> lo_bits), w.data.eq(port.req_wdata[0][j]),
                   w.en.eq(port.req_valid & port.req_write & port.req_lane_valid[0] & port.req_wstrb[0].bit_select(j, 1))]
      rd.append(r.data); chk.append(c)
    # the response L = dram_latency_cycles after its request, as the co-simulation's DRAM answers
    latency = max(1, core.cfg.dram_latency_cycles)
    stages = [dict(valid=Signal(name=f"resp{k}_valid"), write=Signal(name=f"resp{k}_write"), tag=Signal(port.req_tag.shape(), name=f"resp{k}_tag"),
                   lo=Signal(max(1, lo_bits), name=f"resp{k}_lo"), data=Signal(8 * chunk, name=f"resp{k}_data")) for k in range(latency)]
    m.d.sync += [stages[0]["valid"].eq(port.req_valid), stages[0]["write"].eq(port.req_write), stages[0]["tag"].eq(port.req_tag),
                 stages[0]["lo"].eq(a_lo)]
    first = Cat(Array(rd)[(stages[0]["lo"] + j)[:lo_bits]] if lo_bits else rd[0] for j in range(chunk))   # bank words back in byte order
    for k in range(1, latency):
      m.d.sync += [stages[k][f].eq(stages[k - 1][f]) for f in ("valid", "write", "tag")]
      m.d.sync += stages[k]["data"].eq(first if k == 1 else stages[k - 1]["data"])
    last = stages[-1]
    m.d.comb += [port.resp_valid.eq(last["valid"]), port.resp_write.eq(last["write"]), port.resp_tag.eq(last["tag"]),
                 port.resp_rdata.as_value().eq(first if latency == 1 else last["data"])]
    # ---- the test
    addr = Signal(range(len(self.expected) + 2))
    exp = m.submodules.expected = Memory(shape=8, depth=max(1, len(self.expected)), init=list(self.expected) or [0])
    e = exp.read_port()
    for b, c in enumerate(chk): m.d.comb += c.addr.eq(addr >> lo_bits)
    m.d.comb += e.addr.eq(addr)
    cycles = self.run_cycles = Signal(range(self.timeout_cycles + 2))    # from start to idle: the model's cycles (flow/board.py checks)
    checking, verdict = Signal(), Signal(5)        # verdict: the LEDS bits 0..4
    with m.FSM():
      with m.State("BOOT"):
        with m.If(i < len(self.boot)): m.d.sync += [i.eq(i + 1), wr.eq(1)]      # the ROM word of address i is written next cycle
        with m.Else(): m.next = "SETTLE"
      with m.State("SETTLE"):                                                   # the last word is written now: start after it
        m.next = "START"
      with m.State("START"):
        m.d.comb += core.start.eq(1)
        m.next = "RUN"
      with m.State("RUN"):
        with m.If(~core.idle): m.d.sync += cycles.eq(cycles + 1)
        with m.If(core.error): m.d.sync += verdict.eq(0b01010); m.next = "DONE"
        with m.Elif(core.idle): m.next = "CHECK"
        with m.Elif(cycles == self.timeout_cycles): m.d.sync += verdict.eq(0b10010); m.next = "DONE"
      with m.State("CHECK"):                                                    # one byte per cycle; its reads land a cycle later
        m.d.sync += [addr.eq(addr + 1), checking.eq(addr < len(self.expected))]
        with m.If(addr == len(self.expected)):
          m.next = "VERDICT"
      with m.State("VERDICT"):
        m.d.sync += verdict.eq(Cat(~verdict[1], verdict[1]))
        m.next = "DONE"
      with m.State("DONE"): pass
    got = Array(c.data for c in chk)[(addr - 1)[:lo_bits]] if lo_bits else chk[0].data
    with m.If(checking & (got != e.data)): m.d.sync += verdict[1].eq(1)          # a mismatching byte: fail
    heartbeat = Signal(24)
    m.d.sync += heartbeat.eq(heartbeat + 1)
    running = Signal()
    m.d.comb += running.eq(verdict == 0)
    m.d.comb += self.led.eq(Cat(verdict[0], verdict[1], running, verdict[3], verdict[4], 0, 0, heartbeat[-1]))
    return m

class BoardTop(wiring.Component):
  """The pins of `board`: its oscillator into the PLL, the self-test in the PLL's clock domain, held in reset until the PLL
  locks and while the restart button is pressed."""
  clk_in: In(1); restart: In(1); led: Out(8)
  def __init__(self, board: Board, test: SelfTest, core_mhz: float):
    self.board, self.test = board, test
    self.dividers = pll_dividers(board.clock_mhz, core_mhz)
    super().__init__()

  def elaborate(self, platform):
    m = Module()
    ki, kf, kop, out = self.dividers
    clk, lock = Signal(), Signal()
    # the loop-filter attributes and the zero-phase CPHASE (CLKOP_DIV / 2) as yowasp-ecppll writes them
    m.submodules.pll = Instance("EHXPLLL", a_FREQUENCY_PIN_CLKI=f"{self.board.clock_mhz:g}", a_FREQUENCY_PIN_CLKOP=f"{out:g}",
                                a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
                                p_CLKI_DIV=ki, p_CLKFB_DIV=kf, p_CLKOP_DIV=kop, p_CLKOP_ENABLE="ENABLED", p_CLKOP_CPHASE=kop // 2, p_CLKOP_FPHASE=0,
                                p_FEEDBK_PATH="CLKOP", p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
                                p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA",
                                i_CLKI=self.clk_in, i_CLKFB=clk, i_RST=0, i_STDBY=0, i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1,
                                i_PHASESTEP=1, i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0, o_CLKOP=clk, o_LOCK=lock)
    m.domains.sync = ClockDomain()
    m.d.comb += [ClockSignal().eq(clk), ResetSignal().eq(~lock | self.restart)]
    m.submodules.test = self.test
    m.d.comb += self.led.eq(self.test.led)
    return m

def lpf(board: Board, core_mhz: float) -> str:
  """The constraint file of BoardTop on `board` (pins and I/O standards as the board's own file has them)."""
  lines = [f"# {board.name}: pins from the {board.source}", f'LOCATE COMP "clk_in" SITE "{board.clock_pin}";',
           'IOBUF PORT "clk_in" PULLMODE=NONE IO_TYPE=LVCMOS33;', f'FREQUENCY PORT "clk_in" {board.clock_mhz:g} MHZ;',
           f'LOCATE COMP "restart" SITE "{board.restart_pin}";', 'IOBUF PORT "restart" PULLMODE=DOWN IO_TYPE=LVCMOS33;']
  for k, pin in enumerate(board.led_pins):
    lines += [f'LOCATE COMP "led[{k}]" SITE "{pin}";', f'IOBUF PORT "led[{k}]" PULLMODE=NONE IO_TYPE=LVCMOS33 DRIVE=4;']
  return "\n".join(lines) + "\n"
