"""From a Tensor graph to accelerator programs: recognize contractions and lower them.

A contraction is SUM over one axis of MUL(x, y) where x and y are views of int8 data: its
non-reduced axes split into M (where y's view has stride 0), N (where x's has stride 0) and batch
axes. This is how `a @ b`, `linear` and the hand-written broadcast-multiply-sum all look in the IR,
so all of them lower to the same GEMM program. (So far: one GEMM per graph; the fuser, vector
kernels and convolution lowering come next.)
"""
from __future__ import annotations
from dataclasses import dataclass
import numpy as np
from .ir import Node, Ops, evaluate
from .tensor import Tensor
from .gemm import compile_gemm, Compiled, CompileError
from ..arch.config import AccelConfig

@dataclass(frozen=True)
class Contraction:
  m_axes: tuple; n_axes: tuple; k_axis: int; batch_axes: tuple
  x: Node; y: Node                  # the two operand VIEW nodes (int8)

def _int8_view(n: Node) -> Node | None:
  return n if n.op == Ops.VIEW and n.dtype == "int8" and n.arg.view is not None else None

def find_contraction(root: Node) -> Contraction | None:
  n = root.srcs[0] if root.op == Ops.VIEW and root.srcs and root.srcs[0].op == Ops.SUM else root
  if n.op != Ops.SUM or len(n.arg) != 1 or n.srcs[0].op != Ops.MUL: return None
  x, y = (_int8_view(s) for s in n.srcs[0].srcs)
  if x is None or y is None: return None
  k, xs, ys = n.arg[0], x.arg.view.strides, y.arg.view.strides
  m_axes = tuple(i for i in range(len(n.shape)) if i != k and ys[i] == 0 and xs[i] != 0)
  n_axes = tuple(i for i in range(len(n.shape)) if i != k and xs[i] == 0 and ys[i] != 0)
  batch = tuple(i for i in range(len(n.shape)) if i != k and i not in m_axes + n_axes and x.shape[i] > 1)
  if batch or len(m_axes) > 1 or len(n_axes) > 1: return None
  return Contraction(m_axes, n_axes, k, batch, x, y)

def compile_tensor(out: Tensor, cfg: AccelConfig) -> tuple[Compiled, Contraction]:
  """Lower a graph to one accelerator program (the graph must be a single int8 contraction so far)."""
  c = find_contraction(out.node)
  if c is None: raise CompileError(f"unsupported graph {out.node}: only a single int8 matmul (SUM of MUL of two int8 views) lowers to the accelerator so far")
  full = c.x.shape
  M = full[c.m_axes[0]] if c.m_axes else 1
  N = full[c.n_axes[0]] if c.n_axes else 1
  K = full[c.k_axis]
  def operand(v: Node, keep: int | None, first: bool) -> np.ndarray:
    a = evaluate(v)                                   # the operand as its view presents it, broadcast over the other axis
    idx = [0] * a.ndim
    for ax in (keep, c.k_axis):
      if ax is not None: idx[ax] = slice(None)
    a = a[tuple(idx)]
    if keep is None: a = a.reshape(1, K) if first else a.reshape(K, 1)
    elif (keep > c.k_axis) == first: a = a.T       # A is (M, K), B is (K, N)
    return np.ascontiguousarray(a, np.int8)
  A = operand(c.x, c.m_axes[0] if c.m_axes else None, True)
  B = operand(c.y, c.n_axes[0] if c.n_axes else None, False)
  return compile_gemm(cfg, M, K, N, A=A, B=B), c
