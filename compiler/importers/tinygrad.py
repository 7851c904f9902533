"""Real tinygrad (0.14) into our IR: its lazy Tensor-level UOp graph, read before anything is realized.

tinygrad 0.14 has no ShapeTracker: `t.uop` is a graph of BUFFER, CONST, ALU ops, CAST, movement ops (RESHAPE,
PERMUTE, EXPAND, PAD, SHRINK, FLIP, whose arguments are STACKs of CONSTs and the node's own shape), REDUCE and
CONTIGUOUS. Each node maps onto the Tensor op of compiler/tensor.py that builds the same IR, so the scheduler sees
the graph our own frontend would build: REDUCE((op, n)) reduces the first n axes of a PERMUTE, so it becomes a SUM/RMAX
over the permuted axes of the PERMUTE's source (a matmul is then the same contraction as `a @ b`); tinygrad's relu
`where(0 < x, x, 0)` becomes MAX(x, 0); an int8 -> int32 CAST of an int8 product is already what our widening MUL
computes, so int8 -> int32 casts vanish. tinygrad multiplies int8 by int8 in int8 (wrapping, even in
`matmul(..., dtype=dtypes.int32)`) where the array widens to int32: such a MUL is refused with a line saying to cast
the operands to int32 first, which is the array's arithmetic exactly (bit-exact with tinygrad's own result). Values tinygrad computes with ops outside our IR (Tensor.rand's threefry and bit casts, ones()'s
stores) are realized by tinygrad at their CONTIGUOUS/AFTER into constant buffers: the accelerator does not run them.
"""
from __future__ import annotations

import numpy as np

from ..program import CompileError
from ..tensor import Tensor

DTYPE = {"char": "int8", "signed char": "int8", "int": "int32", "float": "float32", "bool": "bool", "weakint": "int32", "weakfloat": "float32"}
ALU = {"ADD": lambda a, b: a + b, "MUL": lambda a, b: a * b, "MAX": lambda a, b: a.maximum(b), "CMPLT": lambda a, b: a < b}
UNARY = {"EXP2": Tensor.exp2, "LOG2": Tensor.log2, "SQRT": Tensor.sqrt, "RECIPROCAL": Tensor.reciprocal, "NEG": Tensor.__neg__}
PASS = ("COPY", "DETACH", "CONTIGUOUS_BACKWARD")
FOLD = ("CONTIGUOUS", "AFTER")          # where tinygrad's own computations (rand, ones) end: realized into buffers

def is_tinygrad_tensor(x) -> bool: return type(x).__module__.startswith("tinygrad") and hasattr(x, "uop")

def _dtype(u) -> str:
  d = DTYPE.get(u.dtype.name)
  if d is None: raise CompileError(f"tinygrad dtype {u.dtype.name} at {u.op.name}{list(u.shape)} has no counterpart (supported: int8, int32, float32, bool)")
  return d

def _ints(u) -> tuple: return tuple(int(s.arg) for s in u.src)

class _Importer:
  def __init__(self): self.memo, self.bad = {}, {}

  def unsupported(self, u) -> bool:
    """u's subgraph holds an op outside our IR (and so must be realized by tinygrad if it is a constant)."""
    if id(u) not in self.bad:
      name = u.op.name
      own = name not in (*ALU, *UNARY, *PASS, *FOLD, "BUFFER", "CONST", "CAST", "WHERE", "REDUCE", "RESHAPE", "PERMUTE", "EXPAND", "PAD", "SHRINK", "FLIP", "STACK")
      self.bad[id(u)] = own or any(self.unsupported(s) for s in u.src)
    return self.bad[id(u)]

  def __call__(self, u) -> Tensor:
    if id(u) not in self.memo: self.memo[id(u)] = self.convert(u)
    return self.memo[id(u)]

  def realize(self, u) -> Tensor:
    from tinygrad.tensor import Tensor as TT
    return Tensor(TT(u).numpy(), _dtype(u))

  def convert(self, u) -> Tensor:
    name, src = u.op.name, u.src
    if name in FOLD and self.unsupported(u): return self.realize(u)
    if name in PASS or name in FOLD: return self(src[0])
    if name == "BUFFER": return Tensor(np.asarray(u.buffer.numpy()).reshape(u.shape), _dtype(u))
    if name == "CONST": return Tensor.full((), u.arg, _dtype(u)).reshape(())
    if name == "RESHAPE":
      if src[0].op.name == "BUFFER": return Tensor(np.asarray(src[0].buffer.numpy()).reshape(u.shape), _dtype(src[0]))   # a buffer in its own shape
      return self(src[0]).reshape(tuple(u.shape))
    if name == "PERMUTE": return self(src[0]).permute(tuple(u.arg))
    if name == "EXPAND":                                  # numpy broadcasting: new leading axes, size-1 axes grow
      x = self(src[0]); shape = tuple(u.shape)
      return x.reshape((1,) * (len(shape) - x.ndim) + x.shape).expand(shape)
    if name == "PAD":
      x = self(src[0]); before = _ints(src[1])
      return x.pad(tuple((b, n - b - s) for b, n, s in zip(before, u.shape, x.shape)))
    if name == "SHRINK":
      x = self(src[0]); start = _ints(src[1])
      return x.shrink(tuple((b, b + n) for b, n in zip(start, u.shape)))
    if name == "FLIP":
      x = self(src[0]); axes = tuple(i for i, f in enumerate(u.arg) if f)
      return x.flip(axes) if axes else x
    if name == "CAST":
      x, dt = self(src[0]), _dtype(u)
      return x if x.dtype == dt or (x.dtype, dt) == ("int8", "int32") else x.cast(dt)   # our int8 arithmetic widens to int32 by itself
    if name in UNARY: return UNARY[name](self(src[0]))
    if name == "WHERE":
      c, a, b = src
      if c.op.name == "CMPLT" and c.src[1] is a and c.src[0].op.name == "CONST" and c.src[0].arg == 0 and b.op.name == "CONST" and b.arg == 0:
        return self(a).relu()                            # tinygrad's relu
      return Tensor.where(self(c), self(a), self(b))
    if name == "MUL" and _dtype(u) == "int8" and all(s.op.name != "CONST" for s in src):
      raise CompileError(f"tinygrad multiplies int8 by int8 in int8 (wrapping) at MUL{list(u.shape)}; the array computes int8 x int8 -> int32: "
                         "cast the operands with .cast(dtypes.int32)")
    if name in ALU: return ALU[name](self(src[0]), self(src[1]))
    if name == "REDUCE":
      op, n = u.arg
      x = src[0]
      perm = tuple(x.arg) if x.op.name == "PERMUTE" else tuple(range(len(x.shape)))
      base = self(x.src[0]) if x.op.name == "PERMUTE" else self(x)
      axes, rest = perm[:n], perm[n:]
      if op.name not in ("ADD", "MAX"): raise CompileError(f"tinygrad REDUCE {op.name} at {list(u.shape)} has no counterpart (ADD, MAX)")
      r = base.sum(axis=axes) if op.name == "ADD" else base.max(axis=axes)
      order = sorted(rest)
      return r if list(rest) == order else r.permute(tuple(order.index(a) for a in rest))
    if self.unsupported(u): raise CompileError(f"tinygrad op {name} at {name}{list(u.shape)}:{u.dtype.name} has no counterpart in the IR "
                                               "(a constant computed with it must end in .contiguous() to be realized by tinygrad)")
    raise CompileError(f"tinygrad op {name} is not imported")

def import_tensor(t) -> Tensor:
  """Our Tensor for a lazy tinygrad Tensor (nothing of the user's graph is realized)."""
  return _Importer()(t.uop)
