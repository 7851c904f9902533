"""The instruction set: one 128-bit layout shared by the assembler, the model and the RTL.

Decoupled access/execute: LOAD runs on the load queue, MATMUL on the compute queue, STORE on the
store queue, SYNC on the queue it names. Queues are in order; they meet only through dependency
tokens (docs/isa.md). The Amaranth `Instruction` layout below is the single definition of every
field; the Python codec reads its offsets, and the RTL decodes a `Signal(Instruction)`.
"""
from __future__ import annotations

import re

from amaranth.lib import data, enum

INSTR_BITS = 128
INSTR_BYTES = INSTR_BITS // 8

class IsaError(ValueError):
  """A malformed instruction or program; the message is one line."""

class Opcode(enum.Enum, shape=4):
  LOAD = 1     # DRAM -> scratchpad or accumulator (load queue)
  STORE = 2    # scratchpad or accumulator -> DRAM (store queue)
  MATMUL = 3   # C (+)= A . B on the systolic array (compute queue)
  SYNC = 4     # no data; only waits for and signals tokens (queue given by `queue`)
  VECTOR = 5   # elementwise/reduce over SRAM lines on the vector unit (store queue: post-processing)

class VecOp(enum.Enum, shape=5):
  """Vector functions; bit-exact definitions in arch/vector.py."""
  ADD = 0; SUB = 1; MUL = 2; MAX = 3; MIN = 4; CMPLT = 5; SELECT = 6
  SHL = 7; SRA = 8; SRAR = 9; REQUANT = 10; RSUM = 11; RMAX = 12; COPY = 13
  EXP2 = 14; LOG2 = 15; RECIP = 16; RSQRT = 17      # fixed-point approximations: 256-entry tables + linear interpolation
  LSUM = 18; LMAX = 19                               # reduce across the lanes of each line, result in every lane
  RESCALE = 20; ADDRS = 21                           # the TFLite ADD's operand rescale (int8 << 20, REQUANT) alone / added to src1
  GELU = 22                                          # the GELU's factor Phi(x) in Q0.31: a 513-point table + linear interpolation
  BIASRQ = 23                                        # REQUANT(src1 + bias line) by a broadcast multiplier line: the conv epilogue in one pass

# funct values by what they read and write (the model, the timing rule and the RTL all use these)
UNARY_FUNCTS = frozenset(o.value for o in (VecOp.SHL, VecOp.SRA, VecOp.SRAR, VecOp.RSUM, VecOp.RMAX, VecOp.COPY, VecOp.EXP2, VecOp.LOG2,
                                           VecOp.RECIP, VecOp.RSQRT, VecOp.LSUM, VecOp.LMAX, VecOp.GELU))   # read no src2
REDUCE_ROWS_FUNCTS = frozenset(o.value for o in (VecOp.RSUM, VecOp.RMAX))                      # write one dst line for all rows
READS_DST_FUNCTS = frozenset({VecOp.SELECT.value})                                             # read dst: the selector
BIAS_FUNCTS = frozenset({VecOp.BIASRQ.value})                                                  # read a bias line at src2_addr + imm, in row 0

class Queue(enum.Enum, shape=2):
  LOAD = 0
  COMPUTE = 1
  STORE = 2

class Mem(enum.Enum, shape=1):
  SPAD = 0     # int8 lines of max(rows, cols) bytes
  ACC = 1      # int32 lines of cols x 4 bytes

# names by value, as traces, statistics and messages spell them
QUEUE_NAMES = tuple(q.name.lower() for q in Queue)    # load, compute, store
MEM_NAMES = tuple(m.name.lower() for m in Mem)        # spad, acc
# the queue each opcode runs on; a SYNC runs on the one its `queue` field names
QUEUE_OF = {Opcode.LOAD: Queue.LOAD, Opcode.MATMUL: Queue.COMPUTE, Opcode.STORE: Queue.STORE, Opcode.VECTOR: Queue.STORE}

