"""From a Tensor graph to accelerator kernels: recognize contractions, fuse their epilogues, quantize.

A contraction is SUM over one axis of MUL(x, y) of two single-View operands: its non-reduced axes
split into M (where y's view has stride 0) and N (where x's has stride 0). `a @ b`, `linear` and the
hand-written broadcast-multiply-sum look the same in the IR, so they lower to the same program.
A contraction's elementwise consumers `+ bias` (a broadcast 1-D buffer) and `max(., 0)` fuse into
its GEMM epilogue; a contraction whose activation operand is another kernel's output chains after it.

Float graphs are quantized (docs/frontend.md): int8 weights with per-output-channel symmetric scales,
int8 activations with per-tensor scales calibrated on the given input, int32 bias, int32
accumulation, and requantization to the next activation scale in the vector unit.
(Still to come: vector kernels for other ops; convolutions found in the IR.)
"""
from __future__ import annotations
from dataclasses import dataclass, field
import numpy as np
from .ir import Node, Ops, evaluate, toposort
from .tensor import Tensor
from .gemm import compile_gemm, Compiled, CompileError, Epilogue, gemm_reference
from ..arch.config import AccelConfig
from ..arch.vector import quantize_multipliers
from ..sim.model import run, Machine

@dataclass(frozen=True)
class Contraction:
  m_axes: tuple; n_axes: tuple; k_axis: int
  x: Node; y: Node                  # the two operand VIEW nodes

def find_contraction(root: Node) -> Contraction | None:
  n = root.srcs[0] if root.op == Ops.VIEW and root.srcs and root.srcs[0].op == Ops.SUM else root
  if n.op != Ops.SUM or len(n.arg) != 1 or n.srcs[0].op != Ops.MUL: return None
  x, y = n.srcs[0].srcs
  if any(v.op != Ops.VIEW or v.arg.view is None for v in (x, y)): return None
  k, xs, ys = n.arg[0], x.arg.view.strides, y.arg.view.strides
  m_axes = tuple(i for i in range(len(n.shape)) if i != k and ys[i] == 0 and xs[i] != 0)
  n_axes = tuple(i for i in range(len(n.shape)) if i != k and xs[i] == 0 and ys[i] != 0)
  batch = tuple(i for i in range(len(n.shape)) if i != k and i not in m_axes + n_axes and x.shape[i] > 1)
  if batch or len(m_axes) > 1 or len(n_axes) > 1: return None
  return Contraction(m_axes, n_axes, k, x, y)

