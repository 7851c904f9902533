"""Bring your own model (issue 20): real tinygrad graphs imported before realization (compiler/importers/)."""
import os

import numpy as np
import pytest

os.environ.setdefault("DEV", "PYTHON")          # tinygrad's pure-Python device: no compiler needed to realize rand()
tg = pytest.importorskip("tinygrad")

from tinygrad import dtypes  # noqa: E402

from tinyaccel.arch.config import load_config  # noqa: E402
from tinyaccel.arch.isa import encode_program  # noqa: E402
from tinyaccel.compiler.importers.tinygrad import import_tensor  # noqa: E402
from tinyaccel.compiler.ir import evaluate, print_graph  # noqa: E402
from tinyaccel.compiler.program import CompileError  # noqa: E402
from tinyaccel.compiler.schedule import compile_tensor  # noqa: E402
from tinyaccel.compiler.tensor import Tensor  # noqa: E402
from tinyaccel.compiler.tensor import Tensor as Ours  # noqa: E402
from tinyaccel.flow import run_graph  # noqa: E402

CFG = load_config("tiny")

def _programs(t: Tensor) -> list:
  g = run_graph(t, CFG)
  assert g.correct is True
  return g, [(encode_program(k.program.program), k.stats.cycles) for k in g.kernels]

def test_seed_snippet_verbatim_is_the_same_program_as_matmul():
  from tinygrad.tensor import Tensor
  N = 16
  a, b = Tensor.rand(N, N), Tensor.rand(N, N)
  c = (a.reshape(N, 1, N) * b.permute(1,0).reshape(1, N, N)).sum(axis=2)
  ours = import_tensor(c)
  x, w = (n.srcs[0] for n in ours.node.srcs[0].srcs[0].srcs)     # the two buffers tinygrad realized from rand()
  mm = Ours(x) @ Ours(w)
  assert print_graph(ours.node) == print_graph(mm.node)
  np.testing.assert_allclose(evaluate(ours.node), c.numpy(), rtol=1e-5, atol=1e-5)        # tinygrad's own result (PYTHON device)
  g1, p1 = _programs(ours); g2, p2 = _programs(mm)
  assert p1 == p2 and g1.accuracy["cosine_similarity"] > 0.999

def test_int8_matmul_bit_exact_against_tinygrad():
  from tinygrad.tensor import Tensor as TT
  rng = np.random.default_rng(1)
  A, B = rng.integers(-128, 128, (12, 20)).astype(np.int8), rng.integers(-128, 128, (20, 9)).astype(np.int8)
  with pytest.raises(CompileError, match="wrapping"): import_tensor(TT(A) @ TT(B))        # tinygrad's int8 products wrap in int8
  c = TT(A).cast(dtypes.int32) @ TT(B).cast(dtypes.int32)         # int8 x int8 -> int32, as on the array
  ours = import_tensor(c)
  p1, _ = compile_tensor(ours, CFG); p2, _ = compile_tensor(Tensor(A) @ Tensor(B), CFG)
  assert encode_program(p1.program) == encode_program(p2.program) and np.array_equal(p1.dram, p2.dram)
  g = run_graph(ours, CFG)
  assert g.correct is True and np.array_equal(g.output, c.numpy()) and np.array_equal(c.numpy(), A.astype(np.int32) @ B)

def test_mlp_fuses_bias_and_relu():
  from tinygrad.tensor import Tensor as TT
  rng = np.random.default_rng(0)
  x = TT(rng.standard_normal((8, 32), np.float32))
  w1, b1 = TT(rng.standard_normal((48, 32), np.float32) * 32 ** -0.5), TT(rng.standard_normal(48, np.float32) * 0.1)
  w2, b2 = TT(rng.standard_normal((10, 48), np.float32) * 48 ** -0.5), TT(rng.standard_normal(10, np.float32) * 0.1)
  out = x.linear(w1.T, b1).relu().linear(w2.T, b2)
  ours = import_tensor(out)
  ref = out.numpy()
  np.testing.assert_allclose(evaluate(ours.node), ref, rtol=1e-5, atol=1e-5)
  g = run_graph(ours, CFG)
  assert g.correct is True and [k.kind for k in g.kernels] == ["gemm", "gemm"]
  assert g.kernels[0].fused == ["bias", "relu", "requant"] and g.kernels[1].fused == ["bias", "requant"]
  assert g.accuracy["cosine_similarity"] > 0.999

def test_movement_ops_match_tinygrad():
  from tinygrad.tensor import Tensor as TT
  a = np.arange(2 * 3 * 4 * 5, dtype=np.int32).reshape(2, 3, 4, 5)
  t = TT(a).flip(2)[:, 1:3].pad(((0, 0), (1, 0), (0, 2), (0, 0))).permute(3, 0, 1, 2).reshape(5, 1, -1).expand(5, 2, 36)
  assert np.array_equal(evaluate(import_tensor(t).node), t.numpy())
  s = TT(a.astype(np.float32)).max(axis=(1, 3)) + TT(a).sum(axis=0).cast(dtypes.float).reshape(3, 4, 5).sum(axis=(0, 2))
  np.testing.assert_allclose(evaluate(import_tensor(s).node), s.numpy())

