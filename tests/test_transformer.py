"""Transformers on the accelerator: GELU in the GEMM epilogue, batched matmuls, copy kernels, the causal
softmax, and BERT / GPT-2 at their published shapes (counted) and at small widths (run bit-exact)."""
import math

import numpy as np
import pytest

from tinyaccel.arch.config import load_config
from tinyaccel.arch.vector import quantize_multipliers
from tinyaccel.compiler import gelu as G
from tinyaccel.compiler.copy import compile_copy, dma_readable
from tinyaccel.compiler.gemm import Epilogue, compile_gemm
from tinyaccel.compiler.layernorm import compile_layernorm
from tinyaccel.compiler.program import CompileError
from tinyaccel.compiler.schedule import GemmKernel, LayerNormKernel, SoftmaxKernel, schedule
from tinyaccel.compiler.softmax import compile_softmax
from tinyaccel.compiler.tensor import Tensor
from tinyaccel.flow import run_graph
from tinyaccel.sim.model import Machine, run
from tinyaccel.workloads import WORKLOADS
from tinyaccel.workloads.bert import bert, layer_macs, layer_params
from tinyaccel.workloads.gpt2 import gpt2


def gelu(x): return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))

def run_prog(cfg, c):
  mach = Machine(cfg, c.dram.copy()); run(cfg, c.program, machine=mach)
  return c.read(mach.dram)

def test_integer_gelu_tracks_float_gelu():
  x = np.linspace(-12, 12, 20001)
  for s_acc in (1e-5, 3e-4, 0.01):                        # fine and coarse accumulator scales (F = 16, 11, 6)
    acc = np.round(x / s_acc).astype(np.int64)
    m, sh, F = G.params(np.full(4, s_acc))
    got = G.reference(acc[:, None].repeat(4, 1), m, sh, F)[:, 0] * s_acc
    assert np.abs(got - gelu(acc * s_acc)).max() < 2e-5 + s_acc      # the table's 9e-6, x's step and the accumulator's own rounding
  with pytest.raises(ValueError, match="too coarse"): G.params(np.full(4, 0.05))

def test_gelu_epilogue_is_bit_exact_and_close_to_float():
  rng = np.random.default_rng(0)
  for preset, (M, K, N) in (("tiny", (9, 40, 20)), ("edge", (70, 96, 100))):
    cfg = load_config(preset)
    A, B = rng.integers(-128, 128, (M, K)).astype(np.int8), rng.integers(-128, 128, (K, N)).astype(np.int8)
    bias = rng.integers(-20000, 20000, N).astype(np.int32)
    s_acc = 5 / (K * 128 * 128 * 0.1) * rng.uniform(0.5, 1.5, N)
    g = gelu((A.astype(np.int64) @ B + bias) * s_acc); s_out = np.abs(g).max() / 127
    ep = Epilogue(bias, False, quantize_multipliers(s_acc / s_out), None, G.params(s_acc))
    c = compile_gemm(cfg, M, K, N, A=A, B=B, epilogue=ep)
    out = run_prog(cfg, c)
    assert np.array_equal(out, c.reference()) and np.abs(out * s_out - g).max() < 0.51 * s_out

def test_ffn_with_gelu_fuses_and_runs():
  x = Tensor.randn(24, 64, seed=1)
  w1, b1 = (Tensor.randn(128, 64, seed=2) * 0.125).realize(), (Tensor.randn(128, seed=3) * 0.02).realize()
  w2, b2 = (Tensor.randn(64, 128, seed=4) * 0.09).realize(), (Tensor.randn(64, seed=5) * 0.02).realize()
  y = x.linear(w1, b1).gelu().linear(w2, b2)
  ks = schedule(y.node)
  assert [(type(k).__name__, k.gelu, k.bias is not None) for k in ks] == [("GemmKernel", True, True), ("GemmKernel", False, True)]
  r = run_graph(y, load_config("edge"))
  assert r.correct and r.accuracy["cosine_similarity"] >= 0.99 and r.kernels[0].fused == ["bias", "gelu", "requant"]
  with pytest.raises(CompileError, match="fuses only into a matmul epilogue"): schedule((x.linear(w1, b1) + Tensor.randn(24, 128, seed=6)).gelu().node)

