"""LLM serving phases on the model: a decode step with a static int8 KV cache, and prefill (docs/llm.md).

The matrix work of one layer (workloads/llama.py: decode_matmuls / prefill_matmuls) is compiled GEMM by GEMM with int8
weights and a per-output-channel requantization epilogue, plus its vector kernels (vector_kernels: RMSNorm, RoPE, the
attention softmax, SwiGLU's product, the residual adds), and run timing only. The layers of a model are identical programs
and the model's timing depends on no data (docs/timing.md), and kernels run one after another, so one simulated layer times
`layers` is the exact sum; the LM head (with the final norm) is cut into equal vocabulary slices and one slice is simulated
the same way. What is not lowered (the embedding row lookup, the KV append) is listed in the report's `not_modelled`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import json
import os
import time

import numpy as np

from ..arch.config import AccelConfig
from ..arch.stats import Stats
from ..arch.vector import quantize_multipliers
from ..compiler import gelu as G
from ..compiler.eltwise import compile_add
from ..compiler.gemm import Epilogue, compile_gemm
from ..compiler.layernorm import compile_layernorm, compile_rmsnorm
from ..compiler.partition import partition_gemm, reuse, split
from ..compiler.program import CompileError
from ..compiler.rope import compile_rope
from ..compiler.softmax import compile_softmax
from ..compiler.swiglu import compile_swiglu
from ..reports.chips import chip_prices
from ..reports.cost import cost_report
from ..workloads.llama import H200_NAMES, MODELS, Decoder, Matmul, VectorKernel, decode_matmuls, prefill_matmuls, vector_kernels
from .run import run_kernel

H200_PATH = os.path.join(os.path.dirname(__file__), "..", "reports", "data", "h200_llm_measured.json")
H200_CHIP = "H200 SXM (GH100 compute)"   # its cited cost and price (reports/chips.py INT8_CHIPS)
NOT_MODELLED = ["embedding lookup (one row per token)", "kv append (2·kv_heads·head_dim bytes per sequence and layer)"]

@dataclass(frozen=True)
class PhaseRun:
  model: Decoder
  phase: str
  batch: int; ctx: int
  layer: list[tuple[str, Stats]]        # one layer's kernels
  head: Stats                           # the whole LM head
  stats: Stats                          # the whole step (prefill: the whole prompt)
  report: dict

def _timing(cfg: AccelConfig, prog) -> Stats:
  """The timing-only run of a kernel: one program on one core, or a multi-core partition on the whole chip (sim/model.run_chip)."""
  return run_kernel(cfg, prog, functional=False, output=False).result.stats

def _rows(cfg: AccelConfig, rows: int, build, granule: int = 1):
  """A vector kernel over `rows` rows cut into row slices across the cores (one program on one core); equal slices compiled once."""
  with reuse(): return split(cfg, (rows, -1), 0, granule, build)

def _matmul_stats(cfg: AccelConfig, mm: Matmul) -> Stats:
  """Timing-only run of one GEMM (all-ones int8 operands: timing depends on no data, and no tile is all zero). On a multi-core
  chip the GEMM is partitioned across the cores (compiler/partition.partition_gemm: batch, M or N)."""
  lead = (mm.batch,) if mm.batch > 1 else ()
  mult = quantize_multipliers(np.full(mm.N, 0.5 / mm.K))        # a per-channel requantization to int8 (its values do not change timing)
  ep = None if mm.partial else Epilogue(requant=(np.asarray(mult[0]), mult[1]), gelu=G.params(np.full(mm.N, 1e-4)) if mm.gelu else None)
  A, B = np.ones((*lead, mm.M, mm.K), np.int8), np.ones((*lead, mm.K, mm.N), np.int8)
  base = []                                                    # the single core's chosen tiling
  def run(nt=None):
    if cfg.cores > 1:                                          # every core's box widened to nt where it fits (partition_gemm)
      with reuse(): prog = partition_gemm(cfg, mm.M, mm.K, mm.N, A, B, epilogue=ep, batch=mm.batch, nt=nt, n_first=mm.batch == 1 and mm.N > mm.M)
      nts = [p.tiling.nt for p in getattr(prog, "parts", [prog])]
    else:
      prog = compile_gemm(cfg, mm.M, mm.K, mm.N, A=A, B=B, epilogue=ep, batch=mm.batch, tiling=nt and dataclasses.replace(base[0], nt=nt))
      base.append(prog.tiling)
      nts = [prog.tiling.nt]
    return _timing(cfg, prog).with_macs(mm.useful_macs, prog.macs), min(nts)
  best, nt = run()
  # the tiling estimate does not see that small double-buffered tiles leave the DRAM latency exposed (q·kᵀ of one KV head:
  # 128 x 256 tiles). Where the chosen tiling misses its DRAM bound by > 15 %, wider n tiles are tried and the model's exact
  # cycles decide (the mapper's rule, compiler/schedule.py)
  while best.cycles > 1.15 * best.dram_bound_cycles and nt < mm.N:
    nt = min(mm.N, 2 * nt)
    try: cand, _ = run(nt)
    except CompileError: break                                 # the wider B and C tiles no longer fit their double buffers
    if cand.cycles < best.cycles: best = cand
  return best

def _vector_stats(cfg: AccelConfig, m: Decoder, vk: VectorKernel, positions) -> Stats:
  """Timing-only run of one vector kernel on all-ones int8 rows (its scales and values do not change its timing)."""
  x = np.ones((vk.rows, vk.width), np.int8)
  def build(lo, hi):
    xs = x[lo:hi]
    if vk.kind == "rmsnorm": return compile_rmsnorm(cfg, xs, 0.05, 4 / 127, gain=np.ones(vk.width))
    if vk.kind == "layernorm": return compile_layernorm(cfg, xs, 0.05, 4 / 127, gain=np.ones(vk.width), bias=np.zeros(vk.width), norm_scale=4 / 127)
    if vk.kind == "rope": return compile_rope(cfg, xs, vk.heads, m.head_dim, positions[lo:hi], 0.05, 0.05)
    if vk.kind == "swiglu": return compile_swiglu(cfg, xs, xs, 0.05, 0.05, 0.05)
    return compile_add(cfg, xs, xs, 0.5, 0.5)
  return _timing(cfg, _rows(cfg, vk.rows, build)).with_macs(0, 0)

def _softmax_stats(cfg: AccelConfig, rows: int, L: int, causal: bool) -> Stats:
  """Rows of L scores; causal (prefill): every L rows are one (sequence, head) square under the mask, cut across cores whole."""
  mask = np.triu(np.ones((L, L), bool), 1) if causal else None
  x = np.ones((rows, L), np.int8)
  return _timing(cfg, _rows(cfg, rows, lambda lo, hi: compile_softmax(cfg, x[lo:hi], 1 / 16, 1 / 1024, mask), L if causal else 1)).with_macs(0, 0)

def _slices(vocab: int, cap: int = 8192) -> int: return next(s for s in range(1, vocab + 1) if vocab % s == 0 and vocab // s <= cap)

def h200_rows(model: str, phase: str, batch: int, ctx: int) -> list[dict]:
  """The measured H200 rows (reports/data/h200_llm_measured.json, bf16) of this model and phase: the same batch and context first."""
  with open(H200_PATH) as f: rows = json.load(f)["rows"]
  name = H200_NAMES.get(model)
  rows = [r for r in rows if r.get("model") == name and r.get("kind") == phase]
  return sorted(rows, key=lambda r: (r["batch"] != batch or r["ctx"] != ctx, abs(r["batch"] - batch), abs(r["ctx"] - ctx)))

def layer_stats(cfg: AccelConfig, m: Decoder, phase: str, batch: int, ctx: int, mms: list[Matmul], vks: list[VectorKernel], softmax_rows: int) -> list[tuple[str, Stats]]:
  """One layer's kernels in program order, each a timing-only run of the given shapes (the whole layer, or one chip's shard of it)."""
  pos = np.full(batch, ctx - 1) if phase == "decode" else np.tile(np.arange(ctx), batch)   # the new token's position; the prompt's
  vk = {v.name: (v.name, _vector_stats(cfg, m, v, pos)) for v in vks}
  mm = {x.name: (x.name, _matmul_stats(cfg, x)) for x in mms}
  sm = ("softmax", _softmax_stats(cfg, softmax_rows, ctx, phase == "prefill"))
  order = ["attn_norm", "qkv", "rope", "q·kᵀ", "softmax", "p·v", "o", "attn_residual", "mlp_norm", "gate_up", "up", "swiglu", "down", "mlp_residual"]
  return [k[n] for n in order for k in (vk, mm, {"softmax": sm}) if n in k]

def head_stats(cfg: AccelConfig, m: Decoder, rows: int, cols: int | None = None) -> tuple[Stats, int]:
  """The final norm and the LM head's `cols` vocabulary columns (all of them by default) for `rows` tokens, in equal slices of
  at most 8192 columns, one simulated x their number; and that number."""
  cols = m.vocab if cols is None else cols
  s = _slices(cols)
  final_norm = _vector_stats(cfg, m, VectorKernel("final_norm", "rmsnorm" if m.rms else "layernorm", rows, m.d), np.zeros(rows, int))
  return Stats.merge([final_norm] + [_matmul_stats(cfg, Matmul("lm_head", 1, rows, m.d, cols // s, rows * m.d * (cols // s)))] * s), s

def check_phase(cfg: AccelConfig, model: str, phase: str, ctx: int) -> Decoder:
  if model not in MODELS: raise CompileError(f"unknown model {model!r} (available: {', '.join(MODELS)})")
  if phase not in ("decode", "prefill"): raise CompileError(f"unknown phase {phase!r} (decode or prefill)")
  if ctx % cfg.cols: raise CompileError(f"--ctx/--prompt {ctx} must be a multiple of cols={cfg.cols} (the softmax's rows are whole accumulator lines)")
  return MODELS[model]

def run_phase(cfg: AccelConfig, model: str, phase: str, batch: int = 1, ctx: int = 2048) -> PhaseRun:
  """A decode step (`ctx`: cache positions attended, the new one included) or a prefill of `ctx` prompt tokens, for `batch` sequences."""
  m = check_phase(cfg, model, phase, ctx)
  t0 = time.perf_counter()
  mms = decode_matmuls(m, batch, ctx) if phase == "decode" else prefill_matmuls(m, batch, ctx)
  tokens = batch if phase == "decode" else batch * ctx
  layer = layer_stats(cfg, m, phase, batch, ctx, mms, vector_kernels(m, tokens), batch * m.heads * (1 if phase == "decode" else ctx))
  head, s = head_stats(cfg, m, batch)                        # prefill: only the last token's logits are needed for the first token
  one = Stats.merge([st for _, st in layer])
  step = Stats.merge([one] * m.layers + [head])
  rep = phase_report(cfg, m, phase, batch, ctx, layer, head, step, s)
  rep |= dict(model_seconds=time.perf_counter() - t0, simulated_cycles_per_s=step.cycles / (time.perf_counter() - t0))   # the wall time of what was simulated
  return PhaseRun(m, phase, batch, ctx, layer, head, step, rep)

def phase_report(cfg, m: Decoder, phase, batch, ctx, layer, head, step: Stats, slices) -> dict:
  sec = step.seconds
  kv = m.kv_cache_bytes(batch, ctx)
  # the DRAM bound of a decode step: its weights and KV cache read once (bytes / bandwidth)
  min_bytes = m.weight_bytes() + (kv if phase == "decode" else 0)
  dram_bound = -(-min_bytes // cfg.chip_dram_bytes_per_cycle)
  tokens = batch if phase == "decode" else batch * ctx
  s = step.to_json()
  cost = cost_report(cfg, s)
  tps = tokens / sec
  out = dict(workload=dict(kind="llm", model=m.name, phase=phase, batch=batch, ctx=ctx, params=m.params(), weight_bytes=m.weight_bytes(), h200_model=H200_NAMES.get(m.name),
                           method=f"one layer simulated x {m.layers} (identical programs, data-independent timing: exact); LM head {slices} slices of {m.vocab // slices}, one simulated x {slices}",
                           not_modelled=NOT_MODELLED),
             config=cfg.to_dict(), tokens_per_s=tps, ms_per_token=sec * 1e3 if phase == "decode" else sec * 1e3 / tokens,
             time_to_first_token_s=sec if phase == "prefill" else None, kv_cache_bytes=kv, min_dram_bytes=min_bytes,
             dram_bound_cycles_step=dram_bound, cycles_vs_dram_bound=step.cycles / dram_bound,
             dram_bandwidth_utilization=step.dram_bytes / (step.cycles * cfg.chip_dram_bytes_per_cycle), **s, correct=None, **cost)
  unit, nre = cost["unit_cost_usd"], cost["nre_usd_per_unit"]
  out |= dict(tokens_per_s_per_usd=tps / unit, tokens_per_s_per_usd_with_nre=tps / (unit + nre),
              tokens_per_s_per_usd_system=tps / cost["system_cost_usd"]["total"], tokens_per_j=tps / cost["avg_power_w"],
              perf_basis=f"int8 weights and KV cache, batch {batch}, ctx {ctx}; $ = unit manufacturing cost of the chip with its memory, no NRE "
                         f"(unit_cost_usd; _with_nre: + NRE / {cfg.nre_volume_units:,} units; _system: the form factor's board and host too), reports/cost.py; "
                         "J = the model's average power on this step times its time (avg_power_w, chip and DRAM)")
  out["layer_kernels"] = [dict(name=n, cycles=st.cycles, dram_bytes=st.dram_bytes, dram_bound_cycles=st.dram_bound_cycles, macs=st.macs, array_macs=st.array_macs) for n, st in layer]
  out["lm_head"] = dict(cycles=head.cycles, dram_bytes=head.dram_bytes)
  p = chip_prices(H200_CHIP)
  out["h200"] = [dict(r, tokens_per_s_per_usd=r["tokens_per_s"] / p["cost_usd"], tokens_per_s_per_usd_price=r["tokens_per_s"] / p["price_usd"], **p,
                      basis=(f"measured H200 (reference/h200_llm_measured.md), bf16 weights and KV, batch {r['batch']}, ctx {r['ctx']}; $ = manufacturing cost "
                             f"{p['cost_usd']:,.0f} USD (Silicon Analysts' estimate in the notes of {p['cost_basis']}) or price {p['price_usd']:,.0f} USD ({p['price_basis']}), "
                             "reports/data/cost_data.json; J = NVML power (avg_w: every 20 ms over a 2 s back-to-back loop, mean of its last 60 %) x the step time"))
                 for r in h200_rows(m.name, phase, batch, ctx)[:3]]
  return out

@dataclass(frozen=True)
class GenerateRun:
  prefill: PhaseRun
  buckets: list[tuple[int, int, PhaseRun]]   # (bucket ctx, decode steps in it, the step timed at that ctx)
  report: dict

def _buckets(cfg: AccelConfig, first: int, last: int, max_samples: int) -> tuple[int, list[tuple[int, int]]]:
  """Contexts first..last (positions attended, the new one included) in buckets of a multiple of cols, at most max_samples
  of them: (bucket size, [(bucket ctx, steps in it)])."""
  b = cfg.cols
  while len(range(-(-first // b), -(-last // b) + 1)) > max_samples: b += cfg.cols
  out = {}
  for c in range(first, last + 1): out[-(-c // b) * b] = out.get(-(-c // b) * b, 0) + 1
  return b, sorted(out.items())

def run_generate(cfg: AccelConfig, model: str, batch: int = 1, prompt: int = 512, tokens: int = 128, max_samples: int = 8) -> GenerateRun:
  """A generation of `tokens` output tokens per sequence after a prompt of `prompt`: the prefill gives the first token
  (its time is the TTFT), then tokens-1 decode steps at positions prompt .. prompt+tokens-2, each attending over its own
  position and all before it. The cache grows by a position a step, so the decode cost is sampled: positions fall into
  buckets of a multiple of cols (at most max_samples buckets) and every step of a bucket is timed as one decode step over
  the whole bucket (a static cache of that ctx, the positions not filled yet masked: their K/V bytes are read all the same)."""
  if tokens < 1: raise CompileError(f"--tokens {tokens}: at least 1 output token")
  if prompt % cfg.cols: raise CompileError(f"--prompt {prompt} must be a multiple of cols={cfg.cols} (the softmax's rows are whole accumulator lines)")
  t0 = time.perf_counter()
  pre = run_phase(cfg, model, "prefill", batch, prompt)
  size, bks = _buckets(cfg, prompt + 1, prompt + tokens - 1, max_samples) if tokens > 1 else (cfg.cols, [])
  runs = [(ctx, n, run_phase(cfg, model, "decode", batch, ctx)) for ctx, n in bks]
  ttft = pre.stats.seconds
  dec_s = sum(n * r.stats.seconds for _, n, r in runs)
  energy = pre.report["avg_power_w"] * ttft + sum(n * r.report["avg_power_w"] * r.stats.seconds for _, n, r in runs)
  total = ttft + dec_s
  out_tokens = batch * tokens
  tps = out_tokens / total
  cost = pre.report
  rep = dict(workload=dict(kind="llm", model=model, phase="generate", batch=batch, prompt=prompt, tokens=tokens, params=pre.model.params(), weight_bytes=pre.model.weight_bytes(),
                           method=(f"prefill of {prompt} tokens (the first output token), then {tokens - 1} decode steps at contexts {prompt + 1}..{prompt + tokens - 1}; "
                                   f"decode cost SAMPLED at {len(runs)} context bucket(s) of {size} positions: each step timed as a step over its whole bucket "
                                   "(static cache, unfilled positions masked, their K/V read), x the steps in that bucket; each sample: " + pre.report["workload"]["method"]),
                           not_modelled=NOT_MODELLED),
             config=cfg.to_dict(), time_to_first_token_s=ttft, decode_seconds=dec_s, total_seconds=total,
             time_per_output_token_s=dec_s / (tokens - 1) if tokens > 1 else None, tokens_per_s=tps, tokens_per_s_per_sequence=tokens / total,
             decode_tokens_per_s=batch * (tokens - 1) / dec_s if tokens > 1 else None, output_tokens=out_tokens, energy_j=energy, tokens_per_j=out_tokens / energy,
             tokens_per_s_per_usd=tps / cost["unit_cost_usd"], tokens_per_s_per_usd_system=tps / cost["system_cost_usd"]["total"], unit_cost_usd=cost["unit_cost_usd"],
             kv_cache_bytes_final=pre.model.kv_cache_bytes(batch, prompt + tokens - 1), bucket_positions=size,
             buckets=[dict(ctx=c, steps=n, cycles_per_step=r.stats.cycles, seconds_per_step=r.stats.seconds, cycles_vs_dram_bound=r.report["cycles_vs_dram_bound"],
                           dram_bandwidth_utilization=r.report["dram_bandwidth_utilization"], avg_power_w=r.report["avg_power_w"]) for c, n, r in runs],
             prefill=dict(cycles=pre.stats.cycles, seconds=ttft, tokens_per_s=pre.report["tokens_per_s"], avg_power_w=pre.report["avg_power_w"]),
             perf_basis=(f"int8 weights and KV cache, batch {batch}, prompt {prompt}, {tokens} output tokens per sequence; tokens/s = batch x tokens / (TTFT + decode time); "
                         "$ = unit manufacturing cost of the chip with its memory, no NRE (reports/cost.py); J = the model's average power x time, prefill and each bucket's steps"),
             model_seconds=time.perf_counter() - t0)
  return GenerateRun(pre, runs, rep)
