"""The cocotb testbench of the multi-core chip top (run by rtl/cosim.run_chip_rtl, not imported otherwise): loads each
core's program into its instruction buffers, plays every channel's DRAM as rtl/cocotb_tb.py plays one core's (a beat
at cycle c answered at c + dram_latency_cycles with its tag and core; core c's image is region c of its channel),
records every core's instruction starts and completions, and stops at the barrier's release: that cycle is the chip's.

Cycle 0 is the first cycle the chip runs (`running` high); signals are sampled and driven at the falling edge.
"""
import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from .cocotb_tb import serve_request


@cocotb.test()
async def run_job(dut):
  with open(os.environ["TINYACCEL_JOB"]) as fh: job = json.load(fh)
  lanes, chunk, latency, max_cycles, g = job["lanes"], job["chunk_bytes"], job["latency"], job["max_cycles"], job["cores_per_channel"]
  n, channels, end_queues = job["cores"], job["channels"], job["end_queues"]
  drams = []
  for path in job["dram_in"]:
    with open(path, "rb") as fh: drams.append(bytearray(fh.read()))
  cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start(start_high=False))
  dut.rst.value, dut.start.value, dut.prog_we.value = 1, 0, 0
  resp = [{k: getattr(dut, f"dram__{ch}__resp_{k}") for k in ("valid", "write", "rdata", "tag", "core")} for ch in range(channels)]
  req = [{k: getattr(dut, f"dram__{ch}__req_{k}") for k in ("valid", "write", "lane_valid", "addr", "wdata", "wstrb", "tag", "core")} for ch in range(channels)]
  for r in resp:
    for s in r.values(): s.value = 0
  for _ in range(2): await FallingEdge(dut.clk)
  dut.rst.value = 0
  for c in range(n):                                # every core's queues, each ended by a zero word (idle cores: only that)
    for q, words in enumerate(job["queues"][c]):
      for addr, word in enumerate([*words, 0]):
        dut.prog_we.value, dut.prog_core.value, dut.prog_queue.value, dut.prog_addr.value, dut.prog_data.value = 1, c, q, addr, int(word)
        await FallingEdge(dut.clk)
  dut.prog_we.value = 0
  await FallingEdge(dut.clk)
  dut.start.value = 1
  await FallingEdge(dut.clk)
  dut.start.value = 0

  due = [{} for _ in range(channels)]               # per channel: cycle -> (write, rdata, tag, core)
  driving = [False] * channels
  starts, ends, error, released = [{} for _ in range(n)], [{} for _ in range(n)], None, None
  t_start = [getattr(dut, f"t_start__{c}") for c in range(n)]
  t_end = [getattr(dut, f"t_end__{c}") for c in range(n)]
  t_start_id = [getattr(dut, f"t_start_id__{c}") for c in range(n)]
  t_end_id = [getattr(dut, f"t_end_id__{c}") for c in range(n)]
  idw = len(t_start_id[0]) // 3
  idmask = (1 << idw) - 1
  for cycle in range(max_cycles):
    for ch in range(channels):
      if cycle in due[ch]:
        write, rdata, tag, core = due[ch].pop(cycle)
        r = resp[ch]
        r["valid"].value, r["write"].value, r["rdata"].value, r["tag"].value, r["core"].value = 1, write, rdata, tag, core
        driving[ch] = True
      elif driving[ch]:
        resp[ch]["valid"].value = 0; driving[ch] = False
    for c in range(n):
      ts, te = int(t_start[c].value), int(t_end[c].value)
      if ts:
        ids = int(t_start_id[c].value)
        for q in range(3):
          if ts >> q & 1: starts[c][(q, ids >> (q * idw) & idmask)] = cycle
      if te:
        if not t_end_id[c].value.is_resolvable:
          error = f"cycle {cycle}: core {c}'s completion {te:07b} reports an undefined instruction index"; break
        ids = int(t_end_id[c].value)
        for e, q in enumerate(end_queues):
          if te >> e & 1: ends[c][(q, ids >> (e * idw) & idmask)] = cycle
    if error: break
    for ch in range(channels):
      rq = req[ch]
      if not int(rq["valid"].value): continue
      core = int(rq["core"].value)
      dram = drams[ch * g + core]
      write, rdata, tag, bad = serve_request(rq, dram, lanes, chunk, f"core {ch * g + core}: ")
      error = error or (bad and f"cycle {cycle}: {bad}")
      due[ch][cycle + latency] = (write, rdata, tag, core)
    err = int(dut.error.value)
    if err:
      error = f"cycle {cycle}: core {(err & -err).bit_length() - 1}'s head instruction of some queue is invalid there"; break
    if int(dut.released.value): released = cycle; break
    await FallingEdge(dut.clk)
  else:
    error = error or f"no barrier release after {max_cycles} cycles"
  traces = [[[q, i, starts[c].get((q, i)), ends[c].get((q, i))] for q, words in enumerate(job["queues"][c]) for i in range(len(words))] for c in range(n)]
  for path, dram in zip(job["dram_out"], drams):
    with open(path, "wb") as fh: fh.write(dram)
  with open(job["results"], "w") as fh: json.dump({"traces": traces, "error": error, "released": released}, fh)
