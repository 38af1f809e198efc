#!/usr/bin/env python3
"""Choose the NBSVM defaults (``conf/model/nbsvm.yaml``) by cross-validation on train only.

The aclImdb train tarball is extracted to a temporary folder and prepared by the
project's own data prep (``prepare_dataset`` with the ``data_prep`` section composed
from the project's YAML). Every setting of the grid is then scored by seeded,
stratified K-fold cross-validation (5 folds) on those 25,000 train reviews with the
project's NBSVM (``modeling.nbsvm``): the same vectoriser, naive-Bayes ratios and
solver that ``fit_nbsvm`` uses. The hashing vectoriser is stateless, so the texts are
hashed once per (ngram_max, hash_bits) and the matrix's rows are reused by every fold
and C; a check at the start shows that this gives the weights ``fit_nbsvm`` gives.

The search has two stages: (1) C for each ngram_max (``--grid``), at the default
nb_alpha and hash_bits; (2) the other nb_alpha (``--alphas``) and hash_bits
(``--hash-bits``) values at the winner of stage 1. The choice is the best mean CV
accuracy, replaced by a cheaper setting (shorter n-grams, fewer hash bits) whose mean
is within one paired standard error of it (the one-standard-error rule; the folds are
shared, so differences are paired fold by fold). The gain over today's defaults
counts when it exceeds twice its paired standard error.

As a report only (it chooses nothing), the default and the chosen settings are then
fitted on 80 % of train and scored on the other 20 % (stratified, seed 42): a stand-in
split of the train tarball, NOT the official test set.

    nice -n 19 python benchmarks/tune_defaults.py --project <baked project> \
        [--tarball aclImdb-train.tar.gz] [--json out.json]

Python: one with the project's dependencies (``BENCH_PYTHON``); the project's
``src/`` is put first on ``sys.path``. Without ``--project`` a project is baked from
this template with its default answers (needs ``cookiecutter``). Progress goes to
stderr, the table to stdout. The default grid (35 fits) took 26 minutes on 2 cores
shared with other work (7.4 minutes of CPU).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import sys
import tarfile
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.model_selection import StratifiedKFold, train_test_split

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
DEFAULT_TARBALL = "/work/shared/data/aclImdb-train.tar.gz"
#: Stage 1: ngram_max -> C values, a log grid (steps of about 3) around where one probe fold
#: peaked (bigrams near C=1, trigrams at C=10 or above), sized to fit ~25 min on 2 shared cores.
DEFAULT_GRID = ("2:0.3,1,3", "3:3,10,30")
STAND_IN_TEST_SHARE = 0.2
STAND_IN_SEED = 42


def log(message: str) -> None:
    """Progress on stderr, with the time."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- project and data


def bake(workdir: Path) -> Path:
    """Bake the template with its default answers into ``workdir``; return the project."""
    from cookiecutter.main import cookiecutter  # pylint: disable=import-outside-toplevel

    return Path(cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(workdir)))


def import_project(project: Path) -> dict[str, ModuleType]:
    """The baked project's modules this benchmark calls, by role (its ``src/`` wins)."""
    src = project / "src"
    package = next(p.name for p in sorted(src.iterdir()) if (p / "modeling" / "nbsvm.py").is_file())
    sys.path.insert(0, str(src))
    modules = {
        "configuration": "configuration",
        "data_prep_config": "data_prep.config",
        "pipeline": "data_prep.pipeline",
        "dataset": "data_prep.processed_dataset",
        "training": "modeling.training",
        "training_config": "modeling.training_config",
        "nbsvm": "modeling.nbsvm",
    }
    return {role: importlib.import_module(f"{package}.{name}") for role, name in modules.items()}


def compose(project: Path, overrides: Sequence[str]) -> Any:
    """``conf/base/pipelines.yaml`` composed with overrides, as the entry scripts compose it."""
    from hydra import compose as hydra_compose  # pylint: disable=import-outside-toplevel
    from hydra import initialize_config_dir  # pylint: disable=import-outside-toplevel

    warnings.filterwarnings("ignore", message=".*version_base.*")
    with initialize_config_dir(config_dir=str(project / "conf")):
        return hydra_compose("base/pipelines", overrides=list(overrides))


