"""``seqdigits``: classify scikit-learn's 8×8 handwritten digits read one pixel per step (T = 64), in
reading order or — ``--set data.permuted=true`` — in one fixed random pixel order (see
:mod:`rnnkit.data.digits`). Many-to-one: :class:`rnnkit.models.SequenceClassifier` on the last step.

Metrics: accuracy and cross-entropy, next to the majority class and a logistic regression that sees all
64 pixels at once (fitted on the training split in the same run): the gap to it is the price of reading
the image through a recurrent memory.

    rnnkit train --task seqdigits --set model.cell=urlstm
    rnnkit train --task seqdigits --set data.permuted=true --set model.cell=lstm
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ..data.digits import CLASSES, PIXELS
from ..train.config import Config, option
from ..train.outputs import LossOutput
from .base import Task, TaskData
from .synthetic import MEMORY_DEFAULTS, MemoryModelConfig, rnn_options


@dataclass
class SeqDigitsDataConfig:
    permuted: bool = option(False, "read the pixels in one fixed random order instead of row by row")
    batch_size: int = option(64, "images per batch", low=1)


class SeqDigitsTask(Task):
    name = "seqdigits"
    summary = "8×8 digits read pixel by pixel (T=64), optionally permuted (accuracy)"
    ModelConfig, DataConfig = MemoryModelConfig, SeqDigitsDataConfig
    monitor, mode, item_name = "accuracy", "max", "images"
    defaults: ClassVar[dict[str, Any]] = {**MEMORY_DEFAULTS, "optim.max_steps": 2000}
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"model.hidden_size": 16, "data.batch_size": 16, "optim.max_steps": 10, "run.eval_every": 5}
    }

    def build_data(self, cfg: Config, state: dict[str, Any] | None = None) -> TaskData:
        from ..data.digits import load_splits

        splits = load_splits(permuted=cfg.data.permuted)
        bs = cfg.data.batch_size
        loaders = {
            name: DataLoader(TensorDataset(*xy), batch_size=bs, shuffle=name == "train", drop_last=False)
            for name, xy in splits.items()
        }
        info = {
            "order": "fixed permutation" if cfg.data.permuted else "row by row",
            **{f"{name}_images": len(xy[1]) for name, xy in splits.items()},
        }
        return TaskData(
            train=loaders["train"],
            val=loaders["val"],
            test=loaders["test"],
            state={"permuted": cfg.data.permuted},
            info=info,
        )

    def build_model(self, cfg: Config, state: dict[str, Any]) -> nn.Module:
        from ..models import SequenceClassifier

        m = cfg.model
        return SequenceClassifier(
            1, CLASSES, m.hidden_size, m.num_layers, m.cell, backend=m.backend, rnn_options=rnn_options(m)
        )

    def loss(self, model: nn.Module, batch: Any, carry: Any = None) -> LossOutput:
        x, y = batch  # (B, 64, 1), (B,)
        logits = model(x).float()  # (B, 10)
        loss = F.cross_entropy(logits, y)
        accuracy = float((logits.detach().argmax(-1) == y).float().mean())
        return LossOutput(loss, count=y.numel(), metrics={"accuracy": accuracy})

    def baselines(self, cfg: Config, data: TaskData, split: str = "val") -> dict[str, dict[str, float]]:
        from sklearn.linear_model import LogisticRegression

        source = {"val": data.val, "test": data.test}.get(split)
        if source is None:
            return {}
        x_tr, y_tr = data.train.dataset.tensors
        x_ev, y_ev = source.dataset.tensors
        prior = torch.bincount(y_tr, minlength=CLASSES).double() / len(y_tr)  # (10,)
        majority = int(prior.argmax())
        out = {
            "majority class": {
                "accuracy": float((y_ev == majority).double().mean()),
                "loss": float(-prior.log()[y_ev].mean()),
            }
        }
        clf = LogisticRegression(max_iter=5000).fit(x_tr.reshape(-1, PIXELS).numpy(), y_tr.numpy())
        proba = torch.from_numpy(clf.predict_proba(x_ev.reshape(-1, PIXELS).numpy())).clamp_min(1e-12)
        out["logistic regression"] = {
            "accuracy": float((proba.argmax(-1) == y_ev).double().mean()),
            "loss": float(-proba.log()[torch.arange(len(y_ev)), y_ev].mean()),
        }
        return out
