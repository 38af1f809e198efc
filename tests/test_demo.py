"""`make demo` bakes a project and runs its whole pipeline (fast mode)."""

from __future__ import annotations

import importlib.util
import io
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from helpers import TEMPLATE_DIR


@pytest.mark.slow
def test_make_demo_fast(tmp_path: Path) -> None:
    # Set DEMO_CACHE_DIR to keep the demo's venvs between test sessions.
    cache = os.environ.get("DEMO_CACHE_DIR") or str(tmp_path / "cache")
    scratch = tmp_path / "scratch"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PRED_MODEL_", "VIRTUAL_ENV"))}
    result = subprocess.run(
        ["make", "demo", f"DEMO_ARGS=--fast --scratch {scratch} --cache-dir {cache}"],
        cwd=TEMPLATE_DIR, env=env, capture_output=True, text=True, timeout=2400, check=False,
    )
    out = result.stdout
    assert result.returncode == 0, f"{out[-5000:]}\n--- stderr ---\n{result.stderr[-5000:]}"

    assert "Demo finished: summary" in out
    assert "using the sample corpus" in out
    # The sample corpus is easy (the model scores 1.0 on it): a model that learnt
    # nothing scores about 0.5, so 0.9 tells a working pipeline from a broken one.
    training = re.search(r"^Training run: +\w+ +(.*)$", out, re.MULTILINE)
    assert training, out[-3000:]
    accuracies = dict(re.findall(r"(\w*acc\w*)=([01]\.\d+)", training.group(1)))
    assert set(accuracies) == {"val_accuracy", "test_accuracy"}, training.group(0)
    assert all(float(value) >= 0.9 for value in accuracies.values()), training.group(0)
    assert re.search(r"Optuna sweep: +1 trial run", out), out[-3000:]
    probability = r"\(probability (0\.\d\d|1\.00)\)"
    assert re.search(rf"'This movie is quite boring\.' -> negative {probability}", out), out[-3000:]
    assert re.search(rf"'This movie is awesome\.' -> positive {probability}", out), out[-3000:]
    samples = re.findall(rf"^Batch sample: +(pos|neg)-\S+\.txt -> (positive|negative) {probability}",
                         out, re.MULTILINE)
    assert len(samples) == 2, out[-3000:]
    assert "MLflow UI:" in out and "Total time:" in out

    # The server it started was stopped.
    pid = int(re.search(r"server PID (\d+) stopped", out).group(1))
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)

    (project,) = (scratch / "project").iterdir()
    assert (project / "mlflow.db").is_file()
    assert list(project.rglob("batch-infer-res.jsonl"))


def test_demo_script_help() -> None:
    """The demo runs under the system python with the standard library only."""
    result = subprocess.run(
        ["python3", "-I", str(TEMPLATE_DIR / "demo" / "run_demo.py"), "--help"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--fast" in result.stdout and "--imdb-tarball" in result.stdout


def _tarball(path: Path, members: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_demo_splits_a_train_only_tarball(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tarball with only aclImdb/train/ gets a seeded 20 % test split; nothing else is read."""
    members = {f"aclImdb/train/{label}/{i}_{7 if label == 'pos' else 2}.txt": f"review {i}"
               for label in ("pos", "neg") for i in range(10)}
    members["aclImdb/train/unsup/99_0.txt"] = "unlabelled"
    members["aclImdb/../../escape.txt"] = "outside"
    members["aclImdb/README"] = "readme"
    tarball = _tarball(tmp_path / "imdb.tar.gz", members)
    spec = importlib.util.spec_from_file_location("run_demo", TEMPLATE_DIR / "demo" / "run_demo.py")
    run_demo = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "run_demo", run_demo)  # dataclasses look their module up there
    spec.loader.exec_module(run_demo)

    note = run_demo.extract_imdb(tarball, tmp_path / "raw")
    assert "only the train split" in note
    files = sorted(p.relative_to(tmp_path / "raw").as_posix() for p in (tmp_path / "raw").rglob("*.txt"))
    assert len(files) == 20
    assert sum(f.startswith("test/pos/") for f in files) == 2
    assert sum(f.startswith("test/neg/") for f in files) == 2
    assert not (tmp_path / "escape.txt").exists() and "unsup" not in "".join(files)
    # Seeded: the same split every time.
    run_demo.extract_imdb(tarball, tmp_path / "raw2")
    assert files == sorted(p.relative_to(tmp_path / "raw2").as_posix() for p in (tmp_path / "raw2").rglob("*.txt"))
