"""The work budget: work whose size is predictable before it runs (the model's instructions) is refused up front when it
exceeds BUDGET_INSTRUCTIONS, unless the user passes --force (issue 21). The model runs about 20,000 instructions per
second on one core (`run gemm --m 512 --k 512 --n 512 --config tiny --timing-only`: 22,880 instructions in 0.93 s), so
the budget is about 100 s of model time. A GEMM's instructions are predicted from its tiling (choose_tiling, analytic):
per tile one MATMUL and its A and B loads; a network's from its GEMM kernels (the other kernels are small beside them).
"""
from __future__ import annotations

from ..arch.config import AccelConfig
from ..compiler.gemm import choose_tiling
from ..compiler.program import CompileError
from ..compiler.schedule import GemmKernel, schedule
from ..compiler.tensor import Tensor

MODEL_INSTRUCTIONS_PER_S = 20_000   # measured above, one core
BUDGET_INSTRUCTIONS = 100 * MODEL_INSTRUCTIONS_PER_S
PER_TILE = 3                     # LOAD A, LOAD B, MATMUL (the stores and syncs are fewer)

class BudgetError(ValueError):
  """Predicted work above the budget: one line with the prediction and the way to go ahead."""

def cdiv(a: int, b: int) -> int: return -(-a // b)

def gemm_instructions(cfg: AccelConfig, M: int, K: int, N: int, batch: int = 1) -> int:
  t = choose_tiling(cfg, M, K, N)
  return PER_TILE * batch * cdiv(M, t.mt) * cdiv(K, t.kt) * cdiv(N, t.nt)

def _refuse(what: str, n: int, budget: int):
  raise BudgetError(f"{what}: about {n:,} model instructions predicted, above the budget of {budget:,} (~{budget / MODEL_INSTRUCTIONS_PER_S:.0f} s); pass --force to run it anyway")

def check_gemm(cfg: AccelConfig, M: int, K: int, N: int, budget: int = BUDGET_INSTRUCTIONS) -> int:
  n = gemm_instructions(cfg, M, K, N)
  if n > budget: _refuse(f"gemm {M}x{K}x{N} on {cfg.name}", n, budget)
  return n

def check_graph(cfg: AccelConfig, out: Tensor, name: str, budget: int = BUDGET_INSTRUCTIONS) -> int:
  n = 0
  for k in schedule(out.node):
    if not isinstance(k, GemmKernel): continue
    try: n += gemm_instructions(cfg, k.M, k.K, k.N, k.batch)
    except CompileError: continue          # the lowering reports it, with its own message
    if n > budget: _refuse(f"{name} on {cfg.name}", n, budget)
  return n
