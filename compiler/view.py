"""Zero-cost movement: a View maps an index in its shape to an offset in a flat buffer.

View(shape, strides, offset, mask): element i is at buffer[offset + sum(i_d * strides_d)] when every
i_d lies in mask[d] = (lo, hi), else it reads as 0 (padding). reshape, permute, expand, pad, shrink,
flip and stride only make a new View; a reshape no single View can express stacks a second one
(a ShapeTracker). Nothing is copied until the graph is lowered.
"""
from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np


def strides_for(shape) -> tuple[int, ...]:
  st, acc = [], 1
  for s in reversed(shape): st.append(acc if s != 1 else 0); acc *= s
  return tuple(reversed(st))

@dataclass(frozen=True)
class View:
  shape: tuple
  strides: tuple
  offset: int = 0
  mask: tuple | None = None

  @staticmethod
  def contiguous(shape) -> View: return View(tuple(shape), strides_for(shape))
  @property
  def contiguous_(self) -> bool: return self.offset == 0 and self.mask is None and self.strides == strides_for(self.shape)
  @property
  def size(self) -> int: return math.prod(self.shape)

  def permute(self, order) -> View:
    return View(tuple(self.shape[i] for i in order), tuple(self.strides[i] for i in order), self.offset,
                tuple(self.mask[i] for i in order) if self.mask else None)

  def expand(self, shape) -> View:
    assert all(s == n or s == 1 for s, n in zip(self.shape, shape)), f"cannot expand {self.shape} to {shape}"
    return View(tuple(shape), tuple(st if s == n else 0 for s, n, st in zip(self.shape, shape, self.strides)), self.offset,
                tuple(m if s == n else (0, n) for m, s, n in zip(self.mask, self.shape, shape)) if self.mask else None)

  def shrink(self, arg) -> View:   # arg: (start, end) per axis
    off = self.offset + sum(lo * st for (lo, _), st in zip(arg, self.strides))
    mask = tuple((max(ml, lo) - lo, min(mh, hi) - lo) for (ml, mh), (lo, hi) in zip(self.mask, arg)) if self.mask else None
    return View(tuple(hi - lo for lo, hi in arg), self.strides, off, mask)

  def pad(self, arg) -> View:      # arg: (before, after) per axis; padded elements read as 0
    shape = tuple(s + b + a for s, (b, a) in zip(self.shape, arg))
    base = self.mask or tuple((0, s) for s in self.shape)
    mask = tuple((ml + b, mh + b) for (ml, mh), (b, _) in zip(base, arg))
    off = self.offset - sum(b * st for (b, _), st in zip(arg, self.strides))
    return View(shape, self.strides, off, mask)

  def flip(self, axes) -> View:
    off = self.offset + sum((self.shape[a] - 1) * self.strides[a] for a in axes)
    strides = tuple(-st if i in axes else st for i, st in enumerate(self.strides))
    mask = tuple((s - mh, s - ml) if i in axes else (ml, mh) for i, ((ml, mh), s) in enumerate(zip(self.mask, self.shape))) if self.mask else None
    return View(self.shape, strides, off, mask)

  def stride(self, steps) -> View:  # keep every steps[d]-th element (steps > 0)
    assert self.mask is None, "stride of a padded view"
    return View(tuple(-(-s // k) for s, k in zip(self.shape, steps)), tuple(st * k for st, k in zip(self.strides, steps)), self.offset)

  def reshape(self, shape) -> View | None:
    """The same elements under a new shape, as one View; None when that needs a second View."""
    if math.prod(shape) != self.size: raise ValueError(f"cannot reshape {self.shape} to {shape}")
    if self.contiguous_: return View.contiguous(shape)
    if self.mask: return None
    # merge the old axes into contiguous runs (size, innermost stride), then cut each run into new axes
    runs = []
    for sz, st in zip(self.shape, self.strides):
      if sz == 1: continue
      if runs and runs[-1][1] == sz * st: runs[-1] = (runs[-1][0] * sz, st)
      else: runs.append((sz, st))
    strides, r, rem = [], 0, runs[0][0] if runs else 1
    for sz in shape:
      if sz == 1: strides.append(0); continue
      if r >= len(runs) or rem % sz: return None   # this axis would straddle two runs
      rem //= sz; strides.append(runs[r][1] * rem)
      if rem == 1 and (r := r + 1) < len(runs): rem = runs[r][0]
    return View(tuple(shape), tuple(strides), self.offset)

  def indices(self) -> tuple[np.ndarray, np.ndarray]:
    """Flat buffer offsets and validity of every element, in row-major order of `shape`."""
    idx = np.indices(self.shape).reshape(len(self.shape), -1) if self.shape else np.zeros((0, 1), int)
    off = self.offset + (np.asarray(self.strides)[:, None] * idx).sum(0) if self.shape else np.full(1, self.offset)
    valid = np.ones(off.shape, bool)
    if self.mask:
      for d, (lo, hi) in enumerate(self.mask): valid &= (idx[d] >= lo) & (idx[d] < hi)
    return off, valid

@dataclass(frozen=True)
class ShapeTracker:
  """A stack of Views: the last one gives the shape; each maps into the flat index space of the one below."""
  views: tuple

  @staticmethod
  def contiguous(shape) -> ShapeTracker: return ShapeTracker((View.contiguous(shape),))
  @property
  def shape(self) -> tuple: return self.views[-1].shape
  @property
  def view(self) -> View | None: return self.views[0] if len(self.views) == 1 else None

  def _top(self, v: View) -> ShapeTracker: return ShapeTracker(self.views[:-1] + (v,))
  def permute(self, order): return self._top(self.views[-1].permute(order))
  def expand(self, shape): return self._top(self.views[-1].expand(shape))
  def shrink(self, arg): return self._top(self.views[-1].shrink(arg))
  def pad(self, arg): return self._top(self.views[-1].pad(arg))
  def flip(self, axes): return self._top(self.views[-1].flip(axes))
  def stride(self, steps): return self._top(self.views[-1].stride(steps))
  def window(self, shape, strides, offset=0):
    """An arbitrary affine view over the row-major element index of the current shape (sliding windows)."""
    return ShapeTracker(self.views + (View(tuple(shape), tuple(strides), offset),))
  def reshape(self, shape):
    v = self.views[-1].reshape(shape)
    return self._top(v) if v is not None else ShapeTracker(self.views + (View.contiguous(shape),))

  def indices(self) -> tuple[np.ndarray, np.ndarray]:
    off, valid = self.views[-1].indices()
    for v in reversed(self.views[:-1]):        # the flat index of the upper view is an element index of the lower one
      inner_off, inner_valid = v.indices()
      safe = np.clip(off, 0, len(inner_off) - 1)     # padded (invalid) elements may point anywhere
      off, valid = inner_off[safe], valid & inner_valid[safe]
    return off, valid

  def realize(self, flat: np.ndarray) -> np.ndarray:
    """The viewed array, as a strided numpy view where possible (no index arrays, no copies)."""
    for v in self.views:
      flat = _apply(v, flat)
      if v is not self.views[-1]: flat = np.ascontiguousarray(flat).reshape(-1)
    return flat

  def gather(self, flat: np.ndarray) -> np.ndarray:
    off, valid = self.indices()
    out = np.where(valid, flat[np.clip(off, 0, max(len(flat) - 1, 0))], 0).astype(flat.dtype)
    return out.reshape(self.shape)

def _apply(v: View, flat: np.ndarray) -> np.ndarray:
  """One View over a flat array: numpy strides for the valid box, zeros outside the mask."""
  isz = flat.itemsize
  if v.mask is None:
    return np.lib.stride_tricks.as_strided(flat[v.offset:] if v.offset >= 0 else flat, v.shape, tuple(s * isz for s in v.strides), writeable=False) \
      if v.offset >= 0 else _apply(View(v.shape, v.strides, v.offset, tuple((0, s) for s in v.shape)), flat)
  out = np.zeros(v.shape, flat.dtype)
  if any(hi <= lo for lo, hi in v.mask): return out
  off = v.offset + sum(lo * st for (lo, _), st in zip(v.mask, v.strides))
  box = tuple(hi - lo for lo, hi in v.mask)
  base = np.lib.stride_tricks.as_strided(flat[off:], box, tuple(s * isz for s in v.strides), writeable=False)
  out[tuple(slice(lo, hi) for lo, hi in v.mask)] = base
  return out
