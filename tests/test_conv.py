"""conv2d lowered to a GEMM whose A tiles are DMA windows over the padded NHWC input (no im2col in
DRAM): bit-exact against the Tensor frontend's conv2d, with an int8 fused epilogue too."""
import numpy as np
import pytest

from tinyaccel.arch.config import load_config
from tinyaccel.arch.vector import quantize_multiplier
from tinyaccel.compiler.conv import compile_conv2d
from tinyaccel.compiler.gemm import Epilogue
from tinyaccel.compiler.program import CompileError
from tinyaccel.compiler.tensor import Tensor
from tinyaccel.sim.model import Machine, run

CASES = [(1, 4, 6, 6, 5, 3, 1, 1, 1), (2, 6, 9, 7, 3, 3, 2, 1, 1), (1, 3, 8, 8, 4, 3, 1, 2, 2), (1, 8, 5, 5, 9, 1, 1, 0, 1), (3, 4, 4, 4, 2, 2, 2, 0, 1),
         (2, 1, 7, 6, 5, 3, 2, 1, 1), (1, 2, 5, 5, 3, 2, 1, 1, 1)]     # the last two: few channels -> packed windows

@pytest.mark.parametrize("n,c,h,w,o,k,s,p,d", CASES)
def test_conv_windows_bit_exact(n, c, h, w, o, k, s, p, d):
  cfg = load_config("tiny"); rng = np.random.default_rng(n * 100 + c)
  x = rng.integers(-128, 128, (n, c, h, w)).astype(np.int8); wt = rng.integers(-128, 128, (o, c, k, k)).astype(np.int8)
  prog, win = compile_conv2d(cfg, x, wt, s, p, d)
  mach = Machine(cfg, prog.dram.copy()); res = run(cfg, prog.program, machine=mach)
  out = prog.read(mach.dram).reshape(n, win.oh, win.ow, o).transpose(0, 3, 1, 2)
  assert np.array_equal(out, Tensor(x, "int8").conv2d(Tensor(wt, "int8"), stride=s, padding=p, dilation=d).numpy())
  # the only tensors in DRAM are the padded input, the weights and the output: no im2col matrix
  assert set(prog.tensors) == {"A", "B", "C"} and prog.tensors["A"].shape == (n, h + 2 * p, w + 2 * p, win.cp)
  assert win.packed == (c * k <= 4 and d == 1 and c < 4)
  if win.packed: assert res.stats.macs == n * win.oh * win.ow * k * 4 * o     # one 4-lane line per kernel row
  assert res.stats.dram_read_bytes < prog.tensors["A"].nbytes * k * k + prog.tensors["B"].nbytes * 8

def test_conv_with_int8_epilogue_and_errors():
  cfg = load_config("edge"); rng = np.random.default_rng(0)
  x = rng.integers(-128, 128, (1, 64, 14, 14)).astype(np.int8); wt = rng.integers(-128, 128, (32, 64, 3, 3)).astype(np.int8)
  ep = Epilogue(rng.integers(-9999, 9999, 32).astype(np.int32), True, quantize_multiplier(1 / 20000))
  prog, win = compile_conv2d(cfg, x, wt, 1, 1, epilogue=ep)
  mach = Machine(cfg, prog.dram.copy()); res = run(cfg, prog.program, machine=mach)
  assert np.array_equal(prog.read(mach.dram), prog.reference()) and prog.read(mach.dram).dtype == np.int8
  assert res.stats.roofline_bound_cycles / res.cycles > 0.7     # a 3.6 M-MAC layer: DRAM latency and the first tile show
  tos = load_config("tiny", dataflow="os")           # os: a plain GEMM over the im2col matrix (compiler/conv.py: im2col_copy writes it)
  prog, win = compile_conv2d(tos, x[:, :4, :6, :6], wt[:4, :4], 1, 1)
  mach = Machine(tos, prog.dram.copy()); run(tos, prog.program, machine=mach)
  assert prog.tensors["A"].transposed and prog.tensors["A"].nbytes == 36 * 36 and win.k == 36      # Aᵀ: K = 3·3·4 unpadded channels, M = 6·6
  assert np.array_equal(prog.read(mach.dram).reshape(1, 6, 6, 4).transpose(0, 3, 1, 2), Tensor(x[:, :4, :6, :6], "int8").conv2d(Tensor(wt[:4, :4], "int8"), padding=1).numpy())
  with pytest.raises(CompileError, match="channels"): compile_conv2d(cfg, x, wt[:, :3])

