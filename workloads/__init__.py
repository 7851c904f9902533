"""Networks written with the Tensor frontend, by name: `tinyaccel run NAME`, `tinyaccel list`."""
from __future__ import annotations


def _mlp(batch=64, d_in=256, d_hidden=512, d_out=10):
  from ..compiler.tensor import Tensor
  x = Tensor.randn(batch, d_in, seed=0)
  w1, b1 = (Tensor.randn(d_hidden, d_in, seed=1) * d_in ** -0.5).realize(), (Tensor.randn(d_hidden, seed=2) * 0.1).realize()
  w2, b2 = (Tensor.randn(d_out, d_hidden, seed=3) * d_hidden ** -0.5).realize(), (Tensor.randn(d_out, seed=4) * 0.1).realize()
  return x.linear(w1, b1).relu().linear(w2, b2)

def _resnet(depth):
  def build(batch=1, size=224):
    from .resnet import resnet
    return resnet(depth, batch, size)
  return build

def _mobilenet(batch=1, size=224):
  from .mobilenet import mobilenet_v2
  return mobilenet_v2(batch, size)

def _bert(layers):
  def build(seq=128, batch=1):
    from .bert import bert
    return bert(layers, seq, batch=batch)
  return build

def _gpt2(layers):
  def build(seq=128):
    from .gpt2 import gpt2
    return gpt2(layers, seq, final_norm=layers > 1)
  return build

def _driving(batch=1):
  from .openpilot import driving_net
  return driving_net(batch)

WORKLOADS = {
  "mlp": (_mlp, "2-layer MLP, 64 x 256 -> 512 -> 10"),
  "resnet18": (_resnet(18), "ResNet-18, 224x224, batch 1"),
  "resnet50": (_resnet(50), "ResNet-50, 224x224, batch 1"),
  "mobilenetv2": (_mobilenet, "MobileNetV2 1.0, 224x224, batch 1"),
  "bert_layer": (_bert(1), "BERT-base layer, seq 128 (768, 12 heads)"),
  "bert": (_bert(12), "BERT-base encoder, 12 layers, seq 128"),
  "gpt2_block": (_gpt2(1), "GPT-2 small block, prefill seq 128"),
  "gpt2": (_gpt2(12), "GPT-2 small, 12 blocks, prefill seq 128"),
  "openpilot": (_driving, "driving vision net, 3x128x256, path head"),
}
