"""A functional decode (flow/llm_functional.py): a scaled-down Llama (2 layers, d 256, 4 query / 2 KV heads, SwiGLU 512,
vocab 1024) prefilled with 8 tokens, then 4 decode steps, every kernel bit-exact on the model; logits against float32.

The cosine floor: measured 0.9983 (worst sequence, worst step) with static per-tensor activation scales calibrated on the
prompt only. Each of the ~14 int8 requantization points of a layer adds uniform noise of 1/sqrt(12) of a step against a
max-calibrated signal (rms ~ 1/4 of max: -> ~0.2 % rms each); over two layers and the head that is a cosine loss of
~1e-3, so 0.995 fails on a real numerical bug (a wrong scale or rounding shows up as 0.9 or worse) and not on noise."""
import numpy as np

from tinyaccel.arch.config import load_config
from tinyaccel.flow.llm_functional import FunctionalDecoder, float_forward, functional_decode, random_weights
from tinyaccel.workloads.llama import MODELS


def test_functional_decode_bit_exact_and_close_to_float():
  r = functional_decode(load_config("edge"), MODELS["tiny_decoder"], batch=2, prompt=8, steps=4)
  assert r["bit_exact"] and r["kernels"] == 5 * (2 * 14 + 2)        # per forward: 14 kernels a layer, final norm, LM head
  assert [s["position"] for s in r["steps"]] == [7, 8, 9, 10, 11] and r["ctx"] == 32
  assert all(s["cosine"] > 0.995 for s in r["steps"]), [s["cosine"] for s in r["steps"]]
  dec = [s["cycles"] for s in r["steps"][1:]]
  assert len(set(dec)) == 1 and dec[0] < r["steps"][0]["cycles"]   # a static cache bucket: every decode step the same program timing

def test_kv_cache_append_at_position():
  cfg, m = load_config("edge"), MODELS["tiny_decoder"]
  W = random_weights(m, 3); toks = np.random.default_rng(4).integers(0, m.vocab, (1, 5))
  _, amax = float_forward(m, W, toks)
  d = FunctionalDecoder(cfg, m, W, 1, 32, {k: v / 127 for k, v in amax.items()})
  d.forward(toks[:, :4])
  assert d.filled == 4 and (d.V[:, :, 4:] == 0).all() and (d.Kt[..., 4:] == 0).all() and d.V[:, :, :4].any()
  d.forward(toks[:, 4:])
  assert d.filled == 5 and d.V[:, :, 4].any() and (d.V[:, :, 5:] == 0).all() and d.Kt[..., 4].any()
