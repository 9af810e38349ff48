"""A piano roll of a melody: time across (in beats, with seconds on the top axis when the tempo is
known), pitch up with note names on the rows, the primer and the generated notes in two colours, the rows
of the primer's key shaded, and a legend saying which is which."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..data.music import HARMONIC_MINOR, MAJOR, NOTE_NAMES, Event, pitch_name
from ._png import new_figure, save_png

PRIMER_COLOR = "tab:orange"
GENERATED_COLOR = "tab:blue"
KEY_COLOR = "tab:green"
_KINDS = ((True, PRIMER_COLOR, "primer (given)"), (False, GENERATED_COLOR, "generated"))  # legend order


def pitch_ticks(low: int, high: int, used: Iterable[int] = ()) -> tuple[list[int], list[str]]:
    """The y ticks of a piano roll spanning MIDI pitches ``low`` … ``high``: every C in the span and every
    ``used`` pitch inside it, ascending, with their names (60 → "C4", 63 → "Eb4")."""
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 127:
            raise ValueError(f"{name} must be a MIDI pitch (int in 0–127), got {value!r}")
    if low > high:
        raise ValueError(f"low must be <= high, got low={low}, high={high}")
    ticks = sorted({p for p in range(low, high + 1) if p % 12 == 0} | {p for p in used if low <= p <= high})
    return ticks, [pitch_name(p) for p in ticks]


def plot_pianoroll(
    events: Sequence[Event],
    path: str | os.PathLike[str],
    *,
    prime_count: int = 0,
    tonic: int | None = None,
    mode: str = "major",
    title: str = "",
    beats_per_bar: int = 4,
    tempo_bpm: float | None = None,
) -> Path:
    """Draw ``events`` (the first ``prime_count`` of them are the primer) and save a PNG.

    ``tonic`` (a MIDI pitch) shades the rows of its ``mode`` scale (``"major"`` or ``"minor"``, the
    harmonic minor) so notes outside the key stand out. ``tempo_bpm`` adds a time axis in seconds on top.
    """
    if mode not in ("major", "minor"):
        raise ValueError(f"mode must be 'major' or 'minor', got {mode!r}")
    if tempo_bpm is not None and not tempo_bpm > 0:
        raise ValueError(f"tempo_bpm must be > 0 (or None), got {tempo_bpm!r}")
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    notes, t = [], 0.0  # (start beat, duration, pitch, is primer)
    for k, e in enumerate(events):
        if e.pitch is not None:
            notes.append((t, e.duration, e.pitch, k < prime_count))
        t += e.duration
    if not notes:
        raise ValueError("events must contain at least one note to draw a piano roll, got only rests")
    pitches = [n[2] for n in notes]
    low, high = max(0, min(pitches) - 2), min(127, max(pitches) + 2)
    fig = new_figure(min(16.0, 5 + t / 4), min(9.0, max(3.6, 1.6 + 0.13 * (high - low))))
    ax = fig.subplots()
    kinds = {primed for *_, primed in notes}
    legend = [
        Patch(facecolor=color, edgecolor="black", lw=0.4, label=label)
        for primed, color, label in _KINDS
        if primed in kinds
    ]
    if tonic is not None:
        scale = MAJOR if mode == "major" else HARMONIC_MINOR
        for p in range(low, high + 1):
            if (p - tonic) % 12 in scale:
                ax.axhspan(p - 0.5, p + 0.5, color=KEY_COLOR, alpha=0.08, lw=0)
        key = f"{NOTE_NAMES[tonic % 12]} {'major' if mode == 'major' else 'harmonic minor'}"
        legend.append(Patch(color=KEY_COLOR, alpha=0.25, label=f"rows in {key}"))
    for p in range(low, high + 1):
        if p % 12 == 0:  # octave lines at every C
            ax.axhline(p - 0.5, color="black", lw=0.5, alpha=0.25)
    for start, dur, pitch, primed in notes:
        color = PRIMER_COLOR if primed else GENERATED_COLOR
        ax.broken_barh(
            [(start, dur * 0.96)], (pitch - 0.4, 0.8), facecolors=color, edgecolors="black", lw=0.4
        )
    for bar in range(0, int(t) + beats_per_bar, beats_per_bar):
        ax.axvline(bar, color="black", lw=0.4, alpha=0.4)
    ticks, names = pitch_ticks(low, high, pitches)
    ax.set_yticks(ticks, names, fontsize=8)
    ax.set_ylim(low - 0.5, high + 0.5)
    ax.set_xlim(0, max(t, 1.0))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=12, steps=[1, 2, 4, 8, 10], integer=True))  # bars
    ax.set_xlabel(f"time in beats (quarter notes; a line every bar of {beats_per_bar})")
    ax.set_ylabel("pitch")
    if tempo_bpm is not None:
        per_beat = 60.0 / tempo_bpm
        top = ax.secondary_xaxis("top", functions=(lambda b: b * per_beat, lambda s: s / per_beat))
        top.set_xlabel(f"seconds at {tempo_bpm:g} bpm", fontsize=8)
        top.tick_params(labelsize=8)
    ax.legend(handles=legend, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
    ax.set_title(title)
    return save_png(fig, path)
