"""Random legal programs (sim/randprog.py): every instruction kind with random fields; the model runs
them without a range, race or deadlock error, its timing does not depend on the numerics, and the
generator is deterministic. These are the programs the RTL co-simulation will replay."""
import collections

import numpy as np
import pytest

from tinyaccel.arch.config import load_config
from tinyaccel.arch.isa import Opcode, encode_program
from tinyaccel.sim.model import Machine, run
from tinyaccel.sim.randprog import random_program

CONFIGS = [("tiny", {}), ("tiny", {"dataflow": "os"}), ("tiny", {"rows": 8, "cols": 8, "spad_kib": 16, "acc_kib": 16})]

@pytest.mark.parametrize("preset,over", CONFIGS)
def test_random_programs_run_clean(preset, over):
  cfg = load_config(preset, **over)
  ops, functs = collections.Counter(), set()
  for seed in range(25):
    prog, dram = random_program(cfg, seed)
    res = run(cfg, prog, machine=Machine(cfg, dram.copy()))
    assert run(cfg, prog, machine=Machine(cfg, dram_bytes=len(dram), functional=False)).trace == res.trace
    ops.update(i.opcode for i in prog); functs |= {i.funct for i in prog if i.opcode == Opcode.VECTOR}
  assert set(ops) == set(Opcode) and len(functs) >= 12

def test_deterministic():
  cfg = load_config("tiny")
  (p1, d1), (p2, d2) = random_program(cfg, 7), random_program(cfg, 7)
  assert encode_program(p1) == encode_program(p2) and np.array_equal(d1, d2)
  m1, m2 = Machine(cfg, d1.copy()), Machine(cfg, d2.copy())
  assert run(cfg, p1, machine=m1).trace == run(cfg, p2, machine=m2).trace and np.array_equal(m1.dram, m2.dram)
  assert encode_program(random_program(cfg, 8)[0]) != encode_program(p1)
