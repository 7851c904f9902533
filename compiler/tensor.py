"""A lazy, PyTorch-like Tensor over the IR (compiler/ir.py). Nothing runs until .numpy()/.realize().

Arithmetic follows the accelerator: int8 operands widen to int32 (int8 x int8 -> int32), floats are
float32. Movement ops (reshape, permute, expand, pad, shrink, flip, slicing) compose into one VIEW
node over the source and cost nothing. matmul and conv2d are multiplies of expanded views summed
over the contracted axes, exactly as a user could write them by hand.
"""
from __future__ import annotations

import math

import numpy as np

from .ir import DTYPES, Node, Ops, evaluate
from .view import ShapeTracker

LOG2_E, LN_2 = math.log2(math.e), math.log(2)

def _result_dtype(*dts) -> str:
  order = {d: i for i, d in enumerate(DTYPES)}
  d = max(dts, key=order.get)
  return "int32" if d == "int8" else d          # int8 arithmetic widens, as on the array

class Tensor:
  __slots__ = ("node",)
  def __init__(self, data, dtype: str | None = None):
    if isinstance(data, Node): self.node = data; return
    a = np.asarray(data)
    if dtype is None: dtype = a.dtype.name if a.dtype.name in DTYPES else {"b": "bool", "i": "int32", "u": "int32", "f": "float32"}.get(a.dtype.kind, a.dtype.name)
    if dtype not in DTYPES: raise TypeError(f"unsupported dtype {dtype} (supported: {', '.join(DTYPES)})")
    a = np.ascontiguousarray(a.astype(dtype))
    self.node = Node(Ops.BUFFER, (), a, a.shape, dtype)

  # ---- creation ----
  @staticmethod
  def full(shape, value, dtype="float32") -> Tensor:
    return Tensor(Node(Ops.CONST, (), value, (), dtype)).reshape((1,) * len(shape)).expand(tuple(shape))
  @staticmethod
  def zeros(*shape, dtype="float32"): return Tensor.full(_shape(shape), 0, dtype)
  @staticmethod
  def ones(*shape, dtype="float32"): return Tensor.full(_shape(shape), 1, dtype)
  @staticmethod
  def arange(n, dtype="int32"): return Tensor(np.arange(n), dtype)
  @staticmethod
  def eye(n, dtype="float32"): return Tensor(np.eye(n), dtype)
  @staticmethod
  def rand(*shape, seed=0): return Tensor(np.random.default_rng(seed).random(_shape(shape), np.float32))
  @staticmethod
  def randn(*shape, seed=0): return Tensor(np.random.default_rng(seed).standard_normal(_shape(shape), np.float32))
  @staticmethod
  def randint(*shape, low=-128, high=128, dtype="int8", seed=0): return Tensor(np.random.default_rng(seed).integers(low, high, _shape(shape)), dtype)

  # ---- properties, realization ----
  @property
  def shape(self) -> tuple: return self.node.shape
  @property
  def dtype(self) -> str: return self.node.dtype
  @property
  def ndim(self) -> int: return len(self.shape)
  def numpy(self) -> np.ndarray: return evaluate(self.node)
  def realize(self) -> Tensor: return Tensor(self.numpy(), self.dtype)
  def __repr__(self): return f"<Tensor {list(self.shape)} {self.dtype} {self.node.op.name}>"

  # ---- movement: a VIEW over the base; consecutive views compose ----
  def _view(self, fn) -> Tensor:
    base, st = (self.node.srcs[0], self.node.arg) if self.node.op == Ops.VIEW else (self.node, ShapeTracker.contiguous(self.shape))
    st = fn(st)
    return Tensor(Node(Ops.VIEW, (base,), st, st.shape, self.dtype))
  def reshape(self, *shape) -> Tensor:
    shape = _shape(shape)
    if -1 in shape: shape = tuple(math.prod(self.shape) // -math.prod(shape) if s == -1 else s for s in shape)
    if math.prod(shape) != math.prod(self.shape): raise ValueError(f"cannot reshape {self.shape} to {shape}")
    return self if shape == self.shape else self._view(lambda st: st.reshape(shape))
  def permute(self, *order) -> Tensor:
    order = tuple(a % self.ndim for a in _shape(order))
    if sorted(order) != list(range(self.ndim)): raise ValueError(f"bad permutation {order} of {self.ndim} axes")
    return self._view(lambda st: st.permute(order))
  def transpose(self, a0=-2, a1=-1) -> Tensor:
    order = list(range(self.ndim)); order[a0], order[a1] = order[a1], order[a0]
    return self.permute(order)
  @property
  def T(self): return self.transpose()
  def expand(self, *shape) -> Tensor:
    shape = tuple(s if n == -1 else n for s, n in zip(self.shape, _shape(shape)))
    if any(s != n and s != 1 for s, n in zip(self.shape, shape)) or len(shape) != self.ndim: raise ValueError(f"cannot expand {self.shape} to {shape}")
    return self if shape == self.shape else self._view(lambda st: st.expand(shape))
  def pad(self, arg) -> Tensor:
    return self._view(lambda st: st.pad(tuple(tuple(p) for p in arg)))
  def shrink(self, arg) -> Tensor:
    arg = tuple((0, s) if a is None else tuple(a) for a, s in zip(arg, self.shape))
    if any(not 0 <= lo < hi <= s for (lo, hi), s in zip(arg, self.shape)): raise ValueError(f"bad shrink {arg} of {self.shape}")
    return self._view(lambda st: st.shrink(arg))
  def flip(self, axis) -> Tensor:
    axes = tuple(a % self.ndim for a in ((axis,) if isinstance(axis, int) else axis))
    return self._view(lambda st: st.flip(axes))
  def stride(self, steps) -> Tensor: return self._view(lambda st: st.stride(tuple(steps)))
  def __getitem__(self, idx) -> Tensor:
    idx = idx if isinstance(idx, tuple) else (idx,)
    idx = idx + (slice(None),) * (self.ndim - len(idx))
    arg, steps, keep = [], [], []
    for i, s in zip(idx, self.shape):
      if isinstance(i, int):
        if not -s <= i < s: raise IndexError(f"index {i} out of range for size {s}")
        i %= s; arg.append((i, i + 1)); steps.append(1); keep.append(False)
      elif isinstance(i, slice):
        lo, hi, step = i.indices(s)
        if step < 1: raise ValueError("only positive slice steps are supported")
        arg.append((lo, max(hi, lo + 1) if hi > lo else lo + 1)); steps.append(step); keep.append(True)
        if hi <= lo: raise ValueError("empty slices are not supported")
      elif isinstance(i, Tensor):
        raise TypeError("indexing by a Tensor (x[y], data-dependent gather) is out of scope by design: every access must be a static view")
      else: raise TypeError(f"unsupported index {i!r}: use ints and slices with constant bounds")
    t = self.shrink(arg)
    if any(k != 1 for k in steps): t = t.stride(steps)
    return t.reshape(tuple(s for s, k in zip(t.shape, keep) if k))
  def _window(self, shape, strides) -> Tensor:
    return self._view(lambda st: st.window(shape, strides))

  # ---- elementwise ----
  def _broadcast(self, other) -> tuple[Tensor, Tensor]:
    o = other if isinstance(other, Tensor) else Tensor.full((), other, "float32" if isinstance(other, float) or self.dtype == "float32" else self.dtype if self.dtype != "bool" else "int32")
    nd = max(self.ndim, o.ndim)
    a, b = self.reshape((1,) * (nd - self.ndim) + self.shape), o.reshape((1,) * (nd - o.ndim) + o.shape)
    try: shape = tuple(np.broadcast_shapes(a.shape, b.shape))
    except ValueError: raise ValueError(f"shapes {self.shape} and {o.shape} do not broadcast") from None
    return a.expand(shape), b.expand(shape)
  def _binary(self, op, other, dtype=None) -> Tensor:
    a, b = self._broadcast(other)
    return Tensor(Node(op, (a.node, b.node), None, a.shape, dtype or _result_dtype(a.dtype, b.dtype)))
  def _unary(self, op) -> Tensor:
    x = self if self.dtype == "float32" else self.cast("float32")
    return Tensor(Node(op, (x.node,), None, x.shape, "float32"))
  def cast(self, dtype) -> Tensor:
    if dtype not in DTYPES: raise TypeError(f"unsupported dtype {dtype}")
    return self if dtype == self.dtype else Tensor(Node(Ops.CAST, (self.node,), None, self.shape, dtype))
  def __add__(self, o): return self._binary(Ops.ADD, o)
  def __mul__(self, o): return self._binary(Ops.MUL, o)
  def __neg__(self): return Tensor(Node(Ops.NEG, (self.node,), None, self.shape, _result_dtype(self.dtype)))
  def __sub__(self, o): return self + (-(o if isinstance(o, Tensor) else Tensor.full((), o, "float32" if isinstance(o, float) else self.dtype)))
  def __truediv__(self, o):
    o = o if isinstance(o, Tensor) else Tensor.full((), float(o), "float32")
    return self.cast("float32") * o.reciprocal()
  __radd__, __rmul__ = __add__, __mul__
  def __rsub__(self, o): return (-self) + o
  def __rtruediv__(self, o): return self.reciprocal() * o
  def __lt__(self, o): return self._binary(Ops.CMPLT, o, "bool")
  def __gt__(self, o): a, b = self._broadcast(o); return b < a
  def __ge__(self, o): return (self < o).logical_not()
  def __le__(self, o): return (self > o).logical_not()
  def logical_not(self) -> Tensor: return Tensor.where(self, False, True)
  def maximum(self, o): return self._binary(Ops.MAX, o)
  def minimum(self, o): return -((-self).maximum(-o if isinstance(o, Tensor) else -o))
  @staticmethod
  def where(cond, x, y) -> Tensor:
    cond = cond if isinstance(cond, Tensor) else Tensor(np.asarray(cond), "bool")
    x = x if isinstance(x, Tensor) else Tensor.full((), x, "bool" if isinstance(x, bool) else "float32")
    y = y if isinstance(y, Tensor) else Tensor.full((), y, "bool" if isinstance(y, bool) else "float32")
    shape = tuple(np.broadcast_shapes(cond.shape, x.shape, y.shape))
    c, a, b = (t.reshape((1,) * (len(shape) - t.ndim) + t.shape).expand(shape) for t in (cond, x, y))
    dt = _result_dtype(a.dtype, b.dtype) if "bool" not in (a.dtype, b.dtype) or a.dtype != b.dtype else "bool"
    return Tensor(Node(Ops.WHERE, (c.node, a.cast(dt).node, b.cast(dt).node), None, shape, dt))
  def relu(self): return self.maximum(0)
  def relu6(self): return self.relu().minimum(6.0)
  def exp2(self): return self._unary(Ops.EXP2)
  def log2(self): return self._unary(Ops.LOG2)
  def exp(self): return (self.cast("float32") * LOG2_E).exp2()
  def log(self): return self.log2() * LN_2
  def sqrt(self): return self._unary(Ops.SQRT)
  def reciprocal(self): return self._unary(Ops.RECIP)
  def square(self): return self * self
  def sigmoid(self): return (1.0 + (-self.cast("float32")).exp()).reciprocal()
  def tanh(self): return 2.0 * (2.0 * self.cast("float32")).sigmoid() - 1.0
  def gelu(self): x = self.cast("float32"); return 0.5 * x * (1.0 + (math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)).tanh())

  # ---- reductions: the IR keeps reduced axes as size 1 ----
  def _reduce(self, op, axis, keepdim) -> Tensor:
    axes = tuple(range(self.ndim)) if axis is None else tuple(a % self.ndim for a in ((axis,) if isinstance(axis, int) else axis))
    shape = tuple(1 if i in axes else s for i, s in enumerate(self.shape))
    x = self.cast("int32") if self.dtype in ("int8", "bool") else self
    out = Tensor(Node(op, (x.node,), axes, shape, x.dtype))
    return out if keepdim else out.reshape(tuple(s for i, s in enumerate(self.shape) if i not in axes))
  def sum(self, axis=None, keepdim=False): return self._reduce(Ops.SUM, axis, keepdim)
  def max(self, axis=None, keepdim=False): return self._reduce(Ops.RMAX, axis, keepdim)
  def mean(self, axis=None, keepdim=False):
    s = self.sum(axis, keepdim)
    return s.cast("float32") * (math.prod(s.shape) / math.prod(self.shape) if self.ndim else 1.0)
  def softmax(self, axis=-1):
    e = (self - self.max(axis, keepdim=True)).exp()
    return e / e.sum(axis, keepdim=True)
  def layernorm(self, axis=-1, eps=1e-5):
    x = self.cast("float32"); c = x - x.mean(axis, keepdim=True)
    return c * ((c * c).mean(axis, keepdim=True) + eps).sqrt().reciprocal()

  # ---- contractions: multiplies of expanded views, summed ----
  def matmul(self, w: Tensor) -> Tensor:
    if self.ndim < 2 or w.ndim < 2 or self.shape[-1] != w.shape[-2]: raise ValueError(f"matmul shape mismatch: {self.shape} @ {w.shape}")
    a = self.reshape(self.shape[:-1] + (1, self.shape[-1]))                   # (..., M, 1, K)
    b = w.transpose(-1, -2); b = b.reshape(b.shape[:-2] + (1,) + b.shape[-2:])  # (..., 1, N, K)
    return (a * b).sum(axis=-1)
  __matmul__ = matmul
  def linear(self, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    y = self @ weight.T
    return y if bias is None else y + bias
  def _pool(self, k, stride, dilation=1) -> Tensor:
    """(N, C, H, W) -> (N, C, OH, OW, KH, KW) sliding windows, as one view (no copy)."""
    (kh, kw), (sh, sw), (dh, dw) = _pair(k), _pair(stride), _pair(dilation)
    n, c, h, w = self.shape
    oh, ow = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
    if oh < 1 or ow < 1: raise ValueError(f"window {kh}x{kw} larger than the {h}x{w} input")
    return self._window((n, c, oh, ow, kh, kw), (c * h * w, h * w, sh * w, sw, dh * w, dw))
  def conv2d(self, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    n, cin, _, _ = self.shape; cout, cg, kh, kw = weight.shape
    if cin != cg * groups or cout % groups: raise ValueError(f"conv2d channels: input {cin}, weight {weight.shape}, groups {groups}")
    (ph, pw) = _pair(padding)
    x = self.pad(((0, 0), (0, 0), (ph, ph), (pw, pw)))._pool((kh, kw), stride, dilation)   # (N, C, OH, OW, KH, KW)
    _, _, oh, ow, _, _ = x.shape
    x = x.reshape(n, groups, 1, cg, oh, ow, kh, kw)
    wt = weight.reshape(1, groups, cout // groups, cg, 1, 1, kh, kw)
    y = (x * wt).sum(axis=(3, 6, 7)).reshape(n, cout, oh, ow)
    return y if bias is None else y + bias.reshape(1, cout, 1, 1)
  def max_pool2d(self, k=2, stride=None, padding=0):
    """Padding reads as -inf, as in PyTorch."""
    x = self
    if padding:
      arg = ((0, 0), (0, 0), (padding, padding), (padding, padding))
      x = Tensor.where(Tensor.ones(*self.shape, dtype="bool").pad(arg), self.pad(arg), float("-inf"))
    return x._pool(k, stride or k).max(axis=(4, 5))
  def avg_pool2d(self, k=2, stride=None, padding=0):
    """Padding counts as zeros (count_include_pad)."""
    x = self.pad(((0, 0), (0, 0), (padding, padding), (padding, padding))) if padding else self
    return x._pool(k, stride or k).mean(axis=(4, 5))

def _shape(shape) -> tuple:
  return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)
def _pair(x) -> tuple: return (x, x) if isinstance(x, int) else tuple(x)
