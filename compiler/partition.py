"""Multi-core partitioning: one kernel becomes one program per core, each over a slice of the kernel's output.

A chip of `cores` cores (arch/config.py) runs every kernel on all of them side by side and meets at the kernel
barrier (arch/timing.chip_cycles). A kernel is cut along one axis of its output into balanced slices of whole
granules; each slice is compiled by the kernel's own compiler on the matching slice of its inputs, into its own DRAM
image (a region of the chip's DRAM behind the core's channel: operands every core reads, such as a GEMM's B when M is
split, are replicated per region, as weights are replicated per HBM channel). No data crosses cores inside a kernel,
so the only synchronization is the barrier. Which axis each kernel is cut on is docs/compiler.md "Multi-core".
With one core `split` calls the compiler once on the whole kernel: the program is exactly the single-core one.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..arch import timing as T
from ..arch.config import AccelConfig
from .gemm import Epilogue, compile_gemm
from .program import Compiled, CompileError


@dataclass(frozen=True, eq=False)
class Partition:
  """A kernel's programs, one per core (core i runs parts[i]; cores past len(parts) idle), each over a box of the
  kernel's output: regions[i] is part i's (lo, hi) on every axis of `shape` (a cut along one axis, or a grid)."""
  parts: tuple[Compiled, ...]
  regions: tuple[tuple[tuple[int, int], ...], ...]   # (0, -1) on a dimension of size -1
  shape: tuple[int, ...]
  def _assemble(self, outs: list[np.ndarray]) -> np.ndarray:
    """The parts' outputs in their boxes. A dimension of -1 (its size left to the parts, as in reshape) is taken from them."""
    boxes = [o.reshape([hi - lo if hi >= 0 else -1 for lo, hi in r]) for o, r in zip(outs, self.regions)]
    y = np.empty([d if d >= 0 else boxes[0].shape[i] for i, d in enumerate(self.shape)], outs[0].dtype)
    for o, r in zip(boxes, self.regions): y[tuple(slice(lo, hi if hi >= 0 else None) for lo, hi in r)] = o
    return y
  def read(self, drams: list[np.ndarray]) -> np.ndarray: return self._assemble([p.read(d) for p, d in zip(self.parts, drams)])
  def reference(self) -> np.ndarray: return self._assemble([p.reference() for p in self.parts])
  @property
  def macs(self) -> int: return sum(p.macs for p in self.parts)

def parts_of(prog: Compiled | Partition) -> tuple[Compiled, ...]: return prog.parts if isinstance(prog, Partition) else (prog,)

