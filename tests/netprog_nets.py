"""Small networks compiled as one program (tests/test_netprog.py, tests/rtl/test_networks.py)."""
import importlib.util
import os

from tinyaccel.compiler.tensor import Tensor


def _w(shape, fan_in, seed): return (Tensor.randn(*shape, seed=seed) * fan_in ** -0.5).realize()
def _b(n, seed): return (Tensor.randn(n, seed=seed) * 0.1).realize()

def residual_cnn(size=8, c=8):
  """conv-relu, a basic residual block (conv-relu, conv + skip, relu: the add fused into the second conv), max pool, linear."""
  x = Tensor.randn(1, 3, size, size, seed=0)
  h = x.conv2d(_w((c, 3, 3, 3), 27, 1), _b(c, 2), padding=1).relu()
  r = h.conv2d(_w((c, c, 3, 3), 9 * c, 3), _b(c, 4), padding=1).relu()
  h = (r.conv2d(_w((c, c, 3, 3), 9 * c, 5), _b(c, 6), padding=1) + h).relu().max_pool2d(2)
  return h.reshape(1, -1).linear(_w((4, c * (size // 2) ** 2), c * (size // 2) ** 2, 7), _b(4, 8))

def attention(seq=8, d_model=16, d_head=8):
  """examples/attention.py: projections, scaled QKᵀ (the Kᵀ copy kernel on os; transpose_b MATMULs on ws), softmax, ·V, the output projection."""
  spec = importlib.util.spec_from_file_location("attention", os.path.join(os.path.dirname(__file__), "..", "examples", "attention.py"))
  mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
  return mod.workload(seq=seq, d_model=d_model, d_head=d_head)
