"""The board self-test (rtl/board.py) of a compiled GEMM: the program, its DRAM image, and the model's DRAM after the run
as the bytes the checker expects. The self-test is simulated first (its LEDs must say pass, and a corrupted expectation
must say fail), then written as a bitstream for the board (rtl/fpga.bitstream)."""
from __future__ import annotations

from dataclasses import dataclass

from ..arch.config import AccelConfig
from ..compiler.gemm import compile_gemm
from ..rtl.board import BOARDS, BoardError, BoardTop, SelfTest, lpf, pll_dividers
from ..rtl.top import Accelerator
from ..sim.model import Machine
from ..sim.model import run as model_run


@dataclass(frozen=True)
class SelfTestImage:
  """What the self-test holds: the GEMM's program, the DRAM it starts from and the one the model ends with."""
  cfg: AccelConfig
  gemm: tuple[int, int, int]
  program: list
  dram: bytes
  expected: bytes
  model_cycles: int
  def build(self, expected: bytes | None = None) -> SelfTest:
    longest = max(sum(1 for i in self.program if i.queue.value == q) for q in range(3)) + 1
    return SelfTest(Accelerator(self.cfg, 1 << max(4, (longest - 1).bit_length())), self.program, self.dram,
                    self.expected if expected is None else expected, timeout_cycles=4 * self.model_cycles + 1000)

def image(cfg: AccelConfig, m: int, k: int, n: int, seed: int = 0) -> SelfTestImage:
  c = compile_gemm(cfg, m, k, n, seed=seed)
  machine = Machine(cfg, c.dram.copy())
  r = model_run(cfg, c.program, machine)
  if not (c.read(machine.dram) == c.reference()).all(): raise BoardError(f"gemm {m}x{k}x{n}: the model's output differs from the reference")
  return SelfTestImage(cfg, (m, k, n), c.program, c.dram.tobytes(), machine.dram.tobytes(), r.cycles)

def simulate(test: SelfTest, max_cycles: int) -> tuple[int, int]:
  """(LEDs, cycles from start to idle) once the self-test shows pass or fail, in Amaranth's simulator."""
  from amaranth.sim import Simulator
  sim, seen = Simulator(test), {}
  sim.add_clock(1e-6)
  async def bench(ctx):
    for cycle in range(1, max_cycles + 1):
      await ctx.tick()
      if (led := ctx.get(test.led)) & 0b11: seen.update(led=led, cycles=ctx.get(test.run_cycles) - 1); return   # idle rises a cycle after the last completion
  sim.add_testbench(bench)
  sim.run()
  if not seen: raise BoardError(f"the self-test showed no verdict in {max_cycles:,} simulated cycles")
  return seen["led"], seen["cycles"]

def board_build(cfg: AccelConfig, board_name: str, m: int, k: int, n: int, seed: int = 0, core_mhz: float | None = None,
                write_bitstream: bool = True, progress: bool = True, pnr_seed: int = 1) -> dict:
  if board_name not in BOARDS: raise BoardError(f"unknown board {board_name!r} (choose {', '.join(BOARDS)})")
  board = BOARDS[board_name]
  img = image(cfg, m, k, n, seed)
  from ..rtl.fpga import get_target
  t = get_target(board.target)
  if (need := len(img.dram) + len(img.expected)) > (room := t.brams * t.bram_bits // 8 // 4):
    raise BoardError(f"gemm {m}x{k}x{n}: its DRAM image and the expected one take {need:,} B of block RAM; the self-test keeps them within "
                     f"a quarter of {t.device}'s ({room:,} B): try a smaller GEMM")
  budget = 4 * img.model_cycles + len(img.program) + len(img.expected) + 2000
  led, cycles = simulate(img.build(), budget)
  bad = bytearray(img.expected); bad[-1] ^= 1
  led_bad, _ = simulate(img.build(bytes(bad)), budget)
  if led != 0b1 or led_bad & 0b11 != 0b10 or cycles != img.model_cycles:
    raise BoardError(f"the self-test does not work in simulation (LEDs {led:08b}, with one wrong byte expected {led_bad:08b}; "
                     f"{cycles:,} cycles, the model's {img.model_cycles:,})")
  core_mhz = board.clock_mhz if core_mhz is None else core_mhz
  ki, kf, kop, out = pll_dividers(board.clock_mhz, core_mhz)
  r = dict(board=board.name, pins=board.source, target=board.target, gemm=list(img.gemm), model_cycles=img.model_cycles, selftest_cycles=cycles,
           dram_bytes=len(img.dram), instructions=len(img.program), core_mhz=out, pll=dict(clki_div=ki, clkfb_div=kf, clkop_div=kop, vco_mhz=out * kop),
           simulation="pass, in the model's cycles (and fail with one wrong byte expected)", fpga=None)
  if write_bitstream:
    from ..rtl.fpga import bitstream
    r["fpga"] = bitstream(BoardTop(board, img.build(), out), board.name, board.target, lpf(board, out), out, progress=progress, seed=pnr_seed)
  return r
