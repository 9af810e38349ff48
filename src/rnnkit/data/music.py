"""Melodies as sequences of (pitch | rest, duration) events: Bach chorale soprano lines or Essen folk
songs from music21's bundled corpus (nothing is downloaded), or a user's MIDI files (:mod:`.midi`).

An :class:`Event` is one note (MIDI pitch 0–127) or a rest, with its duration in quarter notes on a
grid of 1/48 quarter (which holds 64th notes and triplets exactly).

Melody extraction (the rule, so results can be checked):

- Bach chorales: every ``bach`` score of the corpus except the roman-numeral analyses (``.rntxt``); the
  melody is the part named "Soprano"; scores whose parts carry no names (the Humdrum ``.krn``
  chorales) use their top part; scores with named parts but no soprano (the keyboard prelude
  BWV 846) are skipped.
- Essen folk songs: every tune of the ``essenFolksong`` opuses (one part each).
- Ties are merged into one note, grace notes dropped, chords reduced to their highest pitch,
  consecutive rests merged, and leading/trailing rests trimmed.

Parsing 400+ scores with music21 takes about half a minute (the 8,514 Essen songs 10–20 minutes), so the
event lists are cached as JSON in the rnnkit cache folder (:func:`rnnkit.data.cache.cache_dir`) the
first time, with a progress bar, and read back in a fraction of a second afterwards.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .cache import cache_dir, read_json, write_json

#: durations are multiples of 1/GRID quarter notes
GRID = 48
SOURCES = ("chorales", "essen")
_FORMAT = 1  # bump when the extraction rule changes: old caches are then ignored
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def quantize(quarters: float) -> float:
    """A duration in quarter notes snapped to the 1/48-quarter grid (0 stays 0)."""
    return round(float(quarters) * GRID) / GRID


class Event(NamedTuple):
    """One melody event: ``pitch`` (MIDI 0–127, None for a rest) held for ``duration`` quarter notes."""

    pitch: int | None
    duration: float

    @property
    def is_rest(self) -> bool:
        return self.pitch is None

    def __str__(self) -> str:
        return f"{'rest' if self.pitch is None else pitch_name(self.pitch)}:{self.duration:g}"


@dataclass(frozen=True)
class Melody:
    """A named event sequence (``name`` says where it came from, e.g. ``bach/bwv1.6``)."""

    name: str
    events: tuple[Event, ...]


def pitch_name(pitch: int) -> str:
    """MIDI pitch → scientific name, e.g. 60 → "C4", 70 → "Bb4"."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def parse_pitch(name: str) -> int:
    """A note name ("C4", "F#3", "Bb5", "eb4") or a MIDI number ("60") → MIDI pitch."""
    text = str(name).strip()
    if text.isdigit():
        value = int(text)
    else:
        m = re.fullmatch(r"([A-Ga-g])([#b♯♭]*)(-?\d+)", text)
        if m is None:
            raise ValueError(
                f"pitch must be a note name like 'C4', 'F#3', 'Bb4' or a MIDI number, got {name!r}"
            )
        shift = sum(1 if c in "#♯" else -1 for c in m.group(2))
        value = 12 * (int(m.group(3)) + 1) + _PITCH_CLASS[m.group(1).upper()] + shift
    if not 0 <= value <= 127:
        raise ValueError(f"pitch must lie in the MIDI range 0–127, got {name!r} = {value}")
    return value


def parse_event(text: str, default_duration: float = 1.0) -> Event:
    """ "C4" (a quarter note), "C4:0.5", "rest:2" → an :class:`Event`."""
    head, _, dur = str(text).partition(":")
    duration = quantize(float(dur)) if dur else quantize(default_duration)
    if duration <= 0:
        raise ValueError(f"event duration must be > 0 quarter notes, got {text!r}")
    pitch = None if head.strip().lower() in ("rest", "r") else parse_pitch(head)
    return Event(pitch, duration)


def clean_events(events: Iterable[Event]) -> list[Event]:
    """Drop zero durations, merge consecutive rests, trim leading and trailing rests."""
    out: list[Event] = []
    for e in events:
        if e.duration <= 0:
            continue
        if e.is_rest and out and out[-1].is_rest:
            out[-1] = Event(None, quantize(out[-1].duration + e.duration))
        else:
            out.append(e)
    while out and out[0].is_rest:
        out.pop(0)
    while out and out[-1].is_rest:
        out.pop()
    return out


def transpose(events: Sequence[Event], semitones: int) -> list[Event]:
    """Every pitch moved by ``semitones``; rests and all durations unchanged."""
    if isinstance(semitones, bool) or not isinstance(semitones, int):
        raise TypeError(f"semitones must be an int, got {type(semitones).__name__} ({semitones!r})")
    out = [Event(None if e.pitch is None else e.pitch + semitones, e.duration) for e in events]
    bad = [e.pitch for e in out if e.pitch is not None and not 0 <= e.pitch <= 127]
    if bad:
        raise ValueError(f"transposing by {semitones} leaves the MIDI range 0–127 (pitch {bad[0]})")
    return out


# -- key of the primer ------------------------------------------------------------------------------
MAJOR = frozenset({0, 2, 4, 5, 7, 9, 11})
HARMONIC_MINOR = frozenset({0, 2, 3, 5, 7, 8, 11})


