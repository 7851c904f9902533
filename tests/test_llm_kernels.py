"""The LLM layer's vector kernels (docs/llm.md): RMSNorm, RoPE and SwiGLU's product, bit-exact on the model against their
integer definitions, and within about half an output step of the float functions they approximate."""
import numpy as np
import pytest

from tinyaccel.arch.config import load_config
from tinyaccel.compiler.layernorm import compile_rmsnorm
from tinyaccel.compiler.program import CompileError
from tinyaccel.compiler.rope import compile_rope, frequencies
from tinyaccel.compiler.swiglu import compile_swiglu
from tinyaccel.flow.run import run_program

rng = np.random.default_rng(0)
i8 = lambda *shape: rng.integers(-128, 128, shape).astype(np.int8)

@pytest.mark.parametrize("preset,shape", [("tiny", (3, 16)), ("edge", (5, 4096)), ("decode", (8, 4096))])
def test_rmsnorm(preset, shape):
  cfg, x = load_config(preset), i8(*shape)
  x[0] //= 16                                                       # a row of small values: the normalization scales it up
  gain = rng.uniform(0.5, 1.5, shape[1]); gain[3] = -0.7
  r = run_program(cfg, compile_rmsnorm(cfg, x, 0.1, 4 / 127, 1e-5, gain))
  xf = x * 0.1; f = gain * xf / np.sqrt((xf ** 2).mean(-1, keepdims=True) + 1e-5) / (4 / 127)
  assert r.correct and np.abs(r.output - np.clip(f, -128, 127)).max() < 0.52
  with pytest.raises(CompileError, match="at most 511 lines"): compile_rmsnorm(load_config("tiny"), i8(1, 4 * 512), 0.1, 0.03)

@pytest.mark.parametrize("preset,T,heads,dh", [("tiny", 3, 3, 8), ("edge", 5, 5, 128), ("decode", 9, 40, 128), ("decode", 300, 40, 128)])
def test_rope(preset, T, heads, dh):
  """Q and K heads of a qkv row (V after them, not roped) at per-token positions; the decode preset's 300 tokens take 3 tiles."""
  cfg, x, pos = load_config(preset), i8(T, (heads + 2) * dh), rng.integers(0, 8192, T)
  c = compile_rope(cfg, x, heads, dh, pos, 0.05, 0.05)
  r = run_program(cfg, c)
  a = pos[:, None] * frequencies(dh); co, sn = np.cos(a)[:, None], np.sin(a)[:, None]
  h = x[:, :heads * dh].reshape(T, heads, 2, dh // 2).astype(np.float64)
  f = np.stack([h[:, :, 0] * co - h[:, :, 1] * sn, h[:, :, 1] * co + h[:, :, 0] * sn], 2).reshape(T, -1)
  assert r.correct and np.abs(r.output - np.clip(f, -128, 127)).max() < 0.51
  assert c.tiling.mt == (102 if T == 300 else T)                    # 32768 lines / (4 x 80 half-head lines per token)

@pytest.mark.parametrize("preset,shape", [("tiny", (3, 10)), ("edge", (4, 1000)), ("decode", (8, 2048))])
def test_swiglu(preset, shape):
  cfg, g, u = load_config(preset), i8(*shape), i8(*shape)
  r = run_program(cfg, compile_swiglu(cfg, g, u, 0.05, 0.03, 0.05))
  gf = g * 0.05; f = gf / (1 + np.exp(-gf)) * (u * 0.03) / 0.05
  assert r.correct and np.abs(r.output - np.clip(f, -128, 127)).max() < 0.51
