"""The cost model against published accelerators (configs/calibration/, numbers in reports/data/cost_data.json): model /
published within 2x, the goal 1.5x. Rows the model misses by more than 2x are strict xfails with the reason, so a model
change that brings one inside 2x fails here until it is promoted (and the table in docs/cost-model.md updated)."""
import pytest

from tinyaccel.reports.cost import CALIBRATION, calibration

ROWS = {(r["config"], r["quantity"]): r for r in calibration()}
# the SoC's CPUs/GPU/ISP (FSD) and the bf16 MXUs the config cannot express (TPU v4i): see `why` in reports/cost.CALIBRATION
OUTSIDE_2X = {("tesla_fsd", "die area (mm^2)"), ("tpu_v4i", "die area (mm^2)"), ("tpu_v4i", "peak power (W)")}

@pytest.mark.parametrize("key", [(c, q) for c, q, *_ in CALIBRATION], ids=lambda k: f"{k[0]}-{k[1].split()[0]}{k[1].split()[1]}")
def test_within_2x(key):
  r = ROWS[key]
  if key in OUTSIDE_2X: pytest.xfail(f"{r['ratio']:.2f}x: {r['why']}")
  assert 0.5 <= r["ratio"] <= 2, f"{key}: model {r['model']:.3g} vs published {r['published']:.3g} ({r['ratio']:.2f}x)"

def test_outside_rows_are_really_outside():
  for key in OUTSIDE_2X: assert not 0.5 <= ROWS[key]["ratio"] <= 2, f"{key} is within 2x now: promote it"

def test_published_numbers_are_the_cited_ones():
  assert ROWS[("tpu_v1", "die area (mm^2)")]["published"] == 331 and ROWS[("nvdla_2048", "core area (mm^2)")]["published"] == 5.5
  assert ROWS[("eyeriss", "die area (mm^2)")]["published"] == 16 and ROWS[("eyeriss", "chip power (W)")]["published"] == pytest.approx(0.278)
  assert ROWS[("tesla_fsd", "die area (mm^2)")]["published"] == 260 and ROWS[("tpu_v4i", "peak power (W)")]["published"] == 175
  assert ROWS[("tesla_fsd", "chip power (W)")]["published"] == 36 and ROWS[("tpu_v1", "peak power (W)")]["published"] == 75

def test_within_1_5x():
  """The goal: rows inside 1.5x (a regression test: a model change that pushes one out fails here)."""
  inside = {k for k, r in ROWS.items() if 1 / 1.5 <= r["ratio"] <= 1.5}
  assert inside == {("tpu_v1", "peak power (W)"), ("nvdla_2048", "core area (mm^2)"), ("tesla_fsd", "chip power (W)"), ("eyeriss", "chip power (W)")}
