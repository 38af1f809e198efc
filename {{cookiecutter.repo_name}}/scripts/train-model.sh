#!/usr/bin/env bash
# Model training: one run, tracked in MLflow when SETUP_MLFLOW is true.
#
# Inputs (environment; every one is optional, conf/base/pipelines.yaml holds the defaults):
#   WORKING_DIR          repository root to run from (default: the folder above this script)
#   PYTHON               interpreter (default: python)
#   INPUT_DATA_DIR       processed dataset to train on (train.data_path)
#   SETUP_MLFLOW         true/false (train.setup_mlflow)
#   MODEL_DIR            where the model is saved when SETUP_MLFLOW is false
#                        (train.local_model_dir); in a job, a folder on the persistent volume
#   MLFLOW_AUTOLOG       true/false (train.mlflow_autolog)
#   MLFLOW_TRACKING_URI  tracking server or local store (train.mlflow_tracking_uri reads it from
#                        the environment, so it is not put on the command line either)
#   MLFLOW_EXP_NAME      experiment name (train.mlflow_exp_name)
# MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD are read by MLflow itself from the
# environment; they never appear on the command line or in Hydra's saved overrides.
# SIGTERM (pod eviction) or Ctrl-C ends the MLflow run KILLED; python is exec'd so it gets them.
# Extra arguments are passed on to Hydra as overrides.
set -euo pipefail

cd "${WORKING_DIR:-$(dirname "$0")/..}"

# The config reads these from the environment; an empty one would override its default.
[[ -z "${MLFLOW_TRACKING_URI:-}" ]] && unset MLFLOW_TRACKING_URI

overrides=()
[[ -n "${INPUT_DATA_DIR:-}" ]] && overrides+=("train.data_path=${INPUT_DATA_DIR}")
[[ -n "${SETUP_MLFLOW:-}" ]] && overrides+=("train.setup_mlflow=${SETUP_MLFLOW,,}")
[[ -n "${MODEL_DIR:-}" ]] && overrides+=("train.local_model_dir=${MODEL_DIR}")
[[ -n "${MLFLOW_AUTOLOG:-}" ]] && overrides+=("train.mlflow_autolog=${MLFLOW_AUTOLOG,,}")
[[ -n "${MLFLOW_EXP_NAME:-}" ]] && overrides+=("train.mlflow_exp_name=${MLFLOW_EXP_NAME}")

exec "${PYTHON:-python}" src/train_model.py "${overrides[@]}" "$@"
