# Two entry points (see README): `make synth` and `make test`.
# Both create the virtualenv and install the locked Python and npm
# dependencies on first use; nothing is installed globally.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CDKTF := node_modules/.bin/cdktf

# Quiet, offline-friendly defaults for jsii, cdktf and terraform.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CHECKPOINT_DISABLE := 1
export CDKTF_DISABLE_PLUGIN_CACHE_ENV := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: synth test drift bench setup python-deps node-deps system-deps clean

synth: setup
	$(CDKTF) synth
	@echo "synthesized: $$(ls -d cdktf.out/stacks/*)"

test: setup system-deps
	$(PY) -m pytest

# Exit 0 clean, 2 drift, 3 destructive plan (--plan), 1 error; see docs/drift-and-gitops.md.
drift: setup
	$(PY) -m pve_gpu_lxc drift

# Synthesis benchmark, ours vs raw cdktf, 1..1000 containers (docs/benchmarks.md); about 3 minutes.
bench: setup
	$(PY) benchmarks/synth_benchmark.py --with-suite

setup: python-deps node-deps

python-deps: $(VENV)/.installed
node-deps: node_modules/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c requirements.lock -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian packages the LXC and end-to-end suites use (root only; a no-op when present).
system-deps:
	@bash scripts/install-system-deps.sh

clean:
	rm -rf cdktf.out .pytest_cache .hypothesis
