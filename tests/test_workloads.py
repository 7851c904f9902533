"""Networks at their published shapes: parameter and MAC counts, and a quantized end-to-end run."""
import numpy as np
import pytest

from tinyaccel.arch.config import load_config
from tinyaccel.compiler.schedule import AddKernel, ConvKernel, GemmKernel, PoolKernel, schedule
from tinyaccel.flow import run_graph
from tinyaccel.workloads import WORKLOADS
from tinyaccel.workloads.resnet import resnet


def conv_macs(k): return int(np.prod(k.out.shape)) * int(np.prod(k.w.shape[1:]))

def test_resnet50_shapes_and_macs():
  ks = schedule(resnet(50).node)
  convs = [k for k in ks if isinstance(k, ConvKernel)]
  assert len(convs) == 53 and sum(isinstance(k, AddKernel) for k in ks) == 16 and sum(isinstance(k, PoolKernel) for k in ks) == 2
  # analytical: stem 112*112*64*147, then per bottleneck 1x1, 3x3, 1x1 (+ projection), fc 2048*1000
  macs = 112 * 112 * 64 * 3 * 49
  cin, hw = 64, 56
  for stage, (n, w) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512))):
    for i in range(n):
      s = 2 if stage > 0 and i == 0 else 1
      o = hw // s
      macs += hw * hw * cin * w + o * o * w * w * 9 + o * o * w * 4 * w + (o * o * cin * 4 * w if i == 0 else 0)
      cin, hw = 4 * w, o
  fc = [k for k in ks if isinstance(k, GemmKernel)]
  assert sum(map(conv_macs, convs)) == macs and [(k.M, k.K, k.N) for k in fc] == [(1, 2048, 1000)]
  assert macs + 2048 * 1000 == 4_089_184_256                      # the 4.09 GMACs usually quoted
  assert [k.out.shape for k in convs[:1]] == [(1, 64, 112, 112)]

def test_resnet18_runs_quantized_end_to_end():
  y = resnet(18, size=64)
  r = run_graph(y, load_config("edge"))
  assert r.correct and r.accuracy["cosine_similarity"] >= 0.99
  assert sum(k.stats.macs for k in r.kernels if k.op == "conv2d") == sum(conv_macs(k) for k in schedule(y.node) if isinstance(k, ConvKernel))

def test_registry():
  assert {"mlp", "resnet18", "resnet50"} <= set(WORKLOADS)
  with pytest.raises(ValueError, match="ResNet-19"): resnet(19)

def test_mobilenet_v2_shapes_and_a_quantized_run():
  from tinyaccel.workloads.mobilenet import mobilenet_v2
  ks = schedule(mobilenet_v2().node)
  convs = [k for k in ks if isinstance(k, ConvKernel)]
  assert len(convs) == 52 and sum(k.groups > 1 for k in convs) == 17 and sum(isinstance(k, AddKernel) for k in ks) == 10
  assert sum(map(conv_macs, convs)) + 1280 * 1000 == 300_774_272          # the ~300 M MACs usually quoted
  assert sum(k.clamp == 6.0 for k in convs) == 35                           # ReLU6 fused into every expansion, depthwise and the last conv
  r = run_graph(mobilenet_v2(size=32), load_config("edge"))
  assert r.correct and r.accuracy["cosine_similarity"] >= 0.99 and sum(k.op == "depthwise_conv2d" for k in r.kernels) == 17

def test_openpilot_style_driving_net():
  from tinyaccel.workloads.openpilot import PATH_POINTS, backbone_convs, driving_net
  convs = backbone_convs(128, 256)
  assert [c[3:] for c in convs][-1] == (4, 8) and len(convs) == 8
  ks = schedule(driving_net().node)
  conv_k, fc = [k for k in ks if isinstance(k, ConvKernel)], [k for k in ks if isinstance(k, GemmKernel)]
  assert sum(map(conv_macs, conv_k)) == sum(h * w * co * ci * 9 for ci, co, _, h, w in convs)
  assert [(k.M, k.K, k.N) for k in fc] == [(1, 256 * 4 * 8, 512), (1, 512, 2 * PATH_POINTS)] and all(k.relu for k in conv_k)
  params = sum(int(np.prod(k.inputs[1].shape)) + int(np.prod(k.bias.shape)) for k in conv_k + fc)
  assert params == sum(ci * co * 9 + co for ci, co, *_ in convs) + 8192 * 512 + 512 + 512 * 66 + 66
  r = run_graph(driving_net(h=32, w=64), load_config("edge"))
  assert r.correct and r.accuracy["cosine_similarity"] >= 0.99 and r.output.shape == (1, 2 * PATH_POINTS)
  assert "openpilot" in WORKLOADS
