"""Bad input as a careful user gives it (issue 21): every case exits 2 with exactly one line on stderr, or succeeds
with a correct result; a traceback fails the test. Cases run in-process (cli.main, SystemExit caught, stderr captured)."""
import contextlib
import io
import json
import os

import pytest

from tinyaccel import cli


def tinyaccel(*argv, cwd=None) -> tuple[int, str, str]:
  out, err = io.StringIO(), io.StringIO()
  old = os.getcwd()
  try:
    if cwd: os.chdir(cwd)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
      try: rc = cli.main([str(a) for a in argv])
      except SystemExit as e: rc = e.code if isinstance(e.code, int) else 2
  finally: os.chdir(old)
  return rc, out.getvalue(), err.getvalue()

def one_line_exit_2(rc, err, words=""):
  assert "Traceback" not in err, err
  assert rc == 2, (rc, err)
  lines = err.strip("\n").split("\n")
  assert len(lines) == 1 and lines[0], err
  assert words.lower() in err.lower(), err

# files a case refers to by name: {name} in its arguments is replaced by tmp_path/name
FILES = {
  "latin1.toml": b"rows = 4 # \xe9\xff\n",
  "latin1.s": b"sync queue=load # \xe9\xff\n",
  "latin1_sweep.toml": b"base = 'tiny' # \xff\n[workloads]\ngemm = ['8x8x8']\n",
  "deep.toml": b"x = " + b"[" * 3000 + b"]" * 3000 + b"\n",
  "clock_denormal.toml": b"clock_mhz = 5e-324\n",
  "memory_inf.toml": b"memory_gib = inf\n",
  "memory_nan.toml": b"memory_gib = nan\n",
  "burst_huge.toml": b"dram_burst_bytes = 1099511627776\n",
  "sram_tiny.toml": b"rows = 256\ncols = 256\nspad_kib = 1\nacc_kib = 1\n",
  "name_newline.toml": b'name = "a\\nb"\nrows = 0\n',
  "rows_str.toml": b'rows = "4"\n',
  "lanes_huge.toml": b"vector_lanes = 1000000000\n",
  "typo.toml": b"rowz = 4\n",
  "dup.s": b"load mem=spad rows=1 rows=2\n",
  "dup_op.s": b"load opcode=load\n",
  "empty.json": b'{"kernels": []}\n',
  "notutf8.json": b"\xff\xfe{",
  "sw_params5.toml": b"base = 'tiny'\nparams = 5\n[workloads]\ngemm = ['8x8x8']\n",
  "sw_workloads5.toml": b"base = 'tiny'\nworkloads = 5\n",
  "sw_base5.toml": b"base = 5\n[workloads]\ngemm = ['8x8x8']\n",
  "sw_networks5.toml": b"base = 'tiny'\n[workloads]\nnetworks = [5]\n",
  "sw_points_neg.toml": b"base = 'tiny'\n[workloads]\ngemm = ['8x8x8']\n[sample]\npoints = -1\n",
  "sw_points_str.toml": b"base = 'tiny'\n[workloads]\ngemm = ['8x8x8']\n[sample]\npoints = 'a'\n",
  "sw_gemm_str.toml": b"base = 'tiny'\n[workloads]\ngemm = '8x8x8'\n",
  "sw_typo.toml": b"base = 'tiny'\n[workload]\ngemm = ['8x8x8']\n",
  "sw_param_typo.toml": b"base = 'tiny'\n[params]\nspad_kb = [4]\n[workloads]\ngemm = ['8x8x8']\n",
  "sw_empty.toml": b"base = 'tiny'\n[params]\nrows = []\n[workloads]\ngemm = ['8x8x8']\n",
  "sw_bad_gemm.toml": b"base = 'tiny'\n[workloads]\ngemm = ['8x8']\n",
  "sw_unknown_net.toml": b"base = 'tiny'\n[workloads]\nnetworks = ['resnet5']\n",
  "sw_invalid_point.toml": b"base = 'tiny'\n[params]\nrows = [1000]\n[workloads]\ngemm = ['8x8x8']\n",
  "sw_wl_typo.toml": b"base = 'tiny'\n[workloads]\ngemms = ['8x8x8']\n",
  "exit0.py": b"import sys\nsys.exit(0)\n",
  "zero_size.py": b"from tinyaccel.compiler.tensor import Tensor\ndef workload(): return Tensor.randn(0, 8) @ Tensor.randn(8, 4)\n",
  "axi_port.toml": b"rows = 4\ncols = 4\ndram_bytes_per_cycle = 8\ndram_burst_bytes = 4\n",   # two chunks per beat: the AXI bridge moves one
}

