"""Decoder-only LLMs at their published shapes, for the serving phases (decode with a KV cache, prefill): Llama-3.2-1B,
Llama-3.1-8B (RMSNorm, rotary position embedding, grouped-query attention, SwiGLU; Meta's model cards / config.json),
GPT-2 small as a decoder (LayerNorm, GELU, learned positions, tied embeddings) and scaled-down decoders for tests.

A model is a `Decoder` (its shape); weights are random (no downloads). `params` counts every weight as the published
checkpoints do; `decode_matmuls` / `prefill_matmuls` list the matrix work of one layer and of the LM head as GEMM shapes
with the operand layout the accelerator reads (flow/llm.py compiles and times them):
- KV cache: int8, static, per sequence and layer K stored transposed (kv_heads, head_dim, ctx) and V (ctx, kv_heads·head_dim);
  decode step at position p appends one K column and one V row per KV head and attends over the positions filled so far.
- GQA without copying K/V: Q·Kᵀ is a batched GEMM over (sequence, KV head) whose M is the `heads/kv_heads` query heads
  sharing that head; P·V is one GEMM per sequence of all query heads (M = heads) against the whole V row (N = kv_heads·head_dim):
  its off-diagonal head blocks are computed and dropped (kv_heads× the MACs, the same V bytes, read once at the full width).
- The vector-unit kernels of a layer (`vector_kernels`): RMSNorm (LayerNorm for GPT-2) before attention and before the
  MLP, RoPE on the Q and K heads of the qkv output, SwiGLU's product silu(gate)·up (GPT-2: GELU in the up GEMM's
  epilogue), and the two residual adds; the final norm before the LM head.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decoder:
  name: str
  d: int; layers: int; heads: int; kv_heads: int; ffn: int; vocab: int
  gated: bool = True          # SwiGLU (gate, up, down) vs a 2-matrix GELU MLP
  rms: bool = True            # RMSNorm (a gain) vs LayerNorm (gain and bias); GPT-2 also has biases on every linear
  rope: bool = True           # rotary positions vs learned position embeddings (max_pos rows)
  tied: bool = False          # LM head shares the token embedding
  max_pos: int = 0
  @property
  def head_dim(self) -> int: return self.d // self.heads
  @property
  def group(self) -> int: return self.heads // self.kv_heads

  def layer_params(self) -> int:
    d, kv = self.d, self.kv_heads * self.head_dim
    attn = d * d + 2 * d * kv + d * d + (0 if self.rms else d + 2 * kv + d)        # Q, K, V, O (+ biases)
    mlp = 3 * d * self.ffn if self.gated else 2 * d * self.ffn + (self.ffn + d)
    return attn + mlp + (2 * d if self.rms else 4 * d)
  def params(self) -> int:
    emb = self.vocab * self.d
    return emb + (0 if self.tied else emb) + self.max_pos * self.d + self.layers * self.layer_params() + (self.d if self.rms else 2 * self.d)
  def weight_bytes(self) -> int:
    """int8 bytes one decode step reads: every layer's matrices and the LM head (the embedding row lookup is one row per token)."""
    d, kv = self.d, self.kv_heads * self.head_dim
    per_layer = 2 * d * d + 2 * d * kv + (3 if self.gated else 2) * d * self.ffn
    return self.layers * per_layer + self.vocab * d
  def kv_cache_bytes(self, batch: int, ctx: int) -> int:
    """int8 K and V for `ctx` positions of `batch` sequences in every layer."""
    return 2 * self.layers * batch * ctx * self.kv_heads * self.head_dim

MODELS = {
  "llama3_1b": Decoder("llama3_1b", 2048, 16, 32, 8, 8192, 128256, tied=True),       # Llama-3.2-1B: 1,235,814,400 parameters
  "llama3_8b": Decoder("llama3_8b", 4096, 32, 32, 8, 14336, 128256),                 # Llama-3.1-8B: 8,030,261,248
  "gpt2_decoder": Decoder("gpt2_decoder", 768, 12, 12, 12, 3072, 50257, gated=False, rms=False, rope=False, tied=True, max_pos=1024),   # 124,439,808
  "llama3_70b": Decoder("llama3_70b", 8192, 80, 64, 8, 28672, 128256),             # Llama-3.1-70B: 70,553,706,496
  "tiny_decoder": Decoder("tiny_decoder", 256, 2, 4, 2, 512, 1024),                 # scaled down, for tests
  "rtl_decoder": Decoder("rtl_decoder", 16, 2, 2, 1, 32, 64),                       # RTL-sized (tiny preset: head_dim 8 = 2 cols), tests/rtl
}
H200_NAMES = {"llama3_1b": "llama-1b", "llama3_8b": "llama-8b", "gpt2_decoder": "gpt2-small"}   # their rows in h200_llm_measured.json

