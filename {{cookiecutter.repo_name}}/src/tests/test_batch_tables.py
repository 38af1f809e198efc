"""Batch inference over a table (CSV, Parquet, JSON Lines): one record per row."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from pipeline_testkit import compose_config, run_script, table_rows, write_table
from serving_support import TINY_LABELS, save_tiny_model

from {{ cookiecutter.src_package_name }}.configuration import typed_section
from {{ cookiecutter.src_package_name }}.data_prep.readers import DataError
from {{ cookiecutter.src_package_name }}.inference.batch import BatchSettings, run_batch_inference
from {{ cookiecutter.src_package_name }}.modeling.predictor import Predictor

SRC = Path(__file__).resolve().parents[1]
RESULTS = "batch-infer-res.jsonl"


@pytest.fixture(name="model_dir", scope="module")
def fixture_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real three-label model (business, sports, tech) in MLflow's format."""
    return save_tiny_model(tmp_path_factory.mktemp("model") / "model", labels="three")


@functools.cache
def inference_defaults() -> dict[str, Any]:
    """The ``inference`` section as composed from ``conf/base/pipelines.yaml``."""
    section = OmegaConf.to_container(compose_config("pipelines").inference, resolve=True)
    assert isinstance(section, dict)
    return section


def settings(model: Path, table: Path, output_dir: Path, **values: Any) -> BatchSettings:
    """The composed ``inference`` section for a table, with small batches, no progress bar."""
    section = {**inference_defaults(), "model_path": str(model), "input_data_dir": str(table),
               "output_dir": str(output_dir), "batch_size": 4, "num_workers": 1,
               "progress": False, **values}
    return typed_section(section, BatchSettings, "inference")


def records(path: Path) -> list[dict[str, Any]]:
    """The JSON Lines records of a results file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def with_blank_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its 3rd text empty and its 5th markup only."""
    frame = frame.copy()
    frame.loc[2, "text"] = ""
    frame.loc[4, "text"] = "<br /><br />"
    return frame


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_each_row_is_one_record_with_its_row_and_id(
    model_dir: Path, tmp_path: Path, suffix: str
) -> None:
    frame = with_blank_rows(table_rows(4, labels="three"))
    table = write_table(tmp_path / f"reviews{suffix}", frame)
    summary = run_batch_inference(settings(model_dir, table, tmp_path / "out", id_column="id"))
    written = records(tmp_path / "out" / RESULTS)
    assert [r["row"] for r in written] == list(range(1, len(frame) + 1))
    assert [r["id"] for r in written] == frame["id"].tolist()
    assert {r["filepath"] for r in written} == {str(table)}
    assert written[2]["error"] == written[4]["error"] == "empty (no text after cleaning)"
    assert written[2]["label"] is None and written[2]["probabilities"] is None
    predicted = [r for r in written if "error" not in r]
    expected = Predictor.load(model_dir).predict_proba(
        [text for i, text in enumerate(frame["text"]) if i not in (2, 4)]
    )
    for record, row in zip(predicted, expected, strict=True):
        assert list(record["probabilities"]) == list(TINY_LABELS["three"])
        np.testing.assert_allclose(list(record["probabilities"].values()), row, rtol=1e-12)
        assert record["label"] == TINY_LABELS["three"][int(np.argmax(row))]
    assert (summary.items, summary.predicted, summary.errors) == (12, 10, 2)


def test_records_without_an_id_column_have_none(model_dir: Path, tmp_path: Path) -> None:
    table = write_table(tmp_path / "reviews.csv", table_rows(2, labels="three"))
    run_batch_inference(settings(model_dir, table, tmp_path / "out"))
    written = records(tmp_path / "out" / RESULTS)
    assert len(written) == 6 and not [r for r in written if "id" in r or "error" in r]


@pytest.mark.parametrize("key", ["text_column", "id_column"])
def test_a_missing_column_is_one_clear_error(model_dir: Path, tmp_path: Path, key: str) -> None:
    table = write_table(tmp_path / "reviews.parquet", table_rows(2, labels="three"))
    values = {"text_column": "text", "id_column": "id", key: "review"}
    with pytest.raises(DataError, match=rf"no column 'review' \(inference\.{key}\)") as error:
        run_batch_inference(settings(model_dir, table, tmp_path / "out", **values))
    assert "['id', 'text', 'label']" in str(error.value)
    for name in (RESULTS, f"{RESULTS}.partial"):  # no result, not even a partial one
        assert not (tmp_path / "out" / name).exists()


def test_the_script_explains_a_missing_column(model_dir: Path, tmp_path: Path) -> None:
    table = write_table(tmp_path / "reviews.csv", table_rows(2, labels="three"))
    result = run_script(
        "batch_inferencing.py",
        [f"inference.model_path={model_dir}", f"inference.input_data_dir={table}",
         "inference.text_column=review", f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=SRC.parent, timeout=120,
    )
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, result.stderr
    assert "no column 'review' (inference.text_column)" in errors[0]
    assert "Traceback" not in result.stderr
    for name in (RESULTS, f"{RESULTS}.partial"):
        assert not (tmp_path / "run" / name).exists()


def test_an_interrupted_table_run_resumes(model_dir: Path, tmp_path: Path) -> None:
    table = write_table(tmp_path / "reviews.jsonl", table_rows(5, labels="three"))
    out = tmp_path / "out"
    run_batch_inference(settings(model_dir, table, out, id_column="id"))
    complete = (out / RESULTS).read_text(encoding="utf-8").splitlines(keepends=True)
    # As a run killed after its first batch leaves it.
    (out / f"{RESULTS}.partial").write_text("".join(complete[:4]), encoding="utf-8")
    (out / RESULTS).unlink()
    summary = run_batch_inference(settings(model_dir, table, out, id_column="id"))
    assert (summary.resumed, summary.items) == (4, 11)
    resumed = records(out / RESULTS)
    assert [r["row"] for r in resumed] == list(range(1, 16))
    strip = [{k: v for k, v in json.loads(line).items() if k != "time"} for line in complete]
    assert [{k: v for k, v in r.items() if k != "time"} for r in resumed] == strip


def test_shards_of_a_table_cover_its_rows_exactly_once(model_dir: Path, tmp_path: Path) -> None:
    table = write_table(tmp_path / "reviews.csv", table_rows(10, labels="three"))
    rows: list[int] = []
    for index in range(3):
        summary = run_batch_inference(settings(
            model_dir, table, tmp_path / f"shard-{index}", num_workers=2, shard_index=index,
            num_shards=3,
        ))
        shard = [r["row"] for r in records(Path(summary.output_path))]
        assert shard and shard == sorted(shard), f"shard {index}: {shard}"
        rows += shard
    assert sorted(rows) == list(range(1, 31))
