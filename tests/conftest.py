import pytest

from tinyaccel.arch.config import load_config
from tinyaccel.compiler.gemm import compile_gemm
from tinyaccel.sim.model import Machine, run


def gemm(cfg, m, k, n, seed=0):
  """Compile and run; returns (compiled, result, machine)."""
  c = compile_gemm(cfg, m, k, n, seed=seed)
  mach = Machine(cfg, c.dram.copy())
  return c, run(cfg, c.program, machine=mach), mach

@pytest.fixture
def tiny(): return load_config("tiny")
