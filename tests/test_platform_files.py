"""Platform files of the baked project pass the real validator of their kind.

Dockerfiles (hadolint), entrypoint scripts (shellcheck, and a run on the host with a stand-in
interpreter), Polyaxon specs (``polyaxon --offline check`` with the guide's parameters),
Kubernetes manifests (``kubernetes-validate --strict``), GitLab CI (check-jsonschema) and the
Sphinx docs (``sphinx-build -W``), on each registry/licence variant. Every validator is also
shown a deliberately broken copy, so a validator that silently accepts anything fails here.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from helpers import bake, run

#: Both registry layouts and a bake without licence.
VARIANTS: dict[str, dict[str, str]] = {
    "defaults": {},
    "personal-subdir": {"gcr_personal_subdir": "Yes", "open_source_license": "BSD-3-Clause"},
    "no-licence": {"open_source_license": "No license file"},
}

DOCKERFILES = {
    "<repo>-poly-vscode.Dockerfile",
    "<repo>-poly-jupyter.Dockerfile",
    "<repo>-data-prep.Dockerfile",
    "<repo>-model-training.Dockerfile",
    "<repo>-model-training-gpu.Dockerfile",
    "<repo>-fastapi.Dockerfile",
    "<repo>-batch-inferencing.Dockerfile",
    "mlflow-tracking-server.Dockerfile",
}
#: Images that serve HTTP and so must declare a HEALTHCHECK.
SERVER_DOCKERFILES = {
    "<repo>-poly-vscode.Dockerfile",
    "<repo>-poly-jupyter.Dockerfile",
    "<repo>-fastapi.Dockerfile",
    "mlflow-tracking-server.Dockerfile",
}
SCRIPTS = {
    "process-data.sh",
    "train-model.sh",
    "train-model-hptuning.sh",
    "api-entrypoint.sh",
    "batch-inferencing.sh",
    "mlflow-tracking-server.sh",
    "rehearse-cluster.sh",
}
K8S_FILES = {
    "model-serving-api/fastapi-server-deployment.yml": ("Deployment",),
    "model-serving-api/fastapi-server-service.yml": ("Service",),
    "model-serving-api/fastapi-server-hpa.yml": ("HorizontalPodAutoscaler",),
    "mlflow/mlflow-server-deployment.yml": ("Deployment",),
    "mlflow/mlflow-server-service.yml": ("Service",),
    "batch-inference/batch-inference-job.yml": ("Job",),
    "workspaces/workspaces-network-policy.yml": ("NetworkPolicy",),
}

# The guide's `polyaxon run ... -P` parameters, with its placeholders filled in.
_IMAGE = "asia.gcr.io/my-gcp-project/some-image:0.1.0"
_REPO_WD = "/home/aisg/{repo}"
_DATA = "/polyaxon-v1-data/workspaces/jane/data"
_MLFLOW = [
    "SETUP_MLFLOW=true",
    "MLFLOW_AUTOLOG=true",
    "MLFLOW_TRACKING_URI=http://10.4.0.12:5005",
    "MLFLOW_EXP_NAME=sentiment-classification",
]
GUIDE_PARAMS: dict[str, list[str]] = {
    "vscode-service.yml": [f"DOCKER_IMAGE={_IMAGE}", "WORKING_DIR=/polyaxon-v1-data"],
    "jupyter-service.yml": [f"DOCKER_IMAGE={_IMAGE}", "WORKING_DIR=/polyaxon-v1-data"],
    "get-data.yml": [
        f"DOCKER_IMAGE={_IMAGE}",
        "SOURCE=imdb",
        f"DEST={_DATA}/raw/aclImdb",
    ],
    "process-data.yml": [
        f"DOCKER_IMAGE={_IMAGE}",
        f'RAW_DATA_DIRS=["{_DATA}/acl-movie-review-data-aisg/aclImdb-aisg-set1"]',
        f"PROCESSED_DATA_DIR={_DATA}/processed/aclImdb-aisg-combined",
        f"WORKING_DIR={_REPO_WD}",
    ],
    "train-model-cpu.yml": [
        f"DOCKER_IMAGE={_IMAGE}",
        *_MLFLOW,
        f"WORKING_DIR={_REPO_WD}",
        f"INPUT_DATA_DIR={_DATA}/processed/aclImdb-aisg-combined",
    ],
    "train-model-cpu-hptuning.yml": [
        f"DOCKER_IMAGE={_IMAGE}",
        *_MLFLOW,
        f"WORKING_DIR={_REPO_WD}",
        f"INPUT_DATA_DIR={_DATA}/processed/aclImdb-aisg-combined",
        "MLFLOW_HPTUNING_TAG=1641159546",
        "N_WORKERS=4",
        "N_TRIALS=16",
    ],
    "batch-inference.yml": [
        f"DOCKER_IMAGE={_IMAGE}",
        "MODEL_URI=models:/{repo}@champion",
        f"INPUT_DATA_DIR={_DATA}/batch-input",
        f"OUTPUT_DIR={_DATA}/batch-output",
        f"WORKING_DIR={_REPO_WD}",
    ],
}
GUIDE_PARAMS["train-model-gpu.yml"] = GUIDE_PARAMS["train-model-cpu.yml"]
GUIDE_PARAMS["train-model-gpu-hptuning.yml"] = GUIDE_PARAMS["train-model-cpu-hptuning.yml"]
#: Specs that talk to MLflow and so must take its credentials from the Kubernetes secret.
MLFLOW_SPECS = {
    "train-model-cpu.yml",
    "train-model-gpu.yml",
    "train-model-cpu-hptuning.yml",
    "train-model-gpu-hptuning.yml",
    "batch-inference.yml",
}


@pytest.fixture(scope="module", params=sorted(VARIANTS), ids=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    answers = VARIANTS[request.param]
    return bake(tmp_path_factory.mktemp(f"platform-{request.param}"), **answers), answers


def _names(project: Path, names: set[str]) -> set[str]:
    return {name.replace("<repo>", project.name) for name in names}


def _polyaxon_env(tmp: Path) -> dict[str, str]:
    return {
        "POLYAXON_HOME": str(tmp / "polyaxon-home"),
        "POLYAXON_DISABLE_ERRORS_REPORTING": "true",
        "POLYAXON_NO_API": "true",
    }


def _polyaxon_check(validators_bin: Path, spec: Path, params: list[str], tmp: Path, check=True):
    args: list[str | Path] = [validators_bin / "polyaxon", "--offline", "check", "-f", spec, "--strict-params"]
    for param in params:
        args += ["-P", param]
    return run(args, env=_polyaxon_env(tmp), check=check, timeout=120)


# --------------------------------------------------------------------------------------------
# Dockerfiles
# --------------------------------------------------------------------------------------------


def test_dockerfiles_pass_hadolint(variant, validators_bin: Path) -> None:
    project, _ = variant
    files = sorted((project / "docker").glob("*.Dockerfile"))
    assert {f.name for f in files} == _names(project, DOCKERFILES)
    run([validators_bin / "hadolint", "--failure-threshold", "warning", *files], cwd=project)


def test_dockerfiles_follow_the_image_rules(variant) -> None:
    project, _ = variant
    for name in _names(project, DOCKERFILES):
        text = (project / "docker" / name).read_text()
        instructions = [line for line in text.splitlines() if line and not line.startswith("#")]
        stages = set(re.findall(r"^FROM \S+ AS (\S+)", text, flags=re.M))
        bases = [b for b in re.findall(r"^FROM (\S+)", text, flags=re.M) if b not in stages]
        python_bases = [b for b in bases if b.startswith("python:")]
        assert python_bases or "gpu" in name, name
        for base in python_bases:
            assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base), f"{name}: unpinned base {base}"
        assert all(":" in b and not b.endswith(":latest") for b in bases), f"{name}: {bases}"
        if "nvidia/cuda" in text:
            assert "gpu" in name, f"{name}: CUDA base outside the GPU training image"
        assert "USER 2222:2222" in instructions, f"{name}: not non-root 2222"
        assert any(line.startswith("ENTRYPOINT") for line in instructions), name
        assert ("HEALTHCHECK" in text) == (name in _names(project, SERVER_DOCKERFILES)), name
        assert "PRED_MODEL" not in " ".join(i for i in instructions if i.startswith(("ARG", "ENV"))), (
            f"{name}: the model must be chosen at run time"
        )
        # Dependencies first (cacheable), code after.
        deps_at = text.index("pip install --no-cache-dir -r ")
        if "COPY src" in text:
            assert deps_at < text.index("COPY src"), name
        # The code belongs to root: the non-root process cannot rewrite what it runs.
        # (The GPU image is being reworked separately; it still copies the code as uid 2222.)
        if "gpu" not in name:
            assert "COPY --chown=2222:2222 src" not in text, name


def _dockerignored(patterns: list[str], path: str) -> bool:
    """Whether .dockerignore excludes ``path`` (no ``!`` exceptions are used in ours)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        pattern = pattern.strip("/")
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatchcase(part, pattern[3:]) for part in parts):
                return True
        elif any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            return True
    return False