@dataclass(frozen=True)
class Matmul:
  """C (batch, M, N) = A (batch, M, K) · B (batch, K, N), int8 -> int8 (per-channel requantization); `macs` is the useful work
  (P·V of GQA: 1/kv_heads of the array's)."""
  name: str; batch: int; M: int; K: int; N: int; useful_macs: int
  gelu: bool = False                  # GELU in the epilogue (GPT-2's up projection)
  partial: bool = False               # int32 C, no requantization: a row-parallel shard's partial sums, summed across chips (flow/system.py)

def _mm(name, batch, M, K, N, useful=None, gelu=False) -> Matmul: return Matmul(name, batch, M, K, N, batch * M * K * N if useful is None else useful, gelu)

@dataclass(frozen=True)
class VectorKernel:
  """A vector-unit kernel over `rows` rows of `width` int8 elements: rmsnorm, layernorm, rope (`heads` heads of head_dim
  roped in each row), swiglu (gate and up halves of width elements each) or add (the residual)."""
  name: str; kind: str; rows: int; width: int; heads: int = 0

def vector_kernels(m: Decoder, tokens: int) -> list[VectorKernel]:
  """One layer's vector kernels for `tokens` rows (decode: the batch; prefill: batch x prompt), in program order."""
  norm = "rmsnorm" if m.rms else "layernorm"
  out = [VectorKernel("attn_norm", norm, tokens, m.d)]
  if m.rope: out.append(VectorKernel("rope", "rope", tokens, (m.heads + 2 * m.kv_heads) * m.head_dim, m.heads + m.kv_heads))
  out += [VectorKernel("attn_residual", "add", tokens, m.d), VectorKernel("mlp_norm", norm, tokens, m.d)]
  if m.gated: out.append(VectorKernel("swiglu", "swiglu", tokens, m.ffn))
  return out + [VectorKernel("mlp_residual", "add", tokens, m.d)]

def decode_matmuls(m: Decoder, batch: int, ctx: int) -> list[Matmul]:
  """One layer of a decode step for `batch` sequences whose caches hold `ctx` positions (the new one included)."""
  d, dh, kv, H, G = m.d, m.head_dim, m.kv_heads, m.heads, m.group
  out = [_mm("qkv", 1, batch, d, (H + 2 * kv) * dh)]
  out += [_mm("q·kᵀ", batch * kv, G, dh, ctx), _mm("p·v", batch, H, ctx, kv * dh, batch * H * ctx * dh), _mm("o", 1, batch, H * dh, d)]
  out += [_mm("gate_up", 1, batch, d, 2 * m.ffn), _mm("down", 1, batch, m.ffn, d)] if m.gated else [_mm("up", 1, batch, d, m.ffn, gelu=True), _mm("down", 1, batch, m.ffn, d)]
  return out

def prefill_matmuls(m: Decoder, batch: int, prompt: int) -> list[Matmul]:
  """One layer of a prefill of `prompt` tokens per sequence (causal: Q·Kᵀ computes the whole square, the softmax masks it)."""
  d, dh, kv, H, G, T = m.d, m.head_dim, m.kv_heads, m.heads, m.group, batch * prompt
  out = [_mm("qkv", 1, T, d, (H + 2 * kv) * dh)]
  out += [_mm("q·kᵀ", batch * kv, G * prompt, dh, prompt), _mm("p·v", batch * kv, G * prompt, prompt, dh), _mm("o", 1, T, H * dh, d)]
  out += [_mm("gate_up", 1, T, d, 2 * m.ffn), _mm("down", 1, T, m.ffn, d)] if m.gated else [_mm("up", 1, T, d, m.ffn, gelu=True), _mm("down", 1, T, m.ffn, d)]
  return out

def lm_head(m: Decoder, rows: int, slices: int = 1) -> Matmul:
  """The vocabulary projection of `rows` tokens, cut into `slices` equal column slices (one program each)."""
  if m.vocab % slices: raise ValueError(f"vocab {m.vocab} is not {slices} equal slices")
  return _mm("lm_head", 1, rows, m.d, m.vocab // slices)
