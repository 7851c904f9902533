"""GEMM lowering: C[M,N] (int32) = A[M,K] (int8) . B[K,N] (int8) as a static accelerator program.

Tiles (mt, kt, nt) are chosen to fit double-buffered operands in the scratchpad and a
double-buffered C tile in the accumulator, minimizing estimated cycles then DRAM traffic.
The loop nest keeps each C tile in the accumulator across its k tiles (k innermost) and, when a
whole K fits, keeps the A tile (m outer) or the B tile (n outer) resident across the other loop.
Loads of step s+1 overlap the MATMUL of step s; the store of tile t overlaps tile t+1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arch import timing as T
from ..arch import vector as V
from ..arch.config import DTYPE_BYTES, AccelConfig
from ..arch.isa import FIELD_MAX, Instr, Mem, Opcode, VecOp
from . import gelu as G
from .eltwise import add_reference
from .program import ALIGN, MAX, ROW, Compiled, CompileError, Tiling, dram_image, dram_layout, flag, rup, tile_dma, vector

I32 = DTYPE_BYTES["int32"]                # bytes of an accumulator element in DRAM

@dataclass(frozen=True)
class Epilogue:
  """Fused into the GEMM on the store queue's vector unit: C = requant(relu(A.B + bias)).
  bias: int32 per output column; requant: (Q31 multiplier, right shift), making C int8; the multiplier
  is one int or an int32 array per output column (per-channel scales, loaded like the bias)."""
  bias: np.ndarray | None = None
  relu: bool = False
  requant: tuple | None = None
  clamp_hi: int | None = None          # int8 upper clamp after requantization (ReLU6)
  gelu: tuple | None = None            # (per-column multipliers, shift, F) of compiler/gelu.py, applied after the bias
  # a residual add fused after the requantization (compiler/eltwise.py's TFLite ADD, bit for bit): out = q(relu?(C8·sx + R·sr)),
  # R int8 (M, N) loaded by DMA per C tile; scales = ((mult, shift) of C8, (mult, shift) of R), relative to the sum's scale
  residual: np.ndarray | None = None
  residual_scales: tuple = ()
  residual_relu: bool = False

  @property
  def out_dtype(self) -> str: return "int8" if self.requant else "int32"
  @property
  def per_channel(self) -> bool: return self.requant is not None and np.ndim(self.requant[0]) == 1
  def row_tensors(self) -> dict:
    """Per-column int32 vectors the vector unit reads from accumulator lines."""
    return {k: np.asarray(v, np.int32) for k, v in (("bias", self.bias), ("multiplier", self.requant[0] if self.per_channel else None),
                                                    (G.ROW, self.gelu[0] if self.gelu else None)) if v is not None}
  @property
  def temps(self) -> int: return len(self.temp_names)
  @property
  def temp_names(self) -> tuple:
    """Accumulator tiles the size of a C buffer the store queue works in: GELU's (a residual needs none: RESCALE writes
    the rescaled C8 over the C tile, whose int32 values are dead once requantized, and ADDRS adds R to it in one pass)."""
    return G.TEMPS if self.gelu else ()
  def reference(self, acc: np.ndarray) -> np.ndarray:
    x = acc.astype(np.int64)
    if self.bias is not None: x = V.wrap32(x + np.asarray(self.bias, np.int64))
    if self.gelu: x = G.reference(x, *self.gelu)
    if self.relu: x = np.maximum(x, 0)
    if self.requant: x = np.clip(V.rounding_shift_right(V.srdhm(x, np.asarray(self.requant[0], np.int64)), self.requant[1]), -128, 127)
    if self.clamp_hi is not None: x = np.minimum(x, self.clamp_hi)
    if self.residual is not None: x = add_reference(x, self.residual, *self.residual_scales, self.residual_relu)
    return x.astype(self.out_dtype)

def _reference(A: np.ndarray, B: np.ndarray, ep: Epilogue | None) -> np.ndarray:
  c = gemm_reference(A, B) if A.ndim == 2 else np.stack([gemm_reference(a, b) for a, b in zip(A, B)])
  return ep.reference(c) if ep else c

def gemm_reference(A: np.ndarray, B: np.ndarray) -> np.ndarray:
  """Exact int8 x int8 -> int32 (wrapping) product, in fp32 BLAS over K chunks of 1024."""
  acc = np.zeros((A.shape[0], B.shape[1]), np.int64)
  for k0 in range(0, A.shape[1], 1024):
    acc += (A[:, k0:k0 + 1024].astype(np.float32) @ B[k0:k0 + 1024].astype(np.float32)).astype(np.int64)
  return acc.astype(np.int32)

# ---------------- tile selection ----------------
def buffers(cfg: AccelConfig, N: int = 0, ep: Epilogue | None = None, c_lines: int = 0):
  """Line capacity of one A buffer, one B buffer (two each, in disjoint banks) and one C buffer (two).
  Per-column epilogue vectors take ceil(N/cols) accumulator lines each; an int8 output takes two
  staging buffers of the C tile's `c_lines` from A's half of the scratchpad, a fused residual three more (its tiles,
  loaded ahead of their use). A GELU needs temporary tiles the size of a C buffer (one set: the store queue
  post-processes one tile at a time)."""
  a_half = (cfg.spad_banks // 2) * cfg.spad_bank_lines
  c_cap = (cfg.acc_lines - (T.cdiv(N, cfg.cols) * len(ep.row_tensors()) if ep is not None else 0)) // (2 + (ep.temps if ep is not None else 0))
  stage = (2 + 3 * (ep.residual is not None)) * c_lines if ep is not None and ep.requant else 0
  return (a_half - stage) // 2, (cfg.spad_lines - a_half) // 2, c_cap

def _options(D: int, g: int) -> list[int]:
  """Balanced tile sizes for a dimension D at granularity g (always including D itself)."""
  n = T.cdiv(D, g)
  ts = sorted({*range(1, min(n, 64) + 1), *(int(round(n / 2 ** (i / 4))) for i in range(64) if n / 2 ** (i / 4) >= 1)})
  return sorted({min(D, rup(T.cdiv(D, t), g)) for t in ts if t >= 1})

def _sizes(D: int, t: int) -> list[tuple[int, int]]:
  full, rem = divmod(D, t)
  return [(t, full)] + ([(rem, 1)] if rem else [])

def _dma_bus(cfg, rows, width, chunk, elem=1):
  """Bus bytes of one tile DMA: `rows` DRAM rows of `width` elements cut into `chunk`-element lines."""
  b = cfg.dram_burst_bytes
  return rows * sum(cnt * rup(sz * elem, b) for sz, cnt in _sizes(width, chunk))

def _b_bus(cfg, ks, ns, bt):
  """Bus bytes of one B tile: ks rows of ns elements, or with transpose_b (B^T in DRAM) ns rows of ks."""
  return _dma_bus(cfg, ns, ks, cfg.rows) if bt else _dma_bus(cfg, ks, ns, cfg.cols)

def estimate(cfg: AccelConfig, M, K, N, mt, kt, nt, order, c_elem=DTYPE_BYTES["int32"], bt: bool = False) -> Tiling:
  R, C, ws = cfg.rows, cfg.cols, cfg.dataflow == "ws"
  nm, nn = T.cdiv(M, mt), T.cdiv(N, nt)
  compute = a_bytes = b_bytes = 0
  for ms, mc in _sizes(M, mt):
    for ks, kc in _sizes(K, kt):
      a = _dma_bus(cfg, ms, ks, R) if ws else _dma_bus(cfg, ks, ms, R)
      a_bytes += a * mc * kc
      for ns, nc in _sizes(N, nt):
        compute += mc * kc * nc * T.matmul_occupancy(cfg, Instr(Opcode.MATMUL, m=ms, k=ks, n=ns))
  for ks, kc in _sizes(K, kt):
    for ns, nc in _sizes(N, nt): b_bytes += _b_bus(cfg, ks, ns, bt) * kc * nc
  c_bytes = sum(mc * nc * _dma_bus(cfg, ms, ns, C, c_elem) for ms, mc in _sizes(M, mt) for ns, nc in _sizes(N, nt))
  a_loads, b_loads = {"mnk": (nn, nm), "mn": (1, nm), "nm": (nn, 1)}[order]
  traffic = a_bytes * a_loads + b_bytes * b_loads + c_bytes
  first = (_dma_bus(cfg, min(mt, M), min(kt, K), R) if ws else _dma_bus(cfg, min(kt, K), min(mt, M), R)) + _b_bus(cfg, min(kt, K), min(nt, N), bt)
  prologue = T.cdiv(first, cfg.dram_bytes_per_cycle) + cfg.dram_latency_cycles + 2 * T.TOKEN_DELAY
  epilogue = T.matmul_tail(cfg) + T.cdiv(_dma_bus(cfg, min(mt, M), min(nt, N), C, c_elem), cfg.dram_bytes_per_cycle) + cfg.dram_latency_cycles + 2
  est = max(compute, T.cdiv(traffic, cfg.dram_bytes_per_cycle)) + prologue + epilogue
  return Tiling(mt, kt, nt, order, est, traffic)

def kt_max(cfg: AccelConfig, N: int, ep: Epilogue | None, mt: int, nt: int, bt: bool = False) -> int:
  """The largest k tile whose A and B tiles fit their double buffers beside an (mt, nt) C tile; 0 when the C tile does not fit.
  `bt` (transpose_b): a B tile is ceil(kt/rows) k-folds of nt lines."""
  R, C = cfg.rows, cfg.cols
  c_lines = T.matmul_lines(cfg, mt, 1, nt)[2]
  if mt > MAX["m"] or nt > MAX["n"] or c_lines > buffers(cfg, N, ep)[2]: return 0
  a_cap, b_cap, _ = buffers(cfg, N, ep, c_lines)     # A's buffers less the int8 staging of this C tile
  return max(0, min(MAX["k"], (b_cap // nt) * R if bt else b_cap // T.cdiv(nt, C), (a_cap // mt) * R if cfg.dataflow == "ws" else a_cap // T.cdiv(mt, R)))

def choose_tiling(cfg: AccelConfig, M: int, K: int, N: int, ep: Epilogue | None = None, m_granule: int | None = None,
                  block: tuple[int, int] | None = None, bt: bool = False) -> Tiling:
  """The fastest tiling by `estimate`. `block` = (kt, nt) fixes the k and n tiles to the blocks of a
  block-sparse B (grouped convolutions), so that its zero blocks are whole tiles and are skipped."""
  R, C, ws = cfg.rows, cfg.cols, cfg.dataflow == "ws"
  c_cap = buffers(cfg, N, ep)[2]
  if c_cap < 1:
    raise CompileError(f"config {cfg.name}: the epilogue's per-column vectors ({', '.join(ep.row_tensors())}) for N={N} fill the {cfg.acc_lines}-line accumulator")
  c_elem = DTYPE_BYTES["int8" if ep is not None and ep.requant else "int32"]
  cands = []
  for mt in _options(M, m_granule or (1 if ws and M < R else R)):
    for nt in [block[1]] if block else _options(N, C):
      kmax = kt_max(cfg, N, ep, mt, nt, bt)             # balanced over K below
      if kmax >= R: kmax -= kmax % R
      if kmax < 1: continue
      kt = K if K <= kmax else rup(T.cdiv(K, T.cdiv(K, kmax)), R if kmax >= R else 1)
      if kt > kmax: kt = kmax
      if block: kt = block[0] if block[0] <= kmax else 0
      if kt < 1: continue
      orders = ("mnk",) if kt < K else ("mn", "nm")
      for order in orders:
        cands.append(estimate(cfg, M, K, N, mt, kt, nt, order, c_elem, bt))
  if not cands:
    raise CompileError(f"GEMM {M}x{K}x{N} does not fit config {cfg.name}: no tile of A, B (scratchpad {cfg.spad_kib} KiB) and C (accumulator {cfg.acc_kib} KiB) fits double-buffered")
  # fastest first; within 1% of the fastest, the least DRAM traffic (it costs energy)
  fastest = min(t.est_cycles for t in cands)
  return min((t for t in cands if t.est_cycles <= fastest * 1.01), key=lambda t: (t.dram_bytes, t.est_cycles))

# ---------------- emission ----------------
def _epilogue(ep: Epilogue, cb: int, stage: int, rows_at: dict, n0: int, ms: int, ns: int, C: int, temps: dict | None = None,
              res: int = 0) -> list[Instr]:
  """Vector post-processing of one C tile in accumulator lines cb.. (n-folds of ms lines);
  rows_at: first accumulator line of each per-column vector (bias, multiplier); temps: GELU's and the residual's tiles;
  res: the scratchpad line of this tile's residual."""
  nf, out = T.cdiv(ns, C), []
  fuse = ep.relu and ep.requant is not None and not ep.gelu        # ReLU rides on the REQUANT (docs/isa.md: relu) ...
  relu_on_bias = ep.relu and not fuse and not ep.gelu and ep.bias is not None   # ... or on the bias ADD
  biasrq = ep.bias is not None and ep.per_channel and not ep.gelu  # the bias ADD rides on the per-channel REQUANT (BIASRQ)
  if ep.bias is not None and not biasrq:
    for f in range(nf):
      out += vector(VecOp.ADD, Mem.ACC, cb + f * ms, Mem.ACC, cb + f * ms, ms, src2_addr=rows_at["bias"] + n0 // C + f, relu=int(relu_on_bias), **ROW)
  if ep.gelu:
    at = {"C": cb, **temps}
    for funct, dst, s1, s2, imm, sh in G.steps(*ep.gelu[1:]):
      if s2 == G.ROW:
        for f in range(nf):
          out += vector(funct, Mem.ACC, at[dst] + f * ms, Mem.ACC, at[s1] + f * ms, ms, src2_addr=rows_at[G.ROW] + n0 // C + f, shift=sh, **ROW)
      else:
        src2 = dict(src2_mem=Mem.ACC.value, src2_addr=at[s2]) if s2 else dict(src2_imm=1, imm=imm & 0xFFFFFFFF)
        out += vector(funct, Mem.ACC, at[dst], Mem.ACC, at[s1], nf * ms, shift=sh, **src2)
  if ep.relu and not fuse and not relu_on_bias: out += vector(VecOp.MAX, Mem.ACC, cb, Mem.ACC, cb, nf * ms, src2_imm=1, imm=0)
  if ep.per_channel:
    for f in range(nf):
      bias = dict(funct=VecOp.BIASRQ, imm=(rows_at["bias"] - rows_at["multiplier"]) & 0xFFFFFFFF) if biasrq else dict(funct=VecOp.REQUANT)   # bias line: src2 + imm
      out += vector(bias.pop("funct"), Mem.SPAD, stage + f * ms, Mem.ACC, cb + f * ms, ms, src2_addr=rows_at["multiplier"] + n0 // C + f,
                    shift=ep.requant[1], relu=int(fuse), **ROW, **bias)
  elif ep.requant:
    out += vector(VecOp.REQUANT, Mem.SPAD, stage, Mem.ACC, cb, nf * ms, src2_imm=1, imm=int(ep.requant[0]), shift=ep.requant[1], relu=int(fuse))
  if ep.clamp_hi is not None: out += vector(VecOp.MIN, Mem.SPAD, stage, Mem.SPAD, stage, nf * ms, src2_imm=1, imm=ep.clamp_hi)
  if ep.residual is not None:     # compile_add's sequence on this tile: the int8 result rescaled over the (now dead) int32 C tile,
    (mx, sx), (mr, sr), L = *ep.residual_scales, nf * ms    # then R rescaled and added in one pass (acc + spad: one read step a line)
    out += (vector(VecOp.RESCALE, Mem.ACC, cb, Mem.SPAD, stage, L, src2_imm=1, imm=mx, shift=sx)
            + vector(VecOp.ADDRS, Mem.SPAD, stage, Mem.ACC, cb, L, src2_addr=res, imm=mr, shift=sr, relu=int(ep.residual_relu)))   # saturates
  return out

def compile_gemm(cfg: AccelConfig, M: int, K: int, N: int, seed: int = 0, A: np.ndarray | None = None, B: np.ndarray | None = None,
                 tiling: Tiling | None = None, epilogue: Epilogue | None = None, a_src=None, batch: int = 1,
                 block: tuple[int, int] | None = None, b_t: bool = False) -> Compiled:
  """`a_src` (compiler/conv.py: Windows) replaces the A matrix by DMA windows over another tensor;
  `block` (kt, nt) is the block size of a block-sparse B (see choose_tiling).
  `b_t`: DRAM holds B token-major, as Bᵀ's rows, (N, batch·K): row n of batch index b is Bᵀ[b, n] at n·batch·K + b·K (an
  attention's K as its projection wrote it, heads side by side); every B tile loads as ceil(kt/rows) k-folds of nt lines and
  the MATMULs read it with transpose_b (ws, rows == cols: arch/timing.transpose_b_refusal). Kᵀ needs no copy kernel.
  batch > 1: A (batch, M, K) and B (batch, K, N) give C (batch, M, N), one GEMM after another in one
  program (attention heads): the tile loop runs per batch index, so loads of the next head overlap
  the MATMULs and stores of this one, and the epilogue's per-column vectors are loaded once."""
  for name, v in (("M", M), ("K", K), ("N", N), ("batch", batch)):
    if not isinstance(v, (int, np.integer)) or v < 1: raise CompileError(f"GEMM size {name}={v} must be a positive integer")
  ws, R, C = cfg.dataflow == "ws", cfg.rows, cfg.cols
  if b_t and (why := T.transpose_b_refusal(cfg)) is not None: raise CompileError(why)
  if a_src is not None and not ws: raise CompileError("convolution windows read by DMA need the ws dataflow (os reads A^T, which windows cannot supply)")
  need = batch * (M * K * (a_src is None) + K * N + 4 * M * N)   # a lower bound of the DRAM image, checked before any operand is made
  if need > FIELD_MAX[Opcode.LOAD]["dram_addr"] + 1 or need > cfg.memory_gib * 2 ** 30:
    raise CompileError(f"GEMM needs at least {need} bytes of DRAM; the address space or memory_gib={cfg.memory_gib} is smaller")
  rng = np.random.default_rng(seed)
  if a_src is not None: A = a_src.matrix()
  lead = (batch,) if batch > 1 else ()
  A = rng.integers(-128, 128, (*lead, M, K), dtype=np.int8) if A is None else np.asarray(A, np.int8)
  B = rng.integers(-128, 128, (*lead, K, N), dtype=np.int8) if B is None else np.asarray(B, np.int8)
  if A.shape != (*lead, M, K) or B.shape != (*lead, K, N): raise CompileError(f"operand shapes {A.shape} and {B.shape} do not match batch={batch} M={M} K={K} N={N}")
  if a_src is not None and batch > 1: raise CompileError("convolution windows are not batched")
  ep = epilogue
  rows = ep.row_tensors() if ep is not None else {}
  for k, v in rows.items():
    if v.shape != (N,): raise CompileError(f"epilogue {k} has shape {v.shape}, expected ({N},)")
  res = ep.residual if ep is not None else None
  if res is not None and (not ep.requant or batch > 1 or res.shape != (M, N)):
    raise CompileError(f"a fused residual needs an int8 (requantized) output of one GEMM and shape ({M}, {N}), got {res.shape}")
  # DRAM layout: A (row-major for ws, A^T for os so each K step is a contiguous M row), B, the per-column vectors, C;
  # one matrix per batch index
  tensors = dram_layout(A=a_src.tensor if a_src is not None else ((*lead, M, K), "int8", not ws), B=((N, batch * K) if b_t else (*lead, K, N), "int8"),
                        **{k: ((N,), "int32") for k in rows}, **({"residual": ((M, N), "int8")} if res is not None else {}),
                        C=((*lead, M, N), ep.out_dtype if ep else "int32"))
  tA, tB, tC = tensors["A"], tensors["B"], tensors["C"]
  size = rup(tC.end, ALIGN)
  if size > FIELD_MAX[Opcode.LOAD]["dram_addr"] + 1 or size > cfg.memory_gib * 2 ** 30: raise CompileError(f"GEMM needs {size} bytes of DRAM; the address space or memory_gib={cfg.memory_gib} is smaller")
  b_img = np.ascontiguousarray(np.swapaxes(B.reshape(batch, K, N), 1, 2).transpose(1, 0, 2)).reshape(N, batch * K) if b_t else B
  dram = dram_image(tensors, {"A": a_src.image if a_src is not None else A, "B": b_img, **rows, **({"residual": res} if res is not None else {})})

  t = tiling or choose_tiling(cfg, M, K, N, ep, a_src.m_granule if a_src is not None else None, block, b_t)
  if tiling is not None and not 1 <= t.kt <= kt_max(cfg, N, ep, t.mt, t.nt, b_t):
    raise CompileError(f"tiling {t.mt}x{t.kt}x{t.nt} of GEMM {M}x{K}x{N} does not fit config {cfg.name}'s buffers double-buffered")
  stage_lines = T.matmul_lines(cfg, t.mt, 1, t.nt)[2]
  a_cap, b_cap, c_cap = buffers(cfg, N, ep, stage_lines)
  if a_cap < 1: raise CompileError(f"config {cfg.name}: no scratchpad left for A after the int8 output staging buffers")
  a_base, b_base = 0, (cfg.spad_banks // 2) * cfg.spad_bank_lines
  stage_base = 2 * a_cap                              # int8 staging (two C tiles) after the two A buffers
  n_temps = ep.temps if ep is not None else 0
  temps = {name: (2 + j) * c_cap for j, name in enumerate(ep.temp_names if ep is not None else ())}   # GELU's, the residual's tiles after the two C buffers
  res_base = stage_base + 2 * stage_lines            # three residual tiles after the staging buffers
  rows_at = {k: (2 + n_temps) * c_cap + i * T.cdiv(N, C) for i, k in enumerate(rows)}   # then the per-column vectors
  nm, nk, nn = T.cdiv(M, t.mt), T.cdiv(K, t.kt), T.cdiv(N, t.nt)
  # k tiles per (batch index, n tile): a B tile of zeros adds nothing, so it is neither loaded nor multiplied
  # (block-diagonal weights of grouped and depthwise convolutions; pruned blocks). One step always remains to write C.
  Bb = B.reshape(batch, K, N)
  kis = [[[ki for ki in range(nk) if Bb[bi, ki * t.kt:(ki + 1) * t.kt, ni * t.nt:(ni + 1) * t.nt].any()] or [0] for ni in range(nn)] for bi in range(batch)]
  if t.order == "nm": steps = [(bi, mi, ni, 0) for bi in range(batch) for ni in range(nn) for mi in range(nm)]
  else: steps = [(bi, mi, ni, ki) for bi in range(batch) for mi in range(nm) for ni in range(nn) for ki in kis[bi][ni]]
  n_tiles = batch * nm * nn
  c_elem = DTYPE_BYTES["int8" if ep and ep.requant else "int32"]

  prog, matmuls, macs = [], [], 0
  held = {"A": [None, None], "B": [None, None]}       # tile key held by each buffer
  last_use = {"A": [-1, -1], "B": [-1, -1]}          # last step reading each buffer
  loads_done = {"A": 0, "B": 0}
  waited = -1                                         # C->L token horizon already waited for
  c_tile, tile_first = -1, []                         # the first step of each C tile
  for s, (bi, mi, ni, ki) in enumerate(steps):
    m0, k0, n0 = mi * t.mt, ki * t.kt, ni * t.nt
    a_at, b_at, c_at = tA.addr + bi * M * K, tB.addr + bi * (K if b_t else K * N), tC.addr + bi * M * N * c_elem     # this batch index's matrices
    ms, ks, ns = min(t.mt, M - m0), min(t.kt, K - k0), min(t.nt, N - n0)
    first, last = ki == kis[bi][ni][0], ki == kis[bi][ni][-1]
    group, need, slot = [], -1, {}
    if s == 0:   # per-column vectors (bias, multipliers), once, ahead of the first tiles
      for k in rows: group += tile_dma(Opcode.LOAD, Mem.ACC, rows_at[k], tensors[k].addr, 1, 0, N, C, DTYPE_BYTES["int32"])
    for op_name, key in (("A", (bi, mi, ki)), ("B", (bi, ki, ni))):
      if key in held[op_name]: slot[op_name] = held[op_name].index(key); continue
      b = loads_done[op_name] % 2; loads_done[op_name] += 1
      need = max(need, last_use[op_name][b]); held[op_name][b] = key; slot[op_name] = b
      if op_name == "A":
        sram = a_base + b * a_cap
        group += (a_src.load(sram, m0, ms, k0, ks, R) if a_src is not None
                  else tile_dma(Opcode.LOAD, Mem.SPAD, sram, a_at + m0 * K + k0, ms, K, ks, R) if ws
                  else tile_dma(Opcode.LOAD, Mem.SPAD, sram, a_at + k0 * M + m0, ks, M, ms, R))
      else:
        group += (tile_dma(Opcode.LOAD, Mem.SPAD, b_base + b * b_cap, b_at + n0 * batch * K + k0, ns, batch * K, ks, R) if b_t   # k-folds of ns lines
                  else tile_dma(Opcode.LOAD, Mem.SPAD, b_base + b * b_cap, b_at + k0 * N + n0, ks, N, ns, C))
    for op_name in ("A", "B"): last_use[op_name][slot[op_name]] = s
    if first: c_tile += 1; tile_first.append(s)
    if last and res is not None:   # this tile's residual, into slot c % 3: tile c-3's was last read by its epilogue's ADD, which the
      if c_tile >= 3: need = max(need, tile_first[c_tile - 1])   # first MATMUL of tile c-1 waited for (it frees that accumulator buffer)
      group += tile_dma(Opcode.LOAD, Mem.SPAD, res_base + (c_tile % 3) * stage_lines, tensors["residual"].addr + m0 * N + n0, ms, N, ns, C)
    mm = Instr(Opcode.MATMUL, a_addr=a_base + slot["A"] * a_cap, b_addr=b_base + slot["B"] * b_cap,
               c_addr=(c_tile % 2) * c_cap, m=ms, k=ks, n=ns, accumulate=int(not first), transpose_b=int(b_t))
    macs += ms * ks * ns
    if group:
      if need > waited:   # the buffers being overwritten were last read by step `need`
        flag(group, wait_next=1); waited = need
        matmuls[need].f["signal_prev"] = 1
      flag(group, signal_next=1); mm.f["wait_prev"] = 1
      prog += group
    if first and c_tile >= 2: mm.f["wait_next"] = 1            # accumulator buffer freed by store of tile-2
    if last: mm.f["signal_next"] = 1                           # C tile complete: hand it to the store queue
    prog.append(mm); matmuls.append(mm)
    if last:   # the store queue post-processes the finished tile, then writes it out
      cb, stage = (c_tile % 2) * c_cap, stage_base + (c_tile % 2) * stage_lines
      vec = _epilogue(ep, cb, stage, rows_at, n0, ms, ns, C, temps, res_base + (c_tile % 3) * stage_lines) if ep else []
      st = (tile_dma(Opcode.STORE, Mem.SPAD, stage, c_at + m0 * N + n0, ms, N, ns, C) if ep and ep.requant
            else tile_dma(Opcode.STORE, Mem.ACC, cb, c_at + (m0 * N + n0) * I32, ms, I32 * N, ns, C, I32))
      flag(vec + st, wait_prev=1)
      (vec if ep and ep.requant else st)[-1].f["signal_prev"] = int(c_tile + 2 < n_tiles)   # the last reader of the accumulator tile frees it
      prog += vec + st
  return Compiled(cfg, prog, dram, tensors, t, macs, {"A": A, "B": B}, tC.read, lambda: _reference(A, B, ep))
