"""Melody events ↔ MIDI files, with ``mido``.

Writing: a type-0 file (480 ticks per quarter) with the tempo, an instrument (program change), and a
note-on/note-off pair per note; a rest is silence of its duration, a trailing rest included.

Reading (a user's files, any type, any number of tracks): every note of every channel except the
General MIDI drum channel (10) is collected and reduced to one melody by the *skyline* rule: at each
onset the highest note starting there becomes the melody note, unless a higher melody note is still
sounding (then the lower one is ignored); a melody note ends at its note-off or when the next melody
note starts. Onsets and ends are snapped to the 1/48-quarter grid in beats (tempo changes do not
matter), silences become rests, and leading/trailing rests are trimmed.
"""

from __future__ import annotations

import os
import warnings
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from .._io import atomic_open
from .music import GRID, Event, Melody, clean_events

TICKS_PER_BEAT = 480
DRUM_CHANNEL = 9  # channel 10 in 1-based numbering


def write_midi(
    events: Sequence[Event],
    path: str | os.PathLike[str],
    *,
    tempo_bpm: float = 90.0,
    program: int = 0,
    velocity: int = 80,
) -> Path:
    """Write ``events`` as a playable MIDI file (atomically). ``program`` is the General MIDI
    instrument (0 = acoustic grand piano, 19 = church organ, 52 = choir aahs)."""
    import mido

    if not tempo_bpm > 0:
        raise ValueError(f"tempo_bpm must be > 0, got {tempo_bpm}")
    for name, value in (("program", program), ("velocity", velocity)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 127:
            raise ValueError(f"{name} must be an int in 0–127, got {value!r}")
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_bpm), time=0))
    track.append(mido.Message("program_change", program=program, time=0))
    ticks = [round(e.duration * TICKS_PER_BEAT) for e in events]
    pending = 0  # silence (ticks) before the next message
    for e, t in zip(events, ticks, strict=True):
        if t <= 0:
            raise ValueError(f"every event needs a duration > 0, got {e}")
        if e.pitch is None:
            pending += t
            continue
        if not 0 <= e.pitch <= 127:
            raise ValueError(f"pitch must lie in 0–127, got {e.pitch}")
        track.append(mido.Message("note_on", note=e.pitch, velocity=velocity, time=pending))
        track.append(mido.Message("note_off", note=e.pitch, velocity=0, time=t))
        pending = 0
    track.append(mido.MetaMessage("end_of_track", time=pending))
    mid = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT)
    mid.tracks.append(track)
    with atomic_open(path, "wb") as f:
        mid.save(file=f)
    return Path(path)


def _notes(mid) -> list[tuple[int, int, int]]:
    """(start tick, end tick, pitch) of every non-drum note of every track."""
    notes: list[tuple[int, int, int]] = []
    for track in mid.tracks:
        now = 0
        sounding: dict[tuple[int, int], list[int]] = defaultdict(list)
        for msg in track:
            now += msg.time
            if msg.type not in ("note_on", "note_off") or msg.channel == DRUM_CHANNEL:
                continue
            key = (msg.channel, msg.note)
            if msg.type == "note_on" and msg.velocity > 0:
                if sounding[key]:  # re-struck before its note-off: the old note ends here
                    notes.append((sounding[key].pop(0), now, msg.note))
                sounding[key].append(now)
            elif sounding[key]:
                notes.append((sounding[key].pop(0), now, msg.note))
        for (_, pitch), starts in sounding.items():  # never released: sound to the end of the track
            notes.extend((s, now, pitch) for s in starts)
    return notes


def read_midi(path: str | os.PathLike[str]) -> list[Event]:
    """The melody of a MIDI file by the skyline rule (see the module docstring)."""
    import mido

    mid = mido.MidiFile(path)
    if mid.type == 2:
        raise ValueError(f"MIDI type 2 (independent sequences) is not supported: {os.fspath(path)!r}")
    tpb = mid.ticks_per_beat

    def grid(tick: int) -> int:  # ticks → 1/48-quarter units
        return round(tick * GRID / tpb)

    notes = _notes(mid)
    notes.sort(key=lambda n: (n[0], -n[2]))
    melody: list[list[int]] = []  # [start, end, pitch] on the grid
    for start, end, pitch in notes:
        s, e = grid(start), grid(end)
        if e <= s:
            continue
        if melody:
            cur = melody[-1]
            if cur[0] == s or (cur[1] > s and cur[2] > pitch):
                continue  # a lower note under the sounding melody note (same onset: sorted highest first)
            cur[1] = min(cur[1], s)
        melody.append([s, e, pitch])
    events: list[Event] = []
    pos = 0
    for s, e, pitch in melody:
        if s > pos:
            events.append(Event(None, (s - pos) / GRID))
        events.append(Event(pitch, (e - s) / GRID))
        pos = e
    return clean_events(events)


def load_midi_folder(folder: str | os.PathLike[str], min_events: int = 8) -> list[Melody]:
    """The melodies of every ``.mid``/``.midi`` file under ``folder`` (recursively, sorted by path);
    unreadable files and files with fewer than ``min_events`` events are skipped with a warning."""
    root = Path(folder)
    if root.is_file():
        raise ValueError(f"midi folder {os.fspath(folder)!r} is a file, expected a folder of .mid files")
    if not root.is_dir():
        raise FileNotFoundError(f"midi folder not found: {os.fspath(folder)!r}")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".mid", ".midi") and p.is_file())
    if not files:
        raise ValueError(f"midi folder {os.fspath(folder)!r} must hold .mid or .midi files, found none")
    melodies, skipped = [], []
    for f in files:
        try:
            events = read_midi(f)
        except (OSError, ValueError, EOFError, KeyError) as err:
            skipped.append(f"{f.name} ({err})")
            continue
        if len(events) < min_events:
            skipped.append(f"{f.name} ({len(events)} events < {min_events})")
            continue
        melodies.append(Melody(f.relative_to(root).as_posix(), tuple(events)))
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} MIDI file(s): {'; '.join(skipped[:5])}", UserWarning, stacklevel=2
        )
    if not melodies:
        raise ValueError(f"no usable melody in midi folder {os.fspath(folder)!r}")
    return melodies
