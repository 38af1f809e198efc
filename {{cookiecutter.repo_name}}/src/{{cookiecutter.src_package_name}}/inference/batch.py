"""Batch inference over a folder of review files, streamed in batches.

Each ``.txt`` file is one review. Files are listed lazily in sorted order, kept
if they belong to this run's shard, grouped into batches, and each batch is
predicted in one vectorised call, in a pool of worker processes. Results are
written, in input order, to a JSON Lines file that only gets its final name
when the run is complete: an interrupted run leaves ``<name>.partial``, which a
rerun with ``resume=True`` continues without duplicating any file.

An output folder given as a URL (``gs://bucket/results``) is written the same way
in a local staging folder (``staging_dir``), and the complete file is uploaded to
its final object at the end; an object store creates an object only when its
upload completes, so the final name never holds half a result. An interrupted run
leaves its ``.partial`` file in the staging folder of the machine it ran on, where
a rerun continues it; a final object already there is a complete result.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import multiprocessing
import os
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any

import fsspec
from filelock import FileLock, Timeout
from pydantic import Field, field_validator, model_validator
from tqdm import tqdm

from ..configuration import FrozenConfig, typed_section
from ..data_prep.review_files import DEFAULT_MAX_FILE_BYTES
from ..general_utils import fsync_dir
from ..modeling import model_io
from ..modeling.predictor import (
    DEFAULT_THRESHOLD,
    ModelInfo,
    PreparedBatch,
    SentimentPredictor,
)
from .files import InputTree, ReviewReadError, read_review, shard_of

LOGGER = logging.getLogger(__name__)

OUTPUT_FILENAME = "batch-infer-res.jsonl"
PARTIAL_SUFFIX = ".partial"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"

#: One result per file: (path, probability, sentiment, error). Errors have no prediction.
Result = tuple[str, float | None, str | None, str | None]


class BatchSettings(FrozenConfig):
    """What to predict, with which model, and where to write (the ``inference`` config section).

    Validated once by ``batch_inferencing.py`` (unknown keys and wrong types are errors).

    Attributes
    ----------
    input_data_dir : str
        Folder (local path or fsspec URL) with one review per ``.txt`` file, searched
        recursively.
    output_dir : str or None
        Folder for the results: a local folder or a URL such as ``gs://bucket/results``
        (``None``: the run's Hydra output folder, filled in by the entry script).
    staging_dir : str
        Local folder where the results for a URL ``output_dir`` are written until the
        run is complete (one sub-folder per output URL), so that a rerun on the same
        machine resumes an interrupted run.
    model_path : str or None
        Local MLflow model folder (the guide's setting); an MLflow URI works too.
    model_uri : str or None
        Any MLflow model URI (``models:/name@champion``, ``runs:/<id>/model``);
        wins over ``model_path``.
    output_filename : str
        Name of the results file (a plain name, no folder). Give each shard its own
        ``output_dir`` (as ``scripts/batch-inferencing.sh`` does) or its own name.
    batch_size : int
        Files per vectorised predict call.
    num_workers : int
        Processes that read and predict batches; 1 runs in this process.
    shard_index, num_shards : int
        This run's share of the input: the files whose :func:`shard_of` equals
        ``shard_index``. A Kubernetes Indexed Job sets ``JOB_COMPLETION_INDEX``.
    resume : bool
        Continue an interrupted run from its ``.partial`` file (and keep a complete
        result as it is); ``False`` starts clean. Results written by another model
        are never continued or kept: the run is refused.
    max_file_bytes : int
        Larger input files get an error record (they are never read whole).
    threshold : float
        P(positive) from which a review is positive.
    progress : bool
        Show a progress bar on stderr.
    suffix : str
        File name ending of the review files.
    """

    input_data_dir: str
    output_dir: str | None = None
    staging_dir: str = "outputs/batch-staging"
    model_path: str | None = None
    model_uri: str | None = None
    output_filename: str = OUTPUT_FILENAME
    batch_size: int = Field(256, ge=1)
    num_workers: int = Field(2, ge=1)
    shard_index: int = Field(0, ge=0)
    num_shards: int = 1
    resume: bool = True
    max_file_bytes: int = Field(DEFAULT_MAX_FILE_BYTES, ge=1)
    threshold: float = Field(DEFAULT_THRESHOLD, gt=0.0, lt=1.0)
    progress: bool = True
    suffix: str = ".txt"

    @field_validator("output_filename")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        if not name or name in {".", ".."} or "/" in name or os.sep in name:
            raise ValueError(f"inference.output_filename must be a plain file name, got {name!r}")
        return name

    @model_validator(mode="after")
    def _consistent(self) -> BatchSettings:
        if not self.model_uri and not self.model_path:
            raise ValueError("set inference.model_path (a model folder) or inference.model_uri")
        if self.num_shards < 1 or self.shard_index >= self.num_shards:
            raise ValueError(
                f"inference.shard_index must be in [0, {self.num_shards}), got {self.shard_index}"
            )
        return self

    @classmethod
    def from_config(cls, config: Mapping[str, Any], default_output_dir: str) -> BatchSettings:
        """Validate the ``inference`` config section; unknown keys and bad values are refused.

        Raises
        ------
        ConfigError
            With one ``inference.<key>: <problem>`` line per problem.
        """
        values = {k: v for k, v in dict(config).items() if v is not None}
        values.setdefault("output_dir", default_output_dir)
        return typed_section(values, cls, "inference")

    @property
    def model_source(self) -> str:
        """The model to load: ``model_uri`` if set, else ``model_path``."""
        return str(self.model_uri or self.model_path)

    @property
    def remote_output(self) -> str | None:
        """The URL of the results when ``output_dir`` is a URL (``gs://...``), else ``None``."""
        if self.output_dir is None or "://" not in self.output_dir:
            return None
        return f"{self.output_dir.rstrip('/')}/{self.output_filename}"

    @property
    def output_path(self) -> Path:
        """The local results file: the final one, or the staged one of a remote output.

        Shards that share an output folder need their own file names.
        """
        if self.output_dir is None:
            raise ValueError("inference.output_dir is not set")
        remote = self.remote_output
        if remote is None:
            return Path(self.output_dir) / self.output_filename
        folder = hashlib.sha256(remote.encode("utf-8")).hexdigest()[:16]
        return Path(self.staging_dir) / folder / self.output_filename


@dataclass
class Summary:  # pylint: disable=too-many-instance-attributes
    """What a run did.

    Attributes
    ----------
    output_path : str
        The results file.
    files : int
        Files of this shard handled in this run (predicted or failed).
    predicted, errors : int
        How many of them got a prediction, and how many an error record.
    resumed : int
        Files already in the results of an interrupted earlier run, not redone.
    seconds : float
        Wall time of this run, model loading included.
    load_seconds : float
        Part of it spent loading the model (excluded from :attr:`rate`).
    already_complete : bool
        The results file existed and ``resume`` kept it.
    """

    output_path: str
    files: int = 0
    predicted: int = 0
    errors: int = 0
    resumed: int = 0
    seconds: float = 0.0
    load_seconds: float = 0.0
    already_complete: bool = False
    model: dict[str, str | None] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Files per second while predicting (model loading excluded)."""
        busy = self.seconds - self.load_seconds
        return self.files / busy if busy > 0 else 0.0

    def describe(self) -> str:
        """One line for the log."""
        if self.already_complete:
            return f"{self.output_path} is already complete (resume=true keeps it); nothing to do"
        return (
            f"{self.files} files in {self.seconds:.1f} s ({self.rate:.0f} files/s after "
            f"{self.load_seconds:.1f} s of model loading): "
            f"{self.predicted} predicted, {self.errors} errors, {self.resumed} resumed "
            f"from an earlier run -> {self.output_path}"
        )

    def as_dict(self) -> dict[str, Any]:
        """The fields and the rate, for JSON."""
        return {**asdict(self), "rate": self.rate}


# The predictor and input of a worker process, set once per process.
_WORKER: dict[str, Any] = {}


def _init_worker(
    model_source: str,
    threshold: float,
    tree: InputTree | str,
    predictor: Any = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> None:
    """Give this process its predictor (loaded once), input folder and file size cap.

    ``tree`` is the parent's :class:`InputTree` for local folders, or the folder's
    URL for any other filesystem: the worker opens its own filesystem instance from
    it, because async fsspec filesystems (gcsfs, HTTP) refuse to be used in a forked
    child ("This class is not fork-safe"); fsspec gives a new process a new instance.
    """
    _WORKER["tree"] = InputTree.open(tree) if isinstance(tree, str) else tree
    _WORKER["predictor"] = predictor or SentimentPredictor.load(model_source, threshold)
    _WORKER["max_file_bytes"] = max_file_bytes


def _init_preparing_worker(*args: Any) -> None:
    """:func:`_init_worker` for a worker that only reads and tokenises (the GPU path)."""
    # One tokenising thread per worker: the workers are the parallelism.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _init_worker(*args)


#: A batch read and made ready in a worker: its paths, read errors and prepared texts.
Prepared = tuple[list[str], dict[str, str], PreparedBatch]


def _prepare_batch(paths: list[str]) -> Prepared:
    """Read a batch of files and prepare the readable ones (the CPU half of predicting)."""
    tree: InputTree = _WORKER["tree"]
    predictor: SentimentPredictor = _WORKER["predictor"]
    texts: list[str] = []
    errors: dict[str, str] = {}
    for path in paths:
        try:
            texts.append(read_review(tree, path, _WORKER["max_file_bytes"]))
        except ReviewReadError as error:
            errors[path] = str(error)
    return paths, errors, predictor.prepare(texts)


def _score_batch(predictor: SentimentPredictor, prepared: Prepared) -> list[Result]:
    """Score a prepared batch (the device half) and give each file its result, in order."""
    paths, errors, batch = prepared
    predictions = iter(predictor.decide(predictor.score(batch)))
    results: list[Result] = []
    for path in paths:
        if path in errors:
            results.append((path, None, None, errors[path]))
        else:
            prediction = next(predictions)
            results.append((path, prediction.probability, prediction.sentiment, None))
    return results


def _predict_batch(paths: list[str]) -> list[Result]:
    """Read, prepare and score a batch in this process, in one vectorised call."""
    return _score_batch(_WORKER["predictor"], _prepare_batch(paths))


def _batches(paths: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(paths)
    while batch := list(islice(iterator, size)):
        yield batch


def _read_done(partial: Path) -> set[str]:
    """File paths already written by an interrupted run; drop a torn last line."""
    done: set[str] = set()
    good_bytes = 0
    with partial.open("rb") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                break
            if not line.endswith(b"\n"):
                break
            done.add(record["filepath"])
            good_bytes += len(line)
    with partial.open("r+b") as handle:
        handle.truncate(good_bytes)
    return done


class _Writer:
    """Write records to ``<output>.partial``; rename (or upload) to the output when complete."""

    def __init__(
        self, output: Path, model: ModelInfo, append: bool, upload_to: str | None = None
    ) -> None:
        self.output = output
        self.upload_to = upload_to
        self.partial = output.with_name(output.name + PARTIAL_SUFFIX)
        self.model_version = _model_version(model)
        self.model_run_id = model.run_id
        output.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[str] = self.partial.open("a" if append else "w", encoding="utf-8")

    def write(self, results: list[Result]) -> None:
        """Append one batch's records and flush them, so a killed run keeps them."""
        now = time.strftime(TIME_FORMAT, time.gmtime())
        lines = []
        for path, probability, sentiment, error in results:
            record: dict[str, Any] = {
                "time": now,
                "filepath": path,
                "logit_prob": probability,
                "sentiment": sentiment,
                "model_version": self.model_version,
                "model_run_id": self.model_run_id,
            }
            if error is not None:
                record["error"] = error
            lines.append(json.dumps(record, ensure_ascii=False))
        self._handle.write("\n".join(lines) + "\n")
        self._handle.flush()

    def commit(self) -> None:
        """Make the results durable, then give them their final name atomically."""
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        if self.upload_to:
            # The object appears when its upload completes; the partial file goes after.
            fs, path = fsspec.core.url_to_fs(self.upload_to)
            fs.put_file(str(self.partial), path)
            self.partial.unlink()
            return
        os.replace(self.partial, self.output)
        fsync_dir(self.output.parent)  # the rename itself survives a power loss

    def close(self) -> None:
        """Close without renaming (the run was interrupted)."""
        if not self._handle.closed:
            self._handle.close()


def _model_version(info: ModelInfo) -> str:
    """A short name of the model for each record: registry version, else run, else URI."""
    if info.registered_name and info.version:
        return f"{info.registered_name}/{info.version}"
    if info.run_id:
        return f"run:{info.run_id}"
    return info.uri


def _written_by(path: Path | str) -> str | None:
    """The model named by the first complete record of a results file (or URL), if any."""
    with fsspec.open(str(path), "rb") as handle:
        line = handle.readline()
    try:
        record = json.loads(line) if line.endswith(b"\n") else None
    except ValueError:
        return None
    return record.get("model_version") if isinstance(record, dict) else None


def _check_same_model(path: Path | str, model_version: str) -> None:
    """Refuse to keep or continue results that another model wrote.

    Raises
    ------
    ValueError
        Naming both models and what to do instead.
    """
    theirs = _written_by(path)
    if theirs is not None and theirs != model_version:
        raise ValueError(
            f"{path} holds results of another model ({theirs}); this run uses "
            f"{model_version}. Give a new inference.output_dir, or set inference.resume=false "
            "to replace them."
        )


def _exists(path: Path | str) -> bool:
    """Whether a local file or an object (given by its URL) exists."""
    fs, inner = fsspec.core.url_to_fs(str(path))
    return bool(fs.exists(inner))


def _mp_context() -> multiprocessing.context.BaseContext:
    # fork lets workers share the model loaded once in this process (copy-on-write).
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _results(
    settings: BatchSettings,
    tree: InputTree,
    predictor: SentimentPredictor,
    batches: Iterator[list[str]],
) -> Iterator[list[Result]]:
    """Predict batches in input order, with at most two batches per worker in flight.

    On the CPU each worker reads, prepares and scores its batches. A model on the GPU
    stays in this process (CUDA does not survive a fork): the workers read and
    tokenise, and this process scores their batches on the GPU as they arrive.
    """
    on_gpu = model_io.uses_gpu(predictor.model)
    if settings.num_workers == 1:
        _init_worker(
            settings.model_source, settings.threshold, tree, predictor, settings.max_file_bytes
        )
        yield from map(_predict_batch, batches)
        return
    if not on_gpu:
        model_io.share_cpu(settings.num_workers)  # e.g. torch: cores / workers threads each
    context = _mp_context()
    shared = predictor if context.get_start_method() == "fork" else None
    if shared is not None:
        # Forked workers share this process's objects (the model's vocabulary holds
        # millions). Frozen, the garbage collector leaves them alone instead of scanning
        # them in each worker, which also spares their memory pages from being copied.
        gc.freeze()
    pool = ProcessPoolExecutor(
        max_workers=settings.num_workers,
        mp_context=context,
        initializer=_init_preparing_worker if on_gpu else _init_worker,
        initargs=(
            settings.model_source,
            settings.threshold,
            tree if tree.is_local else tree.url,  # see _init_worker: async filesystems
            shared,
            settings.max_file_bytes,
        ),
    )
    pending: deque[Future[Any]] = deque()
    window = 2 * settings.num_workers
    task = _prepare_batch if on_gpu else _predict_batch

    def finish(future: Future[Any]) -> list[Result]:
        done = future.result()
        return _score_batch(predictor, done) if on_gpu else done

    try:
        for batch in batches:
            pending.append(pool.submit(task, batch))
            if len(pending) >= window:
                yield finish(pending.popleft())
        while pending:
            yield finish(pending.popleft())
    finally:
        # On an error or interruption, drop the queued batches instead of finishing them.
        pool.shutdown(wait=True, cancel_futures=True)
        if shared is not None:
            gc.unfreeze()


def run_batch_inference(
    settings: BatchSettings, predictor: SentimentPredictor | None = None
) -> Summary:
    """Predict every review file of this shard and write the results file.

    Parameters
    ----------
    settings : BatchSettings
        Input, model, output, batching, sharding and resume settings.
    predictor : SentimentPredictor, optional
        An already loaded model to use instead of loading ``settings.model_source``
        (a notebook's, or a benchmark's).

    Returns
    -------
    Summary
        Counts, errors, output path and rate; also logged.
    """
    start = time.perf_counter()
    output = settings.output_path
    output.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(output) + ".lock", timeout=0)
    try:
        with lock:
            return _run_locked(settings, output, start, predictor)
    except Timeout:
        raise ValueError(
            f"another batch inference run is writing {output} (lock {lock.lock_file} is held)"
        ) from None


def _run_locked(
    settings: BatchSettings, output: Path, start: float, predictor: SentimentPredictor | None
) -> Summary:
    """:func:`run_batch_inference` while holding the output's lock."""
    summary = Summary(output_path=settings.remote_output or str(output))
    partial = output.with_name(output.name + PARTIAL_SUFFIX)
    tree = InputTree.open(settings.input_data_dir)
    if predictor is None:
        predictor = SentimentPredictor.load(settings.model_source, settings.threshold)
    summary.load_seconds = time.perf_counter() - start
    summary.model = predictor.info.as_dict()
    model_version = _model_version(predictor.info)
    final = settings.remote_output or output
    if settings.resume and _exists(final):
        _check_same_model(final, model_version)
        summary.already_complete = True
        LOGGER.info(summary.describe())
        return summary
    done: set[str] = set()
    if settings.resume and partial.exists():
        _check_same_model(partial, model_version)
        done = _read_done(partial)
        LOGGER.info("Resuming %s: %d files already done", partial, len(done))
    LOGGER.info(
        "Predicting %s (shard %d of %d) with %s in batches of %d on %d worker(s)",
        settings.input_data_dir,
        settings.shard_index,
        settings.num_shards,
        model_version,
        settings.batch_size,
        settings.num_workers,
    )

    def todo() -> Iterator[str]:
        for path, relative in tree.iter_files(settings.suffix):
            if settings.num_shards > 1 and shard_of(relative, settings.num_shards) != (
                settings.shard_index
            ):
                continue
            if path in done:
                summary.resumed += 1
                continue
            yield path

    writer = _Writer(output, predictor.info, append=bool(done), upload_to=settings.remote_output)
    progress = tqdm(
        unit="file",
        desc="batch inference",
        disable=not settings.progress,
        # In a pod's log (no terminal) a line every 30 s, not ten a second.
        mininterval=0.1 if sys.stderr.isatty() else 30.0,
    )
    try:
        for results in _results(settings, tree, predictor, _batches(todo(), settings.batch_size)):
            writer.write(results)
            failed = sum(1 for result in results if result[3] is not None)
            summary.files += len(results)
            summary.errors += failed
            summary.predicted += len(results) - failed
            progress.update(len(results))
        writer.commit()
    except BaseException:
        writer.close()
        LOGGER.error(
            "Interrupted after %d files; %s holds them. Rerun with inference.resume=true "
            "and inference.output_dir=%s to continue.",
            summary.files,
            writer.partial,
            settings.output_dir,
        )
        raise
    finally:
        progress.close()
    summary.seconds = time.perf_counter() - start
    LOGGER.info(summary.describe())
    return summary