def test_batched_int8_matmul_is_exact():
  a, b = Tensor.randint(2, 3, 5, 8, seed=1), Tensor.randint(2, 3, 8, 6, seed=2)
  y = a @ b
  (k,) = schedule(y.node)
  assert (k.batch, k.M, k.K, k.N) == (6, 5, 8, 6)
  for df in ("ws", "os"):                                # one program looping over the 6 batch indices
    r = run_graph(y, load_config("tiny", dataflow=df))
    assert r.correct and np.array_equal(r.output, a.numpy().astype(np.int32) @ b.numpy().astype(np.int32))
    assert r.kernels[0].op == "batched_matmul" and r.kernels[0].stats.macs == 6 * 5 * 8 * 6
  c = compile_gemm(load_config("tiny"), 9, 12, 7, batch=3, epilogue=Epilogue(np.arange(7, dtype=np.int32), True))
  assert np.array_equal(run_prog(load_config("tiny"), c), np.maximum(np.einsum("bmk,bkn->bmn", c.inputs["A"].astype(np.int64), c.inputs["B"]) + np.arange(7), 0))

def test_views_of_results_between_and_after_kernels():
  x, w = Tensor.randn(8, 16, seed=0), (Tensor.randn(16, 16, seed=1) * 0.25).realize()
  h = x.linear(w).reshape(8, 4, 4).permute(1, 0, 2)                  # a permuted result, read by the host
  r = run_graph(h, load_config("tiny"))
  assert r.correct and r.output.shape == (4, 8, 4) and r.accuracy["cosine_similarity"] >= 0.99
  y = h.reshape(32, 4).layernorm()                                    # a vector kernel reading it needs a copy
  r = run_graph(y, load_config("tiny"))
  assert [k.kind for k in r.kernels] == ["gemm", "copy", "vector"] and r.correct and r.accuracy["cosine_similarity"] >= 0.99
  a, b = Tensor.randint(6, 9, seed=1), Tensor.randint(9, 5, seed=2)
  assert np.array_equal(run_graph((a @ b).T, load_config("tiny")).output, (a @ b).T.numpy())
  padded = x.linear(w).pad(((0, 0), (0, 4))).linear((Tensor.randn(8, 20, seed=2) * 0.2).realize())
  with pytest.raises(CompileError, match="padded view of a kernel output"): run_graph(padded, load_config("tiny"))

def test_kt_read_by_transpose_b_matmuls():
  """Q·Kᵀ on ws: no copy kernel, the batched matmul's MATMULs read K's rows (token-major, heads side by side) with
  transpose_b; os keeps the Kᵀ copy kernel. Both bit-exact, with the same output."""
  x = Tensor.randn(16, 32, seed=0)
  q, k = (x.linear((Tensor.randn(32, 32, seed=i) * 0.2).realize()).reshape(16, 2, 16) for i in (1, 2))
  mk = lambda: q.permute(1, 0, 2) @ k.permute(1, 2, 0)
  ws, os_ = run_graph(mk(), load_config("tiny")), run_graph(mk(), load_config("tiny", dataflow="os"))
  assert [r.kind for r in ws.kernels] == ["gemm"] * 3 and [r.kind for r in os_.kernels] == ["gemm", "gemm", "copy", "gemm"]
  assert ws.correct and os_.correct and np.array_equal(ws.output, os_.output)
  mms = [i for i in ws.kernels[-1].program.program if i.opcode.name == "MATMUL"]
  assert mms and all(i.transpose_b for i in mms)
  assert ws.kernels[-1].program.tensors["B"].shape == (16, 32)          # K as its projection wrote it: 16 tokens x 2 heads·16

@pytest.mark.parametrize("over", [{}, dict(rows=8, cols=8, spad_kib=8, acc_kib=8, dram_bytes_per_cycle=8, dram_burst_bytes=8)])
def test_gemm_with_b_token_major_bit_exact(over):
  cfg = load_config("tiny", **over)
  for shape, batch in (((5, 7, 3), 1), ((17, 9, 13), 1), ((33, 20, 6), 1), ((9, 8, 12), 3), ((6, 16, 9), 2)):
    c = compile_gemm(cfg, *shape, seed=3, b_t=True, batch=batch)
    assert np.array_equal(run_prog(cfg, c), c.reference())

def test_transpose_b_refused_off_square_ws():
  from tinyaccel.arch.isa import asm
  from tinyaccel.sim.model import ProgramError
  mm = asm("matmul a_addr=0 b_addr=512 c_addr=0 m=4 k=4 n=4 transpose_b=1")
  for over, why in (({"dataflow": "os"}, "needs the ws dataflow"), ({"cols": 8, "spad_kib": 8}, "needs a square array")):
    cfg = load_config("tiny", **over)
    with pytest.raises(ProgramError, match=why): run(cfg, mm, machine=Machine(cfg, dram_bytes=64))
    with pytest.raises(CompileError, match=why): compile_gemm(cfg, 4, 4, 4, b_t=True)