CASES = [  # (argv, words expected in the one stderr line)
  (["run", "gemm", "--m", "0", "--config", "tiny"], "--m 0: must be >= 1"),
  (["run", "gemm", "--dataflow", "bogus"], "--dataflow"),
  ([], "required"),
  (["bogus"], "invalid choice"),
  (["run", "gemm", "--seed", "-1", "--config", "tiny"], "--seed"),
  (["run", "gemm", "--requant", "0.9999999999", "--config", "tiny", "--m", "8", "--k", "8", "--n", "8"], "--requant"),
  (["run", "gemm", "--requant", "nan", "--config", "tiny"], "--requant"),
  (["run", "gemm", "--requant", "1e-300", "--config", "tiny"], "--requant"),
  (["run", "gemm", "--config", "{latin1.toml}"], "UTF-8"),
  (["sim", "{latin1.s}", "--config", "tiny"], "UTF-8"),
  (["asm", "{latin1.s}", "-o", "{x.bin}"], "UTF-8"),
  (["sweep", "{latin1_sweep.toml}", "-o", "{sw}"], "UTF-8"),
  # tomllib parses 3,000 levels or hits the recursion limit, which other tests may raise: "deep.toml: ... nested too deeply" or "config deep: unknown field"
  (["config", "--config", "{deep.toml}"], "deep"),
  (["cost", "--config", "{clock_denormal.toml}"], "clock_mhz"),
  (["cost", "--config", "{memory_inf.toml}"], "memory_gib"),
  (["cost", "--config", "{memory_nan.toml}"], "memory_gib"),
  (["run", "gemm", "--m", "8", "--k", "8", "--n", "8", "--config", "{burst_huge.toml}"], "dram_burst_bytes"),
  (["run", "gemm", "--config", "{sram_tiny.toml}"], "config sram_tiny"),
  (["config", "--config", "{name_newline.toml}"], "name"),
  (["config", "--config", "{rows_str.toml}"], "rows"),
  (["config", "--config", "{lanes_huge.toml}"], "vector_lanes"),
  (["config", "--config", "{typo.toml}"], "did you mean 'rows'"),
  (["run", "gemm", "--m", "10000000", "--k", "10000000", "--n", "10000000", "--config", "edge", "--timing-only", "--force"], "DRAM"),
  (["run", "gemm", "--m", "100000", "--k", "100000", "--n", "1", "--config", "edge"], "DRAM"),
  (["run", "gemm", "--m", "4096", "--k", "4096", "--n", "4096", "--config", "tiny", "--timing-only"], "--force"),
  (["run", "bert_layer", "--seq", "100000", "--config", "edge", "--timing-only"], "--force"),
  (["sim", "{dup.s}", "--config", "tiny"], "rows"),
  (["asm", "{dup_op.s}", "-o", "{x.bin}"], "opcode"),
  (["sim", "{dup.s}", "--config", "tiny", "--dram-bytes", "10000000000000"], "--dram-bytes"),
  (["report", "{empty.json}", "-o", "{rep}"], "kernels"),
  (["report", "{notutf8.json}", "-o", "{rep}"], "notutf8.json"),
  (["sweep", "{sw_params5.toml}", "-o", "{sw}"], "params"),
  (["sweep", "{sw_workloads5.toml}", "-o", "{sw}"], "workloads"),
  (["sweep", "{sw_base5.toml}", "-o", "{sw}"], "base"),
  (["sweep", "{sw_networks5.toml}", "-o", "{sw}"], "networks"),
  (["sweep", "{sw_points_neg.toml}", "-o", "{sw}"], "points"),
  (["sweep", "{sw_points_str.toml}", "-o", "{sw}"], "points"),
  (["sweep", "{sw_gemm_str.toml}", "-o", "{sw}"], "gemm"),
  (["sweep", "{sw_typo.toml}", "-o", "{sw}"], "did you mean 'workloads'"),
  (["sweep", "{sw_param_typo.toml}", "-o", "{sw}"], "did you mean 'spad_kib'"),
  (["sweep", "{sw_empty.toml}", "-o", "{sw}"], "rows"),
  (["sweep", "{sw_bad_gemm.toml}", "-o", "{sw}"], "MxKxN"),
  (["sweep", "{sw_unknown_net.toml}", "-o", "{sw}"], "resnet5"),
  (["sweep", "{sw_invalid_point.toml}", "-o", "{sw}"], "rows=1000"),
  (["sweep", "{sw_wl_typo.toml}", "-o", "{sw}"], "did you mean 'gemm'"),
  (["run", "{exit0.py}", "--config", "tiny"], "exit"),
  (["run", "{zero_size.py}", "--config", "tiny"], "zero-size dimension"),
  (["fpga", "--config", "{axi_port.toml}", "--target", "ecp5-85k"], "AXI bridge"),     # refused before any Verilog or synthesis
  (["run", "gemm", "--config", "tiny", "--json", "{nodir}/sub/r.json", "--m", "8", "--k", "8", "--n", "8"], ""),
]

