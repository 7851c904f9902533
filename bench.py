"""`make bench`: GEMM figures of the model on every preset, with the wall time of the model; networks;
and the RTL's simulation speed (Icarus, and Verilator when installed) against the model on one program.

Run as `python -m tinyaccel.bench [--json FILE] [--quick]`. Each row runs the bit-exact model
(numerics and timing) and then the timing-only model on the same program; the tiny preset is an
RTL-scale config, so shapes that compile to more than MAX_INSTRUCTIONS are skipped there.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
from tqdm import tqdm

from .arch.config import load_config, presets
from .compiler.gemm import choose_tiling, compile_gemm
from .flow import run_network, run_program
from .helpers import write_json

SHAPES = [(256, 256, 256), (1024, 1024, 1024), (4096, 4096, 4096), (128, 768, 768), (128, 768, 3072), (1024, 768, 3072)]
MAX_INSTRUCTIONS = 60_000

def bench_gemm(cfg, m, k, n) -> dict:
  tl = choose_tiling(cfg, m, k, n)
  steps = -(-m // tl.mt) * -(-k // tl.kt) * -(-n // tl.nt)
  if steps > MAX_INSTRUCTIONS // 2:
    return dict(preset=cfg.name, dataflow=cfg.dataflow, m=m, k=k, n=n, instructions=f">{steps}", skipped=f"{steps} MATMUL steps: an RTL-scale preset")
  t = time.perf_counter(); c = compile_gemm(cfg, m, k, n, tiling=tl); compile_s = time.perf_counter() - t
  row = dict(preset=cfg.name, dataflow=cfg.dataflow, m=m, k=k, n=n, instructions=len(c.program), compile_seconds=compile_s)
  exact = run_program(cfg, c)
  fast = run_program(cfg, c, functional=False, output=False).result
  s = exact.result.stats
  assert fast.cycles == s.cycles
  return {**row, "cycles": s.cycles, "utilization": s.utilization, "cycles_over_bound": s.cycles / s.roofline_bound_cycles,
          "dram_over_compulsory": s.dram_bytes / s.compulsory_dram_bytes, "correct": exact.correct,
          "model_seconds": s.model_seconds, "timing_only_seconds": fast.stats.model_seconds, "simulated_cycles_per_s": s.simulated_cycles_per_s}

NETWORKS = [(n, p) for p in ("edge", "server") for n in ("resnet18", "resnet50", "mobilenetv2", "bert_layer", "gpt2_block")] + [("openpilot", "edge")]

def bench_network(name: str, preset: str) -> dict:
  t = time.perf_counter(); g, _ = run_network(name, load_config(preset)); wall = time.perf_counter() - t
  s, gemm = g.stats, [k.stats for k in g.kernels if k.kind == "gemm"]
  return dict(network=name, preset=preset, kernels=len(g.kernels), cycles=s.cycles, macs=s.macs, utilization=s.utilization,
              gemm_geomean_bound_over_cycles=float(np.exp(np.mean([np.log(k.roofline_bound_cycles / k.cycles) for k in gemm]))),
              dram_over_compulsory=s.dram_bytes / s.compulsory_dram_bytes, correct=g.correct, cosine_similarity=g.accuracy["cosine_similarity"], wall_seconds=wall)

def bench_chip(name: str, preset: str, batch: int) -> dict:
  """A multi-core chip's network, timing only: wall time of the whole flow (lowering, compiling, the model)."""
  cfg = load_config(preset)
  t = time.perf_counter(); g, _ = run_network(name, cfg, functional=False, batch=batch); wall = time.perf_counter() - t
  return dict(network=name, preset=preset, cores=cfg.cores, batch=batch, cycles=g.stats.cycles, utilization=g.stats.utilization, wall_seconds=wall)

def bench_llm_exact(model: str) -> dict:
  """One bit-exact decode step of a whole model on the decode preset (flow/llm_functional: every kernel of every layer run
  with data and checked against its integer reference), after a 1-token prefill: the step's wall time, and the whole call's."""
  from .flow.llm_functional import functional_decode
  from .workloads.llama import MODELS
  t = time.perf_counter(); f = functional_decode(load_config("decode"), MODELS[model], batch=1, prompt=1, steps=1); wall = time.perf_counter() - t
  step = f["steps"][1]
  return dict(model=model, batch=1, ctx=f["ctx"], position=step["position"], cycles=step["cycles"], kernels=step["kernels"], correct=f["bit_exact"],
              cosine=step["cosine"], wall_seconds=step["wall_seconds"], setup_seconds=wall - step["wall_seconds"], bit_exact=True)

