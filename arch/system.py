"""A system of chips joined by links (docs/config.md "Systems"), and the link model: the time and the per-link bytes of
a collective or a point-to-point transfer as closed formulas (docs/timing.md "Links between chips").

The link model is the alpha-beta model of Thakur, Rabenseifner and Gropp, "Optimization of Collective Communication
Operations in MPICH" (IJHPCA 19(1), 2005): a message of n bytes over one link costs alpha + n / B, with alpha the link
latency and B its bandwidth per direction. The bandwidth factors are NCCL's (NVIDIA/nccl-tests doc/PERFORMANCE.md:
bus bandwidth = algorithm bandwidth x 2(p-1)/p for all-reduce, x (p-1)/p for all-gather and reduce-scatter), whose
ring algorithms these are. For p chips and n bytes (all-reduce: the buffer each chip holds; all-gather: the gathered
result, n/p from each chip):

  topology  all-reduce                         all-gather / reduce-scatter     point-to-point
  ring      2(p-1)/p * n/B + 2(p-1) * alpha     (p-1)/p * n/B + (p-1) * alpha   n/B + alpha
  switch    2(p-1)/p * n/B + 2 * alpha          (p-1)/p * n/B + alpha           n/B + alpha

ring: chip i sends to chip i+1 over its own link (p links, one direction used); every one of the 2(p-1) steps of a ring
all-reduce (p-1 reduce-scatter, p-1 all-gather) moves n/p bytes over every link and pays one latency. switch: every
chip has one link (each direction B) to a non-blocking switch (NVSwitch-like); in each phase a chip sends its p-1
chunks of n/p to the p-1 others through its link back to back, so the bytes per link are the ring's and the latency is
paid once per phase. The switch forwards at line rate and adds no latency of its own beyond alpha (an assumption).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
import math
import os

from .config import FORM_FACTORS, MAX_TINYBOX_CARDS, AccelConfig, ConfigError, check_fields, load_config, read_toml

TOPOLOGIES = ("ring", "switch")
SYSTEM_DIR = os.path.join(os.path.dirname(__file__), "..", "configs", "systems")
MAX_CHIPS = 1024

@dataclass(frozen=True)
class SystemConfig:
  """`chips` identical chips (the `chip` preset or TOML path) joined by links of `link_gb_per_s` per direction
  (1 GB = 1e9 bytes) and `link_latency_us` per message, in a `topology` (ring or switch)."""
  name: str = "system"
  chip: str = "petaflop"
  chips: int = 1
  link_gb_per_s: float = 450.0
  link_latency_us: float = 1.0
  topology: str = "switch"
  form_factor: str = "sxm"          # how each chip is built and priced (reports/cost.py): sxm modules of 8-way servers, pcie cards, a tinybox of `chips` cards...
  @property
  def link_bytes_per_s(self) -> float: return self.link_gb_per_s * 1e9
  @property
  def link_latency_s(self) -> float: return self.link_latency_us * 1e-6
  @property
  def links(self) -> int:
    """Links of the system: a ring has one per chip (i -> i+1), a switch one per chip (chip <-> switch); one chip none."""
    return 0 if self.chips == 1 else self.chips
  def chip_config(self, **overrides) -> AccelConfig:
    """The chip preset with this system's form factor (a tinybox holds the system's `chips` cards)."""
    return load_config(self.chip, **{"form_factor": self.form_factor, "form_factor_cards": self.chips if self.form_factor == "tinybox" else 1, **overrides})
  def to_dict(self) -> dict: return asdict(self)

def _fail(s: SystemConfig, field: str, value, rule: str): raise ConfigError(f"system {s.name}: {field}={value!r}: {rule}")

def validate(s: SystemConfig) -> SystemConfig:
  """Every field's type and range, one line naming the first broken rule (as arch/config.validate)."""
  for f in fields(s):
    v, want = getattr(s, f.name), {"str": str, "int": int, "float": (int, float)}[f.type]
    if not isinstance(v, want) or isinstance(v, bool): _fail(s, f.name, v, f"must be of type {f.type}")
  if not s.name.isprintable() or len(s.name) > 100: _fail(s, "name", s.name, "must be printable, at most 100 characters")
  if not 1 <= s.chips <= MAX_CHIPS: _fail(s, "chips", s.chips, f"must be between 1 and {MAX_CHIPS}")
  if not (math.isfinite(s.link_gb_per_s) and 0 < s.link_gb_per_s <= 1e6): _fail(s, "link_gb_per_s", s.link_gb_per_s, "must be in (0, 1e6] GB/s per direction")
  if not (math.isfinite(s.link_latency_us) and 0 <= s.link_latency_us <= 1e6): _fail(s, "link_latency_us", s.link_latency_us, "must be in [0, 1e6] microseconds")
  if s.topology not in TOPOLOGIES: _fail(s, "topology", s.topology, f"must be one of {', '.join(TOPOLOGIES)}")
  if s.form_factor not in FORM_FACTORS: _fail(s, "form_factor", s.form_factor, f"must be one of {', '.join(FORM_FACTORS)}")
  if s.form_factor == "tinybox" and s.chips > MAX_TINYBOX_CARDS: _fail(s, "chips", s.chips, f"a tinybox holds at most {MAX_TINYBOX_CARDS} cards")
  try: s.chip_config()
  except ConfigError as e: _fail(s, "chip", s.chip, str(e))
  return s