def key_share(events: Sequence[Event], tonic: int) -> float:
    """Share of the notes (rests ignored) that lie in the key of ``tonic`` (a MIDI pitch).

    The rule: one note does not tell major from minor, so the key is whichever of the major scale
    and the harmonic minor scale (natural minor with the raised 7th, the leading tone chorales cadence
    on) built on the tonic's pitch class holds more of the notes. Both scales have 7 of the 12 pitch
    classes, so notes drawn uniformly at random score a little over 7/12 ≈ 0.58.
    """
    return best_key(events, tonic)[1]


def best_key(events: Sequence[Event], tonic: int) -> tuple[str, float]:
    """(``"major"`` or ``"minor"``, the share of notes in that scale on ``tonic``): see :func:`key_share`."""
    pcs = [(e.pitch - tonic) % 12 for e in events if e.pitch is not None]
    if not pcs:
        raise ValueError("key_share needs at least one note, got only rests")
    major = sum(p in MAJOR for p in pcs) / len(pcs)
    minor = sum(p in HARMONIC_MINOR for p in pcs) / len(pcs)
    return ("major", major) if major >= minor else ("minor", minor)


# -- the corpus -------------------------------------------------------------------------------------
def _events_from_part(part) -> list[Event]:
    out = []
    for n in part.stripTies().flatten().notesAndRests:
        if n.duration.isGrace:
            continue
        if n.isRest:
            pitch = None
        elif n.isChord:
            pitch = max(p.midi for p in n.pitches)
        else:
            pitch = n.pitch.midi
        out.append(Event(pitch, quantize(n.quarterLength)))
    return clean_events(out)


def chorale_melody(score) -> list[Event] | None:
    """The soprano line of a chorale score by the rule in the module docstring (None: no soprano)."""
    parts = list(score.parts)
    if not parts:
        return None
    names = [(p.partName or "").lower() for p in parts]
    soprano = [p for p, n in zip(parts, names, strict=True) if "soprano" in n]
    if soprano:
        return _events_from_part(soprano[0])
    return _events_from_part(parts[0]) if not any(names) else None


def _corpus_items(source: str) -> list[str]:
    from music21 import corpus

    if source == "chorales":
        paths = [p for p in corpus.getComposer("bach") if Path(p).suffix != ".rntxt"]
    else:
        paths = list(corpus.getComposer("essenFolksong"))
    return sorted(str(p) for p in paths)


def _parse_source(source: str, progress: bool) -> list[Melody]:
    from music21 import corpus
    from tqdm.auto import tqdm

    items = _corpus_items(source)
    melodies: list[Melody] = []
    bar = tqdm(
        items, desc=f"parsing {source} (first run only, then cached)", unit="file", disable=not progress
    )
    failed = []
    for path in bar:
        try:
            parsed = corpus.parse(path)
        except Exception as err:  # music21 raises many kinds on a malformed file: skip it, say so
            failed.append(f"{Path(path).name} ({type(err).__name__})")
            continue
        melodies.extend(melodies_of(parsed, f"{Path(path).parent.name}/{Path(path).stem}", source))
    if failed:
        warnings.warn(f"music21 could not parse {len(failed)} file(s): {', '.join(failed[:5])}", stacklevel=2)
    return melodies


def melodies_of(parsed, name: str, source: str) -> list[Melody]:
    """The melodies of one parsed corpus file: a chorale score's soprano line, or every tune of a
    folk-song opus (its single part)."""
    if source == "chorales":
        events = chorale_melody(parsed)
        return [Melody(name, tuple(events))] if events else []
    scores = list(parsed.scores) if hasattr(parsed, "scores") else [parsed]
    out = []
    for k, score in enumerate(scores):
        events = _events_from_part(score.parts[0]) if score.parts else []
        if events:
            out.append(Melody(f"{name}#{k}", tuple(events)))
    return out


def _cache_path(source: str) -> Path:
    import music21

    return cache_dir() / f"music-{source}-v{_FORMAT}-music21-{music21.__version__}.json"


def load_corpus(source: str = "chorales", *, progress: bool = True, min_events: int = 8) -> list[Melody]:
    """All melodies of ``source`` (``"chorales"`` or ``"essen"``) with at least ``min_events`` events,
    parsed once and then read from the cache."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {list(SOURCES)}, got {source!r}")
    path = _cache_path(source)
    cached = read_json(path)
    if isinstance(cached, dict) and cached.get("format") == _FORMAT:
        melodies = melodies_from_json(cached["melodies"])
    else:
        melodies = _parse_source(source, progress)
        write_json(path, {"format": _FORMAT, "source": source, "melodies": melodies_to_json(melodies)})
    return [m for m in melodies if len(m.events) >= min_events]


def melodies_to_json(melodies: Sequence[Melody]) -> list[dict]:
    return [{"name": m.name, "events": [[e.pitch, e.duration] for e in m.events]} for m in melodies]


def melodies_from_json(rows: Sequence[dict]) -> list[Melody]:
    return [Melody(r["name"], tuple(Event(p, float(d)) for p, d in r["events"])) for r in rows]


def transpositions(
    melody: Sequence[Event], shifts: Iterable[int], low: int = 0, high: int = 127
) -> list[int]:
    """The shifts in ``shifts`` that keep every pitch of ``melody`` within [low, high]."""
    pitches = [e.pitch for e in melody if e.pitch is not None]
    if not pitches:
        return [0]
    lo, hi = min(pitches), max(pitches)
    return [s for s in shifts if lo + s >= low and hi + s <= high]
