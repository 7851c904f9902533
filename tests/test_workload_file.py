"""A user's FILE.py (issue 20): workload() arguments from --arg, its folder on the import path, errors naming its line."""
import json

import pytest

from tinyaccel.cli import main
from tinyaccel.flow import WorkloadError, load_workload

MODEL = '''from helper_mod import width
from tinyaccel.compiler.tensor import Tensor

def workload(batch=4, d=16, relu=True, scale=1.0, name="x"):
  x = Tensor.randint(batch, d, seed=0); w = Tensor.randint(d, width(), seed=1)
  if scale != 1.0: raise ValueError("scale must stay 1.0")
  return (x @ w).relu() if relu else x @ w
'''

@pytest.fixture
def model(tmp_path):
  (tmp_path / "helper_mod.py").write_text("def width(): return 24\n")      # a file next to the model, imported by it
  p = tmp_path / "model.py"; p.write_text(MODEL)
  return str(p)

def test_args_typed_from_defaults(model, tmp_path):
  assert load_workload(model).shape == (4, 24)
  assert load_workload(model, ["batch=8", "d=32"]).shape == (8, 24)
  js = tmp_path / "r.json"
  assert main(["run", model, "--config", "tiny", "--arg", "batch=6", "--arg", "relu=false", "--json", str(js)]) == 0
  k = json.loads(js.read_text())["kernels"][0]
  assert k["shape"] == [6, 16, 24] and k["fused"] == [] and k["correct"] is True

@pytest.mark.parametrize("arg, msg", [("nope=1", "workload\\(\\) takes batch, d, relu, scale, name"), ("batch=x", "invalid literal"),
                                      ("relu=maybe", "expected true or false"), ("batch", "as name=value")])
def test_bad_args(model, arg, msg):
  with pytest.raises(WorkloadError, match=msg): load_workload(model, [arg])

def test_error_names_the_users_line(model, capsys):
  with pytest.raises(WorkloadError, match=r"model\.py:6: ValueError: scale must stay 1\.0"): load_workload(model, ["scale=2"])
  assert main(["run", model, "--config", "tiny", "--arg", "scale=2.5"]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "model.py:6:" in err[0]

def test_arg_only_for_files():
  with pytest.raises(WorkloadError, match="--arg applies"): __import__("tinyaccel.flow", fromlist=["build_network"]).build_network("mlp", args=["batch=2"])
