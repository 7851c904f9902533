"""ONNX files into our IR: each node becomes the Tensor ops of compiler/tensor.py that our own frontend would write
(Conv -> conv2d, Gemm/MatMul -> @, Softmax -> softmax, ...), so the scheduler recognizes and fuses them as usual.

Initializers are weights (constant buffers); graph inputs get a seeded standard-normal value of their declared shape
(a symbolic dimension is 1). An operator outside the list below is one line naming it and its node. Differences:
ONNX Gelu (erf) becomes our tanh-approximation GELU (the one the vector unit runs); AveragePool counts padding as zeros
(count_include_pad) and asymmetric pads or unequal strides are refused, as conv2d takes one stride and one padding.
"""
from __future__ import annotations

import numpy as np

from ..program import CompileError
from ..tensor import Tensor


def _attrs(node) -> dict:
  from onnx import helper
  return {a.name: helper.get_attribute_value(a) for a in node.attribute}

def _square(vals, what, node) -> int:
  vals = list(vals)
  if len(set(vals)) > 1: raise CompileError(f"ONNX {node.op_type} (node {node.name!r}): unequal {what} {vals} are not supported")
  return int(vals[0]) if vals else None

def _const(v: np.ndarray) -> Tensor:
  """A constant operand: 1-D data stays a 1-D buffer seen through a broadcasting view (a bias the epilogues fuse)."""
  v = np.asarray(v)
  if v.dtype == np.float64: v = v.astype(np.float32)
  if v.ndim > 1 and v.size == max(v.shape): return Tensor(v.reshape(-1)).reshape(v.shape)
  return Tensor(v)

