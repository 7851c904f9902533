"""The DMA engine: one DRAM port shared by LOAD and STORE, a two-stage pipeline (docs/timing.md).

Address stage (cycle t): walks the instruction's (outer, row, chunk) positions, `lanes` chunks of
`chunk_bytes` per cycle, and for a STORE reads the SRAM lines those chunks come from. Bus stage
(t + 1): the beat is on the port. The address stage is what arbitration sees (`busy`), so the next
DMA's first address cycle overlaps this one's last beat. Responses come back `dram_latency_cycles`
after their beat with the request's tag echoed; read data is written to SRAM in that cycle, and the
instruction completes (`done`) the cycle after the response of its last beat.
"""
from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..arch.config import AccelConfig
from ..arch.isa import Dma as DmaFields
from ..arch.isa import Instruction, Mem, Opcode
from .common import latched
from .sram import line_layout

DRAM_ADDR_BITS = DmaFields["dram_addr"].width    # DRAM byte addresses on the port are as wide as the ISA's

def port_geometry(cfg: AccelConfig) -> tuple[int, int]:
  """(lanes, chunk_bytes): the port moves `lanes` chunks of min(B, burst) bytes per cycle."""
  chunk = min(cfg.dram_bytes_per_cycle, cfg.dram_burst_bytes)
  return cfg.dram_bytes_per_cycle // chunk, chunk