def test_unsupported_op_is_one_line():
  from tinygrad.tensor import Tensor as TT
  with pytest.raises(CompileError, match="tinygrad op SIN"): import_tensor(TT(np.ones((2, 2), np.float32)).sin())

def test_cli_runs_the_seed_example(tmp_path):
  from tinyaccel.cli import main
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  js = tmp_path / "r.json"
  assert main(["run", os.path.join(root, "examples", "tinygrad", "seed.py"), "--config", "tiny", "--json", str(js)]) == 0
  import json
  r = json.loads(js.read_text())
  assert r["correct"] is True and [k["kind"] for k in r["kernels"]] == ["gemm"] and r["macs"] == 64 ** 3

def _example(name, **kw):
  import runpy
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  return runpy.run_path(os.path.join(root, "examples", "tinygrad", f"{name}.py"))["workload"](**kw)

def _float_check(t, kernels, cos=0.999):
  """Import before realizing, run quantized, then compare with tinygrad's own result (PYTHON device): our interpreter
  matches it to float rounding, and the accelerator's output is within the quantization error the run reports."""
  ours = import_tensor(t)
  g = run_graph(ours, CFG)
  ref = t.numpy()
  np.testing.assert_allclose(evaluate(ours.node), ref, rtol=1e-5, atol=1e-5)
  assert g.correct is True and [k.name for k in g.kernels] == kernels
  assert np.abs(g.output - ref).max() <= g.accuracy["max_abs_error"] + 1e-5 and g.accuracy["cosine_similarity"] > cos
  return g

def test_cnn_with_pooling_and_residual():
  g = _float_check(_example("cnn", size=8, width=8), ["conv", "maxpool", "conv", "conv", "add", "avgpool", "gemm"])
  assert [k.fused for k in g.kernels if k.name == "conv"] == [["bias", "relu", "requant"], ["bias", "relu", "requant"], ["bias", "requant"]]
  assert g.kernels[0].shape == [1, 8, 3, 3, 3]          # batch, cout, cin, kh, kw: tinygrad's conv2d recognized whole

def test_attention_head():
  g = _float_check(_example("attention", seq=8, d_model=16, d_head=8), ["gemm", "gemm", "gemm", "softmax", "gemm", "gemm"])   # Kᵀ: transpose_b
  assert g.kernels[2].fused == ["scale", "requant"]      # 1/sqrt(d) folded into QKᵀ's requantization

def test_int8_conv_bit_exact_against_tinygrad():
  from tinygrad.tensor import Tensor as TT
  rng = np.random.default_rng(3)
  X, W, B = rng.integers(-128, 128, (1, 4, 7, 7)).astype(np.int8), rng.integers(-128, 128, (6, 4, 3, 3)).astype(np.int8), rng.integers(-999, 999, 6).astype(np.int32)
  y = TT(X).cast(dtypes.int32).conv2d(TT(W).cast(dtypes.int32), TT(B), stride=2, padding=1).relu()
  ours = import_tensor(y)
  g = run_graph(ours, CFG)
  assert g.correct is True and [k.fused for k in g.kernels] == [["bias", "relu"]]
  assert np.array_equal(g.output, y.numpy())

def test_composites_match_only_themselves():
  from tinygrad.tensor import Tensor as TT

  from tinyaccel.compiler.importers.tinygrad import match_conv2d, match_pool, match_rowwise
  rng = np.random.default_rng(0)
  x, w = TT(rng.standard_normal((2, 4, 9, 9)).astype(np.float32)), TT(rng.standard_normal((6, 2, 3, 3)).astype(np.float32))
  y = x.conv2d(w, groups=2, stride=2, padding=1, dilation=2)
  assert match_conv2d(y.uop)[2] == dict(groups=2, stride=2, dilation=2, padding=1)
  assert match_pool(x.max_pool2d(3, 2, padding=1).uop)[1:] == ("max", 3, 2, 1) and match_pool(x.avg_pool2d(2).uop)[1:] == ("avg", 2, 2, 0)
  assert match_rowwise(x.softmax(-1).uop)[1] == "softmax" and match_rowwise(x.layernorm(eps=1e-6).uop)[1:] == ("layernorm", 1e-6)
  assert match_rowwise(x.gelu().uop)[1] == "gelu" and match_rowwise(x.softmax(1).uop) is None and match_rowwise((x * 2).uop) is None
  z = (x * 2).sum(axis=(2, 3))
  assert match_conv2d((x.conv2d(w, groups=2) * 2).uop) is None and match_pool(z.uop) is None
  for t in (y, x.max_pool2d(3, 2, padding=1), x.avg_pool2d(2), x.layernorm(eps=1e-6), x.gelu()):
    np.testing.assert_allclose(evaluate(import_tensor(t).node), t.numpy(), rtol=1e-4, atol=1e-5)
