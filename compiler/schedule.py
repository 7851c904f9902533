"""From a Tensor graph to accelerator kernels: recognize contractions, fuse their epilogues, quantize.

A contraction is SUM over one axis of MUL(x, y) of two viewed operands: its non-reduced axes split
into M (where y's view has stride 0), N (where x's has stride 0) and batch (where neither has: one GEMM
per index, e.g. per attention head). `a @ b`, `linear` and the hand-written broadcast-multiply-sum look
the same in the IR, so they lower to the same program. A contraction's elementwise consumers `+ bias`
(a broadcast 1-D buffer), a constant factor, and `max(., 0)` or GELU fuse into its GEMM epilogue; a
contraction whose operand is another kernel's output chains after it, through a copy kernel when its
DMAs cannot read that view in place. Convolutions, pooling, residual adds, softmax (with a constant
additive mask) and layernorm are recognized by rebuilding their graphs and comparing.

Float graphs are quantized (docs/frontend.md): int8 weights with per-output-channel symmetric scales,
int8 activations with per-tensor scales calibrated on the given input, int32 bias, int32
accumulation, and requantization to the next activation scale in the vector unit.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..arch import timing as T
from ..arch.config import AccelConfig
from ..arch.vector import quantize_multiplier, quantize_multipliers
from . import gelu as G
from .conv import compile_conv2d, im2col_copy
from .copy import compile_copy, dma_readable
from .eltwise import PRESHIFT, compile_add
from .gemm import Epilogue, compile_gemm
from .ir import Node, Ops, evaluate, toposort
from .layernorm import compile_layernorm
from .partition import Partition, choose_axis, epilogue_columns, epilogue_rows, partition_gemm, reuse, split
from .pool import compile_depthwise, compile_pool2d
from .program import Compiled, CompileError
from .softmax import compile_softmax
from .tensor import Tensor
from .view import View


@dataclass(frozen=True)
class Contraction:
  m_axes: tuple; n_axes: tuple; k_axis: int
  x: Node; y: Node                  # the two operand VIEW nodes
  batch: tuple = ()                 # axes both operands index (heads of an attention): one GEMM per index

def find_contraction(root: Node) -> Contraction | None:
  """The contraction `root` computes: a SUM, or a reshape of one (a permuted result is a view of the SUM's kernel output)."""
  if root.op == Ops.VIEW and root.srcs and root.srcs[0].op == Ops.SUM and root.arg.views != (View.contiguous(root.shape),): return None
  n = root.srcs[0] if root.op == Ops.VIEW and root.srcs and root.srcs[0].op == Ops.SUM else root
  if n.op != Ops.SUM or len(n.arg) != 1 or n.srcs[0].op != Ops.MUL: return None
  x, y = n.srcs[0].srcs
  if any(v.op != Ops.VIEW or v.arg.views[-1].mask is not None for v in (x, y)): return None
  k, xs, ys = n.arg[0], x.arg.views[-1].strides, y.arg.views[-1].strides     # stride 0 in the top view: broadcast
  m_axes = tuple(i for i in range(len(n.shape)) if i != k and ys[i] == 0 and xs[i] != 0)
  n_axes = tuple(i for i in range(len(n.shape)) if i != k and xs[i] == 0 and ys[i] != 0)
  batch = tuple(i for i in range(len(n.shape)) if i != k and i not in m_axes + n_axes and x.shape[i] > 1)
  if any(xs[i] == 0 or ys[i] == 0 for i in batch) or len(m_axes) > 1 or len(n_axes) > 1: return None
  return Contraction(m_axes, n_axes, k, x, y, batch)

@dataclass
class GemmKernel:
  """One GEMM (batched: one per batch index, in one program) with its fused epilogue: out = act(scale·(x-operand @ y-operand + bias))."""
  c: Contraction
  out: Node                          # the graph node this kernel produces
  bias: Node | None = None
  relu: bool = False
  M: int = 0; K: int = 0; N: int = 0
  clamp: float | None = None
  scale: float | None = None         # a constant factor after the matmul (attention's 1/sqrt(d)), folded into the requantization
  gelu: bool = False
  batch: int = 1
  residual: Node | None = None       # a residual add fused into the epilogue (fuse_residual), as for ConvKernel
  residual_relu: bool = False
  pre: Node | None = None
  def __post_init__(self):
    full = self.c.x.shape
    self.M = full[self.c.m_axes[0]] if self.c.m_axes else 1
    self.N = full[self.c.n_axes[0]] if self.c.n_axes else 1
    self.K = full[self.c.k_axis]
    self.batch = int(np.prod([full[i] for i in self.c.batch]))
  @property
  def inputs(self) -> tuple[Node, Node]: return self.c.x.srcs[0], self.c.y.srcs[0]
  def _keep(self, first: bool) -> list:
    return list(self.c.batch) + ([*self.c.m_axes, self.c.k_axis] if first else [self.c.k_axis, *self.c.n_axes])
  def _view(self, first: bool):
    """The operand's view without its broadcast axes (shrunk to size 1): the product is never materialized."""
    v, keep = (self.c.x if first else self.c.y), self._keep(first)
    return v.arg.shrink(tuple((0, s) if i in keep else (0, 1) for i, s in enumerate(v.shape)))
  def _take(self, a: np.ndarray, first: bool) -> np.ndarray:
    """Per-batch matrices, (batch, M, K) or (batch, K, N), from the shrunk operand array."""
    keep = self._keep(first)
    a = a[tuple(slice(None) if i in keep else 0 for i in range(a.ndim))].transpose(np.argsort(np.argsort(keep)))   # kept axes in `keep` order
    return np.ascontiguousarray(a).reshape(self.batch, *((self.M, self.K) if first else (self.K, self.N)))
  def matrices(self, xbase: np.ndarray, ybase: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A (batch x M x K) and B (batch x K x N) as the operand views present the given base values."""
    return tuple(self._take(self._view(first).realize(np.ascontiguousarray(b).reshape(-1)), first) for b, first in ((xbase, True), (ybase, False)))
  def offsets(self, first: bool) -> np.ndarray:
    """Where each element of A (first) or B sits in its input's row-major buffer; -1 where the view pads."""
    st = self._view(first)
    off, valid = st.indices()
    return self._take(np.where(valid, off, -1).reshape(st.shape), first)
  def layout(self, C: np.ndarray) -> np.ndarray:
    """(batch, M, N) results in the output node's shape."""
    ax = [*self.c.batch, *self.c.m_axes, *self.c.n_axes]
    full = self.c.x.shape
    return C.reshape([full[i] for i in ax]).transpose(np.argsort(ax)).reshape(self.out.shape)

def _const(n: Node):
  while n.op == Ops.VIEW: n = n.srcs[0]
  return n.arg if n.op == Ops.CONST else None

def _is_zero(n: Node) -> bool: return _const(n) == 0

def _scalar(n: Node) -> float | None:
  """A constant (a CONST seen through unmasked views, CAST, NEG and RECIP) as a float, else None."""
  if n.op == Ops.CONST: return float(n.arg)
  if n.op == Ops.VIEW and any(v.mask for v in n.arg.views): return None
  v = _scalar(n.srcs[0]) if n.op in (Ops.VIEW, Ops.CAST, Ops.NEG, Ops.RECIP) else None
  if v is None or n.op in (Ops.VIEW, Ops.CAST): return v
  return -v if n.op == Ops.NEG else 1 / v if v else None

def _clamp(n: Node) -> tuple[Node, float | None]:
  """minimum(x, c) as Tensor.minimum builds it, NEG(MAX(NEG(x), -c)): (x, c), else (n, None)."""
  if n.op == Ops.NEG and n.srcs[0].op == Ops.MAX and n.srcs[0].srcs[0].op == Ops.NEG and (c := _const(n.srcs[0].srcs[1])) is not None:
    return n.srcs[0].srcs[0].srcs[0], -c
  return n, None

def _bias(n: Node, N: int, axis: int) -> Node | None:
  """A VIEW broadcasting a 1-D buffer of N values along `axis`, or None."""
  if n.op != Ops.VIEW or n.srcs[0].op != Ops.BUFFER or n.srcs[0].shape != (N,) or n.arg.view is None: return None
  st = n.arg.view.strides
  return n.srcs[0] if (st[axis] == 1 or N == 1) and all(x == 0 for i, x in enumerate(st) if i != axis) else None   # N = 1: one filter's bias

@dataclass
class ConvKernel:
  """conv2d (grouped and depthwise too) with its fused epilogue, recognized from its sliding-window views."""
  x: Node; w: Node; stride: int; padding: int; dilation: int
  out: Node
  bias: Node | None = None
  relu: bool = False
  x_shape: tuple = ()                 # the input as the convolution sees it, (N, C, H, W)
  groups: int = 1
  clamp: float | None = None          # upper clamp after the activation (ReLU6: 6)
  residual: Node | None = None        # a residual add fused into the epilogue (fuse_residual): out = relu?(conv + residual)
  residual_relu: bool = False
  pre: Node | None = None             # with a residual: the convolution's own output (its scale), which is never stored
  @property
  def inputs(self) -> tuple[Node, Node]: return self.x, self.w

def find_conv(n: Node) -> ConvKernel | None:
  """SUM over (C, KH, KW) of MUL(window view of a padded input, expanded weight), as Tensor.conv2d builds it."""
  s = n.srcs[0] if n.op == Ops.VIEW and n.srcs and n.srcs[0].op == Ops.SUM else n
  if s.op != Ops.SUM or s.arg != (3, 6, 7) or s.srcs[0].op != Ops.MUL: return None
  xv, wv = s.srcs[0].srcs
  if xv.op != Ops.VIEW or wv.op != Ops.VIEW or len(xv.arg.views) != 2 or len(wv.srcs[0].shape) != 4: return None
  pad_view, win = xv.arg.views
  if len(pad_view.shape) != 4: return None
  nb, cb, hp, wp = pad_view.shape
  p = pad_view.mask[2][0] if pad_view.mask else 0
  # size-1 axes carry stride 0: read the stride off oh (or ow), the dilation off kh (or kw); try a few when both are 1
  strides = [win.strides[4] // wp] if win.shape[4] > 1 else [win.strides[5]] if win.shape[5] > 1 else [1, 2, 3, 4]
  dils = [win.strides[6] // wp] if win.shape[6] > 1 else [win.strides[7]] if win.shape[7] > 1 else [1]
  x_shape = (nb, cb, hp - 2 * p, wp - 2 * p)
  if int(np.prod(xv.srcs[0].shape)) != int(np.prod(x_shape)): return None
  x, w = Tensor(xv.srcs[0]).reshape(x_shape), Tensor(wv.srcs[0])
  w_src, w_view = wv.srcs[0], wv.arg
  if (wv.srcs[0].op == Ops.BUFFER and len(wv.arg.views) == 1 and (v := wv.arg.views[0]).mask is None and len(v.shape) == 8
      and not any(v.strides[a] for a in (0, 4, 5)) and (v.offset or wv.srcs[0].shape[0] != v.shape[1] * v.shape[2])):
    w = Tensor(_sliced_weight(v, wv.srcs[0].arg))   # a weight sliced out of a larger constant (big[4:12]): fold the slice into a buffer
    w_src, w_view = w.node, None                    # the rebuilt conv reads it in the same (o, c, kh, kw) order: compare shapes
  groups = win.shape[1]
  for stride in strides:
    for dil in dils:
      if stride < 1 or dil < 1: continue
      try: ref = x.conv2d(w, stride=stride, padding=p, dilation=dil, groups=groups)   # rebuild the views and compare: the match is exact
      except ValueError: continue
      rs = ref.node.srcs[0]
      same_w = rs.srcs[0].srcs[1].arg == w_view if w_view is not None else rs.srcs[0].srcs[1].shape == wv.shape
      if rs.srcs[0].srcs[0].arg == xv.arg and same_w and (ref.shape == n.shape or n is s and rs.shape == s.shape):
        return ConvKernel(xv.srcs[0], w_src, stride, p, dil, n, x_shape=x_shape, groups=groups)   # n: the output, or (bare conv) its SUM
  return None

def _sliced_weight(v: View, buffer: np.ndarray) -> np.ndarray:
  """The (O, C/groups, KH, KW) weight a conv's 8-D weight view `v` (N, groups, O/groups, C/groups, OH, OW, KH, KW) reads
  from a constant buffer: its elements at N = OH = OW = 0 (the broadcast axes), groups and O/groups merged into O."""
  axes = (1, 2, 3, 6, 7)
  idx = v.offset + sum(np.arange(v.shape[a]).reshape([-1 if b == i else 1 for b in range(5)]) * v.strides[a] for i, a in enumerate(axes))
  return np.asarray(buffer).reshape(-1)[idx].reshape(v.shape[1] * v.shape[2], *(v.shape[a] for a in (3, 6, 7)))

@dataclass
class AddKernel:
  """A residual add of two kernel outputs (+ ReLU) on the vector unit (compiler/eltwise.py)."""
  a: Node; b: Node; out: Node
  relu: bool = False
  bias = None
  @property
  def inputs(self) -> tuple[Node, Node]: return self.a, self.b

def same_graph(a: Node, b: Node, memo=None) -> bool:
  """Structural equality: same ops, args, shapes and dtypes, and the very same buffers."""
  memo = {} if memo is None else memo
  if a is b: return True
  if (id(a), id(b)) in memo: return memo[(id(a), id(b))]
  eq = (a.op == b.op and a.shape == b.shape and a.dtype == b.dtype and len(a.srcs) == len(b.srcs) and a.op != Ops.BUFFER
        and (a.arg == b.arg if not isinstance(a.arg, np.ndarray) else False) and all(same_graph(x, y, memo) for x, y in zip(a.srcs, b.srcs)))
  memo[(id(a), id(b))] = eq
  return eq

@dataclass
class PoolKernel:
  """max/avg pooling on the vector unit with DMA windows (compiler/pool.py)."""
  x: Node; kind: str; k: int; stride: int; padding: int; out: Node
  relu: bool = False
  x_shape: tuple = ()
  bias = None
  @property
  def inputs(self) -> tuple: return (self.x,)

def find_pool(n: Node) -> PoolKernel | None:
  """RMAX (or SUM, scaled) over the window axes (4, 5) of a sliding-window view, as max_pool2d/avg_pool2d build it:
  the parameters come from the window view, and the match rebuilds the graph and compares it."""
  m = n.srcs[0] if n.op == Ops.VIEW and n.srcs and n.srcs[0].op in (Ops.RMAX, Ops.MUL) else n
  kind, s = ("max", m) if m.op == Ops.RMAX else ("avg", m.srcs[0]) if m.op == Ops.MUL else (None, None)
  if s is not None and s.op == Ops.VIEW and s.srcs[0].op in (Ops.RMAX, Ops.SUM): s = s.srcs[0]
  if s is None or s.op not in (Ops.RMAX, Ops.SUM) or s.arg != (4, 5) or s.srcs[0].op != Ops.VIEW: return None
  v = s.srcs[0]; win = v.arg.views[-1]
  if len(win.shape) != 6: return None
  k, stride, wp = win.shape[4], win.strides[3], win.strides[4]
  src = v.srcs[0]
  hp = win.strides[1] // wp
  for x in (*(t.srcs[0] for t in src.srcs if t.op == Ops.VIEW), src):       # the input under a padding WHERE first, then as is
    for p in reversed(range(k)):
      shape4 = (win.shape[0], win.shape[1], hp - 2 * p, wp - 2 * p)
      if min(shape4) < 1 or int(np.prod(x.shape)) != int(np.prod(shape4)): continue
      xt = Tensor(x).reshape(shape4)
      try: ref = xt.max_pool2d(k, stride, p) if kind == "max" else xt.avg_pool2d(k, stride, p)
      except ValueError: continue
      if same_graph(ref.node, n) or (ref.node.op == Ops.VIEW and same_graph(ref.node.srcs[0], n)):   # n may lack the final reshape
        return PoolKernel(x, kind, k, stride, p, m, x_shape=shape4)   # out: the reduce itself, so every view of it shares one kernel
  return None

@dataclass
class RowKernel:
  """A row-wise op over the last axis on the vector unit: softmax (compiler/softmax.py) or layernorm (compiler/layernorm.py)."""
  x: Node; out: Node
  relu: bool = False
  bias = None
  @property
  def inputs(self) -> tuple: return (self.x,)

@dataclass
class LayerNormKernel(RowKernel):
  gain: Node | None = None           # per-column gain and bias (1-D buffers) of layernorm(x)·gain + bias
  bias: Node | None = None
  norm: Node | None = None           # the plain layernorm node (calibrates the scale before the affine)
class SoftmaxKernel(RowKernel):
  mask: np.ndarray | None = None     # (P, L) bool, True where a constant additive mask removes the logit; row r uses row r % P

MASKED = -1e4                        # additive mask values at or below this are removed positions (exp underflows to 0 in float32 too)

def _constant(n: Node) -> bool:
  """n is a function of no activation: no float buffer, no reduction (masks come from index compares and boolean buffers)."""
  return not any((x.op == Ops.BUFFER and x.dtype == "float32") or x.op == Ops.SUM for x in toposort(n))

def _mask(n: Node) -> tuple[Node, np.ndarray] | None:
  """x + m with m a constant float buffer (seen through a broadcasting view) of 0 and <= MASKED values, or
  where(c, x, v) with c a constant condition and v <= MASKED: (x, the removed positions as (P, L) bool)."""
  removed = None
  if n.op == Ops.ADD:
    for x, m in (n.srcs, n.srcs[::-1]):
      b = m.srcs[0] if m.op == Ops.VIEW else m
      if b.op == Ops.BUFFER and b.dtype == "float32" and ((b.arg == 0) | (b.arg <= MASKED)).all(): removed = Tensor(m).numpy() <= MASKED; break
  elif n.op == Ops.WHERE and (v := _scalar(n.srcs[2])) is not None and v <= MASKED and _constant(n.srcs[0]):
    x, removed = n.srcs[1], ~evaluate(n.srcs[0]).astype(bool)
  if removed is None: return None
  full = removed.reshape(-1, n.shape[-1])
  for p in (n.shape[-2] if len(n.shape) > 1 else 1, full.shape[0]):   # the same rows for every head, else in full
    if full.shape[0] % p == 0 and (full.reshape(-1, p, full.shape[1]) == full[:p]).all(): return x, full[:p]
  return None

def _near(n: Node, depth: int) -> list[Node]:
  """The nodes at most `depth` edges below n (the inputs of a decomposed op are a few levels down)."""
  seen, frontier = {id(n): n}, [n]
  for _ in range(depth):
    nxt = []
    for f in frontier:
      for s in f.srcs:
        if id(s) not in seen: seen[id(s)] = s; nxt.append(s)
    frontier = nxt
  return list(seen.values())

def _decomposed(n: Node, build) -> Node | None:
  """The x for which `build(Tensor(x))` is the graph n, found by rebuilding it from each nearby candidate and comparing."""
  if n.op != Ops.MUL or n.dtype != "float32": return None
  for cand in _near(n, 6):
    if cand is n or cand.shape != n.shape or cand.dtype != "float32" or cand.op == Ops.CONST: continue
    if same_graph(build(Tensor(cand)).node, n): return cand
  return None

def find_softmax(n: Node) -> SoftmaxKernel | None: return SoftmaxKernel(x, n) if (x := _decomposed(n, lambda t: t.softmax(-1))) is not None else None
def find_layernorm(n: Node) -> LayerNormKernel | None: return LayerNormKernel(x, n) if (x := _decomposed(n, lambda t: t.layernorm(-1))) is not None else None
def find_gelu(n: Node) -> Node | None: return _decomposed(n, lambda t: t.gelu())

def schedule(root: Node) -> list:
  """The kernels that compute `root`, in execution order (shared inputs computed once)."""
  if (z := next((n for n in toposort(root) if 0 in n.shape), None)) is not None:    # before any kernel: nothing to run, no scale to calibrate
    raise CompileError(f"tensor {z} has a zero-size dimension: the accelerator runs no empty tensors")
  out, seen = [], set()
  for k in _schedule(root, set()):
    if id(k.out) not in seen: seen.add(id(k.out)); out.append(k)
  return out

def _schedule(root: Node, done: set) -> list:
  """Kernels for `root` not yet in `done` (ids of nodes already scheduled): shared subgraphs, such as a
  residual block's input, are visited once, which keeps scheduling linear in the graph."""
  while root.op == Ops.VIEW and root.srcs[0].op not in (Ops.BUFFER, Ops.CONST) and find_pool(root) is None and find_contraction(root) is None:
    root = root.srcs[0]                      # a movement of a computed tensor: schedule what it views
  if id(root) in done: return []
  done.add(id(root))
  n, clamp = _clamp(root)
  relu, bias, scale, gelu = False, None, None, False
  if n.op == Ops.MAX and _is_zero(n.srcs[1]): n, relu = n.srcs[0], True
  elif clamp is None and (g := find_gelu(n)) is not None: n, gelu = g, True
  if n.op == Ops.MUL and (c := _scalar(n.srcs[1])) is not None and c > 0:
    inner = n.srcs[0]
    if find_contraction(inner) is not None or (inner.op == Ops.ADD and find_contraction(inner.srcs[0]) is not None): n, scale = inner, c
  if n.op == Ops.ADD and all(s.op != Ops.VIEW or s.srcs[0].op not in (Ops.BUFFER, Ops.CONST) for s in n.srcs) \
     and n.srcs[0].shape == n.srcs[1].shape and not gelu:      # two computed tensors (a bias is a view of a buffer)
    k = AddKernel(n.srcs[0], n.srcs[1], root, relu)
    return [x for src in k.inputs if src.op != Ops.BUFFER for x in _schedule(src, done)] + [k]
  conv = find_conv(n.srcs[0]) if n.op == Ops.ADD else find_conv(n)
  if n.op == Ops.ADD and len(n.shape) >= 1:
    axis = 1 if conv is not None else len(n.shape) - 1                 # conv output is NCHW: channels on axis 1
    if (b := _bias(n.srcs[1], n.shape[axis], axis)) is not None: n, bias = n.srcs[0], b
  if clamp is not None and find_conv(n) is None and find_contraction(n) is None:
    raise CompileError(f"unsupported graph at {root}: a clamp (ReLU6) fuses only into a conv or matmul epilogue")
  gain = None                                           # layernorm(x)·gain (+ bias, stripped above)
  if n.op == Ops.MUL and len(n.shape) >= 1:
    for ln, g in (n.srcs, n.srcs[::-1]):
      if (gb := _bias(g, n.shape[-1], len(n.shape) - 1)) is not None and find_layernorm(ln) is not None: n, gain = ln, gb; break
  if (scale is not None or gelu) and find_contraction(n) is None:
    raise CompileError(f"unsupported graph at {root}: a GELU or a constant scale fuses only into a matmul epilogue")
  if clamp is None and not relu and ((sm := find_softmax(n)) is not None or (sm := find_layernorm(n)) is not None):
    sm.out = root
    if isinstance(sm, SoftmaxKernel) and (xm := _mask(sm.x)) is not None: sm.x, sm.mask = xm
    if isinstance(sm, LayerNormKernel): sm.gain, sm.bias, sm.norm = gain, bias, n
    elif bias is not None: raise CompileError(f"unsupported graph at {root}: a bias after softmax is not lowered")
    return (_schedule(sm.x, done) if sm.x.op != Ops.BUFFER else []) + [sm]
  if bias is None and (pool := find_pool(n)) is not None:
    if relu: pool.out, pool.relu = root, relu
    return (_schedule(pool.x, done) if pool.x.op != Ops.BUFFER else []) + [pool]
  if (conv := find_conv(n)) is not None:
    k = ConvKernel(conv.x, conv.w, conv.stride, conv.padding, conv.dilation, root, bias, relu, conv.x_shape, conv.groups, clamp)
  elif (c := find_contraction(n)) is not None:
    k = GemmKernel(c, root, bias, relu, clamp=clamp, scale=scale, gelu=gelu)
    if c.n_axes and c.n_axes[0] != len(n.shape) - 1 and (bias is not None or root is not n):
      raise CompileError(f"unsupported layout at {n}: the fused output must have N as its last axis")
  else:
    raise CompileError(f"unsupported graph at {n}: only matmul/linear/conv2d (+ bias, + relu) chains lower to the accelerator so far")
  before = []
  for src in k.inputs:
    if src.op != Ops.BUFFER: before += _schedule(src, done)
  return before + [k]

# ---------------- fusion: rewrites of the schedule ----------------
# The recognizers above turn the graph into kernels; fusion rules then merge kernels, as tinygrad's PatternMatcher
# rewrites a graph: each rule is (the kernel type it matches, rewrite(kernel, Uses) -> (replacement, absorbed kernels) or
# None). The replacement takes the matched kernel's place and the absorbed kernels disappear. A rule only matches
# where the unfused graph's integer semantics can be kept bit for bit (docs/compiler.md "Fusion").
@dataclass(frozen=True)
class Uses:
  producer: dict                     # id(node) -> the kernel producing it
  readers: dict                      # id(node) -> how many kernel inputs (or the graph's output) read it, directly or through a view
  order: dict                        # id(kernel) -> its position in the schedule

def uses(kernels: list, root: Node) -> Uses:
  readers: dict = {}
  for n in [s for k in kernels for s in (*k.inputs, *((k.residual,) if getattr(k, "residual", None) is not None else ()))] + [root]:
    for x in {id(n): n, **({id(n.srcs[0]): n.srcs[0]} if n.op == Ops.VIEW and n.srcs else {})}: readers[x] = readers.get(x, 0) + 1
  return Uses({id(k.out): k for k in kernels}, readers, {id(k): i for i, k in enumerate(kernels)})

def _absorbs_add(k) -> bool:
  """A kernel whose GEMM epilogue can take a residual: an ungrouped conv (NHWC rows), or one matmul whose output is its
  (M, N) matrix in row-major order (M before N: the epilogue's tiles are the output's)."""
  if isinstance(k, ConvKernel): return k.groups == 1 and k.residual is None
  return (isinstance(k, GemmKernel) and k.residual is None and k.batch == 1 and len(k.c.m_axes) == len(k.c.n_axes) == 1
          and k.c.m_axes[0] < k.c.n_axes[0] and int(np.prod(k.out.shape)) == k.M * k.N)

def fuse_residual(add: AddKernel, u: Uses):
  """relu?(conv(x) + r) -> conv(x) with the add (compile_add's integer steps) in its epilogue: the conv's int8 tile, still in the
  scratchpad, is rescaled and added to r's tile loaded by DMA, and stored once; the same for a matmul (x.linear(w) + r).
  Needs the add to be the producer's only reader and r a tensor (not a view: the epilogue reads it as the output's tiles).
  Of two producers, the later one absorbs the add, so that r is computed before it."""
  cands = [(u.order[id(k)], k, r) for a, r in (add.inputs, add.inputs[::-1]) if _absorbs_add(k := u.producer.get(id(a)))
           and u.readers.get(id(a)) == 1 and r.op != Ops.VIEW and r.shape == a.shape]
  if not cands: return None
  _, k, r = max(cands, key=lambda c: c[0])
  return dataclasses.replace(k, out=add.out, pre=k.out, residual=r, residual_relu=add.relu), [k]

FUSIONS = {"residual": (AddKernel, fuse_residual)}

def fuse(kernels: list, root: Node, rules: dict = FUSIONS) -> list:
  """The schedule with every rule applied until none matches."""
  while True:
    u = uses(kernels, root)
    for i, k in enumerate(kernels):
      hit = next((r for kind, rule in rules.values() if isinstance(k, kind) and (r := rule(k, u)) is not None), None)
      if hit is not None: break
    else: return kernels
    new, gone = hit
    kernels = [new if j == i else x for j, x in enumerate(kernels) if not any(x is g for g in gone)]

# ---------------- lowering a graph, kernel by kernel ----------------
@dataclass(frozen=True)
class Lowered:
  """One program of a graph's lowering and what a run of it reports: its name, kind (gemm, vector, copy), op, shape,
  fused epilogue, the workload's useful MACs and the MACs the array performs."""
  program: Compiled | Partition          # a Partition on a multi-core chip: one program per core
  name: str; kind: str; op: str; shape: list; fused: list
  macs: int = 0
  array_macs: int = 0
  layout: Callable[[np.ndarray], np.ndarray] | None = None   # program output -> the node's value; None: a copy, read through its view

PLACEHOLDER_RANGE = 8.0   # a timing-only lowering's |float activation| maximum (scale 8/127): keeps every requantization ratio in range (GraphLowering)

def _calibrate(n: Node, calib) -> np.ndarray:
  """The float32 value of n that sets its activation scale: the interpreter's (`calib` its cache), or in a timing-only
  lowering the placeholder range `calib(n)` (scales change immediates and DRAM data, never timing)."""
  if callable(calib): return calib(n)
  with np.errstate(over="ignore", invalid="ignore"): v = evaluate(n, calib)
  if not np.isfinite(v).all(): raise CompileError(f"the float32 value of {n} is not finite (overflow): the graph's inputs are out of range for float32")
  return v

def _q(x: np.ndarray, scale) -> np.ndarray: return np.clip(np.round(x / scale), -127, 127).astype(np.int8)
def _scale(x: np.ndarray) -> float:
  m = float(np.abs(x).max())
  return (m if m > 0 else 1.0) / 127     # all zeros are exact at any scale: a neutral one keeps the ratios downstream in range

def _lower(i: int, k, cfg: AccelConfig, value: dict, scale: dict, floaty: bool, calib: dict, cycles: Callable[[Compiled], int]):
  """Compile kernel k from its inputs' accelerator values; returns (program, output -> node layout, (array MACs, useful MACs)).
  `cycles(program)` is the mapper's cost: where a kernel has several candidate programs, the fewest cycles win."""
  for b in k.inputs:                        # network inputs feeding a vector kernel: int8 at a per-tensor scale
    if b.op == Ops.BUFFER and id(b) not in value and floaty and isinstance(k, (RowKernel, AddKernel)): scale[id(b)] = _scale(b.arg); value[id(b)] = _q(b.arg, scale[id(b)])
  if isinstance(k, SoftmaxKernel):
    if not floaty or id(k.x) not in value: raise CompileError("softmax lowers only inside a float graph")
    L = k.x.shape[-1]
    k_out = max(1, min(1 << 13, int(127 / max(float(_calibrate(k.out, calib).max()), 1e-8))))   # calibrated: the largest probability -> 127
    scale[id(k.out)] = 1 / k_out
    X = np.asarray(value[id(k.x)]).reshape(-1, L)       # rows split over the cores in whole periods of the mask
    prog = split(cfg, X.shape, 0, len(k.mask) if k.mask is not None else 1, lambda lo, hi: compile_softmax(cfg, X[lo:hi], scale[id(k.x)], 1 / k_out, k.mask))
    return prog, lambda y: y.reshape(k.out.shape), (0, 0)
  if isinstance(k, LayerNormKernel):
    if not floaty or id(k.x) not in value: raise CompileError("layernorm lowers only inside a float graph")
    s_out = _scale(_calibrate(k.out, calib)); scale[id(k.out)] = s_out
    affine = dict(gain=k.gain.arg if k.gain is not None else None, bias=k.bias.arg if k.bias is not None else None,
                  norm_scale=_scale(_calibrate(k.norm, calib))) if k.gain is not None or k.bias is not None else {}
    X = np.asarray(value[id(k.x)]).reshape(-1, k.x.shape[-1])
    prog = split(cfg, X.shape, 0, 1, lambda lo, hi: compile_layernorm(cfg, X[lo:hi], scale[id(k.x)], s_out, **affine))
    return prog, lambda y: y.reshape(k.out.shape), (0, 0)
  if isinstance(k, PoolKernel):
    xb = k.x
    if xb.op == Ops.BUFFER and id(xb) not in value:
      if floaty: scale[id(xb)] = _scale(xb.arg); value[id(xb)] = _q(xb.arg, scale[id(xb)])
      else: value[id(xb)] = xb.arg
    if k.relu: raise CompileError("ReLU after pooling is not fused yet")
    if floaty: scale[id(k.out)] = scale[id(xb)]             # pooling keeps the scale
    X, wins = value[id(xb)].reshape(k.x_shape), []
    prog = split(cfg, (k.x_shape[0], -1), 0, 1, lambda lo, hi: _keep(wins, compile_pool2d(cfg, X[lo:hi], k.kind, k.k, k.stride, k.padding)))
    n, c, win = *k.x_shape[:2], wins[0]
    return prog, lambda y: y.reshape(n, win.oh, win.ow, c).transpose(0, 3, 1, 2), (0, 0)
  xb, yb = k.inputs
  if isinstance(k, AddKernel):
    if not floaty: raise CompileError("residual adds of integer graphs are not lowered (their int32 outputs need a rescale)")
    s_out = _scale(_calibrate(k.out, calib)); scale[id(k.out)] = s_out
    X, Y = value[id(xb)], value[id(yb)]
    prog = split(cfg, (X.shape[0], -1), 0, 1, lambda lo, hi: compile_add(cfg, X[lo:hi], Y[lo:hi], scale[id(xb)] / s_out, scale[id(yb)] / s_out, k.relu))
    return prog, lambda y: y.reshape(k.out.shape), (0, 0)
  conv = isinstance(k, ConvKernel)
  res = getattr(k, "residual", None)
  if res is not None:
    if not floaty: raise CompileError("residual adds of integer graphs are not lowered (their int32 outputs need a rescale)")
    if res.op == Ops.BUFFER and id(res) not in value: scale[id(res)] = _scale(res.arg); value[id(res)] = _q(res.arg, scale[id(res)])
  per_channel = floaty and yb.op == Ops.BUFFER            # a weight: one scale per output channel
  for b in (xb, yb):
    if b.op == Ops.BUFFER and id(b) not in value:
      if per_channel and b is yb: value[id(b)] = b.arg   # quantized below, per channel
      elif floaty: scale[id(b)] = _scale(b.arg); value[id(b)] = _q(b.arg, scale[id(b)])
      elif b.dtype != "int8": raise CompileError(f"integer graphs need int8 inputs, got {b.dtype} buffer {b}")
      else: value[id(b)] = b.arg
  if conv: A, B, N = value[id(xb)].reshape(k.x_shape), value[id(yb)], yb.shape[0]
  else: A, B = k.matrices(value[id(xb)], value[id(yb)]); N = k.N
  if not floaty and (getattr(k, "scale", None) is not None or getattr(k, "gelu", False)): raise CompileError("a GELU or constant scale lowers only in a float graph")
  ep = None
  if floaty:
    if per_channel:                                      # conv weights (O, C, KH, KW): channel axis 0; B (batch, K, N): axis 2
      axes = (1, 2, 3) if conv else (0, 1)
      m = np.abs(B).max(axis=axes)
      s_w = np.where(m > 0, m, 1.0).astype(np.float64) / 127      # an all-zero channel: a neutral scale (see _scale)
      B = np.clip(np.round(B / (s_w[:, None, None, None] if conv else s_w)), -127, 127).astype(np.int8)
    else: s_w = np.full(N, scale[id(yb)])
    s_acc = scale[id(xb)] * s_w
    bias = np.round(np.asarray(k.bias.arg, np.float64) / s_acc) if k.bias is not None else None
    if bias is not None and not (np.abs(bias) < 2 ** 31).all():
      raise CompileError(f"kernel {i}: the bias (|b| up to {np.abs(k.bias.arg).max():.3g}) does not fit int32 at the accumulator's scale "
                         f"(input scale x weight scale down to {s_acc.min():.3g})")
    bias = bias.astype(np.int32) if bias is not None else None
    s_acc = s_acc * (getattr(k, "scale", None) or 1.0)  # a constant factor after the bias: the accumulator's real scale
    s_out = _scale(_calibrate(k.pre if res is not None else k.out, calib))   # calibration: the float activation this kernel produces
    try:
      mult = quantize_multipliers(s_acc / s_out)
      gelu = G.params(s_acc) if getattr(k, "gelu", False) else None
    except ValueError as e: raise CompileError(f"kernel {i}: {e}") from None
    clamp = min(127, int(round(k.clamp / s_out))) if k.clamp is not None else None
    ep = Epilogue(bias, k.relu, mult, clamp, gelu); scale[id(k.out)] = s_out
    if res is not None:                            # the fused add at the sum's calibrated scale, as compile_add rescales its operands
      s_sum = _scale(_calibrate(k.out, calib)); scale[id(k.out)] = s_sum
      try: rs = tuple(quantize_multiplier(s / s_sum / 2 ** PRESHIFT) for s in (s_out, scale[id(res)]))
      except ValueError as e: raise CompileError(f"kernel {i}: residual add: {e}") from None
      R = np.asarray(value[id(res)]).reshape(k.out.shape)
      R = R.transpose(0, 2, 3, 1).reshape(-1, N) if conv else R.reshape(k.M, N)     # conv: NCHW -> the GEMM's (n, oh, ow) x channels
      ep = dataclasses.replace(ep, residual=R, residual_scales=rs, residual_relu=k.residual_relu)
  elif k.bias is not None or k.relu:
    ep = Epilogue(k.bias.arg.astype(np.int32) if k.bias is not None else None, k.relu)
  if conv:
    n = A.shape[0]
    cands = []     # (program, windows, array MACs): the array's (block-sparse for groups) and, for depthwise, the vector unit's
    # over the cores: on the batch, else (ungrouped) on output channels in column-sized slices
    axis, g = choose_axis(cfg, [(0, n, 1)] + ([(1, N, cfg.cols)] if k.groups == 1 else []))
    per = int(np.prod(k.out.shape[2:]))            # GEMM rows per image
    conv_part = lambda lo, hi: (A[lo:hi], B, epilogue_rows(ep, lo * per, hi * per)) if axis == 0 else (A, B[lo:hi], epilogue_columns(ep, lo, hi))
    shape = (n, -1) if axis == 0 else (-1, N)
    if cfg.dataflow == "ws" or not _vector_depthwise(k, floaty):   # os: a depthwise conv of a float graph on the vector unit only (_copies)
      wins = []
      prog = split(cfg, shape, axis, g, lambda lo, hi: _keep(wins, compile_conv2d(cfg, *conv_part(lo, hi)[:2], k.stride, k.padding, k.dilation,
                                                                                   epilogue=conv_part(lo, hi)[2], groups=k.groups)), same=axis == 0)
      cands.append((prog, wins[0], prog.macs))
    if _vector_depthwise(k, floaty):
      wins = []
      prog = split(cfg, (n, -1), 0, 1, lambda lo, hi: _keep(wins, compile_depthwise(cfg, A[lo:hi], B, k.stride, k.padding, ep.bias, ep.relu, ep.requant[0],
                                                                                    ep.requant[1], ep.clamp_hi)))
      cands.append((prog, wins[0], 0))
    prog, win, macs_hw = min(cands, key=lambda c: cycles(c[0])) if len(cands) > 1 else cands[0]
    return prog, lambda y: y.reshape(n, win.oh, win.ow, N).transpose(0, 3, 1, 2), (macs_hw, n * N * int(np.prod(yb.shape[1:])) * win.oh * win.ow)
  prog = partition_gemm(cfg, k.M, k.K, k.N, A, B, epilogue=ep, batch=k.batch, b_t=_b_transposed(k, cfg, value))
  return prog, lambda y: k.layout(y.reshape(k.batch, k.M, k.N)), (prog.macs, k.batch * k.M * k.K * k.N)

def _keep(wins: list, compiled: tuple) -> Compiled:
  """The program of a (program, windows) pair; the windows (the same for every core's slice) kept for the output layout."""
  wins.append(compiled[1]); return compiled[0]

def _contiguous(off: np.ndarray) -> bool: return bool((off.reshape(-1) == np.arange(off.size)).all())

def _view_offsets(v: Node) -> np.ndarray:
  """Where each element of the VIEW v sits in its source's row-major buffer; -1 where it pads."""
  off, valid = v.arg.indices()
  return np.where(valid, off, -1).reshape(v.shape)

def _vector_depthwise(k, floaty: bool) -> bool:
  """A depthwise conv of a float graph (requantized, no fused residual): compile_depthwise can run it on the vector unit."""
  return (floaty and k.groups > 1 and k.groups == k.x_shape[1] == k.w.shape[0] and k.w.shape[1] == 1 and k.dilation == 1
          and getattr(k, "residual", None) is None)

def _b_transposed(k, cfg: AccelConfig, value: dict) -> bool:
  """A GEMM's B operand that is a transposed view of a kernel output (attention's Kᵀ): on a ws config with a square array, its
  MATMULs read B with transpose_b from the output's rows as they are (B token-major: one DRAM row per column of B, heads side by
  side, compiler/gemm.py), so no copy kernel transposes it. Elsewhere (os, rows != cols) the copy stays."""
  src = k.inputs[1]
  if not isinstance(k, GemmKernel) or src.op == Ops.BUFFER or id(src) not in value or T.transpose_b_refusal(cfg) is not None: return False
  off = k.offsets(False)
  if (off < 0).any() or dma_readable(off): return False
  bt = np.swapaxes(off, 1, 2)                                 # (batch, N, K): row n of head b, K contiguous
  row = int(bt[0, 1, 0] - bt[0, 0, 0]) if k.N > 1 else k.batch * k.K
  return bool(row == k.batch * k.K and (bt == bt[:1, :1, :1] + np.arange(k.batch)[:, None, None] * k.K + np.arange(k.N)[None, :, None] * row
                                        + np.arange(k.K)[None, None, :]).all())

def _copies(k, cfg: AccelConfig, value: dict, floaty: bool) -> list[tuple[Compiled, tuple]]:
  """Copy programs (with the copied view's shape) for the operands of k that are views of kernel outputs its DMAs cannot
  read in place (compiler/copy.py)."""
  if isinstance(k, GemmKernel):               # GEMM operands: rows of contiguous elements at affine addresses
    todo = [(src, k.offsets(first), dma_readable) for src, first in zip(k.inputs, (True, False)) if src.op != Ops.BUFFER and id(src) in value
            and (first or not _b_transposed(k, cfg, value))]
  elif isinstance(k, (RowKernel, AddKernel)):  # vector kernels stream their inputs contiguously
    todo = [(v.srcs[0], _view_offsets(v), _contiguous) for v in k.inputs if v.op == Ops.VIEW and id(v.srcs[0]) in value]
  elif isinstance(k, ConvKernel) and cfg.dataflow == "os" and not _vector_depthwise(k, floaty):   # os streams Aᵀ: an explicit im2col (compiler/conv.py)
    p = im2col_copy(cfg, np.asarray(value[id(k.x)]).reshape(k.x_shape), *k.w.shape[2:], k.stride, k.padding, k.dilation)
    return [(p, p.tensors["C"].shape)]
  else: todo = []                              # convolutions and pooling read NHWC windows (docs/compiler.md)
  for src, off, _ in todo:
    if (off < 0).any(): raise CompileError(f"a padded view of a kernel output ({src}) as an operand is not lowered")
  return [(compile_copy(cfg, value[id(src)], off), off.shape) for src, off, readable in todo if not readable(off)]

def _describe(k, prog: Compiled, macs_hw: int, floaty: bool) -> tuple[str, str, str, list, list]:
  """(name, kind, op, shape, fused epilogue) of kernel k as the reports show it."""
  conv, vec = isinstance(k, ConvKernel), isinstance(k, (AddKernel, PoolKernel, SoftmaxKernel, LayerNormKernel))
  shape = [k.x_shape[0], *k.w.shape] if conv else list(k.out.shape) if vec else [k.M, k.K, k.N] if k.batch == 1 else [k.batch, k.M, k.K, k.N]
  dw = conv and k.groups > 1 and macs_hw == 0            # the mapper put a depthwise conv on the vector unit
  vname = f"{k.kind}pool" if isinstance(k, PoolKernel) else "softmax" if isinstance(k, SoftmaxKernel) else "layernorm" if isinstance(k, LayerNormKernel) else "add"
  name, kind, op = (vname, "vector", vname.replace("max", "").replace("avg", "") if isinstance(k, PoolKernel) else vname) if vec \
                   else ("dwconv", "vector", "depthwise_conv2d") if dw \
                   else ("dwconv" if k.groups == k.x_shape[1] else "gconv" if k.groups > 1 else "conv", "gemm", "depthwise_conv2d" if k.groups == k.x_shape[1] > 1
                         else "grouped_conv2d" if k.groups > 1 else "conv2d") if conv \
                   else ("bmm", "gemm", "batched_matmul") if k.batch > 1 else ("gemm", "gemm", "matmul")
  fused = [x for x, on in (("gain", getattr(k, "gain", None) is not None), ("bias", getattr(k, "bias", None) is not None), ("scale", getattr(k, "scale", None) is not None),
                           ("gelu", getattr(k, "gelu", False)), ("relu", k.relu), ("clamp", getattr(k, "clamp", None) is not None),
                           ("mask", getattr(k, "mask", None) is not None), ("requant", floaty),
                           ("add", getattr(k, "residual", None) is not None), ("relu", getattr(k, "residual_relu", False))) if on]
  return name, kind, op, shape, fused

class GraphLowering:
  """A graph lowered kernel by kernel. A kernel's program is built from its inputs' accelerator values (the DRAM image
  holds them, and float graphs calibrate each scale on them), so the caller runs kernel i's programs and binds the
  output of the last one before lowering kernel i+1:

      g = GraphLowering(out, cfg, cycles)
      for i in range(len(g.kernels)):
        *copies, main = g.lower(i)          # run each; bind what the kernel itself produced
        g.bind(i, main, output_of(main.program))
      result, accuracy = g.result()

  `cycles(program)` is the mapper's cost function (the flow passes the model's exact timing-only cycles); `fusion` applies
  compiler/schedule.FUSIONS to the kernel list.

  `timing_only`: no numerics. Every activation scale is the placeholder PLACEHOLDER_RANGE (no float32 calibration) and the
  caller binds placeholder outputs (partition.placeholder_output: all ones), so no reference is computed; the programs are
  the functional lowering's but for immediates and DRAM data, which timing never reads (docs/timing.md). The one
  data-dependent choice, compile_gemm skipping an all-zero B tile, sees the real weights; an activation B operand (attention's
  K and V) is all ones, so no tile of it is skipped, as in any real run but one whose activations hold a whole zero tile.
  Cores given equal slices then get one compiled program (partition.split: `reuse`)."""
  def __init__(self, out: Tensor, cfg: AccelConfig, cycles: Callable[[Compiled], int], timing_only: bool = False, fusion: bool = True):
    self.out, self.cfg, self.cycles, self.timing_only = out, cfg, cycles, timing_only
    self.kernels = fuse(schedule(out.node), out.node) if fusion else schedule(out.node)
    self.floaty = any(n.op == Ops.BUFFER and n.dtype == "float32" for n in toposort(out.node))
    self.value, self.scale = {}, {}                     # node -> accelerator value (int8/int32); activation scale
    self.calib = (lambda n: np.full(1, PLACEHOLDER_RANGE, np.float32)) if timing_only else {}   # float32 values (the interpreter's cache)

  def lower(self, i: int) -> list[Lowered]:
    """Kernel i's copy programs (operand views its DMAs cannot read in place), then its own program, last."""
    k, value = self.kernels[i], self.value
    for src in k.inputs:                     # a view of a computed tensor: apply the view to its value
      if id(src) not in value and src.op == Ops.VIEW and id(src.srcs[0]) in value:
        value[id(src)] = src.arg.gather(np.ascontiguousarray(value[id(src.srcs[0])]).reshape(-1)).reshape(src.shape)
        if id(src.srcs[0]) in self.scale: self.scale[id(src)] = self.scale[id(src.srcs[0])]
    with reuse(self.timing_only): prog, layout, (macs_hw, macs) = _lower(i, k, self.cfg, value, self.scale, self.floaty, self.calib, self.cycles)
    copies = [Lowered(p, f"copy{i}", "copy", "copy", list(shape), []) for p, shape in _copies(k, self.cfg, value, self.floaty)]   # after _lower: it quantizes network inputs
    return copies + [Lowered(prog, *_describe(k, prog, macs_hw, self.floaty), macs=macs, array_macs=macs_hw, layout=layout)]

  def bind(self, i: int, lowered: Lowered, output: np.ndarray):
    """Kernel i's program produced `output` (its accelerator value, or the integer reference in a timing-only run)."""
    self.value[id(self.kernels[i].out)] = lowered.layout(output)

  def result(self) -> tuple[np.ndarray, dict | None]:
    """The graph's output as the host reads it (dequantized for float graphs) and, for float graphs, its accuracy
    against float32: max_abs_error, cosine_similarity."""
    out, last = self.out, self.kernels[-1].out
    q = self.value[id(last)].reshape(last.shape)
    if out.node is not last and out.node.op == Ops.VIEW and out.node.srcs[0] is last:   # a movement of the result: the host reads it through the view
      q = out.node.arg.gather(np.ascontiguousarray(q).reshape(-1)).reshape(out.node.shape)
    if not self.floaty: return q, None
    output = q.astype(np.float32) * self.scale[id(last)]
    if self.timing_only: return output, None
    ref = evaluate(out.node, self.calib).astype(np.float64).reshape(-1); got = output.astype(np.float64).reshape(-1)
    cos = float(ref @ got / (np.linalg.norm(ref) * np.linalg.norm(got))) if np.linalg.norm(ref) and np.linalg.norm(got) else float(np.array_equal(ref, got))
    return output, dict(max_abs_error=float(np.abs(ref - got).max()), cosine_similarity=cos)

def compile_tensor(out: Tensor, cfg: AccelConfig) -> tuple[Compiled, Contraction]:
  """The program of a single-kernel graph (its GEMM with epilogue); GraphLowering lowers chains."""
  ks = schedule(out.node)
  if len(ks) != 1: raise CompileError(f"graph has {len(ks)} kernels; use GraphLowering (tinyaccel.flow.run_graph runs them)")
  k = ks[0]
  xb, yb = k.inputs
  if xb.dtype != "int8" or yb.dtype != "int8" or xb.op != Ops.BUFFER or yb.op != Ops.BUFFER:
    raise CompileError("compile_tensor takes a single int8 matmul of two buffers")
  if k.batch > 1: raise CompileError("compile_tensor takes a single GEMM; a batched matmul runs with tinyaccel.flow.run_graph")
  (A,), (B,) = k.matrices(xb.arg, yb.arg)
  ep = Epilogue(k.bias.arg.astype(np.int32) if k.bias is not None else None, k.relu) if k.bias is not None or k.relu else None
  return compile_gemm(cfg, k.M, k.K, k.N, A=A, B=B, epilogue=ep), k.c
