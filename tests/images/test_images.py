"""Every image of the generated project builds, and every container does its job.

The ``docker build`` and ``docker run`` lines are the guide's own (README), run as
``docker_guide.for_test`` describes. The jobs chain as a user's would: data prep on the sample
corpus, a tracking server container on PostgreSQL, training and a two-container tuning sweep
logging to it, the API serving the champion from it, batch inference with a model downloaded
from it, and the two workspace images.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker_guide
import pytest
from conftest import Built, free_port, fresh_databases, psql, sh
from guide import localise, marked_blocks
from test_guide import predictions

REPO = "movie-review-sentiment"
PKG = "movie_review_sentiment"
EXPERIMENT = "image-test"
GUIDE_REVIEWS = {9176: "negative", 71: "positive"}  # "quite boring", "awesome"
pytestmark = pytest.mark.usefixtures("built")


def container_name(role: str) -> str:
    """A unique container name for one role of this run."""
    return f"aisg-image-test-{role}-{uuid.uuid4().hex[:6]}"


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    """Status and body of a GET (4xx/5xx included, no exception)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_http(url: str, name: str, seconds: float = 180) -> None:
    """Wait until ``url`` answers 200; fail with the container's log if it stops first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if http_get(url, timeout=3)[0] == 200:
                return
        except OSError:
            pass
        state = sh(f"docker inspect -f '{{{{.State.Status}}}}' {name}", check=False).stdout.strip()
        if state != "running":
            raise AssertionError(f"{name} is {state} before {url} answered:\n{logs(name)}")
        time.sleep(1)
    raise AssertionError(f"no answer from {url} in {seconds} s:\n{logs(name)}")


def logs(name: str) -> str:
    """Both streams of a container's log."""
    result = sh(f"docker logs {name}", check=False)
    return result.stdout + result.stderr


def mlflow_api(base: str, path: str, **params: str) -> dict:
    """GET one MLflow REST endpoint."""
    status, body = http_get(f"{base}/api/2.0/mlflow/{path}?{urllib.parse.urlencode(params)}")
    assert status == 200, f"{path}: {status} {body[:300]!r}"
    return json.loads(body)


def guide_run(built: Built, image_suffix: str, index: int = 0) -> docker_guide.DockerCommand:
    """The guide's ``index``-th ``docker run`` of the image built from ``*image_suffix``."""
    commands = docker_guide.runs(built.readme, built.tag(image_suffix))
    assert len(commands) > index, f"the guide has no docker run number {index + 1} for {image_suffix}"
    return commands[index]


# ---------------------------------------------------------------------------------- builds


def test_runtime_images_share_every_layer(built: Built) -> None:
    """Data prep, training, API and batch differ only in metadata: one dependency layer, one code layer."""
    layers = {
        suffix: sh(f"docker image inspect -f '{{{{json .RootFS.Layers}}}}' {built.tag(suffix)}").stdout
        for suffix in ("-data-prep.Dockerfile", "-model-training.Dockerfile", "-fastapi.Dockerfile",
                       "-batch-inferencing.Dockerfile")
    }
    assert len(set(layers.values())) == 1, layers


def test_each_dependency_layer_is_built_once(built: Built) -> None:
    """The pip install of the runtime and of the workspace dependencies ran once in the whole build."""
    def ran(fragment: str) -> list[str]:
        found = []
        for dockerfile, output in built.outputs.items():
            for step in output.split("\nStep ")[1:]:
                if fragment in step.splitlines()[0] and "Using cache" not in step:
                    found.append(dockerfile)
        return found

    # Once in a cold build; not at all when earlier images are kept (KEEP_TEST_IMAGES=1).
    assert len(ran("-r /tmp/build/runtime.txt")) <= 1, ran("-r /tmp/build/runtime.txt")
    assert len(ran("-r /tmp/build/workspace.txt")) <= 1, ran("-r /tmp/build/workspace.txt")
    users = [d for d, out in built.outputs.items() if "-r /tmp/build/runtime.txt" in out]
    assert len(users) == 7, users  # every image but the GPU one (another base image)


