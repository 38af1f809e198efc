#!/usr/bin/env python3
"""Bake a project from this template and run its whole pipeline on this machine.

``make demo`` calls this script. It needs only the standard library, so it
runs under the system ``python3``, and it works offline. The steps:

1. create a tools virtual environment with cookiecutter (cached) and bake a
   project with the default answers into a scratch folder;
2. create the project's virtual environment (cached, keyed by the project's
   pinned dependencies) and ``pip install -e <project>[dev]`` into it;
3. get data: a local IMDB tarball if one is given, else the public tarball
   if it can be downloaded, else the sample corpus shipped in the project;
4. prepare the data, train a model tracked in MLflow (SQLite store in the
   project), run a short Optuna sweep, and run batch inference;
5. serve the model with gunicorn on a free 127.0.0.1 port, send the guide's
   request, show the answer and stop the server (always, by its PID);
6. print a summary: accuracy, the MLflow store and how to open its UI, the
   batch output, the predictions and the total time.

Examples::

    make demo
    make demo IMDB_TARBALL=/path/to/aclImdb-train.tar.gz
    python3 demo/run_demo.py --fast          # sample data, one trial (tests)
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import venv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
PUBLIC_TARBALL_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
#: The request of the guide's curl example.
GUIDE_REQUEST = {
    "reviews": [
        {"id": 9176, "text": "This movie is quite boring."},
        {"id": 71, "text": "This movie is awesome."},
    ]
}
IMDB_MEMBER = re.compile(r"^(?:\./)?aclImdb/(train|test)/(pos|neg)/(\d+_\d+\.txt)$")
TEST_FRACTION = 0.2
SPLIT_SEED = 42
STEPS = 8

#: Run in the project's venv after training: what MLflow knows, as JSON.
MLFLOW_QUERY = r"""
import json
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

client = MlflowClient()
experiments = client.search_experiments()
runs = client.search_runs(
    [e.experiment_id for e in experiments], order_by=["attributes.start_time ASC"], max_results=1000
)
out = {"runs": [], "champion": None}
for run in runs:
    out["runs"].append({
        "id": run.info.run_id,
        "name": run.info.run_name,
        "status": run.info.status,
        "metrics": run.data.metrics,
        "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
        "parent": run.data.tags.get("mlflow.parentRunId"),
    })
for model in client.search_registered_models():
    try:
        version = client.get_model_version_by_alias(model.name, "champion")
    except MlflowException:
        continue
    out["champion"] = {"name": model.name, "version": version.version, "run_id": version.run_id}
