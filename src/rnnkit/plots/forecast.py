"""Forecast plots: a forecast against the truth with its baselines, and error by steps ahead."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ._png import new_figure, save_png

#: the network's line is drawn strong; baselines thin and dashed, in this order of colours
_BASELINE_COLORS = ("tab:gray", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink")


def _check_lengths(x: Sequence, actual: np.ndarray, forecasts: Mapping[str, np.ndarray]) -> None:
    if len(x) != len(actual):
        raise ValueError(f"x must have one entry per actual value ({len(actual)}), got {len(x)}")
    for name, f in forecasts.items():
        if len(f) != len(actual):
            raise ValueError(f"forecast {name!r} must have {len(actual)} values like actual, got {len(f)}")


def _gaps(x: Sequence) -> np.ndarray:
    """Positions i where x jumps by more than 5× its median step between i−1 and i (missing data, not a
    weekend between trading days): lines break there."""
    try:
        v = np.asarray(
            pd.to_datetime(pd.Index(x)).asi8 if not np.issubdtype(np.asarray(x).dtype, np.number) else x
        )
    except (TypeError, ValueError):
        return np.array([], dtype=np.int64)
    step = np.diff(v.astype(np.float64))
    if step.size < 2:
        return np.array([], dtype=np.int64)
    return np.flatnonzero(step > 5 * np.median(step)) + 1


def _broken(x: Sequence, y: np.ndarray, gaps: np.ndarray) -> tuple[list, np.ndarray]:
    """x and y with a NaN point inserted at every gap, so a line is not drawn across missing data."""
    if gaps.size == 0:
        return list(x), y
    xs, ys = list(x), list(y)
    for i in gaps[::-1]:
        xs.insert(int(i), xs[int(i)])
        ys.insert(int(i), np.nan)
    return xs, np.asarray(ys, dtype=np.float64)


def plot_forecast(
    path: str | os.PathLike[str],
    x: Sequence,
    actual: np.ndarray,
    forecasts: Mapping[str, np.ndarray],
    *,
    model: str | None = None,
    title: str = "",
    ylabel: str = "",
) -> Path:
    """Two panels over the same ``x`` (dates or steps): the truth and every forecast on top, each
    forecast's absolute error below. ``model`` names the forecast drawn strong (the network). Lines
    break where ``x`` jumps by more than 5 median steps (missing data) instead of bridging the gap."""
    actual = np.asarray(actual, dtype=np.float64)
    _check_lengths(x, actual, forecasts)
    fig = new_figure(11, 6)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1.4))
    gaps = _gaps(x)
    top.plot(*_broken(x, actual, gaps), color="black", lw=1.4, label="actual")
    colors = iter(_BASELINE_COLORS)
    for name, f in forecasts.items():
        f = np.asarray(f, dtype=np.float64)
        err = np.abs(f - actual)
        label = f"{name} (MAE {np.nanmean(err):.3g})"
        if name == model:
            style = {"color": "tab:blue", "lw": 1.6, "zorder": 3}
        else:
            style = {"color": next(colors, "tab:olive"), "lw": 0.9, "ls": "--", "alpha": 0.9}
        top.plot(*_broken(x, f, gaps), label=label, **style)
        bottom.plot(*_broken(x, err, gaps), **{**style, "lw": 0.8})
    top.set_title(title)
    top.set_ylabel(ylabel)
    top.legend(loc="best", fontsize=8)
    top.grid(alpha=0.3)
    bottom.set_ylabel("|error|")
    bottom.grid(alpha=0.3)
    return save_png(fig, path)


def plot_horizon_errors(
    path: str | os.PathLike[str],
    errors: Mapping[str, np.ndarray],
    *,
    model: str | None = None,
    title: str = "",
    ylabel: str = "MAE",
    xlabel: str = "steps ahead",
) -> Path:
    """Error (e.g. MAE) against steps ahead 1 … H, one line per forecaster."""
    fig = new_figure(7, 4)
    ax = fig.subplots()
    colors = iter(_BASELINE_COLORS)
    for name, err in errors.items():
        err = np.asarray(err, dtype=np.float64)
        steps = np.arange(1, len(err) + 1)
        if name == model:
            ax.plot(steps, err, color="tab:blue", lw=2, marker="o", ms=3, label=name, zorder=3)
        else:
            ax.plot(steps, err, color=next(colors, "tab:olive"), lw=1, ls="--", label=name)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_png(fig, path)
