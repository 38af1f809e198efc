"""Typed ``train`` section: the common settings and one schema per model option.

Hydra composes the config (``conf/base/pipelines.yaml`` plus one option of the
``model`` group, ``conf/model/<option>.yaml``); the entry scripts validate the
``train`` section once with :func:`train_config` and hand the frozen result to
the library. The defaults live in the YAML files only: every key is required here.
``train.model.kind`` says which option's schema applies, so a key
of another option (``train.model.C`` with ``model=transformer``) is an error
that names the key.

Importing this module needs neither torch nor transformers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from omegaconf import DictConfig
from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from ..configuration import FrozenConfig, typed_section

#: ``base_model`` value that means the pretrained copy shipped in the ``[neural]`` extra.
PACKAGED_BASE_MODEL = "packaged:all-MiniLM-L6-v2"


class NbsvmConfig(FrozenConfig):
    """The default model: NBSVM-style features and logistic regression (``model=nbsvm``).

    Parameters
    ----------
    ngram_max : int
        Longest word n-gram (1 = words only, 2 = words and word pairs).
    hash_bits : int
        The n-grams are hashed into 2 ** hash_bits feature columns (10 to 26).
    C : float
        Inverse L2 regularisation strength of the logistic regression.
    nb_alpha : float
        Additive smoothing of the naive-Bayes counts.
    max_iter : int
        Iteration cap of the solver.
    refit_on_all_train : bool
        After validation, fit the saved model again on train + validation.
    """

    kind: Literal["nbsvm"]
    ngram_max: Annotated[int, Field(ge=1, le=4)]
    hash_bits: Annotated[int, Field(ge=10, le=26)]
    C: PositiveFloat  # pylint: disable=invalid-name
    nb_alpha: PositiveFloat
    max_iter: PositiveInt
    refit_on_all_train: bool


class TransformerConfig(FrozenConfig):  # pylint: disable=too-many-instance-attributes
    """A pretrained encoder fine-tuned with a linear head (``model=transformer``).

    Parameters
    ----------
    base_model : str
        ``packaged:all-MiniLM-L6-v2`` (the copy in the ``[neural]`` extra, hash-checked),
        a local folder, or a Hugging Face hub id (needs the network or a warm cache).
    base_model_sha256 : str, optional
        Required SHA-256 of the base folder's ``model.safetensors``, checked before
        training (the packaged copy is always checked against its pinned hash).
    max_tokens : int
        Word pieces per review, special tokens included.
    head_tokens : int
        Of those, how many come from the start of the review; the rest from its end.
    epochs, batch_size, learning_rate, weight_decay, warmup_ratio :
        AdamW with a linear warm-up over ``warmup_ratio`` of the steps, then linear decay.
    device : {"auto", "cuda", "cpu"}
        ``auto``: CUDA when there is a GPU, else the CPU (logged). ``cuda``: fail without one.
    eval_batch_size : int
        Reviews per forward pass when predicting.
    progress : bool
        A progress bar per epoch.
    """

    kind: Literal["transformer"]
    base_model: str
    base_model_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None
    max_tokens: Annotated[int, Field(ge=8, le=512)]
    head_tokens: Annotated[int, Field(ge=0)]
    epochs: Annotated[int, Field(ge=1, le=100)]
    batch_size: Annotated[int, Field(ge=1, le=4096)]
    learning_rate: PositiveFloat
    weight_decay: Annotated[float, Field(ge=0.0)]
    warmup_ratio: Annotated[float, Field(ge=0.0, lt=1.0)]
    device: Literal["auto", "cuda", "cpu"]
    eval_batch_size: Annotated[int, Field(ge=1, le=8192)]
    progress: bool

    @model_validator(mode="after")
    def _head_fits(self) -> TransformerConfig:
        if self.head_tokens > self.max_tokens - 2:
            raise ValueError(
                f"head_tokens ({self.head_tokens}) must leave room for the [CLS] and [SEP] "
                f"tokens within max_tokens ({self.max_tokens})"
            )
        return self


class EnsembleConfig(FrozenConfig):
    """Both models, their probabilities averaged (``model=ensemble``).

    Parameters
    ----------
    nbsvm, transformer :
        The members' settings (as in their own options).
    weights : list of float
        Candidate weights of the transformer (the NBSVM gets ``1 - weight``); the one
        with the best validation accuracy is kept (ties: the one closest to 0.5).
    """

    kind: Literal["ensemble"]
    nbsvm: NbsvmConfig
    transformer: TransformerConfig
    weights: Annotated[
        tuple[Annotated[float, Field(ge=0.0, le=1.0)], ...], Field(min_length=1)
    ]


ModelConfig = Annotated[
    NbsvmConfig | TransformerConfig | EnsembleConfig, Field(discriminator="kind")
]


class TrainConfig(FrozenConfig):  # pylint: disable=too-many-instance-attributes
    """The ``train`` section (see ``conf/base/pipelines.yaml`` for each key).

    ``positive_label`` and ``threshold`` are the decision rule saved with the model
    (see :class:`.predictor.DecisionRule`): checked against the data's labels at the
    start of training.
    """

    data_path: str
    val_split: Annotated[float, Field(gt=0.0, lt=1.0)]
    seed: int
    model: ModelConfig
    evaluate_test: bool
    objective_metric: str
    local_model_dir: str
    setup_mlflow: bool
    mlflow_autolog: bool
    mlflow_tracking_uri: str
    mlflow_artifact_location: str | None
    mlflow_exp_name: str
    register_model: bool
    registered_model_name: str
    positive_label: str | None
    threshold: Annotated[float, Field(gt=0.0, lt=1.0)]

    @model_validator(mode="after")
    def _objective_is_validation(self) -> TrainConfig:
        if not self.objective_metric.startswith("val_"):
            raise ValueError(
                "objective_metric must be a validation metric (val_*), "
                f"got {self.objective_metric!r}"
            )
        return self


class _NbsvmTrain(TrainConfig):
    model: NbsvmConfig


class _TransformerTrain(TrainConfig):
    model: TransformerConfig


class _EnsembleTrain(TrainConfig):
    model: EnsembleConfig


_BY_KIND: dict[str, type[TrainConfig]] = {
    "nbsvm": _NbsvmTrain, "transformer": _TransformerTrain, "ensemble": _EnsembleTrain,
}


def train_config(section: DictConfig | Mapping[str, Any]) -> TrainConfig:
    """Validate the composed ``train`` section (raises ``ConfigError`` naming each bad key).

    The schema of ``train.model`` is picked by its ``kind`` first, so errors name
    keys as written (``train.model.C``), not through the union.
    """
    model = section.get("model") if hasattr(section, "get") else None
    kind = model.get("kind", "nbsvm") if hasattr(model, "get") else "nbsvm"
    return typed_section(section, _BY_KIND.get(str(kind), TrainConfig), "train")
