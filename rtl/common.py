"""Small building blocks shared by the RTL units."""
from amaranth.hdl import Module, Mux, Signal, Value


def delay(m: Module, sig, n: int, name: str):
  """`sig` delayed by n cycles through registers."""
  for k in range(n):
    r = Signal.like(sig, name=f"{name}_d{k}"); m.d.sync += r.eq(sig); sig = r
  return sig

def latched(m: Module, issue, fields: dict, prefix: str) -> tuple[dict, dict]:
  """An instruction's fields as a unit sees them: straight from the queue head in the cycle it issues
  (so the unit works in that very cycle, as docs/timing.md requires), from registers afterwards.
  Returns (this cycle's values, the registers)."""
  cur, regs = {}, {}
  for k, v in fields.items():
    regs[k] = reg = Signal(len(Value.cast(v)), name=f"{prefix}_{k}")
    with m.If(issue): m.d.sync += reg.eq(v)
    cur[k] = Mux(issue, v, reg)
  return cur, regs
