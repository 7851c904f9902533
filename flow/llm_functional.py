"""A functional decode: a small Llama-shaped model compiled kernel by kernel and run bit-exact on the model (docs/llm.md).

Every kernel of a layer runs on the cycle model with data and is checked against its integer reference: RMSNorm, the qkv
GEMM (int8 weights, per-output-channel scales in the requantization epilogue), RoPE of Q and of K at each token's
position, Q·Kᵀ against the int8 KV cache, the masked softmax, P·V, the output projection, the residual add, RMSNorm,
gate_up, SwiGLU's product, down, the residual add; the final RMSNorm and the LM head (int32 logits). Kernels exchange
their int8 tensors through DRAM images: the host copies one kernel's output into the next one's input, and appends the
new K column (K is stored transposed, (kv_heads, head_dim, ctx)) and V row at position p into the static int8 cache of
a `ctx` bucket; positions past the last filled one are masked in the softmax. A prefill of the prompt fills the cache,
then each decode step attends over it (GQA: Q·Kᵀ per (sequence, KV head) with its query heads as rows; P·V of all heads
against the whole V row, the diagonal head blocks kept, as flow/llm.py times it).

Scales are static, calibrated on the float32 reference's activations over the prompt only (max |x| / 127 per tensor; per
output channel for weights); the decode steps then run on those scales, as a deployed model would. The accuracy reported
is the cosine between the logits and those of a float32 numpy model with the unquantized weights, per step.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
import time

import numpy as np

from ..arch import vector as V
from ..arch.config import AccelConfig
from ..compiler.eltwise import compile_add
from ..compiler.gemm import Epilogue, compile_gemm
from ..compiler.layernorm import compile_rmsnorm
from ..compiler.program import CompileError
from ..compiler.rope import compile_rope, frequencies
from ..compiler.softmax import compile_softmax
from ..compiler.swiglu import compile_swiglu
from ..workloads.llama import Decoder
from .run import run_program

EPS = 1e-5

def random_weights(m: Decoder, seed: int = 0) -> dict:
  """Float32 weights with the variance of a trained model's initialisation (std 1/sqrt(fan_in)); norm gains near 1."""
  rng = np.random.default_rng(seed)
  w = lambda k, n: (rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32)
  gain = lambda: rng.uniform(0.8, 1.2, m.d).astype(np.float32)
  dh, H, kv = m.head_dim, m.heads, m.kv_heads
  layers = [dict(attn_norm=gain(), wqkv=w(m.d, (H + 2 * kv) * dh), wo=w(H * dh, m.d), mlp_norm=gain(), wgu=w(m.d, 2 * m.ffn), wd=w(m.ffn, m.d))
            for _ in range(m.layers)]
  return dict(emb=rng.standard_normal((m.vocab, m.d)).astype(np.float32), layers=layers, final_norm=gain(), head=w(m.d, m.vocab))

# ---------------- the float32 reference ----------------
def _rms(x, g): return x / np.sqrt((x * x).mean(-1, keepdims=True) + EPS) * g

def _rope(x, pos, dh):
  """x (..., T, heads, dh) at positions pos (T,): rotate-half."""
  a = pos[:, None] * frequencies(dh)[None, :]
  c, s = np.cos(a)[:, None, :].astype(np.float32), np.sin(a)[:, None, :].astype(np.float32)
  x1, x2 = x[..., :dh // 2], x[..., dh // 2:]
  return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], -1)

