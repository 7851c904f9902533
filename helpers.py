"""Small shared utilities: atomic file writes and number formatting."""
from __future__ import annotations

import json
import os
import tempfile


def atomic_write(path: str, data: str | bytes):
  """Write `data` to `path` so that readers see the old file or the new one, never a torn one."""
  d = os.path.dirname(os.path.abspath(path)); os.makedirs(d, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-" + os.path.basename(path))
  try:
    with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as f: f.write(data)
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
