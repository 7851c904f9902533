"""The IR: about a dozen compute ops over lazily viewed buffers, and its numpy interpreter.

Every Node has a shape and a dtype. Movement never computes: VIEW wraps its source in a
ShapeTracker (compiler/view.py). Matmuls and convolutions are SUM reduces of MULs of expanded
views; the scheduler recognizes them as contractions. `evaluate` is the golden reference.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

import numpy as np


class Ops(Enum):
  BUFFER = auto(); CONST = auto(); VIEW = auto()                       # data and movement
  EXP2 = auto(); LOG2 = auto(); RECIP = auto(); SQRT = auto(); NEG = auto()   # unary
  ADD = auto(); MUL = auto(); MAX = auto(); CMPLT = auto()             # binary
  WHERE = auto()                                                       # ternary
  SUM = auto(); RMAX = auto()                                          # reduce (axes kept as size 1)
  CAST = auto()

UNARY = {Ops.EXP2: np.exp2, Ops.LOG2: np.log2, Ops.RECIP: np.reciprocal, Ops.SQRT: np.sqrt, Ops.NEG: np.negative}
BINARY = {Ops.ADD: np.add, Ops.MUL: np.multiply, Ops.MAX: np.maximum, Ops.CMPLT: np.less}
REDUCE = {Ops.SUM: np.sum, Ops.RMAX: np.max}
DTYPES = ("bool", "int8", "int32", "float32")

@dataclass(frozen=True, eq=False)
class Node:
  op: Ops
  srcs: tuple = ()
  arg: object = None
  shape: tuple = ()
  dtype: str = "float32"

  def __repr__(self): return f"{self.op.name}{list(self.shape)}:{self.dtype}"

def toposort(root: Node) -> list[Node]:
  seen, order = set(), []
  def visit(n):
    if id(n) in seen: return
    seen.add(id(n))
    for s in n.srcs: visit(s)
    order.append(n)
  visit(root)
  return order

def evaluate(root: Node, cache: dict | None = None) -> np.ndarray:
  """Interpret the graph with numpy: the golden reference every lowering is checked against.
  Views are numpy strides (no copies); a SUM of a MUL of views is one einsum, so the broadcast
  product of a matmul or convolution is never materialized. `cache` keeps values across calls."""
  val = {} if cache is None else cache
  order = [n for n in toposort(root) if id(n) not in val]
  users = {}
  for n in order:
    for s_ in n.srcs: users.setdefault(id(s_), []).append(n)
  for n in order:
    if n.op == Ops.MUL and users.get(id(n)) and all(u.op == Ops.SUM for u in users[id(n)]) and n is not root:
      val[id(n)] = None; continue       # folded into its SUM
    if n.op == Ops.SUM and n.srcs[0].op == Ops.MUL and val.get(id(n.srcs[0]), 0) is None:
      letters = "abcdefghijklmnopqrstuvwxyz"[:len(n.shape)]
      ops, subs = [], []
      for x in n.srcs[0].srcs:   # drop each operand's broadcast (stride-0) axes, so einsum can hand the product to BLAS
        a = val[id(x)]
        keep = [i for i in range(a.ndim) if not (a.strides[i] == 0 and a.shape[i] > 1 and i not in n.arg)]
        ops.append(np.ascontiguousarray(a[tuple(slice(None) if i in keep else 0 for i in range(a.ndim))]).astype(n.dtype, copy=False))
        subs.append("".join(letters[i] for i in keep))
      outs = "".join(c for i, c in enumerate(letters) if i not in n.arg)
      v = np.einsum(f"{subs[0]},{subs[1]}->{outs}", *ops, optimize=True).reshape(n.shape)
      val[id(n)] = v; continue
    s = [val[id(x)] for x in n.srcs]
    if n.op == Ops.BUFFER: v = n.arg
    elif n.op == Ops.CONST: v = np.full(n.shape, n.arg, n.dtype)
    elif n.op == Ops.VIEW: v = n.arg.realize(np.ascontiguousarray(s[0]).reshape(-1))
    elif n.op in (Ops.ADD, Ops.MUL, Ops.MAX, Ops.NEG): v = (UNARY.get(n.op) or BINARY[n.op])(*(x.astype(n.dtype) for x in s))   # int8 widens
    elif n.op in UNARY:
      with np.errstate(divide="ignore", invalid="ignore"): v = UNARY[n.op](s[0])
    elif n.op in BINARY: v = BINARY[n.op](s[0], s[1])
    elif n.op == Ops.WHERE: v = np.where(s[0], s[1], s[2])
    elif n.op in REDUCE: v = REDUCE[n.op](s[0], axis=n.arg, keepdims=True)
    elif n.op == Ops.CAST: v = s[0].astype(n.dtype)
    else: raise NotImplementedError(n.op)
    val[id(n)] = np.asarray(v, n.dtype).reshape(n.shape)
  return np.array(val[id(root)]) if root.op == Ops.VIEW else val[id(root)]

def print_graph(root: Node) -> str:
  """One line per node: index, op, shape:dtype, sources, argument."""
  order = toposort(root); ix = {id(n): i for i, n in enumerate(order)}
  def arg(n):
    if n.op == Ops.VIEW: return " ".join(f"View(shape={v.shape}, strides={v.strides}, offset={v.offset}" + (f", mask={v.mask})" if v.mask else ")") for v in n.arg.views)
    if n.op == Ops.BUFFER: return f"<{n.arg.dtype} buffer>"
    return "" if n.arg is None else str(n.arg)
  return "\n".join(f"%{i:<3} {n.op.name:<6} {str(list(n.shape)):<18} {n.dtype:<8} {' '.join(f'%{ix[id(s)]}' for s in n.srcs):<10} {arg(n)}" for i, n in enumerate(order))
