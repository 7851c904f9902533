"""Malformed programs are refused with one line naming the instruction; traces export."""
import csv
import io
import json

from conftest import gemm
import pytest

from tinyaccel.arch.config import load_config
from tinyaccel.arch.isa import asm
from tinyaccel.sim.model import Machine, ProgramError, run

BAD = [
  ("load mem=spad sram_addr=1020 dram_addr=0 line_bytes=4 rows=8 dram_stride=4 outer=1 outer_stride=0", "instruction 0 (load): spad lines 1020..1027 exceed"),
  ("load mem=acc sram_addr=0 dram_addr=0 line_bytes=6 rows=1 dram_stride=4 outer=1 outer_stride=0", "multiple of 4"),
  ("load mem=spad sram_addr=0 dram_addr=4000 line_bytes=4 rows=100 dram_stride=4 outer=1 outer_stride=0", "exceed the 4096-byte image"),
  ("load mem=spad sram_addr=0 dram_addr=0 line_bytes=4 rows=0 dram_stride=4 outer=1 outer_stride=0", "must be >= 1"),
  ("store mem=acc sram_addr=0 dram_addr=0 line_bytes=16 rows=2 dram_stride=8 outer=1 outer_stride=0", "overlap"),
  ("matmul a_addr=0 b_addr=4 c_addr=0 m=4 k=4 n=4", "share a scratchpad bank"),
  ("matmul a_addr=0 b_addr=1020 c_addr=0 m=4 k=8 n=4", "B lines 1020..1027 exceed"),
  ("matmul a_addr=0 b_addr=512 c_addr=250 m=8 k=4 n=4", "C lines 250..257 exceed"),
  ("load mem=spad sram_addr=0 dram_addr=0 line_bytes=4 rows=1 dram_stride=4 outer=1 outer_stride=0 wait=prev", "no previous queue"),
  ("store mem=spad sram_addr=0 dram_addr=0 line_bytes=4 rows=1 dram_stride=4 outer=1 outer_stride=0 signal=next", "no next queue"),
  ("matmul a_addr=0 b_addr=512 c_addr=0 m=4 k=4 n=4\nload mem=spad sram_addr=2 dram_addr=0 line_bytes=4 rows=1 dram_stride=4 outer=1 outer_stride=0",
   "race: instruction 0 (compute) reads spad line 2 at cycles 0..16 while instruction 1 (load) writes it until 10: a token is missing"),
  ("matmul a_addr=0 b_addr=512 c_addr=0 m=4 k=4 n=4 signal=next\nstore mem=acc sram_addr=0 dram_addr=0 line_bytes=16 rows=4 dram_stride=16 outer=1 outer_stride=0",
   "race: instruction 0 (compute) writes acc line 0 at cycles 0..16 while instruction 1 (store) reads it until 25"),
  ("sync queue=compute wait=prev\nsync queue=load wait=next", "deadlock: load queue at instruction 1, compute queue at instruction 0"),
]

@pytest.mark.parametrize("text,msg", BAD)
def test_malformed_programs(text, msg):
  cfg = load_config("tiny")
  with pytest.raises(ProgramError) as e: run(cfg, asm(text), machine=Machine(cfg, dram_bytes=4096))
  assert msg in str(e.value) and "\n" not in str(e.value)

def test_trace_exports_and_timing_only_matches():
  cfg = load_config("tiny", dataflow="os")
  c, res, _ = gemm(cfg, 9, 20, 11)
  rows = list(csv.DictReader(io.StringIO(res.trace_csv())))
  assert len(rows) == len(c.program) == len(json.loads(res.trace_json()))
  assert all(int(r["end"]) > int(r["start"]) >= 0 for r in rows) and max(int(r["end"]) for r in rows) == res.cycles
  fast = run(cfg, c.program, machine=Machine(cfg, dram_bytes=len(c.dram), functional=False))
  assert fast.trace == res.trace and fast.stats.compulsory_dram_bytes == res.stats.compulsory_dram_bytes
