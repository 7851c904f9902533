import pytest

from tinyaccel.arch.config import load_config
from tinyaccel.compiler.gemm import compile_gemm
from tinyaccel.sim.model import Machine, run


def gemm(cfg, m, k, n, seed=0):
  """Compile and run; returns (compiled, result, machine)."""
  c = compile_gemm(cfg, m, k, n, seed=seed)
  mach = Machine(cfg, c.dram.copy())
  return c, run(cfg, c.program, machine=mach), mach

def pytest_collection_modifyitems(items):
  for item in items:
    if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"): item.add_marker(pytest.mark.timeout(7200))

@pytest.fixture
def tiny(): return load_config("tiny")
