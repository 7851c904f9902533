# tinyaccel: `make demo` and `make test` set everything up from a clean clone (Python 3.11 + venv).
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed-stamp

.PHONY: demo test bench hw-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,plot]'
	touch $@

# Icarus Verilog for the cocotb co-simulations (Debian package; needs root, as on CI)
hw-deps:
	@command -v iverilog >/dev/null || { apt-get update -qq && apt-get install -y -qq iverilog >/dev/null; } || echo "warning: could not install iverilog (RTL co-simulation tests will skip)"

demo: $(STAMP)
	$(VENV)/bin/tinyaccel demo

test: $(STAMP) hw-deps
	$(PY) -m pytest -m "not slow"

bench: $(STAMP)
	$(PY) -m tinyaccel.bench --json build/bench.json

clean:
	rm -rf build sim_build .pytest_cache
