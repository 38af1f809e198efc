#!/usr/bin/env bash
# Hyperparameter tuning: an Optuna sweep through Hydra's multirun, optionally with several
# worker processes that share one study.
#
# Inputs (environment; every one is optional):
#   WORKING_DIR, PYTHON, INPUT_DATA_DIR, SETUP_MLFLOW, MLFLOW_AUTOLOG, MLFLOW_TRACKING_URI,
#   MLFLOW_EXP_NAME      as for train-model.sh
#   MLFLOW_HPTUNING_TAG  tag shared by the sweep's runs (default with N_WORKERS > 1: $(date +%s))
#   OPTUNA_STORAGE       study storage URL, e.g. postgresql+psycopg2://user:pass@host:5432/optuna
#                        or sqlite:///optuna.db. The config reads it (hydra.sweeper.storage is
#                        ${oc.env:OPTUNA_STORAGE,null}), so the password never lands on a command
#                        line or in .hydra/ files, and the logs show it redacted.
#   OPTUNA_STUDY_NAME    study name (hydra.sweeper.study_name); workers join the same study
#   N_TRIALS             trials in total, split across the workers
#   N_WORKERS            worker processes started at once (default 1); more than one needs
#                        OPTUNA_STORAGE, or each worker would tune a private in-memory study
#   SWEEP_DIR            parent output folder for the workers (default multirun/<timestamp>)
#   HPTUNING_PROMOTE     false when this job is one of several on one sweep (several pods):
#                        its workers do not crown, and no start or finish step runs here (run
#                        them once, before and after all the jobs; see sweep_steps.py)
# Extra arguments are passed on to Hydra as overrides.
# With N_WORKERS > 1: a start step creates the study and the sweep's parent MLflow run, the
# workers run (hptuning.promote=false), and a finish step crowns the champion once.
# SIGTERM or Ctrl-C: each worker ends its MLflow run KILLED and its Optuna trial FAIL. With
# several workers this script forwards the signal to them, waits until they have done so, and
# ends the parent run KILLED. The exit status is not 0 when a worker or a step failed.
set -euo pipefail

cd "${WORKING_DIR:-$(dirname "$0")/..}"

# The config reads these from the environment; an empty one would override its default.
[[ -z "${MLFLOW_TRACKING_URI:-}" ]] && unset MLFLOW_TRACKING_URI
[[ -z "${OPTUNA_STORAGE:-}" ]] && unset OPTUNA_STORAGE

usage_error() { echo "$*" >&2; exit 2; }
n_workers="${N_WORKERS:-1}"
promote="${HPTUNING_PROMOTE:-true}"
promote="${promote,,}"
positive='^[1-9][0-9]*$'
[[ "$n_workers" =~ $positive ]] || usage_error "N_WORKERS must be a positive integer, got '${n_workers}'"
[[ "${N_TRIALS:-1}" =~ $positive ]] || usage_error "N_TRIALS must be a positive integer, got '${N_TRIALS}'"
if (( n_workers > 1 )) && [[ -z "${OPTUNA_STORAGE:-}" ]]; then
    usage_error "N_WORKERS=${n_workers} needs OPTUNA_STORAGE: workers share a study only through storage"
fi
[[ "$promote" =~ ^(true|false)$ ]] || usage_error "HPTUNING_PROMOTE must be true or false, got '${promote}'"

overrides=()
[[ -n "${INPUT_DATA_DIR:-}" ]] && overrides+=("train.data_path=${INPUT_DATA_DIR}")
[[ -n "${SETUP_MLFLOW:-}" ]] && overrides+=("train.setup_mlflow=${SETUP_MLFLOW,,}")
[[ -n "${MLFLOW_AUTOLOG:-}" ]] && overrides+=("train.mlflow_autolog=${MLFLOW_AUTOLOG,,}")
[[ -n "${MLFLOW_EXP_NAME:-}" ]] && overrides+=("train.mlflow_exp_name=${MLFLOW_EXP_NAME}")
[[ -n "${OPTUNA_STUDY_NAME:-}" ]] && overrides+=("hydra.sweeper.study_name=${OPTUNA_STUDY_NAME}")
[[ "$promote" == false ]] && overrides+=("hptuning.promote=false")
overrides+=("$@")

if (( n_workers == 1 )); then
    [[ -n "${N_TRIALS:-}" ]] && overrides+=("hydra.sweeper.n_trials=${N_TRIALS}")
    exec "${PYTHON:-python}" src/train_model_hptuning.py --multirun "${overrides[@]}"
fi

# The steps compose the workers' config (the storage URL stays in the environment).
export MLFLOW_HPTUNING_TAG="${MLFLOW_HPTUNING_TAG:-$(date +%s)}"
sweep_step() {
    [[ "$promote" == true ]] || return 0  # the sweep's steps run elsewhere
    PYTHONPATH="src${PYTHONPATH:+:${PYTHONPATH}}" "${PYTHON:-python}" \
        -m {{ cookiecutter.src_package_name }}.modeling.sweep_steps "$1" "${overrides[@]}"
}

pids=()
stopping=0
# Installed before the first step, so a signal from then on reaches every worker started.
# Background jobs of a script ignore SIGINT, so Ctrl-C is forwarded as SIGTERM; the workers
# then end their runs (KILLED) and trials (FAIL) before this script exits.
# shellcheck disable=SC2329  # called by the trap below
stop_workers() {
    stopping=1
    kill -TERM "${pids[@]}" 2>/dev/null || true  # none yet: kill fails, quietly
}
trap stop_workers INT TERM

sweep_step start
sweep_dir="${SWEEP_DIR:-multirun/$(date +%Y-%m-%d/%H-%M-%S)}"
for (( i = 0; i < n_workers; i++ )); do
    (( stopping )) && break
    worker=("hptuning.promote=false" "hydra.sweep.dir=${sweep_dir}/worker-${i}")
    if [[ -n "${N_TRIALS:-}" ]]; then
        # Split the total: the first (N_TRIALS mod N_WORKERS) workers take one more trial.
        share=$(( N_TRIALS / n_workers + (i < N_TRIALS % n_workers ? 1 : 0) ))
        (( share == 0 )) && continue
        worker+=("hydra.sweeper.n_trials=${share}")
    fi
    "${PYTHON:-python}" src/train_model_hptuning.py --multirun "${overrides[@]}" "${worker[@]}" &
    pids+=("$!")
done

status=0
for pid in "${pids[@]}"; do
    # `wait` returns early when a trapped signal arrives: wait again until the worker has ended.
    until wait "$pid"; do
        code=$?
        kill -0 "$pid" 2>/dev/null || { status=$code; break; }
    done
done
if (( stopping )); then
    sweep_step cancel || true
    exit 143
fi
sweep_step finish
exit "$status"