def extract(tarball: Path, dest: Path) -> Path:
    """Extract the tarball's ``<root>/train/<label>/*.txt`` files; return ``dest/<root>``."""
    with tarfile.open(tarball) as archive:
        members = [m for m in archive.getmembers() if m.isfile() and m.name.endswith(".txt")
                   and len(Path(m.name).parts) >= 3 and Path(m.name).parts[-3] == "train"]
        archive.extractall(dest, members=members, filter="data")
    roots = {Path(m.name).parents[2] for m in members}
    if len(roots) != 1:
        raise SystemExit(f"{tarball}: expected one <root>/train/<label>/*.txt tree, got {roots}")
    return dest / roots.pop()


@dataclass(frozen=True)
class Dataset:
    """The prepared train reviews, their label codes, and the default NBSVM settings."""

    texts: list[str]
    codes: np.ndarray
    labels: tuple[str, ...]
    default: Any  # NbsvmConfig
    prep_seconds: float


def load_dataset(mods: dict[str, ModuleType], project: Path, raw: Path, work: Path) -> Dataset:
    """Prepare ``raw`` with the project's data prep; codes as ``TrainingData.codes`` gives them."""
    cfg = compose(project, [f"data_prep.raw_dirs_paths=[{raw}]",
                            f"data_prep.processed_data_path={work / 'processed'}"])
    prep_cfg = mods["configuration"].typed_section(
        cfg.data_prep, mods["data_prep_config"].DataPrepConfig, "data_prep")
    result = mods["pipeline"].prepare_dataset(prep_cfg, progress=False)
    log(mods["pipeline"].summarise(result))
    frame = mods["dataset"].load_split(prep_cfg.processed_data_path, "train")
    labels = tuple(result.manifest["labels"])
    data = mods["training"].TrainingData(frame, frame.iloc[:0], None, result.manifest, labels)
    default = mods["training_config"].train_config(cfg.train).model
    if default.kind != "nbsvm":
        raise SystemExit(f"The project's default model is {default.kind!r}, not nbsvm")
    return Dataset(frame["text"].astype(str).tolist(), data.codes(frame), labels, default,
                   result.seconds)


# --------------------------------------------------------------------------- fitting


def fit_on_features(nbsvm: ModuleType, features: sparse.csr_matrix, codes: np.ndarray,
                    params: Any, seed: int) -> list[Any]:
    """``fit_nbsvm``'s classifiers on already hashed rows: one (binary) or one per label."""
    k = int(codes.max()) + 1
    targets = [codes == 1] if k == 2 else [codes == code for code in range(k)]
    return [nbsvm._fit_one(features, target, params, seed)  # pylint: disable=protected-access
            for target in targets]


def predict_codes(members: list[Any], features: sparse.csr_matrix) -> np.ndarray:
    """Label codes as the saved model predicts them (one-vs-rest: the highest score)."""
    if len(members) == 1:
        return members[0].predict(features)
    return np.argmax(np.column_stack([m.decision_function(features) for m in members]), axis=1)


def check_shortcut(nbsvm: ModuleType, data: Dataset, seed: int, n: int = 2000) -> str:
    """Show on ``n`` texts that hashed rows + ``fit_on_features`` give ``fit_nbsvm``'s model."""
    n = min(n, len(data.texts))
    rows = np.random.default_rng(seed).choice(len(data.texts), n, replace=False)
    texts = [data.texts[i] for i in rows]
    pipeline = nbsvm.fit_nbsvm(texts, data.codes[rows], data.default, seed)
    features = nbsvm.make_vectorizer(data.default).transform(texts).tocsr()
    members = fit_on_features(nbsvm, features, data.codes[rows], data.default, seed)
    coef = np.vstack([m.coef_ for m in members])
    gap = float(np.abs(pipeline.named_steps["classifier"].coef_ - coef).max())
    same = bool((pipeline.predict(texts) == predict_codes(members, features)).all())
    if gap > 1e-9 or not same:
        raise SystemExit(f"Shortcut check failed: max |weight gap| {gap}, same predictions {same}")
    return f"fit_nbsvm and fit_on_features agree on {n} texts (max |weight gap| {gap:.1e})"


# --------------------------------------------------------------------------- the search