def float_forward(m: Decoder, W: dict, tokens: np.ndarray) -> tuple[np.ndarray, dict]:
  """The whole sequences (B, n) without a cache: the last token's logits (B, vocab), and max |x| of every tensor the
  integer pipeline quantizes (its calibration)."""
  B, n = tokens.shape
  H, kv, dh, G = m.heads, m.kv_heads, m.head_dim, m.group
  pos, amax = np.arange(n), {}
  rec = lambda k, v: amax.__setitem__(k, max(amax.get(k, 0.0), float(np.abs(v).max())))
  h = W["emb"][tokens]; rec("h0", h)
  causal = np.triu(np.ones((n, n), bool), 1)
  for i, L in enumerate(W["layers"]):
    xn = _rms(h, L["attn_norm"]); rec(f"{i}.xn", xn)
    qkv = xn @ L["wqkv"]
    q, k, v = qkv[..., :H * dh].reshape(B, n, H, dh), qkv[..., H * dh:(H + kv) * dh].reshape(B, n, kv, dh), qkv[..., (H + kv) * dh:].reshape(B, n, kv, dh)
    rec(f"{i}.q", q); rec(f"{i}.k", k); rec(f"{i}.v", v)
    q, k = _rope(q, pos, dh), _rope(k, pos, dh); rec(f"{i}.qr", q); rec(f"{i}.kr", k)
    kk, vv = np.repeat(k, G, 2), np.repeat(v, G, 2)                        # (B, n, H, dh): head h uses KV head h // G
    sc = np.einsum("bthd,bshd->bhts", q, kk) / np.sqrt(dh); rec(f"{i}.sc", sc)
    p = np.exp(np.where(causal, -np.inf, sc) - np.where(causal, -np.inf, sc).max(-1, keepdims=True)); p /= p.sum(-1, keepdims=True)
    att = np.einsum("bhts,bshd->bthd", p, vv).reshape(B, n, H * dh); rec(f"{i}.att", att)
    o = att @ L["wo"]; rec(f"{i}.o", o)
    h = h + o; rec(f"{i}.h1", h)
    xn = _rms(h, L["mlp_norm"]); rec(f"{i}.xn2", xn)
    gu = xn @ L["wgu"]; g, u = gu[..., :m.ffn], gu[..., m.ffn:]; rec(f"{i}.g", g); rec(f"{i}.u", u)
    mm = g / (1 + np.exp(-g)) * u; rec(f"{i}.m", mm)
    d = mm @ L["wd"]; rec(f"{i}.d", d)
    h = h + d; rec(f"{i}.h2", h)
  xf = _rms(h, W["final_norm"]); rec("xf", xf)
  return (xf[:, -1] @ W["head"]).astype(np.float32), amax