def test_cnn_graph_found_in_the_ir_and_run_quantized():
  import importlib.util
  import os

  from tinyaccel.compiler.schedule import schedule
  from tinyaccel.flow import run_graph
  spec = importlib.util.spec_from_file_location("cnn", os.path.join(os.path.dirname(__file__), "..", "examples", "cnn.py"))
  mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
  y = mod.workload(batch=2, size=8)
  ks = schedule(y.node)
  assert [type(k).__name__ for k in ks] == ["ConvKernel"] * 3 + ["GemmKernel"]
  assert [(k.stride, k.padding, k.bias is not None, k.relu) for k in ks[:3]] == [(1, 1, True, True), (2, 1, True, True), (2, 1, True, True)]
  r = run_graph(y, load_config("tiny", acc_kib=8))
  assert r.correct and r.accuracy["cosine_similarity"] >= 0.99
  assert [k.stats.macs for k in r.kernels[:3]] == [2 * 16 * 3 * 9 * 64, 2 * 32 * 16 * 9 * 16, 2 * 32 * 32 * 9 * 4]   # useful MACs, analytical

def test_residual_block_runs_with_a_vector_add_kernel():
  from tinyaccel.compiler.eltwise import compile_add
  from tinyaccel.compiler.schedule import schedule
  from tinyaccel.flow import run_graph
  def conv(cin, cout, seed): return (Tensor.randn(cout, cin, 3, 3, seed=seed) * (cin * 9) ** -0.5).realize(), (Tensor.randn(cout, seed=seed + 9) * 0.1).realize()
  x = Tensor.randn(2, 4, 6, 6, seed=0)
  (w0, b0), (w1, b1), (w2, b2) = conv(4, 8, 1), conv(8, 8, 2), conv(8, 8, 3)
  h = x.conv2d(w0, b0, padding=1).relu()
  y = (h.conv2d(w1, b1, padding=1).relu().conv2d(w2, b2, padding=1) + h).relu()
  assert [type(k).__name__ for k in schedule(y.node)] == ["ConvKernel"] * 3 + ["AddKernel"]   # h computed once
  r = run_graph(y, load_config("tiny", acc_kib=8), fusion=False)
  assert r.correct and r.accuracy["cosine_similarity"] >= 0.99 and r.kernels[-1].kind == "vector"
  # the add kernel alone: bit-exact with its integer definition and within one step of the real-valued result
  rng = np.random.default_rng(0); a = rng.integers(-128, 128, (3, 5, 7)).astype(np.int8); b = rng.integers(-128, 128, (3, 5, 7)).astype(np.int8)
  cfg = load_config("tiny"); c = compile_add(cfg, a, b, 0.6, 1.3, relu=True)
  mach = Machine(cfg, c.dram.copy()); run(cfg, c.program, machine=mach)
  out = c.read(mach.dram)
  assert np.array_equal(out, c.reference()) and np.abs(out - np.clip(np.round(np.maximum(a * 0.6 + b * 1.3, 0)), -128, 127)).max() <= 1

def test_residual_add_fused_into_the_gemm_epilogue_is_the_add_kernel_bit_for_bit():
  """C8 = requant(A.B + bias), then compile_add(C8, R): the same integers from one program whose store queue adds each
  C tile to R's tile (loaded by DMA) while it is still in the scratchpad; C8 never goes to DRAM."""
  from tinyaccel.arch import vector as V
  from tinyaccel.compiler.eltwise import PRESHIFT, compile_add
  from tinyaccel.compiler.gemm import Epilogue, compile_gemm
  from tinyaccel.flow.run import run_program
  rng = np.random.default_rng(1)
  for preset, (M, K, N) in (("tiny", (64, 48, 40)), ("tiny", (200, 96, 72)), ("edge", (200, 96, 72))):   # mn and mnk loop orders
    cfg = load_config(preset)
    A, B = rng.integers(-128, 128, (M, K), dtype=np.int8), rng.integers(-128, 128, (K, N), dtype=np.int8)
    R, bias = rng.integers(-128, 128, (M, N), dtype=np.int8), rng.integers(-2000, 2000, N).astype(np.int32)
    mult = V.quantize_multipliers(rng.uniform(0.0015, 0.0045, N))
    rs = tuple(V.quantize_multiplier(s / 2 ** PRESHIFT) for s in (0.7, 1.3))
    plain_prog = compile_gemm(cfg, M, K, N, A=A, B=B, epilogue=Epilogue(bias, False, mult)); plain = run_program(cfg, plain_prog)
    add = run_program(cfg, compile_add(cfg, plain.output, R, 0.7, 1.3, relu=True))
    fused_prog = compile_gemm(cfg, M, K, N, A=A, B=B, epilogue=Epilogue(bias, False, mult, residual=R, residual_scales=rs, residual_relu=True))
    fused = run_program(cfg, fused_prog)
    assert plain.correct and add.correct and fused.correct and np.array_equal(fused.output, add.output)
    # DRAM: R read once instead of C8 written, read back and the sum written again
    assert fused.result.stats.dram_write_bytes == plain.result.stats.dram_write_bytes and fused.result.stats.compulsory_dram_bytes == plain.result.stats.compulsory_dram_bytes + M * N
    same = (fused_prog.tiling.mt, fused_prog.tiling.kt, fused_prog.tiling.nt) == (plain_prog.tiling.mt, plain_prog.tiling.kt, plain_prog.tiling.nt)
    if preset == "edge": assert same   # where the tiling is the same, exactly R's bytes more read (on tiny R's buffers cost A tile size)
    if same: assert fused.result.stats.dram_read_bytes == plain.result.stats.dram_read_bytes + plain.result.stats.dram_write_bytes   # R: as C8, burst-rounded
    assert fused.result.cycles < plain.result.cycles + add.result.cycles
    assert sorted(fused_prog.tensors) == ["A", "B", "C", "bias", "multiplier", "residual"]

