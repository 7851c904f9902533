"""Multi-core chips (issue 17): config rules, the shared-channel port rule, the barrier, partitioned kernels bit-exact."""
import numpy as np
import pytest

from tinyaccel.arch import timing as T
from tinyaccel.arch.config import ConfigError, load_config
from tinyaccel.arch.isa import Instr, Mem, Opcode
from tinyaccel.compiler.partition import Partition, shares
from tinyaccel.flow.run import run_gemm, run_kernel, run_network
from tinyaccel.sim.model import Machine, run, run_chip


def test_config_rules():
  assert load_config("tiny").cores == 1 and load_config("tiny").dram_channels == 1
  cfg = load_config("petaflop")
  assert cfg.chip_peak_flops_per_s >= 1e15 and cfg.dram_bytes_per_cycle == load_config("server").dram_bytes_per_cycle
  for bad, msg in (({"cores": 0}, "cores=0"), ({"cores": 4, "dram_channels": 3}, "must divide cores=4"), ({"cores": 2, "dram_channels": 4}, "between 1 and cores=2")):
    with pytest.raises(ConfigError, match=msg): load_config("tiny", **bad)

def test_barrier_and_shares():
  assert [T.barrier_cycles(load_config("tiny", cores=n, dram_channels=1)) for n in (1, 2, 3, 4, 32)] == [0, 2, 4, 4, 10]
  assert shares(10, 4, 1) == [(0, 2), (2, 5), (5, 7), (7, 10)] and shares(10, 4, 4) == [(0, 4), (4, 8), (8, 10)] and shares(3, 8) == [(0, 1), (1, 2), (2, 3)]

def _load(rows=4): return Instr(Opcode.LOAD, mem=Mem.SPAD.value, sram_addr=0, dram_addr=0, line_bytes=4, rows=rows, dram_stride=4, outer=1)

def test_shared_channel_round_robin():
  """Two cores on one channel each load 4 rows of 4 B (4 port cycles) twice: core 0 wins the tie at cycle 0, core 1 gets
  the port when it frees (4); at 8 both wait and round-robin after core 1 gives it to core 0, then core 1 (12)."""
  cfg = load_config("tiny", cores=2, dram_channels=1)
  progs = [[_load(), _load()], [_load(), _load()]]
  r = run_chip(cfg, progs, [Machine(cfg, dram_bytes=64) for _ in progs])
  L = cfg.dram_latency_cycles + T.DMA_ISSUE_CYCLES
  assert [[t[3] for t in c.trace] for c in r.cores] == [[0, 8], [4, 12]]
  assert r.cycles == 12 + 4 + L + T.barrier_cycles(cfg)
  assert r.cores[1].stats.stall_cycles["load"]["dram_port"] == 4 + 4
  # one channel per core: the cores do not interact, each is the single-core model
  cfg2 = load_config("tiny", cores=2, dram_channels=2)
  r2 = run_chip(cfg2, progs, [Machine(cfg2, dram_bytes=64) for _ in progs])
  alone = run(load_config("tiny"), progs[0], machine=Machine(load_config("tiny"), dram_bytes=64))
  assert [c.cycles for c in r2.cores] == [alone.cycles] * 2 and r2.cycles == alone.cycles + 2

@pytest.mark.parametrize("cores,channels", [(2, 2), (4, 2), (3, 1)])
def test_gemm_partitioned_exact(cores, channels):
  cfg = load_config("tiny", cores=cores, dram_channels=channels)
  g = run_gemm(cfg, 24, 20, 12, seed=3)
  assert g.report["correct"] is True and isinstance(g.kernel.program, Partition)
  assert sum(g.report["chip"]["core_macs"]) == g.report["array_macs"] == 24 * 20 * 12
  assert g.report["cycles"] == max(c.cycles for c in g.run.result.cores) + T.barrier_cycles(cfg)

def test_network_partitioned_exact_and_cores1_identical():
  one = run_network("mlp", load_config("edge"))[1]
  one_again = run_network("mlp", load_config("edge", cores=1, dram_channels=1))[1]
  assert one["cycles"] == one_again["cycles"] == 11343 and "chip" not in one
  g, rep = run_network("mlp", load_config("edge", cores=2, dram_channels=2))
  assert g.correct is True and rep["cycles"] == 6483 and len(rep["chip"]["core_utilization"]) == 2
  np.testing.assert_array_equal(g.output, run_network("mlp", load_config("edge"))[0].output)