def test_copy_kernels():
  cfg = load_config("edge")
  src = np.random.default_rng(0).integers(-128, 128, (32, 96)).astype(np.int8)
  idx = np.arange(src.size)
  for off, readable in ((idx.reshape(32, 3, 32).transpose(1, 2, 0), False),       # per-head Kᵀ: one element per line
                        (idx.reshape(3, 32, 32).transpose(1, 0, 2).reshape(32, 96), False),   # merged heads: 32-byte lines
                        (idx.reshape(32, 3, 32).transpose(1, 0, 2), True)):      # per-head Q: strided rows, read in place
    assert dma_readable(off.reshape(-1, *off.shape[-2:])) == readable
    c = compile_copy(cfg, src, off)
    assert np.array_equal(run_prog(cfg, c), src.reshape(-1)[off])
  t, m = compile_copy(cfg, src, idx.reshape(32, 3, 32).transpose(1, 2, 0)), compile_copy(cfg, src, idx.reshape(3, 32, 32).transpose(1, 0, 2).reshape(32, 96))
  loads = lambda c: [i for i in c.program if i.opcode.name == "LOAD"]
  assert len(loads(t)) == 3 * 32 and {i.line_bytes for i in loads(t)} == {1}                  # a DMA per column of each head's K
  assert len(loads(m)) == 32 and {(i.line_bytes, i.rows, i.dram_stride) for i in loads(m)} == {(32, 3, 1024)}   # a DMA per token: its 3 heads

def test_causal_softmax_kernel():
  cfg, L = load_config("edge"), 64
  x = np.random.default_rng(1).integers(-128, 128, (3 * L, L)).astype(np.int8)
  mask = np.triu(np.ones((L, L), bool), 1)
  for scale in (0.02, 0.3):
    c = compile_softmax(cfg, x, scale, mask=mask)
    out = run_prog(cfg, c)
    f = np.where(np.tile(mask, (3, 1)), -np.inf, x * scale); f = np.exp(f - f.max(-1, keepdims=True)); f /= f.sum(-1, keepdims=True)
    assert np.array_equal(out, c.reference()) and np.abs(out / 127 - f).max() < 0.6 / 127 and (out[np.tile(mask, (3, 1))] == 0).all()
  with pytest.raises(CompileError, match="does not tile"): compile_softmax(cfg, x[:100], 0.1, mask=mask)

def test_layernorm_with_gain_and_bias():
  rng, cfg = np.random.default_rng(0), load_config("edge")
  x = np.clip(np.round(rng.standard_normal((9, 768)) * 30 + rng.standard_normal((9, 1)) * 10), -127, 127).astype(np.int8)
  f = x * 0.03; f = (f - f.mean(-1, keepdims=True)) / np.sqrt(f.var(-1, keepdims=True) + 1e-5)
  g, b = 1 + 0.3 * rng.standard_normal(768), 0.1 * rng.standard_normal(768); g[0] = -0.5
  s_out = np.abs(f * g + b).max() / 127
  c = compile_layernorm(cfg, x, 0.03, s_out, gain=g, bias=b, norm_scale=np.abs(f).max() / 127)
  out = run_prog(cfg, c)
  assert np.array_equal(out, c.reference()) and np.abs(out * s_out - (f * g + b)).max() < 1.5 * s_out
  t = Tensor.randn(16, 64, seed=0)
  h = t.linear((Tensor.randn(64, 64, seed=1) * 0.12).realize()).layernorm()
  y = h * Tensor(g[:64].astype(np.float32)) + Tensor(b[:64].astype(np.float32))
  ln = schedule(y.node)[-1]
  assert isinstance(ln, LayerNormKernel) and ln.gain is not None and ln.bias is not None
  r = run_graph(y, cfg)
  assert r.correct and r.accuracy["cosine_similarity"] >= 0.99 and r.kernels[-1].fused == ["gain", "bias", "requant"]
  with pytest.raises(CompileError, match="bias after softmax"): schedule((h.softmax() + Tensor(b[:64].astype(np.float32))).node)

def test_causal_mask_as_a_where_of_an_index_compare():
  S, H = 32, 4
  x = Tensor.randn(S, 64, seed=0)
  q, k = (x.linear((Tensor.randn(64, 64, seed=i) * 0.125).realize()).reshape(S, H, 16) for i in (1, 2))
  causal = Tensor.arange(S).reshape(S, 1) >= Tensor.arange(S).reshape(1, S)
  y = Tensor.where(causal, (q.permute(1, 0, 2) @ k.permute(1, 2, 0)) / 4.0, -float("inf")).softmax(-1)
  sm = schedule(y.node)[-1]
  assert isinstance(sm, SoftmaxKernel) and np.array_equal(sm.mask, np.triu(np.ones((S, S), bool), 1))
  r = run_graph(y, load_config("edge"))
  assert r.correct and r.accuracy["cosine_similarity"] >= 0.99 and (r.output[:, np.triu(np.ones((S, S), bool), 1)] == 0).all()

