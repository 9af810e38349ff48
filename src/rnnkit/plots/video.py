"""Per-frame plots of a video classifier: a strip of each clip's frames above the probability the model
gives after each frame, and a saliency strip (where the model looked)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._png import new_figure, save_png


def _strip(frames: np.ndarray) -> np.ndarray:
    """(T, C, S, S) uint8 → one image (S, T*S[, 3]) with a 1-pixel gap between frames."""
    T, C, S, _ = frames.shape
    gap = np.full((C, S, 1), 255, dtype=np.uint8)
    parts = []
    for t in range(T):
        parts += [frames[t], gap] if t < T - 1 else [frames[t]]
    img = np.concatenate(parts, axis=2)  # (C, S, T*S + T-1)
    return img[0] if C == 1 else img.transpose(1, 2, 0)


def plot_frame_probabilities(
    frames: np.ndarray,
    probs: np.ndarray,
    path: str | os.PathLike[str],
    *,
    titles: Sequence[str] | None = None,
    highlight: np.ndarray | None = None,
    label: str = "P(jump)",
    highlight_label: str = "dog in the air",
) -> Path:
    """Save a PNG: for each clip, its frames side by side and under them ``probs`` after each frame.

    Args:
        frames: (K, T, C, S, S) uint8 clips.
        probs: (K, T) probability after frames 0..t (e.g. ``SequenceClassifier.per_step_logits``).
        titles: one line per clip (truth, prediction …).
        highlight: (K, T) bool frames to shade (e.g. when the dog is in the air), or None.
    """
    frames, probs = np.asarray(frames), np.asarray(probs, dtype=np.float64)
    if frames.ndim != 5 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (K, T, C, S, S), got {frames.dtype} {frames.shape}")
    K, T = frames.shape[:2]
    if probs.shape != (K, T):
        raise ValueError(f"probs must have shape ({K}, {T}), got {probs.shape}")
    if highlight is not None and np.shape(highlight) != (K, T):
        raise ValueError(f"highlight must have shape ({K}, {T}), got {np.shape(highlight)}")
    S = frames.shape[-1]
    width = min(18.0, 2.0 + 0.55 * T)
    fig = new_figure(width, 2.3 * K)
    grid = fig.add_gridspec(2 * K, 1, height_ratios=[1.0, 0.9] * K)
    centres = np.arange(T) * (S + 1) + S / 2 - 0.5  # x of each frame's centre in the strip
    for k in range(K):
        ax_img = fig.add_subplot(grid[2 * k])
        ax_img.imshow(_strip(frames[k]), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax_img.set_axis_off()
        if titles is not None:
            ax_img.set_title(titles[k], fontsize=9, loc="left")
        ax = fig.add_subplot(grid[2 * k + 1], sharex=ax_img)
        if highlight is not None:
            for t in np.flatnonzero(highlight[k]):
                ax.axvspan(centres[t] - S / 2, centres[t] + S / 2, color="tab:orange", alpha=0.25, lw=0)
        ax.plot(centres, probs[k], marker="o", ms=3, color="tab:blue")
        ax.axhline(0.5, color="0.6", lw=0.8, ls="--")
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel(label, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_xticks(centres[:: max(1, T // 8)], [str(t) for t in range(0, T, max(1, T // 8))])
        if k == K - 1:
            ax.set_xlabel("frame" + (f"  (shaded: {highlight_label})" if highlight is not None else ""))
    return save_png(fig, path)


def saliency_scale(sal: np.ndarray, decades: float = 2.0) -> tuple[float, float]:
    """(bottom, top) of the saliency colour scale shared by all frames of a clip: the top is the 99th
    percentile of all its pixels (a few extreme pixels do not darken the rest), the bottom ``decades``
    powers of ten below it (values outside are drawn at the ends)."""
    top = float(np.percentile(sal, 99))
    top = top if top > 0 else max(float(np.max(sal)), 1e-12)
    return top / 10**decades, top


def plot_saliency(
    frames: np.ndarray,
    saliency: np.ndarray,
    path: str | os.PathLike[str],
    *,
    title: str = "",
    target: str = "jump",
) -> Path:
    """Save :func:`saliency_figure` as a PNG: one clip's frames, the saliency |∂ logit / ∂ pixel| over
    them on one logarithmic scale with a colour bar, and each frame's share of it.

    Args:
        frames: (T, C, S, S) uint8.
        saliency: (T, S, S) non-negative.
    """
    return save_png(saliency_figure(frames, saliency, title=title, target=target), path)


def saliency_figure(frames: np.ndarray, sal: np.ndarray, *, title: str = "", target: str = "jump") -> Any:
    """A clip's frames (top), the saliency |∂ logit / ∂ pixel| over them on ONE logarithmic colour scale
    shared by every frame (:func:`saliency_scale`; the colour bar gives the units), and each frame's
    share of the total saliency (how much the answer depends on it).

    Args:
        frames: (T, C, S, S) uint8.
        sal: (T, S, S) non-negative, in logit per unit of pixel intensity (intensities in [0, 1]).
    """
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm

    frames, sal = np.asarray(frames), np.asarray(sal, dtype=np.float64)
    T, _, S, _ = frames.shape
    if sal.shape != (T, S, S):
        raise ValueError(f"saliency must have shape ({T}, {S}, {S}), got {sal.shape}")
    low, top = saliency_scale(sal)
    strip = np.full((S, T * (S + 1) - 1), np.nan)  # NaN gaps between frames, drawn white
    for t in range(T):
        strip[:, t * (S + 1) : t * (S + 1) + S] = np.clip(sal[t], low, top)
    cmap = colormaps["magma"].with_extremes(bad="white")
    fig = new_figure(min(18.0, 2.5 + 0.55 * T), 3.6)
    ax1, ax2, ax3 = fig.subplots(3, 1, sharex=True, height_ratios=[1.0, 1.0, 0.7])
    ax1.imshow(_strip(frames), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    image = ax2.imshow(strip, cmap=cmap, norm=LogNorm(low, top), interpolation="nearest")
    for ax in (ax1, ax2):
        ax.set_axis_off()
    ax1.set_title(title, fontsize=9, loc="left")
    ax2.set_title(
        f"saliency |∂ logit({target}) / ∂ pixel| of the answer after the last frame: one log scale for all "
        f"frames, topped at the clip's 99th percentile ({top:.2g}), two decades shown",
        fontsize=8,
        loc="left",
    )
    bar = fig.colorbar(image, ax=[ax1, ax2, ax3], location="right", shrink=0.4, pad=0.01)  # beside row 2
    bar.set_label("logit per unit of\npixel intensity (0–1)", fontsize=7)
    bar.ax.tick_params(labelsize=7)
    share = sal.reshape(T, -1).sum(1) / max(float(sal.sum()), 1e-300)  # (T,)
    centres = np.arange(T) * (S + 1) + S / 2 - 0.5
    ax3.bar(centres, share, width=S * 0.8, color="tab:purple")
    ax3.set_ylabel("share of\nsaliency", fontsize=7)
    ax3.tick_params(labelsize=7)
    ax3.set_xticks(centres[:: max(1, T // 8)], [str(t) for t in range(0, T, max(1, T // 8))])
    ax3.set_xlabel("frame", fontsize=8)
    return fig
