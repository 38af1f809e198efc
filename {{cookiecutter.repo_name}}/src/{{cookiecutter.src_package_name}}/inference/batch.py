"""Batch inference over a folder of ``.txt`` files or a table, streamed in batches.

Items (files, or a table's rows) are listed lazily in a stable order, kept if they
belong to this run's shard, grouped into batches, and each batch is predicted in one
vectorised call, in this process or a pool of worker processes. Results are written,
in input order, to a JSON Lines file that only gets its final name when the run is
complete (:class:`.results.ResultsFile`): an interrupted run leaves
``<name>.partial``, which a rerun with ``resume=True`` continues without predicting
any item twice.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Any, NamedTuple

from filelock import Timeout
from pydantic import Field, field_validator, model_validator
from tqdm import tqdm

from ..configuration import FrozenConfig, UserError
from ..data_prep.review_files import ReviewFileError
from ..modeling.predictor import ModelInfo, Prediction, Predictor, PreparedBatch, share_cpu
from .inputs import InputFolder, Item, check_text, shard_of, table_format, table_items
from .results import ResultsFile

LOGGER = logging.getLogger(__name__)

#: The file name ending of the texts in an input folder.
SUFFIX = ".txt"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


class BatchSettings(FrozenConfig):  # pylint: disable=too-many-instance-attributes
    """The ``inference`` section (defaults and comments: ``conf/base/pipelines.yaml``).

    Validated once by ``batch_inferencing.py``; ``output_dir`` is filled in there
    (this run's Hydra output folder) when the config leaves it null.
    """

    input_data_dir: str
    output_dir: str
    staging_dir: str
    model_path: str | None
    model_uri: str | None
    text_column: str
    id_column: str | None
    output_filename: str
    batch_size: int = Field(ge=1)
    num_workers: int = Field(ge=1)
    shard_index: int = Field(ge=0)
    num_shards: int = Field(ge=1)
    resume: bool
    max_file_bytes: int = Field(ge=1)
    refuse_outside_links: bool
    progress: bool

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
        if self.shard_index >= self.num_shards:
            raise ValueError(
                f"inference.shard_index must be in [0, {self.num_shards}), got {self.shard_index}"
            )
        return self

    @property
    def model_source(self) -> str:
        """The model to load: ``model_uri`` if set, else ``model_path``."""
        return str(self.model_uri or self.model_path)

    @property
    def output_url(self) -> str:
        """The results file (a path or a URL); shards sharing a folder need their own names."""
        return f"{self.output_dir.rstrip('/')}/{self.output_filename}"


@dataclass
class Summary:  # pylint: disable=too-many-instance-attributes
    """What a run did: items handled (predicted or failed), resumed, its time and model."""

    output_path: str
    items: int = 0
    predicted: int = 0
    errors: int = 0
    resumed: int = 0
    seconds: float = 0.0
    load_seconds: float = 0.0
    already_complete: bool = False

    @property
    def rate(self) -> float:
        """Items per second while predicting (model loading excluded)."""
        busy = self.seconds - self.load_seconds
        return self.items / busy if busy > 0 else 0.0

    def describe(self) -> str:
        """One line for the log."""
        if self.already_complete:
            return f"{self.output_path} is already complete (resume=true keeps it); nothing to do"
        return (
            f"{self.items} items in {self.seconds:.1f} s ({self.rate:.0f}/s after "
            f"{self.load_seconds:.1f} s of model loading): {self.predicted} predicted, "
            f"{self.errors} errors, {self.resumed} resumed from an earlier run "
            f"-> {self.output_path}"
        )


class Result(NamedTuple):
    """One item's outcome: a prediction, or the reason it has none."""

    item: Item
    prediction: Prediction | None
    error: str | None


# ---- the work of one batch, in whichever process runs it ------------------------------------

#: The predictor and input of this process, set once per process.
_WORKER: dict[str, Any] = {}


def _init_worker(settings: BatchSettings, folder: InputFolder | str | None,
                 predictor: Predictor | None) -> None:
    """Give this process its predictor (loaded once) and input folder.

    ``folder`` is the parent's :class:`InputFolder` when local, or its URL for any other
    filesystem: async fsspec filesystems (gcsfs, HTTP) refuse to be used in a forked
    child, so the worker opens its own instance.
    """
    _WORKER["folder"] = InputFolder.open(folder) if isinstance(folder, str) else folder
    _WORKER["predictor"] = predictor or Predictor.load(settings.model_source)
    _WORKER["settings"] = settings


def _init_preparing_worker(*args: Any) -> None:
    """:func:`_init_worker` for a worker that only reads and tokenises (the GPU path)."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # the workers are the parallelism
    _init_worker(*args)


#: A batch read and made ready: its items, read errors by key, and the prepared texts.
Prepared = tuple[list[Item], dict[str, str], PreparedBatch]


def _read(item: Item) -> str:
    settings: BatchSettings = _WORKER["settings"]
    if item.text is not None:
        return check_text(item.text)
    return _WORKER["folder"].read(item.key, settings.max_file_bytes,
                                  settings.refuse_outside_links)


def _prepare_batch(items: list[Item]) -> Prepared:
    """Read a batch and prepare its readable texts (the CPU half of predicting)."""
    texts: list[str] = []
    errors: dict[str, str] = {}
    for item in items:
        try:
            texts.append(_read(item))
        except ReviewFileError as error:
            errors[item.key] = str(error)
    return items, errors, _WORKER["predictor"].prepare(texts)


def _score_batch(predictor: Predictor, prepared: Prepared) -> list[Result]:
    """Score a prepared batch (the device half) and give each item its result, in order."""
    items, errors, batch = prepared
    predictions = iter(predictor.decide(predictor.score(batch)))
    return [Result(item, None, errors[item.key]) if item.key in errors
            else Result(item, next(predictions), None) for item in items]


def _predict_batch(items: list[Item]) -> list[Result]:
    """Read, prepare and score a batch in this process."""
    return _score_batch(_WORKER["predictor"], _prepare_batch(items))


# ---- the two ways of running the batches ----------------------------------------------------


def _in_process(settings: BatchSettings, folder: InputFolder | None, predictor: Predictor,
                batches: Iterator[list[Item]]) -> Iterator[list[Result]]:
    _init_worker(settings, folder, predictor)
    yield from map(_predict_batch, batches)


def _in_pool(settings: BatchSettings, folder: InputFolder | None, predictor: Predictor,
             batches: Iterator[list[Item]]) -> Iterator[list[Result]]:
    """Predict in worker processes, in input order, at most two batches per worker in flight.

    On the CPU each worker reads, prepares and scores its batches. A model on the GPU
    stays in this process (CUDA does not survive a fork): the workers read and
    tokenise, and this process scores their batches as they arrive.
    """
    on_gpu = predictor.on_gpu
    if not on_gpu:
        share_cpu(settings.num_workers)  # e.g. torch: cores / workers threads each
    methods = multiprocessing.get_all_start_methods()
    # fork lets the workers share the model loaded once here (copy-on-write); frozen, the
    # garbage collector leaves its objects alone instead of touching (copying) them.
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    shared = predictor if context.get_start_method() == "fork" else None
    gc.freeze()
    pool = ProcessPoolExecutor(
        max_workers=settings.num_workers, mp_context=context,
        initializer=_init_preparing_worker if on_gpu else _init_worker,
        initargs=(settings, folder if folder is None or folder.is_local else folder.url, shared),
    )
    pending: deque[Future[Any]] = deque()
    try:
        for batch in batches:
            pending.append(pool.submit(_prepare_batch if on_gpu else _predict_batch, batch))
            if len(pending) >= 2 * settings.num_workers:
                done = pending.popleft().result()
                yield _score_batch(predictor, done) if on_gpu else done
        while pending:
            done = pending.popleft().result()
            yield _score_batch(predictor, done) if on_gpu else done
    finally:
        # On an error or interruption, drop the queued batches instead of finishing them.
        pool.shutdown(wait=True, cancel_futures=True)
        gc.unfreeze()


# ---- a run -----------------------------------------------------------------------------------


def _model_version(info: ModelInfo) -> str:
    """A short name of the model for each record: registry version, else run, else URI."""
    if info.registered_name and info.version:
        return f"{info.registered_name}/{info.version}"
    return f"run:{info.run_id}" if info.run_id else info.uri


def _records(results: list[Result], info: ModelInfo) -> list[dict[str, Any]]:
    """The records of a batch: the item's fields, its label and probabilities, the model."""
    now = time.strftime(TIME_FORMAT, time.gmtime())
    model = {"model_version": _model_version(info), "model_run_id": info.run_id}
    unanswered = dict.fromkeys(Prediction._fields)
    return [{"time": now, **item.fields, **(prediction._asdict() if prediction else unanswered),
             **model, **({"error": error} if error else {})}
            for item, prediction, error in results]


def _items(settings: BatchSettings, folder: InputFolder | None) -> Iterator[tuple[Item, str]]:
    """``(item, shard key)`` of every item of the input, in order (a table is read now)."""
    if folder is None:
        return table_items(settings.input_data_dir, settings.text_column, settings.id_column)
    return ((Item(path, {"filepath": path}), relative)
            for path, relative in folder.iter_files(SUFFIX))


def _batches(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def run_batch_inference(settings: BatchSettings, predictor: Predictor | None = None) -> Summary:
    """Predict every item of this shard and write the results file.

    Parameters
    ----------
    settings : BatchSettings
        Input, model, output, batching, sharding and resume settings.
    predictor : Predictor, optional
        An already loaded model to use instead of loading ``settings.model_source``.

    Returns
    -------
    Summary
        Counts, errors, output and rate; also logged.
    """
    start = time.perf_counter()
    results = ResultsFile(settings.output_url, settings.staging_dir)
    lock = results.lock()
    try:
        with lock:
            return _run_locked(settings, results, start, predictor)
    except Timeout:
        raise UserError(
            f"another batch inference run is writing {results.url} (lock {lock.lock_file})"
        ) from None


def _check_same_model(results: ResultsFile, final: bool, model_version: str) -> None:
    """Refuse to keep or continue results that another model wrote."""
    theirs = results.written_by(final)
    if theirs is not None and theirs != model_version:
        raise UserError(
            f"{results.url}{'' if final else ' (partial)'} holds results of another model "
            f"({theirs}); this run uses {model_version}. Give a new inference.output_dir, or "
            "set inference.resume=false to replace them."
        )


def _run_locked(settings: BatchSettings, results: ResultsFile, start: float,
                predictor: Predictor | None) -> Summary:
    """:func:`run_batch_inference` while holding the output's lock."""
    summary = Summary(output_path=results.url)
    folder = None if table_format(settings.input_data_dir) else InputFolder.open(
        settings.input_data_dir)
    predictor = predictor or Predictor.load(settings.model_source)
    summary.load_seconds = time.perf_counter() - start
    version = _model_version(predictor.info)
    done: set[str] = set()
    if settings.resume:
        _check_same_model(results, results.is_complete(), version)
        if results.is_complete():
            summary.already_complete = True
            LOGGER.info(summary.describe())
            return summary
        done = results.done_keys() if results.partial.exists() else set()
    items = _items(settings, folder)  # a bad table fails here, before any output is written
    LOGGER.info("Predicting %s (shard %d of %d, %d done before) with %s in batches of %d on "
                "%d worker(s)", settings.input_data_dir, settings.shard_index,
                settings.num_shards, len(done), version, settings.batch_size,
                settings.num_workers)
    _write_results(settings, results, _todo(settings, items, done, summary),
                   (folder, predictor, bool(done)), summary)
    summary.seconds = time.perf_counter() - start
    LOGGER.info(summary.describe())
    return summary


def _todo(settings: BatchSettings, items: Iterator[tuple[Item, str]], done: set[str],
          summary: Summary) -> Iterator[Item]:
    """The items of this shard not done before (counted as resumed)."""
    for item, shard_key in items:
        if shard_of(shard_key, settings.num_shards) != settings.shard_index:
            continue
        if item.key in done:
            summary.resumed += 1
            continue
        yield item


def _write_results(settings: BatchSettings, results: ResultsFile, todo: Iterator[Item],
                   run: tuple[InputFolder | None, Predictor, bool], summary: Summary) -> None:
    """Predict the batches and write their records; commit the file when all are written."""
    folder, predictor, append = run
    predict = _in_process if settings.num_workers == 1 else _in_pool
    results.open(append)
    # In a pod's log (no terminal) a line every 30 s, not ten a second.
    with tqdm(unit="item", desc="batch inference", disable=not settings.progress,
              mininterval=0.1 if sys.stderr.isatty() else 30.0) as progress:
        try:
            for batch in predict(settings, folder, predictor, _batches(todo, settings.batch_size)):
                results.write(_records(batch, predictor.info))
                failed = sum(1 for result in batch if result.error is not None)
                summary.items += len(batch)
                summary.errors += failed
                summary.predicted += len(batch) - failed
                progress.update(len(batch))
            results.commit()
        except BaseException:
            results.close()
            LOGGER.error("Interrupted after %d items; %s holds them. Rerun with "
                         "inference.resume=true and the same inference.output_dir to continue.",
                         summary.items, results.partial)
            raise
