#!/usr/bin/env bash
# Data preparation: clean and combine raw review trees into one processed dataset.
#
# Inputs (environment; every one is optional, conf/base/pipelines.yaml holds the defaults):
#   WORKING_DIR         repository root to run from (default: the folder above this script)
#   PYTHON              interpreter (default: python)
#   RAW_DATA_DIRS       Hydra list of raw directories, e.g. '["data/raw/set1","data/raw/set2"]'
#   PROCESSED_DATA_DIR  where the processed dataset is written
# Extra arguments are passed on to Hydra as overrides.
set -euo pipefail

cd "${WORKING_DIR:-$(dirname "$0")/..}"

overrides=()
if [[ -n "${RAW_DATA_DIRS:-}" ]]; then
    overrides+=("data_prep.raw_dirs_paths=${RAW_DATA_DIRS}")
fi
if [[ -n "${PROCESSED_DATA_DIR:-}" ]]; then
    overrides+=("data_prep.processed_data_path=${PROCESSED_DATA_DIR}")
fi

exec "${PYTHON:-python}" src/process_data.py "${overrides[@]}" "$@"