def test_api_rebuild_after_editing_code_reuses_the_dependency_layer(built: Built) -> None:
    """Editing one .py file rebuilds only the code layers of the API image."""
    module = built.project / "src" / f"{PKG}_fastapi" / "config.py"
    original = module.read_text(encoding="utf-8")
    command = docker_guide.builds(built.readme)[f"docker/{REPO}-fastapi.Dockerfile"]
    try:
        module.write_text(original + "\n# edited by the image test\n", encoding="utf-8")
        output = sh(docker_guide.for_test(command), cwd=built.project, env={"DOCKER_BUILDKIT": "0"}).stdout
    finally:
        module.write_text(original, encoding="utf-8")
    steps = output.split("\nStep ")
    pip_step = next(s for s in steps if "pip install --no-cache-dir -r /tmp/build/runtime.txt" in s)
    assert "Using cache" in pip_step, pip_step
    code_step = next(s for s in steps if s.split(" : ", 1)[-1].startswith("COPY src"))
    assert "Using cache" not in code_step, code_step
    sh(docker_guide.for_test(command), cwd=built.project, env={"DOCKER_BUILDKIT": "0"})


def test_gpu_image_imports_the_training_code(built: Built) -> None:
    """The GPU image builds (on a stand-in base here) and its Python imports the training code."""
    result = sh(
        f"docker run --rm --label {docker_guide.TEST_LABEL} --entrypoint python "
        f"{built.tag('-model-training-gpu.Dockerfile')} -c "
        f"'import {PKG}.modeling, train_model, train_model_hptuning' ",
        check=False,
    )
    # The entry scripts live in src/, which is on the path only when run from there.
    if result.returncode != 0:
        result = sh(
            f"docker run --rm --label {docker_guide.TEST_LABEL} --workdir /home/aisg/{REPO}/src "
            f"--entrypoint python {built.tag('-model-training-gpu.Dockerfile')} -c "
            f"'import {PKG}.modeling, train_model, train_model_hptuning; print(\"ok\")'"
        )
    assert result.returncode == 0


# ------------------------------------------------------------------------------- data prep


@pytest.fixture(scope="module")
def processed(built: Built) -> Path:
    """The sample corpus processed by the guide's data-prep container."""
    project = built.project
    image = built.tag("-data-prep.Dockerfile")
    # The guide fetches the sample corpus with get_data.py; here the image's own Python does it.
    sh(
        f"docker run --rm --label {docker_guide.TEST_LABEL} -v {project}/data:/home/aisg/{REPO}/data "
        f"--user 0 --entrypoint python {image} src/get_data.py --source sample --dest data/raw/sample"
    )
    sh("chgrp -R 2222 data && chmod -R g+rwX data", cwd=project)  # the guide's line
    command = guide_run(built, "-data-prep.Dockerfile")
    sh(docker_guide.for_test(command, name=container_name("data-prep")), cwd=project)
    return project / "data" / "processed" / "reviews"


def test_data_prep_writes_dataset_and_manifest_as_uid_2222(processed: Path) -> None:
    manifests = list(processed.rglob("manifest.json"))
    assert manifests, f"no manifest under {processed}: {sorted(processed.rglob('*'))}"
    manifest = json.loads(manifests[0].read_text(encoding="utf-8"))
    assert "train" in json.dumps(manifest) and "test" in json.dumps(manifest)
    owners = {path.stat().st_uid for path in processed.rglob("*")} | {processed.stat().st_uid}
    assert owners == {2222}


# --------------------------------------------------------------------------- tracking server


