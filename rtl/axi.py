"""The deployable top level: the Accelerator behind an AXI4-Lite control slave and an AXI4 memory master (docs/fpga.md).

Memory: the core's DRAM port has no back-pressure (a beat per cycle when it wants) and takes responses without
a ready, in any latency. The bridge therefore holds the core with a clock enable (`ce`, a register, decided a
cycle ahead) whenever the next beat might find no room; the core's own cycles are the bus cycles with `ce` high,
so it computes exactly what it would with a memory that never stalls, only later in wall time. Beats become AXI4
INCR bursts: a burst grows while beats arrive and closes at the end of a DRAM row (the tag's `row_last`), at
MAX_BURST beats, or at a 4 KiB boundary. Every response has a slot reserved when its beat (read) or burst (write)
is accepted, so R and B are always taken, and a response is handed to the core in a `ce` cycle.

Control (AXI4-Lite, 32-bit): registers at 0x00.., the program window above them; see REGS and docs/fpga.md.
"""
from amaranth.hdl import Cat, Const, EnableInserter, Module, Mux, ResetInserter, Signal
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..arch.isa import INSTR_BITS, QUEUE_NAMES
from .dma import port_geometry
from .top import Accelerator

MAX_BURST = 16      # beats; AXI4 INCR allows 256, 16 keeps the FIFOs small (and AXI3 slaves happy)
CREDITS = 32        # responses in flight (>= MAX_BURST + 2: an open read burst can never hold every slot)
W_DEPTH = 32        # write beats buffered (>= MAX_BURST + 1: a full FIFO always holds a closed burst)
CMD_DEPTH = 8
REGS = {"CTRL": 0x00, "STATUS": 0x04, "CYCLES": 0x08, "STALLS": 0x0C, "DRAM_BASE": 0x10, "INFO": 0x14}
RESP_OKAY, BURST_INCR = 0, 1
WORDS = INSTR_BITS // 32                         # 32-bit control words per instruction; the last one commits it
WORD_BITS, QUEUE_BITS = ceil_log2(WORDS), ceil_log2(len(QUEUE_NAMES))