@pytest.mark.parametrize("cores", [1, 2])
def test_resnet_blocks_fused_and_unfused_are_the_same_integers(cores):
  """An identity block (the add's other operand is the block input), a projection block (both operands are convolutions:
  the later one absorbs the add) and an add of the network input: fusion removes every add kernel and changes no bit."""
  from tinyaccel.compiler.schedule import AddKernel, fuse, schedule
  from tinyaccel.flow import run_graph
  def conv(cin, cout, k, seed): return (Tensor.randn(cout, cin, k, k, seed=seed) * (cin * k * k) ** -0.5).realize(), (Tensor.randn(cout, seed=seed + 9) * 0.1).realize()
  x = Tensor.randn(2, 8, 6, 6, seed=0)
  h = (x.conv2d(*conv(8, 8, 3, 1), padding=1) + x).relu()                                            # + the network input
  h = (h.conv2d(*conv(8, 8, 3, 2), padding=1).relu().conv2d(*conv(8, 8, 3, 3), padding=1) + h).relu()  # identity shortcut
  y = (h.conv2d(*conv(8, 16, 3, 4), padding=1, stride=2) + h.conv2d(*conv(8, 16, 1, 5), stride=2)).relu()   # projection
  ks = schedule(y.node); fused = fuse(ks, y.node)
  assert sum(isinstance(k, AddKernel) for k in ks) == 3 and not any(isinstance(k, AddKernel) for k in fused) and len(fused) == len(ks) - 3
  cfg = load_config("tiny", acc_kib=8, cores=cores)
  a, b = run_graph(y, cfg, fusion=False), run_graph(y, cfg)
  assert a.correct and b.correct and np.array_equal(a.output, b.output) and a.accuracy == b.accuracy
  assert [k.fused for k in b.kernels if "add" in k.fused] == [["bias", "requant", "add", "relu"]] * 3
  assert b.stats.dram_bytes < a.stats.dram_bytes

