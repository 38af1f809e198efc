"""GPU check: fine-tune the transformer on the IMDB train set, score a stand-in test split.

Runs the project's own training code (``modeling/transformer.py``) from a bundle
made by ``gpu_check_prepare.py`` (pre-tokenised reviews, fp16 weights, the
package) and prints, then writes as JSON to ``--json``:

- stand-in test accuracy (seeded 10% of train held out; the rest trains), and that of
  the ensemble: the mean with the NBSVM's probabilities (fitted by the prepare step);
- training time (the optimiser loop, all epochs; tokenising was done beforehand);
- scoring throughput on pre-tokenised reviews;
- batch inference end to end: the project's ``run_batch_inference`` over the
  stand-in test reviews written as ``.txt`` files (ten copies, 25,000 files), with
  worker processes reading, cleaning and tokenising while the GPU scores; the
  accuracy of its output file is checked against the in-memory scores.

    python benchmarks/gpu_check.py --bundle scratch/gpu-check            # GPU, 3 epochs
    python benchmarks/gpu_check.py --bundle scratch/gpu-check --smoke    # CPU: a few steps

On an H100/H200 the full check takes about 2 minutes plus start-up.
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def rows(tokens: dict[str, np.ndarray], part: str, limit: int | None) -> np.ndarray:
    """Which reviews of a split to use: all, or a seeded sample of ``limit`` (both labels)."""
    count = len(tokens[f"{part}_labels"])
    if limit is None or limit >= count:
        return np.arange(count)
    return np.sort(np.random.default_rng(0).permutation(count)[:limit])


def ragged(tokens: dict[str, np.ndarray], part: str, chosen: np.ndarray) -> list[list[int]]:
    """The id lists of the ``chosen`` reviews of one split."""
    ids, offsets = tokens[f"{part}_ids"], tokens[f"{part}_offsets"]
    return [ids[offsets[i] : offsets[i + 1]].astype(np.int64).tolist() for i in chosen]


def install_missing(bundle: Path) -> None:
    """Install the bundle's wheels into a scratch folder if their packages are missing here."""
    try:
        import omegaconf  # noqa: F401  # pylint: disable=import-outside-toplevel,unused-import
        import pydantic  # noqa: F401  # pylint: disable=import-outside-toplevel,unused-import
    except ImportError:
        target = Path(tempfile.mkdtemp(prefix="gpu-check-site-"))
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
             "--no-compile", "--target", str(target), *map(str, (bundle / "wheels").glob("*.whl"))],
            check=True,
        )
        sys.path.insert(0, str(target))
        print(f"installed {', '.join(p.name for p in (bundle / 'wheels').glob('*.whl'))}")


def yaml_section(path: Path, *keys: str) -> dict:
    """A section of one of the project's YAML files, resolved: the settings' defaults live there."""
    from omegaconf import OmegaConf  # pylint: disable=import-outside-toplevel

    node = OmegaConf.load(path)
    for key in keys:
        node = node[key]
    return OmegaConf.to_container(node, resolve=True)


def binary_predictor(package: str, model):
    """The project's predictor over the fine-tuned model (column 1 is the positive label)."""
    predictor_mod = importlib.import_module(f"{package}.modeling.predictor")
    return predictor_mod.Predictor(model, predictor_mod.DecisionRule(("negative", "positive")),
                                   predictor_mod.ModelInfo("gpu-check"))


def batch_inference(package: str, model, texts: list[str], labels: np.ndarray, args,
                    copies: int, scratch: Path) -> dict[str, float]:  # fmt: skip
    """The project's batch inference over ``texts`` written as files, ``copies`` times."""
    batch = importlib.import_module(f"{package}.inference.batch")
    folder = scratch / "reviews"
    for copy in range(copies):
        part = folder / f"copy{copy}"
        part.mkdir(parents=True)
        for i, review in enumerate(texts):
            (part / f"{i:05d}_{labels[i]}.txt").write_text(review, encoding="utf-8")
    settings = batch.BatchSettings.model_validate({
        **yaml_section(Path(args.bundle) / "conf" / "base" / "pipelines.yaml", "inference"),
        "input_data_dir": str(folder), "output_dir": str(scratch / "out"),
        "model_path": "gpu-check", "num_workers": args.workers, "batch_size": args.batch_files,
        "progress": False,
    })
    summary = batch.run_batch_inference(settings, predictor=binary_predictor(package, model))
    records = [json.loads(line) for line in Path(settings.output_url).read_text().splitlines()]
    right = sum(
        (record["label"] == "positive") == record["filepath"].endswith("_1.txt")
        for record in records
    )
    return {"files": summary.items, "errors": summary.errors, "seconds": summary.seconds,
            "files_per_s": summary.rate, "accuracy": right / max(len(records), 1),
            "workers": args.workers, "batch_files": args.batch_files}  # fmt: skip


