"""The lazy Tensor against numpy: every op, laziness, zero-cost movement, contractions as views."""
import numpy as np
import pytest

from tinyaccel.compiler.ir import Ops, print_graph, toposort
from tinyaccel.compiler.tensor import Tensor

rng = np.random.default_rng(0)
X = rng.standard_normal((3, 4, 5)).astype(np.float32)
Y = rng.standard_normal((4, 5)).astype(np.float32)

def close(t, ref, tol=1e-5):
  got = t.numpy()
  assert got.shape == np.shape(ref), (got.shape, np.shape(ref))
  np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)

def test_elementwise_and_broadcast():
  x, y = Tensor(X), Tensor(Y)
  close(x + y, X + Y); close(x - y, X - Y); close(x * y, X * Y); close(x / (y.square() + 1.0), X / (Y * Y + 1))
  close(-x, -X); close(x.maximum(y), np.maximum(X, Y)); close(x.minimum(0.5), np.minimum(X, 0.5))
  close((x < y).cast("float32"), (X < Y).astype(np.float32)); close((x >= y).cast("int32"), (X >= Y).astype(np.int32))
  close(Tensor.where(x > 0, x, y), np.where(X > 0, X, Y)); close(x.relu(), np.maximum(X, 0))
  P = np.abs(X) + 0.1
  close(x.exp(), np.exp(X), 1e-4); close(Tensor(P).log(), np.log(P), 1e-4); close(Tensor(P).sqrt(), np.sqrt(P))
  close(Tensor(P).reciprocal(), 1 / P); close(x.sigmoid(), 1 / (1 + np.exp(-X)), 1e-5); close(x.tanh(), np.tanh(X), 1e-5)
  gelu = 0.5 * X * (1 + np.tanh(np.sqrt(2 / np.pi) * (X + 0.044715 * X ** 3)))
  close(x.gelu(), gelu, 1e-5); close(x.square(), X * X); close(2.0 - x, 2 - X); close(1.0 / Tensor(P), 1 / P)

def test_reductions():
  x = Tensor(X)
  close(x.sum(), X.sum(), 1e-4); close(x.sum(axis=1), X.sum(1), 1e-5); close(x.sum(axis=(0, 2), keepdim=True), X.sum((0, 2), keepdims=True), 1e-5)
  close(x.max(axis=-1), X.max(-1)); close(x.mean(axis=0), X.mean(0)); close(x.softmax(), np.exp(X) / np.exp(X).sum(-1, keepdims=True))
  m = X.mean(-1, keepdims=True); v = ((X - m) ** 2).mean(-1, keepdims=True)
  close(x.layernorm(), (X - m) / np.sqrt(v + 1e-5), 1e-4)

def test_movement_is_zero_cost_views():
  x = Tensor(X)
  y = x.permute(2, 0, 1).reshape(5, 12)[1:4, ::3].flip(0).pad(((1, 0), (0, 2)))
  ref = np.pad(X.transpose(2, 0, 1).reshape(5, 12)[1:4, ::3][::-1], ((1, 0), (0, 2)))
  close(y, ref)
  assert [n.op for n in toposort(y.node)] == [Ops.BUFFER, Ops.VIEW]          # one view over the buffer, nothing computed
  close(x[1], X[1]); close(x[:, 2, 1:], X[:, 2, 1:]); close(x.reshape(1, 3, 4, 5).expand(2, 3, 4, 5), np.broadcast_to(X, (2, 3, 4, 5)))
  close(x.transpose(0, 2), X.transpose(2, 1, 0)); close(Tensor(Y).T, Y.T)

def test_creation_and_dtypes():
  close(Tensor.zeros(2, 3), np.zeros((2, 3))); close(Tensor.ones((2, 3)), np.ones((2, 3))); close(Tensor.full((2,), 7.0), np.full(2, 7.0))
  close(Tensor.arange(5), np.arange(5)); close(Tensor.eye(3), np.eye(3))
  assert Tensor.rand(4, seed=1).numpy().tolist() == Tensor.rand(4, seed=1).numpy().tolist() and Tensor.randn(2, 2).shape == (2, 2)
  a = Tensor(np.array([[100, -100]], np.int8))
  assert (a * a).dtype == "int32" and (a * a).numpy().tolist() == [[10000, 10000]]    # int8 x int8 widens like the array
  assert Tensor(np.array([300])).cast("int8").numpy().tolist() == [44]
  with pytest.raises(TypeError): Tensor(np.zeros(2, np.complex64))

