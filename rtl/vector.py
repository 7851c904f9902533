"""The vector unit on the store queue: `vector_lanes` elements of each operand line per cycle, bit-exact
with arch/vector.py. A read stage and VECTOR_STAGES (docs/timing.md, arch/timing.py) after it: it reads a chunk's
operand lines (src1, src2, dst: arch/timing.vector_reads) through the store queue's one read port on each SRAM,
one line per memory per cycle (arch/timing.vector_steps cycles); in the cycle after the last read the operands
arrive (lines read in earlier steps wait in operand registers) and the row and line reductions run; three compute
stages follow (leading one, lookup address and product; lookup and requantization; the choice of
result), then the scaler and the write. The unit holds the store queue until the last chunk's write, so the next
instruction, which issues in that cycle and whose reads are transparent to it, reads what this one wrote. The
model reads every operand before it writes: row r is written before row r + 1 is read, so the model refuses a
destination inside a later row of a source, and a broadcast src2 line is read once, in row 0, and held.
"""
from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory, ReadPort, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..arch import vector as V
from ..arch.config import DTYPE_BYTES, AccelConfig
from ..arch.isa import BIAS_FUNCTS, READS_DST_FUNCTS, REDUCE_ROWS_FUNCTS, UNARY_FUNCTS, Instruction, Mem, VecOp, Vector
from ..arch.timing import VECTOR_STAGES
from ..arch.vector import I8_MAX, I8_MIN, I32_MAX, I32_MIN, INTERP_BITS, TABLE_BITS
from .common import latched
from .sram import line_layout

TABLES = (V.EXP2_TABLE, V.LOG2_TABLE, V.RECIP_TABLE, V.RSQRT_TABLE, V.GELU_TABLE, V.RSQRT_ODD_TABLE)   # words from 256·(funct - EXP2);
GELU_BASE = 4 << TABLE_BITS                  # GELU's 512 from word 1024: address Cat(its 9 index bits, 0b10)
RSQRT_ODD_BASE = 6 << TABLE_BITS             # RSQRT of an odd exponent: 256 from word 1536 (table 6 of 256 words)
# one 1792-word ROM, each word (value, step to the next entry) as two int32: one read per lane, no adder for the step.
# A Memory, not an Array of constants: the Verilog is one initialized array instead of a 1792-way case per lane.
ROM_INIT = [(int(t[i]) & 0xFFFFFFFF) | (int(t[i + 1] - t[i]) & 0xFFFFFFFF) << 32 for t in TABLES for i in range(len(t) - 1)]
SHIFT_BITS = V.MAX_SHIFT.bit_length()       # the model refuses shifts past MAX_SHIFT, so the unit looks at these bits only

def named(m: Module, value, name: str, shape=None):
  """`value` as a signal: the generated Verilog then shares it instead of repeating the expression."""
  sig = Signal(shape if shape is not None else value.shape(), name=name)
  m.d.comb += sig.eq(value)
  return sig

def _leading_one(m: Module, x, name: str):
  """(p, m): x = 2^p (1 + m / 2^30) for 0 < x < 2^31. p as a tree of halves (log depth, not a 31-way chain)."""
  def top(bits, lo):        # (any bit set, index of the highest set bit) of bits[lo:lo + len(bits)]
    if len(bits) == 1: return bits[0], Const(lo, 5)
    h = len(bits) // 2
    (a_hi, i_hi), (a_lo, i_lo) = top(bits[h:], lo + h), top(bits[:h], lo)
    return a_hi | a_lo, Mux(a_hi, i_hi, i_lo)
  p = named(m, top([x[i] for i in range(31)], 0)[1], f"{name}_p")
  return p, named(m, (x.as_unsigned() << (30 - p).as_unsigned())[:30], f"{name}_m")

