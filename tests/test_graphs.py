"""Random float graphs of mixed ops (hypothesis), quantized and compiled kernel by kernel: every kernel is
bit-exact against its integer reference (`correct`) and the dequantized result stays close to the float32
interpreter's (the IR's golden reference)."""
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import numpy as np

from tinyaccel.arch.config import load_config
from tinyaccel.compiler.tensor import Tensor
from tinyaccel.flow import run_graph

CFG = load_config("edge")
N = int(os.environ.get("TINYACCEL_GRAPH_EXAMPLES", 8))     # more for a longer hunt
SEQ_BLOCKS = ("linear", "linear_relu", "linear_bias", "softmax", "layernorm", "residual")
CNN_BLOCKS = ("conv", "conv_relu", "conv_stride2", "maxpool", "avgpool", "residual", "depthwise")

def _w(shape, fan_in, seed): return (Tensor.randn(*shape, seed=seed) * fan_in ** -0.5).realize()

def seq_graph(blocks, seq, widths, seed):
  """A transformer-ish chain over (seq, d): each block one of SEQ_BLOCKS; widths pick each linear's output."""
  x = Tensor.randn(seq, 64, seed=seed); d = 64; s = seed
  for b, wd in zip(blocks, widths):
    s += 7
    if b.startswith("linear"):
      y = x.linear(_w((wd, d), d, s), (Tensor.randn(wd, seed=s + 1) * 0.1).realize() if b != "linear" else None); d = wd
      x = y.relu() if b == "linear_relu" else y
    elif b == "softmax": x = x.softmax()
    elif b == "layernorm": x = x.layernorm()
    elif b == "residual": x = (x.linear(_w((d, d), d, s)) + x).relu()
  return x

def cnn_graph(blocks, seed):
  x = Tensor.randn(1, 32, 12, 12, seed=seed); c = 32; s = seed
  for b in blocks:
    s += 7; h = x.shape[2]
    if b.startswith("conv") and h >= 3:
      x = x.conv2d(_w((32, c, 3, 3), 9 * c, s), (Tensor.randn(32, seed=s + 1) * 0.1).realize(), padding=1, stride=2 if b == "conv_stride2" else 1); c = 32
      if b == "conv_relu": x = x.relu()
    elif b == "depthwise" and h >= 3: x = x.conv2d(_w((c, 1, 3, 3), 9, s), (Tensor.randn(c, seed=s + 1) * 0.1).realize(), padding=1, groups=c).relu()
    elif b == "maxpool" and h >= 2: x = x.max_pool2d(2)
    elif b == "avgpool" and h >= 2: x = x.avg_pool2d(2)
    elif b == "residual" and h >= 3: x = (x.conv2d(_w((c, c, 3, 3), 9 * c, s), padding=1).relu() + x).relu()
  return x.reshape(1, -1).linear(_w((10, x.shape[1] * x.shape[2] * x.shape[3]), x.shape[1] * x.shape[2] * x.shape[3], s + 3))

def check(y):
  r = run_graph(y, CFG)
  assert r.correct, [k.name for k in r.kernels if not k.correct]
  assert r.accuracy["cosine_similarity"] >= 0.97, r.accuracy
  assert r.output.shape == y.shape

@settings(max_examples=N, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(SEQ_BLOCKS), min_size=1, max_size=4), st.sampled_from([8, 24, 40]),
       st.lists(st.sampled_from([32, 64, 96]), min_size=4, max_size=4), st.integers(0, 1000))
def test_random_sequence_graphs(blocks, seq, widths, seed):
  check(seq_graph(["linear"] + blocks, seq, [64] + widths, seed))

@settings(max_examples=max(1, 3 * N // 4), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(CNN_BLOCKS), min_size=1, max_size=4), st.integers(0, 1000))
def test_random_cnn_graphs(blocks, seed):
  check(cnn_graph(["conv"] + blocks, seed))

def test_integer_graph_is_bit_exact_with_the_interpreter():
  rng = np.random.default_rng(0)
  a, b = rng.integers(-128, 128, (37, 50)).astype(np.int8), rng.integers(-128, 128, (50, 29)).astype(np.int8)
  y = Tensor(a, "int8") @ Tensor(b, "int8")
  r = run_graph(y, CFG)
  assert r.correct and np.array_equal(r.output, y.numpy()) and np.array_equal(r.output, a.astype(np.int32) @ b.astype(np.int32))
