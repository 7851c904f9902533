"""The multi-core chip top (rtl/chip.py) against the model's chip (sim/model.run_chip) under cocotb + Icarus: the chip's
cycles (the barrier's release), every core's DRAM image bit for bit and every core's instructions' (start, end) cycle for
cycle. Tiny cores: two on one channel, four on one channel (four-way round-robin), four on two channels; compiled
GEMMs, a small CNN and an attention head as compiler/partition.py splits them, and random programs per core (different
programs contending for the port)."""
import importlib.util
import os
import shutil

import numpy as np
import pytest

from tinyaccel.arch import timing as T
from tinyaccel.arch.config import load_config
from tinyaccel.compiler.partition import Partition, partition_gemm, parts_of
from tinyaccel.flow.verify import verify_graph, verify_partition
from tinyaccel.rtl.chip import barrier_levels
from tinyaccel.rtl.cosim import verify_chip
from tinyaccel.sim.model import Machine, run_chip
from tinyaccel.sim.randprog import random_program

pytestmark = pytest.mark.skipif(not shutil.which("iverilog"), reason="Icarus Verilog is not installed (make hw-deps)")

CHIPS = {"2c1ch": dict(cores=2, dram_channels=1), "4c1ch": dict(cores=4, dram_channels=1), "4c2ch": dict(cores=4, dram_channels=2)}
def config(name, **kw): return load_config("tiny", **CHIPS[name], **kw)

def check(r):
  assert r["first_divergence"] is None, r["first_divergence"]
  assert r["model_cycles"] == r["rtl_cycles"] == max(r["core_cycles"]) + T.barrier_cycles(load_config("tiny", cores=r["cores"]))
  assert r["outputs_match"]
  return r

def test_barrier_tree_depth():
  # the tree's levels are read from arch/timing.barrier_cycles' rule: 2 levels' worth of cycles per doubling of cores
  assert [barrier_levels(load_config("tiny", cores=n)) for n in (1, 2, 3, 4, 5, 8)] == [0, 1, 2, 2, 3, 3]

GEMMS = [("2c1ch", (17, 9, 13)), ("4c1ch", (17, 9, 13)), ("4c2ch", (33, 20, 6)), ("4c1ch", (4, 9, 30)), ("4c2ch", (8, 9, 7))]

@pytest.mark.parametrize("name,shape", GEMMS, ids=[f"{n}-{'x'.join(map(str, s))}" for n, s in GEMMS])
def test_partitioned_gemm(name, shape):
  cfg, (M, K, N) = config(name), shape
  rng = np.random.default_rng(7)
  A, B = rng.integers(-128, 128, (M, K), dtype=np.int8), rng.integers(-128, 128, (K, N), dtype=np.int8)
  prog = partition_gemm(cfg, M, K, N, A, B)
  assert isinstance(prog, Partition) and len(prog.parts) == cfg.cores    # M in row slices (17, 33), N in column slices (4 x 30), a 2 x 2 grid (8 x 7)
  r = check(verify_partition(cfg, prog))
  assert np.array_equal(prog.read(r["rtl_drams"]).reshape(M, N), A.astype(np.int32) @ B.astype(np.int32))

def test_single_program_on_core_zero():
  # a kernel too small to split runs on core 0 while the others idle: the chip still ends at the barrier
  cfg = config("4c1ch")
  prog = partition_gemm(cfg, 3, 5, 2, np.ones((3, 5), np.int8), np.ones((5, 2), np.int8))
  assert len(parts_of(prog)) == 1
  r = check(verify_partition(cfg, prog))
  assert r["rtl_cycles"] == r["core_cycles"][0] + T.barrier_cycles(cfg) == r["core_cycles"][0] + 4   # 2 levels up and down for 4 cores

@pytest.mark.parametrize("name", list(CHIPS))
def test_random_programs_contend_for_the_port(name):
  # a different random program on every core: DMAs of several cores ready in the same cycle, stores against loads
  cfg = config(name)
  progs = [random_program(cfg, 10 * c + 1, phases=3, dram_bytes=1 << 13) for c in range(cfg.cores)]
  check(verify_chip(cfg, [p for p, _ in progs], [d for _, d in progs]))
  # the case this test is about: the cores wait for the port longer together than each alone on its channel
  port_wait = lambda res: sum(s.get("dram_port", 0) for r in res for s in r.stats.stall_cycles.values())
  alone = [run_chip(cfg, [p], [Machine(cfg, d.copy())]).cores[0] for p, d in progs]
  assert port_wait(run_chip(cfg, [p for p, _ in progs], [Machine(cfg, d.copy()) for _, d in progs]).cores) > port_wait(alone)

def _module(name, *path):
  spec = importlib.util.spec_from_file_location(name, os.path.join(os.path.dirname(__file__), *path))
  mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
  return mod

def small_cnn(size=4): return _module("rtl_test_networks", "test_networks.py").small_cnn(size=size)     # the single-core RTL test's CNN
def attention_head(): return _module("attention", "..", "..", "examples", "attention.py").workload(seq=8, d_model=16, d_head=8)

def check_graph(r, kinds):
  assert r["correct"] and r["outputs_match"] and r["cycles_match"], r["first_divergence"]
  assert [k["name"].rstrip("0123456789") for k in r["kernels"]] == kinds
  assert r["model_cycles"] == r["rtl_cycles"] > 0

@pytest.mark.parametrize("name", ["2c1ch", "4c1ch"])
def test_small_cnn_on_the_chip(name):
  check_graph(verify_graph(small_cnn(), config(name, acc_kib=8)), ["conv", "maxpool", "conv", "avgpool", "gemm"])

@pytest.mark.parametrize("name", ["2c1ch", "4c1ch"])
def test_attention_head_on_the_chip(name):
  check_graph(verify_graph(attention_head(), config(name)), ["gemm", "gemm", "gemm", "softmax", "gemm", "gemm"])   # Kᵀ: transpose_b MATMULs

# ---- make test-rtl-full ----
@pytest.mark.slow
@pytest.mark.parametrize("name", list(CHIPS))
def test_random_programs_many(name):
  cfg = config(name)
  for seed in range(2, 42):
    progs = [random_program(cfg, 1000 * seed + c, vector=bool((seed + c) % 2)) for c in range(cfg.cores)]
    check(verify_chip(cfg, [p for p, _ in progs], [d for _, d in progs]))

@pytest.mark.slow
@pytest.mark.parametrize("name", list(CHIPS))
def test_larger_samples(name):
  check_graph(verify_graph(small_cnn(8), config(name, acc_kib=8)), ["conv", "maxpool", "conv", "avgpool", "gemm"])
  cfg = config(name)
  rng = np.random.default_rng(9)
  A, B = rng.integers(-128, 128, (64, 40), dtype=np.int8), rng.integers(-128, 128, (40, 48), dtype=np.int8)
  check(verify_partition(cfg, partition_gemm(cfg, 64, 40, 48, A, B)))
