# sysconv: `make test` on a fresh machine sets everything up, then runs the regression.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.sysconv-setup
JOBS   ?= auto

.PHONY: setup test test-long lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/ensure-icarus.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,docs]'
	scripts/ensure-icarus.sh
	$(PY) -m sysconv.sim.toolchain
	@touch $@

test: setup
	$(PY) -m pytest -n $(JOBS) -m "not long"

test-long: setup
	$(PY) -m pytest -n $(JOBS) -m long

lint: setup
	$(VENV)/bin/ruff check hw golden sim sysconv tests formal
	$(PY) -m sysconv lint

clean:
	rm -rf build

# Formal proofs of the stream blocks with SymbiYosys (README, "Formal verification"): a table
# of every property and mutated design, about two minutes of CPU; `make test` runs the same
# checks through pytest. `make formal LONG=1` adds the deeper bounds (`pytest -m long`).
.PHONY: formal
formal: setup
	$(PY) -m sysconv.formal $(if $(LONG),--long)

.PHONY: demo
demo: setup
	$(PY) -m sysconv demo

# The benchmark (README, "Benchmarks"): cycles and PE utilisation, SCALE-Sim, simulation
# speed, regression time; writes bench/results/. About 20 minutes on 2 cores, most of it
# timing the regression twice.
.PHONY: bench
bench: setup
	$(PY) -m sysconv bench

# An FPGA board's bitstream, Verilog and resource/Fmax report in build/boards/$(BOARD)/
# (README, "FPGA boards"): `make bitstream BOARD=icebreaker` or `BOARD=ulx3s-85f`.
BOARD ?= icebreaker
.PHONY: bitstream
bitstream: setup
	$(PY) -m sysconv build --board $(BOARD)

# The manual (docs/, Sphinx with furo) in build/docs/, warnings as errors; open
# build/docs/index.html. tests/test_docs.py builds the same in `make test`.
.PHONY: docs
docs: setup
	$(PY) -m sphinx -W --keep-going -b html docs build/docs
