"""tiny corp's snippet, with real tinygrad: `tinyaccel run examples/tinygrad/seed.py --config edge` imports its lazy
graph (compiler/importers/tinygrad.py); it compiles to the same program as `a @ b` (tests/test_importers.py)."""
from tinygrad.tensor import Tensor


def workload(N=64):
  a, b = Tensor.rand(N, N), Tensor.rand(N, N)
  c = (a.reshape(N, 1, N) * b.permute(1, 0).reshape(1, N, N)).sum(axis=2)
  return c
