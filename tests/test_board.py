"""The board self-test (rtl/board.py, flow/board.py, `tinyaccel fpga --board`): the PLL settings, the constraint file
against the board's published pins and the top's ports, the self-test simulated (pass in the model's cycles, fail on one
wrong byte, timeout, a bad instruction), the refusals; the bitstream itself (yosys, nextpnr, ecppack) is `slow`."""
import json
import re
import subprocess
import sys

from amaranth.back import verilog
import pytest

from tinyaccel.arch.config import load_config
from tinyaccel.arch.isa import Instr, Opcode
from tinyaccel.flow.board import SelfTestImage, image, simulate
from tinyaccel.rtl.board import BOARDS, BoardError, BoardTop, lpf, pll_dividers


def tinyaccel(*args):
  return subprocess.run([sys.executable, "-m", "tinyaccel.cli", *args], capture_output=True, text=True)

def test_pll_dividers():
  assert pll_dividers(25, 20) == (5, 4, 30, 20.0)            # what yowasp-ecppll -i 25 -o 20 writes
  assert pll_dividers(25, 25) == (1, 1, 24, 25.0)
  ki, kf, kop, out = pll_dividers(25, 26.1)                   # never above the clock asked for
  assert out <= 26.1 and 400 <= out * kop <= 800 and 3.125 <= 25 / ki
  with pytest.raises(BoardError, match="no PLL setting"): pll_dividers(25, 0.01)

def test_constraints_pin_every_port_of_the_top_as_the_board_file_does():
  board, img = BOARDS["ulx3s-85f"], image(load_config("tiny"), 4, 4, 4)
  text = lpf(board, 25.0)
  pins = dict(re.findall(r'LOCATE COMP "([^"]+)" SITE "([^"]+)"', text))
  # ulx3s_v20.lpf: clk_25mhz G2; led[0..7] B2 C2 C1 D2 D1 E2 E1 H3; btn[1] (FIRE1, pulled down) R1
  assert pins == {"clk_in": "G2", "restart": "R1", **{f"led[{k}]": p for k, p in enumerate(["B2", "C2", "C1", "D2", "D1", "E2", "E1", "H3"])}}
  assert 'FREQUENCY PORT "clk_in" 25 MHZ;' in text and 'IOBUF PORT "restart" PULLMODE=DOWN IO_TYPE=LVCMOS33;' in text
  v = verilog.convert(BoardTop(board, img.build(), 25.0), name="top", emit_src=False)
  ports = re.search(r"module top\((.*?)\);", v, re.S).group(1)
  widths = {n: int(w or 0) + 1 for w, n in re.findall(r"(?:input|output)\s+(?:\[(\d+):0\]\s+)?(\w+);", v.split("module top(")[1].split("endmodule")[0])
           if n in ports}
  bits = {f"{n}[{b}]" if w > 1 else n for n, w in widths.items() for b in range(w)}
  assert bits == set(pins)                                    # no unconstrained port, no constraint without a port
  assert "EHXPLLL" in v and ".CLKOP_DIV(32'd24)" in v and ".CLKOP_CPHASE(32'd12)" in v

@pytest.mark.parametrize("shape", [(8, 8, 8), (17, 9, 13)])
def test_selftest_passes_in_the_models_cycles(shape):
  img = image(load_config("tiny"), *shape)
  assert simulate(img.build(), 10**5) == (0b1, img.model_cycles)
  assert img.model_cycles == {(8, 8, 8): 135, (17, 9, 13): 503}[shape]
  bad = bytearray(img.expected); bad[len(bad) // 2] ^= 0x80
  led, _ = simulate(img.build(bytes(bad)), 10**5)
  assert led == 0b10                                           # fail, no other light

def test_selftest_reports_a_timeout_and_a_bad_instruction():
  img = image(load_config("tiny"), 8, 8, 8)
  short = SelfTestImage(img.cfg, img.gemm, img.program, img.dram, img.expected, model_cycles=-240)   # a 40-cycle limit
  assert simulate(short.build(), 10**4)[0] == 0b10010            # fail + timeout
  bad = SelfTestImage(img.cfg, img.gemm, [Instr(Opcode.LOAD, wait_prev=1)] + img.program, img.dram, img.expected, img.model_cycles)
  assert simulate(bad.build(), 10**4)[0] == 0b01010              # fail + queue error (the load queue has no previous queue to wait on)

@pytest.mark.parametrize("args,words", [
  (["--config", "edge", "--board", "ulx3s-85f"], "on-chip DRAM serves one lane of 2^n bytes per cycle; edge's port moves 2 x 32 B"),
  (["--config", "tiny", "--board", "ulx3s-25f", "--workload", "gemm:512,512,512"], "take 3,145,728 B of block RAM"),
  (["--config", "tiny", "--board", "ulx3s-85f", "--workload", "gemm:4,4"], "the self-test runs a gemm:M,K,N"),
  (["--config", "tiny", "--board", "ulx3s-85f", "--target", "ecp5-25k"], "ulx3s-85f carries ecp5-85k"),
  (["--config", "tiny"], "give --target DEVICE (or --board BOARD"),
  (["--config", "tiny", "--board", "ulx3s-85f", "--freq", "0"], "no PLL setting makes 0 MHz or less from 25 MHz"),
  (["--config", "tiny", "--board", "de10-nano"], "invalid choice: 'de10-nano'"),
])
def test_refusals(args, words):
  p = tinyaccel("fpga", *args)
  assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and words in p.stderr, p.stderr

@pytest.mark.slow
def test_bitstream_for_the_ulx3s(tmp_path):
  """The whole flow: the tiny core's self-test placed, routed and packed for a ULX3S-85F (~10-20 min on 2 cores)."""
  bit = tmp_path / "selftest.bit"
  p = tinyaccel("fpga", "--config", "tiny", "--board", "ulx3s-85f", "--workload", "gemm:8,8,8", "-o", str(bit), "--json", str(tmp_path / "r.json"))
  assert p.returncode == 0, p.stderr
  r = json.loads((tmp_path / "r.json").read_text())
  data = bit.read_bytes()
  assert len(data) == r["fpga"]["bitstream_bytes"] > 100_000 and b"\xff\xff\xbd\xb3" in data[:2048]    # the ECP5 preamble
  assert r["fpga"]["meets_freq"], r["fpga"]["fmax_mhz"]
  assert r["fpga"]["resources"]["io"]["used"] == 10 and r["fpga"]["resources"]["dsp"]["used"] >= 16
  assert open(r["fpga"]["constraints"]).read() == lpf(BOARDS["ulx3s-85f"], r["core_mhz"])