@pytest.fixture(scope="module")
def mlflow_server(built: Built, databases: dict[str, str]) -> Iterator[str]:
    """The guide's tracking server container on a test database, artifacts on a test volume."""
    port = free_port()
    name = container_name("mlflow")
    volume = f"aisg-image-test-artifacts-{uuid.uuid4().hex[:6]}"
    sh(f"docker volume create --label {docker_guide.TEST_LABEL} {volume}")
    command = guide_run(built, "mlflow-tracking-server.Dockerfile")
    line = docker_guide.for_test(
        command, name=name, detach=True, extra_options=f"-e MLFLOW_PORT={port}",
        replace={"mlflow-artifacts:": f"{volume}:"},
    )
    sh(line, cwd=built.project, env={"MLFLOW_BACKEND_STORE_URI": databases["mlflow"]})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", name)
        yield url
    finally:
        sh(f"docker rm -f {name}", check=False)
        sh(f"docker volume rm -f {volume}", check=False)


def test_mlflow_server_stores_runs_in_postgres(mlflow_server: str, databases: dict[str, str]) -> None:
    assert http_get(f"{mlflow_server}/health")[0] == 200
    tables = psql("SELECT count(*) FROM information_schema.tables WHERE table_name = 'runs'",
                  database=databases["mlflow"].rsplit("/", 1)[1])
    assert tables == "1"


def test_mlflow_server_with_a_wrong_password_stops_with_one_line(
    built: Built, password_postgres: int
) -> None:
    """The guide's server run against a database that refuses the password."""
    planted = f"wrong-{uuid.uuid4().hex}"
    name = container_name("mlflow-bad-password")
    command = guide_run(built, "mlflow-tracking-server.Dockerfile")
    line = docker_guide.for_test(command, name=name, detach=True,
                                 extra_options=f"-e MLFLOW_PORT={free_port()}",
                                 replace={"mlflow-artifacts:": f"{name}:"})
    uri = f"postgresql+psycopg2://postgres:{planted}@127.0.0.1:{password_postgres}/postgres"
    try:
        sh(line, cwd=built.project, env={"MLFLOW_BACKEND_STORE_URI": uri})
        status = sh(f"docker wait {name}", timeout=120).stdout.strip()
        log = logs(name)
        assert status != "0", log
        assert planted not in log, log
        assert log.strip().count("\n") == 0, log  # one line
        assert "MLFLOW_BACKEND_STORE_URI" in log and "password authentication failed" in log, log
    finally:
        sh(f"docker rm -f {name}", check=False)
        sh(f"docker volume rm -f {name}", check=False)


@pytest.fixture(scope="module")
def trained(built: Built, processed: Path, mlflow_server: str) -> str:
    """The guide's training container, logging to the server container; the run id."""
    command = guide_run(built, "-model-training.Dockerfile", 0)
    line = docker_guide.for_test(
        command, name=container_name("train"), values={"<EXPERIMENT_NAME>": EXPERIMENT},
        replace={"http://localhost:5005": mlflow_server},
    )
    sh(line, cwd=built.project, timeout=1200)
    experiment = mlflow_api(mlflow_server, "experiments/get-by-name", experiment_name=EXPERIMENT)
    runs = json.loads(urllib.request.urlopen(urllib.request.Request(
        f"{mlflow_server}/api/2.0/mlflow/runs/search",
        data=json.dumps({"experiment_ids": [experiment["experiment"]["experiment_id"]]}).encode(),
        headers={"Content-Type": "application/json"}), timeout=10).read())["runs"]
    finished = [r for r in runs if r["info"]["status"] == "FINISHED"]
    assert finished, runs
    return finished[0]["info"]["run_id"]


def test_training_container_logs_and_registers(trained: str, mlflow_server: str) -> None:
    versions = mlflow_api(mlflow_server, "registered-models/get", name=REPO)["registered_model"]
    assert versions.get("latest_versions"), versions
    run = mlflow_api(mlflow_server, "runs/get", run_id=trained)["run"]
    metrics = {m["key"] for m in run["data"].get("metrics", [])}
    assert metrics, run


