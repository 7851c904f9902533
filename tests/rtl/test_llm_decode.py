"""An LLM decode step on the RTL (flow.verify.verify_decode): a scaled-down Llama (d 16, 2 query / 1 KV head of 8,
SwiGLU 32, vocab 64) on the tiny preset; the prompt prefilled on the model, then every kernel of the decode step
(RMSNorm, qkv, RoPE of Q and K at position p, Q·Kᵀ against the int8 KV cache in DRAM, the masked softmax, P·V, o, the
residual adds, gate_up, SwiGLU, down, the final norm, the LM head) runs on model and RTL: the same DRAM image, the same
(start, end) for every instruction, the integer reference's output."""
import dataclasses
import shutil

import pytest

from tinyaccel.arch.config import load_config
from tinyaccel.flow.verify import verify_decode
from tinyaccel.workloads.llama import MODELS

pytestmark = pytest.mark.skipif(not shutil.which("iverilog"), reason="Icarus Verilog is not installed (make hw-deps)")

LAYER = ["attn_norm", "qkv", "rope_q", "rope_k", "q·kᵀ", "softmax", "p·v", "o", "attn_residual", "mlp_norm", "gate_up", "swiglu", "down", "mlp_residual"]

def check(r, layers, steps):
  assert r["correct"] and r["outputs_match"] and r["cycles_match"], r["first_divergence"]
  assert [k["name"] for k in r["kernels"]] == (LAYER * layers + ["final_norm", "lm_head"]) * steps
  assert r["model_cycles"] == r["rtl_cycles"] == sum(r["decode_cycles"]) > 0
  assert all(c > 0.8 for c in r["cosine"]), r["cosine"]   # d 16, int8 everywhere: a coarse model (measured 0.85-0.9996); accuracy is tested at d 256 (test_llm_functional)

def test_decode_step_on_the_rtl():
  """One layer (the 2-layer model's first), batch 1, prompt 4 in a ctx-8 bucket, one decode step at position 4: 16 kernels
  (~1.3 s each under Icarus, mostly the simulator's start)."""
  r = verify_decode(dataclasses.replace(MODELS["rtl_decoder"], layers=1), load_config("tiny"), batch=1, prompt=4, steps=1)
  check(r, 1, 1)
  assert r["ctx"] == 8 and r["rtl_cycles"] == 4157              # model = RTL (docs/llm.md; 4,360 before RESCALE/ADDRS and the masked softmax per block, 4,405 before the block softmax)

@pytest.mark.slow
def test_decode_steps_on_the_rtl_two_layers_batch_2():
  """Both layers, two sequences, prompt 5, three decode steps (positions 5, 6, 7: the bucket's last): 90 kernels."""
  r = verify_decode(MODELS["rtl_decoder"], load_config("tiny"), batch=2, prompt=5, steps=3)
  check(r, 2, 3)
  assert len(set(r["decode_cycles"])) == 1                          # a static bucket: every step the same timing
