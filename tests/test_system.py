"""Systems of chips (arch/system.py) and LLM phases across them (flow/system.py): the link formulas against hand-computed
numbers, tp=1 equal to the single chip, a tp shard equal to a direct run of its shapes, the pipeline's flow shop, scaling
over 1, 2, 4 and 8 chips with compute + links + waiting = the total, and one-line errors."""
import json
import subprocess
import sys

import pytest

from tinyaccel.arch.config import ConfigError
from tinyaccel.arch.system import SystemConfig, all_gather, all_reduce, load_system, point_to_point, system_from_dict, system_presets, validate
from tinyaccel.flow.llm import layer_stats, run_phase
from tinyaccel.flow.system import PartitionError, run_system, stages
from tinyaccel.reports.cost import constants, cost_report
from tinyaccel.workloads.llama import Matmul, VectorKernel

# 4 chips, 100 GB/s per direction, 2 us a message; n = 1 MB
RING, SWITCH = (SystemConfig(chip="edge", chips=4, link_gb_per_s=100.0, link_latency_us=2.0, topology=t, form_factor="chip") for t in ("ring", "switch"))
N = 1_000_000

@pytest.mark.parametrize("s,ar,ag", [(RING, 15e-6 + 12e-6, 7.5e-6 + 6e-6), (SWITCH, 15e-6 + 4e-6, 7.5e-6 + 2e-6)])
def test_link_formulas(s, ar, ag):
  # all-reduce: 2(p-1)/p n / B = 1.5 MB / 100 GB/s = 15 us, + 2(p-1) = 6 latencies (ring) or 2 (switch); all-gather half the bytes,
  # (p-1) = 3 latencies or 1; point to point: n / B + one latency = 12 us on either
  r, g, p = all_reduce(s, N), all_gather(s, N), point_to_point(s, N)
  assert r.seconds == pytest.approx(ar, rel=1e-12) and r.link_bytes == 1.5e6 and r.latency_seconds == pytest.approx(ar - 15e-6)
  assert g.seconds == pytest.approx(ag, rel=1e-12) and g.link_bytes == 750_000 and g.bandwidth_seconds == pytest.approx(7.5e-6)
  assert p.seconds == pytest.approx(12e-6) and p.link_bytes == N
  assert all_reduce(s, N, 1).seconds == 0 and all_gather(s, N, 1).link_bytes == 0
  assert all_reduce(s, N, 2).seconds == pytest.approx(N / 1e11 + 2 * 2e-6)   # p = 2: both topologies alike

def test_presets_and_their_basis():
  assert system_presets() == ["petaflop_box8", "petaflop_ring8", "petaflop_tinybox6"]
  c = constants()
  box, tb = load_system("petaflop_box8"), load_system("petaflop_tinybox6")
  assert (box.chips, box.topology, box.link_gb_per_s, box.link_latency_us) == (8, "switch", c["nvlink_gb_per_s"], c["link_latency_us"])
  assert (tb.chips, tb.link_gb_per_s, tb.chip_config().form_factor_cards) == (6, c["pcie4_x16_gb_per_s"], 6)
  assert load_system("petaflop_ring8").topology == "ring"
  assert load_system("petaflop_box8", chips=2).chips == 2
  # a system's cost is its chips times the chip's cost in its form factor: the tinybox's six cards share one tinybox host
  host = cost_report(tb.chip_config())["system_cost_usd"]["host"]
  assert host * 6 == pytest.approx(c["tinybox_host_usd"])

@pytest.mark.parametrize("d,words", [
  (dict(chips=0), "chips=0: must be between 1 and 1024"),
  (dict(link_gb_per_s=-1.0), "link_gb_per_s=-1.0: must be in (0, 1e6]"),
  (dict(link_latency_us=float("nan")), "link_latency_us=nan"),
  (dict(topology="mesh"), "topology='mesh': must be one of ring, switch"),
  (dict(form_factor="rack"), "form_factor='rack'"),
  (dict(chip="nope"), "chip='nope': no config 'nope'"),
  (dict(chips=True), "chips=True: must be of type int"),
  (dict(chip_s=2), "unknown field 'chip_s': did you mean 'chips'?"),
  (dict(form_factor="tinybox", chips=65), "a tinybox holds at most 64 cards"),
])
def test_validation(d, words):
  with pytest.raises(ConfigError) as e: system_from_dict(d, "bad")
  assert words in str(e.value) and "\n" not in str(e.value)