def test_matmul_conv_pool_against_numpy():
  A = rng.standard_normal((2, 5, 7)).astype(np.float32); B = rng.standard_normal((7, 3)).astype(np.float32)
  close(Tensor(A) @ Tensor(B), A @ B, 1e-5)
  W = rng.standard_normal((3, 7)).astype(np.float32); b = rng.standard_normal(3).astype(np.float32)
  close(Tensor(A).linear(Tensor(W), Tensor(b)), A @ W.T + b, 1e-5)
  img = rng.standard_normal((2, 4, 9, 8)).astype(np.float32)
  for stride, pad, dil, groups, cout in [(1, 0, 1, 1, 6), (2, 1, 1, 1, 6), (1, 2, 2, 2, 6), (1, 1, 1, 4, 4)]:
    w = rng.standard_normal((cout, 4 // groups, 3, 3)).astype(np.float32)
    close(Tensor(img).conv2d(Tensor(w), stride=stride, padding=pad, dilation=dil, groups=groups), conv_ref(img, w, stride, pad, dil, groups), 1e-4)
  close(Tensor(img).max_pool2d(2), img[:, :, :8].reshape(2, 4, 4, 2, 4, 2).max((3, 5)))
  close(Tensor(img).avg_pool2d(2), img[:, :, :8].reshape(2, 4, 4, 2, 4, 2).mean((3, 5)), 1e-6)

def conv_ref(x, w, s, p, d, g):
  n, c, h, wd = x.shape; co, cg, kh, kw = w.shape
  xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
  oh, ow = (h + 2 * p - d * (kh - 1) - 1) // s + 1, (wd + 2 * p - d * (kw - 1) - 1) // s + 1
  out = np.zeros((n, co, oh, ow), np.float32)
  for o in range(co):
    gi = o // (co // g)
    for i in range(oh):
      for j in range(ow):
        patch = xp[:, gi * cg:(gi + 1) * cg, i * s:i * s + d * (kh - 1) + 1:d, j * s:j * s + d * (kw - 1) + 1:d]
        out[:, o, i, j] = (patch * w[o]).sum((1, 2, 3))
  return out

def test_tinycorp_snippet_is_the_same_graph_as_matmul():
  N = 6; a, b = Tensor.randint(N, N, seed=1), Tensor.randint(N, N, seed=2)
  snippet = (a.reshape(N, 1, N) * b.permute(1, 0).reshape(1, N, N)).sum(axis=2)
  assert print_graph(snippet.node) == print_graph((a @ b).node)
  assert np.array_equal(snippet.numpy(), a.numpy().astype(np.int32) @ b.numpy().astype(np.int32))

def test_errors():
  with pytest.raises(ValueError, match="matmul shape mismatch"): Tensor(np.zeros((2, 3))) @ Tensor(np.zeros((4, 2)))
  with pytest.raises(ValueError, match="do not broadcast"): Tensor(np.zeros((2, 3))) + Tensor(np.zeros((4,)))
  with pytest.raises(ValueError, match="cannot reshape"): Tensor(np.zeros((2, 3))).reshape(4, 2)
  with pytest.raises(TypeError, match="out of scope by design"): Tensor(np.zeros((4, 3)))[Tensor(np.array([1, 2]), "int32")]
  with pytest.raises(TypeError, match="unsupported dtype"): Tensor(np.zeros(3), "float16")

def test_contraction_lowers_to_the_same_program():
  from tinyaccel.arch.config import load_config
  from tinyaccel.arch.isa import encode_program
  from tinyaccel.compiler.schedule import compile_tensor
  from tinyaccel.sim.model import Machine, run
  cfg = load_config("tiny")
  N = 9; a, b = Tensor.randint(N, N, seed=1), Tensor.randint(N, N, seed=2)
  snippet = (a.reshape(N, 1, N) * b.permute(1, 0).reshape(1, N, N)).sum(axis=2)
  p1, _ = compile_tensor(snippet, cfg); p2, _ = compile_tensor(a @ b, cfg)
  assert encode_program(p1.program) == encode_program(p2.program) and np.array_equal(p1.dram, p2.dram)
  mach = Machine(cfg, p1.dram.copy()); run(cfg, p1.program, machine=mach)
  assert np.array_equal(p1.read(mach.dram), (a @ b).numpy())
  x, w = Tensor.randint(5, 12, seed=3), Tensor.randint(7, 12, seed=4)          # linear: x @ w.T, non-square
  p, _ = compile_tensor(x.linear(w), cfg)
  mach = Machine(cfg, p.dram.copy()); run(cfg, p.program, machine=mach)
  assert np.array_equal(p.read(mach.dram), x.linear(w).numpy())
  from tinyaccel.compiler.program import CompileError
  with pytest.raises(CompileError, match="only matmul/linear"): compile_tensor(Tensor(X).exp(), cfg)

def test_quantized_mlp_runs_kernel_by_kernel():
  from tinyaccel.arch.config import load_config
  from tinyaccel.compiler.schedule import schedule
  from tinyaccel.flow import run_graph
  x = Tensor.randn(33, 70, seed=1)
  w1, b1 = (Tensor.randn(90, 70, seed=2) * 0.12).realize(), (Tensor.randn(90, seed=3) * 0.1).realize()
  w2, b2 = (Tensor.randn(11, 90, seed=4) * 0.1).realize(), (Tensor.randn(11, seed=5) * 0.1).realize()
  y = x.linear(w1, b1).relu().linear(w2, b2)
  ks = schedule(y.node)
  assert [(k.M, k.K, k.N, k.bias is not None, k.relu) for k in ks] == [(33, 70, 90, True, True), (33, 90, 11, True, False)]
  for df in ("ws", "os"):
    r = run_graph(y, load_config("tiny", dataflow=df))
    assert r.correct and all(k.correct for k in r.kernels)                     # each kernel bit-exact vs the integer reference
    assert r.accuracy["cosine_similarity"] >= 0.99 and r.output.shape == (33, 11)
    assert [k.stats.macs for k in r.kernels] == [33 * 70 * 90, 33 * 90 * 11]
  # an int8 graph with a fused bias and relu: int32 out, exact
  a, w, b = Tensor.randint(9, 20, seed=6), Tensor.randint(13, 20, seed=7), Tensor(np.arange(13) * 100 - 600, "int32")
  g = a.linear(w, b).relu()
  r = run_graph(g, load_config("tiny"))
  assert r.correct and np.array_equal(r.output, g.numpy())
