"""What the ``stocks`` and ``series`` tasks share: the model config, a :class:`~rnnkit.models.Forecaster`
whose scalers are fit on the training split only, window batches, and prediction over a whole split.

Shape legend: S = samples (forecast origins), B = batch, W = window, F = features, K = forecast steps.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .._batches import batch_count, batch_indices
from ..train.config import Config, option
from ..train.trainer import LossOutput
from .base import Task


@dataclass
class ForecastModelConfig:
    cell: str = option("lstm", "recurrent cell: any registered name (lstm, gru, rnn, urlstm, …)")
    hidden_size: int = option(64, "hidden units per layer", low=1)
    num_layers: int = option(1, "stacked recurrent layers", low=1)
    dropout: float = option(0.0, "dropout between layers and on the last state", low=0.0, high=1.0)
    backend: str = option("auto", "scan backend (auto picks the fastest usable)")


class WindowSource:
    """Batches ``(x (B, W, F), y (B, K, 1))`` over one split, the windows materialised once.

    Training sources are shuffled by a permutation that depends only on ``(seed, epoch)`` (so a resumed
    run sees the same batches); evaluation sources run in origin order. ``meta`` carries what the
    baselines and plots of the split need (the data object, the split name …).
    """

    def __init__(
        self,
        x: Tensor,
        y: Tensor,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        meta: dict[str, Any] | None = None,
    ) -> None:
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(
                f"a split needs as many windows as targets, at least one; got {len(x)}, {len(y)}"
            )
        self.x, self.y = x, y  # (S, W, F), (S, K, 1)
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.meta = meta or {}

    def __len__(self) -> int:
        return batch_count(len(self.x), self.batch_size)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
        for idx in batch_indices(
            len(self.x), self.batch_size, shuffle=self.shuffle, seed=self.seed, epoch=epoch, start=start
        ):
            yield self.x[idx], self.y[idx]


def scaler_state(train_rows: np.ndarray, train_targets: np.ndarray) -> dict[str, list[float]]:
    """Mean and std of the training inputs (R, F) and targets (S, K, 1): the model's scalers."""
    from ..models.scaler import Scaler

    xs = Scaler(train_rows.shape[-1]).fit(torch.as_tensor(train_rows, dtype=torch.float64))
    ys = Scaler(1).fit(torch.as_tensor(train_targets, dtype=torch.float64))
    return {
        "input_mean": xs.mean.tolist(),
        "input_std": xs.std.tolist(),
        "target_mean": ys.mean.tolist(),
        "target_std": ys.std.tolist(),
    }


#: settings both forecasting tasks start from (each adds its own)
DEFAULTS: dict[str, Any] = {"optim.lr": 1e-3, "optim.warmup_steps": 50, "optim.clip_norm": 1.0}
#: the ``smoke`` preset's common part: a few steps of a tiny model
SMOKE: dict[str, Any] = {
    "model.hidden_size": 8,
    "optim.max_steps": 6,
    "optim.max_minutes": None,
    "optim.warmup_steps": 1,
    "run.eval_every": 3,
    "run.patience": None,
}


class ForecastTask(Task):
    """Shared model, loss and prediction of the forecasting tasks (subclasses add data and metrics)."""

    ModelConfig = ForecastModelConfig
    item_name = "windows"

    def build_model(self, cfg: Config, state: dict[str, Any]) -> nn.Module:
        from ..models import Forecaster

        m, sc = cfg.model, state["scalers"]
        model = Forecaster(
            len(sc["input_mean"]),
            horizon=int(state["horizon_steps"]),
            num_targets=1,
            hidden_size=m.hidden_size,
            num_layers=m.num_layers,
            cell=m.cell,
            dropout=m.dropout,
            backend=m.backend,
        )
        with torch.no_grad():
            for scaler, prefix in ((model.input_scaler, "input"), (model.target_scaler, "target")):
                scaler.mean.copy_(torch.tensor(sc[f"{prefix}_mean"]))
                scaler.std.copy_(torch.tensor(sc[f"{prefix}_std"]))
                scaler.fitted.fill_(True)
        return model

    def loss(self, model: nn.Module, batch: Any, carry: Any = None) -> LossOutput:
        x, y = batch  # (B, W, F), (B, K, 1) raw
        return LossOutput(model.loss(x, y), count=len(x))

    @staticmethod
    @torch.no_grad()
    def predict(
        model: nn.Module, source: WindowSource, max_batches: int | None = None
    ) -> tuple[np.ndarray, ...]:
        """(raw predictions (S, K), raw targets (S, K), scaled MSE per sample (S,)) over a split, in
        origin order (the first ``max_batches`` batches only, when given)."""
        was = model.training
        model.eval()
        preds, ys, sq = [], [], []
        try:
            for i, (x, y) in enumerate(source.epoch(0)):
                if max_batches is not None and i >= max_batches:
                    break
                device = next(model.parameters()).device
                x, y = x.to(device), y.to(device)
                scaled = model(model.input_scaler.transform(x))  # (B, K, 1)
                sq.append(((scaled - model.target_scaler.transform(y)) ** 2).mean(dim=(1, 2)).cpu())
                preds.append(model.target_scaler.inverse_transform(scaled)[..., 0].cpu())
                ys.append(y[..., 0].cpu())
        finally:
            model.train(was)
        as_np = lambda parts: torch.cat(parts).double().numpy()  # noqa: E731
        return as_np(preds), as_np(ys), as_np(sq)


def text_table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    """A plain-text table for the terminal: a header row, then ``rows``; every column as wide as its
    widest cell, the first ``left`` columns aligned left (labels), the others right (numbers)."""
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    lines = []
    for r in (header, *rows):
        cells = [
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def decimals(values: np.ndarray, significant: int = 4) -> int:
    """Decimals that show the largest finite magnitude of ``values`` with ``significant`` digits (0 … 6),
    so that a column of numbers lines up on its decimal point."""
    finite = np.abs(values[np.isfinite(values)])
    if finite.size == 0 or finite.max() == 0:
        return 2
    return int(min(6, max(0, significant - 1 - math.floor(math.log10(finite.max())))))
