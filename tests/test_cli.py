"""The command line as a user runs it: exit codes, one-line errors, JSON keys, files."""
import json
import os
import subprocess
import sys

import pytest


def tinyaccel(*args, cwd=None):
  return subprocess.run([sys.executable, "-m", "tinyaccel.cli", *args], capture_output=True, text=True, cwd=cwd)

KEYS = {"cycles", "seconds", "macs", "flops", "achieved_flops_per_s", "peak_flops_per_s", "utilization", "roofline_bound_cycles",
        "dram_read_bytes", "dram_write_bytes", "compulsory_dram_bytes", "sram_reads", "sram_writes", "stall_cycles", "correct", "kernels"}

def test_run_gemm_json_trace_emit(tmp_path):
  j, t, d = tmp_path / "r.json", tmp_path / "t.csv", tmp_path / "out"
  p = tinyaccel("run", "gemm", "--m", "37", "--k", "50", "--n", "29", "--config", "tiny", "--dataflow", "os", "--json", str(j), "--trace", str(t), "--emit", str(d))
  assert p.returncode == 0, p.stderr
  r = json.loads(j.read_text())
  assert KEYS <= set(r) and r["correct"] is True and r["macs"] == 37 * 50 * 29 and r["config"]["dataflow"] == "os"
  assert "roofline bound" in p.stdout and "bit-exact" in p.stdout
  assert t.read_text().splitlines()[0] == "index,queue,opcode,start,end"
  # the emitted binary runs again under `sim` with the same cycle count, and disassembles to the emitted text
  s = tinyaccel("sim", str(d / "program.bin"), "--dram", str(d / "dram.bin"), "--config", "tiny", "--dataflow", "os", "--json", "-")
  assert s.returncode == 0, s.stderr
  assert json.loads(s.stdout)["cycles"] == r["cycles"]
  assert tinyaccel("disasm", str(d / "program.bin")).stdout == (d / "program.s").read_text()
  a = tinyaccel("asm", str(d / "program.s"), "-o", str(tmp_path / "again.bin"))
  assert a.returncode == 0 and (tmp_path / "again.bin").read_bytes() == (d / "program.bin").read_bytes()

@pytest.mark.parametrize("args,words", [
  (["run", "gemm", "--config", "nope"], "not a preset"),
  (["run", "gemm", "--m", "0", "--config", "tiny"], "must be >= 1"),
  (["run", "gemm", "--k", "-3", "--config", "tiny"], "must be >= 1"),
  (["run", "gemm", "--n", "x", "--config", "tiny"], "not an integer"),
  (["run", "conv", "--config", "tiny"], "unknown workload"),
  (["run", "gemm", "--config", "BAD_TOML"], "malformed TOML"),
  (["run", "gemm", "--m", "100", "--k", "100", "--n", "100", "--config", "SMALL"], "does not fit"),
  (["disasm", "MISSING.bin"], "No such file"),
  (["sim", "GARBAGE.bin", "--config", "tiny"], "multiple of 16"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, args, words):
  (tmp_path / "bad.toml").write_text("rows = [\n")
  (tmp_path / "small.toml").write_text("rows = 16\ncols = 16\nspad_kib = 1\nacc_kib = 1\n")
  (tmp_path / "garbage.bin").write_bytes(b"\1" * 17)
  subst = {"BAD_TOML": str(tmp_path / "bad.toml"), "SMALL": str(tmp_path / "small.toml"), "MISSING.bin": str(tmp_path / "missing.bin"), "GARBAGE.bin": str(tmp_path / "garbage.bin")}
  p = tinyaccel(*[subst.get(a, a) for a in args])
  assert p.returncode == 2 and words in p.stderr and "Traceback" not in p.stderr
  assert len(p.stderr.strip().splitlines()) == 1 or p.stderr.startswith("usage:")

def test_config_and_cost_print_units():
  """Every numeric row of `config` and `cost` names its unit (issue 21 item 5)."""
  text = {"name", "dataflow", "input_dtype", "weight_dtype", "acc_dtype", "memory_type", "form_factor"}
  for line in tinyaccel("config", "--config", "edge").stdout.splitlines():
    key, value, *unit = line.split()
    assert key in text or unit, line
  for line in tinyaccel("cost", "--config", "edge").stdout.splitlines():
    if any(ch.isdigit() for ch in line): assert any(u in line for u in ("mm^2", "USD", " W", "GB/s", "fraction", "FLOP/s", "units", " x ")), line

def test_config_json():
  p = tinyaccel("config", "--config", "edge", "--json", "-")
  assert p.returncode == 0 and json.loads(p.stdout)["spad_lines"] == 16384

def test_run_and_compile_a_user_file(tmp_path):
  ex = os.path.join(os.path.dirname(__file__), "..", "examples", "mlp.py")
  p = tinyaccel("run", ex, "--config", "edge", "--json", "-")
  assert p.returncode == 0, p.stderr
  r = json.loads(p.stdout)
  assert r["correct"] is True and [k["kind"] for k in r["kernels"]] == ["gemm", "gemm"] and r["accuracy"]["cosine_similarity"] >= 0.99
  assert r["macs"] == 64 * 256 * 512 + 64 * 512 * 10 and r["cycles"] == sum(k["cycles"] for k in r["kernels"])
  assert "MUL" in tinyaccel("compile", ex, "--print", "ir").stdout
  assert "fused epilogue: bias+relu" in tinyaccel("compile", ex, "--print", "kernels").stdout
  assert "matmul a_addr" in tinyaccel("compile", ex, "--print", "program", "--config", "edge").stdout
  bad = tmp_path / "bad.py"; bad.write_text("from tinyaccel.compiler.tensor import Tensor\ndef workload(): return Tensor.randn(4, 4).exp()\n")
  p = tinyaccel("run", str(bad), "--config", "tiny")
  assert p.returncode == 2 and "unsupported graph" in p.stderr and "Traceback" not in p.stderr
  p = tinyaccel("run", ex, "--config", "tiny")        # 512 biases and multipliers do not fit a 4 KiB accumulator
  assert p.returncode == 2 and "per-column vectors (bias, multiplier) for N=512 fill the 256-line accumulator" in p.stderr

def test_timing_only_network_is_not_checked():
  """A timing-only run compares nothing, so it says so: `correct` is null in the JSON and the table says "not checked"."""
  ex = os.path.join(os.path.dirname(__file__), "..", "examples", "mlp.py")
  p = tinyaccel("run", ex, "--config", "edge", "--timing-only", "--json", "-")
  assert p.returncode == 0, p.stderr
  r = json.loads(p.stdout)
  assert r["correct"] is None and all(k["correct"] is None for k in r["kernels"])
  exact = json.loads(tinyaccel("run", ex, "--config", "edge", "--json", "-").stdout)
  assert exact["correct"] is True and r["cycles"] == exact["cycles"]
  assert "not checked" in tinyaccel("run", ex, "--config", "edge", "--timing-only").stdout
  g = json.loads(tinyaccel("run", "gemm", "--config", "tiny", "--timing-only", "--json", "-").stdout)
  assert g["correct"] is None and g["kernels"][0]["correct"] is None
