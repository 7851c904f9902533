"""Degenerate float tensors (issue 21 item 2): all zeros, constants, NaN-free extremes. The compiler either refuses a graph
with one CompileError (a documented quantization limit) or emits programs the model runs bit-exact; it never emits a
program the model rejects, and no numpy warning escapes."""
import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import numpy as np
import pytest

from tinyaccel.arch.config import load_config
from tinyaccel.compiler.program import CompileError
from tinyaccel.compiler.tensor import Tensor
from tinyaccel.flow import run_graph

CFGS = {"tiny": load_config("tiny"), "edge": load_config("edge"), "tiny-os": load_config("tiny", dataflow="os")}
EXTREMES = [0.0, 1.0, -3.5, 3e38, -3e38, 1e30, 1e-30, 1e-38, 1e-42]     # float32 max, subnormals ...

@st.composite
def tensor(draw, shape):
  kind = draw(st.sampled_from(["zeros", "const", "extreme", "scaled", "mix"]))
  if kind == "zeros": a = np.zeros(shape)
  elif kind == "const": a = np.full(shape, draw(st.floats(-1e4, 1e4, allow_nan=False)))
  elif kind == "extreme": a = np.full(shape, draw(st.sampled_from(EXTREMES)))
  elif kind == "scaled": a = np.random.default_rng(draw(st.integers(0, 99))).standard_normal(shape) * 10.0 ** draw(st.integers(-40, 37))
  else: a = np.where(np.arange(int(np.prod(shape))).reshape(shape) % 2, draw(st.sampled_from(EXTREMES)), draw(st.sampled_from(EXTREMES)))
  return Tensor(a.astype(np.float32))

@st.composite
def graph(draw):
  op = draw(st.sampled_from(["matmul", "linear", "conv", "conv_bias"]))
  if op in ("matmul", "linear"):
    m, k, n = (draw(st.integers(1, 9)) for _ in range(3))
    x, w = draw(tensor((m, k))), draw(tensor((k, n)))
    return x @ w if op == "matmul" else (x @ w + draw(tensor((n,)))).relu()
  c, h, o = draw(st.integers(1, 4)), draw(st.integers(3, 6)), draw(st.integers(1, 4))
  x, w = draw(tensor((1, c, h, h))), draw(tensor((o, c, 3, 3)))
  return x.conv2d(w, padding=1) if op == "conv" else x.conv2d(w, draw(tensor((o,))), stride=draw(st.integers(1, 2)), padding=1).relu()

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(out=graph(), preset=st.sampled_from(sorted(CFGS)))
def test_degenerate_tensors_compile_to_programs_the_model_runs(out, preset):
  with warnings.catch_warnings():
    warnings.simplefilter("error")                   # a numpy RuntimeWarning would be a second line on the CLI
    try: g = run_graph(out, CFGS[preset])
    except CompileError: return                      # refused cleanly (one line, exit 2 on the CLI)
  assert g.correct is True and np.isfinite(g.output).all()

@pytest.mark.parametrize("preset", sorted(CFGS))
def test_all_zero_model_runs(preset):
  """Issue 21's example: an all-zero float model used to compile to a requantization shift of 33, which the model refuses."""
  x, w, b = Tensor(np.zeros((4, 8), np.float32)), Tensor(np.zeros((8, 5), np.float32)), Tensor(np.zeros(5, np.float32))
  g = run_graph((x @ w + b).relu(), CFGS[preset])
  assert g.correct is True and not g.output.any()
  g = run_graph(Tensor(np.zeros((1, 3, 5, 5), np.float32)).conv2d(Tensor(np.zeros((2, 3, 3, 3), np.float32)), padding=1), CFGS[preset])
  assert g.correct is True and not g.output.any()
