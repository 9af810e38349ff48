"""The ``series`` task's baselines and scores: persistence, seasonal naive at the periods the timestamps
give, the training mean and a linear AR(p), all on the same forecast origins as the network; the
origins every forecaster can be scored on; MAE/RMSE of changes H steps ahead.

``data`` is a :class:`rnnkit.data.series.SeriesData` (values, timestamps, origins per split, targets)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .forecast import LinearAR, seasonal_naive


def seasonal_periods(data: Any) -> dict[str, int]:
    """Seasonal-naive periods (name → steps) that differ from persistence at the horizon."""
    from ..data.series import steps_per_day  # deferred: it loads pandas

    day = steps_per_day(data.index)
    if day is None:
        return {}
    candidates = {"seasonal_1d": day} | ({"seasonal_12h": day // 2} if day % 2 == 0 else {})
    return {n: s for n, s in candidates.items() if data.horizon % s}


def naive_forecasts(data: Any, origins: np.ndarray, periods: dict[str, int], ar_order: int) -> dict:
    """Baseline name → forecast values (S, H) at ``origins``; ``naive`` marks those the floor uses."""
    H, y = data.horizon, data.values
    train = data.origins["train"]
    out = {"persistence": np.repeat(y[origins][:, None], H, axis=1)}
    for name, s in periods.items():
        out[name] = np.column_stack([seasonal_naive(y, origins, h, s) for h in range(1, H + 1)])
    mean = float(np.nanmean(y[: data.points.val_start]))
    out["mean"] = np.full((len(origins), H), mean)
    ar = [LinearAR(ar_order).fit(y, train, data.targets[train, h, 0]) for h in range(H)]
    out[f"ar{ar_order}"] = y[origins][:, None] + np.column_stack([m.predict(y, origins) for m in ar])
    return out


def keep_scorable(data: Any, periods: dict[str, int]) -> None:
    """Drop validation/test origins where a seasonal baseline would read a missing value, so every
    forecaster is scored on exactly the same origins."""
    for split in ("val", "test"):
        o = data.origins[split]
        ok = np.ones(len(o), dtype=bool)
        for s in periods.values():
            for h in range(1, data.horizon + 1):
                ok &= np.isfinite(data.values[o + h - s * math.ceil(h / s)])
        data.origins[split] = o[ok]


def change_metrics(pred: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """MAE and RMSE H steps ahead and the MAE averaged over steps 1 … H (errors of changes = errors of
    values, both start from y_t)."""
    err = pred - actual  # (S, H)
    return {
        "mae": float(np.mean(np.abs(err[:, -1]))),
        "rmse": float(np.sqrt(np.mean(err[:, -1] ** 2))),
        "mae_avg": float(np.mean(np.abs(err))),
    }
