"""SCALE-Sim inputs (compiler/importers/scalesim.py): its own ResNet-18 topology and default scale.cfg (examples/scalesim/)."""
import json
import os
import subprocess
import sys

import pytest

from tinyaccel.arch.config import ConfigError
from tinyaccel.compiler.importers.scalesim import out_size, read_cfg, read_topology
from tinyaccel.compiler.program import CompileError
from tinyaccel.flow import run_topology

HERE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "scalesim")
TOPO, CFG = os.path.join(HERE, "Resnet18.csv"), os.path.join(HERE, "scale.cfg")

def test_valid_conv_output_size_is_scalesims():
  assert out_size(224, 7, 2) == 110 and (224 - 7) // 2 + 1 == 109     # one more when (H - FH) % S != 0
  assert out_size(56, 3, 1) == 54 and out_size(56, 1, 2) == 29 and out_size(28, 3, 2) == 14

def test_resnet18_topology_as_gemms():
  ls = read_topology(TOPO)
  assert len(ls) == 21 and ls[0].name == "Conv1" and (ls[0].m, ls[0].k, ls[0].n) == (110 * 110, 7 * 7 * 3, 64)
  assert (ls[-1].name, ls[-1].m, ls[-1].k, ls[-1].n) == ("FC", 1, 512, 1000)
  assert [x.m for x in ls[1:8]] == [54 * 54] * 4 + [28 * 28, 26 * 26, 29 * 29] and sum(x.m * x.k * x.n for x in ls) == 1_471_181_568

def test_scale_cfg_maps_array_dataflow_sram_bandwidth():
  cfg, notes = read_cfg(CFG)
  assert (cfg.rows, cfg.cols, cfg.dataflow, cfg.spad_kib, cfg.acc_kib, cfg.dram_bytes_per_cycle, cfg.dram_burst_bytes) == (32, 32, "os", 128, 64, 10, 2)
  assert any("MemoryBanks" in n for n in notes)

def test_bad_inputs(tmp_path):
  p = tmp_path / "t.csv"; p.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\nc,4,4,7,7,3,8,1,\n")
  with pytest.raises(CompileError, match="does not fit"): read_topology(str(p))
  c = tmp_path / "x.cfg"; c.write_text("[architecture_presets]\nArrayHeight: 8\nArrayWidth: 8\nDataflow: is\n")
  with pytest.raises(ConfigError, match="input-stationary"): read_cfg(str(c))

def test_gemm_topology_bit_exact(tmp_path):
  p = tmp_path / "g.csv"; p.write_text("Layer Name, M, N, K,\nTest 1, 64, 48, 80,\nTest 2, 33, 17, 40,\n")
  cfg, _ = read_cfg(CFG)
  g, rep = run_topology(str(p), cfg)
  assert g.correct is True and [k.shape for k in g.kernels] == [[64, 80, 48], [33, 40, 17]] and rep["macs"] == 64 * 80 * 48 + 33 * 40 * 17

def test_cli_runs_scalesims_resnet18_on_its_config(tmp_path):
  ls = read_topology(TOPO)
  rep = tmp_path / "COMPUTE_REPORT.csv"      # the layout of SCALE-Sim's report; the cycle values are placeholders for the comparison rows
  rep.write_text("LayerID, Total Cycles, Stall Cycles, Overall Util %, Mapping Efficiency %, Compute Util %,\n" +
                 "".join(f"{i}, {1000 * (i + 1)}, 0, 0, 0, 0,\n" for i in range(len(ls))))
  js = tmp_path / "r.json"
  r = subprocess.run([sys.executable, "-m", "tinyaccel.cli", "run", TOPO, "--config", CFG, "--timing-only", "--scalesim-report", str(rep), "--json", str(js)],
                     capture_output=True, text=True)
  assert r.returncode == 0, r.stderr
  d = json.loads(js.read_text())
  assert d["macs"] == sum(x.m * x.k * x.n for x in ls) and [k["name"] for k in d["kernels"]][:2] == ["Conv1", "Conv2_1a"]
  assert d["config"]["rows"] == 32 and d["config"]["dataflow"] == "os"
  first = next(line for line in r.stdout.splitlines() if line.strip().startswith("0 "))
  assert f"{d['kernels'][0]['cycles']:,}" in first and f"{d['kernels'][0]['cycles'] / 1000:.3f}" in first
