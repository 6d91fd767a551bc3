# robustlab: one command to set up and run each study, one to test.
#   make radiomics   simulate the phantom study, extract, analyse, report
#   make pruning     sparsity sweep of two small models on procedural data, report
#   make test        set up everything and run the whole test suite
#   make docs        build the documentation site into site/ (mkdocs build --strict)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --quiet --disable-pip-version-check
# Stamps are keyed on the content of every pyproject.toml and of this Makefile:
# an unchanged tree re-runs no install.
KEY    := $(shell cat pyproject.toml packages/*/pyproject.toml Makefile 2>/dev/null | sha1sum | cut -c1-12)
STAMP_BASE      := $(VENV)/.stamp-base-$(KEY)
STAMP_RADIOMICS := $(VENV)/.stamp-radiomics-$(KEY)
STAMP_PRUNING   := $(VENV)/.stamp-pruning-$(KEY)
STAMP_TEST      := $(VENV)/.stamp-test-$(KEY)
STAMP_DOCS      := $(VENV)/.stamp-docs-$(KEY)

.PHONY: help install install-radiomics install-pruning radiomics pruning test docs-test fuzz bench lint typecheck docs clean gpu-check

help:
	@echo "make radiomics | make pruning | make test | make docs-test | make fuzz | make bench | make lint | make typecheck | make docs | make clean"

$(STAMP_BASE):
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install "numpy>=1.24" versioneer setuptools wheel
	$(PIP) install -e packages/common
	@touch $@

# pyradiomics 3.0.1 imports numpy and versioneer in its setup.py, so it is built without
# isolation; PyPI's 3.1.0 source release is broken (its metadata says 3.0.1a1).
$(STAMP_RADIOMICS): $(STAMP_BASE)
	$(PY) -c "import radiomics" 2>/dev/null || $(PIP) install --no-build-isolation "pyradiomics==3.0.1"
	$(PY) -c "from radiomics import cMatrices, cShape"
	$(PIP) install -e packages/common -e packages/radiomics
	@touch $@

$(STAMP_PRUNING): $(STAMP_BASE)
	$(PIP) install -e packages/common -e packages/pruning
	@touch $@

$(STAMP_TEST): $(STAMP_RADIOMICS) $(STAMP_PRUNING) $(STAMP_DOCS)
	$(PIP) install -e "packages/common[test]" -e "packages/pruning[test]"
	@touch $@

install-radiomics: $(STAMP_RADIOMICS)
install-pruning: $(STAMP_PRUNING)
install: $(STAMP_TEST)

# The built-in default: the digital phantom's `paper` protocol, simulated, extracted, analysed.
radiomics: $(STAMP_RADIOMICS)
	$(VENV)/bin/robustlab-radiomics $(ARGS)

# The built-in default: `synthetic_quick` (a small ResNet and a small ViT, one job each),
# then every job gathered into one sweet-spot analysis and report.
PRUNING_DIR ?= outputs/pruning/synthetic_quick
pruning: $(STAMP_PRUNING)
	$(VENV)/bin/robustlab-prune -m experiment=synthetic_quick hydra.sweep.dir=$(PRUNING_DIR) $(ARGS)
	$(VENV)/bin/robustlab-prune-aggregate $(PRUNING_DIR)

test: $(STAMP_TEST)
	$(PY) -m pytest $(PYTEST_ARGS)

# Every command of the docs pages as written (tests/e2e/test_docs_commands.py), the ones their
# markers call long (minutes) too, which `make test` leaves out; prints which blocks ran and why
# the others did not.
docs-test: $(STAMP_TEST)
	ROBUSTLAB_DOCS_LONG=1 $(PY) -m pytest tests/e2e/test_docs_commands.py -rs $(PYTEST_ARGS)

# The fuzz suite (tests/fuzz, marker `fuzz`) with fresh random examples, FUZZ_EXAMPLES per test and
# round, round after round until FUZZ_MINUTES are up (a round started in time is finished); it
# stops at the first failure. Each round prints the examples tried per test, the end the total.
FUZZ_MINUTES  ?= 20
FUZZ_EXAMPLES ?= 1000
fuzz: $(STAMP_TEST)
	@end=$$(( $$(date +%s) + 60 * $(FUZZ_MINUTES) )); start=$$(date +%s); round=0; total=0; \
	log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	while [ $$(date +%s) -lt $$end ]; do \
	  round=$$((round + 1)); echo "== fuzz round $$round"; \
	  HYPOTHESIS_PROFILE=fuzz FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/fuzz -m fuzz -q \
	    -p no:cacheprovider --hypothesis-show-statistics > "$$log" 2>&1 \
	    || { cat "$$log"; echo "fuzz: a finding in round $$round"; exit 1; }; \
	  awk '/::test_/ {t=$$NF} /passing, [0-9]+ failing/ {print "  " t, $$2}' "$$log"; \
	  n=$$(awk '/passing, [0-9]+ failing/ {s += $$2} END {print s + 0}' "$$log"); \
	  echo "round $$round: $$n examples"; total=$$((total + n)); \
	done; \
	echo "fuzz: $$round round(s), $$total examples, $$(( $$(date +%s) - start )) s, no finding"

# Every bench runs; their rows become one table in the benches page (docs/reference/benches.md,
# else the README); make fails when one of them missed a target it printed (exit status 1).
bench: $(STAMP_TEST)
	@rows=$$(mktemp); failed=""; page=README.md; if [ -f docs/reference/benches.md ]; then page=docs/reference/benches.md; fi; \
	for b in bench/bench_*.py; do echo "== $$b"; ROBUSTLAB_BENCH_ROWS=$$rows $(PY) $$b || failed="$$failed $$b"; done; \
	$(PY) bench/table.py $$rows $$page; rm -f $$rows; \
	if [ -n "$$failed" ]; then echo "missed targets in:$$failed"; exit 1; fi

lint: $(STAMP_TEST)
	$(PY) -m ruff check packages tests bench scripts
	$(MAKE) --no-print-directory typecheck

# mypy on the three packages (its settings: [tool.mypy] in pyproject.toml).
typecheck: $(STAMP_TEST)
	$(PY) -m mypy packages/common/src/robustlab/common packages/pruning/src/robustlab/pruning \
	  packages/radiomics/src/robustlab/radiomics

# The documentation site: docs/*.md and the API pages that mkdocstrings renders from the
# docstrings (read from the source by griffe: neither study needs to be installed). --strict turns
# every warning (a broken link, a missing reference, a docstring that does not parse) into a failure;
# CITATION.cff is validated against the Citation File Format schema.
# The site's search from disk needs the iframe-worker shim (npm, MIT), which Material's offline
# plugin would load from unpkg.com: it is fetched once into .cache/docs (scripts/mkdocs_offline.py
# puts it into the site). The browser test uses the system's Chromium (Playwright's own download
# needs a network): installed here with apt where this runs as root, else that test is skipped.
$(STAMP_DOCS): $(STAMP_BASE)
	$(PIP) install -e "packages/common[docs]"
	mkdir -p .cache/docs/iframe-worker
	cd .cache/docs && npm pack --silent iframe-worker@1.0.4 > /dev/null && tar -xzf iframe-worker-1.0.4.tgz -C iframe-worker
	@command -v chromium > /dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) > /dev/null; } \
	  || echo "note: no Chromium installed; the docs browser test will be skipped"
	@touch $@

docs: $(STAMP_DOCS)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict
	$(VENV)/bin/cffconvert --validate -i CITATION.cff

gpu-check: $(STAMP_PRUNING)
	bash scripts/gpu_check.sh

clean:
	rm -rf $(VENV) outputs multirun site .pytest_cache .ruff_cache .mypy_cache .cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