def test_training_without_tracking_keeps_its_model_on_the_volume(
    built: Built, processed: Path, tmp_path: Path
) -> None:
    """SETUP_MLFLOW=false: the model goes to MODEL_DIR (the training specs' input, a folder on
    the persistent volume), not to the container's disk that goes with it."""
    volume = tmp_path / "polyaxon-v1-data"
    volume.mkdir()
    os.chown(volume, 2222, 2222)
    command = guide_run(built, "-model-training.Dockerfile", 0)
    line = docker_guide.for_test(
        command, name=container_name("train-untracked"), values={"<EXPERIMENT_NAME>": EXPERIMENT},
        extra_options=f"-v {volume}:/polyaxon-v1-data -e SETUP_MLFLOW=false "
                      "-e MODEL_DIR=/polyaxon-v1-data/models/model",
    )
    sh(line, cwd=built.project, timeout=1200)
    assert (volume / "models" / "model" / "MLmodel").is_file(), sorted(volume.rglob("*"))


@pytest.fixture(scope="module")
def tuned(built: Built, processed: Path, mlflow_server: str, databases: dict[str, str]) -> str:
    """The guide's tuning container: two workers on one study, then one champion; the tag."""
    command = guide_run(built, "-model-training.Dockerfile", 1)
    tag = f"image-test-{uuid.uuid4().hex[:6]}"
    study = f"image-test-study-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "MLFLOW_HPTUNING_TAG": tag, "OPTUNA_STORAGE": databases["optuna"]}
    line = docker_guide.for_test(
        command, name=container_name("tune"),
        values={"<EXPERIMENT_NAME>": EXPERIMENT, "<STUDY_NAME>": study},
        replace={"http://localhost:5005": mlflow_server},
    )
    result = subprocess.run(["bash", "-c", line], cwd=built.project, env=env, timeout=1500,
                            capture_output=True, text=True, check=False)  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert output.count("Sweep finished") == 1, output[-4000:]  # the finish step, once
    trials = psql(
        "SELECT count(*) FROM trials t JOIN studies s ON s.study_id = t.study_id "
        f"WHERE s.study_name = '{study}' AND t.state = 'COMPLETE'",
        database=databases["optuna"].rsplit("/", 1)[1],
    )
    assert int(trials) >= 2, f"{trials} complete trials in the shared study"
    return tag


def test_tuning_containers_share_one_study_and_crown_a_champion(tuned: str, mlflow_server: str) -> None:
    request = urllib.request.Request(
        f"{mlflow_server}/api/2.0/mlflow/runs/search",
        data=json.dumps({
            "experiment_ids": [mlflow_api(mlflow_server, "experiments/get-by-name",
                                          experiment_name=EXPERIMENT)["experiment"]["experiment_id"]],
            "filter": f"tags.hptuning_tag = '{tuned}'",
        }).encode(),
        headers={"Content-Type": "application/json"},
    )
    runs = json.loads(urllib.request.urlopen(request, timeout=10).read()).get("runs", [])
    tags = [{t["key"]: t["value"] for t in r["data"].get("tags", [])} for r in runs]
    parents = [r for r, t in zip(runs, tags, strict=True) if t.get("run_role") == "hptuning_parent"]
    trials = [t for t in tags if t.get("run_role") == "hptuning_trial"]
    assert len(parents) == 1 and parents[0]["info"]["status"] == "FINISHED", runs
    assert len(trials) >= 2 and {t["mlflow.parentRunId"] for t in trials} == {parents[0]["info"]["run_id"]}
    best = next(t["value"] for t in parents[0]["data"]["tags"] if t["key"] == "best_run_id")
    challenger = mlflow_api(mlflow_server, "registered-models/alias", name=REPO, alias="challenger")
    assert challenger["model_version"]["run_id"] == best
    alias = mlflow_api(mlflow_server, "registered-models/alias", name=REPO, alias="champion")
    assert alias["model_version"]["version"]


# -------------------------------------------------------------------------------------- API


def guide_curl(built: Built, port: int) -> str:
    """The guide's prediction request, pointed at ``port``."""
    block = next(b for b in marked_blocks(built.readme) if "api/v1/model/predict" in b.body)
    return localise(block.body, port)


