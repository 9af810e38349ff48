"""A piano roll of a melody: time in quarter notes across, pitch up, the primer in its own colour and
the rows of the primer's key shaded."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..data.music import HARMONIC_MINOR, MAJOR, Event, pitch_name
from ._png import new_figure, save_png


def plot_pianoroll(
    events: Sequence[Event],
    path: str | os.PathLike[str],
    *,
    prime_count: int = 0,
    tonic: int | None = None,
    mode: str = "major",
    title: str = "",
    beats_per_bar: int = 4,
) -> Path:
    """Draw ``events`` (the first ``prime_count`` of them are the primer) and save a PNG.

    ``tonic`` (a MIDI pitch) shades the rows of its ``mode`` scale (``"major"`` or ``"minor"``, the
    harmonic minor) so notes outside the key stand out.
    """
    if mode not in ("major", "minor"):
        raise ValueError(f"mode must be 'major' or 'minor', got {mode!r}")
    notes, t = [], 0.0
    for k, e in enumerate(events):
        if e.pitch is not None:
            notes.append((t, e.duration, e.pitch, k < prime_count))
        t += e.duration
    if not notes:
        raise ValueError("events must contain at least one note to draw a piano roll, got only rests")
    low = min(n[2] for n in notes) - 2
    high = max(n[2] for n in notes) + 2
    fig = new_figure(min(16.0, 4 + t / 4), 4.5)
    ax = fig.subplots()
    if tonic is not None:
        scale = MAJOR if mode == "major" else HARMONIC_MINOR
        for p in range(low, high + 1):
            if (p - tonic) % 12 in scale:
                ax.axhspan(p - 0.5, p + 0.5, color="tab:green", alpha=0.07, lw=0)
    for start, dur, pitch, primed in notes:
        color = "tab:red" if primed else "tab:blue"
        ax.broken_barh(
            [(start, dur * 0.96)], (pitch - 0.4, 0.8), facecolors=color, edgecolors="black", lw=0.4
        )
    for bar in range(0, int(t) + beats_per_bar, beats_per_bar):
        ax.axvline(bar, color="black", lw=0.4, alpha=0.4)
    ticks = [p for p in range(low, high + 1) if p % 12 in (0, 4, 7)]
    ax.set_yticks(ticks, [pitch_name(p) for p in ticks])
    ax.set_ylim(low - 0.5, high + 0.5)
    ax.set_xlim(0, max(t, 1.0))
    ax.set_xlabel(f"quarter notes (bars of {beats_per_bar})")
    ax.set_ylabel("pitch")
    ax.set_title(title)
    return save_png(fig, path)