def _shift_amounts(m: Module, by, name: str) -> dict:
  """arch.vector._shift's shift of y * 2^by as (left, right, down): left shifts stop at 32 and right shifts at 40,
  which saturates or rounds to zero just the same for 0 <= y < 2^33. Computed a stage ahead of the shifter (the
  74-bit shift and its rounding add fill a stage alone: docs/fpga.md)."""
  by = named(m, by, f"{name}_by")
  return dict(left=Mux(by > 32, 32, Mux(by > 0, by, 0))[:6], right=Mux(by < -40, 40, Mux(by < 0, -by, 0))[:6], down=by < 0)

def _scale(m: Module, y, left, right, down, name: str):
  """arch.vector._shift: y * 2^by, rounding when by < 0, saturating to int32 when by > 0 (y >= 0, so a result
  past int32 has a bit set at 31 or above: an OR, not a 74-bit comparison)."""
  up, low = y << left, (y + ((Const(1, 41) << right) >> 1)) >> right
  out = named(m, Mux(down, low, up), f"{name}_scaled", signed(74))
  return Mux(out[31:].any(), I32_MAX, out[:32])

def srdhm(ab, both_min):
  """arch.vector.srdhm from the product ab = a * b and whether a = b = INT32_MIN (a stage earlier, beside the product)."""
  num = ab + (1 << 30) - Mux(ab < 0, (1 << 31) - 1, 0)
  q = (num + Mux(num < 0, (1 << 31) - 1, 0)) >> 31
  return Mux(both_min, I32_MAX, q)

def round_shift(x, shift):
  mask = (Const(1, 32) << shift[:SHIFT_BITS]) - 1
  threshold = (mask >> 1) + (x < 0)
  return Mux(shift == 0, x, (x >> shift) + ((x & mask) > threshold))