# Token flags: `prev`/`next` are the neighbouring queues in the order load -> compute -> store.
Header = data.StructLayout({
  "opcode": Opcode, "wait_prev": 1, "wait_next": 1, "signal_prev": 1, "signal_next": 1,
})
# A DMA moves `outer` x `rows` lines of `line_bytes` bytes. Line (o, r) comes from DRAM address
# dram_addr + o*outer_stride + r*dram_stride and goes to SRAM line sram_addr + o*rows + r.
Dma = data.StructLayout({
  "mem": Mem, "sram_addr": 18, "dram_addr": 32, "line_bytes": 11, "rows": 12,
  "dram_stride": 20, "outer": 7, "outer_stride": 19,
})
# acc[c_addr..] (+)= A[m x k] . B[k x n]; operand layouts in docs/isa.md. transpose_b (ws, rows == cols): B is held as
# B^T's lines (k-folds of n lines, a line per column of B) and each weight tile is shifted in from the side.
Matmul = data.StructLayout({
  "a_addr": 18, "b_addr": 18, "c_addr": 18, "m": 14, "k": 14, "n": 14, "accumulate": 1, "transpose_b": 1,
})
Sync = data.StructLayout({"queue": Queue})
# dst[r] = funct(src1[r], src2[r] | src2[0] (src2_bcast) | imm (src2_imm)), then max(., 0) if relu, over `rows` lines of `cols` elements
Vector = data.StructLayout({
  "funct": VecOp, "dst_mem": Mem, "dst_addr": 18, "src1_mem": Mem, "src1_addr": 18, "src2_mem": Mem, "src2_addr": 18,
  "rows": 12, "imm": 32, "shift": 6, "src2_imm": 1, "src2_bcast": 1,
  "relu": 1,      # write max(result, 0): a fused ReLU (after REQUANT it equals a ReLU before it, saving a pass)
})

BODY_BITS = INSTR_BITS - Header.size
Instruction = data.StructLayout({
  "header": Header,
  "body": data.UnionLayout({"dma": Dma, "matmul": Matmul, "sync": Sync, "vector": Vector, "raw": BODY_BITS}),
})
assert Instruction.size == INSTR_BITS and max(l.size for l in (Dma, Matmul, Sync, Vector)) <= BODY_BITS

BODY = {Opcode.LOAD: "dma", Opcode.STORE: "dma", Opcode.MATMUL: "matmul", Opcode.SYNC: "sync", Opcode.VECTOR: "vector"}
ENUMS = {"opcode": Opcode, "mem": Mem, "queue": Queue, "funct": VecOp, "dst_mem": Mem, "src1_mem": Mem, "src2_mem": Mem}
SIGNED = {"imm"}   # two's complement fields: text shows them signed
FLAGS = ("wait_prev", "wait_next", "signal_prev", "signal_next")

def _fields(layout, base=0):
  return {name: (base + f.offset, f.width) for name, f in layout}

_HEADER = _fields(Header)
FIELDS = {op: _fields(Instruction["body"].shape[kind].shape, Header.size) for op, kind in BODY.items()}   # body fields by opcode
FIELD_MAX = {op: {k: (1 << w) - 1 for k, (_, w) in f.items()} for op, f in FIELDS.items()}           # the largest value each holds
_BODY = FIELDS

class Instr:
  """One decoded instruction: an opcode, the four token flags and the body fields of its kind."""
  __slots__ = ("opcode", "f")
  def __init__(self, opcode: Opcode, **fields):
    self.opcode, body = Opcode(opcode), FIELDS[Opcode(opcode)]
    for k in fields:
      if k not in body and k not in FLAGS: raise IsaError(f"{self.opcode.name.lower()} has no field {k!r} (fields: {', '.join([*body, *FLAGS])})")
    self.f = {k: int(fields.get(k, 0)) for k in (*FLAGS, *body)}
  def __getattr__(self, name):
    try: return self.f[name]
    except KeyError: raise AttributeError(name) from None
  def __eq__(self, other): return isinstance(other, Instr) and self.opcode == other.opcode and self.f == other.f
  def __hash__(self): return hash((self.opcode, tuple(self.f.items())))
  def __repr__(self): return disasm_one(self)
  @property
  def queue(self) -> Queue:
    return QUEUE_OF.get(self.opcode) or Queue(self.f["queue"])
  def signed(self, name: str) -> int:
    """A two's complement field (SIGNED) as a Python int."""
    v, w = self.f[name], FIELDS[self.opcode][name][1]
    return v - (1 << w) if v >> (w - 1) else v

# ---- binary ----
def encode(ins: Instr) -> int:
  word = ins.opcode.value << _HEADER["opcode"][0]
  for name, (off, width) in [*((k, _HEADER[k]) for k in FLAGS), *_BODY[ins.opcode].items()]:
    v = ins.f[name]
    if not 0 <= v < 1 << width: raise IsaError(f"{ins.opcode.name.lower()}: {name}={v} does not fit in {width} bits")
    word |= v << off
  return word

