"""One program per network (issue 19): the DRAM planner (compiler/plan.py), the linker (compiler/link.py) and the flow's
one-program run (flow/run.run_linked): bit-exact, exact cycles, faster than kernel by kernel."""
import itertools

from netprog_nets import attention, residual_cnn
import numpy as np
import pytest

from tinyaccel.arch.config import load_config
from tinyaccel.compiler.link import link
from tinyaccel.compiler.plan import Buffer, plan_memory
from tinyaccel.flow import run_graph


def _no_live_overlap(plan):
  for a, b in itertools.combinations(plan.placements.values(), 2):
    if a.buffer.live_with(b.buffer): assert a.end <= b.addr or b.end <= a.addr, (a, b)

def test_plan_reuses_dead_buffers_exactly():
  """Largest first: a1 (live 1..2) at 0; a2 (2..3) after it; w0 (dead after step 0) inside a1's bytes, a0 (0..1) inside a2's."""
  bufs = [Buffer("w0", 100, 0, 0), Buffer("a0", 64, 0, 1), Buffer("a1", 200, 1, 2), Buffer("a2", 150, 2, 3)]
  p = plan_memory(bufs)
  assert {n: q.addr for n, q in p.placements.items()} == {"a1": 0, "a2": 256, "w0": 0, "a0": 256}
  assert (p.size, p.naive_bytes, p.peak_live_bytes) == (448, 640, 350)
  _no_live_overlap(p)

def test_plan_random_never_overlaps_live_buffers():
  rng = np.random.default_rng(0)
  for _ in range(50):
    bufs = []
    for i in range(int(rng.integers(1, 30))):
      f = int(rng.integers(0, 10)); bufs.append(Buffer(f"b{i}", int(rng.integers(1, 5000)), f, f + int(rng.integers(0, 5))))
    p = plan_memory(bufs)
    _no_live_overlap(p)
    assert p.peak_live_bytes <= p.size <= p.naive_bytes
    assert all(q.addr % 64 == 0 for q in p.placements.values())

def test_plan_rejects_duplicate_names():
  with pytest.raises(ValueError): plan_memory([Buffer("a", 1, 0, 0), Buffer("a", 1, 0, 0)])

@pytest.mark.parametrize("net, cfg, kinds, per_kernel, one", [
  (residual_cnn, dict(acc_kib=8), ["conv", "conv", "conv", "maxpool", "gemm"], 8867, 8654),
  (attention, {}, ["gemm", "gemm", "gemm", "softmax", "gemm", "gemm"], 1956, 1907),          # ws: Kᵀ read by transpose_b MATMULs
  (attention, {"dataflow": "os"}, ["gemm", "gemm", "copy2", "gemm", "softmax", "gemm", "gemm"], 2105, 2088),   # os: the Kᵀ copy kernel
])
def test_one_program_bit_exact_and_faster(net, cfg, kinds, per_kernel, one):
  """A small CNN with a residual block (the add fused into its conv) and an attention block, each ONE program on tiny:
  the network output equals the integer reference, the cosine vs float32 is the kernel-by-kernel run's, the cycles are
  exact and below the kernel-by-kernel sum; the kernels' spans minus their overlap add up to the whole."""
  c = load_config("tiny", **cfg)
  a, b = run_graph(net(), c), run_graph(net(), c, one_program=True)
  assert a.correct and b.correct
  assert np.array_equal(a.output, b.output) and a.accuracy == b.accuracy
  assert [k.name for k in b.kernels] == kinds
  assert (a.stats.cycles, b.stats.cycles) == (per_kernel, one)
  at = b.attribution
  assert at["sum_of_kernel_cycles"] - at["overlap_cycles"] + at["gap_cycles"] == at["cycles"] == one
  assert sum(k.overlap_cycles for k in b.kernels) == at["overlap_cycles"] > 0
  assert at["linked_bytes"] > 0 and at["image_bytes"] < at["naive_image_bytes"]
  assert run_graph(net(), c, functional=False, one_program=True).stats.cycles == one   # timing only: the same program's cycles
  assert b.compile_seconds > 0 and b.simulate_seconds > 0

