"""Real tinygrad (0.14) into our IR: its lazy Tensor-level UOp graph, read before anything is realized.

tinygrad 0.14 has no ShapeTracker: `t.uop` is a graph of BUFFER, CONST, ALU ops, CAST, movement ops (RESHAPE,
PERMUTE, EXPAND, PAD, SHRINK, FLIP, whose arguments are STACKs of CONSTs and the node's own shape), REDUCE and
CONTIGUOUS. Each node maps onto the Tensor op of compiler/tensor.py that builds the same IR, so the scheduler sees
the graph our own frontend would build: REDUCE((op, n)) reduces the first n axes of a PERMUTE, so it becomes a SUM/RMAX
over the permuted axes of the PERMUTE's source (a matmul is then the same contraction as `a @ b`); tinygrad's relu
`where(0 < x, x, 0)` becomes MAX(x, 0); an int8 -> int32 CAST of an int8 product is already what our widening MUL
computes, so int8 -> int32 casts vanish.

tinygrad's composite functions build graphs unlike ours (its _pool windows a tensor by repeat, shrink and reshape; its
softmax and layernorm detach and use rsqrt), so conv2d, max_pool2d, avg_pool2d, softmax, layernorm and gelu are
recognized as wholes: tinygrad hash-conses UOps, so calling the tinygrad function again on a candidate input (a node a
few levels below, with parameters consistent with the shapes) returns the very same UOp exactly when the node is that
function of that input. The match becomes our own frontend's call (x.conv2d(w, ...), x.softmax(), ...), which the
scheduler recognizes and fuses as usual; anything else imports op by op. tinygrad multiplies int8 by int8 in int8 (wrapping, even in
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

MOVEMENT = ("RESHAPE", "PERMUTE", "EXPAND", "PAD", "SHRINK", "FLIP", *PASS)

def _chain(u, ndim: int) -> list:
  """u and the nodes below it through movement ops only, those of `ndim` dims: the candidate inputs of a windowed op."""
  out = []
  while True:
    if len(u.shape) == ndim: out.append(u)
    if u.op.name not in MOVEMENT or not u.src: return out
    u = u.src[0]

def _windowed(u) -> list:
  """Candidate (N, C, H, W) inputs of a window op whose windows u reads: tinygrad pads with a WHERE (pad value), reshapes,
  repeats and shrinks, about 15 nodes deep."""
  return [x for x in _below(u, 20) if len(x.shape) == 4 and x.op.name not in ("CONST", "STACK")]

def _below(u, depth: int) -> list:
  """The nodes at most `depth` edges below u (STACK arguments excluded)."""
  seen, frontier = {id(u): u}, [u]
  for _ in range(depth):
    frontier = [s for f in frontier for s in f.src if s.op.name != "STACK" and id(s) not in seen and not seen.setdefault(id(s), s) is None]
  return list(seen.values())

def _find(u, op: str, depth: int):
  """The first node named op reached from u through at most `depth` movement ops, else None."""
  for _ in range(depth + 1):
    if u.op.name == op: return u
    if u.op.name not in MOVEMENT or not u.src: return None
    u = u.src[0]
  return None

def _out(i: int, k: int, s: int, p: int, d: int = 1) -> int: return (i + 2 * p - d * (k - 1) - 1) // s + 1

def _same(build, u) -> bool:
  try: return build().uop is u
  except Exception: return False      # a candidate tinygrad itself rejects (shapes, asserts) is simply not the match

def match_conv2d(u):
  """(x, w, params) when u is TT(x).conv2d(TT(w), **params) (bias excluded: it imports as a broadcast add)."""
  from tinygrad.tensor import Tensor as TT
  red = _find(u.src[0], "REDUCE", 3) if u.op.name == "RESHAPE" and len(u.shape) == 4 else None
  if red is None or red.arg[0].name != "ADD" or (mul := _find(red.src[0], "MUL", 2)) is None: return None
  found = []          # conv2d(pad(x), padding=0) is the same UOp as conv2d(x, padding=p): the largest padding is the convolution's
  for xs, ws in (mul.src, mul.src[::-1]):
    for w in _chain(ws, 4)[-2:]:
      cout, cin, kh, kw = w.shape
      if cout != u.shape[1]: continue
      for x in _windowed(xs):
        bs, c, h, wd = x.shape
        if bs != u.shape[0] or c % cin: continue
        for s in range(1, 5):
          for d in range(1, 4):
            for p in range(max(kh, kw)):
              if (_out(h, kh, s, p, d), _out(wd, kw, s, p, d)) != u.shape[2:]: continue
              kw_ = dict(groups=c // cin, stride=s, dilation=d, padding=p)
              if _same(lambda: TT(x).conv2d(TT(w), **kw_), u): found.append((x, w, kw_))
  return max(found, key=lambda f: f[2]["padding"], default=None)

def match_pool(u):
  """(x, kind, k, stride, padding) when u is TT(x).max_pool2d(k, stride, padding=p) or avg_pool2d (counting padding)."""
  from tinygrad.tensor import Tensor as TT
  if len(u.shape) != 4: return None
  red = u if u.op.name == "REDUCE" else _find(u.src[0], "REDUCE", 1) if u.op.name == "MUL" else None
  if red is None or red.arg[0].name not in ("ADD", "MAX"): return None
  kind = "max" if red.arg[0].name == "MAX" else "avg"
  if (kind == "max") != (u is red): return None
  found = []
  for x in _windowed(red.src[0]):
    if x.shape[:2] != u.shape[:2]: continue
    for k in range(1, 8):
      for s in range(1, 8):
        for p in range(k // 2 + 1):
          if (_out(x.shape[2], k, s, p), _out(x.shape[3], k, s, p)) != u.shape[2:]: continue
          f = TT.max_pool2d if kind == "max" else TT.avg_pool2d
          if _same(lambda: f(TT(x), k, s, padding=p), u): found.append((x, kind, k, s, p))
  return max(found, key=lambda f: f[4], default=None)

def match_rowwise(u):
  """(x, name, eps) when u is TT(x).softmax(-1), .layernorm(-1, eps) or .gelu()."""
  from tinygrad.tensor import Tensor as TT
  if u.op.name != "MUL" or not u.shape: return None
  near = _below(u, 9)
  names = {n.op.name for n in near}
  eps = sorted({float(n.arg) for n in near if n.op.name == "CONST" and isinstance(n.arg, float) and 0 < n.arg < 1e-2})
  todo = ([("softmax", None, lambda t, e: t.softmax(-1))] if "EXP2" in names and "RECIPROCAL" in names else []) + \
         [("layernorm", e, lambda t, e: t.layernorm(-1, e)) for e in eps if "SQRT" in names]
  for half in u.src:              # gelu is 0.5 * x * (1 + tanh(...)): its x is the other factor of the 0.5
    if half.op.name == "MUL" and any(c.op.name == "CONST" and c.arg == 0.5 for c in half.src):
      for x in half.src:
        if x.shape == u.shape and _same(lambda: TT(x).gelu(), u): return x, "gelu", None
  for x in near:
    if x is u or x.shape != u.shape or x.op.name in ("CONST", "STACK"): continue
    for name, e, f in todo:
      if _same(lambda: f(TT(x), e), u): return x, name, e
  return None

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

  def composite(self, u) -> Tensor | None:
    """Our frontend's call for a tinygrad composite function u computes, else None."""
    name = u.op.name
    if name == "RESHAPE" and (m := match_conv2d(u)):
      x, w, kw = m
      return self(x).conv2d(self(w), stride=kw["stride"], padding=kw["padding"], dilation=kw["dilation"], groups=kw["groups"])
    if name in ("REDUCE", "MUL") and (m := match_pool(u)):
      x, kind, k, s, p = m
      return self(x).max_pool2d(k, s, p) if kind == "max" else self(x).avg_pool2d(k, s, p)
    if name == "MUL" and (m := match_rowwise(u)):
      x, fn, eps = m
      return self(x).softmax(-1) if fn == "softmax" else self(x).layernorm(-1, eps) if fn == "layernorm" else self(x).gelu()
    return None

  def convert(self, u) -> Tensor:
    name, src = u.op.name, u.src
    if name in ("RESHAPE", "REDUCE", "MUL") and _dtype(u) == "float32" or name == "RESHAPE":
      if (t := self.composite(u)) is not None: return t
    if name in FOLD and self.unsupported(u): return self.realize(u)
    if name in PASS or name in FOLD: return self(src[0])
    if name == "BUFFER": return Tensor(np.asarray(u.buffer.numpy()).reshape(u.shape), _dtype(u))
    if name == "CONST": return Tensor.full((), u.arg, _dtype(u)).reshape(())
    if name == "RESHAPE":
      if src[0].op.name == "BUFFER" and (len(src[0].shape) != 1 or max(u.shape, default=1) != src[0].shape[0]):   # a buffer in its own shape
        return Tensor(np.asarray(src[0].buffer.numpy()).reshape(u.shape), _dtype(src[0]))
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
