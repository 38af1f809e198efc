#!/usr/bin/env bash
# MLflow tracking server.
#
# Inputs (environment; the defaults give a local server inside the repository). mlflow server
# reads each of these variables itself, so none of them is put on its command line:
#   WORKING_DIR                    folder to run from (default: the folder above this script)
#   MLFLOW                         mlflow executable (default: mlflow)
#   MLFLOW_BACKEND_STORE_URI       e.g. postgresql+psycopg2://user:pass@host:5432/mlflow
#                                  (default sqlite:///mlflow.db). It holds a password: it stays in
#                                  this process's environment, never on a command line (visible
#                                  to `ps` and node agents) and never echoed.
#   MLFLOW_ARTIFACTS_DESTINATION   e.g. gs://<bucket>/mlflow-tracking-server (default ./mlartifacts)
#   MLFLOW_HOST                    bind address. Default 127.0.0.1 (this machine only: the server
#                                  has no authentication unless MLFLOW_APP_NAME is set). In a
#                                  container (Kubernetes sets KUBERNETES_SERVICE_HOST; Docker
#                                  creates /.dockerenv) the default is 0.0.0.0, which the
#                                  Deployment's Service and `docker run -p` need to reach it.
#   MLFLOW_PORT / MLFLOW_WORKERS   port (default 5005), worker processes (default 2)
#   MLFLOW_APP_NAME                e.g. basic-auth, to require MLFLOW_TRACKING_USERNAME/PASSWORD
#                                  (the Kubernetes Deployment sets it)
#   MLFLOW_SERVER_ALLOWED_HOSTS    Host headers to accept besides localhost and private IPs
#                                  (set it to the Service's DNS name)
# Extra arguments are passed on to `mlflow server`.
set -euo pipefail

cd "${WORKING_DIR:-$(dirname "$0")/..}"

if [[ -n "${KUBERNETES_SERVICE_HOST:-}" || -f /.dockerenv ]]; then
    default_host=0.0.0.0
else
    default_host=127.0.0.1
fi
export MLFLOW_BACKEND_STORE_URI="${MLFLOW_BACKEND_STORE_URI:-sqlite:///mlflow.db}"
export MLFLOW_ARTIFACTS_DESTINATION="${MLFLOW_ARTIFACTS_DESTINATION:-./mlartifacts}"
export MLFLOW_HOST="${MLFLOW_HOST:-${default_host}}"
export MLFLOW_PORT="${MLFLOW_PORT:-5005}"
export MLFLOW_WORKERS="${MLFLOW_WORKERS:-2}"

args=(server)
[[ -n "${MLFLOW_APP_NAME:-}" ]] && args+=(--app-name "${MLFLOW_APP_NAME}")

exec "${MLFLOW:-mlflow}" "${args[@]}" "$@"