# ---------------- the integer pipeline on the model ----------------
def _qw(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """int8 weights with one scale per output channel (column)."""
  s = np.maximum(np.abs(w).max(0), 1e-12) / 127
  return np.clip(np.round(w / s), -127, 127).astype(np.int8), s

@dataclass
class FunctionalDecoder:
  """The int8 model of `m` on `cfg` with its static KV cache of `ctx` positions for `batch` sequences."""
  cfg: AccelConfig
  m: Decoder
  W: dict
  batch: int
  ctx: int
  scale: dict                                             # activation scales, calibrated
  kernels: int = 0; cycles: int = 0; all_correct: bool = True
  trace: list = field(default_factory=list)               # (kernel name, cycles) of the last forward
  check: Callable | None = None                           # check(name, compiled) after each kernel's model run (flow/verify: on the RTL)

  def __post_init__(self):
    m = self.m
    if self.ctx % self.cfg.cols: raise CompileError(f"ctx {self.ctx} must be a multiple of cols={self.cfg.cols}")
    self.Wq = [{k: _qw(v) for k, v in L.items() if k.startswith("w")} for L in self.W["layers"]]
    self.head = _qw(self.W["head"])
    self.Kt = np.zeros((m.layers, self.batch, m.kv_heads, m.head_dim, self.ctx), np.int8)   # K transposed: (kv, dh, ctx)
    self.V = np.zeros((m.layers, self.batch, self.ctx, m.kv_heads * m.head_dim), np.int8)
    self.filled = 0

  def _run(self, name: str, prog):
    r = run_program(self.cfg, prog)
    self.kernels += 1; self.cycles += r.result.stats.cycles; self.all_correct &= bool(r.correct)
    self.trace.append((name, r.result.stats.cycles))
    if not r.correct: raise AssertionError(f"kernel {name} differs from its integer reference")
    if self.check: self.check(name, prog)
    return r.output

  def _gemm(self, name, x, wq, s_in, s_out, batch=1):
    """int8 x (.., M, K) · int8 w (.., K, N) -> int8 at s_out (per column), or int32 when s_out is None."""
    w, s_w = wq
    M, K, N = x.shape[-2], x.shape[-1], w.shape[-1]
    ep = None
    if s_out is not None:
      mult, sh = V.quantize_multipliers(np.broadcast_to(s_in * s_w / s_out, (N,)))
      ep = Epilogue(requant=(mult, sh))
    out = self._run(name, compile_gemm(self.cfg, M, K, N, A=x.reshape(-1, M, K)[0] if batch == 1 else x, B=w.reshape(-1, K, N)[0] if batch == 1 else w,
                                       epilogue=ep, batch=batch))
    return out.reshape(*x.shape[:-1], N)

  def forward(self, tokens: np.ndarray) -> np.ndarray:
    """Feed tokens (B, T) at positions filled .. filled+T-1 (prefill: T = prompt; decode: T = 1); returns float logits (B, vocab)
    of the last token, from the int32 LM head and its scales."""
    m, s, cfg = self.m, self.scale, self.cfg
    B, T = tokens.shape
    H, kv, dh, G, L = m.heads, m.kv_heads, m.head_dim, m.group, self.ctx
    p0 = self.filled
    if p0 + T > L: raise CompileError(f"the cache holds {L} positions; {p0 + T} needed")
    pos = np.arange(p0, p0 + T)
    self.trace = []
    h = np.clip(np.round(self.W["emb"][tokens].reshape(B * T, m.d) / s["h0"]), -128, 127).astype(np.int8)    # the embedding row lookup (host)
    sh_ = s["h0"]
    for i, (Lw, Lq) in enumerate(zip(self.W["layers"], self.Wq)):
      xn = self._run("attn_norm", compile_rmsnorm(cfg, h, sh_, s[f"{i}.xn"], EPS, Lw["attn_norm"]))
      out_s = np.concatenate([np.full(H * dh, s[f"{i}.q"]), np.full(kv * dh, s[f"{i}.k"]), np.full(kv * dh, s[f"{i}.v"])])
      qkv = self._gemm("qkv", xn, Lq["wqkv"], s[f"{i}.xn"], out_s)
      q = self._run("rope_q", compile_rope(cfg, qkv, H, dh, np.tile(pos, B), s[f"{i}.q"], s[f"{i}.qr"]))
      k = self._run("rope_k", compile_rope(cfg, qkv, kv, dh, np.tile(pos, B), s[f"{i}.k"], s[f"{i}.kr"], head0=H))
      v = qkv[:, (H + kv) * dh:]
      # the KV append at positions p0 .. p0+T-1
      self.Kt[i, :, :, :, p0:p0 + T] = k.reshape(B, T, kv, dh).transpose(0, 2, 3, 1)
      self.V[i, :, p0:p0 + T] = v.reshape(B, T, kv * dh)
      # Q·Kᵀ per (sequence, KV head): rows (query head g of the group, token t)
      A = q.reshape(B, T, kv, G, dh).transpose(0, 2, 3, 1, 4).reshape(B * kv, G * T, dh)
      sc = self._gemm("q·kᵀ", A, (self.Kt[i].reshape(B * kv, dh, L), np.ones(L)), s[f"{i}.qr"] * s[f"{i}.kr"] / np.sqrt(dh), s[f"{i}.sc"], batch=B * kv)
      mask = np.arange(L)[None, :] > pos[:, None]                           # (T, L): rows r % T = t; past the filled positions
      P = self._run("softmax", compile_softmax(cfg, sc.reshape(B * kv * G * T, L), s[f"{i}.sc"], 1 / 127, mask))
      if T == 1:       # decode: all heads against the whole V row, keep each head's own KV block (GQA without copies)
        pv = self._gemm("p·v", P.reshape(B, H, L), (self.V[i], np.full(kv * dh, s[f"{i}.v"])), 1 / 127, s[f"{i}.att"], batch=B)
        att = pv.reshape(B, H, kv, dh)[:, np.arange(H), np.arange(H) // G].reshape(B * T, H * dh)
      else:            # prefill: per (sequence, KV head), its V columns
        Vb = self.V[i].reshape(B, L, kv, dh).transpose(0, 2, 1, 3).reshape(B * kv, L, dh)
        pv = self._gemm("p·v", P.reshape(B * kv, G * T, L), (Vb, np.full(dh, s[f"{i}.v"])), 1 / 127, s[f"{i}.att"], batch=B * kv)
        att = pv.reshape(B, kv, G, T, dh).transpose(0, 3, 1, 2, 4).reshape(B * T, H * dh)
      o = self._gemm("o", att, Lq["wo"], s[f"{i}.att"], s[f"{i}.o"])
      h = self._run("attn_residual", compile_add(cfg, h, o, sh_ / s[f"{i}.h1"], s[f"{i}.o"] / s[f"{i}.h1"])); sh_ = s[f"{i}.h1"]
      xn = self._run("mlp_norm", compile_rmsnorm(cfg, h, sh_, s[f"{i}.xn2"], EPS, Lw["mlp_norm"]))
      gu = self._gemm("gate_up", xn, Lq["wgu"], s[f"{i}.xn2"], np.concatenate([np.full(m.ffn, s[f"{i}.g"]), np.full(m.ffn, s[f"{i}.u"])]))
      mm = self._run("swiglu", compile_swiglu(cfg, np.ascontiguousarray(gu[:, :m.ffn]), np.ascontiguousarray(gu[:, m.ffn:]), s[f"{i}.g"], s[f"{i}.u"], s[f"{i}.m"]))
      d = self._gemm("down", mm, Lq["wd"], s[f"{i}.m"], s[f"{i}.d"])
      h = self._run("mlp_residual", compile_add(cfg, h, d, sh_ / s[f"{i}.h2"], s[f"{i}.d"] / s[f"{i}.h2"])); sh_ = s[f"{i}.h2"]
    self.filled += T
    last = np.ascontiguousarray(h.reshape(B, T, m.d)[:, -1])
    xf = self._run("final_norm", compile_rmsnorm(cfg, last, sh_, s["xf"], EPS, self.W["final_norm"]))
    logits = self._gemm("lm_head", xf, self.head, s["xf"], None)
    return logits.astype(np.float64) * s["xf"] * self.head[1]

def cosine(a, b) -> float: return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))