class _Graph:
  def __init__(self, model, seed: int):
    self.init = {i.name: np.asarray(__import__("onnx").numpy_helper.to_array(i)) for i in model.graph.initializer}
    self.val: dict[str, Tensor] = {}
    rng = np.random.default_rng(seed)
    for inp in model.graph.input:
      if inp.name in self.init: continue
      shape = tuple(d.dim_value if d.dim_value > 0 else 1 for d in inp.type.tensor_type.shape.dim)
      self.val[inp.name] = Tensor(rng.standard_normal(shape, np.float32))

  def t(self, name) -> Tensor:
    if name in self.val: return self.val[name]
    if name in self.init: self.val[name] = _const(self.init[name]); return self.val[name]
    raise CompileError(f"ONNX value {name!r} is used before it is defined")
  def const(self, name, node) -> np.ndarray:
    if name not in self.init: raise CompileError(f"ONNX {node.op_type} (node {node.name!r}): input {name!r} must be a constant (initializer)")
    return self.init[name]
  def operand(self, name):
    """A scalar initializer as a Python float (a constant factor the epilogue folds), else the tensor."""
    if name in self.init and self.init[name].size == 1 and name not in self.val: return float(self.init[name].reshape(-1)[0])
    return self.t(name)

  def node(self, n) -> list[Tensor]:
    op, a, ins = n.op_type, _attrs(n), list(n.input)
    if op == "Conv":
      x, w = self.t(ins[0]), self.t(ins[1])
      pads = a.get("pads", [0, 0, 0, 0])
      p = _square(pads, "pads", n); s = _square(a.get("strides", [1, 1]), "strides", n) or 1; d = _square(a.get("dilations", [1, 1]), "dilations", n) or 1
      b = Tensor(self.const(ins[2], n).reshape(-1).astype(np.float32)) if len(ins) > 2 and ins[2] else None
      return [x.conv2d(w, b, stride=s, padding=p, dilation=d, groups=a.get("group", 1))]
    if op in ("Gemm", "MatMul"):
      x, w = self.t(ins[0]), self.t(ins[1])
      if a.get("transA", 0): x = x.T
      if a.get("transB", 0): w = w.T
      y = x @ w
      if a.get("alpha", 1.0) != 1.0: y = y * float(a["alpha"])
      if len(ins) > 2 and ins[2]:
        c = self.init.get(ins[2])
        bias = Tensor(c.reshape(-1).astype(np.float32) * a.get("beta", 1.0)) if c is not None and c.size == max(c.shape, default=1) else self.t(ins[2]) * float(a.get("beta", 1.0))
        y = y + bias
      return [y]
    if op in ("Add", "Mul", "Sub", "Div"):
      x, y = self.operand(ins[0]), self.operand(ins[1])
      if isinstance(x, float): x, y = (y, x) if op in ("Add", "Mul") else (Tensor.full((), x), y)
      return [x + y if op == "Add" else x * y if op == "Mul" else x - y if op == "Sub" else x * (1.0 / y) if isinstance(y, float) else x / y]
    if op == "Relu": return [self.t(ins[0]).relu()]
    if op == "Clip":
      x = self.t(ins[0])
      lo = float(self.const(ins[1], n)) if len(ins) > 1 and ins[1] else a.get("min")
      hi = float(self.const(ins[2], n)) if len(ins) > 2 and ins[2] else a.get("max")
      if lo is not None: x = x.relu() if lo == 0 else x.maximum(float(lo))
      return [x.minimum(float(hi)) if hi is not None else x]
    if op == "Sigmoid": return [self.t(ins[0]).sigmoid()]
    if op == "Tanh": return [self.t(ins[0]).tanh()]
    if op == "Gelu": return [self.t(ins[0]).gelu()]
    if op in ("MaxPool", "AveragePool"):
      x = self.t(ins[0]); k = _square(a["kernel_shape"], "kernel_shape", n)
      s = _square(a.get("strides", [1, 1]), "strides", n) or 1; p = _square(a.get("pads", [0, 0, 0, 0]), "pads", n)
      return [x.max_pool2d(k, s, p) if op == "MaxPool" else x.avg_pool2d(k, s, p)]
    if op == "GlobalAveragePool":
      x = self.t(ins[0]); h, w = x.shape[2:]
      if h != w: raise CompileError(f"ONNX GlobalAveragePool (node {n.name!r}): a {h}x{w} input is not square")
      return [x.avg_pool2d(h, h)]
    if op == "Flatten":
      x = self.t(ins[0]); ax = a.get("axis", 1) % max(x.ndim, 1)
      return [x.reshape(int(np.prod(x.shape[:ax])), -1)]
    if op == "Reshape":
      x = self.t(ins[0]); shape = [int(v) for v in self.const(ins[1], n)]
      return [x.reshape(tuple(x.shape[i] if v == 0 else v for i, v in enumerate(shape)))]
    if op == "Transpose":
      x = self.t(ins[0]); return [x.permute(tuple(a.get("perm", reversed(range(x.ndim)))))]
    if op in ("Squeeze", "Unsqueeze"):
      x = self.t(ins[0])
      axes = [int(v) for v in (self.const(ins[1], n) if len(ins) > 1 else a.get("axes", []))]
      if op == "Squeeze":
        axes = [v % x.ndim for v in axes] or [i for i, s in enumerate(x.shape) if s == 1]
        return [x.reshape(tuple(s for i, s in enumerate(x.shape) if i not in axes))]
      shape = list(x.shape)
      for v in sorted(v % (x.ndim + len(axes)) for v in axes): shape.insert(v, 1)
      return [x.reshape(tuple(shape))]
    if op == "Concat":
      xs = [self.t(i) for i in ins]; ax = a["axis"] % xs[0].ndim; total = sum(x.shape[ax] for x in xs); out, at = None, 0
      for x in xs:     # concatenation as zero-padded views added together (exact: the other parts read as 0)
        part = x.pad(tuple((at, total - at - x.shape[ax]) if i == ax else (0, 0) for i in range(x.ndim))); at += x.shape[ax]
        out = part if out is None else out + part
      return [out]
    if op == "Slice":
      x = self.t(ins[0]); starts, ends = self.const(ins[1], n), self.const(ins[2], n)
      axes = self.const(ins[3], n) if len(ins) > 3 and ins[3] else range(len(starts))
      steps = self.const(ins[4], n) if len(ins) > 4 and ins[4] else [1] * len(starts)
      idx = [slice(None)] * x.ndim
      for s_, e, ax, st in zip(starts, ends, axes, steps): idx[int(ax) % x.ndim] = slice(int(s_), int(min(e, x.shape[int(ax) % x.ndim])), int(st))
      return [x[tuple(idx)]]
    if op == "Softmax": return [self.t(ins[0]).softmax(a.get("axis", -1))]
    if op == "LayerNormalization":
      x = self.t(ins[0])
      if a.get("axis", -1) % x.ndim != x.ndim - 1: raise CompileError(f"ONNX LayerNormalization (node {n.name!r}): only the last axis")
      y = x.layernorm(-1, float(np.format_float_positional(np.float32(a.get("epsilon", 1e-5)))))   # the float32 attribute's shortest decimal: 1e-5, not 9.99999974e-06
      if len(ins) > 1 and ins[1]: y = y * Tensor(self.const(ins[1], n).reshape(-1).astype(np.float32))
      if len(ins) > 2 and ins[2]: y = y + Tensor(self.const(ins[2], n).reshape(-1).astype(np.float32))
      return [y]
    if op == "ReduceMean":
      x = self.t(ins[0])
      axes = [int(v) for v in (self.const(ins[1], n) if len(ins) > 1 else a.get("axes", range(x.ndim)))]
      return [x.mean(tuple(axes), keepdim=bool(a.get("keepdims", 1)))]
    if op == "Identity": return [self.t(ins[0])]
    raise CompileError(f"ONNX op {op} (node {n.name!r}) is not supported")

def import_onnx(path_or_model, seed: int = 0) -> Tensor:
  """Our Tensor for the first output of an ONNX model (a path or a ModelProto)."""
  import onnx
  model = onnx.load(path_or_model) if isinstance(path_or_model, str) else path_or_model
  g = _Graph(model, seed)
  for n in model.graph.node:
    try: outs = g.node(n)
    except (ValueError, TypeError, KeyError) as e: raise CompileError(f"ONNX {n.op_type} (node {n.name!r}): {e}") from None
    for name, t in zip(n.output, outs): g.val[name] = t
  return g.t(model.graph.output[0].name)

def input_values(path_or_model, seed: int = 0) -> dict[str, np.ndarray]:
  """The inputs import_onnx gives the graph, by name (to run the same model in onnxruntime)."""
  import onnx
  model = onnx.load(path_or_model) if isinstance(path_or_model, str) else path_or_model
  inits, rng, out = {i.name for i in model.graph.initializer}, np.random.default_rng(seed), {}
  for inp in model.graph.input:
    if inp.name in inits: continue
    out[inp.name] = rng.standard_normal(tuple(d.dim_value if d.dim_value > 0 else 1 for d in inp.type.tensor_type.shape.dim), np.float32)
  return out
