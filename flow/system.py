"""LLM decode and prefill on a system of chips (arch/system.py): tensor- and pipeline-parallel partitioning of the
transformer layers, each chip's shard timed cycle-exactly, composed with the link model (docs/timing.md "Links between chips").

Tensor parallel (Megatron-LM, Shoeybi et al. 2019) over `tp` chips: qkv, gate/up (up) are column-parallel (each chip
holds heads/tp query heads, kv_heads/tp KV heads and ffn/tp MLP columns, and the matching KV cache), o and down are
row-parallel: each chip multiplies its K slice into int32 partial sums (no requantization, Matmul.partial), which an
all-reduce of tokens x d x 4 bytes sums after attention and after the MLP; the norms and residual adds run replicated on
the full width. The LM head is vocabulary-parallel (ceil(vocab/tp) columns a chip), its int8 logits all-gathered.
Pipeline parallel over `pp` stages: layers in contiguous balanced stages (the LM head on the last), the batch in
`microbatches` equal microbatches; a stage sends each microbatch's activations (tokens x d int8) to the next stage's chips
(point to point, chip i of a stage to chip i of the next). Chips = tp x pp.

What is cycle-exact and what is composed: each chip's shard of one layer (and of the LM head) is compiled at its sharded
shapes and run timing-only on the chip's model (flow/llm.layer_stats: every kernel, all its cores); its layers are
identical programs, so a stage of L layers is L x that. The system's time composes these with the link formulas: no
overlap of compute and transfers (a collective sits between the kernels that produce and consume it), and the pipeline
is a flow shop of identical microbatches: T = sum_s d_s + (m - 1) max_s d_s, d_s = stage s's time for one microbatch.
The time is split on the busiest chip b (stage argmax d_s): compute = m x its kernels' time, links = m x the bandwidth part
(n/B) of its transfers, waiting = T - compute - links = its transfers' latency (alpha) + the pipeline bubble (sum of the
other stages' d_s).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
import math

from ..arch.config import cycles_to_seconds
from ..arch.stats import Stats
from ..arch.system import SystemConfig, Transfer, all_gather, all_reduce, point_to_point
from ..compiler.program import CompileError
from ..reports.cost import cost_report
from ..workloads.llama import Decoder, Matmul, VectorKernel, decode_matmuls, prefill_matmuls, vector_kernels
from .llm import NOT_MODELLED, check_phase, head_stats, layer_stats

METHOD = ("per-chip shards compiled at their sharded shapes and run cycle-exact (timing only) on the chip model; the system time composes "
          "them with the link model (arch/system.py, docs/timing.md 'Links between chips'): no compute/transfer overlap, pipeline as a flow shop "
          "of identical microbatches")

class PartitionError(CompileError): """A partitioning the system or the model cannot take (one line)."""

def shard_matmuls(mms: list[Matmul], phase: str, tp: int) -> list[Matmul]:
  """One chip's share of a layer's GEMMs under tensor parallelism over tp chips (heads, KV heads and ffn split)."""
  if tp == 1: return mms
  out = []
  for x in mms:
    if x.name in ("qkv", "gate_up", "up"): x = replace(x, N=x.N // tp)                                   # column-parallel
    elif x.name in ("o", "down"): x = replace(x, K=x.K // tp, partial=True)                            # row-parallel: int32 partials
    elif x.name == "q·kᵀ" or (x.name == "p·v" and phase == "prefill"): x = replace(x, batch=x.batch // tp)     # batched per (sequence, KV head)
    elif x.name == "p·v": x = replace(x, M=x.M // tp, N=x.N // tp)                                    # decode: all heads of a sequence vs its V row
    out.append(replace(x, useful_macs=x.useful_macs // tp))
  return out

def shard_vectors(vks: list[VectorKernel], m: Decoder, tp: int) -> list[VectorKernel]:
  """RoPE on the chip's Q and K heads, SwiGLU on its ffn/tp columns; norms and residual adds replicated (the full d)."""
  if tp == 1: return vks
  f = {"rope": lambda v: replace(v, width=v.width // tp, heads=v.heads // tp), "swiglu": lambda v: replace(v, width=v.width // tp)}
  return [f.get(v.kind, lambda v: v)(v) for v in vks]

def stages(layers: int, pp: int) -> list[int]:
  """Layers per pipeline stage (contiguous runs of layers): balanced, the first stages one more where pp does not divide."""
  return sorted((layers * (i + 1) // pp - layers * i // pp for i in range(pp)), reverse=True)

def plan(s: SystemConfig, m: Decoder, batch: int, tp: int | None, pp: int | None, microbatches: int | None) -> tuple[int, int, int]:
  """(tp, pp, microbatches), checked; defaults: tp as large as the chips and the heads allow (a ring: all chips or 1), pp the rest,
  microbatches the largest divisor of batch up to pp."""
  ok_tp = lambda t: m.heads % t == 0 and m.kv_heads % t == 0 and m.ffn % t == 0
  if tp is None and pp is None:
    tp = max(t for t in range(1, s.chips + 1) if s.chips % t == 0 and ok_tp(t) and (s.topology == "switch" or t in (1, s.chips)))
  for flag, v in (("--tp", tp), ("--pp", pp)):
    if v is not None and s.chips % v: raise PartitionError(f"{flag} {v}: must divide the {s.chips} chips of system {s.name}")
  tp, pp = (s.chips // pp if tp is None else tp), (s.chips // tp if pp is None else pp)
  if tp * pp != s.chips: raise PartitionError(f"--tp {tp} x --pp {pp} = {tp * pp}: must equal the {s.chips} chips of system {s.name}")
  if not ok_tp(tp): raise PartitionError(f"--tp {tp}: must divide {m.name}'s {m.heads} heads, {m.kv_heads} KV heads and ffn {m.ffn}")
  if pp > m.layers: raise PartitionError(f"--pp {pp}: more stages than {m.name}'s {m.layers} layers")
  if s.topology == "ring" and tp > 1 and pp > 1:
    raise PartitionError(f"system {s.name}: a ring takes tp = {s.chips} or pp = {s.chips} (tp groups and stage-to-stage sends would share its links)")
  if microbatches is None: microbatches = max(d for d in range(1, min(batch, pp) + 1) if batch % d == 0)
  if microbatches < 1 or batch % microbatches: raise PartitionError(f"--microbatches {microbatches}: must divide the batch {batch}")
  return tp, pp, microbatches

@dataclass(frozen=True)
class SystemRun:
  system: SystemConfig
  model: Decoder
  phase: str
  batch: int; ctx: int; tp: int; pp: int; microbatches: int
  layer: list[tuple[str, Stats]]      # one chip's shard of one layer, for one microbatch
  head: Stats                          # one chip's shard of the LM head, for one microbatch
  seconds: float                       # the system's time for the step (prefill: the whole prompt)
  report: dict

def _sum(ts: list[Transfer]) -> tuple[float, float, float]:
  return sum(t.bandwidth_seconds for t in ts), sum(t.latency_seconds for t in ts), sum(t.link_bytes for t in ts)

def run_system(s: SystemConfig, model: str, phase: str, batch: int = 1, ctx: int = 2048, tp: int | None = None, pp: int | None = None,
               microbatches: int | None = None) -> SystemRun:
  """A decode step (`ctx` cache positions) or a prefill of `ctx` prompt tokens of `batch` sequences on the system (module docstring)."""
  cfg = s.chip_config()
  m = check_phase(cfg, model, phase, ctx)
  tp, pp, mb = plan(s, m, batch, tp, pp, microbatches)
  b = batch // mb                                           # sequences per microbatch
  tokens = b if phase == "decode" else b * ctx
  mms = decode_matmuls(m, b, ctx) if phase == "decode" else prefill_matmuls(m, b, ctx)
  layer = layer_stats(cfg, m, phase, b, ctx, shard_matmuls(mms, phase, tp), shard_vectors(vector_kernels(m, tokens), m, tp),
                      b * (m.heads // tp) * (1 if phase == "decode" else ctx))
  cols = math.ceil(m.vocab / tp)                            # vocabulary-parallel LM head: the widest chip's share
  head, _ = head_stats(cfg, m, b, cols)
  layer_cycles = sum(st.cycles for _, st in layer)
  # transfers of one microbatch: per layer two all-reduces of int32 partial sums, the LM head's all-gather, stage to stage sends
  ar = [all_reduce(s, tokens * m.d * 4, tp)] * 2
  ag = all_gather(s, b * m.vocab, tp)                      # int8 logits of the microbatch's rows (prefill: the last token's)
  p2p = point_to_point(s, tokens * m.d)                    # int8 activations to the next stage
  L = stages(m.layers, pp)
  rows = []
  for i, n in enumerate(L):
    last = i == pp - 1
    xfer = ar * n + ([ag] if last else []) + ([] if last else [p2p])
    bw, lat, lb = _sum(xfer)
    cycles = n * layer_cycles + (head.cycles if last else 0)        # the stage's kernels on one chip, one microbatch: exact
    compute = cycles_to_seconds(cycles, cfg.clock_mhz)
    rows.append(dict(stage=i, layers=n, compute_cycles=cycles, compute_s=compute, link_s=bw, latency_s=lat, seconds=compute + bw + lat, link_bytes=lb))
  d = [r["seconds"] for r in rows]
  total = sum(d) + (mb - 1) * max(d)
  bn = rows[d.index(max(d))]
  compute, link = mb * bn["compute_s"], mb * bn["link_s"]
  wait = total - compute - link
  rep = system_report(s, cfg, m, phase, batch, ctx, tp, pp, mb, L, layer, head, rows, bn, total, compute, link, wait)
  return SystemRun(s, m, phase, batch, ctx, tp, pp, mb, layer, head, total, rep)

def memory_per_chip(m: Decoder, batch: int, ctx: int, tp: int, layers: int, last: bool, first: bool) -> int:
  """int8 bytes a chip of a stage of `layers` layers holds: its shard of their weights and KV cache, and of the embedding (first
  stage) and LM head (last stage; tied models keep one copy)."""
  d, kv = m.d, m.kv_heads * m.head_dim
  per_layer = 2 * d * d + 2 * d * kv + (3 if m.gated else 2) * m.ffn * d
  emb = m.vocab * d
  tables = (emb if last else 0) + (emb if first and not (m.tied and last) else 0) + (m.max_pos * d if first else 0)
  return (layers * per_layer + tables) // tp + m.kv_cache_bytes(batch, ctx) * layers // m.layers // tp

def system_report(s, cfg, m, phase, batch, ctx, tp, pp, mb, L, layer, head, rows, bn, total, compute, link, wait) -> dict:
  tokens = batch if phase == "decode" else batch * ctx
  c = cost_report(cfg)
  per_chip = c["system_cost_usd"]["total"]
  cost = s.chips * per_chip
  tps = tokens / total
  mem = [memory_per_chip(m, batch, ctx, tp, n, i == pp - 1, i == 0) for i, n in enumerate(L)]
  cap = int(cfg.memory_gib * 2 ** 30)
  bubble = total - mb * bn["seconds"]
  notes = NOT_MODELLED + (["tp > 1: the reduction adds of the all-reduce and the requantization of the summed int32 partials to int8 (d elements a token)"] if tp > 1 else [])
  return dict(workload=dict(kind="llm_system", model=m.name, phase=phase, batch=batch, ctx=ctx, params=m.params(), weight_bytes=m.weight_bytes(),
                            method=METHOD, not_modelled=notes),
              system=s.to_dict(), config=cfg.to_dict(), chips=s.chips, tp=tp, pp=pp, microbatches=mb, stage_layers=L,
              seconds=total, compute_seconds=compute, link_seconds=link, wait_seconds=wait,
              wait_latency_seconds=mb * bn["latency_s"], wait_bubble_seconds=bubble,
              compute_fraction=compute / total, link_fraction=link / total, wait_fraction=wait / total,
              link_bytes_per_step=max(r["link_bytes"] for r in rows) * mb, stage_link_bytes_per_step=[r["link_bytes"] * mb for r in rows],
              stages=rows, busiest_stage=bn["stage"],
              tokens_per_s=tps, ms_per_token=total * 1e3 if phase == "decode" else total * 1e3 / tokens,
              time_to_first_token_s=total if phase == "prefill" else None,
              chip_layer_cycles=sum(st.cycles for _, st in layer), chip_head_cycles=head.cycles,
              chip_layer_kernels=[dict(name=n, cycles=st.cycles, dram_bytes=st.dram_bytes, macs=st.macs) for n, st in layer],
              memory_per_chip_bytes=max(mem), chip_memory_bytes=cap, fits_memory=max(mem) <= cap,
              system_cost_usd=dict(per_chip=per_chip, chips=s.chips, total=cost, chip=c["system_cost_usd"]),
              tokens_per_s_per_usd=tps / cost,
              perf_basis=(f"int8 weights and KV cache, batch {batch}, ctx {ctx}; $ = {s.chips} x the manufacturing cost of one {cfg.name} chip with its memory "
                          f"and its {cfg.form_factor} board and host share (reports/cost.py system_cost_usd: {per_chip:,.0f} USD), no NRE"),
              correct=None)
