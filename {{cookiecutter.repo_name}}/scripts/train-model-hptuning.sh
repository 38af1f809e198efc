#!/usr/bin/env bash
# Hyperparameter tuning: an Optuna sweep through Hydra's multirun, optionally with several
# worker processes that share one study.
#
# Inputs (environment; every one is optional):
#   WORKING_DIR, PYTHON, INPUT_DATA_DIR, SETUP_MLFLOW, MLFLOW_AUTOLOG, MLFLOW_TRACKING_URI,
#   MLFLOW_EXP_NAME      as for train-model.sh
#   MLFLOW_HPTUNING_TAG  tag shared by the sweep's runs (read by the training code)
#   OPTUNA_STORAGE       study storage URL, e.g. postgresql+psycopg2://user:pass@host:5432/optuna
#                        or sqlite:///optuna.db. The config reads it (hydra.sweeper.storage is
#                        ${oc.env:OPTUNA_STORAGE,null}), so the password never lands on a command
#                        line or in .hydra/ files, and the logs show it redacted.
#   OPTUNA_STUDY_NAME    study name (hydra.sweeper.study_name); workers join the same study
#   N_TRIALS             trials in total, split across the workers
#   N_WORKERS            worker processes started at once (default 1); more than one needs
#                        OPTUNA_STORAGE, or each worker would tune a private in-memory study
#   SWEEP_DIR            parent output folder for the workers (default multirun/<timestamp>)
# Extra arguments are passed on to Hydra as overrides.
# SIGTERM or Ctrl-C: each worker ends its MLflow run KILLED and its Optuna trial FAIL. With
# several workers this script forwards the signal to them and waits until they have done so.
set -euo pipefail

cd "${WORKING_DIR:-$(dirname "$0")/..}"

# The config reads these from the environment; an empty one would override its default.
[[ -z "${MLFLOW_TRACKING_URI:-}" ]] && unset MLFLOW_TRACKING_URI
[[ -z "${OPTUNA_STORAGE:-}" ]] && unset OPTUNA_STORAGE

n_workers="${N_WORKERS:-1}"
if ! [[ "$n_workers" =~ ^[1-9][0-9]*$ ]]; then
    echo "N_WORKERS must be a positive integer, got '${n_workers}'" >&2
    exit 2
fi
if (( n_workers > 1 )) && [[ -z "${OPTUNA_STORAGE:-}" ]]; then
    echo "N_WORKERS=${n_workers} needs OPTUNA_STORAGE: workers share a study only through storage" >&2
    exit 2
fi
if [[ -n "${N_TRIALS:-}" ]] && ! [[ "$N_TRIALS" =~ ^[1-9][0-9]*$ ]]; then
    echo "N_TRIALS must be a positive integer, got '${N_TRIALS}'" >&2
    exit 2
fi

overrides=()
[[ -n "${INPUT_DATA_DIR:-}" ]] && overrides+=("train.data_path=${INPUT_DATA_DIR}")
[[ -n "${SETUP_MLFLOW:-}" ]] && overrides+=("train.setup_mlflow=${SETUP_MLFLOW,,}")
[[ -n "${MLFLOW_AUTOLOG:-}" ]] && overrides+=("train.mlflow_autolog=${MLFLOW_AUTOLOG,,}")
[[ -n "${MLFLOW_EXP_NAME:-}" ]] && overrides+=("train.mlflow_exp_name=${MLFLOW_EXP_NAME}")
[[ -n "${OPTUNA_STUDY_NAME:-}" ]] && overrides+=("hydra.sweeper.study_name=${OPTUNA_STUDY_NAME}")

if (( n_workers == 1 )); then
    [[ -n "${N_TRIALS:-}" ]] && overrides+=("hydra.sweeper.n_trials=${N_TRIALS}")
    exec "${PYTHON:-python}" src/train_model_hptuning.py --multirun "${overrides[@]}" "$@"
fi

# The workers share one study: create it, and the storage's tables, once before they start
# (workers creating them at the same moment on an empty database collide). The storage URL
# stays in the environment; name and direction come from the config and the workers'
# overrides (it reads only their hydra.sweeper.* ones).
PYTHONPATH="src${PYTHONPATH:+:${PYTHONPATH}}" "${PYTHON:-python}" \
    -m {{ cookiecutter.src_package_name }}.modeling.shared_study "${overrides[@]}" "$@"

sweep_dir="${SWEEP_DIR:-multirun/$(date +%Y-%m-%d/%H-%M-%S)}"
pids=()
stopping=0
# Installed before the first worker starts, so a signal during the start loop reaches every
# worker already started. Background jobs of a script ignore SIGINT, so Ctrl-C is forwarded as
# SIGTERM; the workers then end their runs (KILLED) and trials (FAIL) before this script exits.
# shellcheck disable=SC2329  # called by the trap below
stop_workers() {
    stopping=1
    if [[ -n "${pids[*]:-}" ]]; then
        kill -TERM "${pids[@]}" 2>/dev/null || true
    fi
}
trap stop_workers INT TERM

for (( i = 0; i < n_workers; i++ )); do
    (( stopping )) && break
    worker=("${overrides[@]}" "hydra.sweep.dir=${sweep_dir}/worker-${i}")
    if [[ -n "${N_TRIALS:-}" ]]; then
        # Split the total: the first (N_TRIALS mod N_WORKERS) workers take one more trial.
        share=$(( N_TRIALS / n_workers + (i < N_TRIALS % n_workers ? 1 : 0) ))
        (( share == 0 )) && continue
        worker+=("hydra.sweeper.n_trials=${share}")
    fi
    "${PYTHON:-python}" src/train_model_hptuning.py --multirun "${worker[@]}" "$@" &
    pids+=("$!")
done

status=0
for pid in "${pids[@]}"; do
    # `wait` returns early when a trapped signal arrives: wait again until the worker has ended.
    while true; do
        wait "$pid" && break
        code=$?
        kill -0 "$pid" 2>/dev/null && continue
        status=$code
        break
    done
done
(( stopping )) && exit 143
exit "$status"
