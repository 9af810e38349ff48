"""``adding`` and ``copy``: the synthetic long-memory tasks of Gu et al. (2020) and Arjovsky et al.
(2016), with their memoryless baselines (see :mod:`rnnkit.data.synthetic`).

``adding``: many-to-one regression (:class:`rnnkit.models.SequenceClassifier` with one output):
T steps of (value, marker) → the sum of the two marked values. Metric: MSE, next to always predicting
the mean 1 (MSE 1/6); ``ratio`` = MSE ÷ 1/6, ``accuracy`` = share of answers within 0.04.

``copy``: many-to-many (:class:`rnnkit.models.SequenceTagger` on one-hot tokens): remember 10 symbols
over a blank lag L and recall them after the delimiter. Metric: cross-entropy per step, next to the
memoryless 10·ln 8/(L + 20); ``ratio`` = loss ÷ that, ``recall_accuracy`` over the 10 recalled symbols.

    rnnkit train --task adding --set model.cell=urlstm            # T = 200, 2,000 steps
    rnnkit train --task copy --set model.cell=urgru --set data.lag=200
    rnnkit train --task adding --set model.forget_bias=1.0        # LSTM with forget-gate bias 1
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.synthetic import (
    ADDING_BASELINE_MSE,
    COPY_CLASSES,
    COPY_LENGTH,
    COPY_VOCAB,
    NUM_SYMBOLS,
    SyntheticSource,
    adding_batch,
    copy_baseline,
    copy_batch,
)
from ..train.config import Config, option
from ..train.outputs import LossOutput
from .base import Task, TaskData

#: validation / test sets are the same for every run and seed (so runs compare on the same sequences)
VAL_SEED, TEST_SEED = 2_000_003, 3_000_017
MEMORY_DEFAULTS: dict[str, Any] = {
    # Gu et al. (2020): Adam, constant learning rate; gradient clipping as in ANCHORS' measurements
    "optim.optimizer": "adam",
    "optim.lr": 1e-3,
    "optim.weight_decay": 0.0,
    "optim.schedule": "constant",
    "optim.warmup_steps": 0,
    "optim.clip_norm": 1.0,
    "run.eval_every": 100,
    "run.checkpoint_every": 500,
}


@dataclass
class MemoryModelConfig:
    cell: str = option("lstm", "recurrent cell: any registered name (lstm, gru, urlstm, urgru, mingru, …)")
    hidden_size: int = option(128, "hidden units per layer", low=1)
    num_layers: int = option(1, "stacked recurrent layers", low=1)
    forget_bias: str | None = option(
        None, "initial forget-gate bias of lstm/gru cells: a number (1.0) or 'ugi'; none = torch's init"
    )
    recurrent_init: str = option(
        "uniform",
        "recurrent weight init (orthogonal: each gate block orthogonal)",
        choices=("uniform", "orthogonal"),
    )
    backend: str = option("auto", "scan backend (auto picks the fastest usable)")


def rnn_options(m: MemoryModelConfig) -> dict[str, object]:
    """The recurrent layer's keyword options from the model config (only what differs from torch)."""
    opts: dict[str, object] = {}
    if m.forget_bias is not None:
        fb = m.forget_bias.strip().lower()
        try:
            opts["forget_bias"] = "ugi" if fb == "ugi" else float(fb)
        except ValueError:
            raise ValueError(f"model.forget_bias must be a number or 'ugi', got {m.forget_bias!r}") from None
    if m.recurrent_init != "uniform":
        opts["recurrent_init"] = m.recurrent_init
    return opts


