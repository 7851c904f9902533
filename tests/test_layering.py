"""The flow has no back-edges: compiler -> program -> {model, RTL} -> statistics -> reports, with arch/ under everything,
the flow layer above the libraries and the CLI on top. Every import of every module (top-level or inside a function)
is read from its source and checked against the table below, so a change cannot quietly bring a back-edge in."""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# layer -> the layers it may import (itself always). The top-level modules are layers of their own.
ALLOWED = {
  "helpers": set(),
  "arch": set(),
  "compiler": {"arch"},
  "sim": {"arch"},
  "rtl": {"arch", "sim", "helpers"},              # the co-simulation holds the RTL against the model
  "reports": {"arch", "helpers"},
  "workloads": {"arch", "compiler"},
  "flow": {"arch", "compiler", "sim", "rtl", "reports", "workloads", "helpers"},
  "cli": {"arch", "compiler", "sim", "rtl", "reports", "workloads", "helpers", "flow"},
  "bench": {"arch", "compiler", "sim", "rtl", "reports", "workloads", "helpers", "flow"},
  "__init__": set(),
}

def layer_of(rel: str) -> str:
  """'compiler/gemm.py' -> 'compiler', 'cli.py' -> 'cli'."""
  return rel.split(os.sep)[0].removesuffix(".py")

def modules() -> list[str]:
  out = []
  for d in ALLOWED:
    path = os.path.join(ROOT, d)
    if os.path.isdir(path): out += [os.path.join(d, f) for f in sorted(os.listdir(path)) if f.endswith(".py")]
    elif os.path.isfile(path + ".py"): out.append(d + ".py")
  return out

def imported_layers(rel: str, root: str = ROOT) -> list[tuple[int, str]]:
  """(line, layer) of every import of a tinyaccel module in file `rel`: relative imports resolved against its package."""
  tree = ast.parse(open(os.path.join(root, rel)).read(), rel)
  pkg = rel.split(os.sep)[:-1]                              # the file's package, relative to the repository root
  out = []
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom):
      if node.level:                                        # from .x / from ..x: climb level-1 packages up from the file's own
        base = pkg[:len(pkg) - (node.level - 1)] if node.level - 1 <= len(pkg) else None
        if base is None: raise AssertionError(f"{rel}:{node.lineno}: relative import beyond the package")
        target = base + (node.module.split(".") if node.module else [])
        if not target: target = [alias.name for alias in node.names][:1]   # `from . import x` at the root
      elif node.module and node.module.split(".")[0] == "tinyaccel": target = node.module.split(".")[1:]
      else: continue
      if target: out.append((node.lineno, target[0]))
    elif isinstance(node, ast.Import):
      out += [(node.lineno, a.name.split(".")[1]) for a in node.names if a.name.startswith("tinyaccel.")]
  return out

def violations(rel: str, root: str = ROOT) -> list[str]:
  me = layer_of(rel)
  return [f"{rel}:{line} imports {dep}/ ({me} may import {', '.join(sorted(ALLOWED[me])) or 'nothing of ours'})"
          for line, dep in imported_layers(rel, root) if dep != me and dep in ALLOWED and dep not in ALLOWED[me]]

@pytest.mark.parametrize("rel", modules())
def test_no_import_against_the_layering(rel):
  assert not violations(rel), "\n".join(violations(rel))

def test_every_folder_is_a_layer():
  """A new top-level package must take its place in the table before it can land."""
  pkgs = {d for d in os.listdir(ROOT) if os.path.isfile(os.path.join(ROOT, d, "__init__.py")) and d not in ("tests", "build")}
  mods = {f.removesuffix(".py") for f in os.listdir(ROOT) if f.endswith(".py")}
  assert pkgs | mods <= set(ALLOWED), f"not in the layering table: {sorted((pkgs | mods) - set(ALLOWED))}"

@pytest.mark.parametrize("rel,source,edge", [
  ("compiler/schedule.py", "from ..sim.model import run, Machine\n", "sim"),      # the mapper timing candidates on the model
  ("reports/sweep.py", "def f():\n  from ..cli import run_gemm\n", "cli"),        # a sweep calling the CLI
  ("rtl/cosim.py", "def f():\n  from ..compiler.schedule import schedule\n", "compiler"),
  ("sim/model.py", "from ..reports.cost import cost_report\n", "reports"),
  ("arch/isa.py", "from ..sim.model import Machine\n", "sim"),
  ("reports/report.py", "from ..flow import run_gemm\n", "flow"),
])
def test_the_check_catches_each_back_edge(tmp_path, rel, source, edge):
  """Each back-edge issue 15 found (and a few more) is caught when written into the file that had it."""
  fake = tmp_path / rel; fake.parent.mkdir(parents=True)
  fake.write_text(source)
  found = violations(rel, str(tmp_path))
  assert len(found) == 1 and f"imports {edge}/" in found[0]
