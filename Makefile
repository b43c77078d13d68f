# The README's commands are these targets. `make install` pins the CPU torch build that lies on
# our machines' disk; elsewhere override it, e.g. `make install TORCH=torch` for a CUDA build.
# `make run` installs the package only; `make test` adds the test extras (moto, selenium, dvc-s3, …).
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip install -q --disable-pip-version-check
# torch comes through pip (which finds our disk's CPU build); the rest through uv, which fetches and
# installs the ~110 packages dvc and the test extras need in parallel: 64 s → 9 s (AMD EPYC, 2026-11-30).
# uv keeps the torch already there, as any torch >= 2.4 satisfies pyproject.toml.
UV     ?= uv==0.13.9
UV_PIP := $(BIN)/uv pip install -q --python $(BIN)/python

.PHONY: install install-test run test bench

$(BIN)/g3an-cli: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) "$(TORCH)" "$(UV)"
	$(UV_PIP) -e .
	touch $@

$(VENV)/.test-extras: $(BIN)/g3an-cli pyproject.toml
	$(UV_PIP) -e '.[test]'
	touch $@

install: $(BIN)/g3an-cli

install-test: $(VENV)/.test-extras

# the main job: the default pipeline (synthetic data set, CPU demo width) under DVC
run: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

test: install-test
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/bench_attention.py
	$(BIN)/python benchmarks/bench_model.py
	$(BIN)/python benchmarks/bench_data.py
	@if [ -n "$(PUBLIC)" ]; then $(BIN)/python benchmarks/bench_public.py --public "$(PUBLIC)"; \
	else echo "bench: skipped bench_public.py (make bench PUBLIC=path/to/g3an-project compares with the public code)"; fi