def shares(D: int, cores: int, granule: int = 1) -> list[tuple[int, int]]:
  """[lo, hi) slices of D for at most `cores` cores: whole granules (the last may be short), as balanced as they go."""
  units = T.cdiv(D, granule); p = max(1, min(cores, units))
  bounds = [min(D, (units * i // p) * granule) for i in range(p + 1)]
  return [(lo, hi) for lo, hi in zip(bounds, bounds[1:]) if hi > lo]

def choose_axis(cfg: AccelConfig, dims: list[tuple[int, int, int]]) -> tuple[int, int]:
  """(axis, granule) of the first candidate (axis, size, granule) that gives every core a slice, else the one giving the most."""
  ok = [d for d in dims if T.cdiv(d[1], d[2]) >= cfg.cores]
  ax, _, g = ok[0] if ok else max(dims, key=lambda d: min(cfg.cores, T.cdiv(d[1], d[2])))
  return ax, g

_REUSE = contextvars.ContextVar("reuse_equal_slices", default=False)

@contextlib.contextmanager
def reuse(on: bool = True):
  """Inside it, split compiles one program per distinct slice length where the kernel says equal slices give equal programs
  (`same`): a timing-only lowering, whose activations are placeholders (compiler/schedule.GraphLowering), so a slice's
  program depends only on its shape and the weights it reads. The cores of such slices share one Compiled (its DRAM image
  and reference are the first slice's)."""
  tok = _REUSE.set(on)
  try: yield
  finally: _REUSE.reset(tok)

def split(cfg: AccelConfig, shape: tuple, axis: int, granule: int, build: Callable[[int, int], Compiled],
          same: bool | Callable[[tuple, tuple], bool] = True) -> Compiled | Partition:
  """Compile `build(lo, hi)` for each core's slice of `shape` (the kernel's output, as the concatenation sees it).
  `same`: whether two slices of one length read the same weights (True for a cut through activations only; a function of
  the two (lo, hi) slices where it depends), so that under `reuse` they share a program."""
  if cfg.cores == 1: return build(0, shape[axis])
  sl = shares(shape[axis], cfg.cores, granule)
  built = {}                          # slice length -> ((lo, hi), program) of the first slice of that length
  def part(lo, hi):
    if not _REUSE.get() or same is False: return build(lo, hi)
    first = built.get(hi - lo)
    if first is not None and (same is True or same(first[0], (lo, hi))): return first[1]
    prog = build(lo, hi)
    if first is None: built[hi - lo] = ((lo, hi), prog)
    return prog
  box = lambda lo, hi: tuple((lo, hi) if i == axis else (0, d) for i, d in enumerate(shape))
  return Partition(tuple(part(lo, hi) for lo, hi in sl), tuple(box(lo, hi) for lo, hi in sl), tuple(shape))

def grid(cfg: AccelConfig, units_a: int, units_b: int) -> tuple[int, int]:
  """(pa, pb) parts along two axes of units_a and units_b granules, pa·pb <= cores: the fewest granules on the busiest
  core (ceil(units_a/pa)·ceil(units_b/pb)), then the fewest cores."""
  cands = [(a, b) for a in range(1, min(cfg.cores, units_a) + 1) for b in range(1, min(cfg.cores // a, units_b) + 1)]
  return min(cands, key=lambda ab: (T.cdiv(units_a, ab[0]) * T.cdiv(units_b, ab[1]), ab[0] * ab[1]))

def split_grid(cfg: AccelConfig, shape: tuple, axes: tuple[int, int], granules: tuple[int, int], build: Callable[[int, int, int, int], Compiled],
               key: Callable[[int, int, int, int], object]) -> Partition:
  """`build(lo_a, hi_a, lo_b, hi_b)` for each box of a grid over two axes of `shape` (grid() picks its size). Under `reuse`,
  boxes of one `key` share a program (a GEMM's boxes of one row count over the same columns of B)."""
  (a, b), (ga, gb) = axes, granules
  pa, pb = grid(cfg, T.cdiv(shape[a], ga), T.cdiv(shape[b], gb))
  built, parts, regions = {}, [], []
  for lo_a, hi_a in shares(shape[a], pa, ga):
    for lo_b, hi_b in shares(shape[b], pb, gb):
      k = key(lo_a, hi_a, lo_b, hi_b) if _REUSE.get() else object()
      if k not in built: built[k] = build(lo_a, hi_a, lo_b, hi_b)
      parts.append(built[k])
      regions.append(tuple((lo_a, hi_a) if i == a else (lo_b, hi_b) if i == b else (0, d) for i, d in enumerate(shape)))
  return Partition(tuple(parts), tuple(regions), tuple(shape))

def placeholder_output(prog: Compiled | Partition) -> np.ndarray:
  """All ones in the shape and dtype of the program's output: what a timing-only lowering binds instead of the reference."""
  one = lambda p: np.ones(p.read(p.dram).shape, p.read(p.dram).dtype)
  return one(prog) if not isinstance(prog, Partition) else prog._assemble([one(p) for p in prog.parts])

def epilogue_columns(ep: Epilogue | None, lo: int, hi: int) -> Epilogue | None:
  """The epilogue of output columns lo..hi (per-column bias, multipliers and GELU factors sliced)."""
  if ep is None: return None
  col = lambda v: v[lo:hi] if v is not None and np.ndim(v) == 1 else v
  return dataclasses.replace(ep, bias=col(ep.bias), requant=(col(ep.requant[0]), *ep.requant[1:]) if ep.requant else None,
                             gelu=(col(ep.gelu[0]), *ep.gelu[1:]) if ep.gelu else None,
                             residual=ep.residual[:, lo:hi] if ep.residual is not None else None)

def epilogue_rows(ep: Epilogue | None, lo: int, hi: int) -> Epilogue | None:
  """The epilogue of output rows lo..hi (a fused residual's rows sliced; the per-column vectors are every row's)."""
  return ep if ep is None or ep.residual is None else dataclasses.replace(ep, residual=ep.residual[lo:hi])

def partition_gemm(cfg: AccelConfig, M: int, K: int, N: int, A: np.ndarray, B: np.ndarray, epilogue: Epilogue | None = None,
                   batch: int = 1, nt: int | None = None, n_first: bool = False, b_t: bool = False) -> Compiled | Partition:
  """C (batch, M, N) = A . B over the cores: on the batch (attention heads) when every core gets one, else on M in
  row-sized slices (B replicated), else on N in column-sized slices (A replicated, the epilogue's columns sliced); when
  no one axis has a granule for every core, a grid of M × N boxes (each core its rows of A and columns of B). `nt`: each
  box's n tile widened to it (capped at the box's N) where its B and C double buffers still fit (the mapper's retry).
  `n_first`: N before M (a decode GEMM's B is its weights, far larger than A: cutting M would have every core read all of them).
  `b_t`: B sits in DRAM token-major (compile_gemm's transpose_b layout)."""
  A, B = A.reshape(batch, M, K), B.reshape(batch, K, N)
  dims = [(0, batch, 1), (1, M, cfg.rows), (2, N, cfg.cols)]
  if n_first: dims = [dims[0], dims[2], dims[1]]
  def compile_box(a, b, ep):
    nb, m, n = a.shape[0], a.shape[1], b.shape[2]
    go = lambda tiling=None: compile_gemm(cfg, m, K, n, A=a if nb > 1 else a[0], B=b if nb > 1 else b[0], epilogue=ep, batch=nb, tiling=tiling, b_t=b_t)
    c = go()
    if nt is None or min(n, nt) <= c.tiling.nt: return c
    try: return go(dataclasses.replace(c.tiling, nt=min(n, nt)))
    except CompileError: return c
  one_axis = max(min(cfg.cores, T.cdiv(d, g)) for _, d, g in dims)
  if batch == 1 and one_axis < cfg.cores:
    pm, pn = grid(cfg, T.cdiv(M, cfg.rows), T.cdiv(N, cfg.cols))
    if pm * pn > one_axis:
      return split_grid(cfg, (1, M, N), (1, 2), (cfg.rows, cfg.cols), lambda m0, m1, n0, n1: compile_box(
        A[:, m0:m1], B[:, :, n0:n1], epilogue_columns(epilogue_rows(epilogue, m0, m1), n0, n1)), key=lambda m0, m1, n0, n1: (m1 - m0, n0, n1))
  axis, g = choose_axis(cfg, dims)
  def build(lo, hi):
    return compile_box(*((A[lo:hi], B[lo:hi], epilogue) if axis == 0 else (A[:, lo:hi], B, epilogue_rows(epilogue, lo, hi)) if axis == 1
                         else (A, B[:, :, lo:hi], epilogue_columns(epilogue, lo, hi))))
  same = (lambda a, b: np.array_equal(B[a[0]:a[1]], B[b[0]:b[1]])) if axis == 0 else axis == 1   # M slices share B; N slices read their own
  return split(cfg, (batch, M, N), axis, g, build, same)
