# Two entry points for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
ARGS   ?=
# The reproducible environment: exact versions from constraints.txt (pyproject.toml has ranges).
CONSTRAINTS ?= constraints.txt
# Where torch comes from. Empty: pip's configuration (PyPI gives the CUDA build on Linux). A CPU-only
# machine: make TORCH_INDEX=https://download.pytorch.org/whl/cpu ; a GPU workstation with CUDA 12.8:
# make TORCH_INDEX=https://download.pytorch.org/whl/cu128 (or keep the torch you have: pip install -e .).
TORCH_INDEX ?=

.PHONY: run test install install-dev install-browser lint clean

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, from TORCH_INDEX when given: botorch would otherwise pull PyPI's CUDA build.
	$(PIP) install -q -c $(CONSTRAINTS) torch $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PIP) install -q -c $(CONSTRAINTS) -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -q -c $(CONSTRAINTS) -e ".[dev]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Debian's chromium + chromedriver for the dashboard's browser test (skips without them).
install-browser:
	bash .ci/install-browser

run: install
	$(VENV)/bin/autoscope $(ARGS)

# ruff (style, common bugs) and mypy (the declared contracts) over the whole tree; settings in pyproject.toml.
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# the suite on PYTEST_WORKERS processes (pytest-xdist); PYTEST_WORKERS=0 runs it in this process
PYTEST_WORKERS ?= 2
test: install-dev install-browser lint
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) $(ARGS)

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
