"""Fusion rules (compiler/schedule.FUSIONS) on transformer blocks: a residual add fused into the matmul that produces
one operand gives the same integers as the unfused schedule, on one core and split over two."""
import numpy as np
import pytest

from tinyaccel.arch.config import load_config
from tinyaccel.compiler.schedule import AddKernel, GemmKernel, fuse, schedule
from tinyaccel.flow import run_graph
from tinyaccel.workloads.bert import bert


@pytest.mark.parametrize("cores", [1, 2])
def test_bert_layer_residual_adds_fused_into_the_output_projections(cores):
  y = bert(1, 32)
  ks = fuse(schedule(y.node), y.node)
  # both residual adds (attention output + x, FFN output + h) go into their matmuls; nothing else changes
  assert not any(isinstance(k, AddKernel) for k in ks) and len(ks) == len(schedule(y.node)) - 2
  assert [(k.M, k.K, k.N) for k in ks if isinstance(k, GemmKernel) and k.residual is not None] == [(32, 768, 768), (32, 3072, 768)]
  cfg = load_config("edge", cores=cores)
  a, b = run_graph(y, cfg, fusion=False), run_graph(y, cfg)
  assert a.correct and b.correct and np.array_equal(a.output, b.output) and a.accuracy == b.accuracy
  assert [k.fused for k in b.kernels if "add" in k.fused] == [["bias", "requant", "add"]] * 2