Key = tuple[int, int, float, float]  # ngram_max, hash_bits, C, nb_alpha


@dataclass
class Score:
    """One setting's accuracy, wall and CPU seconds of each fold's fit."""

    key: Key
    accs: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float:
        """Mean CV accuracy."""
        return float(np.mean(self.accs))

    @property
    def std(self) -> float:
        """Standard deviation of the fold accuracies."""
        return float(np.std(self.accs, ddof=1))

    def paired(self, other: Score) -> tuple[float, float]:
        """Mean and standard error of (self - other), fold by fold (the folds are shared)."""
        diff = np.asarray(self.accs) - np.asarray(other.accs)
        return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff)))


class Search:  # pylint: disable=too-many-instance-attributes
    """Cross-validation of NBSVM settings on one dataset, hashing each n-gram setting once."""

    def __init__(self, nbsvm: ModuleType, data: Dataset, folds: int, seed: int) -> None:
        self.nbsvm, self.data, self.seed = nbsvm, data, seed
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        self.splits = list(splitter.split(np.zeros(len(data.codes)), data.codes))
        self.matrices: dict[tuple[int, int], sparse.csr_matrix] = {}
        self.scores: dict[Key, Score] = {}
        self.planned_fits = 0
        self.start = time.perf_counter()

    def params(self, key: Key) -> Any:
        """The NBSVM config of a setting: the defaults with these four values."""
        ngram_max, hash_bits, c, nb_alpha = key
        return self.data.default.model_copy(
            update={"ngram_max": ngram_max, "hash_bits": hash_bits, "C": c, "nb_alpha": nb_alpha})

    def matrix(self, ngram_max: int, hash_bits: int) -> sparse.csr_matrix:
        """The hashed texts of one (ngram_max, hash_bits), made once."""
        if (ngram_max, hash_bits) not in self.matrices:
            start = time.perf_counter()
            vectorizer = self.nbsvm.make_vectorizer(self.params((ngram_max, hash_bits, 1.0, 1.0)))
            self.matrices[ngram_max, hash_bits] = vectorizer.transform(self.data.texts).tocsr()
            log(f"hashed {len(self.data.texts)} texts, ngram_max={ngram_max}, "
                f"hash_bits={hash_bits}: {self.matrices[ngram_max, hash_bits].nnz:,} non-zeros "
                f"in {time.perf_counter() - start:.0f} s")
        return self.matrices[ngram_max, hash_bits]

    def fit_score(self, key: Key, train: np.ndarray, test: np.ndarray) -> tuple[float, ...]:
        """Fit on rows ``train``, return (accuracy on rows ``test``, wall s, CPU s)."""
        features, codes = self.matrix(key[0], key[1]), self.data.codes
        wall, cpu = time.perf_counter(), time.process_time()
        members = fit_on_features(self.nbsvm, features[train], codes[train], self.params(key),
                                  self.seed)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        accuracy = float((predict_codes(members, features[test]) == codes[test]).mean())
        return accuracy, wall, cpu

    def score(self, key: Key) -> Score:
        """Cross-validate one setting (once; later calls return the stored score)."""
        if key in self.scores:
            return self.scores[key]
        score = self.scores[key] = Score(key)
        for i, (train, test) in enumerate(self.splits, 1):
            accuracy, wall, cpu = self.fit_score(key, train, test)
            score.accs.append(accuracy)
            score.wall.append(wall)
            score.cpu.append(cpu)
            done = sum(len(s.accs) for s in self.scores.values())
            elapsed = time.perf_counter() - self.start
            log(f"{describe(key)} fold {i}/{len(self.splits)}: {accuracy:.4f} "
                f"(fit {wall:.0f} s wall, {cpu:.0f} s CPU); fit {done}/{self.planned_fits}, "
                f"{elapsed / 60:.1f} min so far")
        return score


def describe(key: Key) -> str:
    """``ngram_max=2 hash_bits=22 C=1 nb_alpha=1``."""
    return f"ngram_max={key[0]} hash_bits={key[1]} C={key[2]:g} nb_alpha={key[3]:g}"