def test_dockerfile_copy_sources_reach_the_build_context(variant) -> None:
    """Every COPY source exists and .dockerignore keeps it; every entrypoint is an executable script."""
    project, _ = variant
    patterns = [
        line.strip()
        for line in (project / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not any(p.startswith("!") for p in patterns), "teach _dockerignored about exceptions"
    assert _dockerignored(patterns, "data/raw/x.txt") and _dockerignored(patterns, "src/pkg/__pycache__/m.pyc")
    for name in _names(project, DOCKERFILES):
        text = (project / "docker" / name).read_text()
        for line in re.findall(r"^COPY (?!--from)(.+)$", text, flags=re.M):
            words = [w for w in line.split() if not w.startswith("--")]
            for source in words[:-1]:
                assert (project / source).exists(), f"{name}: COPY {source} does not exist"
                assert not _dockerignored(patterns, source), f"{name}: COPY {source} is in .dockerignore"
        entry = re.search(r'^ENTRYPOINT \["([^"]+)"', text, flags=re.M).group(1)
        script = entry.removeprefix(f"/home/aisg/{project.name}/")
        if script.startswith("scripts/"):
            assert os.access(project / script, os.X_OK), f"{name}: {script} is not executable"
        elif entry == "/usr/local/bin/mlflow-tracking-server.sh":
            assert "COPY scripts/mlflow-tracking-server.sh /usr/local/bin/mlflow-tracking-server.sh" in text


def test_hadolint_rejects_a_sloppy_dockerfile(baked_default: Path, validators_bin: Path, tmp_path: Path) -> None:
    original = (baked_default / "docker" / f"{baked_default.name}-fastapi.Dockerfile").read_text()
    broken = original.replace("FROM python:3.11.14-slim-bookworm AS deps", "FROM python AS deps", 1)
    broken = broken.replace("USER 2222:2222", "USER root", 1)
    assert broken.count("USER root") == 1
    (tmp_path / "Dockerfile").write_text(broken)
    result = run(
        [validators_bin / "hadolint", "--failure-threshold", "warning", tmp_path / "Dockerfile"], check=False
    )
    assert result.returncode != 0
    assert "DL3006" in result.stdout and "DL3002" in result.stdout


# --------------------------------------------------------------------------------------------
# Entrypoint scripts
# --------------------------------------------------------------------------------------------


def test_scripts_pass_shellcheck(variant, validators_bin: Path) -> None:
    project, _ = variant
    scripts = sorted((project / "scripts").glob("*.sh"))
    assert {s.name for s in scripts} == SCRIPTS
    run([validators_bin / "shellcheck", "--severity=style", *scripts], cwd=project)
    for script in scripts:
        text = script.read_text()
        assert text.startswith("#!/usr/bin/env bash\n"), script.name
        assert "set -euo pipefail" in text, script.name
        assert not re.search(r"^\s*set -[a-z]*x", text, flags=re.M), f"{script.name} traces commands"
        assert script.stat().st_mode & stat.S_IXUSR, f"{script.name} is not executable"


def test_shellcheck_rejects_a_sloppy_script(baked_default: Path, validators_bin: Path, tmp_path: Path) -> None:
    text = (baked_default / "scripts" / "process-data.sh").read_text()
    broken = tmp_path / "broken.sh"
    broken.write_text(text + "\ncd $WORKING_DIR\n")
    result = run([validators_bin / "shellcheck", "--severity=style", broken], check=False)
    assert result.returncode != 0 and "SC2086" in result.stdout


@pytest.fixture()
def fake_python(tmp_path: Path) -> tuple[Path, Path]:
    """An executable that records its arguments, one file per call, in place of the interpreter."""
    calls = tmp_path / "calls"
    calls.mkdir()
    exe = tmp_path / "fake-python"
    exe.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "$(mktemp -p {calls})"\n')
    exe.chmod(0o755)
    return exe, calls


def _calls(calls: Path) -> list[list[str]]:
    return sorted(p.read_text().splitlines() for p in calls.iterdir())


def _script_env(project: Path, exe: Path, **env: str) -> dict[str, str]:
    # Start from a clean slate for every input the scripts read.
    cleared = {
        key: ""
        for key in (
            "RAW_DATA_DIRS PROCESSED_DATA_DIR INPUT_DATA_DIR SETUP_MLFLOW MLFLOW_AUTOLOG "
            "MLFLOW_TRACKING_URI MLFLOW_EXP_NAME OPTUNA_STORAGE OPTUNA_STUDY_NAME N_TRIALS N_WORKERS "
            "SWEEP_DIR HPTUNING_PROMOTE PRED_MODEL_URI PRED_MODEL_UUID PRED_MODEL_PATH NUM_SHARDS SHARD_INDEX "
            "JOB_COMPLETION_INDEX OUTPUT_DIR"
        ).split()
    }
    return {**cleared, "WORKING_DIR": str(project), "PYTHON": str(exe), "GUNICORN": str(exe), **env}


def test_scripts_turn_inputs_into_hydra_overrides(baked_default: Path, fake_python, tmp_path: Path) -> None:
    exe, calls = fake_python
    scripts = baked_default / "scripts"
    run(
        [scripts / "process-data.sh", "data_prep.extra=1"],
        env=_script_env(baked_default, exe, RAW_DATA_DIRS='["a b/set1","set2"]', PROCESSED_DATA_DIR="out"),
    )
    assert _calls(calls) == [
        ["src/process_data.py", 'data_prep.raw_dirs_paths=["a b/set1","set2"]', "data_prep.processed_data_path=out",
         "data_prep.extra=1"]
    ]


def test_training_script_passes_the_guide_inputs(baked_default: Path, fake_python) -> None:
    exe, calls = fake_python
    env = _script_env(
        baked_default, exe, INPUT_DATA_DIR="data/processed", SETUP_MLFLOW="True", MLFLOW_AUTOLOG="false",
        MLFLOW_TRACKING_URI="http://mlflow:5005", MLFLOW_EXP_NAME="exp", MLFLOW_TRACKING_PASSWORD="s3cret",
    )
    run([baked_default / "scripts" / "train-model.sh"], env=env)
    (call,) = _calls(calls)
    # MLFLOW_TRACKING_URI is read by the config itself (it may hold credentials): not on argv.
    assert call == [
        "src/train_model.py", "train.data_path=data/processed", "train.setup_mlflow=true",
        "train.mlflow_autolog=false", "train.mlflow_exp_name=exp",
    ]


def test_tuning_script_starts_workers_on_one_study(baked_default: Path, fake_python) -> None:
    exe, calls = fake_python
    storage = "postgresql://optuna:s3cret@db:5432/optuna"
    env = _script_env(
        baked_default, exe, N_WORKERS="3", N_TRIALS="7", OPTUNA_STORAGE=storage,
        OPTUNA_STUDY_NAME="study-1", SWEEP_DIR="multirun/sweep",
    )
    run([baked_default / "scripts" / "train-model-hptuning.sh", "train.model.C=2"], env=env)
    finish, start, *workers = _calls(calls)
    # One step before the workers creates the study and the parent run; one after crowns.
    steps = ["-m", "movie_review_sentiment.modeling.sweep_steps"]
    assert start == [*steps, "start", "hydra.sweeper.study_name=study-1", "train.model.C=2"]
    assert finish == [*steps, "finish", "hydra.sweeper.study_name=study-1", "train.model.C=2"]
    assert len(workers) == 3
    trials = sorted(int(a.split("=")[1]) for w in workers for a in w if a.startswith("hydra.sweeper.n_trials="))
    assert trials == [2, 2, 3]
    assert sorted(a for w in workers for a in w if a.startswith("hydra.sweep.dir=")) == [
        f"hydra.sweep.dir=multirun/sweep/worker-{i}" for i in range(3)
    ]
    for worker in workers:
        assert worker[:2] == ["src/train_model_hptuning.py", "--multirun"]
        assert "hptuning.promote=false" in worker  # the workers do not crown
        assert not any(a.startswith("hydra.sweeper.storage") for a in worker)  # the config reads it
        assert "hydra.sweeper.study_name=study-1" in worker and "train.model.C=2" in worker
        assert not any("s3cret" in arg for arg in worker), "the storage password reached the command line"
    assert not any("s3cret" in arg for arg in start + finish)


def test_tuning_script_as_one_job_of_several_runs_no_step(baked_default: Path, fake_python) -> None:
    """HPTUNING_PROMOTE=false (one pod of a multi-pod sweep): workers only; the steps run elsewhere."""
    exe, calls = fake_python
    env = _script_env(baked_default, exe, N_WORKERS="2", OPTUNA_STORAGE="sqlite:///o.db", HPTUNING_PROMOTE="False")
    run([baked_default / "scripts" / "train-model-hptuning.sh"], env=env)
    workers = _calls(calls)
    assert len(workers) == 2 and all(w[0] == "src/train_model_hptuning.py" and "hptuning.promote=false" in w for w in workers)
    for leftover in calls.iterdir():
        leftover.unlink()
    run([baked_default / "scripts" / "train-model-hptuning.sh"], env={**env, "N_WORKERS": "1"})
    [single] = _calls(calls)
    assert single[:2] == ["src/train_model_hptuning.py", "--multirun"] and "hptuning.promote=false" in single


@pytest.mark.parametrize(
    ("script", "env", "message"),
    [
        ("train-model-hptuning.sh", {"N_WORKERS": "2"}, "needs OPTUNA_STORAGE"),
        ("train-model-hptuning.sh", {"N_WORKERS": "two"}, "N_WORKERS must be a positive integer"),
        ("train-model-hptuning.sh", {"HPTUNING_PROMOTE": "no"}, "HPTUNING_PROMOTE must be true or false"),
        ("batch-inferencing.sh", {"NUM_SHARDS": "2", "SHARD_INDEX": "2"}, "SHARD_INDEX < NUM_SHARDS"),
        ("api-entrypoint.sh", {}, "No model given"),
    ],
)
def test_scripts_refuse_bad_inputs(baked_default: Path, fake_python, script: str, env: dict, message: str) -> None:
    exe, calls = fake_python
    result = run([baked_default / "scripts" / script], env=_script_env(baked_default, exe, **env), check=False)
    assert result.returncode == 2 and message in result.stderr
    assert _calls(calls) == []


def test_batch_script_takes_its_shard_from_the_job_index(baked_default: Path, fake_python) -> None:
    exe, calls = fake_python
    env = _script_env(
        baked_default, exe, NUM_SHARDS="4", JOB_COMPLETION_INDEX="3", PRED_MODEL_URI="models:/m@champion",
        PRED_MODEL_PATH="ignored", INPUT_DATA_DIR="/data/in", OUTPUT_DIR="/data/out",
    )
    run([baked_default / "scripts" / "batch-inferencing.sh"], env=env)
    assert _calls(calls) == [[
        "src/batch_inferencing.py", "inference.shard_index=3", "inference.num_shards=4",
        "inference.model_path=models:/m@champion", "inference.input_data_dir=/data/in",
        "hydra.run.dir=/data/out/shard-3",
    ]]


def test_api_script_runs_gunicorn_from_src(baked_default: Path, fake_python) -> None:
    exe, calls = fake_python
    env = _script_env(baked_default, exe, PRED_MODEL_UUID="abc123", API_PORT="9000", API_WORKERS="2")
    run([baked_default / "scripts" / "api-entrypoint.sh"], env=env)
    (call,) = _calls(calls)
    pkg = baked_default.name.replace("-", "_")
    assert call[0] == f"{pkg}_fastapi.main:APP"
    assert call[call.index("--bind") + 1] == "0.0.0.0:9000"
    assert call[call.index("--workers") + 1] == "2"
    assert call[call.index("--worker-class") + 1] == "uvicorn_worker.UvicornWorker"


# --------------------------------------------------------------------------------------------
# Polyaxon
# --------------------------------------------------------------------------------------------


def test_polyaxon_specs_accept_the_guide_parameters(variant, validators_bin: Path, tmp_path: Path) -> None:
    project, _ = variant
    specs_dir = project / "aisg-context" / "polyaxon" / "polyaxonfiles"
    assert {p.name for p in specs_dir.glob("*.yml")} == set(GUIDE_PARAMS)
    checks = [
        {"file": str(specs_dir / name), "params": [p.replace("{repo}", project.name) for p in params]}
        for name, params in sorted(GUIDE_PARAMS.items())
    ]
    result = subprocess.run(
        [str(validators_bin / "python"), str(Path(__file__).parent / "polyaxon_check_many.py")],
        input=json.dumps(checks), capture_output=True, text=True, timeout=300, check=True,
        env={**os.environ, **_polyaxon_env(tmp_path)},
    )
    results = json.loads(result.stdout)
    assert len(results) == len(GUIDE_PARAMS)
    assert {Path(r["file"]).name: r["error"] for r in results if not r["ok"]} == {}
    # The command line the guide uses, on one spec: same verdict.
    name = "train-model-cpu-hptuning.yml"
    params = [p.replace("{repo}", project.name) for p in GUIDE_PARAMS[name]]
    assert "Polyaxonfile valid" in _polyaxon_check(validators_bin, specs_dir / name, params, tmp_path).stdout


def test_rehearsal_operations_compile_against_the_cluster_specs(
    baked_default: Path, validators_bin: Path, tmp_path: Path
) -> None:
    """The rehearsal's operation files (scripts/rehearse-cluster.sh) are the cluster specs by
    pathRef, with the guide's parameters; the GPU and service specs have none (they cannot run
    under Polyaxon's local docker executor) and stay checked by the test above only."""
    rehearsal = baked_default / "aisg-context" / "polyaxon" / "rehearsal"
    names = sorted(p.name for p in rehearsal.glob("*.yml"))
    assert names == ["batch-inference.yml", "get-data.yml", "process-data.yml",
                     "train-model-cpu-hptuning.yml", "train-model-cpu.yml"]
    for name in names:
        operation = yaml.safe_load((rehearsal / name).read_text())
        assert operation["pathRef"] == f"../polyaxonfiles/{name}"
        assert set(operation["runPatch"]["container"]) == {"volumeMounts", "env", "resources"}
    checks = [{"file": str(rehearsal / name),
               "params": [p.replace("{repo}", baked_default.name) for p in GUIDE_PARAMS[name]]}
              for name in names]
    result = subprocess.run(
        [str(validators_bin / "python"), str(Path(__file__).parent / "polyaxon_check_many.py")],
        input=json.dumps(checks), capture_output=True, text=True, timeout=300, check=True,
        env={**os.environ, **_polyaxon_env(tmp_path)},
    )
    assert {Path(r["file"]).name: r["error"] for r in json.loads(result.stdout) if not r["ok"]} == {}


def _guide_commands(project: Path, program: str) -> list[list[str]]:
    """The guide's shell commands that start with ``program``, joined and split into words."""
    text = (project / "README.md").read_text()
    commands = []
    for command in re.findall(rf"^(?:\$ )?{program} (?:[^\n]*\\\n)*[^\n]*", text, flags=re.M):
        command = command.replace("\\\n", " ").replace("$(date +%s)", "1641159546")
        command = re.sub(r"<[^<>\n]+>", "jane", command)  # the guide's <PLACEHOLDERS>
        command = re.sub(r"\$\{?[A-Z_]+\}?", "jane", command)  # shell variables
        commands.append(shlex.split(command.removeprefix("$ ")))
    return commands


def test_guide_polyaxon_commands_validate(variant, validators_bin: Path, tmp_path: Path) -> None:
    """Every `polyaxon run -f ... -P ...` of the guide passes the strict check as written."""
    project, _ = variant
    checks = []
    for words in _guide_commands(project, "polyaxon run"):
        spec = words[words.index("-f") + 1]
        params = [words[i + 1] for i, word in enumerate(words) if word == "-P"]
        if params == ["..."]:
            continue  # prose mention, not a command
        checks.append({"file": str(project / spec), "params": params})
    if not checks:
        pytest.skip("the guide has no polyaxon run commands yet")
    result = subprocess.run(
        [str(validators_bin / "python"), str(Path(__file__).parent / "polyaxon_check_many.py")],
        input=json.dumps(checks), capture_output=True, text=True, timeout=300, check=True,
        env={**os.environ, **_polyaxon_env(tmp_path)},
    )
    failures = {r["file"]: r["error"][-1500:] for r in json.loads(result.stdout) if not r["ok"]}
    assert failures == {}


def test_guide_kubectl_files_are_the_validated_ones(variant) -> None:
    project, _ = variant
    named = {
        words[words.index("-f") + 1]
        for words in _guide_commands(project, "kubectl (?:apply|replace --force|create)")
        if "-f" in words
    }
    validated = {f"aisg-context/k8s/{name}" for name in K8S_FILES}
    assert named <= validated, f"the guide applies files that are not validated: {sorted(named - validated)}"


def test_polyaxon_specs_carry_project_values_and_secrets(variant) -> None:
    project, answers = variant
    gcp = "my-gcp-project"
    specs_dir = project / "aisg-context" / "polyaxon" / "polyaxonfiles"
    for name in GUIDE_PARAMS:
        spec = yaml.safe_load((specs_dir / name).read_text())
        inputs = {i["name"]: i for i in spec["inputs"]}
        image = inputs["DOCKER_IMAGE"]
        if answers.get("gcr_personal_subdir") == "Yes":
            assert image["isOptional"] is False and "value" not in image, name
            assert f"asia.gcr.io/{gcp}/<YOUR_NAME>/" in image["description"], name
        else:
            assert image["value"].startswith(f"asia.gcr.io/{gcp}/"), name
        container = spec["run"]["container"]
        assert container["image"] == "{{ DOCKER_IMAGE }}", name
        assert container["workingDir"] == "{{ WORKING_DIR }}", name
        assert spec["run"]["connections"] == ["fstore-pvc"], name
        assert {"name": "gcp-service-account", "secret": {"secretName": "gcp-sa-credentials"}} in spec["run"]["volumes"]
        assert inputs["SA_CRED_PATH"]["toEnv"] == "GOOGLE_APPLICATION_CREDENTIALS", name
        assert not {"MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"} & set(inputs), name
        assert "yq" not in (specs_dir / name).read_text(), name
        if name in MLFLOW_SPECS:
            refs = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e}
            assert refs["MLFLOW_TRACKING_USERNAME"] == refs["MLFLOW_TRACKING_PASSWORD"] == "mlflow-tracking-credentials"
        if "hptuning" in name:
            assert inputs["N_WORKERS"]["toEnv"] == "N_WORKERS"
            # Several jobs on one sweep: told not to crown, and shown the steps to run once each.
            assert inputs["HPTUNING_PROMOTE"]["toEnv"] == "HPTUNING_PROMOTE"
            text = (specs_dir / name).read_text()
            package = next(p.name for p in (project / "src").iterdir() if (p / "modeling").is_dir())
            for step in ("start", "finish"):
                assert f"python -m {package}.modeling.sweep_steps {step}" in text, name
            assert any(e["name"] == "OPTUNA_STORAGE" and "secretKeyRef" in e["valueFrom"] for e in container["env"])


def test_polyaxon_rejects_broken_specs_and_plain_credentials(
    baked_default: Path, validators_bin: Path, tmp_path: Path
) -> None:
    specs_dir = baked_default / "aisg-context" / "polyaxon" / "polyaxonfiles"
    params = [p.replace("{repo}", baked_default.name) for p in GUIDE_PARAMS["train-model-cpu.yml"]]
    spec = specs_dir / "train-model-cpu.yml"
    # Credentials are not inputs: passing them with -P is an undeclared parameter.
    result = _polyaxon_check(validators_bin, spec, [*params, "MLFLOW_TRACKING_PASSWORD=s3cret"], tmp_path, check=False)
    assert result.returncode != 0 and "MLFLOW_TRACKING_PASSWORD" in result.stdout + result.stderr
    # A required input left out.
    without = [p for p in params if not p.startswith("INPUT_DATA_DIR=")]
    assert _polyaxon_check(validators_bin, spec, without, tmp_path, check=False).returncode != 0
    # The in-process checker used above rejects them too.
    checks = [
        {"file": str(spec), "params": [*params, "MLFLOW_TRACKING_PASSWORD=s3cret"]},
        {"file": str(spec), "params": without},
        {"file": str(spec), "params": params},
    ]
    result = subprocess.run(
        [str(validators_bin / "python"), str(Path(__file__).parent / "polyaxon_check_many.py")],
        input=json.dumps(checks), capture_output=True, text=True, timeout=300, check=True,
        env={**os.environ, **_polyaxon_env(tmp_path)},
    )
    assert [r["ok"] for r in json.loads(result.stdout)] == [False, False, True]
    # A misspelt field.
    broken = tmp_path / "broken.yml"
    broken.write_text(spec.read_text().replace("workingDir:", "workingDirr:"))
    result = _polyaxon_check(validators_bin, broken, params, tmp_path, check=False)
    assert result.returncode != 0 and "working_dirr" in result.stdout + result.stderr


# --------------------------------------------------------------------------------------------
# Kubernetes
# --------------------------------------------------------------------------------------------


def test_kubernetes_manifests_validate_strictly(variant, validators_bin: Path) -> None:
    project, _ = variant
    k8s = project / "aisg-context" / "k8s"
    files = sorted(str(p.relative_to(k8s)) for p in k8s.rglob("*.yml"))
    assert set(files) == set(K8S_FILES)
    result = run([validators_bin / "kubernetes-validate", "--strict", *files], cwd=k8s)
    assert result.stdout.count(" passed ") + result.stderr.count(" passed ") == len(files)
    for name, kinds in K8S_FILES.items():
        docs = list(yaml.safe_load_all((k8s / name).read_text()))
        assert tuple(d["kind"] for d in docs) == kinds, name
        assert "namespace" not in docs[0]["metadata"], f"{name}: the guide passes --namespace"


def test_kubernetes_manifests_meet_the_serving_rules(baked_default: Path) -> None:
    k8s = baked_default / "aisg-context" / "k8s"
    deployment = yaml.safe_load((k8s / "model-serving-api/fastapi-server-deployment.yml").read_text())
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert {"readinessProbe", "livenessProbe", "resources"} <= set(container)
    assert {"requests", "limits"} <= set(container["resources"])
    env = {e["name"]: e for e in container["env"]}
    assert env["PRED_MODEL_URI"]["value"] == f"models:/{baked_default.name}@champion"
    assert env["MLFLOW_TRACKING_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "mlflow-tracking-credentials"
    service = yaml.safe_load((k8s / "model-serving-api/fastapi-server-service.yml").read_text())
    (port,) = service["spec"]["ports"]
    assert port["name"] == "http" and port["targetPort"] == "http"
    assert port["targetPort"] in {p["name"] for p in container["ports"]}
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()

    mlflow = yaml.safe_load((k8s / "mlflow/mlflow-server-deployment.yml").read_text())
    (server,) = mlflow["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in server["env"]}
    assert "secretKeyRef" in env["MLFLOW_BACKEND_STORE_URI"]["valueFrom"]
    assert env["MLFLOW_ARTIFACTS_DESTINATION"]["value"] == f"gs://{baked_default.name}-artifacts/mlflow-tracking-server"
    assert not any("postgresql://" in str(e.get("value", "")) for e in server["env"])

    job = yaml.safe_load((k8s / "batch-inference/batch-inference-job.yml").read_text())
    assert job["spec"]["completionMode"] == "Indexed"
    (worker,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in worker["env"]}
    assert env["NUM_SHARDS"] == str(job["spec"]["completions"])


def test_kubernetes_validate_rejects_unknown_fields(baked_default: Path, validators_bin: Path, tmp_path: Path) -> None:
    text = (baked_default / "aisg-context/k8s/model-serving-api/fastapi-server-deployment.yml").read_text()
    (tmp_path / "broken.yml").write_text(text.replace("replicas: 2", "replicass: 2"))
    result = run([validators_bin / "kubernetes-validate", "--strict", tmp_path / "broken.yml"], check=False)
    assert result.returncode != 0 and "replicass" in result.stdout + result.stderr


# --------------------------------------------------------------------------------------------
# GitLab CI
# --------------------------------------------------------------------------------------------


def test_gitlab_ci_matches_the_schema(variant, validators_bin: Path) -> None:
    project, _ = variant
    run([validators_bin / "check-jsonschema", "--builtin-schema", "vendor.gitlab-ci", project / ".gitlab-ci.yml"])


def test_gitlab_ci_builds_once_and_on_the_right_refs(variant) -> None:
    project, answers = variant
    ci = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
    builds = {name: job for name, job in ci.items() if name.startswith("build:")}
    assert {job["variables"]["DOCKERFILE"] for job in builds.values()} == _names(project, DOCKERFILES)
    assert all(job["extends"] == ".kaniko-build" and set(job) == {"extends", "variables"} for job in builds.values())
    rules = ci[".kaniko-build"]["rules"]
    protected = ' && $CI_COMMIT_REF_PROTECTED == "true"'
    assert [r["if"] for r in rules] == [
        "$CI_COMMIT_TAG" + protected, "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH" + protected
    ]
    assert rules[0]["variables"]["IMAGE_TAG"] == "$CI_COMMIT_TAG"
    registry = ci["variables"]["REGISTRY_PATH"]
    expected = "asia.gcr.io/my-gcp-project" + ("/$GITLAB_USER_LOGIN" if answers.get("gcr_personal_subdir") == "Yes" else "")
    assert registry == expected
    test_job = " ".join(ci["test:lint-pytest"]["script"])
    assert "--fail-under=9" in test_job and "ruff check" in test_job and "--junitxml" in test_job
    assert ci["test:lint-pytest"]["artifacts"]["reports"]["junit"] == "junit.xml"
    # The transformer and ensemble tests skip without the neural extra: one job installs it
    # (PyTorch's CPU build) and runs them; the files it names exist.
    neural = " ".join(ci["test:neural"]["script"])
    assert "download.pytorch.org/whl/cpu" in neural and '".[dev,neural]"' in neural
    named = re.findall(r"src/tests/\S+\.py", neural)
    assert named and all((project / path).is_file() for path in named)
    assert "test:neural" in ci[".kaniko-build"]["needs"]
    pages = ci["pages"]["script"]
    assert "sphinx-apidoc -f -o docs src" in pages and ci["pages"]["artifacts"]["paths"] == ["public"]


def test_the_push_key_is_used_only_on_protected_refs(baked_default: Path) -> None:
    # GCP_SERVICE_ACCOUNT_KEY is documented as a protected variable; every job that reads
    # it must run only on protected refs, or its pipelines would fail (or, with an
    # unprotected variable, branch code could read the key).
    text = (baked_default / ".gitlab-ci.yml").read_text()
    ci = yaml.safe_load(text)
    assert re.search(r"GCP_SERVICE_ACCOUNT_KEY +type \"File\", flag \"Protected\"", text)
    users = [name for name, job in ci.items() if "GCP_SERVICE_ACCOUNT_KEY" in json.dumps(job)]
    assert users == [".kaniko-build"]
    rules = ci[".kaniko-build"]["rules"]
    assert rules and all(rule["if"].endswith('&& $CI_COMMIT_REF_PROTECTED == "true"') for rule in rules)
    assert all(".kaniko-build" == job.get("extends") for name, job in ci.items() if name.startswith("build:"))
    assert all("rules" not in job for name, job in ci.items() if name.startswith("build:"))


def test_check_jsonschema_rejects_a_broken_ci_file(baked_default: Path, validators_bin: Path, tmp_path: Path) -> None:
    text = (baked_default / ".gitlab-ci.yml").read_text()
    (tmp_path / "broken.yml").write_text(text.replace("  script:", "  scriptt:", 1))
    result = run(
        [validators_bin / "check-jsonschema", "--builtin-schema", "vendor.gitlab-ci", tmp_path / "broken.yml"],
        check=False,
    )
    assert result.returncode != 0 and "scriptt" in result.stdout + result.stderr


# --------------------------------------------------------------------------------------------
# Sphinx
# --------------------------------------------------------------------------------------------


def _build_docs(project: Path, validators_bin: Path, out: Path, check: bool = True):
    # The guide's commands, warnings as errors.
    run([validators_bin / "sphinx-apidoc", "-f", "-o", "docs", "src"], cwd=project)
    return run(
        [validators_bin / "sphinx-build", "-W", "--keep-going", "-q", "-b", "html", "docs", out],
        cwd=project,
        check=check,
    )


def test_sphinx_builds_without_warnings(variant, validators_bin: Path, tmp_path: Path) -> None:
    project, _ = variant
    work = tmp_path / project.name
    shutil.copytree(project, work)
    _build_docs(work, validators_bin, tmp_path / "public")
    pkg = project.name.replace("-", "_")
    assert (tmp_path / "public" / "index.html").exists()
    index = (tmp_path / "public" / "index.html").read_text()
    assert f"{pkg}.html" in index, "index.rst does not link the API pages"
    assert (tmp_path / "public" / f"{pkg}.html").exists()
    # The guide is a page of the site too, with its pictures and working heading links.
    guide = (tmp_path / "public" / "guide.html").read_text()
    assert 'href="guide.html"' in index
    assert "Coming from the original template" in guide and 'id="virtual-environment"' in guide
    shown = set(re.findall(r'src="_images/([\w.-]+\.png)"', guide))
    assert shown == {p.name for p in (project / "assets").glob("*.png")}


def test_sphinx_fails_on_a_broken_docstring(baked_default: Path, validators_bin: Path, tmp_path: Path) -> None:
    work = tmp_path / baked_default.name
    shutil.copytree(baked_default, work)
    pkg = work / "src" / baked_default.name.replace("-", "_")
    (pkg / "broken_doc.py").write_text('"""A summary with *unclosed emphasis."""\n')
    result = _build_docs(work, validators_bin, tmp_path / "public", check=False)
    assert result.returncode != 0
    assert "broken_doc" in result.stdout + result.stderr


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_validator_versions_are_the_pinned_ones(validators_bin: Path) -> None:
    requirements = Path(__file__).parents[1] / "requirements" / "validators.txt"
    pinned = {
        _normalise(name): version
        for name, version in (line.split("==") for line in requirements.read_text().splitlines() if "==" in line)
    }
    freeze = run([validators_bin / "python", "-m", "pip", "freeze"]).stdout.splitlines()
    installed = {_normalise(name): version for name, version in (line.split("==") for line in freeze if "==" in line)}
    assert {name: installed.get(name) for name in pinned} == pinned
