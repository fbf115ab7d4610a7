# Two entry points (see README): `make synth` and `make test`.
# Both create the virtualenv and install the locked Python and npm
# dependencies on first use; nothing is installed globally.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# the second environment: CDK Terrain (cdktn) instead of cdktf, for make test's second run
VENV_CDKTN := .venv-cdktn
PY_CDKTN := $(VENV_CDKTN)/bin/python
CDKTF := node_modules/.bin/cdktf

# Quiet, offline-friendly defaults for jsii, cdktf and terraform.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CHECKPOINT_DISABLE := 1
export CDKTF_DISABLE_PLUGIN_CACHE_ENV := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: synth test test-cdktn cdktn-deps lint drift schema tools bench bench-sim setup python-deps node-deps system-deps clean

synth: setup
	$(CDKTF) synth
	@echo "synthesized: $$(ls -d cdktf.out/stacks/*)"

# The real bpg/proxmox provider and OpenTofu, built once from the Go module proxy into .tools/
# (scripts/build-go-tools.sh; needs Go). Synthesis never needs them.
TOOLS := $(CURDIR)/.tools
# drift: the CLI config of the local mirror unless you set your own, and .tools/bin
# last on PATH (a terraform or tofu of your own wins).
TOOLS_ENV = TF_CLI_CONFIG_FILE="$${TF_CLI_CONFIG_FILE:-$(TOOLS)/terraformrc}" PATH="$$PATH:$(TOOLS)/bin"

test: setup cdktn-deps system-deps tools
	$(PY) -m pytest
	$(MAKE) --no-print-directory test-cdktn

# The unit suite again in .venv-cdktn (cdktn installed, cdktf not), so the library is chosen and
# tested under CDK Terrain.  Not repeated there: the e2e and LXC suites (they apply JSON that
# tests/test_engine.py shows equal under both engines, apart from the engine's version), the
# NVIDIA image builds (marker image: no engine involved), the code checks test_lint/test_layers
# (the same code either way; mypy reads cdktf's types) and test_engine.py itself (it drives
# both environments from the first run).
test-cdktn: cdktn-deps
	$(PY_CDKTN) -m pytest -p no:cacheprovider -m "not e2e and not lxc and not image" --ignore=tests/e2e --ignore=tests/lxc \
	  --ignore=tests/test_lint.py --ignore=tests/test_layers.py --ignore=tests/test_engine.py

# What `make test` also runs (tests/test_lint.py, tests/test_layers.py), quicker on its own.
lint: setup
	$(PY) -m ruff check constructs
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

# Exit 0 clean, 2 drift, 3 destructive plan (--plan), 1 error; see docs/drift-and-gitops.md.
drift: setup tools
	$(TOOLS_ENV) $(PY) -m pve_gpu_lxc drift

# Rewrites the kept bpg/proxmox schema from the built provider, then the L1 layer from it.
schema: setup tools
	$(PY) -m pve_gpu_lxc_testing.provider_schema --write
	$(PY) -m pve_gpu_lxc.l1.codegen

tools:
	@bash scripts/build-go-tools.sh

# Synthesis benchmark, ours vs raw cdktf, 1..1000 containers (docs/benchmarks.md); about 3 minutes.
bench: setup
	$(PY) benchmarks/synth_benchmark.py --with-suite

# Deploy / refresh / destroy of 1, 10, 50 containers on the simulated node with the real provider,
# and the drift command against a bare refresh-only plan (docs/benchmarks.md); about 2 minutes.
bench-sim: setup system-deps tools
	$(PY) benchmarks/sim_benchmark.py

setup: python-deps node-deps

python-deps: $(VENV)/.installed
node-deps: node_modules/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c requirements.lock -e '.[cdktf,dev]'
	touch $@

cdktn-deps: $(VENV_CDKTN)/.installed

$(VENV_CDKTN)/.installed: pyproject.toml requirements-cdktn.lock
	$(PYTHON) -m venv $(VENV_CDKTN)
	$(PY_CDKTN) -m pip install -q -c requirements-cdktn.lock -e '.[cdktn,dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian packages the LXC and end-to-end suites use (root only; a no-op when present).
system-deps:
	@bash scripts/install-system-deps.sh

clean:
	rm -rf cdktf.out .pytest_cache .hypothesis
