"""Standard scaling of features, fit on training data only and saved with the model.

``z = (x - mean) / std`` per feature; the statistics are buffers, so they travel in the model's
``state_dict`` (and checkpoints) and follow ``.to(device)`` / ``.double()``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .._checks import check_float_tensor, check_positive_int


class Scaler(nn.Module):
    """Per-feature standardisation over the last dimension.

    Args:
        num_features: F, the size of the last dimension of what is scaled.
        eps: a feature whose standard deviation is below ``eps`` (a constant column) gets std 1, so it
            is only centred.

    Example::

        scaler = Scaler(3)
        scaler.fit(train_series)                    # (N, 3): mean/std over the N rows
        z = scaler.transform(window)                # (..., 3)
        x = scaler.inverse_transform(z)             # back in the original units
    """

    def __init__(self, num_features: int, eps: float = 1e-8) -> None:
        super().__init__()
        self.num_features = check_positive_int("num_features", num_features)
        self.eps = float(eps)
        self.register_buffer("mean", torch.zeros(num_features))
        self.register_buffer("std", torch.ones(num_features))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    @property
    def is_fitted(self) -> bool:
        return bool(self.fitted)

    def _rows(self, data: Tensor | Sequence[Tensor], name: str) -> Tensor:
        parts = [data] if isinstance(data, Tensor) else list(data) if isinstance(data, list | tuple) else None
        if not parts:
            got = type(data).__name__ if parts is None else "an empty sequence"
            raise TypeError(
                f"{name} must be a tensor (..., {self.num_features}) or a list of them, got {got}"
            )
        rows = []
        for k, part in enumerate(parts):
            label = name if isinstance(data, Tensor) else f"{name}[{k}]"
            check_float_tensor(label, part)
            if part.dim() == 0 or part.size(-1) != self.num_features:
                raise ValueError(
                    f"{label} must have {self.num_features} features in its last dimension, "
                    f"got shape {tuple(part.shape)}"
                )
            rows.append(part.detach().reshape(-1, self.num_features).to(torch.float64))
        flat = torch.cat(rows)  # (N, F)
        if flat.size(0) == 0:
            raise ValueError(f"{name} must hold at least one row, got none")
        if not bool(torch.isfinite(flat).all()):
            raise ValueError(f"{name} must be finite (no NaN/inf); drop or fill missing values first")
        return flat

    @torch.no_grad()
    def fit(self, data: Tensor | Sequence[Tensor]) -> Scaler:
        """Set mean and std from ``data`` (every row of every tensor, over all leading dims) and nothing
        else; returns self. Statistics are computed in float64 and stored in the buffers' dtype."""
        flat = self._rows(data, "data")
        mean = flat.mean(dim=0)  # (F,)
        std = flat.std(dim=0, unbiased=False)  # (F,)
        std = torch.where(std < self.eps, torch.ones_like(std), std)
        self.mean.copy_(mean.to(self.mean.dtype))
        self.std.copy_(std.to(self.std.dtype))
        self.fitted.fill_(True)
        return self

    def _check(self, x: Tensor, name: str) -> None:
        if not self.is_fitted:
            raise RuntimeError(
                "the scaler is not fitted: call fit(training_data) first (or load a state_dict)"
            )
        check_float_tensor(name, x)
        if x.dim() == 0 or x.size(-1) != self.num_features:
            raise ValueError(
                f"{name} must have {self.num_features} features in its last dimension, "
                f"got shape {tuple(x.shape)}"
            )

    def transform(self, x: Tensor) -> Tensor:
        """(x - mean) / std over the last dimension, in x's dtype."""
        self._check(x, "x")
        return (x - self.mean.to(x)) / self.std.to(x)

    def inverse_transform(self, z: Tensor) -> Tensor:
        """z * std + mean: back to the original units."""
        self._check(z, "z")
        return z * self.std.to(z) + self.mean.to(z)

    def extra_repr(self) -> str:
        return f"{self.num_features}, fitted={self.is_fitted}"