def system_from_dict(d: dict, name: str = "system") -> SystemConfig:
  check_fields(d, SystemConfig, f"system {name}")
  return validate(SystemConfig(**{"name": name, **d}))

def system_presets() -> list[str]: return sorted(f[:-5] for f in os.listdir(SYSTEM_DIR) if f.endswith(".toml"))

def load_system(name_or_path: str, **overrides) -> SystemConfig:
  """A system preset (configs/systems/NAME.toml) or a TOML path; overrides (None: keep) replace fields."""
  path = name_or_path if os.path.sep in name_or_path or name_or_path.endswith(".toml") else os.path.join(SYSTEM_DIR, name_or_path + ".toml")
  if not os.path.isfile(path): raise ConfigError(f"no system {name_or_path!r}: not a file, and not a system preset ({', '.join(system_presets())})")
  d = read_toml(path, ConfigError)
  name = d.pop("name", os.path.splitext(os.path.basename(path))[0])
  if not isinstance(name, str): raise ConfigError(f"system {path}: name={name!r}: must be a string")
  return system_from_dict({**d, **{k: v for k, v in overrides.items() if v is not None}}, name)

# ---------------- the link model ----------------
@dataclass(frozen=True)
class Transfer:
  """One collective or point-to-point transfer: its kind, the bytes n of its formula, the seconds it takes, the part of
  them that is latency, and the bytes each link carries per direction used."""
  kind: str
  bytes: int
  seconds: float
  latency_seconds: float
  link_bytes: float
  @property
  def bandwidth_seconds(self) -> float: return self.seconds - self.latency_seconds

def _steps(s: SystemConfig, ring_steps: int) -> int: return ring_steps if s.topology == "ring" else min(ring_steps, 1)

def all_reduce(s: SystemConfig, n: int, p: int | None = None) -> Transfer:
  """Every chip ends with the sum of the p chips' n-byte buffers: 2(p-1)/p n/B + 2(p-1) alpha (ring) or + 2 alpha (switch)."""
  p = s.chips if p is None else p
  if p == 1: return Transfer("all_reduce", n, 0.0, 0.0, 0.0)
  per_link = 2 * (p - 1) / p * n
  lat = 2 * _steps(s, p - 1) * s.link_latency_s
  return Transfer("all_reduce", n, per_link / s.link_bytes_per_s + lat, lat, per_link)

def all_gather(s: SystemConfig, n: int, p: int | None = None) -> Transfer:
  """Every chip ends with the n bytes of which each held n/p: (p-1)/p n/B + (p-1) alpha (ring) or + alpha (switch).
  A reduce-scatter has the same cost."""
  p = s.chips if p is None else p
  if p == 1: return Transfer("all_gather", n, 0.0, 0.0, 0.0)
  per_link = (p - 1) / p * n
  lat = _steps(s, p - 1) * s.link_latency_s
  return Transfer("all_gather", n, per_link / s.link_bytes_per_s + lat, lat, per_link)

def point_to_point(s: SystemConfig, n: int) -> Transfer:
  """n bytes from one chip to a neighbour (ring) or any chip (switch): n/B + alpha, over one link."""
  if s.chips == 1: return Transfer("point_to_point", n, 0.0, 0.0, 0.0)
  return Transfer("point_to_point", n, n / s.link_bytes_per_s + s.link_latency_s, s.link_latency_s, float(n))