@pytest.mark.parametrize("c,o,groups,s,p,preset", [(8, 8, 8, 1, 1, "tiny"), (8, 12, 4, 2, 1, "tiny"), (12, 6, 2, 1, 0, "tiny"), (64, 64, 64, 1, 1, "edge"), (96, 96, 96, 2, 1, "edge")])
def test_grouped_and_depthwise_conv_on_the_array(c, o, groups, s, p, preset):
  """A grouped conv is one GEMM with a block-diagonal B; its zero blocks are whole tiles, never loaded or multiplied."""
  cfg = load_config(preset); rng = np.random.default_rng(c + groups)
  x = rng.integers(-128, 128, (2, c, 9, 9)).astype(np.int8); wt = rng.integers(-128, 128, (o, c // groups, 3, 3)).astype(np.int8)
  prog, win = compile_conv2d(cfg, x, wt, s, p, groups=groups)
  mach = Machine(cfg, prog.dram.copy()); res = run(cfg, prog.program, machine=mach)
  out = prog.read(mach.dram).reshape(2, win.oh, win.ow, o).transpose(0, 3, 1, 2)
  assert np.array_equal(out, Tensor(x, "int8").conv2d(Tensor(wt, "int8"), stride=s, padding=p, groups=groups).numpy())
  M, R, C = 2 * win.oh * win.ow, cfg.rows, cfg.cols
  tiles = {(kf, nf) for kf in range(win.k // R) for nf in range(-(-o // C))     # (k tile of one kernel position and R channels, n tile)
           if any((kf * R % win.cp + r) // (c // groups) == (nf * C + j) // (o // groups) for r in range(R) if kf * R % win.cp + r < c for j in range(min(C, o - nf * C)))}
  assert res.stats.macs == prog.macs == sum(M * R * min(C, o - nf * C) for _, nf in tiles)   # only the blocks that meet a group
  assert prog.macs < M * win.k * o

def test_zero_weight_tiles_are_skipped():
  cfg = load_config("tiny"); rng = np.random.default_rng(1)
  A = rng.integers(-128, 128, (16, 24)).astype(np.int8); B = rng.integers(-128, 128, (24, 8)).astype(np.int8)
  B[8:16, :4] = 0; B[:, 4:] = 0                                           # one zero k block under n tile 0; n tile 1 all zero
  from tinyaccel.compiler.gemm import Tiling, compile_gemm
  c = compile_gemm(cfg, 16, 24, 8, A=A, B=B, tiling=Tiling(16, 8, 4, "mnk", 0, 0))
  mach = Machine(cfg, c.dram.copy()); run(cfg, c.program, machine=mach)
  assert np.array_equal(c.read(mach.dram), A.astype(np.int32) @ B.astype(np.int32))   # the all-zero n tile is still written (zeros)
  assert [i.f["k"] for i in c.program if i.opcode.name == "MATMUL"] == [8, 8, 8] and c.macs == 16 * 8 * 4 * 3

def test_depthwise_mapper_picks_the_faster_unit():
  """Depthwise convs: the array (block-diagonal GEMM) and the vector unit both compile; the model's timing picks."""
  from tinyaccel.flow import run_graph
  def dw(c, size, seed):
    x = Tensor.randn(1, c, size, size, seed=seed)
    return x.conv2d((Tensor.randn(c, 1, 3, 3, seed=seed + 1) * 0.3).realize(), (Tensor.randn(c, seed=seed + 2) * 0.1).realize(), padding=1, groups=c).relu()
  big, small = run_graph(dw(64, 28, 0), load_config("edge")), run_graph(dw(320, 4, 3), load_config("edge"))
  assert big.correct and small.correct and big.accuracy["cosine_similarity"] > 0.99
  assert [k.kind for k in big.kernels] == ["gemm"] and [k.kind for k in small.kernels] == ["vector"]
  assert big.kernels[0].stats.macs == 28 * 28 * 64 * 9 and big.kernels[0].stats.array_macs == 28 * 28 * 2 * 9 * 32 * 32
  os_run = run_graph(dw(64, 28, 0), load_config("edge", dataflow="os"))          # no windows on os: the vector unit
  assert os_run.correct and [k.kind for k in os_run.kernels] == ["vector"]

@pytest.mark.parametrize("preset,cycles,macs,stack", [("edge", 2637, 917504, 1), ("server", 2092, 9437184, 4)])
def test_conv_stacked_rows_stem(preset, cycles, macs, stack):
  """A 7x7/2 stem over 3 channels: on 128 lanes one packed line carries 4 kernel rows (2 lines a pixel, was 7: 5,075 cycles,
  33,030,144 MACs before); on edge's 32 lanes one row a line, unchanged. Bit-exact against the unrewritten conv."""
  cfg = load_config(preset); rng = np.random.default_rng(1)
  o = 16 if preset == "edge" else 64; h = 32 if preset == "edge" else 48
  x = rng.integers(-128, 128, (1, 3, h, h)).astype(np.int8); wt = rng.integers(-128, 128, (o, 3, 7, 7)).astype(np.int8)
  prog, win = compile_conv2d(cfg, x, wt, 2, 3)
  mach = Machine(cfg, prog.dram.copy()); res = run(cfg, prog.program, machine=mach)
  out = prog.read(mach.dram).reshape(1, win.oh, win.ow, o).transpose(0, 3, 1, 2)
  assert np.array_equal(out, Tensor(x, "int8").conv2d(Tensor(wt, "int8"), stride=2, padding=3).numpy())
  assert (win.stack, res.cycles, res.stats.macs) == (stack, cycles, macs)
