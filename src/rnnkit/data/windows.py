"""Chronological splits without look-ahead, sliding windows over a feature matrix, and the rows a
scaler may be fit on (those read by training windows): shared by the ``stocks`` and ``series`` data.

Rows 0 … N−1 are in time order. The last ``test_frac`` of the rows is the test period, the ``val_frac``
before it validation, the rest training. A forecast made at *origin* row t reads rows t−W+1 … t (the
window) and predicts rows t+h for every h in ``horizons``. A sample belongs to the period of its
targets and ALL of its targets must lie inside that period: the last training target comes before the
first validation row, so no training sample has seen a validation or test value. (Inputs of a test
sample may reach back into earlier periods: that is the past, known when the forecast is made.)

Shape legend: N = rows, F = features, K = targets per origin, W = window, S = samples (origins).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

PERIODS = ("train", "val", "test")


def _fraction(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


@dataclass(frozen=True)
class SplitPoints:
    """Period boundaries as row indices: train = [0, val_start), val = [val_start, test_start),
    test = [test_start, n)."""

    n: int
    val_start: int
    test_start: int

    @classmethod
    def from_fractions(cls, n: int, val_frac: float = 0.1, test_frac: float = 0.2) -> SplitPoints:
        val_frac, test_frac = _fraction("val_frac", val_frac), _fraction("test_frac", test_frac)
        if val_frac + test_frac >= 1.0:
            raise ValueError(f"val_frac + test_frac must be < 1, got {val_frac} + {test_frac}")
        test_start = n - round(test_frac * n)
        return cls(n, test_start - round(val_frac * n), test_start)

    def period(self, name: str) -> tuple[int, int]:
        """(first row, one past the last row) of ``name`` in ``("train", "val", "test")``."""
        bounds = {"train": (0, self.val_start), "val": (self.val_start, self.test_start)}
        bounds["test"] = (self.test_start, self.n)
        if name not in bounds:
            raise ValueError(f"period must be one of {list(PERIODS)}, got {name!r}")
        return bounds[name]


def check_horizons(horizons: Sequence[int]) -> tuple[int, ...]:
    hs = tuple(horizons)
    if not hs or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hs):
        raise ValueError(f"horizons must be a non-empty sequence of ints >= 1, got {horizons!r}")
    return hs


def make_origins(
    points: SplitPoints,
    period: str,
    *,
    window: int,
    horizons: Sequence[int],
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """Origins t of ``period``: every target row t+h lies in the period and rows t−W+1 … t exist.

    ``valid`` (N,) bool marks usable rows (False at gaps, NaN features or the first rows a feature
    needs for its history); origins whose window or targets touch an invalid row are dropped.
    """
    hs = check_horizons(horizons)
    start, stop = points.period(period)
    lo, hi = max(window - 1, start - min(hs)), stop - 1 - max(hs)
    origins = np.arange(lo, hi + 1, dtype=np.int64)
    if valid is None or origins.size == 0:
        return origins
    valid = np.asarray(valid, dtype=bool)
    if valid.shape != (points.n,):
        raise ValueError(f"valid must have shape ({points.n},), got {valid.shape}")
    bad = np.concatenate([[0], np.cumsum(~valid)])  # bad[i] = invalid rows before row i
    ok = bad[origins + 1] - bad[origins + 1 - window] == 0
    for h in hs:
        ok &= valid[origins + h]
    return origins[ok]


def window_rows(origins: np.ndarray, window: int) -> np.ndarray:
    """Every row read by some window ending at one of ``origins``, each once, in order."""
    origins = np.asarray(origins, dtype=np.int64)
    if origins.size == 0:
        return origins
    return np.unique((origins[:, None] - np.arange(window)[None, :]).ravel())


class WindowDataset(Dataset):
    """Samples (x, y): x = features[t−W+1 : t+1] (W, F), y = targets[t] (K, …), for t in ``origins``.

    The windows are slices of one shared (N, F) tensor, so nothing is copied until a batch is built.
    """

    def __init__(self, features: np.ndarray, targets: np.ndarray, origins: np.ndarray, window: int) -> None:
        self.features = torch.as_tensor(np.asarray(features, dtype=np.float32))  # (N, F)
        self.targets = torch.as_tensor(np.asarray(targets, dtype=np.float32))  # (N, K, …)
        self.origins = np.asarray(origins, dtype=np.int64)
        self.window = int(window)
        if self.origins.size and (self.origins.min() < window - 1 or self.origins.max() >= len(features)):
            raise ValueError(f"origins must lie in [{window - 1}, {len(features)}) for window={window}")

    def __len__(self) -> int:
        return len(self.origins)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        t = int(self.origins[i])
        return self.features[t - self.window + 1 : t + 1], self.targets[t]

    def tensors(self) -> tuple[Tensor, Tensor]:
        """All samples at once: x (S, W, F), y (S, K, …)."""
        rows = torch.as_tensor(self.origins)[:, None] - torch.arange(self.window - 1, -1, -1)  # (S, W)
        return self.features[rows], self.targets[torch.as_tensor(self.origins)]
