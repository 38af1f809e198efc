#!/usr/bin/env bash
# Batch inference over a folder of .txt reviews, writing batch-infer-res.jsonl.
#
# Inputs (environment; optional, conf/base/pipelines.yaml holds the defaults):
#   WORKING_DIR      repository root (default: the folder above this script)
#   PYTHON           interpreter (default: python)
#   PRED_MODEL_URI   model to use: an MLflow URI (models:/<name>@champion, runs:/...) ...
#   PRED_MODEL_PATH  ... or a local folder (PRED_MODEL_URI wins when both are set)
#   INPUT_DATA_DIR   folder of .txt files (inference.input_data_dir)
#   NUM_SHARDS       split the input into this many shards (default 1) ...
#   SHARD_INDEX      ... and process this one (default: JOB_COMPLETION_INDEX, which a
#                    Kubernetes Indexed Job sets for each pod, else 0)
#   OUTPUT_DIR       parent folder of the results; each shard writes to OUTPUT_DIR/shard-<i>
#                    (default: Hydra's outputs/<date>/<time>). A local folder also gets the
#                    run's log and .hydra/ files; a bucket (gs://...) gets only the results,
#                    the log staying in outputs/<date>/<time>
# Extra arguments are passed on to Hydra as overrides.
set -euo pipefail

cd "${WORKING_DIR:-$(dirname "$0")/..}"

shard_index="${SHARD_INDEX:-${JOB_COMPLETION_INDEX:-0}}"
num_shards="${NUM_SHARDS:-1}"
if ! [[ "$num_shards" =~ ^[1-9][0-9]*$ && "$shard_index" =~ ^[0-9]+$ ]] \
    || (( shard_index >= num_shards )); then
    echo "Need 0 <= SHARD_INDEX < NUM_SHARDS, got ${shard_index} and ${num_shards}" >&2
    exit 2
fi

overrides=("inference.shard_index=${shard_index}" "inference.num_shards=${num_shards}")
model="${PRED_MODEL_URI:-${PRED_MODEL_PATH:-}}"
[[ -n "$model" ]] && overrides+=("inference.model_path=${model}")
[[ -n "${INPUT_DATA_DIR:-}" ]] && overrides+=("inference.input_data_dir=${INPUT_DATA_DIR}")
if [[ "${OUTPUT_DIR:-}" == *://* ]]; then
    # Hydra's run folder must be local (a gs:// one would become a local folder named gs:).
    overrides+=("inference.output_dir=${OUTPUT_DIR%/}/shard-${shard_index}")
elif [[ -n "${OUTPUT_DIR:-}" ]]; then
    overrides+=("hydra.run.dir=${OUTPUT_DIR}/shard-${shard_index}")
fi

exec "${PYTHON:-python}" src/batch_inferencing.py "${overrides[@]}" "$@"