def test_tp1_equals_the_single_chip():
  """One chip, tp = pp = 1: the same kernels, the same cycles, the same seconds as flow/llm on the chip (decode and prefill)."""
  s = validate(SystemConfig(chip="edge", chips=1, form_factor="chip"))
  for phase, b, ctx in (("decode", 2, 128), ("prefill", 1, 64)):
    one, sysr = run_phase(s.chip_config(), "tiny_decoder", phase, b, ctx), run_system(s, "tiny_decoder", phase, b, ctx)
    assert [(n, st.cycles) for n, st in sysr.layer] == [(n, st.cycles) for n, st in one.layer]
    assert sysr.head.cycles == one.head.cycles and sysr.seconds == one.stats.seconds
    assert sysr.report["link_seconds"] == 0 and sysr.report["wait_seconds"] == 0 and sysr.report["tokens_per_s"] == one.report["tokens_per_s"]

def test_tp2_shard_is_a_direct_run_of_the_half_shapes():
  """tiny_decoder (d 256, 4 query / 2 KV heads of 64, ffn 512) over tp = 2, decode batch 2, ctx 128: each chip's kernels
  have exactly the cycles of the half-width shapes written out by hand (o and down: int32 partial sums)."""
  s = validate(SystemConfig(chip="edge", chips=2, form_factor="chip"))
  r = run_system(s, "tiny_decoder", "decode", 2, 128)
  assert (r.tp, r.pp) == (2, 1)
  mms = [Matmul("qkv", 1, 2, 256, 4 * 64, 0), Matmul("q·kᵀ", 2, 2, 64, 128, 0), Matmul("p·v", 2, 2, 128, 64, 0),
         Matmul("o", 1, 2, 128, 256, 0, partial=True), Matmul("gate_up", 1, 2, 256, 512, 0), Matmul("down", 1, 2, 256, 256, 0, partial=True)]
  vks = [VectorKernel("attn_norm", "rmsnorm", 2, 256), VectorKernel("rope", "rope", 2, 4 * 64, 3), VectorKernel("attn_residual", "add", 2, 256),
         VectorKernel("mlp_norm", "rmsnorm", 2, 256), VectorKernel("swiglu", "swiglu", 2, 256), VectorKernel("mlp_residual", "add", 2, 256)]
  direct = layer_stats(s.chip_config(), r.model, "decode", 2, 128, mms, vks, 2 * 2)
  assert [(n, st.cycles) for n, st in r.layer] == [(n, st.cycles) for n, st in direct]
  full = run_phase(s.chip_config(), "tiny_decoder", "decode", 2, 128)
  assert sum(st.cycles for _, st in r.layer) < sum(st.cycles for _, st in full.layer)
  # two all-reduces a layer of 2 tokens x 256 x 4 bytes: per link 2(p-1)/p n = n, at 450 GB/s with 2 latencies each
  ar = 2 * 256 * 4 / 450e9 + 2e-6
  st = r.report["stages"][0]
  assert st["link_s"] + st["latency_s"] == pytest.approx(2 * 2 * ar + (2 * 1024 / 2 / 450e9 + 1e-6), rel=1e-9)   # + the logits' all-gather
  assert r.report["link_bytes_per_step"] == 2 * 2 * 2048 + 1024

def test_pipeline_is_a_flow_shop():
  """pp = 2, 2 microbatches: T = d0 + d1 + (m - 1) max(d); waiting = the sends' latency + the bubble (the other stage's d)."""
  s = validate(SystemConfig(chip="edge", chips=2, form_factor="chip"))
  r = run_system(s, "tiny_decoder", "decode", 4, 128, tp=1, pp=2).report
  assert (r["tp"], r["pp"], r["microbatches"], r["stage_layers"]) == (1, 2, 2, [1, 1])
  d = [x["seconds"] for x in r["stages"]]
  assert r["seconds"] == pytest.approx(sum(d) + max(d)) and r["wait_bubble_seconds"] == pytest.approx(min(d))
  assert r["stages"][0]["link_bytes"] == 2 * 256 and r["stages"][1]["link_bytes"] == 0      # 2 tokens x d int8 to stage 1
  assert stages(80, 3) == [27, 27, 26] and stages(12, 8) == [2, 2, 2, 2, 1, 1, 1, 1]

