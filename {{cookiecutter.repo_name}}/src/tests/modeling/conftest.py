"""Fixtures of the modeling tests: a tiny processed dataset and an isolated MLflow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from pipeline_testkit import prepare, write_raw_tree


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    """40 reviews: 15 positive and 15 negative to train on, 5 and 5 to test on."""
    raw = write_raw_tree(tmp_path / "raw", n_train=15, n_test=5)
    prepare([raw], tmp_path / "processed")
    return tmp_path / "processed"


@pytest.fixture(params=["binary", "three"])
def labelled_dataset(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path]:
    """A tiny dataset of each label set (15 train and 5 test texts per label), and its name."""
    raw = write_raw_tree(tmp_path / "raw", n_train=15, n_test=5, labels=request.param)
    prepare([raw], tmp_path / "processed")
    return request.param, tmp_path / "processed"


@pytest.fixture(autouse=True)
def isolated_mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run in ``tmp_path`` with no tracking settings leaking in or out."""
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_HPTUNING_TAG", "POLYAXON_RUN_UUID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    monkeypatch.chdir(tmp_path)
    previous = mlflow.get_tracking_uri()
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised one-layer BERT with a word-level vocabulary, saved to a folder.

    Stands in for a pretrained base model (``train.model.base_model``): seconds to
    fine-tune on the CPU, and nothing is downloaded.
    """
    # pylint: disable=import-outside-toplevel
    from pipeline_testkit import NEGATIVE_WORDS, NEUTRAL_WORDS, POSITIVE_WORDS
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-encoder")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = sorted(set(POSITIVE_WORDS + NEGATIVE_WORDS + NEUTRAL_WORDS + ["!", ".", ",", "a"]))
    (folder / "vocab.txt").write_text("\n".join(specials + words) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    tokenizer.save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(specials) + len(words), hidden_size=16, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32, max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    return folder
