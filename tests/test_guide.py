"""The generated README is a guide whose local commands really work.

Fast tests check the guide's markers and that every project file it names
exists in a baked project (for every answer set). The slow test runs the
marked local steps, in order, in one bash session, in a copy of the default
bake with the project's venv on PATH, on the sample corpus; it starts the
API server block in the background and always stops it by its process id.
See ``tests/guide.py`` for the convention.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

from guide import Block, marked_blocks, named_files, polyaxon_runs, session_script
from helpers import bake

ROOT_FILE = re.compile(
    r"`(\.gitlab-ci\.yml|\.pylintrc|\.dockerignore|\.gitignore|pyproject\.toml|[\w-]+-conda-env\.yml)`"
)
#: The stages a reader must be able to run on a laptop, each in some local block.
REQUIRED_LOCAL_COMMANDS = [
    "python src/get_data.py --source sample --dest data/raw/sample",
    "python src/process_data.py",
    "python src/train_model.py",
    "python src/train_model_hptuning.py --multirun",
    "/api/v1/model/predict",
    "python src/batch_inferencing.py",
    "sphinx-apidoc",
    "sphinx-build",
]
GUIDE_REVIEWS = {9176: "negative", 71: "positive"}
#: The "Make it yours" headlines: a striker's goals, a bank's dividend.
NEWS_HEADLINES = {1: "sports", 2: "business"}
HISTORY_HEADING = "## Coming from the original template"  # "quite boring", "awesome"


@pytest.fixture(scope="module")
def readme(baked_default: Path) -> str:
    return (baked_default / "README.md").read_text(encoding="utf-8")


def test_markers_are_well_formed(readme: str) -> None:
    blocks = marked_blocks(readme)
    local = "\n".join(b.body for b in blocks if b.kind == "local")
    missing = [cmd for cmd in REQUIRED_LOCAL_COMMANDS if cmd not in local]
    assert missing == [], "guide steps without a guide-test: local block"
    # The test suite is the one step run elsewhere (test_baked_project.py), on the same bake.
    assert [b.body.strip() for b in blocks if b.kind == "suite"] == ["pytest"]
    servers = [b for b in blocks if b.kind == "server"]
    assert len(servers) == 2 and all("gunicorn" in server.body for server in servers)
    # The guide's server, then the "Make it yours" one beside it.
    assert [server.arg.split("/")[2] for server in servers if server.arg] == [
        "localhost:8080", "localhost:8081"]
    # Each server must start before anything talks to it.
    for server in servers:
        port = server.arg.split("/")[2] if server.arg else ""
        first_curl = next(i for i, b in enumerate(blocks) if f"{port}/api" in b.body)
        assert blocks.index(server) < first_curl


@pytest.mark.slow  # needs the platform and pipeline files (other branches) to pass
@pytest.mark.parametrize(
    "answers",
    [{}, {"gcr_personal_subdir": "Yes", "project_name": "Tiny"}],
    ids=["defaults", "personal-subdir"],
)
def test_named_files_exist(answers: dict[str, str], tmp_path: Path) -> None:
    project = bake(tmp_path, **answers)
    text = (project / "README.md").read_text(encoding="utf-8")
    # The section for readers of the original guide names its old paths on purpose: only
    # its "run instead" column must name files that exist.
    text, history = text.split(HISTORY_HEADING)
    rows = [line.split(" | ") for line in history.splitlines() if line.startswith("| `")]
    assert len(rows) >= 12 and all(len(row) == 3 for row in rows)
    names = named_files(text + "\n".join(row[2] for row in rows)) | set(ROOT_FILE.findall(text))
    assert len(names) >= 20, sorted(names)
    missing = sorted(n for n in names if not (project / n).is_file())
    assert missing == [], "files named in the guide but absent from the project"


@pytest.mark.slow  # needs the platform's polyaxonfiles (another branch) to pass
def test_polyaxon_parameters_exist(baked_default: Path, readme: str) -> None:
    """Every -P NAME the guide passes is an input of the polyaxonfile it runs."""
    runs = polyaxon_runs(readme)
    assert len(runs) >= 5
    problems = []
    for spec, names in runs:
        component = yaml.safe_load((baked_default / spec).read_text(encoding="utf-8"))
        inputs = {item["name"] for item in component.get("inputs", [])}
        problems += [f"{spec}: -P {name} is not an input" for name in sorted(names - inputs)]
    assert problems == []


def test_registry_paths_follow_the_answer(tmp_path: Path) -> None:
    shared = (bake(tmp_path / "no", gcp_project_id="team-proj-123") / "README.md").read_text()
    personal = (
        bake(tmp_path / "yes", gcp_project_id="team-proj-123", gcr_personal_subdir="Yes") / "README.md"
    ).read_text()
    assert "asia.gcr.io/team-proj-123/fastapi-server:0.1.0" in shared
    assert "$GCR_PERSONAL_SUBDIR" not in shared
    assert "asia.gcr.io/team-proj-123/$GCR_PERSONAL_SUBDIR/fastapi-server:0.1.0" in personal
    assert "export GCR_PERSONAL_SUBDIR=" in personal


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def predictions(answer: object) -> dict[int, str]:
    """Review id -> label, wherever the items sit in the API's JSON answer."""
    found: dict[int, str] = {}
    if isinstance(answer, dict):
        key = "review_id" if "review_id" in answer else "id"
        if key in answer and "label" in answer:
            found[int(answer[key])] = str(answer["label"])
        for value in answer.values():
            found.update(predictions(value))
    elif isinstance(answer, list):
        for value in answer:
            found.update(predictions(value))
    return found


