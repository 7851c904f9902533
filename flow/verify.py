"""The RTL held against the model: one program, a compiled GEMM, a random legal program, or a whole network kernel
by kernel (rtl/cosim.py runs each program on the simulator; this module says which programs and what must match)."""
from __future__ import annotations

import numpy as np

from ..arch.config import AccelConfig
from ..compiler.gemm import compile_gemm
from ..compiler.program import Compiled
from ..compiler.tensor import Tensor
from ..rtl.cosim import verify
from ..sim.randprog import random_program
from .run import run_graph


def verify_compiled(cfg: AccelConfig, c: Compiled, sim: str = "icarus", waves: str | None = None) -> dict:
  """A compiled program on model and RTL: equal DRAM images, equal (start, end) per instruction, and the RTL's output
  equal to the program's integer reference."""
  r = verify(cfg, c.program, c.dram, sim=sim, waves=waves)
  r["outputs_match"] = r["outputs_match"] and bool(np.array_equal(c.read(r["rtl_dram"]), c.reference()))
  return r

def verify_gemm(cfg: AccelConfig, m: int, k: int, n: int, seed: int = 0, sim: str = "icarus", waves: str | None = None) -> dict:
  return verify_compiled(cfg, compile_gemm(cfg, m, k, n, seed=seed), sim, waves)

def verify_random(cfg: AccelConfig, seed: int, sim: str = "icarus", waves: str | None = None) -> dict:
  prog, dram = random_program(cfg, seed)
  return verify(cfg, prog, dram, sim=sim, waves=waves)

def verify_graph(out: Tensor, cfg: AccelConfig, sim: str = "icarus", progress: bool = False) -> dict:
  """A whole network kernel by kernel on the RTL: each kernel's program and DRAM image, as `run_graph` compiles them,
  must give the model's cycles and DRAM image and the integer reference's output."""
  from tqdm import tqdm
  g = run_graph(out, cfg)
  rows = []
  for k in tqdm(g.kernels, desc="kernels on the RTL", disable=not progress):
    v = verify_compiled(cfg, k.program, sim=sim)
    rows.append(dict(name=k.name, instructions=v["instructions"], model_cycles=v["model_cycles"], rtl_cycles=v["rtl_cycles"], outputs_match=v["outputs_match"],
                     cycles_match=v["cycles_match"], first_divergence=v["first_divergence"], model_seconds=v["model_seconds"], rtl_seconds=v["rtl_seconds"]))
  total = lambda key: sum(r[key] for r in rows)
  return dict(kernels=rows, model_cycles=total("model_cycles"), rtl_cycles=total("rtl_cycles"), outputs_match=all(r["outputs_match"] for r in rows),
              cycles_match=all(r["cycles_match"] for r in rows), first_divergence=next((f"{r['name']}: {r['first_divergence']}" for r in rows if r["first_divergence"]), None),
              model_seconds=total("model_seconds"), rtl_seconds=total("rtl_seconds"), simulator=sim, instructions=total("instructions"), correct=g.correct)
