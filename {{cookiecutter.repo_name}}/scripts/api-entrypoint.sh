#!/usr/bin/env bash
# Model serving: the FastAPI app under gunicorn with uvicorn workers.
#
# The model is chosen at start-up, never at build time. The app reads, in this order:
#   PRED_MODEL_URI   any MLflow model URI, e.g. models:/<name>@champion or runs:/<run id>/model
#   PRED_MODEL_PATH  a local model folder (e.g. a mounted volume)
#   PRED_MODEL_UUID  an MLflow run id (its logged model)
# The first one set wins (src/*_fastapi/config.py, Settings.model_source).
# Inputs (environment; optional):
#   WORKING_DIR  repository root (default: the folder above this script)
#   GUNICORN     gunicorn executable (default: gunicorn)
#   API_HOST / API_PORT / API_WORKERS / API_TIMEOUT   bind address, port, workers, timeout
#   OMP_NUM_THREADS  math threads per worker (default: this machine's cores / workers, at
#                    least 1), so that workers running a transformer (torch) or BLAS at
#                    the same time do not oversubscribe the cores
# Extra arguments are passed on to gunicorn. No --access-logfile: the app logs one line
# per request itself (path without the query string, line breaks escaped); uvicorn's
# access line would add the query string, which may carry tokens, unescaped.
# No control socket: nothing uses it, and it would be written under $HOME, which is
# read-only in a read-only container.
set -euo pipefail

cd "${WORKING_DIR:-$(dirname "$0")/..}/src"

if [[ -z "${PRED_MODEL_URI:-}${PRED_MODEL_UUID:-}${PRED_MODEL_PATH:-}" ]]; then
    echo "No model given: set PRED_MODEL_URI, PRED_MODEL_PATH or PRED_MODEL_UUID" >&2
    exit 2
fi

workers="${API_WORKERS:-4}"
cores="$(nproc)"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(( cores / workers > 0 ? cores / workers : 1 ))}"

exec "${GUNICORN:-gunicorn}" "{{ cookiecutter.src_package_name }}_fastapi.main:APP" \
    --bind "${API_HOST:-0.0.0.0}:${API_PORT:-8080}" \
    --workers "$workers" \
    --worker-class uvicorn_worker.UvicornWorker \
    --timeout "${API_TIMEOUT:-120}" \
    --graceful-timeout 30 \
    --no-control-socket \
    "$@"
