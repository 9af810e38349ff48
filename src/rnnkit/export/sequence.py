"""Exportable forms of the whole-sequence models: :class:`~rnnkit.models.SequenceClassifier` and
:class:`~rnnkit.models.SequenceTagger` (their ``forward`` as is) and :class:`~rnnkit.models.Forecaster`
(raw window in, forecast in the original units out: ``predict``'s math, the scalers inside the graph).

Shape legend: B = batch, T = time steps (the window W for a forecaster), F = features per step,
C = classes, K = tags or forecast steps, N = target series.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..models import Forecaster, SequenceClassifier, SequenceTagger
from .part import BATCH, ExportPart, example_batch, random_lengths, resample_rows


class _Forward(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class _ForwardLengths(_Forward):
    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        return self.model(x, lengths)


class _Predict(nn.Module):
    """Raw window (B, W, F) -> forecast (B, K, N) in the original units, as ``Forecaster.predict``."""

    def __init__(self, model: Forecaster) -> None:
        super().__init__()
        self.model = model

    def _predict(self, window: Tensor, lengths: Tensor | None) -> Tensor:
        m = self.model
        x = (window - m.input_scaler.mean.to(window)) / m.input_scaler.std.to(window)  # (B, W, F)
        z = m(x, lengths)  # (B, K, N), scaled
        return z * m.target_scaler.std.to(z) + m.target_scaler.mean.to(z)


class _PredictNoLengths(_Predict):
    def forward(self, window: Tensor) -> Tensor:
        return self._predict(window, None)


class _PredictLengths(_Predict):
    def forward(self, window: Tensor, lengths: Tensor) -> Tensor:
        return self._predict(window, lengths)


def sequence_part(
    model: SequenceClassifier | SequenceTagger | Forecaster,
    *,
    example: Tensor | None,
    steps: int,
    lengths: bool,
) -> ExportPart:
    """The one part of a whole-sequence model.

    Args:
        example: a real input batch (B, T, ...) — needed when the model has a per-step encoder (its
            input is frames, token ids …, not feature vectors); else random features are used.
        steps: T of the example when ``example`` is None.
        lengths: take (B,) ``lengths`` as a second input.
    """
    forecaster = isinstance(model, Forecaster)
    if forecaster:
        for scaler, label in ((model.input_scaler, "input"), (model.target_scaler, "target")):
            if not scaler.is_fitted:
                raise ValueError(f"the forecaster's {label} scaler is not fitted: call fit_scalers first")
    backbone = model.backbone
    p = next(model.parameters())
    if example is None:
        if backbone.encoder is not None:
            raise ValueError(
                f"example must be a real input batch (batch, time, ...) for a {type(model).__name__} with a "
                "per-step encoder (its steps are not feature vectors), got None"
            )
        width = model.num_features if forecaster else backbone.input_size
        x = torch.randn(example_batch(steps), steps, width, generator=torch.Generator().manual_seed(0))
        example = x.to(p.device, p.dtype)
    elif not isinstance(example, Tensor) or example.dim() < 2:
        got = tuple(example.shape) if isinstance(example, Tensor) else type(example).__name__
        raise ValueError(
            f"example must be a tensor (batch, time, ...) with batch >= 2 and time >= 2, got {got}"
        )
    if example.size(0) < 2 or example.size(1) < 2:
        raise ValueError(f"example must have batch >= 2 and time >= 2, got shape {tuple(example.shape)}")
    B, T = example.shape[:2]
    x_name = "window" if forecaster else "x"
    if forecaster:
        module = _PredictLengths(model) if lengths else _PredictNoLengths(model)
        out_name, out_doc = "forecast", "the next K values of the N targets, in the original units (B, K, N)"
    else:
        module = _ForwardLengths(model) if lengths else _Forward(model)
        tagger = isinstance(model, SequenceTagger)
        out_name = "logits"
        out_doc = "tag logits per step (B, T, K)" if tagger else "class logits (B, C)"
    ex_lengths = random_lengths(B, T, torch.Generator().manual_seed(1))

    def make_inputs(batch: int, t: int | None, gen: torch.Generator) -> tuple[Tensor, ...]:
        x = resample_rows(example, batch, t, gen)
        return (x, random_lengths(batch, x.size(1), gen)) if lengths else (x,)

    x_doc = "raw input window, original units (B, T, F)" if forecaster else "input batch (B, T, ...)"
    docs = {x_name: x_doc, "lengths": "valid steps of each sequence, int64 in [1, T] (B,)", out_name: out_doc}
    return ExportPart(
        name="model",
        module=module.eval(),
        inputs=(x_name, "lengths") if lengths else (x_name,),
        outputs=(out_name,),
        example=(example, ex_lengths) if lengths else (example,),
        axes={x_name: {0: BATCH, 1: "time"}, **({"lengths": {0: BATCH}} if lengths else {})},
        docs=docs,
        make_inputs=make_inputs,
    )
