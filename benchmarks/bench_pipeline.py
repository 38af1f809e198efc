"""Benchmark the generated project's pipeline on the real IMDB reviews.

Bakes a project from this template, then runs its own commands on the
aclImdb tarball and prints: data-prep throughput (files/s), training wall
time and peak memory, validation accuracy, model size, and the same data fit
by hand (TF-IDF + LogisticRegression in a few lines) in the same session for
comparison.

    python benchmarks/bench_pipeline.py --python /path/to/venv/bin/python \
        [--tarball /path/to/aclImdb.tar.gz] [--workdir scratch/bench]

Python environment: nothing is installed into an existing venv. ``--python``
(or ``BENCH_PYTHON``) names an interpreter that already has the baked
project's dependencies; without it, a venv is created in the work folder from
the baked project's ``pyproject.toml`` (``pip install -e .``, which needs the
package registry). The bench interpreter itself needs ``cookiecutter``.

Data: ``--tarball`` or ``IMDB_TARBALL`` (default
``/work/shared/data/aclImdb-train.tar.gz``); the benchmark is skipped with a
message when it is absent. When the archive holds only ``train/`` (25,000
reviews), a seeded stratified 10% of it is moved to ``test/`` as a stand-in
test set: the reported test numbers are then on that held-out part of train.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

TEMPLATE_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TARBALL = "/work/shared/data/aclImdb-train.tar.gz"
STAND_IN_TEST_SHARE = 0.1
SEED = 0

HAND_FIT = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
frame = pd.read_parquet(sys.argv[1] + "/train.parquet")
train, val = train_test_split(frame, test_size=float(sys.argv[2]), stratify=frame["label"],
                              shuffle=True, random_state=int(sys.argv[3]))
t1 = time.perf_counter()
vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
model = LogisticRegression(C=100, solver="liblinear").fit(
    vectorizer.fit_transform(train["text"]), train["label"])
t2 = time.perf_counter()
accuracy = (model.predict(vectorizer.transform(val["text"])) == val["label"]).mean()
print(json.dumps({"fit_seconds": t2 - t1, "val_accuracy": float(accuracy),
                  "in_process_seconds": time.perf_counter() - t0}))
"""


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> dict[str, object]:
    """Run a command; return wall time, peak RSS (MB), exit status and output."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    output = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"FAILED ({proc.returncode}): {' '.join(cmd)}\n{output[-5000:]}")
    return {"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024, "output": output}


def bake(workdir: Path) -> Path:
    """Bake the template with its default answers into ``workdir``."""
    from cookiecutter.main import cookiecutter  # pylint: disable=import-outside-toplevel

    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    return Path(cookiecutter(str(TEMPLATE_ROOT), no_input=True, output_dir=str(workdir)))


def project_python(args: argparse.Namespace, project: Path, workdir: Path) -> str:
    """The interpreter to run the project with (given, or a fresh venv)."""
    given = args.python or os.environ.get("BENCH_PYTHON")
    if given:
        return given
    venv = workdir / "venv"
    print(f"Creating {venv} from {project / 'pyproject.toml'} (needs the package registry)...")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-e",
                    f"{project}[postgres]"], check=True)
    return str(venv / "bin" / "python")


def make_stand_in_test_split(raw: Path) -> int:
    """Move a seeded stratified share of train to test when there is no test split."""
    if (raw / "test").exists():
        return 0
    rng = random.Random(SEED)
    moved = 0
    for label in ("pos", "neg"):
        names = sorted(p.name for p in (raw / "train" / label).glob("*.txt"))
        rng.shuffle(names)
        target = raw / "test" / label
        target.mkdir(parents=True)
        for name in names[: int(len(names) * STAND_IN_TEST_SHARE)]:
            (raw / "train" / label / name).rename(target / name)
            moved += 1
    return moved


def folder_mb(path: Path) -> float:
    """Total size of the files under ``path``, in MB."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def main() -> int:
    """Run the benchmark and print its numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tarball", default=os.environ.get("IMDB_TARBALL", DEFAULT_TARBALL))
    parser.add_argument("--python", default=None, help="interpreter of the project (see doc)")
    parser.add_argument("--workdir", default=str(TEMPLATE_ROOT / "scratch" / "bench"))
    args = parser.parse_args()
    tarball = Path(args.tarball)
    if not tarball.exists():
        print(f"SKIPPED: no IMDB tarball at {tarball} (give --tarball or IMDB_TARBALL).")
        return 0
    workdir = Path(args.workdir).resolve()
    project = bake(workdir)
    python = project_python(args, project, workdir)
    env = {**os.environ, "PYTHONPATH": str(project / "src"),
           "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    results: dict[str, object] = {"machine_cores": os.cpu_count(), "tarball": str(tarball)}

    fetched = run([python, "src/get_data.py", "--source", str(tarball),
                   "--dest", "data/raw/aclImdb"], project, env)
    results["get_data_wall_s"] = fetched["wall_s"]
    results["stand_in_test_files"] = make_stand_in_test_split(project / "data/raw/aclImdb")

    prep = run([python, "src/process_data.py", "data_prep.raw_dirs_paths=[data/raw/aclImdb]",
                "data_prep.processed_data_path=data/processed/aclImdb"], project, env)
    manifest = json.loads((project / "data/processed/aclImdb/manifest.json").read_text())
    library_rate = re.search(r"raw items in [\d.]+ s \(([\d,]+)/s\)", str(prep["output"]))
    results.update(
        files=manifest["items_seen"], rejects=manifest["n_rejects"],
        counts=manifest["counts"], process_data_wall_s=prep["wall_s"],
        process_data_files_per_s_wall=manifest["items_seen"] / float(prep["wall_s"]),
        process_data_files_per_s_library=(
            float(library_rate.group(1).replace(",", "")) if library_rate else None
        ),
    )

    hand = run([python, "-c", HAND_FIT, str(project / "data/processed/aclImdb"), "0.1", "42"],
               project, env)
    hand_numbers = json.loads(str(hand["output"]).strip().splitlines()[-1])

    train = run([python, "src/train_model.py", "train.data_path=data/processed/aclImdb",
                 "train.setup_mlflow=true"], project, env)
    metrics = dict(re.findall(r"^\s+(val_\w+|test_\w+|fit_seconds)\s+([\d.]+)$",
                              str(train["output"]), flags=re.MULTILINE))
    models = sorted((project / "mlartifacts").rglob("nbsvm.npz"))
    results.update(
        train_model_wall_s=train["wall_s"], train_model_peak_rss_mb=train["peak_rss_mb"],
        train_model_fit_s=float(metrics["fit_seconds"]),
        val_accuracy=float(metrics["val_accuracy"]),
        stand_in_test_accuracy=float(metrics["test_accuracy"]),
        model_size_mb=folder_mb(models[-1].parent) if models else None,
        hand_tfidf_lr_wall_s=hand["wall_s"], hand_tfidf_lr_fit_s=hand_numbers["fit_seconds"],
        hand_tfidf_lr_val_accuracy=hand_numbers["val_accuracy"],
        hand_tfidf_lr_peak_rss_mb=hand["peak_rss_mb"],
    )
    results["train_wall_ratio_vs_hand"] = results["train_model_wall_s"] / hand["wall_s"]

    (workdir / "bench-results.json").write_text(json.dumps(results, indent=2))
    print("\n=== Pipeline benchmark (" + f"{os.cpu_count()} cores) ===")
    print(f"data: {tarball}; {results['files']} files, "
          f"{results['stand_in_test_files']} moved to a stand-in test split")
    print(f"process_data.py      {results['process_data_wall_s']:.1f} s wall, "
          f"{results['process_data_files_per_s_wall']:,.0f} files/s incl. start-up "
          f"({results['process_data_files_per_s_library']:,.0f} files/s in the library)")
    print(f"train_model.py       {results['train_model_wall_s']:.1f} s wall "
          f"(fit {results['train_model_fit_s']:.1f} s), peak RSS "
          f"{results['train_model_peak_rss_mb']:.0f} MB, val accuracy "
          f"{results['val_accuracy']:.4f}, stand-in test accuracy "
          f"{results['stand_in_test_accuracy']:.4f}, model {results['model_size_mb']:.1f} MB")
    print(f"hand TF-IDF + LR     {results['hand_tfidf_lr_wall_s']:.1f} s wall "
          f"(fit {results['hand_tfidf_lr_fit_s']:.1f} s), peak RSS "
          f"{results['hand_tfidf_lr_peak_rss_mb']:.0f} MB, val accuracy "
          f"{results['hand_tfidf_lr_val_accuracy']:.4f}")
    print(f"train_model.py / hand wall time: {results['train_wall_ratio_vs_hand']:.2f}")
    print(f"results: {workdir / 'bench-results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