RTL_CASES = [("tiny", (64, 64, 64)), ("tiny-os", (64, 64, 64))]

def bench_rtl(name: str, shape, sims) -> list[dict]:
  """Model and RTL on the same compiled GEMM: simulated cycles per second of each (the RTL figure includes
  the testbench and simulator start-up, not the build)."""
  from .rtl.cosim import build, verify
  cfg = load_config("tiny", dataflow="os" if name.endswith("-os") else "ws")
  c = compile_gemm(cfg, *shape, seed=0)
  rows = []
  for sim in sims:
    build(cfg, sim)   # warm the Verilog and simulator build so it is not timed
    r = verify(cfg, c.program, c.dram, sim=sim)
    rows.append(dict(config=name, m=shape[0], k=shape[1], n=shape[2], simulator=sim, cycles=r["model_cycles"],
                     match=r["outputs_match"] and r["cycles_match"], model_seconds=r["model_seconds"], rtl_seconds=r["rtl_seconds"],
                     model_cycles_per_s=r["model_cycles"] / r["model_seconds"], rtl_cycles_per_s=r["rtl_cycles"] / r["rtl_seconds"],
                     model_over_rtl=r["rtl_seconds"] / r["model_seconds"]))
  return rows

def main(argv=None):
  ap = argparse.ArgumentParser(prog="python -m tinyaccel.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--json", metavar="FILE", default="build/bench.json", help="where to write the figures (default build/bench.json)")
  ap.add_argument("--quick", action="store_true", help="only the 256^3 and 128x768x768 shapes")
  ap.add_argument("--presets", default=",".join(p for p in presets() if p != "decode"), help="comma-separated presets (the decode preset has its own LLM rows)")
  ap.add_argument("--no-llm", action="store_true", help="skip the LLM decode rows (timing only, configs/decode.toml)")
  ap.add_argument("--no-networks", action="store_true", help="skip the network rows")
  ap.add_argument("--networks", metavar="NAMES", help="comma-separated networks (default: ResNet-18/50, MobileNetV2, BERT-base layer, GPT-2 block)")
  ap.add_argument("--no-chip", action="store_true", help="skip the multi-core chip row (petaflop ResNet-50 batch 32, timing only)")
  ap.add_argument("--no-rtl", action="store_true", help="skip the RTL simulation speed rows")
  args = ap.parse_args(argv)
  shapes = SHAPES[::3] if args.quick else SHAPES
  jobs = [(p, s) for p in args.presets.split(",") for s in shapes]
  print(f"# python -m tinyaccel.bench {' '.join(argv or sys.argv[1:])}\n# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}")
  hdr = f"{'preset':<7} {'M x K x N':>16} {'instrs':>7} {'cycles':>13} {'util':>6} {'cyc/bound':>9} {'DRAM/comp':>9} {'ok':>3} {'model s':>8} {'Mcyc/s':>8} {'timing s':>8}"
  rows = []
  print(hdr)
  for p, (m, k, n) in tqdm(jobs, desc="bench", file=sys.stderr, leave=False):
    r = bench_gemm(load_config(p), m, k, n); rows.append(r)
    head = f"{p:<7} {f'{m}x{k}x{n}':>16} {r['instructions']:>7} "
    tqdm.write(head + (f"skipped: {r['skipped']}" if "skipped" in r else
               f"{r['cycles']:>13,} {r['utilization']:>6.3f} {r['cycles_over_bound']:>9.3f} {r['dram_over_compulsory']:>9.2f} {'yes' if r['correct'] else 'NO':>3}"
               f" {r['model_seconds']:>8.2f} {r['simulated_cycles_per_s'] / 1e6:>8.1f} {r['timing_only_seconds']:>8.2f}"))
  nets = []
  if not args.no_networks:
    print(f"\n{'network':<11} {'preset':<7} {'kernels':>7} {'cycles':>12} {'util':>6} {'GEMM bound/cyc':>14} {'DRAM/comp':>9} {'ok':>3} {'cosine':>8} {'wall s':>7}")
    from .workloads import WORKLOADS
    picked = args.networks.split(",") if args.networks else None
    for name, preset in tqdm([(n, p) for n, p in NETWORKS if n in WORKLOADS and (picked is None or n in picked)], desc="networks", file=sys.stderr, leave=False):
      r = bench_network(name, preset); nets.append(r)
      tqdm.write(f"{name:<11} {preset:<7} {r['kernels']:>7} {r['cycles']:>12,} {r['utilization']:>6.3f} {r['gemm_geomean_bound_over_cycles']:>14.3f} {r['dram_over_compulsory']:>9.2f}"
                 f" {'yes' if r['correct'] else 'NO':>3} {r['cosine_similarity']:>8.5f} {r['wall_seconds']:>7.2f}")
  chip = []
  if not args.no_chip:   # issue 17: the petaflop chip's ResNet-50 at batch 32, timing only (target < 30 s on one core)
    print(f"\n{'network':<9} {'preset':<9} {'cores':>5} {'batch':>5} {'cycles':>11} {'util':>6} {'timing s':>8}")
    r = bench_chip("resnet50", "petaflop", 32); chip.append(r)
    print(f"{r['network']:<9} {r['preset']:<9} {r['cores']:>5} {r['batch']:>5} {r['cycles']:>11,} {r['utilization']:>6.3f} {r['wall_seconds']:>8.2f}", flush=True)
  llm = []
  if not args.no_llm:
    from .flow.llm import run_phase
    print(f"\n{'model':<10} {'batch':>5} {'ctx':>5} {'cycles':>12} {'x DRAM bound':>12} {'tokens/s':>9} {'wall s':>7}")
    for model, batch in (("llama3_8b", 1), ("llama3_8b", 8), ("llama3_1b", 1)):
      r = run_phase(load_config("decode"), model, "decode", batch, 2048).report
      llm.append(dict(model=model, batch=batch, ctx=2048, cycles=r["cycles"], cycles_vs_dram_bound=r["cycles_vs_dram_bound"], tokens_per_s=r["tokens_per_s"], wall_seconds=r["model_seconds"]))
      print(f"{model:<10} {batch:>5} {2048:>5} {r['cycles']:>12,} {r['cycles_vs_dram_bound']:>12.3f} {r['tokens_per_s']:>9.1f} {r['model_seconds']:>7.2f}", flush=True)
    print("(issue 18 target: a Llama-3.1-8B decode step, 32 layers, timing only, < 10 s on one core)")
    r = bench_llm_exact("llama3_1b"); llm.append(r)
    print(f"\n{'bit-exact':<10} {'batch':>5} {'ctx':>5} {'cycles':>12} {'kernels':>7} {'ok':>3} {'cosine':>7} {'step s':>7} {'setup s':>7}\n"
          f"{r['model']:<10} {r['batch']:>5} {r['ctx']:>5} {r['cycles']:>12,} {r['kernels']:>7} {'yes' if r['correct'] else 'NO':>3} {r['cosine']:>7.4f}"
          f" {r['wall_seconds']:>7.2f} {r['setup_seconds']:>7.1f}\n(issue 18 target: a bit-exact Llama-3.2-1B decode step < 60 s on one core; setup = random"
          " float32 weights, the float32 reference and the 1-token prefill, not timed)", flush=True)
  rtl = []
  if not args.no_rtl:
    import shutil
    sims = [s for s, ok in (("icarus", shutil.which("iverilog")), ("verilator", _has("verilator"))) if ok]
    print(f"\n{'config':<8} {'M x K x N':>10} {'simulator':<10} {'cycles':>8} {'match':>5} {'model cyc/s':>12} {'RTL cyc/s':>10} {'model speedup':>13}")
    for name, shape in RTL_CASES:
      for r in bench_rtl(name, shape, sims):
        rtl.append(r)
        print(f"{name:<8} {'x'.join(map(str, shape)):>10} {r['simulator']:<10} {r['cycles']:>8,} {'yes' if r['match'] else 'NO':>5} {r['model_cycles_per_s']:>12,.0f}"
              f" {r['rtl_cycles_per_s']:>10,.0f} {r['model_over_rtl']:>12,.0f}x", flush=True)
  write_json(args.json, dict(machine=dict(processor=platform.processor(), cores=os.cpu_count(), python=platform.python_version()), rows=rows, networks=nets, chip=chip, llm=llm, rtl=rtl))
  return 0 if all(r.get("correct", True) for r in rows + nets + llm) and all(r["match"] for r in rtl) else 1

def _has(module: str) -> bool:
  import importlib.util
  return importlib.util.find_spec(module) is not None

if __name__ == "__main__": sys.exit(main())
