"""Exact cycle counts of small programs, derived by hand from docs/timing.md for the tiny preset:
rows = cols = 4, DRAM 4 B/cycle, 4-byte bursts, latency 8 (+1 DMA issue cycle), token delay 1."""
import numpy as np

from tinyaccel.arch.config import load_config
from tinyaccel.arch.isa import asm
from tinyaccel.sim.model import Machine, run


def trace(cfg, text, dram_bytes=4096, dram=None):
  res = run(cfg, asm(text), machine=Machine(cfg, dram) if dram is not None else Machine(cfg, dram_bytes=dram_bytes))
  return [(q, s, e) for _, q, _, s, e in res.trace], res

LOAD_A = "load mem=spad sram_addr=0 dram_addr=0 line_bytes=4 rows=4 dram_stride=4 outer=1 outer_stride=0"
LOAD_B = "load mem=spad sram_addr=512 dram_addr=16 line_bytes=4 rows=4 dram_stride=4 outer=1 outer_stride=0"
STORE_C = "store mem=acc sram_addr=0 dram_addr=64 line_bytes=16 rows=4 dram_stride=16 outer=1 outer_stride=0"

def test_one_tile_ws_by_hand():
  cfg = load_config("tiny")
  rng = np.random.default_rng(1); A = rng.integers(-128, 128, (4, 4), dtype=np.int8); B = rng.integers(-128, 128, (4, 4), dtype=np.int8)
  dram = np.zeros(128, np.uint8); dram[:16] = A.view(np.uint8).ravel(); dram[16:32] = B.view(np.uint8).ravel()
  mach = Machine(cfg, dram)
  res = run(cfg, asm(f"""
    {LOAD_A}
    {LOAD_B} signal=next
    matmul a_addr=0 b_addr=512 c_addr=0 m=4 k=4 n=4 wait=prev signal=next
    {STORE_C} wait=prev"""), machine=mach)
  # load A: 16 B / 4 B per cycle = 4 cycles on the port, +1 issue +8 latency -> [0, 13)
  # load B: port free at 4 -> [4, 17); its token is visible at 17 + 1 = 18
  # matmul ws: rows + (1 fold - 1) * max(m, rows) + m = 4 + 0 + 4 = 8 on the array, + rows + cols = 8 -> [18, 34)
  # store: token at 35; 4 lines x 16 B = 64 B = 16 cycles, + 1 + 8 -> [35, 60)
  assert [(q, s, e) for _, q, _, s, e in res.trace] == [("load", 0, 13), ("load", 4, 17), ("compute", 18, 34), ("store", 35, 60)]
  assert res.cycles == 60 and res.stats.stall_cycles["compute"] == {"wait_load": 18}
  assert np.array_equal(mach.dram[64:128].view("<i4").reshape(4, 4), A.astype(np.int32) @ B.astype(np.int32))
  assert res.stats.dram_read_bytes == 32 and res.stats.dram_write_bytes == 64 and res.stats.compulsory_dram_bytes == 96

def test_folds_ws_and_os_by_hand():
  # ws, m=2 k=8 n=8: 2 x 2 folds -> 4 + 3 * max(2, 4) + 2 = 18, tail 8
  t, _ = trace(load_config("tiny"), "matmul a_addr=0 b_addr=512 c_addr=0 m=2 k=8 n=8")
  assert t == [("compute", 0, 26)]
  # ws, m=9 k=4 n=8: 1 x 2 folds -> 4 + 1 * 9 + 9 = 22
  t, _ = trace(load_config("tiny"), "matmul a_addr=0 b_addr=512 c_addr=0 m=9 k=4 n=8")
  assert t == [("compute", 0, 30)]
  # os, m=8 k=3 n=4: 2 x 1 folds -> 2 * max(3, 4) = 8 (the last fold's drain needs rows cycles too), tail 2 * 4 + 4 = 12
  t, _ = trace(load_config("tiny", dataflow="os"), "matmul a_addr=0 b_addr=512 c_addr=0 m=8 k=3 n=4")
  assert t == [("compute", 0, 20)]

def test_back_to_back_and_token_delay():
  # two matmuls pipeline: the second starts when the first leaves the array's input edge
  t, _ = trace(load_config("tiny"), "matmul a_addr=0 b_addr=512 c_addr=0 m=4 k=4 n=4\nmatmul a_addr=0 b_addr=512 c_addr=16 m=4 k=4 n=4")
  assert t == [("compute", 0, 16), ("compute", 8, 24)]
  # a sync signals at its completion (start + 1); the waiter sees it one cycle later
  t, _ = trace(load_config("tiny"), "sync queue=load signal=next\nsync queue=compute wait=prev signal=next\nsync queue=store wait=prev")
  assert t == [("load", 0, 1), ("compute", 2, 3), ("store", 4, 5)]

def test_dram_port_arbitration_and_bursts():
  cfg = load_config("tiny", dram_burst_bytes=8)
  # a 3-byte row costs a whole 8-byte burst: 2 rows -> 16 B -> 4 cycles
  t, res = trace(cfg, "load mem=spad sram_addr=0 dram_addr=0 line_bytes=3 rows=2 dram_stride=8 outer=1 outer_stride=0")
  assert t == [("load", 0, 13)] and res.stats.dram_read_bytes == 16
  # load and store both ready at cycle 0: the store takes the port, the load waits for it
  t, res = trace(load_config("tiny"), f"{LOAD_A}\n{STORE_C}")
  assert t == [("load", 16, 29), ("store", 0, 25)] and res.stats.stall_cycles["load"] == {"dram_port": 16}

def test_compulsory_counts_distinct_bytes():
  # the same 16 bytes loaded twice are read twice but compulsory once
  _, res = trace(load_config("tiny"), f"{LOAD_A}\n{LOAD_A.replace('sram_addr=0', 'sram_addr=4')}")
  assert res.stats.dram_read_bytes == 32 and res.stats.compulsory_dram_bytes == 16