def element(m: Module, rom, funct, s1, s2, d, red, shift, relu, reduce, name: str, stage, imm=0) -> dict:
  """One lane's result (before saturation) of every lane-wise function, selected by funct, in the compute stages
  after the operands' stage (arch/timing.VECTOR_STAGES): `stage(values)` registers a dict of values into the next
  one. MUL and REQUANT share one multiplier, SRAR and REQUANT one rounding shifter, RECIP and RSQRT one scaler.
  `red` is the lane's reduction value (RSUM/RMAX/LSUM/LMAX, chosen by `reduce`), carried along. Returns the lane's
  value as each memory stores it ({"spad": int8, "acc": int32}), the fused ReLU and saturation applied, in the write stage.
  `imm`: the instruction's immediate, ADDRS's multiplier (s2 is its operand there)."""
  is_op = lambda op: funct == op.value
  wrap = lambda v: v[:32].as_signed()
  # 1: the leading one, exponent and fraction; the lookup's address (the ROM reads it); the product; the simple functions
  pos = named(m, s1 > 0, f"{name}_pos")
  p, mant = _leading_one(m, named(m, Mux(pos, s1, 1), f"{name}_x"), name)
  u = named(m, Mux(s1 < 0, -s1, 0), f"{name}_u", unsigned(33))
  frac, n = u & ((Const(1, 33) << shift) - 1), named(m, u >> shift, f"{name}_n", unsigned(33))
  f = named(m, Mux(shift <= 30, frac << (30 - shift).as_unsigned()[:SHIFT_BITS], frac >> 1)[:30], f"{name}_f")
  # GELU (arch.vector.gelu_q31): |x| / 2^(shift + 3) as the table's Q0.30 fraction; past the table (|x| >= 8) s = 0
  g_k = named(m, shift + V.GELU_CLAMP_BITS, f"{name}_gk", unsigned(7))
  g_u = named(m, Mux(s1 < 0, -s1, s1), f"{name}_gu", unsigned(33))
  g_f = named(m, Mux(g_k <= 30, g_u << (30 - g_k).as_unsigned()[:5], g_u >> (g_k - 30).as_unsigned()[:3])[:30], f"{name}_gf")
  g = dict(g_neg=s1 < 0, g_over=Cat(g_u[i] & (g_k <= i) for i in range(33)).any())
  g_lo = V.GELU_TABLE_BITS - TABLE_BITS                                   # its interpolation has this many bits fewer
  frac30 = Mux(is_op(VecOp.GELU), g_f, Mux(is_op(VecOp.EXP2), f, mant))
  odd = named(m, p[0] ^ shift[0], f"{name}_odd")                                             # e = p - shift is odd
  table = Mux(is_op(VecOp.RSQRT) & odd, RSQRT_ODD_BASE >> TABLE_BITS, Cat((funct - VecOp.EXP2.value)[:2], Const(0, 1)))
  m.d.comb += rom.addr.eq(Mux(is_op(VecOp.GELU), Cat(frac30[INTERP_BITS - g_lo:30], Const(GELU_BASE >> V.GELU_TABLE_BITS, 2)),
                              Cat(frac30[INTERP_BITS:30], table[:3])))      # EXP2, LOG2, RECIP, RSQRT: tables 0..3; RSQRT, e odd: 6
  frac22 = Mux(is_op(VecOp.GELU), frac30[:INTERP_BITS - g_lo] << g_lo, frac30[:INTERP_BITS])   # GELU: its 21 low bits as 22
  simple = Const(0, signed(33))
  for op, v in {VecOp.ADD: wrap(s1 + s2), VecOp.SUB: wrap(s1 - s2), VecOp.MAX: Mux(s1 > s2, s1, s2), VecOp.MIN: Mux(s1 < s2, s1, s2),
                VecOp.CMPLT: Mux(s1 < s2, 1, 0), VecOp.SELECT: Mux(d != 0, s1, s2), VecOp.SHL: wrap(s1 << shift),
                VecOp.SRA: s1 >> shift, VecOp.COPY: s1}.items():
    simple = Mux(is_op(op), v, simple)     # a Mux chain, not a Switch: Icarus (always_comb) re-ran a Switch's block forever
  # RESCALE / ADDRS: the one multiplier takes wrap32(s1 << PRESHIFT) by s2, or wrap32(s2 << PRESHIFT) by imm (arch.vector.rescale)
  rescale, addrs = is_op(VecOp.RESCALE), is_op(VecOp.ADDRS)
  ma = named(m, Mux(rescale, wrap(s1 << V.PRESHIFT), Mux(addrs, wrap(s2 << V.PRESHIFT), s1)), f"{name}_ma", signed(32))
  mb = named(m, Mux(addrs, imm, s2), f"{name}_mb", signed(32))
  x = stage(dict(pos=pos, p=p, n=n, e=named(m, p - shift, f"{name}_e", signed(len(shift) + 1)), frac22=frac22,
                 prod=named(m, ma * mb, f"{name}_prod"), both_min=(ma == I32_MIN) & (mb == I32_MIN), s1=s1, simple=simple, red=red, **g))
  # 2: the lookup interpolated (arch.vector._lookup: entry frac >> 22 of a 257-point table, by the low 22 bits); requantize
  value, step = rom.data[:32].as_signed(), rom.data[32:].as_signed()
  lk = named(m, value + ((step * x["frac22"]) >> INTERP_BITS), f"{name}_lookup", signed(33))
  rq = is_op(VecOp.REQUANT) | is_op(VecOp.RESCALE) | is_op(VecOp.ADDRS) | is_op(VecOp.BIASRQ)   # BIASRQ's s1 arrives biased
  rounded = round_shift(named(m, Mux(rq, srdhm(x["prod"], x["both_min"]), x["s1"]), f"{name}_rs", signed(32)), shift)
  y = stage(dict(lk=lk, rounded=rounded, mul=wrap(x["prod"]), **{k: x[k] for k in ("pos", "p", "n", "e", "simple", "red", "s1", *g)}))
  # 3: the scaler's shift; every other function's result
  rsqrt, odd, lk = is_op(VecOp.RSQRT), y["e"][0], y["lk"]
  other = y["simple"]
  for op, v in {VecOp.MUL: y["mul"], VecOp.SRAR: y["rounded"], VecOp.REQUANT: y["rounded"], VecOp.EXP2: Mux(y["n"] > 30, 0, lk >> y["n"][:5]),
                VecOp.LOG2: Mux(y["pos"], (y["e"] << 16) + lk, I32_MIN),
                VecOp.RESCALE: y["rounded"], VecOp.ADDRS: wrap(y["s1"] + y["rounded"]), VecOp.BIASRQ: y["rounded"]}.items():
    other = Mux(is_op(op), v, other)
  g_s = named(m, Mux(y["g_over"], 0, lk), f"{name}_gs", signed(33))         # GELU: Phi = 2s for x < 0, else 1 - 2s, 1 saturating
  g_phi = Mux(y["g_neg"], g_s << 1, Mux(g_s == 0, I32_MAX, (1 << 31) - (g_s << 1)))
  other = Mux(is_op(VecOp.GELU), g_phi, other)
  other = named(m, Mux(reduce, y["red"], other), f"{name}_other", signed(33))
  by = Mux(rsqrt, -((y["e"] - odd) >> 1) - 14, shift - y["p"] - 14)
  z = stage(dict(val=lk, **_shift_amounts(m, by, name), pos=y["pos"], other=other))
  # 4: RECIP and RSQRT scaled (the 74-bit shifter alone: its own stage); every other result clipped beside it
  scaled = named(m, Mux(z["pos"], _scale(m, z["val"], z["left"], z["right"], z["down"], name), I32_MAX), f"{name}_scaled32", signed(33))   # in [0, I32_MAX]: ReLU is a no-op
  x = named(m, Mux(relu & (z["other"] < 0), 0, z["other"]), f"{name}_relu", signed(33))       # the fused ReLU, before saturation
  w = stage(dict(scaled=scaled[:31], o8=Mux(x > I8_MAX, I8_MAX, Mux(x < I8_MIN, I8_MIN, x))[:8], o32=x[:32]))
  # 5: the write: the scaled result (int8-saturated for the scratchpad) or the other one, into the SRAM's write port
  use = (is_op(VecOp.RECIP) | is_op(VecOp.RSQRT)) & ~reduce
  s8 = Mux(w["scaled"][7:].any(), I8_MAX, w["scaled"][:8])
  return {"spad": named(m, Mux(use, s8, w["o8"]), f"{name}_w8"), "acc": named(m, Mux(use, Cat(w["scaled"], 0), w["o32"]), f"{name}_w32")}

