"""The IR: about a dozen compute ops over lazily viewed buffers, and its numpy interpreter.

Every Node has a shape and a dtype. Movement never computes: VIEW wraps its source in a
ShapeTracker (compiler/view.py). Matmuls and convolutions are SUM reduces of MULs of expanded
views; the scheduler recognizes them as contractions. `evaluate` is the golden reference.
"""
from __future__ import annotations
from dataclasses import dataclass, field
from enum import Enum, auto
import numpy as np
from .view import ShapeTracker

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

def evaluate(root: Node) -> np.ndarray:
  """Interpret the graph with numpy: the golden reference every lowering is checked against."""
  val = {}
  for n in toposort(root):
    s = [val[id(x)] for x in n.srcs]
    if n.op == Ops.BUFFER: v = n.arg
    elif n.op == Ops.CONST: v = np.full(n.shape, n.arg, n.dtype)
    elif n.op == Ops.VIEW: v = n.arg.gather(np.ascontiguousarray(s[0]).reshape(-1))
    elif n.op in (Ops.ADD, Ops.MUL, Ops.MAX, Ops.NEG): v = (UNARY.get(n.op) or BINARY[n.op])(*(x.astype(n.dtype) for x in s))   # int8 widens
    elif n.op in UNARY:
      with np.errstate(divide="ignore", invalid="ignore"): v = UNARY[n.op](s[0])
    elif n.op in BINARY: v = BINARY[n.op](s[0], s[1])
    elif n.op == Ops.WHERE: v = np.where(s[0], s[1], s[2])
    elif n.op in REDUCE: v = REDUCE[n.op](s[0], axis=n.arg, keepdims=True)
    elif n.op == Ops.CAST: v = s[0].astype(n.dtype)
    else: raise NotImplementedError(n.op)
    val[id(n)] = np.asarray(v, n.dtype).reshape(n.shape)
  return val[id(root)]

def print_graph(root: Node) -> str:
  """One line per node: index, op, shape:dtype, sources, argument."""
  order = toposort(root); ix = {id(n): i for i, n in enumerate(order)}
  def arg(n):
    if n.op == Ops.VIEW: return " ".join(f"View(shape={v.shape}, strides={v.strides}, offset={v.offset}" + (f", mask={v.mask})" if v.mask else ")") for v in n.arg.views)
    if n.op == Ops.BUFFER: return f"<{n.arg.dtype} buffer>"
    return "" if n.arg is None else str(n.arg)
  return "\n".join(f"%{i:<3} {n.op.name:<6} {str(list(n.shape)):<18} {n.dtype:<8} {' '.join(f'%{ix[id(s)]}' for s in n.srcs):<10} {arg(n)}" for i, n in enumerate(order))