def choose(scores: Sequence[Score]) -> Score:
    """The cheapest setting within one paired standard error of the best mean (then the best)."""
    best = max(scores, key=lambda s: s.mean)
    close = [s for s in scores if s is best or best.mean - s.mean <= best.paired(s)[1]]
    return min(close, key=lambda s: (s.key[0], s.key[1], -s.mean))


def parse_grid(specs: Sequence[str]) -> list[tuple[int, list[float]]]:
    """``["2:0.3,1,3"]`` -> ``[(2, [0.3, 1.0, 3.0])]`` (ngram_max: C values)."""
    grid = []
    for spec in specs:
        ngram, _, values = spec.partition(":")
        try:
            grid.append((int(ngram), [float(v) for v in values.split(",")]))
        except ValueError:
            raise SystemExit(f"--grid {spec!r}: expected NGRAM_MAX:C,C,... (2:0.3,1,3)") from None
    return grid


def default_key(default: Any) -> Key:
    """The four searched values of the project's defaults."""
    return default.ngram_max, default.hash_bits, float(default.C), float(default.nb_alpha)


def run_search(search: Search, args: argparse.Namespace) -> tuple[Score, Score]:
    """Stage 1 (C per ngram_max), stage 2 (nb_alpha, hash_bits at its choice); (default, choice)."""
    default = default_key(search.data.default)
    stage1 = list(dict.fromkeys(
        [default] + [(ngram, default[1], c, default[3]) for ngram, cs in parse_grid(args.grid)
                     for c in cs]))
    stage1.sort(key=lambda k: (k[0], k[2]))  # one n-gram setting after the other
    extras = len(set(args.alphas) - {default[3]}) + len(set(args.hash_bits) - {default[1]})
    search.planned_fits = (len(stage1) + extras) * len(search.splits)
    log(f"stage 1: {len(stage1)} settings; stage 2: {extras} more at its choice; "
        f"{search.planned_fits} fits")
    first = choose([search.score(key) for key in stage1]).key
    log(f"stage 1 choice: {describe(first)}")
    for alpha in args.alphas:
        search.score((first[0], first[1], first[2], alpha))
    for bits in args.hash_bits:
        search.score((first[0], bits, first[2], first[3]))
    return search.scores[default], choose(list(search.scores.values()))


def stand_in(search: Search, keys: Sequence[Key]) -> tuple[dict[Key, float], int, int]:
    """Accuracy of each setting fitted on a seeded stratified 80 % of train, on the other 20 %."""
    rows = np.arange(len(search.data.codes))
    train, test = train_test_split(rows, test_size=STAND_IN_TEST_SHARE,
                                   stratify=search.data.codes, random_state=STAND_IN_SEED)
    accuracies = {}
    for key in dict.fromkeys(keys):
        accuracies[key] = search.fit_score(key, train, test)[0]
        log(f"stand-in split: {describe(key)}: {accuracies[key]:.4f}")
    return accuracies, len(train), len(test)


# --------------------------------------------------------------------------- report


def table(search: Search, default: Score, chosen: Score) -> list[str]:
    """One line per setting: CV accuracy ± std, the paired gain over the default, fit times."""
    lines = [f"{'ngram_max':>9} {'hash_bits':>9} {'C':>6} {'nb_alpha':>8} {'CV acc':>7} "
             f"{'± std':>6}  {'Δ vs default (pt)':>18}  {'fit wall s':>10} {'CPU s':>6}"]
    best = max(search.scores.values(), key=lambda s: s.mean)
    for key, score in sorted(search.scores.items()):
        gain, se = score.paired(default)
        mark = " ".join(m for m, hit in (("default", score is default), ("best", score is best),
                                         ("chosen", score is chosen)) if hit)
        lines.append(
            f"{key[0]:>9} {key[1]:>9} {key[2]:>6g} {key[3]:>8g} {score.mean:>7.4f} "
            f"{score.std:>6.4f}  {100 * gain:>+9.2f} ± {100 * se:>4.2f}  "
            f"{np.mean(score.wall):>10.1f} {np.mean(score.cpu):>6.1f}  {mark}")
    return lines


