"""Views against numpy: every movement op and their compositions, including reshapes of permuted,
shrunk and padded views (which may stack a second View)."""
from hypothesis import given, settings
from hypothesis import strategies as st
import numpy as np

from tinyaccel.compiler.view import ShapeTracker, View

BUF = np.arange(2 * 3 * 4 * 5)

def same(tr, ref):
  got = tr.gather(BUF)                                 # index arithmetic
  assert got.shape == ref.shape and np.array_equal(got, ref)
  assert np.array_equal(tr.realize(BUF), ref)          # numpy strides: the interpreter's fast path

def test_each_op():
  t, r = ShapeTracker.contiguous((2, 3, 4, 5)), BUF.reshape(2, 3, 4, 5)
  same(t.permute((3, 1, 0, 2)), r.transpose(3, 1, 0, 2))
  same(t.shrink(((1, 2), (0, 3), (1, 3), (2, 5))), r[1:2, :, 1:3, 2:5])
  same(t.pad(((1, 0), (0, 2), (0, 0), (3, 1))), np.pad(r, ((1, 0), (0, 2), (0, 0), (3, 1))))
  same(t.flip((0, 3)), r[::-1, :, :, ::-1])
  same(t.stride((1, 2, 3, 2)), r[:, ::2, ::3, ::2])
  same(t.reshape((2, 3, 1, 4, 5)).expand((2, 3, 7, 4, 5)), np.broadcast_to(r.reshape(2, 3, 1, 4, 5), (2, 3, 7, 4, 5)))
  assert t.permute((1, 0, 2, 3)).reshape((3, 2, 20)).view is not None         # merges without a copy
  assert t.permute((1, 0, 2, 3)).reshape((6, 20)).view is None                # needs a second View
  same(t.permute((1, 0, 2, 3)).reshape((6, 20)), r.transpose(1, 0, 2, 3).reshape(6, 20))
  assert View.contiguous((4, 6)).permute((1, 0)).reshape((2, 3, 4)) == View((2, 3, 4), (3, 1, 6))   # splitting an axis is a view

MOVES = st.sampled_from(["permute", "shrink", "pad", "flip", "stride", "reshape", "expand"])

@settings(max_examples=150, deadline=None)
@given(moves=st.lists(st.tuples(MOVES, st.randoms(use_true_random=False)), min_size=1, max_size=6))
def test_random_compositions(moves):
  t, r = ShapeTracker.contiguous((2, 3, 4, 5)), BUF.reshape(2, 3, 4, 5)
  for op, rnd in moves:
    nd = len(r.shape)
    if op == "permute":
      order = list(range(nd)); rnd.shuffle(order); t, r = t.permute(tuple(order)), r.transpose(order)
    elif op == "shrink":
      arg = [(lo, rnd.randint(lo + 1, s)) for s in r.shape for lo in [rnd.randint(0, s - 1)]]
      t, r = t.shrink(tuple(arg)), r[tuple(slice(a, b) for a, b in arg)]
    elif op == "pad" and r.size < 2000:
      arg = tuple((rnd.randint(0, 2), rnd.randint(0, 2)) for _ in r.shape); t, r = t.pad(arg), np.pad(r, arg)
    elif op == "flip":
      axes = tuple(a for a in range(nd) if rnd.random() < 0.5); t, r = t.flip(axes), np.flip(r, axes) if axes else r
    elif op == "stride" and t.views[-1].mask is None:
      steps = tuple(rnd.randint(1, 3) for _ in r.shape); t, r = t.stride(steps), r[tuple(slice(None, None, k) for k in steps)]
    elif op == "reshape":
      flat = r.size; shape = [d for d in (2, 3, 5, 7) if flat % d == 0][:1]
      shape = (shape[0], flat // shape[0]) if shape and rnd.random() < 0.5 else (flat,)
      t, r = t.reshape(shape), r.reshape(shape)
    elif op == "expand" and r.size < 500:
      t, r = t.reshape(r.shape + (1,)).expand(r.shape + (3,)), np.broadcast_to(r.reshape(r.shape + (1,)), r.shape + (3,))
  same(t, r)