def test_session_harness_stops_its_server(tmp_path: Path) -> None:
    """The bash session runs blocks in order, shares variables, and kills its server."""
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "hello.txt").write_text("hi")
    serve = (
        "python3 -c 'import sys, http.server; host, port = sys.argv[1].split(\":\"); "
        "http.server.ThreadingHTTPServer((host, int(port)), http.server.SimpleHTTPRequestHandler)"
        ".serve_forever()' 0.0.0.0:8080\n"
    )
    blocks = [
        Block("setup", "exit 1\n"),
        Block("local", "export GREETING=hello\n"),
        Block("server", "cd www\n" + serve, "http://localhost:8080/hello.txt"),
        Block("local", "curl -sS localhost:8080/hello.txt\necho \" $GREETING\"\n"),
    ]
    state = tmp_path / "state"
    state.mkdir()
    script = session_script(blocks, state, free_port())
    (state / "session.sh").write_text(script)
    result = subprocess.run(["bash", str(state / "session.sh")], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert (state / "current").read_text().strip() == "done"
    assert (state / "block-4.out").read_text() == "hi hello\n"
    pid = int((state / "server-pids").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.slow
def test_guide_local_steps_run(baked_default: Path, project_venv: Path, tmp_path: Path) -> None:
    project = tmp_path / baked_default.name
    shutil.copytree(baked_default, project, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
    readme = (project / "README.md").read_text(encoding="utf-8")
    blocks = marked_blocks(readme)
    state = tmp_path / "state"
    state.mkdir()
    script = session_script(blocks, state, free_port(), free_port())
    (state / "session.sh").write_text(script, encoding="utf-8")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PRED_MODEL_", "VIRTUAL_ENV"))}
    env.update(
        PATH=f"{project_venv}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(project_venv.parent),
        MPLBACKEND="Agg",
    )
    result = subprocess.run(
        ["bash", str(state / "session.sh")], cwd=project, env=env,
        capture_output=True, text=True, timeout=2400, check=False,
    )
    current = (state / "current").read_text().strip() if (state / "current").exists() else "?"
    if result.returncode != 0 or current != "done":
        detail = ""
        if current.isdigit():
            n = int(current)
            detail = (
                f"\n--- block {n} ---\n{blocks[n - 1].body}"
                f"\n--- its stdout ---\n{(state / f'block-{n}.out').read_text()[-4000:]}"
                f"\n--- its stderr ---\n{(state / f'block-{n}.err').read_text()[-6000:]}"
            )
        pytest.fail(f"guide step {current} failed (exit {result.returncode}){detail}\n{result.stderr[-3000:]}")

    # The servers were stopped by their PIDs and are gone.
    pids = (state / "server-pids").read_text().split()
    assert len(pids) == 2 and set(pids) <= set((state / "stopped").read_text().split())
    for pid in map(int, pids):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)

    # The guide's curl request got a label per review id, and the right ones; so did the
    # "Make it yours" server, trained on a table of three labels by configuration alone.
    for port, expected in (("8080", GUIDE_REVIEWS), ("8081", NEWS_HEADLINES)):
        n_predict = next(i for i, b in enumerate(blocks, 1)
                         if f"{port}/api/v1/model/predict" in b.body)
        answer = json.loads((state / f"block-{n_predict}.out").read_text())
        assert predictions(answer) == expected, answer
        labels = {label for item in answer["data"] for label in item["probabilities"]}
        assert labels == ({"negative", "positive"} if port == "8080"
                          else {"business", "sports", "tech"})
    records = [json.loads(line) for line in
               (project / "outputs" / "news-batch" / "batch-infer-res.jsonl").open()]
    assert len(records) == 90 and not any("error" in record for record in records)
    assert [record["id"] for record in records[:2]] == ["n001", "n002"]

    # Batch inference wrote one record per input file.
    inputs = list((project / "data" / "batch-input").glob("*.txt"))
    (result_file,) = [path for path in (project / "outputs").rglob("batch-infer-res.jsonl")
                      if "news-batch" not in path.parts]  # the guide's run, not "Make it yours"
    records = [json.loads(line) for line in result_file.read_text().splitlines() if line.strip()]
    assert len(records) == len(inputs) == 80
    assert {"time", "filepath", "label", "probability", "probabilities"} <= set(records[0])

    # The documentation was built.
    assert (project / "public" / "index.html").is_file()