@pytest.mark.parametrize("net", ["bert", "gpt2"])
def test_small_transformer_layer_runs_bit_exact(net):
  """The BERT / GPT-2 graph at a small width: every kernel kind, bit-exact, cosine >= 0.99 vs float32."""
  y = bert(1, seq=32, hidden=128, heads=4, ffn=256) if net == "bert" else gpt2(1, seq=32, final_norm=False, hidden=128, heads=4, ffn=256)
  r = run_graph(y, load_config("edge"))
  kinds = [k.op for k in r.kernels]
  assert r.correct and r.accuracy["cosine_similarity"] >= 0.99
  assert kinds.count("batched_matmul") == 2 and kinds.count("copy") == 1 and kinds.count("softmax") == 1 and kinds.count("layernorm") == 2   # Kᵀ: transpose_b
  assert ("mask" in r.kernels[kinds.index("softmax")].fused) == (net == "gpt2")
  assert sum(k.stats.macs for k in r.kernels) == layer_macs(32, 128, 256)

def test_published_shapes_params_and_macs():
  def counts(y):
    ks = schedule(y.node)
    weights = {id(b): b.shape for k in ks for b in ((k.inputs[1], k.bias) if isinstance(k, GemmKernel) else (k.gain, k.bias) if isinstance(k, LayerNormKernel) else ())
               if b is not None and b.op.name == "BUFFER"}
    return ks, sum(math.prod(s) for s in weights.values()), sum(k.batch * k.M * k.K * k.N for k in ks if isinstance(k, GemmKernel))
  assert layer_params() == 7_087_872 and 12 * layer_params() == 85_054_464    # BERT-base / GPT-2 small: a layer, the 12-layer stack
  ks, params, macs = counts(bert(12, seq=128))
  assert params == 12 * layer_params() and macs == 12 * layer_macs(128) == 12 * (4 * 128 * 768 ** 2 + 2 * 128 * 768 * 3072 + 2 * 128 ** 2 * 768)
  assert sum(isinstance(k, SoftmaxKernel) for k in ks) == 12 and [k.batch for k in ks if isinstance(k, GemmKernel) and k.batch > 1] == [12] * 24
  ks, params, macs = counts(gpt2(12, seq=1024))
  assert params == 12 * layer_params() + 2 * 768 and macs == 12 * layer_macs(1024)          # + the final layernorm
  assert all(k.mask is not None and k.mask.shape == (1024, 1024) for k in ks if isinstance(k, SoftmaxKernel))
  _, params, macs = counts(bert(1, seq=512))
  assert macs == layer_macs(512) and macs == 4 * 512 * 768 ** 2 + 2 * 512 * 768 * 3072 + 2 * 512 ** 2 * 768
  assert {"bert_layer", "bert", "gpt2_block", "gpt2"} <= set(WORKLOADS)

@pytest.mark.slow
@pytest.mark.parametrize("name", ["bert_layer", "gpt2_block"])
def test_published_transformer_blocks_on_edge(name):
  r = run_graph(WORKLOADS[name][0](), load_config("edge"))
  assert r.correct and r.accuracy["cosine_similarity"] >= 0.99

def test_bert_batch_of_sequences():
  """`--batch` for BERT: B sequences stacked as (B·seq, d), attention per (sequence, head), the projections one GEMM
  over every token; bit-exact, and the float graph's sequences do not mix (sequence 0 of batch 2 = batch 1)."""
  one, two = (bert(layers=1, seq=32, hidden=64, heads=4, ffn=128, batch=b) for b in (1, 2))
  assert two.shape == (64, 64)
  from tinyaccel.compiler.ir import evaluate
  a, b = evaluate(one.node), evaluate(two.node)
  np.testing.assert_allclose(b[:32], a, rtol=1e-4, atol=1e-5)   # same first rows drawn: attention does not mix sequences
  assert not np.allclose(b[32:], a, atol=1e-3)
  r = run_graph(two, load_config("edge"))
  assert r.correct and r.accuracy["cosine_similarity"] > 0.99
  assert sum(k.op == "softmax" or k.name == "softmax" for k in r.kernels) == 1 and r.kernels[-1].shape[0] == 64
