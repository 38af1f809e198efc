#!/usr/bin/env bash
# Hyperparameter tuning: an Optuna sweep through Hydra's multirun, optionally with several
# worker processes that share one study.
#
# Inputs (environment; every one is optional):
#   WORKING_DIR, PYTHON, INPUT_DATA_DIR, SETUP_MLFLOW, MLFLOW_AUTOLOG, MLFLOW_TRACKING_URI,
#   MLFLOW_EXP_NAME      as for train-model.sh
#   MLFLOW_HPTUNING_TAG  tag shared by the sweep's runs (read by the training code)
#   OPTUNA_STORAGE       study storage URL, e.g. postgresql://user:pass@host:5432/optuna or
#                        sqlite:///optuna.db. It is handed to Hydra as ${oc.env:OPTUNA_STORAGE},
#                        so the password never lands on the command line or in .hydra/ files.
#   OPTUNA_STUDY_NAME    study name (hydra.sweeper.study_name); workers join the same study
#   N_TRIALS             trials in total, split across the workers
#   N_WORKERS            worker processes started at once (default 1); more than one needs
#                        OPTUNA_STORAGE, or each worker would tune a private in-memory study
#   SWEEP_DIR            parent output folder for the workers (default multirun/<timestamp>)
# Extra arguments are passed on to Hydra as overrides.
set -euo pipefail

cd "${WORKING_DIR:-$(dirname "$0")/..}"

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
[[ -n "${MLFLOW_TRACKING_URI:-}" ]] && overrides+=("train.mlflow_tracking_uri=${MLFLOW_TRACKING_URI}")
[[ -n "${MLFLOW_EXP_NAME:-}" ]] && overrides+=("train.mlflow_exp_name=${MLFLOW_EXP_NAME}")
# Single quotes on purpose: Hydra resolves the interpolation, the shell must not.
# shellcheck disable=SC2016
[[ -n "${OPTUNA_STORAGE:-}" ]] && overrides+=('hydra.sweeper.storage=${oc.env:OPTUNA_STORAGE}')
[[ -n "${OPTUNA_STUDY_NAME:-}" ]] && overrides+=("hydra.sweeper.study_name=${OPTUNA_STUDY_NAME}")

if (( n_workers == 1 )); then
    [[ -n "${N_TRIALS:-}" ]] && overrides+=("hydra.sweeper.n_trials=${N_TRIALS}")
    exec "${PYTHON:-python}" src/train_model_hptuning.py --multirun "${overrides[@]}" "$@"
fi

sweep_dir="${SWEEP_DIR:-multirun/$(date +%Y-%m-%d/%H-%M-%S)}"
pids=()
for (( i = 0; i < n_workers; i++ )); do
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

# Stop the other workers when this script is stopped (pod eviction, Ctrl-C).
trap 'kill "${pids[@]}" 2>/dev/null || true' INT TERM

status=0
for pid in "${pids[@]}"; do
    wait "$pid" || status=$?
done
exit "$status"