def test_timing_only_matches_functional():
  cfg = load_config("edge", cores=4, dram_channels=4)
  f, t = run_network("mlp", cfg)[1], run_network("mlp", cfg, functional=False)[1]
  assert f["cycles"] == t["cycles"] and f["chip"]["core_macs"] == t["chip"]["core_macs"]

def _residual_net(batch):
  from tinyaccel.compiler.tensor import Tensor
  def conv(cin, cout, seed): return (Tensor.randn(cout, cin, 3, 3, seed=seed) * (cin * 9) ** -0.5).realize(), (Tensor.randn(cout, seed=seed + 9) * 0.1).realize()
  (w0, b0), (w1, b1) = conv(4, 8, 1), conv(8, 8, 2)
  h = Tensor.randn(batch, 4, 6, 6, seed=0).conv2d(w0, b0, padding=1).relu()
  return (h.conv2d(w1, b1, padding=1) + h).relu().max_pool2d(2)

@pytest.mark.parametrize("net", ["cnn", "gpt2"])
def test_timing_only_placeholders_exact(net):
  """A timing-only graph run computes no numerics (placeholder activations, equal slices compiled once) and gives the
  functional run's cycles, bytes and compulsory bytes kernel by kernel."""
  from tinyaccel.flow import run_graph
  from tinyaccel.workloads.gpt2 import gpt2
  cfg = load_config("edge", cores=4, dram_channels=2)
  y = _residual_net(8) if net == "cnn" else gpt2(1, seq=32, final_norm=False, hidden=128, heads=4, ffn=256)
  f, t = run_graph(y, cfg), run_graph(y, cfg, functional=False)
  assert f.correct is True and t.correct is None and t.accuracy is None
  key = lambda r: [(k.name, k.stats.cycles, k.stats.dram_bytes, k.stats.compulsory_dram_bytes, k.core_macs) for k in r.kernels]
  assert key(f) == key(t)
  if net == "cnn":   # batch split: every core's slice is one shared program in timing-only mode, four programs otherwise
    assert len({id(p) for p in t.kernels[0].program.parts}) == 1 and len({id(p) for p in f.kernels[0].program.parts}) == 4

def test_gemm_grid_when_no_axis_feeds_every_core():
  """M and N have 2 row/column granules each on 4 tiny cores: a 2 x 2 grid of boxes (each core its rows of A and
  columns of B, the epilogue's columns and a fused residual's box), bit-exact and faster than the one-axis cut."""
  from tinyaccel.compiler.gemm import Epilogue
  from tinyaccel.compiler.partition import grid, partition_gemm
  cfg = load_config("tiny", cores=4, dram_channels=4)
  pm, pn = grid(load_config("petaflop"), 8, 6)        # BERT's 1024 x 768 outputs on 32 cores of 128 x 128: 2 granules a core, 24 cores
  assert grid(cfg, 2, 2) == (2, 2) and -(-8 // pm) * -(-6 // pn) == 2 and pm * pn == 24
  rng = np.random.default_rng(5)
  A, B = rng.integers(-128, 128, (8, 9), dtype=np.int8), rng.integers(-128, 128, (9, 7), dtype=np.int8)
  ep = Epilogue(bias=rng.integers(-500, 500, 7).astype(np.int32), relu=True)
  prog = partition_gemm(cfg, 8, 9, 7, A, B, ep)
  assert isinstance(prog, Partition) and len(prog.parts) == 4
  assert sorted(prog.regions) == [((0, 1), (0, 4), (0, 4)), ((0, 1), (0, 4), (4, 7)), ((0, 1), (4, 8), (0, 4)), ((0, 1), (4, 8), (4, 7))]
  want = np.maximum(A.astype(np.int32) @ B.astype(np.int32) + ep.bias, 0)
  r = run_kernel(cfg, prog)
  assert r.correct and np.array_equal(prog.reference().reshape(8, 7), want)
  one_axis = run_kernel(load_config("tiny", cores=2, dram_channels=2), partition_gemm(load_config("tiny", cores=2, dram_channels=2), 8, 9, 7, A, B, ep))
  assert r.result.cycles < one_axis.result.cycles