def functional_decode(cfg: AccelConfig, m: Decoder, batch: int = 2, prompt: int = 8, steps: int = 4, ctx: int | None = None, seed: int = 0,
                      check: Callable | None = None) -> dict:
  """Prefill `prompt` tokens then `steps` greedy decode steps (the float model's argmax token is fed to both, so they see
  the same inputs); per step the cosine of the logits against float32 (the worst of the batch) and the kernels' cycles.
  `check(name, compiled)` sees every kernel of the decode steps (not the prefill's) after its model run."""
  W = random_weights(m, seed)
  rng = np.random.default_rng(seed + 1)
  toks = rng.integers(0, m.vocab, (batch, prompt))
  _, amax = float_forward(m, W, toks)
  scale = {k: max(v, 1e-6) / 127 for k, v in amax.items()}
  ctx = ctx or -(-(prompt + steps) // cfg.cols) * cfg.cols
  dec = FunctionalDecoder(cfg, m, W, batch, ctx, scale)
  rows = []
  for step in range(steps + 1):
    ref, _ = float_forward(m, W, toks)
    c0, k0 = dec.cycles, dec.kernels
    if step == 1: dec.check = check
    t0 = time.perf_counter(); got = dec.forward(toks if step == 0 else toks[:, -1:]); wall = time.perf_counter() - t0
    rows.append(dict(step=step, phase="prefill" if step == 0 else "decode", position=int(dec.filled - 1), cycles=dec.cycles - c0, kernels=dec.kernels - k0, wall_seconds=wall,
                     cosine=min(cosine(got[b], ref[b]) for b in range(batch)), argmax_agrees=float(np.mean(got.argmax(-1) == ref.argmax(-1)))))
    toks = np.concatenate([toks, ref.argmax(-1)[:, None]], 1)
  return dict(model=m.name, config=cfg.name, batch=batch, prompt=prompt, ctx=ctx, steps=rows, kernels=dec.kernels, bit_exact=dec.all_correct,
              calibration="max |x| / 127 per tensor over the prompt (float32 reference); weights per output channel")
