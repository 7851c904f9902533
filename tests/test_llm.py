"""LLM serving phases (docs/llm.md): published parameter counts, the decode step's DRAM bound on the decode preset, the CLI."""
import json
import subprocess
import sys

import pytest

from tinyaccel.arch.config import load_config
from tinyaccel.flow.llm import _matmul_stats, h200_rows, run_phase
from tinyaccel.workloads.llama import MODELS, Matmul, decode_matmuls


@pytest.mark.parametrize("name,params", [("llama3_1b", 1_235_814_400), ("llama3_8b", 8_030_261_248), ("gpt2_decoder", 124_439_808),
                                         ("llama3_70b", 70_553_706_496)])     # Llama-3.1-70B: "70.6B" on its model card
def test_published_parameter_counts(name, params):
  assert MODELS[name].params() == params

def test_kv_cache_bytes():
  # Llama-3.1-8B: 32 layers x 8 KV heads x 128 x (K and V) = 65,536 int8 bytes per position
  assert MODELS["llama3_8b"].kv_cache_bytes(1, 2048) == 2048 * 65536

def test_gqa_shares_kv_heads():
  mm = {m.name: m for m in decode_matmuls(MODELS["llama3_8b"], 2, 1024)}
  assert (mm["q·kᵀ"].batch, mm["q·kᵀ"].M, mm["q·kᵀ"].N) == (2 * 8, 4, 1024)        # per (sequence, KV head): its 4 query heads
  assert (mm["p·v"].batch, mm["p·v"].M, mm["p·v"].N) == (2, 32, 1024)              # all heads against the whole V row
  assert mm["p·v"].useful_macs * 8 == mm["p·v"].batch * mm["p·v"].M * mm["p·v"].K * mm["p·v"].N

def test_weights_stream_at_dram_rate_only_with_wide_columns():
  """A batch-1 matrix-vector GEMM: edge's ws array takes one 32-byte weight row per cycle (half its 64 B/cycle DRAM), decode's 256 B rows match its DRAM."""
  mm = Matmul("w", 1, 1, 4096, 4096, 4096 * 4096)
  edge, dec = _matmul_stats(load_config("edge"), mm), _matmul_stats(load_config("decode"), mm)
  assert 1.9 < edge.cycles / edge.dram_bound_cycles < 2.2
  assert dec.cycles / dec.dram_bound_cycles < 1.15

def test_decode_step_meets_dram_bound_and_batch_turns_compute_bound():
  """issue 18's Done-when: Llama-3.1-8B at ctx 2048 within 1.15x of weights + KV bytes / bandwidth at batch 1, 8 and 32 (docs/llm.md)."""
  cfg = load_config("decode")
  runs = {b: run_phase(cfg, "llama3_8b", "decode", b, 2048) for b in (1, 8, 32)}
  assert [round(r.report["cycles_vs_dram_bound"], 3) for r in runs.values()] == [1.042, 1.063, 1.107]
  h = runs[8].report["h200"][0]                                     # the H200 row of the same shape, priced at its cited cost and price
  assert (h["batch"], h["cost_usd"], h["price_usd"]) == (8, 4800, 39083.38) and h["tokens_per_s_per_usd"] == pytest.approx(h["tokens_per_s"] / 4800)
  run = runs[1]
  assert run.stats.cycles == 32 * sum(s.cycles for _, s in run.layer) + run.head.cycles
  assert run_phase(cfg, "llama3_1b", "decode", 1, 2048).report["cycles_vs_dram_bound"] < 1.15  # smaller GEMMs: 1.10 (docs/llm.md)
  # a weight fold costs max(batch, rows) cycles on each of the 2 cores: DRAM-bound up to batch rows x cores x cols / 256 B = 128
  w = {M: _matmul_stats(cfg, Matmul("w", 1, M, 4096, 4096, M * 4096 * 4096)) for M in (128, 256)}
  assert w[128].cycles < 1.1 * w[128].dram_bound_cycles and w[256].cycles > 1.8 * w[256].dram_bound_cycles

