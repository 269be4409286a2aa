# sysconv: `make test` on a fresh machine sets everything up, then runs the regression.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.sysconv-setup
# uv installs what pip would, from PyPI, in a sixth of the time (37 s against 3 min here).
UV     := $(VENV)/bin/uv pip
JOBS   ?= auto

.PHONY: setup test test-long lint lint-python clean upgrade-tools

setup: $(STAMP)

# The tools that reports depend on install at the versions pinned in constraints.txt.
$(STAMP): pyproject.toml constraints.txt scripts/ensure-icarus.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet 'uv>=0.9,<1'
	$(UV) install --python $(PY) --quiet --compile-bytecode -e '.[test,docs]' -c constraints.txt
	scripts/ensure-icarus.sh
	$(PY) -m sysconv.sim.toolchain
	@touch $@

# The regression: what a reviewer checks (ruff's lint and format), then every test not marked
# long, on every simulator. Simulator models are cached in build/sim by their Verilog's hash,
# Yosys and nextpnr runs in build/tools by their inputs.
test: setup lint-python bytecode
	$(PY) -m pytest -n $(JOBS) -m "not long"

# The long sweeps: tests marked long, and the fuzz tests with hypothesis's "long" profile.
test-long: setup bytecode
	$(PY) -m pytest -n $(JOBS) -m "long or fuzz" --hypothesis-profile=long

# Every simulator and tool run is a new Python process importing numpy, amaranth, cocotb and
# sysconv: with their bytecode compiled once (setup: the installed packages; here: this
# checkout's, which an environment with PYTHONDONTWRITEBYTECODE never caches) each import
# skips compiling. Up-to-date files are skipped, so a second run costs nothing.
.PHONY: bytecode
bytecode: setup
	$(PY) -m compileall -q -j 0 sysconv hw golden sim formal models tests

lint-python: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

lint: lint-python
	$(PY) -m sysconv lint

clean:
	rm -rf build

# Moves the pinned tools (constraints.txt) on, deliberately: upgrades them within
# pyproject.toml's ranges, pins what got installed, and reruns the checks on the new versions.
upgrade-tools: setup
	$(UV) install --python $(PY) --quiet --upgrade -e '.[test,docs]' $$($(PY) -m sysconv.tools --packages)
	$(PY) -m sysconv.tools --constraints > constraints.txt.new
	mv constraints.txt.new constraints.txt
	@touch $(STAMP)
	$(PY) -m pytest -n $(JOBS) -m "not long"

# Formal proofs of the stream blocks with SymbiYosys (README, "Formal verification"): a table
# of every property and mutated design, about seven minutes of CPU; `make test` runs the same
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
