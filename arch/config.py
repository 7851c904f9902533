"""AccelConfig: the one description of an accelerator, validated, loaded from TOML.

Every unit in the name: `_kib` is KiB (1024 bytes), `_bytes` bytes, `_cycles` clock cycles,
`_mhz` MHz, `_nm` nanometres, `_gib` GiB. Presets live in `configs/*.toml`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
import difflib
from functools import cached_property
import math
import os
import tomllib

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")

DATAFLOWS = ("ws", "os")
MEMORY_TYPES = ("ddr4", "ddr5", "lpddr4", "lpddr5", "lpddr5x", "gddr6", "gddr6x", "gddr7", "hbm2", "hbm2e", "hbm3", "hbm3e")
PROCESS_NODES_NM = (3, 5, 7, 10, 12, 14, 16, 22, 28, 40, 65, 90)
FORM_FACTORS = ("chip", "m2", "pcie", "sxm", "tinybox")   # what the cost model prices with the chip (docs/cost-model.md)
MAX_TINYBOX_CARDS = 64                                       # cards a tinybox-like form factor (or system) holds
DTYPE_BYTES = {"int8": 1, "int32": 4}
DRAM_DTYPE = {k: f"<i{b}" for k, b in DTYPE_BYTES.items()}   # as numpy reads them from DRAM: little-endian two's complement
MAX_ARRAY_DIM = 256
MAX_CORES = 1024
from .isa import FIELD_MAX, FIELDS, Opcode

SRAM_ADDR_BITS = FIELDS[Opcode.LOAD]["sram_addr"][1]          # line address width of the ISA
MAX_LINE_BYTES = FIELD_MAX[Opcode.LOAD]["line_bytes"]         # the DMA's line_bytes field

def peak_flops_per_s(macs_per_cycle: int, clock_mhz: float) -> float:
  """Every MAC busy every cycle, 2 FLOPs per MAC."""
  return 2.0 * macs_per_cycle * clock_mhz * 1e6

def cycles_to_seconds(cycles: int, clock_mhz: float) -> float: return cycles / (clock_mhz * 1e6)

class ConfigError(ValueError):
  """An invalid configuration; the message is one line naming the field and the rule."""

@dataclass(frozen=True)
class AccelConfig:
  name: str = "custom"
  # systolic array: `rows` PEs tall (the K side in ws, the M side in os), `cols` PEs wide (N side)
  rows: int = 4
  cols: int = 4
  dataflow: str = "ws"               # ws: weight-stationary, os: output-stationary
  input_dtype: str = "int8"
  weight_dtype: str = "int8"
  acc_dtype: str = "int32"
  # on-chip SRAM: the scratchpad holds int8 operands, the accumulator int32 partial sums
  spad_kib: int = 4
  spad_banks: int = 2
  acc_kib: int = 4
  acc_banks: int = 2
  # the single DRAM port: bandwidth, fixed latency, and the burst every DMA row is rounded up to
  dram_bytes_per_cycle: int = 4
  dram_latency_cycles: int = 8
  dram_burst_bytes: int = 4
  memory_type: str = "ddr4"
  memory_gib: float = 1.0
  vector_lanes: int = 4
  clock_mhz: float = 100.0
  process_nm: int = 28
  # cost model (reports/cost.py): what is priced with the chip, how many units carry the NRE, the margin of a sale price
  form_factor: str = "chip"          # chip alone | m2 | pcie card | sxm module in an 8-way server | tinybox: a host of form_factor_cards pcie cards
  form_factor_cards: int = 1         # cards sharing one tinybox host (1 for the other form factors)
  nre_volume_units: int = 1_000_000  # units the design cost (NRE) is amortized over; reported apart from the unit cost
  gross_margin: float = 0.647        # price = cost / (1 - margin); default: MI300X's (1 - $5,300 cost / $15,000 street), cited
  # ---- multi-core chip (issue 17; docs/config.md "Cores and DRAM channels") ----
  # `cores` identical cores, each everything above (array, SRAMs, vector unit, three queues, DMA). The chip has
  # `dram_channels` channels of `dram_bytes_per_cycle` each; channel c serves cores c*g .. c*g+g-1, g = cores/channels
  # (one channel per core when equal); the cores of one channel share it per DMA instruction (docs/timing.md).
  cores: int = 1
  dram_channels: int = 1

  # ---- derived geometry (docs/architecture.md) ----
  @cached_property
  def spad_line_bytes(self) -> int: return max(self.rows, self.cols) * DTYPE_BYTES[self.input_dtype]
  @cached_property
  def acc_line_bytes(self) -> int: return self.cols * DTYPE_BYTES[self.acc_dtype]
  @cached_property
  def spad_lines(self) -> int: return self.spad_kib * 1024 // self.spad_line_bytes
  @cached_property
  def acc_lines(self) -> int: return self.acc_kib * 1024 // self.acc_line_bytes
  @cached_property
  def spad_bank_lines(self) -> int: return self.spad_lines // self.spad_banks
  @cached_property
  def acc_bank_lines(self) -> int: return self.acc_lines // self.acc_banks
  @cached_property
  def macs_per_cycle(self) -> int: return self.rows * self.cols
  @property
  def peak_flops_per_s(self) -> float: return peak_flops_per_s(self.macs_per_cycle, self.clock_mhz)
  @property
  def dram_bytes_per_s(self) -> float: return self.dram_bytes_per_cycle * self.clock_mhz * 1e6
  # ---- the whole chip: `macs_per_cycle`, `dram_bytes_per_cycle` and the figures above are one core's / one channel's ----
  @property
  def cores_per_channel(self) -> int: return self.cores // self.dram_channels
  def channel_of(self, core: int) -> int: return core // self.cores_per_channel
  @property
  def chip_macs_per_cycle(self) -> int: return self.cores * self.macs_per_cycle
  @property
  def chip_peak_flops_per_s(self) -> float: return peak_flops_per_s(self.chip_macs_per_cycle, self.clock_mhz)
  @property
  def chip_dram_bytes_per_cycle(self) -> int: return self.dram_channels * self.dram_bytes_per_cycle

  def replace(self, **changes) -> "AccelConfig": return validate(dataclasses.replace(self, **changes))
  def to_dict(self) -> dict: return dataclasses.asdict(self)

# sane upper bounds on every size (issue 21): beyond them a config is a typo, not a design
UPPER = dict(spad_kib=1 << 20, acc_kib=1 << 20, spad_banks=1024, acc_banks=1024, dram_bytes_per_cycle=1 << 16, dram_burst_bytes=4096, vector_lanes=1024,
             memory_gib=65536)

def _fail(cfg, field, value, rule): raise ConfigError(f"config {cfg.name}: {field}={value!r}: {rule}")

def validate(cfg: AccelConfig) -> AccelConfig:
  """Check every field and every combination; raise ConfigError naming the first broken rule."""
  for f in fields(cfg):
    v, want = getattr(cfg, f.name), {"str": str, "int": int, "float": (int, float)}[f.type]
    if not isinstance(v, want) or isinstance(v, bool): _fail(cfg, f.name, v, f"must be of type {f.type}")
  if not cfg.name.isprintable() or len(cfg.name) > 100: _fail(cfg, "name", cfg.name, "must be printable (no newlines or control characters), at most 100 characters")
  for f in fields(cfg):
    if f.type == "float" and not math.isfinite(getattr(cfg, f.name)): _fail(cfg, f.name, getattr(cfg, f.name), "must be a finite number")
  for f, hi in UPPER.items():
    if getattr(cfg, f) > hi: _fail(cfg, f, getattr(cfg, f), f"must be <= {hi}")
  for f in ("rows", "cols"):
    if not 1 <= getattr(cfg, f) <= MAX_ARRAY_DIM: _fail(cfg, f, getattr(cfg, f), f"must be between 1 and {MAX_ARRAY_DIM}")
  if cfg.dataflow not in DATAFLOWS: _fail(cfg, "dataflow", cfg.dataflow, f"must be one of {', '.join(DATAFLOWS)}")
  for f, ok in (("input_dtype", "int8"), ("weight_dtype", "int8"), ("acc_dtype", "int32")):
    if getattr(cfg, f) != ok: _fail(cfg, f, getattr(cfg, f), f"only {ok} is supported so far")
  for f in ("spad_kib", "acc_kib", "spad_banks", "acc_banks", "dram_bytes_per_cycle", "dram_burst_bytes", "vector_lanes"):
    if getattr(cfg, f) < 1: _fail(cfg, f, getattr(cfg, f), "must be >= 1")
  if cfg.spad_banks < 2: _fail(cfg, "spad_banks", cfg.spad_banks, "must be >= 2: the array reads two operands per cycle from different banks")
  for mem in ("spad", "acc"):
    lines, banks, line = getattr(cfg, f"{mem}_lines"), getattr(cfg, f"{mem}_banks"), getattr(cfg, f"{mem}_line_bytes")
    if getattr(cfg, f"{mem}_kib") * 1024 % line: _fail(cfg, f"{mem}_kib", getattr(cfg, f"{mem}_kib"), f"must be a whole number of {line}-byte lines")
    if lines < banks: _fail(cfg, f"{mem}_kib", getattr(cfg, f"{mem}_kib"), f"holds {lines} {line}-byte lines: fewer than its {banks} banks (each bank needs a line)")
    if lines % banks: _fail(cfg, f"{mem}_banks", banks, f"must divide the {lines} {mem} lines evenly")
    if lines > 1 << SRAM_ADDR_BITS: _fail(cfg, f"{mem}_kib", getattr(cfg, f"{mem}_kib"), f"{lines} lines exceed the ISA's {SRAM_ADDR_BITS}-bit line address")
    if line > MAX_LINE_BYTES: _fail(cfg, "cols" if mem == "acc" else "rows", getattr(cfg, "cols" if mem == "acc" else "rows"), f"the {line}-byte {mem} line exceeds the DMA's {MAX_LINE_BYTES}-byte line limit")
    if cfg.dram_bytes_per_cycle > banks * line:
      _fail(cfg, "dram_bytes_per_cycle", cfg.dram_bytes_per_cycle, f"exceeds what the DMA can move into the {mem} ({banks} banks x {line} B lines per cycle)")
  if cfg.dram_burst_bytes & (cfg.dram_burst_bytes - 1): _fail(cfg, "dram_burst_bytes", cfg.dram_burst_bytes, "must be a power of two")
  if cfg.dram_bytes_per_cycle % cfg.dram_burst_bytes and cfg.dram_burst_bytes % cfg.dram_bytes_per_cycle:
    _fail(cfg, "dram_bytes_per_cycle", cfg.dram_bytes_per_cycle, f"must be a multiple or a divisor of dram_burst_bytes={cfg.dram_burst_bytes} (the port moves whole bursts or whole parts of one)")
  if not 1 <= cfg.dram_latency_cycles <= 100_000: _fail(cfg, "dram_latency_cycles", cfg.dram_latency_cycles, "must be between 1 and 100000")
  if cfg.memory_type not in MEMORY_TYPES: _fail(cfg, "memory_type", cfg.memory_type, f"must be one of {', '.join(MEMORY_TYPES)}")
  if not cfg.memory_gib > 0: _fail(cfg, "memory_gib", cfg.memory_gib, "must be > 0")
  if not 1 <= cfg.clock_mhz <= 10_000: _fail(cfg, "clock_mhz", cfg.clock_mhz, "must be in [1, 10000] MHz")
  if not 1 <= cfg.cores <= MAX_CORES: _fail(cfg, "cores", cfg.cores, f"must be between 1 and {MAX_CORES}")
  if not 1 <= cfg.dram_channels <= cfg.cores:
    _fail(cfg, "dram_channels", cfg.dram_channels, f"must be between 1 and cores={cfg.cores} (a core has one DRAM port; widen it with dram_bytes_per_cycle)")
  if cfg.cores % cfg.dram_channels:
    _fail(cfg, "dram_channels", cfg.dram_channels, f"must divide cores={cfg.cores} (every channel serves the same number of cores)")
  if cfg.process_nm not in PROCESS_NODES_NM: _fail(cfg, "process_nm", cfg.process_nm, f"must be one of {', '.join(map(str, PROCESS_NODES_NM))}")
  if cfg.form_factor not in FORM_FACTORS: _fail(cfg, "form_factor", cfg.form_factor, f"must be one of {', '.join(FORM_FACTORS)}")
  if not 1 <= cfg.form_factor_cards <= MAX_TINYBOX_CARDS: _fail(cfg, "form_factor_cards", cfg.form_factor_cards, f"must be between 1 and {MAX_TINYBOX_CARDS}")
  if cfg.form_factor != "tinybox" and cfg.form_factor_cards != 1: _fail(cfg, "form_factor_cards", cfg.form_factor_cards, "only a tinybox holds several cards (form_factor = \"tinybox\")")
  if cfg.nre_volume_units < 1: _fail(cfg, "nre_volume_units", cfg.nre_volume_units, "must be >= 1")
  if not 0 <= cfg.gross_margin < 1: _fail(cfg, "gross_margin", cfg.gross_margin, "must be in [0, 1): price = cost / (1 - margin)")
  return cfg

def check_fields(d: dict, cls, what: str):
  """Every key of d a field of the dataclass cls, or one line naming the first unknown one (with a did-you-mean)."""
  known = {f.name for f in fields(cls)}
  for k in d:
    if k not in known:
      near = difflib.get_close_matches(k, known, 1)
      raise ConfigError(f"{what}: unknown field {k!r}" + (f": did you mean {near[0]!r}?" if near else f" (known: {', '.join(sorted(known))})"))

def from_dict(d: dict, name: str = "custom") -> AccelConfig:
  check_fields(d, AccelConfig, f"config {name}")
  return validate(AccelConfig(**{"name": name, **d}))

def read_toml(path: str, error=ConfigError) -> dict:
  """A TOML file as UTF-8, each failure one line: not UTF-8, malformed, nested too deep."""
  try:
    with open(path, "rb") as fh: blob = fh.read()
    return tomllib.loads(blob.decode("utf-8"))
  except UnicodeDecodeError as e: raise error(f"{path}: not UTF-8 text (byte {e.start})") from None
  except tomllib.TOMLDecodeError as e: raise error(f"{path}: malformed TOML: {e}") from None
  except RecursionError: raise error(f"{path}: malformed TOML: nested too deeply") from None

def presets() -> list[str]:
  return sorted(f[:-5] for f in os.listdir(CONFIG_DIR) if f.endswith(".toml"))

def load_config(name_or_path: str, **overrides) -> AccelConfig:
  """A preset name (`tiny`, `edge`, `server`) or a path to a TOML file; overrides replace fields."""
  path = name_or_path if os.path.sep in name_or_path or name_or_path.endswith(".toml") else os.path.join(CONFIG_DIR, name_or_path + ".toml")
  if not os.path.isfile(path):
    raise ConfigError(f"no config {name_or_path!r}: not a file, and not a preset ({', '.join(presets())})")
  d = read_toml(path, ConfigError)
  d.setdefault("name", os.path.splitext(os.path.basename(path))[0])
  name = d.pop("name")
  if not isinstance(name, str): raise ConfigError(f"config {path}: name={name!r}: must be a string")
  return from_dict({**d, **{k: v for k, v in overrides.items() if v is not None}}, name)