def materialize(tmp_path, argv):
  for name, data in FILES.items(): (tmp_path / name).write_bytes(data)
  (tmp_path / "nodir").write_text("a file, not a folder")
  names = [*FILES, "x.bin", "sw", "rep", "nodir"]
  sub = lambda a: next((a.replace("{" + k + "}", str(tmp_path / k)) for k in names if "{" + k + "}" in a), a)
  return [sub(a) for a in argv]

@pytest.mark.parametrize("argv,words", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input_one_line_exit_2(tmp_path, argv, words):
  rc, _, err = tinyaccel(*materialize(tmp_path, argv))
  one_line_exit_2(rc, err, words)

# ---------------- files and processes ----------------
def test_json_through_fifo_symlink_and_stdout(tmp_path):
  target = tmp_path / "real.json"; target.write_text("old")
  link = tmp_path / "link.json"; link.symlink_to(target)
  rc, _, err = tinyaccel("config", "--config", "tiny", "--json", link)
  assert rc == 0, err
  assert link.is_symlink() and json.loads(target.read_text())["rows"] == 4       # the link stays, its target is replaced
  fifo = tmp_path / "fifo"; os.mkfifo(fifo)
  import threading
  got = []
  t = threading.Thread(target=lambda: got.append(open(fifo).read())); t.start()
  rc, _, err = tinyaccel("config", "--config", "tiny", "--json", fifo)
  t.join(10)
  assert rc == 0 and json.loads(got[0])["cols"] == 4 and fifo.is_fifo()        # written through, not replaced by a file
  rc, out, _ = tinyaccel("config", "--config", "tiny", "--json", "-")
  assert rc == 0 and json.loads(out)["spad_kib"] == 4

def test_sweep_recomputes_a_torn_point_and_runs_duplicates_once(tmp_path):
  sw = tmp_path / "s.toml"; sw.write_text("base = 'tiny'\n[params]\nspad_kib = [4, 4]\n[workloads]\ngemm = ['8x8x8']\n")
  rc, out, err = tinyaccel("sweep", sw, "-o", tmp_path / "o", "-j", "1", "--json", tmp_path / "r.json")
  assert rc == 0, err
  r = json.loads((tmp_path / "r.json").read_text())
  assert r["points"] == 1 and r["computed"] == 1 and r["results"][0]["ok"]
  (p,) = (tmp_path / "o" / "points").iterdir()
  good = p.read_text(); p.write_text(good[:len(good) // 2])                     # a torn write
  rc, _, err = tinyaccel("sweep", sw, "-o", tmp_path / "o", "-j", "1", "--json", tmp_path / "r.json")
  r2 = json.loads((tmp_path / "r.json").read_text())
  assert rc == 0 and r2["computed"] == 1 and r2["cached"] == 0 and r2["results"][0]["cycles"] == r["results"][0]["cycles"]

def test_force_and_budget_predicts_exactly_enough():
  from tinyaccel.arch.config import load_config
  from tinyaccel.flow import run_gemm
  from tinyaccel.flow.budget import gemm_instructions
  cfg = load_config("tiny")
  n = len(run_gemm(cfg, 64, 64, 64, functional=False).compiled.program)
  assert gemm_instructions(cfg, 64, 64, 64) <= n <= 1.5 * gemm_instructions(cfg, 64, 64, 64)   # the prediction is a close lower bound

# ---------------- a generator of bad inputs per family ----------------
import random  # noqa: E402

FIELDS_BAD = ["0", "-1", "1e400", "inf", "-inf", "nan", "'x'", "[]", "{}", "true", "2**40", "1099511627776", "0.5", "5e-324", '"\\n"', "257", "3"]
CFG_FIELDS = ["rows", "cols", "dataflow", "spad_kib", "spad_banks", "acc_kib", "acc_banks", "dram_bytes_per_cycle", "dram_latency_cycles",
              "dram_burst_bytes", "memory_type", "memory_gib", "vector_lanes", "clock_mhz", "process_nm", "name", "rowz", "input_dtype"]
ASM_BAD = ["load", "load mem=spad rows=99999", "matmul m=1 m=1", "sync queue=bogus", "vector funct=add rows=-1", "store wait=up", "load x", "nop",
           "load dram_addr=0x", "matmul a_addr=1e3", "vector imm=99999999999", "load opcode=store", "sync signal=next signal=prev", "\x00", "load mem=spad\u00e9"]
SIZES_BAD = ["0", "-1", "x", "1.5", "", "99999999999999999999999", "0x10", " "]

def cases(n: int, seed: int = 0):
  rnd = random.Random(seed)
  for i in range(n):
    fam = rnd.choice(["config", "asm", "size", "sweep", "report"])
    if fam == "config":
      body = "\n".join(f"{rnd.choice(CFG_FIELDS)} = {rnd.choice(FIELDS_BAD).replace('2**40', '1099511627776')}" for _ in range(rnd.randint(1, 3)))
      yield fam, {"c.toml": body.encode()}, ["config", "--config", "{c.toml}"]
    elif fam == "asm":
      yield fam, {"p.s": "\n".join(rnd.sample(ASM_BAD, rnd.randint(1, 3))).encode()}, ["sim", "{p.s}", "--config", "tiny"]
    elif fam == "size":
      yield fam, {}, ["run", "gemm", rnd.choice(["--m", "--k", "--n", "--seed", "--requant", "--seq"]), rnd.choice(SIZES_BAD), "--config", "tiny"]
    elif fam == "sweep":
      key, val = rnd.choice(["base", "params", "workloads", "sample", "extra"]), rnd.choice(["5", "'a'", "[]", "[5]", "{}", "{ rows = 5 }", "{ gemm = '8' }", "-1"])
      yield fam, {"s.toml": f"{key} = {val}\n".encode()}, ["sweep", "{s.toml}", "-o", "{out}", "-j", "1"]
    else:
      yield fam, {"r.json": rnd.choice([b"[]", b"{}", b'{"kernels": 5}', b'{"kernels": []}', b"null", b"[1]", b"\xff", b"{", b'{"fmax_mhz": 1}'])}, ["report", "{r.json}", "-o", "{out}"]

def check(tmp_path, files, argv):
  for k, v in files.items(): (tmp_path / k).write_bytes(v)
  argv = [next((a.replace("{" + k + "}", str(tmp_path / k)) for k in [*files, "out"] if "{" + k + "}" in a), a) for a in argv]
  rc, _, err = tinyaccel(*argv)
  assert "Traceback" not in err and "internal error" not in err, (argv, files, err)
  if rc == 0: return
  assert rc == 2 and len(err.strip("\n").split("\n")) == 1, (argv, files, rc, err)

def test_fuzz_sample(tmp_path):
  for i, (fam, files, argv) in enumerate(cases(300)):
    d = tmp_path / str(i); d.mkdir(); check(d, files, argv)

def test_fuzz_large_sample(tmp_path):
  for i, (fam, files, argv) in enumerate(cases(1500, seed=1)):
    d = tmp_path / str(i); d.mkdir(); check(d, files, argv)