def verdict(default: Score, chosen: Score) -> tuple[str, bool]:
    """Whether the CV gain of the choice over today's defaults is above noise (> 2 paired SE)."""
    gain, se = chosen.paired(default)
    if chosen is default:
        return "the choice IS today's default: keep it", False
    above = gain > 2 * se
    return (f"gain over today's default: {100 * gain:+.2f} pt ± {100 * se:.2f} (paired SE over "
            f"{len(chosen.accs)} folds): "
            + ("above noise (> 2 SE): set the chosen values as defaults" if above
               else "below noise (<= 2 SE): keep today's defaults")), above


def report(search: Search, default: Score, chosen: Score,
           held_out: tuple[dict[Key, float], int, int]) -> list[str]:
    """The whole printed result."""
    data, (accuracies, n_train, n_test) = search.data, held_out
    lines = [
        f"NBSVM by {len(search.splits)}-fold stratified cross-validation (seed {search.seed}) "
        f"on the {len(data.codes):,} reviews of the aclImdb TRAIN tarball (labels {data.labels})",
        "",
        *table(search, default, chosen),
        "",
        f"today's default (conf/model/nbsvm.yaml): {describe(default.key)}: {default.mean:.4f}",
        f"chosen (best mean CV accuracy, or a cheaper setting within one paired SE of it): "
        f"{describe(chosen.key)}: {chosen.mean:.4f}",
        verdict(default, chosen)[0],
        "",
        f"STAND-IN split, NOT the official IMDB test set: a seeded stratified split of the TRAIN "
        f"tarball ({100 - 100 * STAND_IN_TEST_SHARE:.0f}/{100 * STAND_IN_TEST_SHARE:.0f}, seed "
        f"{STAND_IN_SEED}; fit on {n_train:,}, scored on {n_test:,}). Reported only, it chose "
        "nothing; its test reviews were also in the CV folds that chose the setting.",
    ]
    for key, accuracy in accuracies.items():
        roles = (("default", default.key), ("chosen", chosen.key))
        role = " and ".join(name for name, setting in roles if setting == key)
        lines.append(f"  {role:<18} {describe(key)}: stand-in accuracy {accuracy:.4f}")
    return lines


def main() -> int:
    """Extract, prepare, search, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--tarball", type=Path,
                        default=Path(os.environ.get("IMDB_TARBALL", DEFAULT_TARBALL)))
    parser.add_argument("--project", type=Path, help="a baked project (default: bake one)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42, help="folds' and solver's seed")
    parser.add_argument("--grid", nargs="+", default=list(DEFAULT_GRID), metavar="NGRAM:C,C",
                        help=f"stage 1 (default: {' '.join(DEFAULT_GRID)})")
    parser.add_argument("--alphas", nargs="*", type=float, default=[0.5],
                        help="stage 2: other nb_alpha values at stage 1's choice")
    parser.add_argument("--hash-bits", nargs="*", type=int, default=[],
                        help="stage 2: other hash_bits at stage 1's choice (e.g. 23 24)")
    parser.add_argument("--json", type=Path, help="also write the scores here")
    args = parser.parse_args()
    if not args.tarball.is_file():
        print(f"SKIPPED: no aclImdb train tarball at {args.tarball} (--tarball or IMDB_TARBALL)")
        return 0
    start, load = time.perf_counter(), os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tune-defaults-") as tmp:
        work = Path(tmp)
        project = (args.project or bake(work / "bake")).resolve()
        mods = import_project(project)
        log(f"project {project}; extracting {args.tarball}")
        data = load_dataset(mods, project, extract(args.tarball, work / "raw"), work)
        log(check_shortcut(mods["nbsvm"], data, args.seed))
        search = Search(mods["nbsvm"], data, args.folds, args.seed)
        default, chosen = run_search(search, args)
        held_out = stand_in(search, [default.key, chosen.key])
    lines = report(search, default, chosen, held_out)
    lines.append(f"\nwall time {(time.perf_counter() - start) / 60:.1f} min; load average "
                 f"{load[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
                 f"({os.cpu_count()} cores); peak memory "
                 f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
                 f"python {sys.version.split()[0]}")
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({
            "scores": [{"setting": describe(s.key), "accs": s.accs, "wall_s": s.wall,
                        "cpu_s": s.cpu} for s in search.scores.values()],
            "default": describe(default.key), "chosen": describe(chosen.key),
            "stand_in": {describe(k): a for k, a in held_out[0].items()}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
