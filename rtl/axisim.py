"""AxiAccelerator in Amaranth's simulator against bus-level models: a host that writes the program and START over
AXI4-Lite and polls STATUS, and an AXI4 memory that answers bursts after `latency` cycles with random stalls on
every channel (ready and valid gaps), so the bridge's back-pressure and the core's clock enable are exercised. Built as for the FPGA (`lvt`: the
accumulator's banks are LVT memories, rtl/lvt.py)."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
import random

from amaranth.hdl import Fragment
from amaranth.sim import Simulator
import numpy as np

from ..arch.config import AccelConfig
from ..arch.isa import Instr, encode
from .axi import REGS, WORDS, AxiAccelerator, prog_base
from .fpga import FpgaBuild
from .top import Accelerator


@dataclass
class AxiRun:
  dram: np.ndarray
  core_cycles: int        # the CYCLES register: core cycles from START to idle
  stall_cycles: int       # the STALLS register: bus cycles the core was held for memory
  bus_cycles: int         # simulated clock cycles from START to idle seen by the host
  status: int
  bursts: dict            # {"read": n, "write": n, "beats_read": n, "beats_write": n}

def run_axi(cfg: AccelConfig, program: list[Instr], dram: np.ndarray, latency: int = 8, stall: float = 0.2, seed: int = 0,
            imem_depth: int = 64, max_cycles: int = 200_000, lvt: bool = True) -> AxiRun:
  queues = [[encode(i) for i in program if i.queue.value == q] for q in range(3)]
  if max(map(len, queues)) >= imem_depth: raise ValueError(f"program needs an instruction buffer deeper than {imem_depth}")
  dut = AxiAccelerator(Accelerator(cfg, imem_depth))
  mem = np.array(dram, np.uint8, copy=True)
  B, rng, out = dut.data_bytes, random.Random(seed), {}
  ctrl, bus = dut.ctrl, dut.mem
  stats = dict(read=0, write=0, beats_read=0, beats_write=0)

  async def lite_write(ctx, addr, value):
    ctx.set(ctrl.awaddr, addr); ctx.set(ctrl.wdata, value); ctx.set(ctrl.awvalid, 1); ctx.set(ctrl.wvalid, 1); ctx.set(ctrl.wstrb, 0xF); ctx.set(ctrl.bready, 1)
    while not ctx.get(ctrl.awready): await ctx.tick()
    await ctx.tick()
    ctx.set(ctrl.awvalid, 0); ctx.set(ctrl.wvalid, 0)
    while not ctx.get(ctrl.bvalid): await ctx.tick()
    await ctx.tick()

  async def lite_read(ctx, addr):
    ctx.set(ctrl.araddr, addr); ctx.set(ctrl.arvalid, 1); ctx.set(ctrl.rready, 1)
    while not ctx.get(ctrl.arready): await ctx.tick()
    await ctx.tick()
    ctx.set(ctrl.arvalid, 0)
    while not ctx.get(ctrl.rvalid): await ctx.tick()
    v = ctx.get(ctrl.rdata)
    await ctx.tick()
    return v

  async def host(ctx):
    base = prog_base(imem_depth)
    for q, words in enumerate(queues):
      for i, w in enumerate(words + [0]):       # a zero word ends the queue
        for k in range(WORDS): await lite_write(ctx, base + ((q * imem_depth + i) * WORDS + k) * 4, (w >> (32 * k)) & 0xFFFFFFFF)
    await lite_write(ctx, REGS["CTRL"], 1)
    t0 = cycle[0]
    while True:
      st = await lite_read(ctx, REGS["STATUS"])
      if st & 0b110 or cycle[0] > max_cycles: break
    out.update(status=st, bus_cycles=cycle[0] - t0, cycles=await lite_read(ctx, REGS["CYCLES"]), stalls=await lite_read(ctx, REGS["STALLS"]))

  cycle = [0]
  async def memory(ctx):
    aw, rq, bq = deque(), deque(), deque()                           # write bursts taken, read beats due, B responses due
    while True:
      # this cycle's ready/valid, decided before the edge
      arready, awready, wready = rng.random() > stall, rng.random() > stall, rng.random() > stall
      r = rq[0] if rq and rq[0][0] <= cycle[0] and rng.random() > stall else None
      b = bq[0] if bq and bq[0] <= cycle[0] and rng.random() > stall else None
      ctx.set(bus.arready, arready); ctx.set(bus.awready, awready); ctx.set(bus.wready, wready)
      ctx.set(bus.rvalid, r is not None); ctx.set(bus.bvalid, b is not None)
      if r is not None: ctx.set(bus.rdata, r[1]); ctx.set(bus.rlast, r[2]); ctx.set(bus.rresp, 0)
      if b is not None: ctx.set(bus.bresp, 0)
      # sample the design's side, settled with our values
      if arready and ctx.get(bus.arvalid):
        a, n = ctx.get(bus.araddr), ctx.get(bus.arlen) + 1
        assert ctx.get(bus.arsize) == B.bit_length() - 1 and ctx.get(bus.arburst) == 1
        assert (a % 4096) + n * B <= 4096, "a burst crosses a 4 KiB boundary"
        stats["read"] += 1; stats["beats_read"] += n
        for k in range(n):
          rq.append((cycle[0] + latency + k, int.from_bytes(mem[a + k * B:a + (k + 1) * B].tobytes(), "little"), k == n - 1))
      if awready and ctx.get(bus.awvalid):
        aw.append([ctx.get(bus.awaddr), ctx.get(bus.awlen) + 1, 0]); stats["write"] += 1
      if wready and ctx.get(bus.wvalid):
        assert aw, "W before its AW"
        a, n, k = aw[0]
        data, strb = ctx.get(bus.wdata), ctx.get(bus.wstrb)
        for j in range(B):
          if strb >> j & 1: mem[a + k * B + j] = (data >> (8 * j)) & 0xFF
        assert ctx.get(bus.wlast) == (k == n - 1), "WLAST does not end the burst"
        aw[0][2] += 1; stats["beats_write"] += 1
        if k == n - 1: aw.popleft(); bq.append(cycle[0] + latency)
      rready, bready = ctx.get(bus.rready), ctx.get(bus.bready)
      await ctx.tick()
      cycle[0] += 1
      if r is not None and rready: rq.popleft()
      if b is not None and bready: bq.popleft()

  sim = Simulator(Fragment.get(dut, FpgaBuild()) if lvt else dut)
  sim.add_clock(1e-8)
  sim.add_testbench(memory, background=True)
  sim.add_testbench(host)
  sim.run()
  return AxiRun(mem, out["cycles"], out["stalls"], out["bus_cycles"], out["status"], stats)