def tag_layout(cfg: AccelConfig, id_bits: int) -> data.StructLayout:
  """What a beat carries to the DRAM and gets back with its response: where each chunk lands, and
  whether this is the instruction's last beat (with its queue index and token flags)."""
  lanes, chunk = port_geometry(cfg)
  max_chunks = -(-max(cfg.spad_line_bytes, cfg.acc_line_bytes) // chunk) + -(-cfg.dram_burst_bytes // chunk)
  lane = data.StructLayout({"valid": 1, "mem": Mem, "line": DmaFields["sram_addr"].shape, "chunk": ceil_log2(max_chunks + 1),
                            "row_last": 1, "line_bytes": DmaFields["line_bytes"].shape})
  return data.StructLayout({"last": 1, "id": id_bits, "signal_prev": 1, "signal_next": 1, "lanes": data.ArrayLayout(lane, lanes)})

def dram_signature(cfg: AccelConfig, id_bits: int) -> wiring.Signature:
  """The DRAM port, from the accelerator's side (docs/rtl.md)."""
  lanes, chunk = port_geometry(cfg)
  chunks = data.ArrayLayout(data.ArrayLayout(unsigned(8), chunk), lanes)
  return wiring.Signature({
    "req_valid": Out(1), "req_write": Out(1), "req_lane_valid": Out(lanes), "req_addr": Out(data.ArrayLayout(unsigned(DRAM_ADDR_BITS), lanes)),
    "req_wdata": Out(chunks), "req_wstrb": Out(data.ArrayLayout(unsigned(chunk), lanes)), "req_tag": Out(tag_layout(cfg, id_bits)),
    "resp_valid": In(1), "resp_write": In(1), "resp_rdata": In(chunks), "resp_tag": In(tag_layout(cfg, id_bits)),
  })

class DmaEngine(wiring.Component):
  def __init__(self, cfg: AccelConfig, id_bits: int):
    self.cfg, self.id_bits = cfg, id_bits
    self.lanes, self.chunk = port_geometry(cfg)
    ports = {}
    for mem, lines, line_bytes in (("spad", cfg.spad_lines, cfg.spad_line_bytes), ("acc", cfg.acc_lines, cfg.acc_line_bytes)):
      aw = max(1, ceil_log2(lines))
      ports[f"{mem}_rd"] = In(ReadPort.Signature(addr_width=aw, shape=line_layout(line_bytes))).array(self.lanes)
      ports[f"{mem}_wr"] = In(WritePort.Signature(addr_width=aw, shape=line_layout(line_bytes), granularity=1)).array(self.lanes)
    super().__init__({
      "ins": In(Instruction), "issue": In(1), "id": In(id_bits),     # start the head instruction `ins` (LOAD or STORE) now
      "busy": Out(1), "busy_store": Out(1),                           # the address stage is taken this cycle (by a store)
      "done": Out(1), "done_store": Out(1), "done_id": Out(id_bits), "done_signal_prev": Out(1), "done_signal_next": Out(1),
      "dram": Out(dram_signature(cfg, id_bits)), **ports,
    })

  def elaborate(self, platform):
    m = Module()
    cfg, P, u, port = self.cfg, self.lanes, self.chunk, self.dram
    head, dma = self.ins, self.ins.body.dma
    # ---- address stage: the instruction's fields, latched at issue and used straight from the head in that cycle
    chunks_per_row = lambda lb: ((lb + cfg.dram_burst_bytes - 1) >> ceil_log2(cfg.dram_burst_bytes)) << ceil_log2(cfg.dram_burst_bytes // u)
    fields = {"store": head.header.opcode == Opcode.STORE, "mem": dma.mem, "line_bytes": dma.line_bytes, "rows": dma.rows, "outer": dma.outer,
              "dram_stride": dma.dram_stride, "outer_stride": dma.outer_stride, "ncr": chunks_per_row(dma.line_bytes), "id": self.id,
              "signal_prev": head.header.signal_prev, "signal_next": head.header.signal_next}
    cur, held = latched(m, self.issue, fields, "dma")
    pos_init = {"o": 0, "r": 0, "c": 0, "line": dma.sram_addr, "row": dma.dram_addr, "base": dma.dram_addr}
    # walk positions as wide as the fields they step through; a row's chunks (c): line_bytes rounded up to a burst, one bit more
    bits = lambda f: DmaFields[f].width
    pos = {k: Signal(w, name=f"pos_{k}") for k, w in (("o", bits("outer")), ("r", bits("rows")), ("c", bits("line_bytes") + 1),
                                                       ("line", bits("sram_addr")), ("row", bits("dram_addr")), ("base", bits("dram_addr")))}
    busy = Signal()
    active = self.issue | busy
    m.d.comb += [self.busy.eq(busy), self.busy_store.eq(busy & held["store"])]
    p = {k: Mux(self.issue, pos_init[k], pos[k]) for k in pos}
    done = ~active
    lanes = []
    for lane in range(P):
      lanes.append((p, ~done))
      row_last, r_last, o_last = p["c"] == cur["ncr"] - 1, p["r"] == cur["rows"] - 1, p["o"] == cur["outer"] - 1
      nxt = dict(p)
      nxt["c"] = Mux(row_last, 0, p["c"] + 1)
      nxt["r"] = Mux(row_last, Mux(r_last, 0, p["r"] + 1), p["r"])
      nxt["o"] = Mux(row_last & r_last, p["o"] + 1, p["o"])
      nxt["line"] = Mux(row_last, p["line"] + 1, p["line"])
      next_base = (p["base"] + cur["outer_stride"])[:DRAM_ADDR_BITS]
      nxt["base"] = Mux(row_last & r_last, next_base, p["base"])
      nxt["row"] = Mux(row_last, Mux(r_last, next_base, (p["row"] + cur["dram_stride"])[:DRAM_ADDR_BITS]), p["row"])
      done = done | (row_last & r_last & o_last)
      p = {k: Signal.like(pos[k], name=f"l{lane}_{k}") for k in pos}
      for k in pos: m.d.comb += p[k].eq(nxt[k])
    m.d.sync += busy.eq(active & ~done)
    for k in pos: m.d.sync += pos[k].eq(p[k])
    # ---- SRAM reads of a store's lines (their data arrives with the bus stage)
    for lane, (lp, valid) in enumerate(lanes):
      for mem in ("spad", "acc"): m.d.comb += getattr(self, f"{mem}_rd")[lane].addr.eq(lp["line"])
    # ---- bus stage
    tag = port.req_tag
    m.d.sync += [port.req_valid.eq(active), port.req_write.eq(active & cur["store"]), tag.last.eq(active & done), tag.id.eq(cur["id"]),
                 tag.signal_prev.eq(cur["signal_prev"]), tag.signal_next.eq(cur["signal_next"])]
    for lane, (lp, valid) in enumerate(lanes):
      t = tag.lanes[lane]
      m.d.sync += [t.valid.eq(valid), port.req_lane_valid[lane].eq(valid), t.mem.eq(cur["mem"]), t.line.eq(lp["line"]), t.chunk.eq(lp["c"]),
                   t.row_last.eq(lp["c"] == cur["ncr"] - 1), t.line_bytes.eq(cur["line_bytes"]),
                   port.req_addr[lane].eq((lp["row"] + (lp["c"] << ceil_log2(u)))[:DRAM_ADDR_BITS])]
      # write data: chunk `chunk` of the line read last cycle; strobe the bytes below line_bytes
      for mem in ("spad", "acc"):
        line = getattr(self, f"{mem}_rd")[lane].data.as_value()
        nchunks = -(-len(line) // (8 * u))
        padded = data.View(data.ArrayLayout(data.ArrayLayout(unsigned(8), u), nchunks), Cat(line, Const(0, nchunks * 8 * u - len(line))))
        with m.If(t.mem == (Mem.SPAD if mem == "spad" else Mem.ACC)):
          m.d.comb += port.req_wdata[lane].eq(padded[t.chunk])
      m.d.comb += port.req_wstrb[lane].eq(Cat(((t.chunk << ceil_log2(u)) + j < t.line_bytes) & t.valid & port.req_write for j in range(u)))
    # ---- responses: read data into SRAM lines (bytes past line_bytes become zero); completion
    rtag = port.resp_tag
    for lane in range(P):
      t, chunk = rtag.lanes[lane], port.resp_rdata[lane]
      for mem, line_bytes in (("spad", cfg.spad_line_bytes), ("acc", cfg.acc_line_bytes)):
        wp = getattr(self, f"{mem}_wr")[lane]
        write = port.resp_valid & ~port.resp_write & t.valid & (t.mem == (Mem.SPAD if mem == "spad" else Mem.ACC))
        m.d.comb += wp.addr.eq(t.line)
        for i in range(line_bytes):
          mine = t.chunk == i // u
          m.d.comb += [wp.en[i].eq(write & (mine | (t.row_last & (t.chunk < i // u)))),
                       wp.data[i].eq(Mux(mine & (i < t.line_bytes), chunk[i % u], 0))]
    m.d.sync += [self.done.eq(port.resp_valid & rtag.last), self.done_store.eq(port.resp_write), self.done_id.eq(rtag.id),
                 self.done_signal_prev.eq(rtag.signal_prev), self.done_signal_next.eq(rtag.signal_next)]
    return m
