"""Convolutions a new user writes (issue 20 item 4): a bare conv2d as the output, a 1-filter conv with a bias, and every
convolution on the `os` dataflow (explicit im2col: a copy kernel, then a GEMM; compiler/conv.py)."""
import os

import numpy as np
import pytest

from tinyaccel.arch.config import load_config
from tinyaccel.compiler.ir import evaluate
from tinyaccel.compiler.tensor import Tensor
from tinyaccel.flow import run_graph

TINY, EDGE_OS = load_config("tiny"), load_config("edge", dataflow="os")

def _int_conv(o=4, c=8, groups=1, bias=False, seed=0):
  rng = np.random.default_rng(seed)
  x, w = Tensor(rng.integers(-128, 128, (1, c, 6, 6)), "int8"), Tensor(rng.integers(-128, 128, (o, c // groups, 3, 3)), "int8")
  b = Tensor(rng.integers(-999, 999, o), "int32") if bias else None
  return x.conv2d(w, b, padding=1, groups=groups)

def _steps(g, out) -> float:
  """The float run's largest error in output quantization steps (max|ref| / 127)."""
  ref = evaluate(out.node)
  return float(np.abs(g.output - ref).max() / (np.abs(ref).max() / 127))

@pytest.mark.parametrize("cfg", [TINY, load_config("tiny", dataflow="os")], ids=["ws", "os"])
def test_bare_conv_is_the_output(cfg):
  out = _int_conv()
  g = run_graph(out, cfg)
  assert g.correct is True and [k.op for k in g.kernels][-1] == "conv2d" and g.kernels[-1].fused == []
  assert g.output.dtype == np.int32 and np.array_equal(g.output, out.numpy())          # the integer reference, bit for bit
  x, w = Tensor.randn(1, 8, 6, 6, seed=0), Tensor.randn(4, 8, 3, 3, seed=1)
  f = x.conv2d(w, padding=1)
  g = run_graph(f, cfg)
  assert g.correct is True and g.kernels[-1].fused == ["requant"] and g.accuracy["cosine_similarity"] > 0.999 and _steps(g, f) < 2
  flat = f.reshape(1, -1).linear(Tensor.randn(10, 144, seed=3))     # a bare conv read through a flatten by the next kernel
  g = run_graph(flat, cfg)
  assert g.correct is True and [k.op for k in g.kernels if k.kind == "gemm"] == ["conv2d", "matmul"] and g.accuracy["cosine_similarity"] > 0.999

def test_one_filter_conv_with_bias():
  out = _int_conv(o=1, bias=True).relu()
  g = run_graph(out, TINY)
  assert g.correct is True and g.kernels[0].fused == ["bias", "relu"] and np.array_equal(g.output, out.numpy())
  f = Tensor.randn(1, 8, 6, 6, seed=0).conv2d(Tensor.randn(1, 8, 3, 3, seed=1), Tensor.randn(1, seed=2), padding=1)
  g = run_graph(f, TINY)
  assert g.correct is True and g.kernels[0].fused == ["bias", "requant"] and g.accuracy["cosine_similarity"] > 0.999 and _steps(g, f) < 2

def test_bare_conv_from_real_tinygrad():
  os.environ.setdefault("DEV", "PYTHON")
  tg = pytest.importorskip("tinygrad")
  from tinyaccel.compiler.importers.tinygrad import import_tensor
  x, w = tg.Tensor.randn(1, 8, 6, 6).contiguous().realize(), tg.Tensor.randn(4, 8, 3, 3).contiguous().realize()
  t = x.conv2d(w, padding=1)
  ours = import_tensor(t)
  g = run_graph(ours, TINY)
  ref = t.numpy()
  assert g.correct is True and [k.op for k in g.kernels] == ["conv2d"] and g.kernels[0].fused == ["requant"]
  assert np.abs(g.output - ref).max() <= g.accuracy["max_abs_error"] + 1e-5 and np.abs(g.output - ref).max() < 2 * np.abs(ref).max() / 127
  t = x.conv2d(tg.Tensor.randn(1, 8, 3, 3).contiguous().realize(), tg.Tensor([0.5]), padding=1).relu()      # one filter with its bias
  g = run_graph(import_tensor(t), TINY)
  ref = t.numpy()
  assert g.correct is True and g.kernels[0].fused == ["bias", "relu", "requant"] and np.abs(g.output - ref).max() < 2 * np.abs(ref).max() / 127

def test_small_cnn_on_edge_os_through_im2col():
  import runpy
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  out = runpy.run_path(os.path.join(root, "examples", "cnn.py"))["workload"](size=16)
  g = run_graph(out, EDGE_OS)
  assert g.correct is True and g.accuracy["cosine_similarity"] > 0.99
  assert [k.kind for k in g.kernels] == ["copy", "gemm"] * 3 + ["gemm"]
  ws = run_graph(out, load_config("edge"))
  assert np.allclose(g.output, ws.output, atol=3 * g.accuracy["max_abs_error"])    # the same network, either dataflow
  for copy, (c, h, s) in zip(g.kernels[::2], [(3, 16, 1), (16, 16, 2), (32, 8, 2)]):
    oh = (h + 2 - 3) // s + 1
    K, M = 9 * c, oh * oh                                # Aᵀ: K = 3·3·C unpadded channels, M = output pixels
    assert copy.shape == [K, M] and copy.correct is True
    # the honest cost of the layout: one element per DMA line, so one 32-byte DRAM burst per element read and per element written
    assert copy.stats.dram_read_bytes == K * M * EDGE_OS.dram_burst_bytes and copy.stats.dram_write_bytes == K * M * EDGE_OS.dram_burst_bytes
  assert g.stats.cycles == sum(k.stats.cycles for k in g.kernels)

def test_grouped_conv_on_os():
  out = _int_conv(o=8, groups=4, bias=True).relu()
  g = run_graph(out, load_config("tiny", dataflow="os"))
  assert g.correct is True and [k.name for k in g.kernels] == ["copy0", "gconv"] and np.array_equal(g.output, out.numpy())

@pytest.mark.slow
def test_resnet50_on_edge_os_timing_only():
  from tinyaccel.flow import run_network
  os_, _ = run_network("resnet50", EDGE_OS, functional=False)
  ws, _ = run_network("resnet50", load_config("edge"), functional=False)
  copies = [k for k in os_.kernels if k.kind == "copy"]
  assert len(copies) == sum(k.op == "conv2d" for k in os_.kernels) and os_.stats.cycles > ws.stats.cycles

def test_bare_conv_workload_file_runs_on_both_dataflows(tmp_path):
  import json

  from tinyaccel.cli import main
  f = tmp_path / "bare.py"
  f.write_text("from tinyaccel.compiler.tensor import Tensor\n"
               "def workload(): return Tensor.randn(1, 8, 6, 6, seed=0).conv2d(Tensor.randn(4, 8, 3, 3, seed=1), padding=1)\n")
  for df in ("ws", "os"):
    js = tmp_path / f"{df}.json"
    assert main(["run", str(f), "--config", "tiny", "--dataflow", df, "--json", str(js)]) == 0
    r = json.loads(js.read_text())
    assert r["correct"] is True and [k["kind"] for k in r["kernels"]] == (["gemm"] if df == "ws" else ["copy", "gemm"])

@pytest.mark.parametrize("cfg", [TINY, load_config("tiny", dataflow="os")], ids=["ws", "os"])
def test_weight_sliced_from_a_larger_constant(cfg):
  """big[4:12], big[::2] and a depthwise slice: the slice folds into the conv's weight, bit-exact as the unsliced conv."""
  rng = np.random.default_rng(3)
  x, big = Tensor(rng.integers(-128, 128, (1, 8, 6, 6)), "int8"), rng.integers(-128, 128, (16, 8, 3, 3)).astype(np.int8)
  for sliced, plain, groups in ((Tensor(big, "int8")[4:12], big[4:12], 1), (Tensor(big, "int8")[::2], big[::2], 1),
                                (Tensor(big, "int8")[8:16, :1], big[8:16, :1], 8)):
    out, ref = x.conv2d(sliced, padding=1, groups=groups).relu(), x.conv2d(Tensor(np.ascontiguousarray(plain), "int8"), padding=1, groups=groups).relu()
    g, r = run_graph(out, cfg), run_graph(ref, cfg)
    assert g.correct is True and [k.op for k in g.kernels if k.kind == "gemm"] == [k.op for k in r.kernels if k.kind == "gemm"] != []
    assert np.array_equal(g.output, ref.numpy()) and g.stats.cycles == r.stats.cycles   # the same program as the unsliced conv