def test_api_serves_the_champion_read_only_and_stops_cleanly(
    built: Built, tuned: str, mlflow_server: str
) -> None:
    port = free_port()
    name = container_name("api")
    command = guide_run(built, "-fastapi.Dockerfile", 1)
    line = docker_guide.for_test(
        command, name=name, detach=True,
        extra_options=f"-e API_HOST=127.0.0.1 -e API_PORT={port} -e API_WORKERS=2",
        replace={"http://localhost:5005": mlflow_server},
    )
    assert "--read-only" in line and "--tmpfs /tmp" in line
    started = time.monotonic()
    sh(line, cwd=built.project)
    try:
        while time.monotonic() - started < 180:
            health = sh(f"docker inspect -f '{{{{.State.Health.Status}}}}' {name}", check=False).stdout.strip()
            if health == "healthy":
                break
            assert health in {"starting", ""}, f"{health}:\n{logs(name)}"
            time.sleep(0.5)
        assert health == "healthy", logs(name)
        print(f"API container healthy {time.monotonic() - started:.1f} s after docker run", flush=True)
        answer = json.loads(sh(guide_curl(built, port)).stdout)
        assert predictions(answer) == GUIDE_REVIEWS, answer
        sh(f"docker stop --time 30 {name}")
        state = json.loads(sh(f"docker inspect -f '{{{{json .State}}}}' {name}").stdout)
        log = logs(name)
        assert state["ExitCode"] == 0, log
        assert "Traceback" not in log and "[ERROR]" not in log, log
    finally:
        sh(f"docker rm -f {name}", check=False)


def test_api_without_a_model_exits_with_one_line(built: Built) -> None:
    """The guide's local-folder run with no model folder: non-zero, one line naming the setting."""
    command = guide_run(built, "-fastapi.Dockerfile", 0)
    empty = built.project / "no-model"
    empty.mkdir(exist_ok=True)
    line = docker_guide.for_test(command, name=container_name("api-no-model"),
                                 extra_options="-e API_WORKERS=1",
                                 replace={'"$PWD/models/champion:': f'"{empty}:'})
    result = sh(line, cwd=built.project, check=False, timeout=180)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output, output
    lines = [row for row in output.splitlines() if "PRED_MODEL_PATH" in row]
    assert len(lines) == 1 and "no model could be loaded" in lines[0], output


# ------------------------------------------------------------------------------------ batch


@pytest.fixture(scope="module")
def champion_folder(built: Built, tuned: str, mlflow_server: str) -> Path:
    """The champion downloaded to models/champion, as the guide does before mounting it."""
    image = built.tag("-model-training.Dockerfile")
    sh(
        f"docker run --rm --network host --label {docker_guide.TEST_LABEL} --user 0 "
        f"-v {built.project}/models:/models -e MLFLOW_TRACKING_URI={mlflow_server} "
        f"--entrypoint mlflow {image} artifacts download --artifact-uri models:/{REPO}@champion "
        "--dst-path /models/champion"
    )
    folder = built.project / "models" / "champion"
    assert (folder / "MLmodel").exists()
    return folder


