"""Smart Compose's trade-off: how often to suggest against how often the suggestion is right."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._png import new_figure, save_png


def plot_confidence_curve(
    path: str | os.PathLike[str],
    points: Sequence[Any],
    baselines: Mapping[str, float] | None = None,
    *,
    title: str = "",
    metadata: dict[str, str] | None = None,
) -> Path:
    """Exact-3 accuracy of the suggestions shown (y) against the share of prefixes shown one (x, log
    scale), from ``points`` (``coverage``, ``exact3``, ``threshold`` attributes, e.g.
    :class:`rnnkit.tasks.compose_data.ConfidencePoint`); ``baselines`` (name → exact-3 when always
    suggesting) are drawn as dashed horizontal lines; ``metadata``: PNG text chunks."""
    if not points:
        raise ValueError("points must hold at least one point of the curve")
    fig = new_figure(6.4, 3.8)
    ax = fig.add_subplot()
    xs = [100 * p.coverage for p in points]
    ys = [100 * p.exact3 for p in points]
    ax.plot(xs, ys, marker="o", color="tab:blue", lw=2, label="model, suggesting when confident")
    for p, x, y in zip(points, xs, ys, strict=True):
        ax.annotate(f"p≥{p.threshold:.2g}", (x, y), textcoords="offset points", xytext=(4, 5), fontsize=7)
    for (name, value), color in zip(
        (baselines or {}).items(), ("tab:gray", "tab:orange", "tab:green"), strict=False
    ):
        ax.axhline(100 * value, ls="--", lw=1, color=color, label=f"{name}, always suggesting")
    ax.set_xscale("log")
    ax.set_xlabel("prefixes given a suggestion (%)")
    ax.set_ylabel("suggestions exactly right, 3 words (%)")
    ax.set_title(title or "Suggest only when confident: coverage vs exact-3 accuracy")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return save_png(fig, path, metadata=metadata)
