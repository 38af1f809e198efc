"""Prepare the bundle that ``gpu_check.py`` runs on a GPU machine (at most 64 MiB).

Bakes the template, reads the IMDB train reviews straight from the tarball,
moves a seeded stratified 10% of them to a stand-in test split (seed 0, as
``bench_pipeline.py`` does), cleans and tokenises every review with the baked
project's own code (head + tail word pieces), and writes to ``--out``:

- ``encoder/``: the packaged all-MiniLM-L6-v2 (SHA-256 checked) with its weights
  converted to fp16 (45 MB instead of 90; the check trains in fp32 + bf16 autocast);
- ``tokens.npz``: the word-piece ids of train and test (ragged, uint16) and labels;
- ``test_texts.json.gz``: the stand-in test reviews, raw, for end-to-end throughput;
- ``nbsvm_test_proba.npy``: the project's NBSVM (fitted here on the same train split)
  P(positive) of each test review, for the ensemble's accuracy;
- ``src/``: the baked project's package (the training and batch inference code);
- ``conf/``: the baked project's configuration, where the settings' defaults live;
- ``wheels/``: the few pure dependencies of that code that the GPU machine's image
  lacks (pydantic, its core for CPython 3.12, omegaconf), in the versions the
  project pins; ``gpu_check.py`` installs them there only when they are missing.

    python benchmarks/gpu_check_prepare.py --python /path/to/venv/bin/python \
        [--tarball /work/shared/data/aclImdb-train.tar.gz] [--out scratch/gpu-check]

The interpreter needs the baked project's dependencies with the ``[neural]``
extra; this script itself needs ``cookiecutter``. Then, on the GPU machine::

    python benchmarks/gpu_check.py --bundle scratch/gpu-check
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TEMPLATE_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TARBALL = "/work/shared/data/aclImdb-train.tar.gz"
BUDGET_BYTES = 64 * 1024 * 1024
#: What the package imports that the GPU machine's image (PyTorch, transformers, numpy,
#: fsspec, filelock, tqdm, PyYAML) does not hold; their versions come from --python.
MISSING_THERE = ("pydantic", "pydantic-core", "annotated-types", "typing-inspection", "omegaconf")
#: The GPU machine's interpreter (CPython 3.12 on manylinux x86_64), for pydantic-core.
WHEEL_TARGET = ["--python-version", "3.12", "--implementation", "cp",
                "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
                "--platform", "manylinux2014_x86_64"]

# Runs under the project's interpreter, with the baked src/ on sys.path.
WORKER = r'''
import gzip, json, random, re, shutil, sys, tarfile
from pathlib import Path
import numpy as np
import torch
from omegaconf import OmegaConf
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer

tarball, out, pkg, share, seed = sys.argv[1], Path(sys.argv[2]), sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
text = __import__(f"{pkg}.data_prep.text", fromlist=["clean_texts"])
config = __import__(f"{pkg}.modeling.training_config", fromlist=["TransformerConfig"])
transformer = __import__(f"{pkg}.modeling.transformer", fromlist=["encode"])


def model_settings(name):
    """The default settings of a model option: train.model of the project's conf/model/<name>.yaml."""
    node = OmegaConf.load(out / "conf" / "model" / f"{name}.yaml").train.model
    return OmegaConf.to_container(node, resolve=True)

reviews = {"pos": {}, "neg": {}}
pattern = re.compile(r"(?:^|/)train/(pos|neg)/([^/]+\.txt)$")
with tarfile.open(tarball) as archive:
    for member in archive:
        found = pattern.search(member.name)
        if member.isfile() and found:
            data = archive.extractfile(member).read()
            reviews[found.group(1)][found.group(2)] = data.decode("utf-8", errors="replace")
rng = random.Random(seed)
split = {"train": ([], []), "test": ([], [])}
for label in ("pos", "neg"):  # the same draw as bench_pipeline.make_stand_in_test_split
    names = sorted(reviews[label])
    rng.shuffle(names)
    cut = int(len(names) * share)
    for part, chosen in (("test", names[:cut]), ("train", names[cut:])):
        split[part][0].extend(reviews[label][n] for n in chosen)
        split[part][1].extend([int(label == "pos")] * len(chosen))
print(f"train {len(split['train'][0])} reviews, stand-in test {len(split['test'][0])}")