def test_batch_container_predicts_reports_bad_file_and_resumes(
    built: Built, champion_folder: Path
) -> None:
    project = built.project
    inputs = project / "data" / "batch-input"
    inputs.mkdir(parents=True, exist_ok=True)
    texts = {"good.txt": "A wonderful, moving film.", "bad.txt": "Dull and far too long.",
             "fine.txt": "I loved every minute."}
    for file_name, text in texts.items():
        (inputs / file_name).write_text(text, encoding="utf-8")
    unreadable = inputs / "locked.txt"
    unreadable.write_text("secret", encoding="utf-8")
    unreadable.chmod(0)
    outputs = project / "outputs"
    outputs.mkdir(exist_ok=True)
    sh("chgrp -R 2222 outputs && chmod -R g+rwX outputs", cwd=project)
    command = guide_run(built, "-batch-inferencing.Dockerfile")
    sh(docker_guide.for_test(command, name=container_name("batch")), cwd=project)
    (results,) = list(outputs.rglob("batch-infer-res.jsonl"))
    records = [json.loads(row) for row in results.read_text(encoding="utf-8").splitlines()]
    by_file = {Path(r["filepath"]).name: r for r in records}
    assert set(by_file) == {*texts, "locked.txt"}, records
    assert all(by_file[f]["label"] in {"positive", "negative"} for f in texts)
    assert by_file["locked.txt"].get("error") and by_file["locked.txt"]["label"] is None, by_file
    # An interrupted run leaves a .partial file; the next container continues it.
    partial = results.with_name(results.name + ".partial")
    kept = results.read_text(encoding="utf-8").splitlines()[:2]
    partial.write_text("\n".join(kept) + "\n", encoding="utf-8")
    os.chown(partial, 2222, 2222)  # as the interrupted container would have left it
    results.unlink()
    second = sh(docker_guide.for_test(command, name=container_name("batch-resume")), cwd=project)
    again = [json.loads(row) for row in results.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["filepath"] for r in again) == sorted(r["filepath"] for r in records)
    assert [json.dumps(r) for r in again[:2]] == [json.dumps(r) for r in records[:2]]
    assert "resum" in (second.stdout + second.stderr).lower()


# ------------------------------------------------------------------------------- workspaces


def test_jupyter_workspace_requires_its_token(built: Built) -> None:
    port = free_port()
    name = container_name("jupyter")
    token = uuid.uuid4().hex
    sh("chgrp -R 2222 . && chmod -R g+rwX .", cwd=built.project)  # the guide's line
    command = guide_run(built, "-poly-jupyter.Dockerfile")
    line = docker_guide.for_test(command, name=name, detach=True, values={"<TOKEN>": token},
                                 extra_args=image_cmd(built, "-poly-jupyter.Dockerfile", drop=("--ip=", "--port="))
                                 + f" --ip=127.0.0.1 --port={port}")
    sh(line, cwd=built.project)
    try:
        wait_http(f"http://127.0.0.1:{port}/api", name)
        assert http_get(f"http://127.0.0.1:{port}/api/status")[0] == 403
        assert http_get(f"http://127.0.0.1:{port}/api/status?token={token}")[0] == 200
        check_workspace_tools(name)
    finally:
        sh(f"docker rm -f {name}", check=False)


def test_vscode_workspace_requires_its_password(built: Built) -> None:
    port = free_port()
    name = container_name("vscode")
    password = uuid.uuid4().hex
    sh("chgrp -R 2222 . && chmod -R g+rwX .", cwd=built.project)  # the guide's line
    command = guide_run(built, "-poly-vscode.Dockerfile")
    line = docker_guide.for_test(command, name=name, detach=True,
                                 extra_args=image_cmd(built, "-poly-vscode.Dockerfile")
                                 + f" --bind-addr 127.0.0.1:{port}")
    sh(line, cwd=built.project, env={"WORKSPACE_PASSWORD": password})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/healthz", name)
        opener = urllib.request.build_opener(NoRedirect)
        status, location = redirect(opener, urllib.request.Request(f"{base}/"))
        assert status == 302 and "login" in location, (status, location)
        wrong = urllib.request.Request(f"{base}/login", data=b"password=wrong", method="POST")
        assert "login" in str(redirect(opener, wrong)) or redirect(opener, wrong)[0] != 302
        right = urllib.request.Request(f"{base}/login", data=f"password={password}".encode(), method="POST")
        status, location = redirect(opener, right)
        assert status == 302 and "login" not in location, (status, location)
        check_workspace_tools(name)
    finally:
        sh(f"docker rm -f {name}", check=False)