class VectorUnit(wiring.Component):
  def __init__(self, cfg: AccelConfig, id_bits: int):
    self.cfg, self.id_bits = cfg, id_bits
    ports = {}
    for mem, lines, line_bytes in (("spad", cfg.spad_lines, cfg.spad_line_bytes), ("acc", cfg.acc_lines, cfg.acc_line_bytes)):
      aw = max(1, ceil_log2(lines))
      ports[f"{mem}_rd"] = In(ReadPort.Signature(addr_width=aw, shape=line_layout(line_bytes)))     # en: reading this cycle
      ports[f"{mem}_wr"] = In(WritePort.Signature(addr_width=aw, shape=line_layout(line_bytes), granularity=1))
    super().__init__({"ins": In(Instruction), "issue": In(1), "id": In(id_bits), "busy": Out(1),
                      "done": Out(1), "done_id": Out(id_bits), "done_signal_prev": Out(1), "done_signal_next": Out(1), **ports})

  def elaborate(self, platform):
    m = Module()
    L, C = self.cfg.vector_lanes, self.cfg.cols
    NC = -(-C // L)
    v, hdr = self.ins.body.vector, self.ins.header
    cur, held = latched(m, self.issue, {k: getattr(v, k) for k, _ in Instruction["body"].shape["vector"].shape} |
                        {"id": self.id, "signal_prev": hdr.signal_prev, "signal_next": hdr.signal_next}, "vec")
    in_set = lambda funct, values: sum(funct == x for x in values).bool()
    # ---- read stage: (row, chunk, step) counters; occupancy = chunks x the rows' read steps (arch/timing.vector_occupancy)
    busy, r_reg, c_reg, s_reg = Signal(), Signal(Vector["rows"].width), Signal(range(NC + 1)), Signal(2)
    active = self.issue | busy
    r, c, step = Mux(self.issue, 0, r_reg), Mux(self.issue, 0, c_reg), Mux(self.issue, 0, s_reg)
    reduce_rows = in_set(cur["funct"], REDUCE_ROWS_FUNCTS)
    # arch/timing.vector_reads: each operand line this row reads, and its step (its place among the reads of its memory)
    reads_src2 = ~cur["src2_imm"] & ~in_set(cur["funct"], UNARY_FUNCTS) & ((r == 0) | ~cur["src2_bcast"])
    reads_dst = in_set(cur["funct"], READS_DST_FUNCTS)
    same = lambda a, b: cur[f"{a}_mem"] == cur[f"{b}_mem"]
    mem_of = lambda role, regs: regs["src2_mem" if role == "bias" else f"{role}_mem"]      # BIASRQ's bias line is in src2's memory
    reads = {"src1": (1, 0, cur["src1_addr"] + r),
             "src2": (reads_src2, same("src1", "src2"), cur["src2_addr"] + Mux(cur["src2_bcast"], 0, r)),
             "dst": (reads_dst, same("src1", "dst") + (reads_src2 & same("src2", "dst")), cur["dst_addr"] + Mux(reduce_rows, 0, r)),
             # BIASRQ: the bias line src2_addr + imm, in row 0 after src2 (its memory's); held for the later rows
             "bias": (in_set(cur["funct"], BIAS_FUNCTS) & (r == 0), same("src1", "src2") + reads_src2, cur["src2_addr"] + cur["imm"][:len(cur["src2_addr"])])}
    per_mem = [sum((mem_of(role, cur) == mem.value) & rd for role, (rd, _, _) in reads.items()) for mem in Mem]
    steps = Mux(per_mem[0] > per_mem[1], per_mem[0], per_mem[1])
    last_s = named(m, step == steps - 1, "last_step")
    last_c, last_r = c == NC - 1, r == cur["rows"] - 1
    m.d.sync += busy.eq(active & ~(last_s & last_c & last_r))
    with m.If(active):
      m.d.sync += [s_reg.eq(Mux(last_s, 0, step + 1)), c_reg.eq(Mux(last_s, Mux(last_c, 0, c + 1), c)), r_reg.eq(Mux(last_s & last_c, r + 1, r))]
    fresh = {}    # role: its line arrives from its memory's port this (compute-stage) cycle
    for mem in Mem:
      port = getattr(self, f"{mem.name.lower()}_rd")
      addr, en = 0, 0
      for role, (rd, at, line_addr) in reads.items():
        now = named(m, active & rd & (mem_of(role, cur) == mem.value) & (at == step), f"read_{role}_{mem.name.lower()}")
        addr, en = Mux(now, line_addr, addr), en | now
        fresh.setdefault(role, []).append(now)
      m.d.comb += [port.addr.eq(addr), port.en.eq(en)]
    st = {k: Signal(w, name=f"st_{k}") for k, w in (("valid", 1), ("c", len(c_reg)), ("first_r", 1), ("last_r", 1), ("last_c", 1))}
    m.d.sync += [st["valid"].eq(active & last_s), st["c"].eq(c), st["first_r"].eq(r == 0), st["last_r"].eq(last_r), st["last_c"].eq(last_c)]
    fresh_st = {role: Signal(name=f"fresh_{role}") for role in reads}
    m.d.sync += [fresh_st[role].eq(Cat(now).any()) for role, now in fresh.items()]
    # ---- compute and write stage, on the instruction's latched fields
    f, sh = held["funct"], held["shift"]
    imm = held["imm"].as_signed()
    def chunk(line):
      """Lane l of this cycle's chunk: element c * lanes + l of `line` (zero past cols). A Mux chain, as in element()."""
      lanes = []
      for l in range(L):
        x = Const(0, signed(32))
        for k in range(NC):
          if k * L + l < C: x = Mux(st["c"] == k, line[k * L + l], x) if NC > 1 else line[k * L + l]
        lanes.append(x)
      return lanes
    def operand(role):
      """The chunk's `lanes` elements of an operand line: int8 sign-extended from the scratchpad, int32 from the accumulator;
      from its memory's port in the cycle after its read, from its operand register afterwards."""
      sp = self.spad_rd.data; ac = data.View(data.ArrayLayout(signed(32), C), self.acc_rd.data.as_value())
      line = [Mux(mem_of(role, held) == Mem.ACC.value, ac[e], sp[e].as_signed()) for e in range(C)]
      regs = [Signal(signed(32), name=f"{role}_reg{l}") for l in range(L)]
      vals = [named(m, Mux(fresh_st[role], x, reg), f"{role}_{l}", signed(32)) for l, (x, reg) in enumerate(zip(chunk(line), regs))]
      m.d.sync += [reg.eq(x) for reg, x in zip(regs, vals)]
      return vals
    s1, s2_read, d, bias_read = operand("src1"), operand("src2"), operand("dst"), operand("bias")
    # `line`: one register line, the running RSUM / RMAX results over the rows, or the broadcast src2 line as read in
    # row 0 (the model reads every operand before it writes: a broadcast line the instruction overwrites must not be re-read)
    line = Signal(data.ArrayLayout(signed(32), NC * L))
    held_lane = chunk(line)
    bcast = held["src2_bcast"] & ~st["first_r"]
    s2_line = [named(m, Mux(bcast, held_lane[l], s2_read[l]), f"src2_line{l}", signed(32)) for l in range(L)]
    s2 = [Mux(held["src2_imm"], imm, x) for x in s2_line]
    is_op = lambda op: f == op.value
    summing = named(m, is_op(VecOp.RSUM) | is_op(VecOp.LSUM), "summing")
    combine = lambda a, b: Mux(summing, (a + b)[:32].as_signed(), Mux(a > b, a, b))
    by_rows, by_line = is_op(VecOp.RSUM) | is_op(VecOp.RMAX), is_op(VecOp.LSUM) | is_op(VecOp.LMAX)
    rows_out = [named(m, Mux(st["first_r"], s1[l], combine(held_lane[l], s1[l])), f"rval{l}", signed(32)) for l in range(L)]
    for k in range(NC):
      with m.If(st["valid"] & (st["c"] == k)):
        m.d.sync += [line[k * L + l].eq(Mux(by_rows, rows_out[l], s2_line[l])) for l in range(L)]
    # LSUM / LMAX: one value per line over its chunks (lanes past cols do not count)
    lacc, part = Signal(signed(32)), None
    for l in range(L):
      ok = (st["c"] * L + l) < C
      x = Mux(ok, s1[l], Mux(summing, 0, I32_MIN))
      part = named(m, x if part is None else combine(part, x), f"lane_part{l}", signed(32))
    lval = named(m, Mux(st["c"] == 0, part, combine(lacc, part)), "lval", signed(32))
    with m.If(st["valid"]): m.d.sync += lacc.eq(lval)
    # BIASRQ: src1 + the bias line (read in row 0, then held in `bline`), added as the operands arrive (as RSUM's sum)
    bline = Signal(data.ArrayLayout(signed(32), NC * L))
    bias = [named(m, Mux(st["first_r"], bias_read[l], x), f"bias{l}", signed(32)) for l, x in enumerate(chunk(bline))]
    for k in range(NC):
      with m.If(st["valid"] & (st["c"] == k)): m.d.sync += [bline[k * L + l].eq(bias[l]) for l in range(L)]
    s1 = [named(m, Mux(is_op(VecOp.BIASRQ), (x + b)[:32].as_signed(), x), f"src1b{l}", signed(32)) for l, (x, b) in enumerate(zip(s1, bias))]
    # ---- the compute stages (arch/timing.VECTOR_STAGES): each chunk moves one stage a cycle, its control with it;
    # the instruction's fields stay put, since the next instruction issues only in the last stage of this one's last chunk
    stages = [0]
    def stage(values: dict) -> dict:
      stages[0] += 1
      regs = {k: Signal(Value.cast(v).shape(), name=f"e{stages[0]}_{k}") for k, v in values.items()}
      m.d.sync += [regs[k].eq(v) for k, v in values.items()]
      return regs
    # the destination line of this chunk, registered from the read stage
    dst_line = Signal(Vector["dst_addr"].width)
    m.d.sync += dst_line.eq(cur["dst_addr"] + Mux(reduce_rows, 0, r))
    ctl = dict(valid=st["valid"], c=st["c"], last=st["valid"] & st["last_c"] & st["last_r"], dst_line=dst_line,
               write=st["valid"] & (~by_rows | st["last_r"]) & (~by_line | st["last_c"]))
    pipe = [ctl]                                                                    # the control of each stage
    rom = m.submodules.rom = Memory(shape=64, depth=len(ROM_INIT), init=ROM_INIT)
    def staged(values: dict) -> dict:                                               # a stage of the lanes, with the control
      out = stage({**values, **{f"ctl_{k}": v for k, v in pipe[-1].items()}})
      pipe.append({k[4:]: v for k, v in out.items() if k.startswith("ctl_")})
      return out
    # each lane's operands and its reduction value (RSUM/RMAX/LSUM/LMAX), which rides the lane's stages to the write
    ops = [(staged if l == 0 else stage)(dict(s1=s1[l], s2=s2[l], d=d[l], red=Mux(by_line, lval, rows_out[l]))) for l in range(L)]
    reduce = by_rows | by_line
    res = []
    for l in range(L):
      lane_stage = staged if l == 0 else stage                                      # lane 0 carries the control
      res.append(element(m, rom.read_port(), f, ops[l]["s1"], ops[l]["s2"], ops[l]["d"], ops[l]["red"], sh, held["relu"], reduce,
                         f"lane{l}", lane_stage, imm=imm))
    assert stages[0] == (VECTOR_STAGES - 1) * L, (stages[0], L)
    out = pipe[-1]                                                                  # the last stage: write
    for mem, width in (("spad", DTYPE_BYTES[self.cfg.input_dtype]), ("acc", DTYPE_BYTES[self.cfg.acc_dtype])):
      wp = getattr(self, f"{mem}_wr")
      mine = out["write"] & (held["dst_mem"] == (Mem.SPAD if mem == "spad" else Mem.ACC).value)
      en, vals = [], []
      for e in range(C):
        vals.append(res[e % L][mem])
        en += [mine & (by_line | (out["c"] == e // L))] * width
      line_bytes = len(wp.data.as_value()) // 8
      pad = line_bytes - len(en)
      m.d.comb += [wp.en.eq(Cat(*en, Const(0, pad))), wp.data.eq(Cat(*vals, Const(0, 8 * pad)))]
    m.d.comb += [self.spad_wr.addr.eq(out["dst_line"]), self.acc_wr.addr.eq(out["dst_line"])]
    # busy until the last chunk reaches the last stage: the next instruction issues then (arch/timing.vector_occupancy)
    m.d.comb += self.busy.eq(busy | Cat(p["last"] for p in pipe[:-1]).any())
    m.d.sync += [self.done.eq(out["last"]), self.done_id.eq(held["id"]),
                 self.done_signal_prev.eq(held["signal_prev"]), self.done_signal_next.eq(held["signal_next"])]
    return m
