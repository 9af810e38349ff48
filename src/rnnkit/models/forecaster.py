"""Forecasting: a window of several input series in, the next ``horizon`` values of one or several
target series out — in the original units, scaling handled by the model.

Shape legend: B = batch, W = window length (time steps), F = input features, K = horizon,
N = target series, H = hidden size, D = directions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_dropout, check_float_tensor, check_positive_int
from ._common import top_hidden
from .backbone import SequenceBackbone
from .scaler import Scaler


def make_windows(
    series: Tensor, window: int, horizon: int, targets: Sequence[int] | None = None
) -> tuple[Tensor, Tensor]:
    """Every (input window, following values) pair of one multivariate series.

    Args:
        series: (S, F) float, time along the first dimension.
        window: W steps of input.
        horizon: K steps to predict after each window.
        targets: columns of ``series`` to predict (default: all F).
    Returns:
        x (M, W, F) and y (M, K, N) with M = S - W - K + 1; pair m reads steps m…m+W-1 and predicts
        m+W…m+W+K-1.
    """
    check_float_tensor("series", series)
    if series.dim() != 2:
        raise ValueError(f"series must be 2-D (time, features), got shape {tuple(series.shape)}")
    check_positive_int("window", window)
    check_positive_int("horizon", horizon)
    S, nf = series.shape
    if window + horizon > S:
        raise ValueError(f"series must have at least window+horizon={window + horizon} steps, got {S}")
    cols = list(range(nf)) if targets is None else list(targets)
    if not cols or any(isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < nf for c in cols):
        raise ValueError(f"targets must be column indices in [0, {nf}), got {targets!r}")
    x = series[: S - horizon].unfold(0, window, 1).transpose(1, 2)  # (M, W, F)
    y = series[window:, cols].unfold(0, horizon, 1).transpose(1, 2)  # (M, K, N)
    return x.contiguous(), y.contiguous()


class Forecaster(nn.Module):
    """Scaled window → RNN → last state → linear → the next ``horizon`` values of ``num_targets`` series.

    The network works in standardised units. Two :class:`Scaler` s — ``input_scaler`` over the F input
    features and ``target_scaler`` over the N targets — are fit on training data only
    (:meth:`fit_scalers`) and saved with the model as buffers. :meth:`forward` maps a scaled window to
    scaled predictions (what the loss compares); :meth:`predict` maps a raw window to predictions in the
    original units; :meth:`loss` takes raw windows and raw targets.

    Args:
        num_features: F, input series per step.
        horizon: K, steps predicted at once (direct multi-step forecast from the last state).
        num_targets: N, target series.
        hidden_size, num_layers, cell, bidirectional, backend: of the recurrent layer.
        dropout: between recurrent layers and on the last state before the linear layer.
        rnn_options: extra keyword arguments for the recurrent layer(s) (cell options, regularisers,
            init), e.g. ``{"nonlinearity": "relu"}`` with ``cell="rnn"``.

    Example::

        x, y = make_windows(prices, window=30, horizon=5, targets=[3])   # (M, 30, 5), (M, 5, 1)
        model = Forecaster(5, horizon=5, num_targets=1)
        model.fit_scalers(x[:800], y[:800])                              # training part only
        loss = model.loss(x[:800], y[:800])                              # MSE in scaled units
        model.predict(x[800:])                                            # (M-800, 5, 1), in prices
    """

    def __init__(
        self,
        num_features: int,
        horizon: int,
        num_targets: int = 1,
        hidden_size: int = 64,
        num_layers: int = 1,
        cell: str = "lstm",
        dropout: float = 0.0,
        bidirectional: bool = False,
        backend: str = "auto",
        *,
        rnn_options: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__()
        self.num_features = check_positive_int("num_features", num_features)
        self.horizon = check_positive_int("horizon", horizon)
        self.num_targets = check_positive_int("num_targets", num_targets)
        self.input_scaler = Scaler(num_features)
        self.target_scaler = Scaler(num_targets)
        self.backbone = SequenceBackbone(
            num_features, hidden_size, num_layers, cell, bidirectional, dropout, None, backend, rnn_options
        )
        self.dropout = nn.Dropout(check_dropout(dropout))
        self.head = nn.Linear(self.backbone.output_size, horizon * num_targets)

    @property
    def rnn(self):
        return self.backbone.rnn

    def fit_scalers(
        self, inputs: Tensor | Sequence[Tensor], targets: Tensor | Sequence[Tensor]
    ) -> Forecaster:
        """Fit both scalers on TRAINING data only: ``inputs`` (..., F) and ``targets`` (..., N), e.g. the
        training windows and their targets, or the raw training series. Returns self."""
        self.input_scaler.fit(inputs)
        self.target_scaler.fit(targets)
        return self

    def forward(self, x: Tensor, lengths: object = None) -> Tensor:
        """Scaled window (B, W, F) → scaled predictions (B, K, N)."""
        run = self.backbone(x, lengths)
        last = top_hidden(run.state, self.backbone.num_directions)  # (B, D*H)
        return self.head(self.dropout(last)).view(-1, self.horizon, self.num_targets)  # (B, K, N)

    def _check_raw(self, x: Tensor) -> tuple[Tensor, bool]:
        check_float_tensor("window", x)
        if x.dim() not in (2, 3) or x.size(-1) != self.num_features:
            raise ValueError(
                f"window must be (batch, time, {self.num_features}) or (time, {self.num_features}), "
                f"got shape {tuple(x.shape)}"
            )
        return (x if x.dim() == 3 else x.unsqueeze(0)), x.dim() == 3

    def loss(self, window: Tensor, target: Tensor, lengths: object = None) -> Tensor:
        """Mean squared error in scaled units between the prediction for raw ``window`` (B, W, F) and the
        raw ``target`` (B, K, N)."""
        x, _ = self._check_raw(window)
        check_float_tensor("target", target)
        expected = (x.size(0), self.horizon, self.num_targets)
        if tuple(target.shape) != expected:
            raise ValueError(f"target must have shape {expected}, got {tuple(target.shape)}")
        pred = self.forward(self.input_scaler.transform(x), lengths)  # (B, K, N)
        return F.mse_loss(pred, self.target_scaler.transform(target))

    @torch.no_grad()
    def predict(self, window: Tensor, lengths: object = None) -> Tensor:
        """Raw window (B, W, F) or (W, F) → predictions in the original units, (B, K, N) or (K, N)."""
        x, batched = self._check_raw(window)
        pred = self.target_scaler.inverse_transform(self.forward(self.input_scaler.transform(x), lengths))
        return pred if batched else pred.squeeze(0)