def test_vector_kernels_are_timed():
  """RMSNorm, RoPE, SwiGLU's product and the residual adds run on the vector unit inside the step's cycles (GPT-2: LayerNorm, GELU epilogue)."""
  r = run_phase(load_config("decode"), "tiny_decoder", "decode", 2, 256)
  names = [k["name"] for k in r.report["layer_kernels"]]
  assert names == ["attn_norm", "qkv", "rope", "q·kᵀ", "softmax", "p·v", "o", "attn_residual", "mlp_norm", "gate_up", "swiglu", "down", "mlp_residual"]
  assert all(k["cycles"] > 0 for k in r.report["layer_kernels"])
  assert not any(w in " ".join(r.report["workload"]["not_modelled"]) for w in ("rmsnorm", "swiglu", "residual"))
  assert r.stats.cycles == 2 * sum(s.cycles for _, s in r.layer) + r.head.cycles
  g = [k["name"] for k in run_phase(load_config("decode"), "gpt2_decoder", "decode", 1, 256).report["layer_kernels"]]
  assert g == ["attn_norm", "qkv", "q·kᵀ", "softmax", "p·v", "o", "attn_residual", "mlp_norm", "up", "down", "mlp_residual"]

def test_h200_rows_same_shape_first():
  r = h200_rows("llama3_8b", "decode", 8, 2048)[0]
  assert (r["batch"], r["ctx"], round(r["tokens_per_s"])) == (8, 2048, 1385)

def _cli(*args):
  return subprocess.run([sys.executable, "-m", "tinyaccel.cli", *args], capture_output=True, text=True)

def test_cli_decode_and_prefill(tmp_path):
  p = _cli("run", "tiny_decoder", "--phase", "decode", "--batch", "2", "--ctx", "512", "--config", "decode", "--json", str(tmp_path / "d.json"))
  assert p.returncode == 0, p.stderr
  r = json.loads((tmp_path / "d.json").read_text())
  for k in ("tokens_per_s", "ms_per_token", "kv_cache_bytes", "dram_bandwidth_utilization", "cycles_vs_dram_bound", "tokens_per_s_per_usd", "tokens_per_j", "perf_basis"):
    assert k in r
  p = _cli("run", "tiny_decoder", "--phase", "prefill", "--prompt", "256", "--config", "decode", "--json", str(tmp_path / "p.json"))
  assert p.returncode == 0, p.stderr
  assert json.loads((tmp_path / "p.json").read_text())["time_to_first_token_s"] > 0

def test_cli_bad_input():
  p = _cli("run", "tiny_decoder", "--phase", "decode", "--ctx", "100", "--config", "decode")
  assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
  p = _cli("run", "nosuch", "--phase", "decode", "--config", "decode")
  assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1

def test_generate_samples_decode_at_context_buckets():
  """prefill of 256 then 300 output tokens: 299 decode steps at contexts 257..555, in the 512 and 768 buckets of cols=256."""
  from tinyaccel.flow.llm import run_generate
  cfg = load_config("decode")
  g = run_generate(cfg, "tiny_decoder", 2, 256, 300)
  r = g.report
  assert [(b["ctx"], b["steps"]) for b in r["buckets"]] == [(512, 256), (768, 43)] and r["bucket_positions"] == 256
  step = {c: run_phase(cfg, "tiny_decoder", "decode", 2, c).stats.seconds for c in (512, 768)}
  assert r["decode_seconds"] == pytest.approx(256 * step[512] + 43 * step[768])
  assert r["time_to_first_token_s"] == run_phase(cfg, "tiny_decoder", "prefill", 2, 256).stats.seconds
  assert r["time_per_output_token_s"] == pytest.approx(r["decode_seconds"] / 299)
  assert r["tokens_per_s"] == pytest.approx(600 / (r["time_to_first_token_s"] + r["decode_seconds"]))
  assert "SAMPLED" in r["workload"]["method"] and step[768] > step[512]       # the cache grows: later buckets cost more

def test_generate_bucket_count_is_capped():
  from tinyaccel.flow.llm import _buckets
  size, b = _buckets(load_config("decode"), 257, 4000, 8)
  assert size == 512 and len(b) == 8 and sum(n for _, n in b) == 4000 - 257 + 1

def test_cli_generate(tmp_path):
  p = _cli("run", "tiny_decoder", "--phase", "generate", "--prompt", "256", "--tokens", "8", "--config", "decode", "--json", str(tmp_path / "g.json"))
  assert p.returncode == 0, p.stderr
  assert "SAMPLED" in p.stdout and "time to first" in p.stdout
  r = json.loads((tmp_path / "g.json").read_text())
  assert r["output_tokens"] == 8 and r["buckets"][0]["steps"] == 7 and r["time_per_output_token_s"] > 0 and r["tokens_per_j"] > 0
  p = _cli("run", "tiny_decoder", "--phase", "decode", "--tokens", "8", "--config", "decode")
  assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
  p = _cli("run", "tiny_decoder", "--phase", "generate", "--prompt", "100", "--config", "decode")
  assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
