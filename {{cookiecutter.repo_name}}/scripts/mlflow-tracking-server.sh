#!/usr/bin/env bash
# MLflow tracking server.
#
# Inputs (environment; the defaults give a local server inside the repository):
#   WORKING_DIR                    folder to run from (default: the folder above this script)
#   MLFLOW                         mlflow executable (default: mlflow)
#   MLFLOW_BACKEND_STORE_URI       e.g. postgresql://user:pass@host:5432/mlflow
#                                  (default sqlite:///mlflow.db)
#   MLFLOW_ARTIFACTS_DESTINATION   e.g. gs://<bucket>/mlflow-tracking-server (default ./mlartifacts)
#   MLFLOW_HOST / MLFLOW_PORT / MLFLOW_WORKERS   bind address (default 0.0.0.0), port (5005), workers (2)
#   MLFLOW_APP_NAME                e.g. basic-auth, to require MLFLOW_TRACKING_USERNAME/PASSWORD
#   MLFLOW_SERVER_ALLOWED_HOSTS    Host headers to accept besides localhost and private IPs
#                                  (read by MLflow itself; set it to the Service's DNS name)
# The backend URI holds a password: it is passed as an environment variable of this process
# only, and this script never echoes it.
set -euo pipefail

cd "${WORKING_DIR:-$(dirname "$0")/..}"

args=(
    server
    --backend-store-uri "${MLFLOW_BACKEND_STORE_URI:-sqlite:///mlflow.db}"
    --artifacts-destination "${MLFLOW_ARTIFACTS_DESTINATION:-./mlartifacts}"
    --host "${MLFLOW_HOST:-0.0.0.0}"
    --port "${MLFLOW_PORT:-5005}"
    --workers "${MLFLOW_WORKERS:-2}"
)
[[ -n "${MLFLOW_APP_NAME:-}" ]] && args+=(--app-name "${MLFLOW_APP_NAME}")

exec "${MLFLOW:-mlflow}" "${args[@]}" "$@"