def decode(word: int) -> Instr:
  off, width = _HEADER["opcode"]
  code = (word >> off) & ((1 << width) - 1)
  try: op = Opcode(code)
  except ValueError: raise IsaError(f"invalid opcode {code} in instruction 0x{word:032x}") from None
  get = lambda ow: (word >> ow[0]) & ((1 << ow[1]) - 1)
  fields = {k: get(_HEADER[k]) for k in FLAGS} | {k: get(ow) for k, ow in _BODY[op].items()}
  used = sum(((1 << w) - 1) << o for o, w in [*_HEADER.values(), *_BODY[op].values()])
  if word & ~used: raise IsaError(f"{op.name.lower()}: bits set outside its fields in 0x{word:032x}")
  for k, e in ENUMS.items():
    if k in fields and k != "opcode":
      try: e(fields[k])
      except ValueError: raise IsaError(f"{op.name.lower()}: invalid {k} {fields[k]}") from None
  return Instr(op, **fields)

def encode_program(prog: list[Instr]) -> bytes:
  return b"".join(encode(i).to_bytes(INSTR_BYTES, "little") for i in prog)

def decode_program(blob: bytes) -> list[Instr]:
  if len(blob) % INSTR_BYTES: raise IsaError(f"program is {len(blob)} bytes, not a multiple of {INSTR_BYTES}")
  prog = []
  for i in range(0, len(blob), INSTR_BYTES):
    try: prog.append(decode(int.from_bytes(blob[i:i + INSTR_BYTES], "little")))
    except IsaError as e: raise IsaError(f"instruction {i // INSTR_BYTES}: {e}") from None
  return prog

# ---- text assembly: `opcode field=value ... [wait=prev,next] [signal=next]`, `#` comments ----
def disasm_one(ins: Instr) -> str:
  parts = [ins.opcode.name.lower()]
  for k in FIELDS[ins.opcode]:
    v = ins.signed(k) if k in SIGNED else ins.f[k]
    parts.append(f"{k}={ENUMS[k](v).name.lower()}" if k in ENUMS else f"{k}={hex(v)}" if k == "dram_addr" else f"{k}={v}")
  for what in ("wait", "signal"):
    sides = [s for s in ("prev", "next") if ins.f[f"{what}_{s}"]]
    if sides: parts.append(f"{what}={','.join(sides)}")
  return " ".join(parts)

def disasm(prog: list[Instr]) -> str:
  return "".join(f"{disasm_one(i)}\n" for i in prog)

def asm(text: str) -> list[Instr]:
  prog = []
  for n, line in enumerate(text.splitlines(), 1):
    toks = re.sub(r"[#;].*", "", line).split()
    if not toks: continue
    try: prog.append(_asm_line(toks))
    except IsaError as e: raise IsaError(f"line {n}: {e}") from None
  return prog

def _asm_line(toks) -> Instr:
  try: op = Opcode[toks[0].upper()]
  except KeyError: raise IsaError(f"unknown opcode {toks[0]!r} (opcodes: {', '.join(o.name.lower() for o in Opcode)})") from None
  fields = {}
  for t in toks[1:]:
    k, eq, v = t.partition("=")
    if not eq or not v: raise IsaError(f"expected field=value, got {t!r}")
    if k == "opcode": raise IsaError(f"{t!r}: the opcode is the first word, not a field")
    if k in fields or (k in ("wait", "signal") and any(f.startswith(k + "_") for f in fields)): raise IsaError(f"field {k!r} given twice")
    if k in ("wait", "signal"):
      for side in v.split(","):
        if side not in ("prev", "next"): raise IsaError(f"{k} takes prev and/or next, got {side!r}")
        fields[f"{k}_{side}"] = 1
    elif k in ENUMS:
      try: fields[k] = ENUMS[k][v.upper()].value
      except KeyError: raise IsaError(f"{k}={v}: must be one of {', '.join(e.name.lower() for e in ENUMS[k])}") from None
    else:
      try: fields[k] = int(v, 0)
      except ValueError: raise IsaError(f"{k}={v}: not an integer") from None
      w = FIELDS[op][k][1] if k in FIELDS[op] else 0
      if k in SIGNED and w and -(1 << (w - 1)) <= fields[k] < 0: fields[k] += 1 << w
  ins = Instr(op, **fields)
  encode(ins)   # range-check every field now, with the field's name in the message
  return ins
