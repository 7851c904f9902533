# tinyaccel: `make demo` and `make test` set everything up from a clean clone (Python 3.11 + venv).
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed-stamp

.PHONY: demo test test-rtl-full verilog bench hw-deps clean fpga fpga-sweep
CONFIG ?= tiny

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,plot,dist,fpga,import]'
	touch $@

# Icarus Verilog for the cocotb co-simulations (Debian package; needs root, as on CI)
hw-deps:
	@command -v iverilog >/dev/null || { apt-get update -qq && apt-get install -y -qq iverilog >/dev/null; } || echo "warning: could not install iverilog (RTL co-simulation tests will skip)"

demo: $(STAMP)
	$(VENV)/bin/tinyaccel demo

test: $(STAMP) hw-deps
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -m "not slow"

# every slow test: thousands of random programs on the RTL, 16x16 arrays and the edge preset under Verilator
test-rtl-full: $(STAMP) hw-deps
	$(PY) -m pip install -q -e '.[rtl-fast]'
	$(PY) -m pytest -m slow tests/rtl

# synthesizable Verilog of a config: make verilog CONFIG=edge (a preset or a TOML path)
verilog: $(STAMP)
	$(VENV)/bin/tinyaccel verilog --config $(CONFIG) -o build/verilog/tinyaccel_$(notdir $(basename $(CONFIG))).v

# FPGA flow tests, the slow ones included (the 8x8 array at 150 MHz on an ECP5-85k, the tiny core's synthesis: ~15 min); WASM cache in build/yowasp
fpga: $(STAMP)
	$(PY) -m pytest -m "slow or not slow" tests/test_fpga.py tests/test_board.py tests/rtl/test_axi.py

# array size x ECP5 size x clock (sweeps/fpga.toml): ~20 minutes once, then every point is cached (build/fpga, build/fpga-sweep)
fpga-sweep: $(STAMP)
	$(VENV)/bin/tinyaccel sweep sweeps/fpga.toml -o build/fpga-sweep --json build/fpga-sweep/sweep.json

bench: $(STAMP)
	$(PY) -m tinyaccel.bench --json build/bench.json

clean:
	rm -rf build sim_build .pytest_cache