def axi4_master(addr_bits: int, data_bits: int) -> wiring.Signature:
  """AXI4 manager, one ID (0), INCR bursts only; the optional signals (ID, LOCK, CACHE, PROT, QOS) take their defaults."""
  return wiring.Signature({
    "awaddr": Out(addr_bits), "awlen": Out(8), "awsize": Out(3), "awburst": Out(2), "awvalid": Out(1), "awready": In(1),
    "wdata": Out(data_bits), "wstrb": Out(data_bits // 8), "wlast": Out(1), "wvalid": Out(1), "wready": In(1),
    "bresp": In(2), "bvalid": In(1), "bready": Out(1),
    "araddr": Out(addr_bits), "arlen": Out(8), "arsize": Out(3), "arburst": Out(2), "arvalid": Out(1), "arready": In(1),
    "rdata": In(data_bits), "rresp": In(2), "rlast": In(1), "rvalid": In(1), "rready": Out(1),
  })

def axi4_lite_slave(addr_bits: int) -> wiring.Signature:
  return wiring.Signature({
    "awaddr": In(addr_bits), "awvalid": In(1), "awready": Out(1), "wdata": In(32), "wstrb": In(4), "wvalid": In(1), "wready": Out(1),
    "bresp": Out(2), "bvalid": Out(1), "bready": In(1),
    "araddr": In(addr_bits), "arvalid": In(1), "arready": Out(1), "rdata": Out(32), "rresp": Out(2), "rvalid": Out(1), "rready": In(1),
  })

def prog_base(imem_depth: int) -> int:
  """The program window: instruction i of queue q, 32-bit word w (w = WORDS - 1 commits it) at prog_base + ((q * depth + i) * WORDS + w) * 4."""
  return 1 << (ceil_log2(imem_depth) + WORD_BITS + QUEUE_BITS + 2)

def refusal(cfg) -> str | None:
  """Why this AXI top cannot carry cfg's DRAM port (None: it can); checked before any Verilog or synthesis (rtl/fpga.run)."""
  lanes, chunk = port_geometry(cfg)
  if lanes != 1: return (f"config {cfg.name}: the AXI bridge moves one chunk per beat: needs dram_burst_bytes ({cfg.dram_burst_bytes}) >= "
                         f"dram_bytes_per_cycle ({cfg.dram_bytes_per_cycle})")
  if chunk & (chunk - 1): return f"config {cfg.name}: the AXI data width ({chunk} B) must be a power of two"
  return None

class AxiAccelerator(wiring.Component):
  def __init__(self, core: Accelerator):
    cfg = core.cfg
    if (why := refusal(cfg)) is not None: raise ValueError(why)
    lanes, chunk = port_geometry(cfg)
    self.core, self.cfg, self.data_bytes = core, cfg, chunk
    self.lite_bits = ceil_log2(prog_base(core.imem_depth)) + 1
    super().__init__({"ctrl": In(axi4_lite_slave(self.lite_bits)), "mem": Out(axi4_master(32, 8 * chunk)), "irq": Out(1)})

  def elaborate(self, platform):
    m = Module()
    core, cfg, B = self.core, self.cfg, self.data_bytes
    ce, soft_rst = Signal(init=1), Signal()
    m.submodules.core = ResetInserter(soft_rst)(EnableInserter(ce)(core))
    port, mem, tag_bits = core.dram, self.mem, len(core.dram.req_tag.as_value())
    # ---- beats -> bursts
    dram_base, bus_error, misaligned = Signal(32), Signal(), Signal()
    cmd = m.submodules.cmd = fifo.SyncFIFOBuffered(width=32 + 8 + 1, depth=CMD_DEPTH)      # (addr, len - 1, write)
    wq = m.submodules.wq = fifo.SyncFIFOBuffered(width=9 * B + 1, depth=W_DEPTH)             # (data, strobes, last)
    rtags = m.submodules.rtags = fifo.SyncFIFOBuffered(width=tag_bits, depth=CREDITS)       # a read beat's tag
    btags = m.submodules.btags = fifo.SyncFIFOBuffered(width=tag_bits, depth=CREDITS)       # a write burst's last tag
    resp = m.submodules.resp = fifo.SyncFIFOBuffered(width=1 + 8 * B + tag_bits, depth=CREDITS)   # (write, data, tag) to the core
    beat = ce & port.req_valid                     # the core's beat of this cycle (its outputs are new in every ce cycle)
    addr = (port.req_addr[0] + dram_base)[:32]
    is_open, b_addr, b_len, held = Signal(), Signal(32), Signal(8), Signal(range(CREDITS + 1))
    close = port.req_tag.lanes[0].row_last | (b_len == MAX_BURST - 1) & is_open | ((addr + B)[:12] == 0)
    burst_addr, burst_len = Mux(is_open, b_addr, addr), Mux(is_open, (b_len + 1)[:8], 0)
    with m.If(beat):
      m.d.sync += [is_open.eq(~close), b_addr.eq(burst_addr), b_len.eq(burst_len)]
      with m.If(addr[:ceil_log2(B)] != 0): m.d.sync += misaligned.eq(1)
    m.d.comb += [cmd.w_data.eq(Cat(burst_addr, burst_len, port.req_write)), cmd.w_en.eq(beat & close),
                 wq.w_data.eq(Cat(port.req_wdata.as_value(), port.req_wstrb.as_value(), close)), wq.w_en.eq(beat & port.req_write),
                 rtags.w_data.eq(port.req_tag), rtags.w_en.eq(beat & ~port.req_write),
                 btags.w_data.eq(port.req_tag), btags.w_en.eq(beat & port.req_write & close)]
    # ---- AR / AW from the burst commands, W only for bursts whose AW has gone
    c_addr, c_len, c_write = cmd.r_data[:32], cmd.r_data[32:40], cmd.r_data[40]
    w_bursts = Signal(range(CMD_DEPTH + W_DEPTH + 1))
    size = Const(ceil_log2(B), 3)
    m.d.comb += [mem.awaddr.eq(c_addr), mem.awlen.eq(c_len), mem.awsize.eq(size), mem.awburst.eq(BURST_INCR), mem.awvalid.eq(cmd.r_rdy & c_write),
                 mem.araddr.eq(c_addr), mem.arlen.eq(c_len), mem.arsize.eq(size), mem.arburst.eq(BURST_INCR), mem.arvalid.eq(cmd.r_rdy & ~c_write),
                 cmd.r_en.eq(Mux(c_write, mem.awready, mem.arready)),
                 mem.wdata.eq(wq.r_data[:8 * B]), mem.wstrb.eq(wq.r_data[8 * B:9 * B]), mem.wlast.eq(wq.r_data[-1]),
                 mem.wvalid.eq(wq.r_rdy & (w_bursts != 0)), wq.r_en.eq(mem.wready & (w_bursts != 0))]
    aw_go, w_done = mem.awvalid & mem.awready, mem.wvalid & mem.wready & mem.wlast
    m.d.sync += w_bursts.eq(w_bursts + aw_go - w_done)
    # ---- R and B into the response FIFO (R first), each with the tag it answers
    r_go = mem.rvalid & resp.w_rdy
    b_go = mem.bvalid & resp.w_rdy & ~mem.rvalid
    m.d.comb += [mem.rready.eq(resp.w_rdy), mem.bready.eq(resp.w_rdy & ~mem.rvalid), rtags.r_en.eq(r_go), btags.r_en.eq(b_go),
                 resp.w_en.eq(r_go | b_go), resp.w_data.eq(Mux(r_go, Cat(0, mem.rdata, rtags.r_data), Cat(1, Const(0, 8 * B), btags.r_data)))]
    with m.If((r_go & (mem.rresp != RESP_OKAY)) | (b_go & (mem.bresp != RESP_OKAY))): m.d.sync += bus_error.eq(1)
    give = ce & resp.r_rdy                         # a response reaches the core in this core cycle
    m.d.comb += [port.resp_valid.eq(give), port.resp_write.eq(resp.r_data[0]), port.resp_rdata.eq(resp.r_data[1:1 + 8 * B]),
                 port.resp_tag.eq(resp.r_data[1 + 8 * B:]), resp.r_en.eq(give)]
    take = beat & (~port.req_write | close)         # beats that reserve a response slot
    held_next = held + take - give
    m.d.sync += held.eq(held_next)
    # ---- the clock enable for the next cycle: room for one more beat whatever this cycle does (pops only add room)
    m.d.sync += ce.eq((wq.level + wq.w_en < W_DEPTH) & (cmd.level + cmd.w_en < CMD_DEPTH) &
                      ((held_next < CREDITS) | (resp.level > give)))
    # ---- AXI4-Lite control: a write is taken in a ce cycle (so START and program words reach the core), whole words only
    ctrl, idw = self.ctrl, core.id_bits
    base = prog_base(core.imem_depth)
    cycles, stalls, stage = Signal(32), Signal(32), Signal((WORDS - 1) * 32)
    start, bvalid = Signal(), Signal()
    wr = ctrl.awvalid & ctrl.wvalid & ~bvalid & ce
    m.d.comb += [ctrl.awready.eq(wr), ctrl.wready.eq(wr), ctrl.bvalid.eq(bvalid), ctrl.bresp.eq(RESP_OKAY)]
    with m.If(ctrl.bready): m.d.sync += bvalid.eq(0)
    wa, in_prog = ctrl.awaddr, ctrl.awaddr >= base
    word, index, queue = wa[2:2 + WORD_BITS], wa[2 + WORD_BITS:2 + WORD_BITS + idw], wa[2 + WORD_BITS + idw:2 + WORD_BITS + idw + QUEUE_BITS]
    m.d.comb += [core.prog_we.eq(wr & in_prog & (word == WORDS - 1)), core.prog_queue.eq(queue), core.prog_addr.eq(index),
                 core.prog_data.eq(Cat(stage, ctrl.wdata)), core.start.eq(start)]
    m.d.sync += soft_rst.eq(0)
    with m.If(ce): m.d.sync += start.eq(0)           # START waits for a core cycle
    with m.If(wr):
      m.d.sync += bvalid.eq(1)
      with m.If(in_prog):
        with m.Switch(word):
          for w in range(WORDS - 1):
            with m.Case(w): m.d.sync += stage[32 * w:32 * w + 32].eq(ctrl.wdata)
      with m.Elif(wa[:8] == REGS["CTRL"]): m.d.sync += [start.eq(ctrl.wdata[0]), soft_rst.eq(ctrl.wdata[1])]
      with m.Elif(wa[:8] == REGS["DRAM_BASE"]): m.d.sync += dram_base.eq(ctrl.wdata)
    busy = core.running & ~core.idle & ~core.error
    with m.If(start): m.d.sync += [cycles.eq(0), stalls.eq(0)]
    with m.Elif(busy):
      with m.If(ce): m.d.sync += cycles.eq(cycles + 1)
      with m.Else(): m.d.sync += stalls.eq(stalls + 1)
    bus_busy = cmd.r_rdy | wq.r_rdy | (held != 0) | is_open
    status = Cat(core.running, core.idle, core.error, core.error_queue, bus_busy, bus_error, misaligned)
    info = Cat(Const(cfg.rows, 8), Const(cfg.cols, 8), Const(ceil_log2(core.imem_depth), 8), Const(cfg.dataflow == "os", 1), Const(ceil_log2(B), 3))
    rvalid, rdata = Signal(), Signal(32)
    m.d.comb += [ctrl.arready.eq(~rvalid), ctrl.rvalid.eq(rvalid), ctrl.rdata.eq(rdata), ctrl.rresp.eq(RESP_OKAY), self.irq.eq(core.idle | core.error)]
    with m.If(ctrl.rready): m.d.sync += rvalid.eq(0)
    with m.If(ctrl.arvalid & ~rvalid):
      m.d.sync += [rvalid.eq(1), rdata.eq(0)]
      with m.Switch(ctrl.araddr[:8]):
        for name, v in (("STATUS", status), ("CYCLES", cycles), ("STALLS", stalls), ("DRAM_BASE", dram_base), ("INFO", info)):
          with m.Case(REGS[name]): m.d.sync += rdata.eq(v)
      with m.If(ctrl.araddr >= base): m.d.sync += rdata.eq(0)
    return m