def test_scaling_1_2_4_8_chips():
  """Llama-3.2-1B decode, batch 8, ctx 2048 on petaflop_box8 with 1, 2, 4, 8 chips (tp = chips): compute + links + waiting
  is the total, one chip spends nothing in links, more chips are faster, the per-chip shard shrinks."""
  out = {}
  for chips in (1, 2, 4, 8):
    r = run_system(load_system("petaflop_box8", chips=chips), "llama3_1b", "decode", 8, 2048).report
    assert r["tp"] == chips and r["compute_seconds"] + r["link_seconds"] + r["wait_seconds"] == pytest.approx(r["seconds"], rel=1e-12)
    assert r["compute_fraction"] + r["link_fraction"] + r["wait_fraction"] == pytest.approx(1.0)
    out[chips] = r
  assert out[1]["link_seconds"] == 0 and out[1]["wait_seconds"] == 0 and out[1]["link_bytes_per_step"] == 0
  assert [out[c]["seconds"] for c in (1, 2, 4, 8)] == sorted((out[c]["seconds"] for c in (1, 2, 4, 8)), reverse=True)
  assert [out[c]["chip_layer_cycles"] for c in (1, 2, 4, 8)] == sorted((out[c]["chip_layer_cycles"] for c in (1, 2, 4, 8)), reverse=True)
  # switch: per layer 2 all-reduces, each 2 latencies: 16 layers x 4 us = 64 us, + the LM head's all-gather (1 us)
  assert out[8]["wait_latency_seconds"] == pytest.approx(65e-6)
  assert out[8]["system_cost_usd"]["total"] == pytest.approx(8 * out[1]["system_cost_usd"]["total"])

@pytest.mark.parametrize("kw,words", [(dict(tp=3), "--tp 3: must divide the 8 chips"), (dict(tp=2, pp=2), "must equal the 8 chips"),
                                      (dict(tp=1, pp=8, microbatches=3), "--microbatches 3: must divide the batch 8")])
def test_partition_errors(kw, words):
  with pytest.raises(PartitionError) as e: run_system(load_system("petaflop_box8"), "llama3_1b", "decode", 8, 2048, **kw)
  assert words in str(e.value)

def test_ring_rejects_2d_and_gpt2_tp():
  with pytest.raises(PartitionError, match="a ring takes tp = 8 or pp = 8"): run_system(load_system("petaflop_ring8"), "llama3_1b", "decode", 8, 2048, tp=4, pp=2)
  with pytest.raises(PartitionError, match="must divide gpt2_decoder's 12 heads"): run_system(load_system("petaflop_box8"), "gpt2_decoder", "decode", 8, 1024, tp=8, pp=1)

def test_cli_system_json_and_errors(tmp_path):
  cli = lambda *a: subprocess.run([sys.executable, "-m", "tinyaccel.cli", "run", "llama3_1b", "--phase", "decode", "--batch", "8", *a], capture_output=True, text=True)
  p = cli("--system", "petaflop_box8", "--chips", "2", "--json", "-")
  assert p.returncode == 0, p.stderr
  r = json.loads(p.stdout)
  assert (r["chips"], r["tp"], r["pp"]) == (2, 2, 1) and {"compute_seconds", "link_seconds", "wait_seconds", "link_bytes_per_step", "tokens_per_s_per_usd"} <= set(r)
  bad = tmp_path / "bad.toml"; bad.write_text('chip = "petaflop"\nchips = 4\ntopology = "torus"\n')
  for args, words in ((("--system", "petaflop_box8", "--tp", "3"), "--tp 3"), (("--system", str(bad)), "topology='torus'"), (("--tp", "2"), "need --system"),
                      (("--system", "petaflop_box8", "--pp", "0"), "--pp 0: must be >= 1")):
    p = cli(*args)
    assert p.returncode == 2 and words in p.stderr and len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)

def test_prefill_tp_pp_sums_and_multicore_chip():
  """A prefill over tp = 2 x pp = 2 sums like a decode step; and the chip under a shard is the whole multi-core chip: a
  2-core edge (one channel per core) runs the one-chip decode step faster than 1 core, within its chip DRAM bound."""
  s = validate(SystemConfig(chip="edge", chips=4, form_factor="chip"))
  r = run_system(s, "tiny_decoder", "prefill", 2, 64, tp=2, pp=2).report
  assert (r["tp"], r["pp"], r["microbatches"]) == (2, 2, 2) and r["time_to_first_token_s"] == r["seconds"]
  assert r["compute_seconds"] + r["link_seconds"] + r["wait_seconds"] == pytest.approx(r["seconds"], rel=1e-12)
  assert r["stages"][0]["link_bytes"] == 2 * (64 * 256 * 4) + 64 * 256     # a microbatch, 1 layer: 2 all-reduces of 64 int32 rows (n per link at p = 2), the int8 send
  from tinyaccel.arch.config import load_config
  one, two = (run_phase(load_config("edge", cores=c, dram_channels=c), "tiny_decoder", "decode", 2, 128) for c in (1, 2))
  assert two.stats.cycles < one.stats.cycles and 1 <= two.report["cycles_vs_dram_bound"]
  assert two.report["dram_bandwidth_utilization"] <= 1
