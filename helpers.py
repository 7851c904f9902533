"""Small shared utilities: atomic file writes and number formatting."""
from __future__ import annotations

import json
import os
import stat
import sys
import tempfile


class InputError(ValueError):
  """A file that cannot be read as what it should be (not UTF-8, not JSON): one line."""

def read_text(path: str) -> str:
  """A text input (assembly, TOML, JSON) as UTF-8, or one line saying it is not."""
  with open(path, "rb") as f: blob = f.read()
  try: return blob.decode("utf-8")
  except UnicodeDecodeError as e: raise InputError(f"{path}: not UTF-8 text (byte {e.start}: {blob[e.start:e.start + 1]!r})") from None

def read_json(path: str):
  try: return json.loads(read_text(path))
  except (json.JSONDecodeError, RecursionError) as e: raise InputError(f"{path}: not JSON ({str(e)[:80]})") from None

def atomic_write(path: str, data: str | bytes):
  """Write `data` to `path` so that readers see the old file or the new one, never a torn one: flushed and fsynced
  before the rename. '-' is stdout; a FIFO or device is written through (never replaced); a symlink's target is replaced."""
  if path == "-":
    if isinstance(data, bytes): sys.stdout.flush(); sys.stdout.buffer.write(data)
    else: sys.stdout.write(data)
    return
  path = os.path.realpath(path)            # replace what a symlink points at, not the link
  if os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode):
    if os.path.isdir(path): raise IsADirectoryError(f"{path}: is a folder, not a file")
    with open(path, "wb" if isinstance(data, bytes) else "w") as f: f.write(data)
    return
  d = os.path.dirname(path); os.makedirs(d, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-" + os.path.basename(path))
  try:
    with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as f: f.write(data); f.flush(); os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    os.unlink(tmp); raise

def write_json(path: str, obj) -> None:
  text = json.dumps(obj, indent=1, default=lambda o: o.item() if hasattr(o, "item") else str(o)) + "\n"
  if path == "-": print(text, end="")
  else: atomic_write(path, text)

def si(x: float, unit: str = "") -> str:
  """1.23 G, 456 k: engineering prefixes for the printed tables."""
  for p, s in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
    if abs(x) >= p: return f"{x / p:.3g} {s}{unit}"
  return f"{x:.3g} {unit}".rstrip()

class Spinner:
  """Elapsed seconds on stderr while one long call runs (Verilog generation): a line redrawn twice a second, cleared
  at the end. `enabled` False (not a terminal, or --quiet) prints nothing."""
  def __init__(self, label: str, enabled: bool): self.label, self.enabled = label, enabled
  def __enter__(self):
    import threading
    import time
    if not self.enabled: return self
    self.t0, self.done = time.perf_counter(), threading.Event()
    def draw():
      while not self.done.wait(0.5): print(f"\r{self.label}: {time.perf_counter() - self.t0:.0f} s", end="", file=sys.stderr, flush=True)
    self.thread = threading.Thread(target=draw, daemon=True); self.thread.start()
    return self
  def __exit__(self, *exc):
    if self.enabled: self.done.set(); self.thread.join(); print("\r\033[K", end="", file=sys.stderr, flush=True)