source = transformer.resolve_base_model(config.PACKAGED_BASE_MODEL)
cfg = config.TransformerConfig.model_validate(model_settings("transformer"))
settings = transformer.EncodingSettings(cfg.max_tokens, cfg.head_tokens, cfg.eval_batch_size)
tokenizer = AutoTokenizer.from_pretrained(source)
arrays = {}
for part, (texts, labels) in split.items():
    ids = transformer.encode(tokenizer, text.clean_texts(texts), settings)
    lengths = np.array([len(x) for x in ids], dtype=np.int32)
    arrays[f"{part}_ids"] = np.concatenate([np.asarray(x, dtype=np.uint16) for x in ids])
    arrays[f"{part}_offsets"] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    arrays[f"{part}_labels"] = np.asarray(labels, dtype=np.int8)
assert tokenizer.vocab_size < 65536
np.savez_compressed(out / "tokens.npz", **arrays,
                    settings=np.array([cfg.max_tokens, cfg.head_tokens]))
with gzip.open(out / "test_texts.json.gz", "wt", encoding="utf-8") as handle:
    json.dump({"texts": split["test"][0], "labels": split["test"][1]}, handle)

# The ensemble's other member: the project's NBSVM (default settings) fitted on the same
# train split here on the CPU; its P(positive) of each test review goes with the bundle.
nbsvm = __import__(f"{pkg}.modeling.nbsvm", fromlist=["fit_nbsvm"])
fitted = nbsvm.fit_nbsvm(text.clean_texts(split["train"][0]), np.asarray(split["train"][1]),
                         config.NbsvmConfig.model_validate(model_settings("nbsvm")))
np.save(out / "nbsvm_test_proba.npy",
        fitted.predict_proba(text.clean_texts(split["test"][0]))[:, 1].astype(np.float32))

encoder = out / "encoder"
encoder.mkdir()
for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
             "special_tokens_map.json"):
    if (Path(source) / name).exists():
        shutil.copy2(Path(source) / name, encoder / name)
weights = {k: (v.half() if v.is_floating_point() else v).contiguous()
           for k, v in load_file(str(Path(source) / "model.safetensors")).items()}
save_file(weights, str(encoder / "model.safetensors"), metadata={"format": "pt"})
'''


def download_wheels(python: str, dest: Path) -> None:
    """Fetch the wheels of :data:`MISSING_THERE`, pinned to the versions ``python`` has."""
    versions = subprocess.run(
        [python, "-c", "import importlib.metadata as m, sys; "
         "print(' '.join(f'{n}=={m.version(n)}' for n in sys.argv[1:]))", *MISSING_THERE],
        check=True, capture_output=True, text=True,
    ).stdout.split()
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
         "--only-binary=:all:", *WHEEL_TARGET, "--dest", str(dest), *versions],
        check=True,
    )
    print(f"wheels for the GPU machine: {' '.join(versions)}")


def main() -> int:
    """Bake, tokenise, write the bundle; print its size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tarball", default=os.environ.get("IMDB_TARBALL", DEFAULT_TARBALL))
    parser.add_argument("--python", default=os.environ.get("BENCH_PYTHON", sys.executable))
    parser.add_argument("--out", default=str(TEMPLATE_ROOT / "scratch" / "gpu-check"))
    parser.add_argument("--test-share", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not Path(args.tarball).exists():
        print(f"SKIPPED: no IMDB tarball at {args.tarball} (give --tarball or IMDB_TARBALL).")
        return 0
    from cookiecutter.main import cookiecutter  # pylint: disable=import-outside-toplevel

    out = Path(args.out).resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as scratch:
        project = Path(cookiecutter(str(TEMPLATE_ROOT), no_input=True, output_dir=scratch))
        package = next(p.name for p in (project / "src").iterdir()
                       if (p / "modeling").is_dir())
        shutil.copytree(project / "src" / package, out / "src" / package,
                        ignore=shutil.ignore_patterns("__pycache__", "sample_data"))
        # The defaults of the settings live in the YAML files only.
        shutil.copytree(project / "conf", out / "conf", ignore=shutil.ignore_patterns("local"))
        env = {**os.environ, "PYTHONPATH": str(out / "src"), "HF_HUB_OFFLINE": "1"}
        subprocess.run(
            [args.python, "-c", WORKER, args.tarball, str(out), package,
             str(args.test_share), str(args.seed)],
            env=env, check=True,
        )
    (out / "PACKAGE").write_text(package + "\n")
    download_wheels(args.python, out / "wheels")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"Bundle {out}: {size / 2**20:.1f} MiB (budget {BUDGET_BYTES / 2**20:.0f} MiB)")
    if size > BUDGET_BYTES:
        print("Over budget: it cannot be sent with the code.")
        return 1
    print(f"Run it on a GPU machine with: python benchmarks/gpu_check.py --bundle {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