def main() -> int:  # pylint: disable=too-many-locals,too-many-statements
    """Train, evaluate, time; print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default="scratch/gpu-check")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--smoke", action="store_true",
                        help="CPU smoke run: 64 train and 64 test reviews, 4 steps of 8")
    parser.add_argument("--copies", type=int, default=10,
                        help="copies of the test reviews that batch inference reads")
    parser.add_argument("--workers", type=int, default=min(8, max(1, (os.cpu_count() or 2) - 1)),
                        help="batch inference worker processes (read and tokenise)")
    parser.add_argument("--batch-files", type=int, default=1024,
                        help="files per batch inference batch")
    parser.add_argument("--json", default=None, help="also write the numbers here")
    args = parser.parse_args()
    bundle = Path(args.bundle).resolve()
    package = (bundle / "PACKAGE").read_text().strip()
    install_missing(bundle)
    sys.path.insert(0, str(bundle / "src"))
    # pylint: disable=import-outside-toplevel
    import torch

    config = importlib.import_module(f"{package}.modeling.training_config")
    transformer = importlib.import_module(f"{package}.modeling.transformer")
    text = importlib.import_module(f"{package}.data_prep.text")

    limit = 64 if args.smoke else None
    tokens = dict(np.load(bundle / "tokens.npz"))
    max_tokens, head_tokens = (int(x) for x in tokens["settings"])
    train_rows, test_rows = rows(tokens, "train", limit), rows(tokens, "test", limit)
    train_ids, test_ids = ragged(tokens, "train", train_rows), ragged(tokens, "test", test_rows)
    train_labels = tokens["train_labels"][train_rows].astype(int)
    test_labels = tokens["test_labels"][test_rows].astype(int)
    cfg = config.TransformerConfig.model_validate({
        **yaml_section(bundle / "conf" / "model" / "transformer.yaml", "train", "model"),
        "base_model": str(bundle / "encoder"), "max_tokens": max_tokens, "head_tokens": head_tokens,
        "epochs": args.epochs, "batch_size": 8 if args.smoke else args.batch_size,
        "learning_rate": args.learning_rate, "eval_batch_size": 512, "progress": not args.smoke,
        "device": "cpu" if args.smoke and not torch.cuda.is_available() else "auto",
    })
    device = transformer.choose_device(cfg.device)
    print(f"device: {torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}; "
          f"torch {torch.__version__}; train {len(train_ids)}, test {len(test_ids)} reviews")
    torch.manual_seed(0)
    model = transformer.build_model(cfg, device, cfg.base_model, num_labels=2)

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    tick = time.perf_counter()
    # The test split is not used to choose anything: the per-epoch score is only printed.
    transformer.train_encoded(model, train_ids, train_labels, test_ids, test_labels, cfg,
                              seed=0, max_steps=4 if args.smoke else None)
    sync()
    train_seconds = time.perf_counter() - tick

    model.score_batch(test_ids[:64])  # warm-up
    sync()
    tick = time.perf_counter()
    probabilities = model.score_batch(test_ids)[:, 1]
    sync()
    score_seconds = time.perf_counter() - tick
    accuracy = float(np.mean((probabilities >= 0.5).astype(int) == test_labels))
    # The ensemble: the plain mean with the NBSVM's probabilities (weight 0.5, not tuned).
    nbsvm = np.load(bundle / "nbsvm_test_proba.npy")[test_rows].astype(np.float64)
    nbsvm_accuracy = float(np.mean((nbsvm >= 0.5).astype(int) == test_labels))
    ensemble_accuracy = float(np.mean(((nbsvm + probabilities) / 2 >= 0.5).astype(int)
                                      == test_labels))

    with gzip.open(bundle / "test_texts.json.gz", "rt", encoding="utf-8") as handle:
        all_texts = json.load(handle)["texts"]
    raw = [all_texts[i] for i in test_rows]
    copies = 1 if args.smoke else args.copies
    sync()
    tick = time.perf_counter()
    for start in range(0, len(raw), 4096):  # the same texts once, in memory, one process
        model.predict_proba(text.clean_texts(raw[start : start + 4096]))
    sync()
    one_process = len(raw) / (time.perf_counter() - tick)
    predictor = binary_predictor(package, model)
    tick = time.perf_counter()  # what each batch inference worker does: clean + tokenise
    predictor.prepare(raw)
    preparing = len(raw) / (time.perf_counter() - tick)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
        batch = batch_inference(package, model, raw, test_labels, args, copies, Path(scratch))

    results = {
        "device": str(device), "train_reviews": len(train_ids), "test_reviews": len(test_ids),
        "epochs": args.epochs, "smoke": args.smoke,
        "stand_in_test_accuracy": accuracy, "train_seconds": train_seconds,
        "nbsvm_accuracy": nbsvm_accuracy, "ensemble_accuracy": ensemble_accuracy,
        "scoring_reviews_per_s": len(test_ids) / score_seconds,
        "one_process_from_texts_reviews_per_s": one_process,
        "prepare_one_process_reviews_per_s": preparing,
        "batch_inference": batch,
    }
    print(f"stand-in test accuracy   {accuracy:.4f} ({len(test_ids)} reviews)")
    print(f"  NBSVM alone            {nbsvm_accuracy:.4f}; ensemble (mean of the two) "
          f"{ensemble_accuracy:.4f} ({100 * (ensemble_accuracy - accuracy):+.2f} points)")
    print(f"training                 {train_seconds:.1f} s ({args.epochs} epochs, "
          f"{len(train_ids)} reviews{', 4 steps only' if args.smoke else ''})")
    print(f"scoring, pre-tokenised   {results['scoring_reviews_per_s']:,.0f} reviews/s")
    print(f"one process, from texts  {one_process:,.0f} reviews/s (clean + tokenise + score)")
    print(f"preparing, one process   {preparing:,.0f} reviews/s (clean + tokenise: one worker's share)")
    print(f"batch inference, files   {batch['files_per_s']:,.0f} files/s ({batch['files']} files, "
          f"{batch['workers']} workers tokenising, batches of {batch['batch_files']}, "
          f"{batch['errors']} errors, accuracy of its output {batch['accuracy']:.4f})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
