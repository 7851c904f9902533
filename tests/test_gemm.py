"""GEMM lowering on the model: bit-exact against numpy, never faster than the roofline, never
less traffic than compulsory, for shapes that stress tiling (1, primes, non-multiples, > SRAM)."""
from conftest import gemm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import numpy as np
import pytest

from tinyaccel.arch import timing as T
from tinyaccel.arch.config import load_config
from tinyaccel.compiler.gemm import compile_gemm, gemm_reference
from tinyaccel.compiler.program import CompileError
from tinyaccel.sim.model import Machine, run


def check(cfg, m, k, n, seed=0):
  c, res, mach = gemm(cfg, m, k, n, seed)
  s = res.stats
  assert np.array_equal(c.read(mach.dram), c.inputs["A"].astype(np.int64) @ c.inputs["B"].astype(np.int64)), (cfg.name, m, k, n)
  assert s.macs == m * k * n
  assert s.compulsory_dram_bytes == m * k + k * n + 4 * m * n == c.compulsory_dram_bytes
  assert s.cycles >= s.roofline_bound_cycles == max(-(-m * k * n // cfg.macs_per_cycle), -(-c.compulsory_dram_bytes // cfg.dram_bytes_per_cycle))
  assert s.dram_read_bytes + s.dram_write_bytes >= s.compulsory_dram_bytes
  assert s.array_cycles["stream"] + s.array_cycles["fill_drain"] + s.array_cycles["idle"] == s.cycles
  return c, res

SHAPES = [(1, 1, 1), (1, 7, 1), (7, 1, 5), (5, 7, 3), (4, 4, 4), (13, 17, 19), (31, 64, 33), (64, 64, 64), (97, 3, 101), (2, 300, 2), (1, 1000, 9)]

@pytest.mark.parametrize("dataflow", ["ws", "os"])
@pytest.mark.parametrize("shape", SHAPES)
def test_tiny_grid(shape, dataflow):
  check(load_config("tiny", dataflow=dataflow), *shape)

@pytest.mark.parametrize("dataflow", ["ws", "os"])
@pytest.mark.parametrize("preset,shape", [("edge", (1, 1, 1)), ("edge", (33, 65, 31)), ("edge", (200, 700, 130)), ("edge", (257, 1031, 263)),
                                          ("server", (129, 257, 131)), ("server", (3, 1000, 5))])
def test_presets(preset, shape, dataflow):
  check(load_config(preset, dataflow=dataflow), *shape)

def test_larger_than_every_sram():
  cfg = load_config("tiny")       # 4 KiB scratchpad, 4 KiB accumulator: A, B and C are 10-40x larger
  c, res = check(cfg, 150, 260, 170)
  assert c.tiling.mt * c.tiling.kt < 150 * 260 and res.stats.compulsory_dram_bytes > 40 * 4096
  check(load_config("tiny", dataflow="os"), 150, 260, 170)

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(m=st.integers(1, 80), k=st.integers(1, 300), n=st.integers(1, 80), dataflow=st.sampled_from(["ws", "os"]), seed=st.integers(0, 1000))
def test_hypothesis_shapes(m, k, n, dataflow, seed):
  check(load_config("tiny", dataflow=dataflow), m, k, n, seed)

def test_extreme_values_wrap_like_int32():
  cfg = load_config("tiny")
  A = np.full((3, 5000), -128, np.int8); B = np.full((5000, 2), -128, np.int8)   # 5000 * 16384 fits; check the fp32 chunking is exact
  c = compile_gemm(cfg, 3, 5000, 2, A=A, B=B)
  mach = Machine(cfg, c.dram.copy()); run(cfg, c.program, machine=mach)
  assert (c.read(mach.dram) == 5000 * 16384).all()
  assert np.array_equal(gemm_reference(A, B), c.read(mach.dram))

def test_edge_1024_cube_reaches_90_percent_of_roofline():
  c, res = check(load_config("edge"), 1024, 1024, 1024)
  assert res.stats.roofline_bound_cycles / res.cycles >= 0.9

def test_double_buffering_overlaps_dma_and_compute():
  _, res, _ = gemm(load_config("edge", dram_bytes_per_cycle=16), 512, 2048, 512)
  s = res.stats   # the DMA is busy for most of the run, yet the array almost never waits for it
  assert s.busy_cycles["load"] > 0.5 * s.cycles and s.busy_cycles["load"] + s.busy_cycles["compute"] > 1.4 * s.cycles
  assert s.stall_cycles["compute"].get("wait_load", 0) < 0.1 * s.cycles and s.roofline_bound_cycles / s.cycles > 0.9

def test_errors_are_one_line():
  with pytest.raises(CompileError, match="M=0"): compile_gemm(load_config("tiny"), 0, 4, 4)
  small = load_config("tiny", rows=16, cols=16, spad_kib=1, acc_kib=1)   # an 8-line C buffer cannot hold a 16-row fold
  with pytest.raises(CompileError, match="does not fit config tiny"): compile_gemm(small, 100, 100, 100)
  with pytest.raises(CompileError, match="memory_gib"): compile_gemm(load_config("tiny", memory_gib=0.0001), 300, 300, 300)

@pytest.mark.parametrize("dataflow", ["ws", "os"])
@pytest.mark.parametrize("bias,relu,scale", [(True, False, None), (False, True, None), (False, False, 1 / 4000), (True, True, 1 / 3000)])
@pytest.mark.parametrize("shape", [(1, 1, 1), (37, 50, 29), (70, 300, 41)])
def test_fused_epilogue(shape, dataflow, bias, relu, scale):
  from tinyaccel.arch.vector import quantize_multiplier
  from tinyaccel.compiler.gemm import Epilogue
  cfg = load_config("tiny", dataflow=dataflow); m, k, n = shape
  ep = Epilogue(bias=np.random.default_rng(1).integers(-40000, 40000, n).astype(np.int32) if bias else None, relu=relu,
                requant=quantize_multiplier(scale) if scale else None)
  c = compile_gemm(cfg, m, k, n, seed=2, epilogue=ep)
  mach = Machine(cfg, c.dram.copy()); res = run(cfg, c.program, machine=mach)
  out = c.read(mach.dram)
  assert out.dtype == (np.int8 if scale else np.int32) and np.array_equal(out, c.reference())
  assert res.stats.compulsory_dram_bytes == m * k + k * n + (4 * n if bias else 0) + m * n * (1 if scale else 4)
  assert res.stats.instructions["store"] > T.cdiv(m, c.tiling.mt) * T.cdiv(n, c.tiling.nt)    # vector ops ride on the store queue

def test_given_tiling_must_fit_the_buffers():
  # a tiling passed in (flow/llm.py widens n tiles) is checked against the same double-buffer rule choose_tiling uses
  from tinyaccel.compiler.gemm import kt_max
  from tinyaccel.compiler.program import Tiling
  cfg = load_config("tiny")
  kmax = kt_max(cfg, 16, None, 16, 4); K = kmax + 8
  assert kmax >= 1
  A, B = np.ones((16, K), np.int8), np.ones((K, 16), np.int8)
  c = compile_gemm(cfg, 16, K, 16, A=A, B=B, tiling=Tiling(16, kmax, 4, "mnk", 0, 0))
  mach = Machine(cfg, c.dram.copy()); run(cfg, c.program, machine=mach)
  assert np.array_equal(c.read(mach.dram), np.full((16, 16), K, np.int32))
  with pytest.raises(CompileError, match="does not fit"): compile_gemm(cfg, 16, K, 16, A=A, B=B, tiling=Tiling(16, kmax + 1, 4, "mnk", 0, 0))
