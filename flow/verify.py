"""The RTL held against the model: one program, a compiled GEMM, a random legal program, or a whole network kernel
by kernel (rtl/cosim.py runs each program on the simulator; this module says which programs and what must match)."""
from __future__ import annotations

import numpy as np

from ..arch.config import AccelConfig
from ..compiler.gemm import compile_gemm
from ..compiler.partition import Partition, parts_of
from ..compiler.program import Compiled
from ..compiler.tensor import Tensor
from ..rtl.cosim import verify, verify_chip
from ..sim.randprog import random_program
from ..workloads.llama import Decoder
from .llm_functional import functional_decode
from .run import run_gemm, run_graph


def verify_compiled(cfg: AccelConfig, c: Compiled | Partition, sim: str = "icarus", waves: str | None = None) -> dict:
  """A compiled program on model and RTL: equal DRAM images, equal (start, end) per instruction, and the RTL's output
  equal to the program's integer reference. On a multi-core chip the kernel's per-core programs (a single program:
  core 0's, the others idle) run on the chip top, barrier included (verify_partition)."""
  if cfg.cores > 1 or isinstance(c, Partition): return verify_partition(cfg, c, sim)
  r = verify(cfg, c.program, c.dram, sim=sim, waves=waves)
  r["outputs_match"] = r["outputs_match"] and bool(np.array_equal(c.read(r["rtl_dram"]), c.reference()))
  return r

def verify_partition(cfg: AccelConfig, prog: Compiled | Partition, sim: str = "icarus") -> dict:
  """A kernel's per-core programs on the chip top and on sim/model.run_chip: the chip's cycles, every core's trace and
  DRAM image, and every part's output (and the kernel's) against its integer reference."""
  parts = parts_of(prog)
  r = verify_chip(cfg, [p.program for p in parts], [p.dram for p in parts], sim=sim)
  got = prog.read(r["rtl_drams"]) if isinstance(prog, Partition) else prog.read(r["rtl_drams"][0])
  r["outputs_match"] = r["outputs_match"] and bool(np.array_equal(got, prog.reference())) and all(np.array_equal(p.read(d), p.reference()) for p, d in zip(parts, r["rtl_drams"]))
  return r

def verify_gemm(cfg: AccelConfig, m: int, k: int, n: int, seed: int = 0, sim: str = "icarus", waves: str | None = None) -> dict:
  """A GEMM of random operands from `seed`; on a multi-core chip partitioned as run_gemm partitions it."""
  prog = compile_gemm(cfg, m, k, n, seed=seed) if cfg.cores == 1 else run_gemm(cfg, m, k, n, seed, functional=False).kernel.program
  return verify_compiled(cfg, prog, sim, waves)

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

def verify_network(out: Tensor, cfg: AccelConfig, sim: str = "icarus") -> dict:
  """A whole network as ONE program (run_graph one_program: compiler/link.py) on the RTL: equal DRAM images, equal
  (start, end) per instruction, and the network's output read from the RTL's final image equal to the integer reference."""
  g = run_graph(out, cfg, one_program=True)
  ln, ks = g.linked, [k.program for k in g.kernels]
  r = verify(cfg, ln.program, ln.dram, sim=sim)
  got = ks[-1].read(ln.local(len(ks) - 1, ks, r["rtl_dram"]))
  r["outputs_match"] = r["outputs_match"] and bool(np.array_equal(got, ks[-1].reference()))
  return dict(r, correct=g.correct, kernels=[k.name for k in g.kernels], attribution=g.attribution)

def verify_decode(m: Decoder, cfg: AccelConfig, batch: int = 1, prompt: int = 4, steps: int = 1, seed: int = 0, sim: str = "icarus", progress: bool = False) -> dict:
  """LLM decode steps on the RTL (flow/llm_functional): the prompt is prefilled on the model, then every kernel of each
  decode step (the int8 KV cache in its DRAM image, appended at position p) runs on model and RTL: equal DRAM images,
  equal (start, end) per instruction, the RTL's output equal to the integer reference."""
  from tqdm import tqdm
  rows, bar = [], tqdm(desc="decode kernels on the RTL", disable=not progress)
  def check(name, prog):
    v = verify_compiled(cfg, prog, sim=sim); bar.update()
    rows.append(dict(name=name, instructions=v["instructions"], model_cycles=v["model_cycles"], rtl_cycles=v["rtl_cycles"], outputs_match=v["outputs_match"],
                     cycles_match=v["cycles_match"], first_divergence=v["first_divergence"], model_seconds=v["model_seconds"], rtl_seconds=v["rtl_seconds"]))
  f = functional_decode(cfg, m, batch, prompt, steps, seed=seed, check=check); bar.close()
  total = lambda key: sum(r[key] for r in rows)
  return dict(model=m.name, batch=batch, prompt=prompt, steps=steps, ctx=f["ctx"], kernels=rows, model_cycles=total("model_cycles"), rtl_cycles=total("rtl_cycles"),
              decode_cycles=[s["cycles"] for s in f["steps"][1:]], cosine=[s["cosine"] for s in f["steps"]], outputs_match=all(r["outputs_match"] for r in rows),
              cycles_match=all(r["cycles_match"] for r in rows), first_divergence=next((f"{r['name']}: {r['first_divergence']}" for r in rows if r["first_divergence"]), None),
              model_seconds=total("model_seconds"), rtl_seconds=total("rtl_seconds"), simulator=sim, instructions=total("instructions"), correct=f["bit_exact"])
