"""The cocotb testbench (run by rtl/cosim.py, not imported otherwise): loads a job's program into the
accelerator's instruction buffers, plays the DRAM of docs/timing.md (a beat at cycle c is answered at
c + dram_latency_cycles with the request's tag; read data is taken and write data applied at the beat),
records every instruction's start and completion cycle, and writes the results for the comparison.

Cycle 0 is the first cycle the accelerator runs (`running` high). Signals are sampled and driven at the
falling edge, so a response driven in cycle c is seen by the rising edge that ends cycle c.
"""
import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from ..arch.isa import QUEUE_NAMES


def serve_request(rq: dict, dram: bytearray, lanes: int, chunk: int, who: str = "") -> tuple[int, int, int, str | None]:
  """One DRAM port request the testbench sees valid: a write's strobed bytes of every valid lane go into `dram`, a read's
  lanes are gathered; (write, read data, tag, the error of a write beyond the DRAM or None). Shared by the chip testbench."""
  write, valid, addrs, tag = int(rq["write"].value), int(rq["lane_valid"].value), int(rq["addr"].value), int(rq["tag"].value)
  lane_bits, rdata, error = 8 * chunk, 0, None
  if write: wdata, wstrb = int(rq["wdata"].value), int(rq["wstrb"].value)
  for lane in range(lanes):
    if not valid >> lane & 1: continue
    a = addrs >> (32 * lane) & 0xFFFFFFFF
    if write:
      d = (wdata >> (lane * lane_bits)) & ((1 << lane_bits) - 1)
      for j in range(chunk):
        if wstrb >> (lane * chunk + j) & 1:
          if a + j >= len(dram): error = error or f"{who}write beyond the {len(dram)}-byte DRAM at {a + j}"; continue
          dram[a + j] = d >> (8 * j) & 0xFF
    else:
      rdata |= int.from_bytes(dram[a:a + chunk].ljust(chunk, b"\0"), "little") << (lane * lane_bits)
  return write, rdata, tag, error


@cocotb.test()
async def run_job(dut):
  with open(os.environ["TINYACCEL_JOB"]) as fh: job = json.load(fh)
  lanes, chunk, latency, max_cycles = job["lanes"], job["chunk_bytes"], job["latency"], job["max_cycles"]
  with open(job["dram_in"], "rb") as fh: dram = bytearray(fh.read())
  cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start(start_high=False))
  dut.rst.value, dut.start.value, dut.prog_we.value = 1, 0, 0
  for n in ("valid", "write", "rdata", "tag"): getattr(dut, f"dram__resp_{n}").value = 0
  for _ in range(2): await FallingEdge(dut.clk)
  dut.rst.value = 0
  for q, words in enumerate(job["queues"]):        # each queue's instructions, then a zero word that ends it
    for addr, word in enumerate([*words, 0]):
      dut.prog_we.value, dut.prog_queue.value, dut.prog_addr.value, dut.prog_data.value = 1, q, addr, int(word)
      await FallingEdge(dut.clk)
  dut.prog_we.value = 0
  await FallingEdge(dut.clk)
  dut.start.value = 1
  await FallingEdge(dut.clk)
  dut.start.value = 0

  due = {}                                          # cycle -> (write, rdata, tag)
  starts, ends, error = {}, {}, None
  sig = {n: getattr(dut, n) for n in ("t_start", "t_end", "t_start_id", "t_end_id", "idle", "error", "error_queue")}
  req = {n: getattr(dut, f"dram__req_{n}") for n in ("valid", "write", "lane_valid", "addr", "wdata", "wstrb", "tag")}
  resp = {n: getattr(dut, f"dram__resp_{n}") for n in ("valid", "write", "rdata", "tag")}
  idw = len(sig["t_start_id"]) // 3
  driving = False
  for cycle in range(max_cycles):
    if cycle in due:
      write, rdata, tag = due.pop(cycle)
      resp["valid"].value, resp["write"].value, resp["rdata"].value, resp["tag"].value = 1, write, rdata, tag
      driving = True
    elif driving:
      resp["valid"].value = 0; driving = False
    ts, te = int(sig["t_start"].value), int(sig["t_end"].value)
    if ts:
      ids = int(sig["t_start_id"].value)
      for q in range(3):
        if ts >> q & 1: starts[(q, ids >> (q * idw) & ((1 << idw) - 1))] = cycle
    if te:
      if not sig["t_end_id"].value.is_resolvable:
        error = f"cycle {cycle}: completion {te:06b} reports an undefined instruction index {sig['t_end_id'].value}"; break
      ids = int(sig["t_end_id"].value)
      for e, q in enumerate(job["end_queues"]):
        if te >> e & 1: ends[(q, ids >> (e * idw) & ((1 << idw) - 1))] = cycle
    if int(req["valid"].value):
      write, rdata, tag, bad = serve_request(req, dram, lanes, chunk)
      error = error or (bad and f"cycle {cycle}: {bad}")
      due[cycle + latency] = (write, rdata, tag)
    if int(sig["error"].value):
      error = f"cycle {cycle}: the {QUEUE_NAMES[int(sig['error_queue'].value)]} queue's head instruction is invalid there"
      break
    if int(sig["idle"].value): break
    await FallingEdge(dut.clk)
  else:
    error = error or f"no completion after {max_cycles} cycles"
  trace = [[q, i, starts.get((q, i)), ends.get((q, i))] for q, words in enumerate(job["queues"]) for i in range(len(words))]
  with open(job["dram_out"], "wb") as fh: fh.write(dram)
  with open(job["results"], "w") as fh: json.dump({"trace": trace, "error": error, "cycles_run": cycle}, fh)
