"""ONNX models built with onnx.helper (no downloads), imported (compiler/importers/onnx.py) and run on the model,
against onnxruntime."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from tinyaccel.arch.config import load_config  # noqa: E402
from tinyaccel.compiler.importers.onnx import import_onnx, input_values  # noqa: E402
from tinyaccel.compiler.ir import evaluate  # noqa: E402
from tinyaccel.compiler.program import CompileError  # noqa: E402
from tinyaccel.flow import run_graph  # noqa: E402

CFG = load_config("edge")
RNG = np.random.default_rng(0)

def _w(name, *shape, scale=None):
  fan = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
  return numpy_helper.from_array((RNG.standard_normal(shape) * (scale if scale is not None else fan ** -0.5)).astype(np.float32), name)

def _model(nodes, inits, x_shape, y_name="y"):
  g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                        [helper.make_tensor_value_info(y_name, TensorProto.FLOAT, [])], inits)
  m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]); m.ir_version = 8
  m.graph.output[0].type.tensor_type.ClearField("shape")     # output shape left to inference (onnxruntime validates the model)
  return m

def _check(m, cos=0.995):
  """IR evaluation equals onnxruntime in float32; the accelerator run is bit-exact against its integer reference
  and within quantization error of onnxruntime."""
  feeds = input_values(m)
  ref = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
  t = import_onnx(m)
  np.testing.assert_allclose(evaluate(t.node), ref, rtol=1e-4, atol=1e-4)
  g = run_graph(t, CFG)
  got, r = g.output.reshape(-1).astype(np.float64), ref.reshape(-1).astype(np.float64)
  assert g.correct is True and got @ r / (np.linalg.norm(got) * np.linalg.norm(r)) > cos
  return g

def test_resnet_block():
  C = 16
  nodes = [helper.make_node("Conv", ["x", "w0", "b0"], ["h0"], pads=[1, 1, 1, 1], strides=[2, 2], name="stem"),
           helper.make_node("Relu", ["h0"], ["a0"]),
           helper.make_node("Conv", ["a0", "w1", "b1"], ["h1"], pads=[1, 1, 1, 1], name="conv1"), helper.make_node("Relu", ["h1"], ["a1"]),
           helper.make_node("Conv", ["a1", "w2", "b2"], ["h2"], pads=[1, 1, 1, 1], name="conv2"),
           helper.make_node("Add", ["h2", "a0"], ["s"]), helper.make_node("Relu", ["s"], ["r"]),
           helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
           helper.make_node("Flatten", ["p"], ["f"]), helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1, name="fc")]
  inits = [_w("w0", C, 8, 3, 3), _w("b0", C, scale=0.1), _w("w1", C, C, 3, 3), _w("b1", C, scale=0.1), _w("w2", C, C, 3, 3), _w("b2", C, scale=0.1),
           _w("wf", 10, C * 4 * 4), _w("bf", 10, scale=0.1)]
  g = _check(_model(nodes, inits, [1, 8, 16, 16]))
  assert [k.name for k in g.kernels] == ["conv", "conv", "conv", "maxpool", "gemm"]   # the residual add + ReLU fused into conv2's epilogue

def test_mobilenet_depthwise_block():
  C, E = 8, 32
  nodes = [helper.make_node("Conv", ["x", "we", "be"], ["e"], name="expand"), helper.make_node("Clip", ["e", "lo", "hi"], ["ea"]),
           helper.make_node("Conv", ["ea", "wd", "bd"], ["d"], group=E, pads=[1, 1, 1, 1], name="dw"), helper.make_node("Clip", ["d", "lo", "hi"], ["da"]),
           helper.make_node("Conv", ["da", "wp", "bp"], ["y"], name="project")]
  inits = [_w("we", E, C, 1, 1), _w("be", E, scale=0.1), _w("wd", E, 1, 3, 3), _w("bd", E, scale=0.1), _w("wp", C, E, 1, 1), _w("bp", C, scale=0.1),
           numpy_helper.from_array(np.array(0, np.float32), "lo"), numpy_helper.from_array(np.array(6, np.float32), "hi")]
  g = _check(_model(nodes, inits, [1, C, 12, 12]))
  assert [k.name for k in g.kernels] == ["conv", "dwconv", "conv"] and "clamp" in g.kernels[0].fused

def test_unsupported_op_names_op_and_node(tmp_path):
  m = _model([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("HardSwish", ["r"], ["y"], name="hs1")], [], [1, 4])
  with pytest.raises(CompileError, match=r"ONNX op HardSwish \(node 'hs1'\) is not supported"): import_onnx(m)
  p = tmp_path / "bad.onnx"; onnx.save(m, str(p))
  import subprocess
  import sys
  r = subprocess.run([sys.executable, "-m", "tinyaccel.cli", "run", str(p), "--config", "edge"], capture_output=True, text=True)
  assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "HardSwish" in r.stderr

def test_cli_runs_an_onnx_file(tmp_path):
  nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Add", ["h", "b"], ["a"]), helper.make_node("Relu", ["a"], ["y"])]
  m = _model(nodes, [_w("w", 32, 24), _w("b", 24, scale=0.1)], [8, 32])
  p = tmp_path / "mlp.onnx"; onnx.save(m, str(p))
  from tinyaccel.cli import main
  js = tmp_path / "r.json"
  assert main(["run", str(p), "--config", "edge", "--json", str(js)]) == 0
  import json
  r = json.loads(js.read_text())
  assert r["correct"] is True and r["macs"] == 8 * 32 * 24 and r["kernels"][0]["fused"] == ["bias", "relu", "requant"]

def test_bert_encoder_layer():
  S, D, H, F = 32, 64, 2, 128; dh = D // H      # softmax rows: a multiple of the edge array's 32 columns
  mm = lambda x, w, b, y: [helper.make_node("MatMul", [x, w], [y + "_mm"], name=y), helper.make_node("Add", [y + "_mm", b], [y])]
  sh = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)
  nodes = [*mm("x", "wq", "bq", "q"), *mm("x", "wk", "bk", "k"), *mm("x", "wv", "bv", "v"),
           helper.make_node("Reshape", ["q", "heads"], ["q3"]), helper.make_node("Transpose", ["q3"], ["qh"], perm=[1, 0, 2]),
           helper.make_node("Reshape", ["k", "heads"], ["k3"]), helper.make_node("Transpose", ["k3"], ["kt"], perm=[1, 2, 0]),
           helper.make_node("Reshape", ["v", "heads"], ["v3"]), helper.make_node("Transpose", ["v3"], ["vh"], perm=[1, 0, 2]),
           helper.make_node("MatMul", ["qh", "kt"], ["sc"]), helper.make_node("Div", ["sc", "sqrt_dh"], ["scs"]),
           helper.make_node("Softmax", ["scs"], ["p"], axis=-1), helper.make_node("MatMul", ["p", "vh"], ["ctx"]),
           helper.make_node("Transpose", ["ctx"], ["ctx_t"], perm=[1, 0, 2]), helper.make_node("Reshape", ["ctx_t", "merged"], ["ctx2"]),
           *mm("ctx2", "wo", "bo", "o"), helper.make_node("Add", ["o", "x"], ["r1"]),
           helper.make_node("LayerNormalization", ["r1", "g1", "be1"], ["h1"], axis=-1, epsilon=1e-5),
           *mm("h1", "w1", "b1", "f1"), helper.make_node("Gelu", ["f1"], ["f1g"], approximate="tanh"), *mm("f1g", "w2", "b2", "f2"),
           helper.make_node("Add", ["f2", "h1"], ["r2"]), helper.make_node("LayerNormalization", ["r2", "g2", "be2"], ["y"], axis=-1, epsilon=1e-5)]
  inits = [_w("wq", D, D), _w("bq", D, scale=0.02), _w("wk", D, D), _w("bk", D, scale=0.02), _w("wv", D, D), _w("bv", D, scale=0.02),
           _w("wo", D, D), _w("bo", D, scale=0.02), _w("w1", D, F), _w("b1", F, scale=0.02), _w("w2", F, D), _w("b2", D, scale=0.02),
           numpy_helper.from_array((1 + RNG.standard_normal(D) * 0.1).astype(np.float32), "g1"), _w("be1", D, scale=0.02),
           numpy_helper.from_array((1 + RNG.standard_normal(D) * 0.1).astype(np.float32), "g2"), _w("be2", D, scale=0.02),
           sh("heads", [S, H, dh]), sh("merged", [S, D]), numpy_helper.from_array(np.array(np.sqrt(dh), np.float32), "sqrt_dh")]
  g = _check(_model20(nodes, inits, [S, D]), cos=0.99)
  names = [k.name for k in g.kernels]
  assert names.count("bmm") == 2 and "softmax" in names and names.count("layernorm") == 2 and any("gelu" in k.fused for k in g.kernels)

def _model20(nodes, inits, x_shape):
  """Opset 20: Gelu is a standard operator there."""
  m = _model(nodes, inits, x_shape)
  del m.opset_import[:]; m.opset_import.append(helper.make_opsetid("", 20)); m.ir_version = 9
  return m