def image_cmd(built: Built, image_suffix: str, drop: tuple[str, ...] = ()) -> str:
    """The image's own CMD, less the options in ``drop`` that the test sets itself."""
    words = json.loads(sh(f"docker image inspect -f '{{{{json .Config.Cmd}}}}' {built.tag(image_suffix)}").stdout)
    return " ".join(shlex.quote(word) for word in words if not word.startswith(drop))


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Report redirects instead of following them."""

    def redirect_request(self, *args, **kwargs):
        return None


def redirect(opener: urllib.request.OpenerDirector, request: urllib.request.Request) -> tuple[int, str]:
    """Status and Location of a request whose redirect is not followed."""
    try:
        with opener.open(request, timeout=10) as answer:
            return answer.status, answer.headers.get("Location", "")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location", "")


def check_workspace_tools(name: str) -> None:
    """In a workspace: the mounted project installs editable, and gsutil runs."""
    workdir = f"/home/aisg/{REPO}"
    sh(f"docker exec -w {workdir} {name} pip install --quiet --no-deps --no-build-isolation -e .")
    located = sh(f"docker exec -w /tmp {name} python -c 'import {PKG}; print({PKG}.__file__)'").stdout
    assert located.strip().startswith(f"{workdir}/src/"), located
    version = sh(f"docker exec {name} gsutil version").stdout
    assert "gsutil version" in version, version


# ------------------------------------------------------------------------ cluster rehearsal


def test_cluster_rehearsal_runs_every_job_spec_on_polyaxon(
    built: Built, postgres: None, tmp_path: Path
) -> None:
    """scripts/rehearse-cluster.sh with the built images: every job spec that Polyaxon's local
    docker executor can run, checked by its run status, on a GCS emulator, an MLflow server on
    PostgreSQL and a 2-worker study on PostgreSQL; everything it started is stopped after."""
    work = tmp_path / "rehearsal"
    env = {
        # The template's test venv holds the emulator's wheel; the sandbox gets a venv of its own.
        "PYTHON": sys.executable, "POLYAXON_VENV": str(tmp_path / "polyaxon-venv"),
        "REHEARSAL_DIR": str(work),
        "DATA_PREP_IMAGE": built.tag("-data-prep.Dockerfile"),
        "TRAINING_IMAGE": built.tag("-model-training.Dockerfile"),
        "MLFLOW_IMAGE": built.tag("mlflow-tracking-server.Dockerfile"),
        "API_IMAGE": built.tag("-fastapi.Dockerfile"),
        "BATCH_IMAGE": built.tag("-batch-inferencing.Dockerfile"),
    }
    # Databases of its own: its registrations must not move the other tests' champion.
    with fresh_databases("aisg_rehearsal") as urls:
        env |= {"MLFLOW_BACKEND_URI": urls["mlflow"], "OPTUNA_STORAGE": urls["optuna"]}
        started = time.monotonic()
        result = sh("bash scripts/rehearse-cluster.sh", cwd=built.project, env=env, timeout=1800,
                    check=False)
        print(f"rehearsal: {time.monotonic() - started:.0f} s (sandbox install included)", flush=True)
        trials = psql("SELECT count(*) FROM trials WHERE state = 'COMPLETE'",
                      database=urls["optuna"].rsplit("/", 1)[1]) if result.returncode == 0 else "0"
    print(result.stdout[-6000:], result.stderr[-3000:], sep="\n")  # shown when the test fails
    assert result.returncode == 0, "the rehearsal failed: see its output above"
    summary = (work / "summary.txt").read_text(encoding="utf-8")
    for job in ("get-data", "process-data", "train-model-cpu", "train-model-cpu-hptuning",
                "batch-inference"):
        assert re.search(rf"^  {re.escape(job)} +succeeded in", summary, flags=re.M), summary
    assert re.search(r"batch results +gs://rehearsal-[0-9-]+/batch/.+\.jsonl", summary), summary
    assert '"label":"positive"' in summary, summary  # the API's answer to the guide's request
    assert int(trials) >= 2, "the tuning job's trials are not in the PostgreSQL study"
    # Nothing it started is left: no container, and the UIs it printed no longer answer.
    assert sh("docker ps -aq --filter name=rehearsal-").stdout.strip() == ""
    for ui in re.findall(r"http://127\.0\.0\.1:\d+", summary.split("UIs", 1)[1]):
        with pytest.raises(OSError):
            urllib.request.urlopen(ui, timeout=5)
