# Template repository tasks. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements/template-tests.txt | cksum | cut -d' ' -f1)

.PHONY: help test test-fast venv clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements/template-tests.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/template-tests.txt
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)  ## Create the virtual environment with the template's test tools

test: $(STAMP)  ## Run the whole template test suite (what CI runs)
	$(BIN)/pytest tests

test-fast: $(STAMP)  ## Template tests that need no project install (seconds)
	$(BIN)/pytest tests -m "not slow"

clean:  ## Remove virtual environments and caches
	rm -rf $(VENV) .venv-* .pytest_cache scratch

# Serving benchmark (not part of `make test`): the API against a bare Starlette app and
# batch inference against the model alone, on the aclImdb train tarball (2-3 minutes).
# BENCH_PYTHON needs the project's dependencies and cookiecutter.
.PHONY: bench-serving
BENCH_PYTHON ?= $(PYTHON)
IMDB_TARBALL ?=
bench-serving:  ## Benchmark API and batch inference (IMDB_TARBALL=<aclImdb train .tar.gz>)
	@test -n "$(IMDB_TARBALL)" || { echo "Set IMDB_TARBALL=<path to the aclImdb train tarball>" >&2; exit 2; }
	$(BENCH_PYTHON) benchmarks/bench_serving.py --data "$(IMDB_TARBALL)" $(BENCH_ARGS)