print(json.dumps(out))
"""


class DemoError(RuntimeError):
    """A step failed; the message says which and where its log is."""


@dataclass
class Demo:
    """State shared by the steps, filled in as they run."""

    args: argparse.Namespace
    scratch: Path
    cache: Path
    started: float = field(default_factory=time.monotonic)
    step_no: int = 0
    project: Path | None = None
    bin_dir: Path | None = None
    data_note: str = ""
    raw_dir: Path | None = None
    results: dict[str, object] = field(default_factory=dict)

    # ----------------------------------------------------------------- output
    def step(self, title: str) -> float:
        """Announce a step and return its start time."""
        self.step_no += 1
        print(f"\n[{self.step_no}/{STEPS}] {title}", flush=True)
        return time.monotonic()

    @staticmethod
    def done(since: float, note: str = "") -> None:
        """Report the end of a step."""
        print(f"      done in {time.monotonic() - since:.1f} s{'; ' + note if note else ''}", flush=True)

    # ------------------------------------------------------------- processes
    def env(self) -> dict[str, str]:
        """Environment of the project's commands: its venv first on PATH, MLflow store."""
        env = dict(os.environ)
        assert self.bin_dir is not None and self.project is not None
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.bin_dir.parent)
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{self.project / 'mlflow.db'}"
        env.pop("PYTHONPATH", None)
        return env

    def run(
        self,
        name: str,
        cmd: list[str],
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 1800,
        show: str | None = None,
    ) -> str:
        """Run a command with its output in ``logs/<name>.log``; return its stdout.

        ``show`` replaces the command in the progress output (for long inline code).
        """
        log = self.scratch / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        print(f"      $ {show or ' '.join(cmd)}", flush=True)
        with log.open("w", encoding="utf-8") as handle:
            handle.write(f"$ {' '.join(cmd)}\n(cwd: {cwd or Path.cwd()})\n\n")
            handle.flush()
            try:
                proc = subprocess.run(
                    cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=handle,
                    text=True, timeout=timeout, check=False,
                )
            except subprocess.TimeoutExpired as error:
                raise DemoError(f"{name}: no answer after {timeout:.0f} s; see {log}") from error
            handle.write("\n--- stdout ---\n" + (proc.stdout or ""))
        if proc.returncode != 0:
            tail = "\n".join(log.read_text(encoding="utf-8").splitlines()[-25:])
            raise DemoError(f"{name} failed (exit {proc.returncode}); last lines of {log}:\n{tail}")
        return proc.stdout or ""

    # ------------------------------------------------------------------ steps
    def bake(self) -> None:
        """Bake a project with the default answers into the scratch folder."""
        since = self.step("Baking a project with the default answers")
        cookiecutter = self.args.cookiecutter
        if cookiecutter is None:
            tools = self.cache / "tools-venv"
            pin = cookiecutter_pin()
            stamp = tools / f".installed-{hashlib.sha256(pin.encode()).hexdigest()[:12]}"
            if not stamp.exists():
                print(f"      creating the tools venv {tools}", flush=True)
                venv.EnvBuilder(with_pip=True, clear=True).create(tools)
                self.run("tools-venv", [str(tools / "bin" / "python"), "-m", "pip", "install", "--quiet", pin])
                stamp.touch()
            cookiecutter = str(tools / "bin" / "cookiecutter")
        out_dir = self.scratch / "project"
        self.run("bake", [cookiecutter, "--no-input", "-o", str(out_dir), str(TEMPLATE_DIR)])
        (self.project,) = [p for p in out_dir.iterdir() if p.is_dir()]
        self.done(since, f"project: {self.project}")

    def install(self) -> None:
        """Install the project into its (cached or given) virtual environment."""
        since = self.step("Installing the project into a virtual environment")
        assert self.project is not None
        if self.args.venv:
            venv_dir = Path(self.args.venv).resolve()
        else:
            pyproject = (self.project / "pyproject.toml").read_bytes()
            key = hashlib.sha256(pyproject.split(b"[tool.")[0]).hexdigest()[:12]
            venv_dir = self.cache / f"project-venv-{key}"
        python = venv_dir / "bin" / "python"
        if not python.exists():
            print(f"      creating {venv_dir} (first run: a few minutes)", flush=True)
            venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
        self.run("install", [str(python), "-m", "pip", "install", "--quiet", "-e", f"{self.project}[dev]"])
        self.bin_dir = venv_dir / "bin"
        self.done(since, f"venv: {venv_dir}")

    def get_data(self) -> None:
        """Put raw reviews in the IMDB layout under the project's data/raw/."""
        since = self.step("Getting the data")
        assert self.project is not None
        tarball = self.args.imdb_tarball or os.environ.get("IMDB_TARBALL") or None
        choice = "sample" if self.args.fast else self.args.data
        if choice != "sample" and not tarball:
            cached = self.cache / "aclImdb_v1.tar.gz"
            if cached.exists() or download(PUBLIC_TARBALL_URL, cached):
                tarball = str(cached)
            elif choice == "imdb":
                raise DemoError(f"--data imdb: no IMDB_TARBALL given and {PUBLIC_TARBALL_URL} is unreachable")
        if choice == "sample" or not tarball:
            self.raw_dir = self.project / "data" / "raw" / "sample"
            pkg = package_name(self.project)
            code = (
                f"from pathlib import Path; from {pkg}.sample_data import write_sample_tree; "
                "print(write_sample_tree(Path('data/raw/sample')))"
            )
            self.run("sample-data", [str(self.bin_dir / "python"), "-c", code], cwd=self.project, env=self.env())
            self.data_note = (
                "the sample corpus shipped with the project (400 short original reviews; "
                "easy data: its accuracy says nothing about real reviews)"
            )
        else:
            self.raw_dir = self.project / "data" / "raw" / "aclImdb"
            self.data_note = extract_imdb(Path(tarball), self.raw_dir)
        counts = {
            f"{s}/{lab}": len(list((self.raw_dir / s / lab).glob("*.txt")))
            for s in ("train", "test")
            for lab in ("pos", "neg")
        }
        print(f"      using {self.data_note}", flush=True)
        self.done(since, ", ".join(f"{k}: {v}" for k, v in counts.items()))

    def pipeline(self) -> None:
        """Data preparation, training, the sweep and batch inference."""
        assert self.project is not None and self.raw_dir is not None and self.bin_dir is not None
        python, env = str(self.bin_dir / "python"), self.env()
        raw = self.raw_dir.relative_to(self.project).as_posix()
        processed = f"data/processed/{self.raw_dir.name}"

        since = self.step("Preparing the data (src/process_data.py)")
        self.run("process-data", [
            python, "src/process_data.py",
            f"data_prep.raw_dirs_paths=[{raw}]", f"data_prep.processed_data_path={processed}",
        ], cwd=self.project, env=env)
        self.done(since, f"processed data in {self.project / processed}")

        since = self.step("Training a model tracked in MLflow (src/train_model.py)")
        self.run("train", [
            python, "src/train_model.py", f"train.data_path={processed}", "train.setup_mlflow=true",
        ], cwd=self.project, env=env)
        finished = [r for r in self.query_mlflow("mlflow-query-train")["runs"] if r["status"] == "FINISHED"]
        if not finished:
            raise DemoError("training finished but MLflow holds no finished run")
        self.results["train_run"] = finished[-1]
        self.done(since, f"run {finished[-1]['id']}: {accuracy_line(finished[-1]['metrics'])}")

        trials = 1 if self.args.fast else self.args.trials
        tag = str(int(time.time()))
        since = self.step(f"Tuning hyperparameters: {trials} Optuna trial(s) (src/train_model_hptuning.py)")
        self.run("hptuning", [
            python, "src/train_model_hptuning.py", "--multirun",
            f"train.data_path={processed}", f"hydra.sweeper.n_trials={trials}",
        ], cwd=self.project, env={**env, "MLFLOW_HPTUNING_TAG": tag})
        info = self.query_mlflow("mlflow-query-sweep")
        self.results["mlflow"] = info
        self.results["hptuning_tag"] = tag
        champion = info.get("champion")
        if champion:
            self.results["model_uri"] = f"models:/{champion['name']}@champion"
        else:
            train_run = self.results["train_run"]
            assert isinstance(train_run, dict)
            print("      no model has the alias champion: serving the training run's model", flush=True)
            self.results["model_uri"] = f"runs:/{train_run['id']}/model"
        self.done(since, f"model to serve: {self.results['model_uri']}")

        since = self.step("Batch inference over a folder of reviews (src/batch_inferencing.py)")
        batch_in = self.project / "data" / "batch-input"
        batch_in.mkdir(parents=True, exist_ok=True)
        for label in ("pos", "neg"):
            for path in sorted((self.raw_dir / "test" / label).glob("*.txt"))[:10]:
                shutil.copy2(path, batch_in / f"{label}-{path.name}")
        started = time.time()
        self.run("batch", [
            python, "src/batch_inferencing.py",
            f"inference.model_path={self.results['model_uri']}",
            f"inference.input_data_dir={batch_in.relative_to(self.project).as_posix()}",
        ], cwd=self.project, env=env)
        outputs = [p for p in self.project.rglob("batch-infer-res.jsonl") if p.stat().st_mtime >= started - 1]
        if not outputs:
            raise DemoError("batch inference wrote no batch-infer-res.jsonl")
        self.results["batch_output"] = outputs[0]
        records = [json.loads(line) for line in outputs[0].read_text(encoding="utf-8").splitlines() if line]
        right = sum(
            1 for r in records
            if Path(str(r.get("filepath", ""))).name.startswith("pos-") == (r.get("label") == "positive")
        )
        self.results["batch_counts"] = (len(records), right)
        self.results["batch_samples"] = [records[0], records[-1]] if records else []
        for record in self.results["batch_samples"]:
            print(f"      {Path(str(record['filepath'])).name} -> {prediction_text(record)}", flush=True)
        self.done(since, f"{len(records)} predictions in {outputs[0]}")

    def query_mlflow(self, name: str) -> dict[str, Any]:
        """Runs and the champion in the project's MLflow store (queried in its venv)."""
        assert self.project is not None and self.bin_dir is not None
        out = self.run(
            name, [str(self.bin_dir / "python"), "-c", MLFLOW_QUERY], cwd=self.project, env=self.env(),
            show="python -c <list the runs and the champion of the MLflow store>",
        )
        return dict(json.loads(out.strip().splitlines()[-1]))

    def serve(self) -> None:
        """Serve the model with gunicorn, send the guide's request, stop the server."""
        since = self.step("Serving the model with gunicorn and sending the guide's request")
        assert self.project is not None and self.bin_dir is not None
        port = free_port()
        pkg = package_name(self.project)
        env = {**self.env(), "PRED_MODEL_URI": str(self.results["model_uri"])}
        cmd = [
            str(self.bin_dir / "gunicorn"), f"{pkg}_fastapi.main:APP", "-b", f"127.0.0.1:{port}",
            "-w", "1" if self.args.fast else "2", "-k", "uvicorn_worker.UvicornWorker",
        ]
        log = self.scratch / "logs" / "server.log"
        print(f"      $ cd src && PRED_MODEL_URI={env['PRED_MODEL_URI']} {' '.join(cmd)}", flush=True)
        base = f"http://127.0.0.1:{port}"
        with log.open("w", encoding="utf-8") as handle:
            server = subprocess.Popen(  # pylint: disable=consider-using-with
                cmd, cwd=self.project / "src", env=env, stdout=handle, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            print(f"      server PID {server.pid} on {base}", flush=True)
            try:
                wait_ready(server, f"{base}/api/v1/model/version", timeout=180, log=log)
                answer = http_json(f"{base}/api/v1/model/predict", GUIDE_REQUEST)
                version = http_json(f"{base}/api/v1/model/version")
            finally:
                stop(server)
                print(f"      server PID {server.pid} stopped", flush=True)
        self.results["answer"] = answer
        self.results["version"] = version
        print("      request:  " + json.dumps(GUIDE_REQUEST), flush=True)
        print("      answer:   " + json.dumps(answer), flush=True)
        self.done(since)

    def summary(self) -> None:
        """Print what was done and where everything is."""
        assert self.project is not None and self.bin_dir is not None
        info = self.results.get("mlflow", {})
        runs = info.get("runs", []) if isinstance(info, dict) else []
        train_run = self.results.get("train_run")
        tag = self.results.get("hptuning_tag")
        sweep = [r for r in runs if r["tags"].get("hptuning_tag") == tag]
        print("\n" + "=" * 72)
        print("Demo finished: summary")
        print("=" * 72)
        print(f"Project:        {self.project}")
        print(f"Virtual env:    {self.bin_dir.parent}")
        print(f"Data:           {self.data_note}")
        if isinstance(train_run, dict):
            print(f"Training run:   {train_run['id']}  {accuracy_line(train_run['metrics'])}")
        trials = [r for r in sweep if r["parent"]]
        parents = sorted({str(r["parent"]) for r in trials})
        under = f" under parent run {parents[0]}" if len(parents) == 1 else ""
        print(f"Optuna sweep:   {len(trials) or len(sweep)} trial run(s){under}, tagged hptuning_tag={tag}")
        champion = info.get("champion") if isinstance(info, dict) else None
        if champion:
            best = next((r for r in runs if r["id"] == champion["run_id"]), None)
            metrics = accuracy_line(best["metrics"]) if best else ""
            print(f"Champion:       {champion['name']} version {champion['version']}  {metrics}")
        print(f"Served model:   {self.results.get('model_uri')}")
        print(f"MLflow store:   {self.project / 'mlflow.db'} (runs), {self.project / 'mlartifacts'} (artifacts)")
        print(f"MLflow UI:      cd {self.project} && {self.bin_dir / 'mlflow'} ui "
              "--backend-store-uri sqlite:///mlflow.db --port 5000")
        total, right = self.results.get("batch_counts", (0, 0))
        print(f"Batch output:   {self.results.get('batch_output')} ({total} reviews, {right} right by file label)")
        answer = self.results.get("answer")
        texts = {r["id"]: r["text"] for r in GUIDE_REQUEST["reviews"]}
        for record in self.results.get("batch_samples", []):
            print(f"Batch sample:   {Path(str(record['filepath'])).name} -> {prediction_text(record)}")
        for item in find_predictions(answer):
            print(f"API answer:     {texts.get(item['id'], item['id'])!r} -> {prediction_text(item)}")
        print(f"Logs:           {self.scratch / 'logs'}")
        print(f"Total time:     {time.monotonic() - self.started:.0f} s")


# ---------------------------------------------------------------------- helpers
def cookiecutter_pin() -> str:
    """The cookiecutter requirement the template's own tests use."""
    for line in (TEMPLATE_DIR / "requirements" / "template-tests.txt").read_text().splitlines():
        if line.startswith("cookiecutter"):
            return line.split("#")[0].strip()
    return "cookiecutter"


def package_name(project: Path) -> str:
    """Name of the project's library package (the folder with sample_data/)."""
    (pkg,) = [p.name for p in (project / "src").iterdir() if (p / "sample_data").is_dir()]
    return pkg


def download(url: str, dest: Path) -> bool:
    """Download ``url`` to ``dest``; return False (and say why) when offline."""
    print(f"      trying to download {url}", flush=True)
    part = dest.with_suffix(".part")
    try:
        with urllib.request.urlopen(url, timeout=10) as response, part.open("wb") as out:
            size = int(response.headers.get("Content-Length") or 0)
            got, shown = 0, -10
            while chunk := response.read(1 << 20):
                out.write(chunk)
                got += len(chunk)
                if size and got * 100 // size >= shown + 10:
                    shown = got * 100 // size
                    print(f"      {shown:3d}% of {size >> 20} MiB", flush=True)
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        part.unlink(missing_ok=True)
        print(f"      no download ({error}); falling back to the sample corpus", flush=True)
        return False
    part.replace(dest)
    return True


def extract_imdb(tarball: Path, dest: Path) -> str:
    """Extract the labelled reviews of an IMDB tarball to ``dest``; describe what was used.

    Only ``aclImdb/{train,test}/{pos,neg}/*.txt`` members are read (each file
    is written by name, never by a path from the archive). When the tarball
    holds no test split, a seeded 20 % of each training label is moved to test.
    """
    if not tarball.is_file():
        raise DemoError(f"IMDB tarball not found: {tarball}")
    print(f"      extracting {tarball}", flush=True)
    if dest.exists():
        shutil.rmtree(dest)
    with tarfile.open(tarball) as archive:
        for member in archive:
            match = IMDB_MEMBER.match(member.name)
            if not (match and member.isfile()):
                continue
            split, label, name = match.groups()
            target = dest / split / label / name
            target.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            assert source is not None
            target.write_bytes(source.read())
    train = sum(len(list((dest / "train" / lab).glob("*.txt"))) for lab in ("pos", "neg"))
    if train == 0:
        raise DemoError(f"{tarball} holds no aclImdb/train/{{pos,neg}}/*.txt reviews")
    if any((dest / "test").glob("*/*.txt")):
        return f"the IMDB reviews from {tarball} (its own train and test splits)"
    rng = random.Random(SPLIT_SEED)
    for label in ("pos", "neg"):
        files = sorted((dest / "train" / label).glob("*.txt"))
        rng.shuffle(files)
        (dest / "test" / label).mkdir(parents=True, exist_ok=True)
        for path in files[: round(len(files) * TEST_FRACTION)]:
            path.replace(dest / "test" / label / path.name)
    return (
        f"the IMDB reviews from {tarball}; it holds only the train split, so a seeded "
        f"{TEST_FRACTION:.0%} of each label was moved aside as the test set"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_json(url: str, payload: object | None = None, timeout: float = 30) -> object:
    """GET (or POST ``payload`` as JSON to) ``url`` and decode the JSON answer."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", "Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode())
    except urllib.error.HTTPError as error:
        raise DemoError(f"{url} answered {error.code}: {error.read().decode(errors='replace')[:500]}") from error


def wait_ready(server: subprocess.Popen[bytes], url: str, timeout: float, log: Path) -> None:
    """Poll ``url`` until it answers 200; fail if the server exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            tail = "\n".join(log.read_text(encoding="utf-8").splitlines()[-25:])
            raise DemoError(f"the server exited ({server.returncode}); last lines of {log}:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise DemoError(f"the server did not answer {url} within {timeout:.0f} s; see {log}")


def stop(server: subprocess.Popen[bytes]) -> None:
    """Stop the server we started: SIGTERM to its PID, then SIGKILL to its process group."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=20)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.pid, signal.SIGKILL)  # workers left behind, if any (own session)
    if server.poll() is None:
        server.wait(timeout=10)


def prediction_text(prediction: dict[str, Any]) -> str:
    """A record's or answer's label and its probability, e.g. ``negative (probability 0.93)``."""
    if prediction.get("label") is None:
        return f"no prediction ({prediction.get('error')})"
    return f"{prediction['label']} (probability {float(prediction['probability']):.2f})"


def find_predictions(answer: object) -> list[dict[str, object]]:
    """The per-review items of the API's answer: dicts with an id, a label and its probability.

    The id is read from ``review_id`` or ``id`` and returned under ``id``.
    """
    found: list[dict[str, object]] = []
    if isinstance(answer, dict):
        key = "review_id" if "review_id" in answer else "id"
        if key in answer and "label" in answer:
            found.append({**answer, "id": answer[key]})
        for value in answer.values():
            found += find_predictions(value)
    elif isinstance(answer, list):
        for value in answer:
            found += find_predictions(value)
    return found


def accuracy_line(metrics: dict[str, float]) -> str:
    """The accuracy metrics of a run, e.g. ``val_accuracy=0.91 test_accuracy=0.90``."""
    found = {k: v for k, v in sorted(metrics.items()) if "acc" in k.lower()}
    return "  ".join(f"{k}={v:.4f}" for k, v in found.items()) or "(no accuracy metric logged)"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options (see ``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="sample data and one trial (for tests)")
    parser.add_argument(
        "--data", choices=("auto", "imdb", "sample"), default="auto",
        help="auto (default): IMDB tarball if given or downloadable, else the sample corpus",
    )
    parser.add_argument("--imdb-tarball", help="local aclImdb tarball (default: $IMDB_TARBALL)")
    parser.add_argument("--trials", type=int, default=3, help="Optuna trials (default 3)")
    parser.add_argument("--scratch", help="folder for the baked project and logs (default: scratch/demo-<time>)")
    parser.add_argument(
        "--cache-dir",
        default=os.environ.get("DEMO_CACHE_DIR")
        or str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ml-project-template-demo"),
        help="reusable venvs and downloads (default: $DEMO_CACHE_DIR or ~/.cache/ml-project-template-demo)",
    )
    parser.add_argument("--venv", help="use this virtual environment for the project instead of the cached one")
    parser.add_argument("--cookiecutter", help="cookiecutter executable to use instead of a cached tools venv")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return the exit status."""
    args = parse_args(argv)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    scratch = Path(args.scratch or TEMPLATE_DIR / "scratch" / f"demo-{stamp}").resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    cache = Path(args.cache_dir).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    print(f"Scratch folder: {scratch}\nCache folder:   {cache} (venvs and downloads, reused)", flush=True)
    demo = Demo(args, scratch, cache)
    try:
        demo.bake()
        demo.install()
        demo.get_data()
        demo.pipeline()
        demo.serve()
    except DemoError as error:
        print(f"\nDEMO FAILED: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    demo.summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
