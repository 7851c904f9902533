"""SCALE-Sim (v2) inputs: its conv and GEMM topology CSVs and its .cfg, mapped onto our GEMMs and AccelConfig.

SCALE-Sim simulates every layer as one GEMM on a systolic array: a conv layer is M = OH·OW ofmap pixels, K = FH·FW·C,
N = filters, with its valid-convolution output size OH = ceil((H - FH + S) / S) (one more than a real valid conv's
(H - FH) // S + 1 when (H - FH) % S != 0), and the im2col operand matrices assumed laid out for free. We run the same
GEMMs (random int8 operands, checked bit for bit) so the MACs match SCALE-Sim's; docs/frontend.md lists why the
cycles differ (fold overlap, DRAM latency and bursts, the ifmap/filter/ofmap SRAM split).
"""
from __future__ import annotations

import configparser
import csv
from dataclasses import dataclass
import math
import os

from ...arch.config import AccelConfig, ConfigError, load_config
from ..program import CompileError


@dataclass(frozen=True)
class Layer:
  name: str; m: int; k: int; n: int
  conv: tuple | None = None          # (H, W, FH, FW, C, F, S) for conv layers

def out_size(h: int, fh: int, s: int) -> int:
  """SCALE-Sim's ofmap size: ceil((H - FH + S) / S)."""
  return math.ceil((h - fh + s) / s)

def _rows(path: str) -> tuple[list[str], list[list[str]]]:
  if not os.path.isfile(path): raise CompileError(f"no such topology file {path!r}")
  with open(path, newline="") as f: rows = [[c.strip() for c in r] for r in csv.reader(f) if any(c.strip() for c in r)]
  if not rows: raise CompileError(f"{path}: empty topology")
  strip = lambda r: r[:max(i + 1 for i, c in enumerate(r) if c)] if any(r) else r    # SCALE-Sim rows end in a comma
  return [h.lower() for h in strip(rows[0])], [strip(r) for r in rows[1:]]

def read_topology(path: str) -> list[Layer]:
  """A conv topology (Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides)
  or a GEMM one (Layer name, M, N, K: in header order)."""
  hdr, rows = _rows(path)
  out = []
  for i, r in enumerate(rows, 2):
    try:
      if len(hdr) >= 8 and hdr[1].startswith("ifmap"):
        h, w, fh, fw, c, f, s = (int(x) for x in r[1:8])
        if fh > h or fw > w or min(h, w, fh, fw, c, f, s) < 1: raise ValueError(f"a {fh}x{fw} filter does not fit a {h}x{w} ifmap")
        out.append(Layer(r[0], out_size(h, fh, s) * out_size(w, fw, s), fh * fw * c, f, (h, w, fh, fw, c, f, s)))
      elif len(hdr) >= 4 and {"m", "n", "k"} <= set(hdr[1:4]):
        d = dict(zip(hdr[1:4], (int(x) for x in r[1:4])))
        out.append(Layer(r[0], d["m"], d["k"], d["n"]))
      else: raise CompileError(f"{path}: header {hdr} is neither a SCALE-Sim conv topology nor a GEMM (M, N, K) one")
    except (ValueError, IndexError) as e: raise CompileError(f"{path}:{i}: bad layer row {r}: {e}") from None
  return out

NOT_MAPPED = ("IfmapOffset/FilterOffset/OfmapOffset (our DRAM layout is the compiler's)", "MemoryBanks", "InterfaceBandwidth",
              "the ifmap/filter SRAM split (one scratchpad of their sum)")

def read_cfg(path: str, base: str = "edge") -> tuple[AccelConfig, list[str]]:
  """AccelConfig from a SCALE-Sim .cfg, and what did not map. ArrayHeight/Width -> rows/cols, Dataflow (ws, os; SCALE-Sim's
  is has no counterpart), Ifmap+Filter SRAM -> scratchpad KiB, Ofmap SRAM -> accumulator KiB, Bandwidth (words of 1 byte per
  cycle) -> DRAM bytes per cycle (bursts: its largest power-of-two divisor, at most 32 B, so any bandwidth maps exactly),
  DRAM latency 1 cycle (SCALE-Sim has none); clock, node and memory from `base`."""
  if not os.path.isfile(path): raise ConfigError(f"no SCALE-Sim config {path!r}")
  cp = configparser.ConfigParser(delimiters=(":", "="), inline_comment_prefixes=("#",))
  try: cp.read(path)
  except configparser.Error as e: raise ConfigError(f"{path}: malformed SCALE-Sim config: {e}") from None
  if "architecture_presets" not in cp: raise ConfigError(f"{path}: no [architecture_presets] section")
  a = {k.lower(): v.strip() for k, v in cp["architecture_presets"].items()}
  try:
    get = lambda k: int(float(a[k.lower()]))
    df = a.get("dataflow", "ws").lower()
    if df not in ("ws", "os"): raise ConfigError(f"{path}: Dataflow {df}: only ws and os map (input-stationary has no counterpart)")
    cfg = load_config(base).replace(name=os.path.splitext(os.path.basename(path))[0], rows=get("ArrayHeight"), cols=get("ArrayWidth"), dataflow=df,
                                    spad_kib=get("IfmapSramSzkB") + get("FilterSramSzkB"), acc_kib=get("OfmapSramSzkB"),
                                    dram_bytes_per_cycle=get("Bandwidth"), dram_burst_bytes=min(32, get("Bandwidth") & -get("Bandwidth")), dram_latency_cycles=1,
                                    vector_lanes=get("ArrayWidth"))
  except KeyError as e: raise ConfigError(f"{path}: missing {e.args[0]} in [architecture_presets]") from None
  except ValueError as e: raise ConfigError(f"{path}: {e}") from None
  return cfg, list(NOT_MAPPED)

def read_compute_report(path: str) -> list[tuple[str, int]]:
  """(layer id, total cycles) rows of SCALE-Sim's COMPUTE_REPORT.csv."""
  hdr, rows = _rows(path)
  try: col = next(i for i, h in enumerate(hdr) if h.replace(" ", "") == "totalcycles")
  except StopIteration: raise CompileError(f"{path}: no 'Total Cycles' column (header {hdr})") from None
  try: return [(r[0], int(float(r[col]))) for r in rows]
  except (ValueError, IndexError) as e: raise CompileError(f"{path}: bad row: {e}") from None
