# Template repository tasks. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements/template-tests.txt | cksum | cut -d' ' -f1)

.PHONY: help demo test test-fast test-images venv clean bench bench-serving bench-images

help:  ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements/template-tests.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/template-tests.txt
	rm -f $(VENV)/.installed-*
	touch $@

demo:  ## Bake a project and run its whole pipeline here (IMDB_TARBALL=path to use real data)
	$(PYTHON) demo/run_demo.py $(if $(IMDB_TARBALL),--imdb-tarball "$(IMDB_TARBALL)") $(DEMO_ARGS)

venv: $(STAMP)  ## Create the virtual environment with the template's test tools

test: $(STAMP)  ## Run the whole template test suite (what CI runs)
	$(BIN)/pytest tests

test-fast: $(STAMP)  ## Template tests that need no project install (seconds)
	$(BIN)/pytest tests -m "not slow"

# The image tests need a Docker engine (started, or installed from Debian's packages, as root)
# and PostgreSQL; without them they skip with one line, and under CI=true they fail.
test-images: $(STAMP)  ## Build every image of a baked project and run each container's job
	$(BIN)/pytest tests/images

clean:  ## Remove virtual environments and caches
	rm -rf $(VENV) .venv-* .pytest_cache scratch

# Benchmarks (not part of `make test`) on the aclImdb train tarball. BENCH_PYTHON names a
# Python with the project's dependencies (and cookiecutter for bench-serving).
bench: $(STAMP)  ## Pipeline benchmark: data prep, training, hand-written baseline (BENCH_PYTHON=venv python)
	$(BIN)/python benchmarks/bench_pipeline.py $(if $(BENCH_PYTHON),--python $(BENCH_PYTHON)) $(if $(IMDB_TARBALL),--tarball "$(IMDB_TARBALL)")

bench-images: $(STAMP)  ## Image benchmark: cold build, rebuild after a .py edit, start to healthy, sizes, latency
	$(BIN)/python benchmarks/bench_images.py $(BENCH_ARGS)

bench-serving:  ## Benchmark API and batch inference (IMDB_TARBALL=<aclImdb train .tar.gz>)
	@test -n "$(IMDB_TARBALL)" || { echo "Set IMDB_TARBALL=<path to the aclImdb train tarball>" >&2; exit 2; }
	$(or $(BENCH_PYTHON),$(PYTHON)) benchmarks/bench_serving.py --data "$(IMDB_TARBALL)" $(BENCH_ARGS)
