from hypothesis import given, settings
from hypothesis import strategies as st
import pytest

from tinyaccel.arch.isa import (
  FIELDS,
  FLAGS,
  INSTR_BITS,
  Instr,
  Instruction,
  IsaError,
  Opcode,
  asm,
  decode,
  decode_program,
  disasm,
  encode,
  encode_program,
)

ENUM_LIMIT = {"mem": 2, "queue": 3, "funct": 20, "dst_mem": 2, "src1_mem": 2, "src2_mem": 2}

@st.composite
def instrs(draw, op=None):
  op = draw(st.sampled_from(list(Opcode))) if op is None else op
  f = {k: draw(st.integers(0, ENUM_LIMIT.get(k, 1 << w) - 1)) for k, (_, w) in FIELDS[op].items()}
  f |= {k: draw(st.integers(0, 1)) for k in FLAGS}
  return Instr(op, **f)

@pytest.mark.parametrize("op", list(Opcode))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_roundtrip_every_opcode(op, data):
  ins = data.draw(instrs(op))
  word = encode(ins)
  assert 0 <= word < 1 << INSTR_BITS and decode(word) == ins
  assert asm(disasm([ins])) == [ins]

def test_layout_is_the_single_definition():
  # the Python codec agrees with Amaranth's own packing of the same layout
  ins = Instr(Opcode.MATMUL, a_addr=5, b_addr=70000, c_addr=3, m=1000, k=77, n=9, accumulate=1, wait_prev=1, signal_next=1)
  c = Instruction.const({"header": {"opcode": Opcode.MATMUL, "wait_prev": 1, "signal_next": 1},
                         "body": {"matmul": {"a_addr": 5, "b_addr": 70000, "c_addr": 3, "m": 1000, "k": 77, "n": 9, "accumulate": 1}}})
  assert c.as_value().value == encode(ins)

def test_program_roundtrip_and_errors():
  prog = asm("""
    load mem=spad sram_addr=0 dram_addr=0x40 line_bytes=4 rows=4 dram_stride=4 outer=1 outer_stride=0  # A
    matmul a_addr=0 b_addr=512 c_addr=0 m=4 k=4 n=4 wait=prev signal=next
    store mem=acc sram_addr=0 dram_addr=0 line_bytes=16 rows=4 dram_stride=16 outer=1 outer_stride=0 wait=prev
    sync queue=compute signal=prev
  """)
  assert [i.opcode for i in prog] == [Opcode.LOAD, Opcode.MATMUL, Opcode.STORE, Opcode.SYNC]
  assert decode_program(encode_program(prog)) == prog and len(encode_program(prog)) == 64
  for text, msg in [("frob x=1", "unknown opcode"), ("matmul m=99999", "does not fit in 14 bits"), ("matmul q=1", "no field 'q'"),
                    ("matmul m", "expected field=value"), ("load mem=dram", "mem=dram"), ("matmul wait=up", "prev and/or next"), ("matmul m=x", "not an integer")]:
    with pytest.raises(IsaError, match=msg): asm(text)
  with pytest.raises(IsaError, match="line 2"): asm("sync queue=load\nbogus")
  with pytest.raises(IsaError, match="multiple of 16"): decode_program(b"\0" * 17)
  with pytest.raises(IsaError, match="invalid opcode 0"): decode_program(b"\0" * 16)
  with pytest.raises(IsaError, match="outside its fields"): decode(encode(prog[3]) | 1 << 120)
