"""Static DRAM memory planning for a whole network: every buffer in one image, dead buffers reused.

A buffer is live over kernel steps [first, last] (inclusive): a weight or network input from step 0 (it is in the
image the program starts from) to its last reader, an activation from the kernel that writes it to its last reader.
Two buffers may share bytes only when their live ranges are disjoint. Placement is greedy best-fit in order of
decreasing size (then first use), at ALIGN-byte boundaries: each buffer takes the lowest gap between the buffers
already placed that overlap it in time. The plan is static: the program's DMAs are relocated to it (compiler/link.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from .program import ALIGN, rup


@dataclass(frozen=True)
class Buffer:
  name: str
  nbytes: int
  first: int                           # the first kernel step it is live in (0: in the initial image)
  last: int                            # the last kernel step that reads it
  def live_with(self, o: "Buffer") -> bool: return self.first <= o.last and o.first <= self.last

@dataclass(frozen=True)
class Placement:
  buffer: Buffer
  addr: int
  @property
  def end(self) -> int: return self.addr + self.buffer.nbytes

@dataclass(frozen=True)
class MemoryPlan:
  placements: dict[str, Placement]     # buffer name -> where it lives
  size: int                            # bytes of the image (ALIGN-rounded end of the highest buffer)
  naive_bytes: int                     # every buffer in its own ALIGN-aligned range, as kernel-by-kernel images sum them
  @property
  def peak_live_bytes(self) -> int:
    """The most bytes live at one step: no plan can be smaller (up to alignment)."""
    bufs = [p.buffer for p in self.placements.values()]
    steps = {b.first for b in bufs}
    return max((sum(b.nbytes for b in bufs if b.first <= s <= b.last) for s in steps), default=0)
  def addr(self, name: str) -> int: return self.placements[name].addr

def plan_memory(buffers: list[Buffer]) -> MemoryPlan:
  """Place `buffers` (names unique) in one image; live buffers never overlap."""
  if len({b.name for b in buffers}) != len(buffers): raise ValueError("buffer names must be unique")
  placed: list[Placement] = []
  for b in sorted(buffers, key=lambda b: (-b.nbytes, b.first, b.name)):
    busy = sorted((p.addr, p.end) for p in placed if p.buffer.live_with(b))
    best, at = None, 0                                # the smallest gap that holds b, else the end
    for lo, hi in busy:
      if lo - at >= b.nbytes and (best is None or lo - at < best[1]): best = (at, lo - at)
      at = max(at, rup(hi, ALIGN))
    placed.append(Placement(b, best[0] if best else at))
  size = rup(max((p.end for p in placed), default=0), ALIGN)
  return MemoryPlan({p.buffer.name: p for p in placed}, size, sum(rup(b.nbytes, ALIGN) for b in buffers))