def test_bert_layer_one_program_bit_exact():
  """A small BERT layer (attention with Kᵀ read by transpose_b MATMULs, the head-merge copy, two layernorms whose per-column vectors lie past their output,
  GELU, residuals fused into GEMMs) as one program on edge: bit-exact, the residual read from the layernorm's buffer."""
  from tinyaccel.workloads.bert import bert
  c = load_config("edge")
  mk = lambda: bert(layers=1, seq=32, hidden=64, heads=2, ffn=128)
  a, b = run_graph(mk(), c), run_graph(mk(), c, one_program=True)
  assert a.correct and b.correct and np.array_equal(a.output, b.output) and a.accuracy == b.accuracy
  assert (a.stats.cycles, b.stats.cycles) == (12671, 12481)
  assert run_graph(mk(), c, functional=False, one_program=True).stats.cycles == 12481

def test_linked_program_without_overlap_is_serial():
  """overlap off: full barriers, every kernel's span after the previous one's (no overlap), bit-exact."""
  from tinyaccel.compiler.schedule import GraphLowering
  from tinyaccel.flow.run import timing_cycles
  from tinyaccel.sim.model import Machine, run
  c = load_config("tiny")
  g = GraphLowering(attention(), c, lambda p: timing_cycles(c, p))
  lows, outs = [], []
  for i in range(len(g.kernels)):
    *cs, main = g.lower(i)
    lows += cs + [main]; outs += [x.program.reference() for x in cs + [main]]
    g.bind(i, main, outs[-1])
  ks = [x.program for x in lows]
  for overlap in (False, True):
    ln = link(ks, outs, overlap=overlap)
    m = Machine(c, ln.dram.copy())
    r = run(c, ln.program, machine=m)
    assert np.array_equal(ks[-1].read(ln.local(len(ks) - 1, ks, m.dram)), ks[-1].reference())
    spans = [(min(t[3] for t in r.trace[lo:hi]), max(t[4] for t in r.trace[lo:hi])) for lo, hi in ln.spans]
    serial = all(s >= e for (_, e), (s, _) in zip(spans, spans[1:]))
    assert serial != overlap
    if not overlap: assert r.cycles > 1956    # the kernel-by-kernel sum plus the barriers' token hand-offs

def test_cli_one_program_json(tmp_path):
  """`run NET --one-program --json`: the kernel rows keep their keys and add the trace spans; the report explains the
  whole and times compile and simulation apart; a multi-core chip is refused in one line (exit 2)."""
  import json
  import subprocess
  import sys
  run = lambda *a: subprocess.run([sys.executable, "-m", "tinyaccel.cli", "run", "mlp", *a], capture_output=True, text=True)
  p = run("--config", "edge", "--one-program", "--json", str(tmp_path / "one.json"))
  assert p.returncode == 0, p.stderr
  q = run("--config", "edge", "--json", str(tmp_path / "per.json"))
  one, per = (json.loads((tmp_path / f).read_text()) for f in ("one.json", "per.json"))
  assert one["correct"] is True and (one["cycles"], per["cycles"]) == (11206, 11343)
  assert set(per["kernels"][0]) | {"start", "end", "overlap_cycles"} == set(one["kernels"][0])
  a = one["one_program"]
  assert a["sum_of_kernel_cycles"] - a["overlap_cycles"] + a["gap_cycles"] == one["cycles"]
  assert [k["end"] - k["start"] for k in one["kernels"]] == [k["cycles"] for k in one["kernels"]]
  assert all(r["compile_seconds"] > 0 and r["simulate_seconds"] > 0 for r in (one, per)) and q.returncode == 0
  m = run("--config", "petaflop", "--one-program", "--timing-only")
  assert m.returncode == 2 and len(m.stderr.strip().splitlines()) == 1 and "single-core" in m.stderr