@dataclass
class GemmKernel:
  """One GEMM with its fused epilogue: out = relu(x-operand @ y-operand + bias)."""
  c: Contraction
  out: Node                          # the graph node this kernel produces
  bias: Node | None = None
  relu: bool = False
  M: int = 0; K: int = 0; N: int = 0
  def __post_init__(self):
    full = self.c.x.shape
    self.M = full[self.c.m_axes[0]] if self.c.m_axes else 1
    self.N = full[self.c.n_axes[0]] if self.c.n_axes else 1
    self.K = full[self.c.k_axis]
  @property
  def inputs(self) -> tuple[Node, Node]: return self.c.x.srcs[0], self.c.y.srcs[0]
  def matrices(self, xbase: np.ndarray, ybase: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A (M x K) and B (K x N) as the operand views present the given base values."""
    def take(v: Node, base: np.ndarray, keep, first):
      a = v.arg.gather(np.ascontiguousarray(base).reshape(-1))
      idx = [0] * a.ndim
      for ax in (keep, self.c.k_axis):
        if ax is not None: idx[ax] = slice(None)
      a = a[tuple(idx)]
      if keep is None: return a.reshape(1, -1) if first else a.reshape(-1, 1)
      return a.T if (keep > self.c.k_axis) == first else a
    return (take(self.c.x, xbase, self.c.m_axes[0] if self.c.m_axes else None, True),
            take(self.c.y, ybase, self.c.n_axes[0] if self.c.n_axes else None, False))

def _is_zero(n: Node) -> bool:
  while n.op == Ops.VIEW: n = n.srcs[0]
  return n.op == Ops.CONST and n.arg == 0

def _bias(n: Node, N: int) -> Node | None:
  """A VIEW broadcasting a 1-D buffer of N values along the last axis, or None."""
  if n.op != Ops.VIEW or n.srcs[0].op != Ops.BUFFER or n.srcs[0].shape != (N,): return None
  return n.srcs[0] if n.arg.view is not None and n.arg.view.strides[-1] == 1 and all(s == 0 for s in n.arg.view.strides[:-1]) else None

def schedule(root: Node) -> list[GemmKernel]:
  """The kernels that compute `root`, in execution order."""
  n, relu, bias = root, False, None
  if n.op == Ops.MAX and _is_zero(n.srcs[1]): n, relu = n.srcs[0], True
  if n.op == Ops.ADD and len(n.shape) >= 1 and (b := _bias(n.srcs[1], n.shape[-1])) is not None: n, bias = n.srcs[0], b
  c = find_contraction(n)
  if c is None:
    raise CompileError(f"unsupported graph at {n}: only matmul/linear (+ bias, + relu) chains lower to the accelerator so far")
  k = GemmKernel(c, root, bias, relu)
  if c.n_axes and c.n_axes[0] != len(n.shape) - 1 and (bias is not None or root is not n):
    raise CompileError(f"unsupported layout at {n}: the fused output must have N as its last axis")
  before = []
  for src in k.inputs:
    if src.op != Ops.BUFFER: before += schedule(src)
  return before + [k]

# ---------------- running a graph on the accelerator ----------------
@dataclass
class GraphResult:
  output: np.ndarray                        # the accelerator's result (int8 / int32; dequantized float for float graphs)
  kernels: list = field(default_factory=list)
  correct: bool = True                      # every kernel bit-exact against the integer reference
  accuracy: dict | None = None              # float graphs: max_abs_error, cosine_similarity vs float32

def _q(x: np.ndarray, scale: float) -> np.ndarray: return np.clip(np.round(x / scale), -127, 127).astype(np.int8)
def _scale(x: np.ndarray) -> float: return max(float(np.abs(x).max()), 1e-8) / 127

def run_graph(out: Tensor, cfg: AccelConfig, functional: bool = True) -> GraphResult:
  """Compile every kernel of `out`, run each on the model, and check it bit for bit."""
  kernels = schedule(out.node)
  floaty = any(n.op == Ops.BUFFER and n.dtype == "float32" for n in toposort(out.node))
  value, scale = {}, {}                      # node -> int8/int32 value on the accelerator; node -> activation scale
  res = GraphResult(None)
  for i, k in enumerate(kernels):
    xb, yb = k.inputs
    per_channel = floaty and yb.op == Ops.BUFFER            # a weight: one scale per output column
    for b in (xb, yb):
      if b.op == Ops.BUFFER and id(b) not in value:
        if per_channel and b is yb: value[id(b)] = b.arg   # quantized below, as the B matrix
        elif floaty: scale[id(b)] = _scale(b.arg); value[id(b)] = _q(b.arg, scale[id(b)])
        elif b.dtype != "int8": raise CompileError(f"integer graphs need int8 inputs, got {b.dtype} buffer {b}")
        else: value[id(b)] = b.arg
    A, B = k.matrices(value[id(xb)], value[id(yb)])
    ep = None
    if floaty:
      if per_channel:
        s_w = np.maximum(np.abs(B).max(0), 1e-8) / 127; B = np.clip(np.round(B / s_w), -127, 127).astype(np.int8)
      else: s_w = np.full(k.N, scale[id(yb)])
      s_acc = scale[id(xb)] * s_w
      bias = np.round(k.bias.arg / s_acc).astype(np.int32) if k.bias is not None else None
      s_out = _scale(evaluate(k.out))         # calibration: the float activation this kernel produces
      try: mult = quantize_multipliers(s_acc / s_out)
      except ValueError as e: raise CompileError(f"kernel {i}: {e}") from None
      ep = Epilogue(bias, k.relu, mult); scale[id(k.out)] = s_out
    elif k.bias is not None or k.relu:
      ep = Epilogue(k.bias.arg.astype(np.int32) if k.bias is not None else None, k.relu)
    prog = compile_gemm(cfg, k.M, k.K, k.N, A=A, B=B, epilogue=ep)
    mach = Machine(cfg, prog.dram.copy()) if functional else Machine(cfg, dram_bytes=len(prog.dram), functional=False)
    r = run(cfg, prog.program, machine=mach)
    got = prog.read(mach.dram) if functional else prog.reference()
    ok = bool(np.array_equal(got, prog.reference()))
    res.correct &= ok
    value[id(k.out)] = got.reshape(k.out.shape) if got.size == np.prod(k.out.shape) else got
    s = r.stats
    res.kernels.append(dict(name=f"gemm{i}", kind="gemm", shape=[k.M, k.K, k.N], fused=[x for x, on in (("bias", k.bias is not None), ("relu", k.relu), ("requant", floaty)) if on],
                            cycles=s["cycles"], macs=s["macs"], utilization=s["utilization"], roofline_bound_cycles=s["roofline_bound_cycles"],
                            dram_bytes=s["dram_read_bytes"] + s["dram_write_bytes"], compulsory_dram_bytes=s["compulsory_dram_bytes"],
                            instructions=sum(s["instructions"].values()), correct=ok, stats=s, program=prog))
  last = kernels[-1].out
  q = value[id(last)].reshape(last.shape)
  if floaty:
    res.output = q.astype(np.float32) * scale[id(last)]
    ref = evaluate(out.node).astype(np.float64).reshape(-1); got = res.output.astype(np.float64).reshape(-1)
    cos = float(ref @ got / (np.linalg.norm(ref) * np.linalg.norm(got))) if np.linalg.norm(ref) and np.linalg.norm(got) else float(np.array_equal(ref, got))
    res.accuracy = dict(max_abs_error=float(np.abs(ref - got).max()), cosine_similarity=cos)
  else: res.output = q
  return res

def compile_tensor(out: Tensor, cfg: AccelConfig) -> tuple[Compiled, Contraction]:
  """The program of a single-kernel graph (its GEMM with epilogue); see run_graph for chains."""
  ks = schedule(out.node)
  if len(ks) != 1: raise CompileError(f"graph has {len(ks)} kernels; use run_graph")
  k = ks[0]
  xb, yb = k.inputs
  if xb.dtype != "int8" or yb.dtype != "int8" or xb.op != Ops.BUFFER or yb.op != Ops.BUFFER:
    raise CompileError("compile_tensor takes a single int8 matmul of two buffers")
  A, B = k.matrices(xb.arg, yb.arg)
  ep = Epilogue(k.bias.arg.astype(np.int32) if k.bias is not None else None, k.relu) if k.bias is not None or k.relu else None
  return compile_gemm(cfg, k.M, k.K, k.N, A=A, B=B, epilogue=ep), k.c