class OneHot(nn.Module):
    """Token ids (…) → one-hot float vectors (…, num_classes): the classic input of the copy task."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes

    def forward(self, tokens: Tensor) -> Tensor:
        return F.one_hot(tokens.long(), self.num_classes).float()

    def extra_repr(self) -> str:
        return str(self.num_classes)


def _sources(cfg: Config, make, val_size: int, test_size: int) -> tuple[SyntheticSource, ...]:
    bs = cfg.data.batch_size
    return (
        SyntheticSource(make, batches=cfg.data.batches_per_epoch, seed=cfg.run.seed),
        SyntheticSource(make, batches=math.ceil(val_size / bs), seed=VAL_SEED, fixed=True),
        SyntheticSource(make, batches=math.ceil(test_size / bs), seed=TEST_SEED, fixed=True),
    )


# -- adding ------------------------------------------------------------------------------------------------
@dataclass
class AddingDataConfig:
    length: int = option(200, "sequence length T", low=2)
    batch_size: int = option(64, "sequences per batch", low=1)
    batches_per_epoch: int = option(1000, "freshly drawn batches per epoch", low=1)
    val_size: int = option(1024, "validation sequences (the same for every run)", low=1)
    test_size: int = option(1024, "test sequences (the same for every run)", low=1)


class AddingTask(Task):
    name = "adding"
    summary = "the adding problem: sum the two marked numbers among T (MSE; baseline 1/6)"
    ModelConfig, DataConfig = MemoryModelConfig, AddingDataConfig
    monitor, mode, item_name = "mse", "min", "sequences"
    defaults: ClassVar[dict[str, Any]] = {**MEMORY_DEFAULTS, "optim.max_steps": 2000}
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {
            "model.hidden_size": 16,
            "data.length": 20,
            "data.batch_size": 8,
            "data.val_size": 32,
            "data.test_size": 32,
            "optim.max_steps": 10,
            "run.eval_every": 5,
        }
    }

    def build_data(self, cfg: Config, state: dict[str, Any] | None = None) -> TaskData:
        d = cfg.data
        train, val, test = _sources(
            cfg, lambda g: adding_batch(d.batch_size, d.length, generator=g), d.val_size, d.test_size
        )
        info = {"length": d.length, "baseline_mse": round(ADDING_BASELINE_MSE, 6)}
        return TaskData(train=train, val=val, test=test, state={"length": d.length}, info=info)

    def build_model(self, cfg: Config, state: dict[str, Any]) -> nn.Module:
        from ..models import SequenceClassifier

        m = cfg.model
        return SequenceClassifier(
            2, 1, m.hidden_size, m.num_layers, m.cell, backend=m.backend, rnn_options=rnn_options(m)
        )

    def loss(self, model: nn.Module, batch: Any, carry: Any = None) -> LossOutput:
        x, y = batch  # (B, T, 2), (B,)
        pred = model(x)[:, 0].float()  # (B,)
        mse = F.mse_loss(pred, y)
        m = float(mse.detach())
        close = float(((pred.detach() - y).abs() < 0.04).float().mean())
        return LossOutput(
            mse, count=y.numel(), metrics={"mse": m, "ratio": m / ADDING_BASELINE_MSE, "accuracy": close}
        )

    def baselines(self, cfg: Config, data: TaskData, split: str = "val") -> dict[str, dict[str, float]]:
        source = {"val": data.val, "test": data.test}.get(split)
        if source is None:
            return {}
        ys = torch.cat([y for _, y in source.epoch(0)])
        mse = float(((ys - 1.0) ** 2).mean())  # the empirical value of 1/6 on this split
        close = float(((ys - 1.0).abs() < 0.04).float().mean())
        return {"predict 1": {"mse": mse, "loss": mse, "ratio": mse / ADDING_BASELINE_MSE, "accuracy": close}}


# -- copy --------------------------------------------------------------------------------------------------
@dataclass
class CopyDataConfig:
    lag: int = option(
        100, "blank steps L between the symbols and the delimiter (sequence length L + 20)", low=1
    )
    batch_size: int = option(64, "sequences per batch", low=1)
    batches_per_epoch: int = option(1000, "freshly drawn batches per epoch", low=1)
    val_size: int = option(1024, "validation sequences (the same for every run)", low=1)
    test_size: int = option(1024, "test sequences (the same for every run)", low=1)


class CopyTask(Task):
    name = "copy"
    summary = "the copy task: recall 10 symbols after a lag L (cross-entropy; baseline 10·ln8/(L+20))"
    ModelConfig, DataConfig = MemoryModelConfig, CopyDataConfig
    monitor, mode, item_name = "loss", "min", "steps"
    defaults: ClassVar[dict[str, Any]] = {**MEMORY_DEFAULTS, "optim.max_steps": 5000}
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {
            "model.hidden_size": 16,
            "data.lag": 10,
            "data.batch_size": 8,
            "data.val_size": 32,
            "data.test_size": 32,
            "optim.max_steps": 10,
            "run.eval_every": 5,
        }
    }

    def build_data(self, cfg: Config, state: dict[str, Any] | None = None) -> TaskData:
        d = cfg.data
        train, val, test = _sources(
            cfg, lambda g: copy_batch(d.batch_size, d.lag, generator=g), d.val_size, d.test_size
        )
        info = {
            "lag": d.lag,
            "steps": d.lag + 2 * COPY_LENGTH,
            "baseline_loss": round(copy_baseline(d.lag), 6),
        }
        return TaskData(train=train, val=val, test=test, state={"lag": d.lag}, info=info)

    def build_model(self, cfg: Config, state: dict[str, Any]) -> nn.Module:
        from ..models import SequenceTagger

        m = cfg.model
        return SequenceTagger(
            COPY_VOCAB,
            COPY_CLASSES,
            m.hidden_size,
            m.num_layers,
            m.cell,
            encoder=OneHot(COPY_VOCAB),
            backend=m.backend,
            rnn_options=rnn_options(m),
        )

    def loss(self, model: nn.Module, batch: Any, carry: Any = None) -> LossOutput:
        x, y = batch  # (B, L + 20) each
        logits = model(x).float()  # (B, L + 20, 9)
        loss = F.cross_entropy(logits.reshape(-1, COPY_CLASSES), y.reshape(-1))
        value = float(loss.detach())
        recall = logits.detach()[:, -COPY_LENGTH:].argmax(-1) == y[:, -COPY_LENGTH:]
        lag = y.size(1) - 2 * COPY_LENGTH
        metrics = {"ratio": value / copy_baseline(lag), "recall_accuracy": float(recall.float().mean())}
        return LossOutput(loss, count=y.numel(), metrics=metrics)

    def baselines(self, cfg: Config, data: TaskData, split: str = "val") -> dict[str, dict[str, float]]:
        if split not in ("val", "test"):
            return {}
        loss = copy_baseline(cfg.data.lag)
        return {"memoryless": {"loss": loss, "ratio": 1.0, "recall_accuracy": 1.0 / NUM_SYMBOLS}}
