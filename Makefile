# Template repository tasks. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements/template-tests.txt | cksum | cut -d' ' -f1)

.PHONY: help demo test test-fast test-images venv clean bench bench-serving bench-api-latency bench-api-vs-mlflow bench-tune-defaults bench-images screenshots gpu-check-prepare gpu-check

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

bench-tune-defaults: $(STAMP)  ## NBSVM's defaults by 5-fold CV on the train tarball (~25 min, niced; BENCH_PYTHON=venv python)
	rm -rf scratch/tune-defaults && $(BIN)/cookiecutter --no-input -o scratch/tune-defaults .
	nice -n 19 $(or $(BENCH_PYTHON),$(PYTHON)) benchmarks/tune_defaults.py --project scratch/tune-defaults/* \
		$(if $(IMDB_TARBALL),--tarball "$(IMDB_TARBALL)") $(BENCH_ARGS)

bench-images: $(STAMP)  ## Image benchmark: cold build, rebuild after a .py edit, start to healthy, sizes, latency
	$(BIN)/python benchmarks/bench_images.py $(BENCH_ARGS)

bench-serving:  ## Benchmark API and batch inference (IMDB_TARBALL=<aclImdb train .tar.gz>)
	@test -n "$(IMDB_TARBALL)" || { echo "Set IMDB_TARBALL=<path to the aclImdb train tarball>" >&2; exit 2; }
	$(or $(BENCH_PYTHON),$(PYTHON)) benchmarks/bench_serving.py --data "$(IMDB_TARBALL)" $(BENCH_ARGS)

bench-api-latency:  ## API latency at 8 clients for a saved model, any kind (BENCH_ARGS="--model <folder>")
	@test -n "$(BENCH_ARGS)" || { echo 'Set BENCH_ARGS="--model <saved model folder> [--workers 2 --clients 8]"' >&2; exit 2; }
	$(or $(BENCH_PYTHON),$(PYTHON)) benchmarks/bench_api_latency.py $(BENCH_ARGS)

bench-api-vs-mlflow:  ## The API against mlflow models serve, one model, 2 workers each (BENCH_ARGS="--model <folder>")
	@test -n "$(BENCH_ARGS)" || { echo 'Set BENCH_ARGS="--model <saved model folder> [--workers 2 --clients 8]"' >&2; exit 2; }
	$(or $(BENCH_PYTHON),$(PYTHON)) benchmarks/bench_api_vs_mlflow.py $(BENCH_ARGS)

# The guide's screenshots: bake, run the pipeline on IMDB_TARBALL's reviews (else the sample
# corpus), start the MLflow UI and the API, capture them with headless Chromium (Debian's chromium
# + playwright; no browser download); then the cluster rehearsal's Polyaxon runs and bucket
# (Docker; SCREENSHOTS_ARGS=--no-rehearsal skips them).
# SCREENSHOTS_PYTHON: a venv python with the project's dependencies and playwright. Offline,
# SWAGGER_UI_DIST=<unpacked npm swagger-ui-dist@5.35.0> stands in for the CDN that /docs loads.
# By default .venv-screenshots is created and the baked project, with its dev extra (playwright
# included), is installed into it.
SCREENSHOTS_PYTHON ?= .venv-screenshots/bin/python
screenshots:  ## Remake the guide's screenshots ({{cookiecutter.repo_name}}/assets/*.png) in a real browser
	test -x "$(SCREENSHOTS_PYTHON)" || $(PYTHON) -m venv "$$(dirname "$$(dirname "$(SCREENSHOTS_PYTHON)")")"
	$(SCREENSHOTS_PYTHON) tools/screenshots.py --venv "$$(dirname "$$(dirname "$(SCREENSHOTS_PYTHON)")")" \
		$(if $(SWAGGER_UI_DIST),--swagger-ui-dist "$(SWAGGER_UI_DIST)") \
		$(if $(IMDB_TARBALL),--imdb-tarball "$(IMDB_TARBALL)") $(SCREENSHOTS_ARGS)

# GPU check of model=transformer: prepare a <= 64 MiB bundle here (BENCH_PYTHON: a Python
# with the project's [neural] dependencies), then run it on a machine with a GPU.
gpu-check-prepare: $(STAMP)  ## Tokenise the IMDB tarball and pack fp16 weights into scratch/gpu-check
	$(BIN)/python benchmarks/gpu_check_prepare.py $(if $(BENCH_PYTHON),--python $(BENCH_PYTHON)) $(if $(IMDB_TARBALL),--tarball "$(IMDB_TARBALL)")

gpu-check:  ## Fine-tune on the bundle, print accuracy, training time, throughput (GPU_CHECK_ARGS=--smoke on CPU)
	$(or $(BENCH_PYTHON),$(PYTHON)) benchmarks/gpu_check.py --bundle scratch/gpu-check $(GPU_CHECK_ARGS)
