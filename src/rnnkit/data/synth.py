"""MIDI → audio: a small additive synthesiser in numpy, written as a 16-bit mono WAV (stdlib ``wave``).

Method. Each note of pitch p becomes a sum of sine partials at the integer multiples k·f of its fundamental
f = 440 · 2^((p − 69) / 12) Hz, partial k weighted by ``Voice.partials[k − 1]`` (a soft, organ-like
timbre by default; partials at or above the Nyquist frequency are left out, so nothing aliases), scaled by
the note's velocity / 127 and shaped by an ADSR envelope: a linear attack from 0 to 1, a linear decay to
the sustain level while the key is held, and from the note-off a release that falls to 0 as (1 − x)².
The notes are summed (chords and overlapping notes are fine) and the mix is normalised to a peak of
``PEAK`` (−1 dBFS), then rounded to 16 bits. Every note starts at phase 0 with its envelope at 0 and
ends with its envelope at 0, so nothing clicks; nothing is random, so one MIDI file always gives the same
WAV bytes. Timing comes from the MIDI file (its tempo changes included, read with ``mido``); the
General MIDI drum channel (10) is left out, as :func:`rnnkit.data.midi.read_midi` does.

Example::

    from rnnkit.data.synth import midi_to_wav
    midi_to_wav("song.mid")  # writes song.wav next to it: the file's length plus the last release
"""

from __future__ import annotations

import io
import math
import os
import wave
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .._io import atomic_write_bytes

SAMPLE_RATE = 22_050  # Hz
PEAK = 10 ** (-1 / 20)  # the mix is normalised to −1 dBFS
DRUM_CHANNEL = 9  # channel 10 in 1-based numbering


@dataclass(frozen=True)
class Voice:
    """The timbre and envelope every note is played with.

    Attributes:
        partials: amplitude of the 1st (fundamental), 2nd, 3rd … harmonic.
        attack: seconds from silence to full level.
        decay: seconds from full level down to ``sustain`` while the key is held.
        sustain: level held until the note-off, in (0, 1].
        release: seconds from the note-off to silence (the sound outlasts the note by this much).
    """

    partials: tuple[float, ...] = (1.0, 0.45, 0.22, 0.12, 0.06)
    attack: float = 0.012
    decay: float = 0.18
    sustain: float = 0.6
    release: float = 0.18

    def __post_init__(self) -> None:
        if not self.partials or any(not (a >= 0 and math.isfinite(a)) for a in self.partials):
            raise ValueError(f"partials must be a non-empty tuple of amplitudes >= 0, got {self.partials!r}")
        if not self.partials[0] > 0:
            raise ValueError(f"partials[0] (the fundamental) must be > 0, got {self.partials[0]!r}")
        for name in ("attack", "decay", "release"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a duration in seconds > 0, got {value!r}")
        if not 0 < self.sustain <= 1:
            raise ValueError(f"sustain must be a level in (0, 1], got {self.sustain!r}")


class Note(NamedTuple):
    """One sounding note: ``start`` and ``duration`` in seconds, MIDI ``pitch`` and ``velocity`` (1–127)."""

    start: float
    duration: float
    pitch: int
    velocity: int = 80


def frequency(pitch: float) -> float:
    """Equal temperament, A4 (MIDI 69) = 440 Hz."""
    return 440.0 * 2.0 ** ((pitch - 69) / 12)


def midi_notes(path: str | os.PathLike[str]) -> tuple[list[Note], float]:
    """The notes of a MIDI file (every channel but the drums) in seconds, and the file's length in seconds
    (trailing silence included). A note struck again before its note-off ends there; a note never
    released sounds to the end of the file."""
    import mido

    mid = mido.MidiFile(path)
    if mid.type == 2:
        raise ValueError(f"MIDI type 2 (independent sequences) is not supported: {os.fspath(path)!r}")
    notes: list[Note] = []
    sounding: dict[tuple[int, int], list[tuple[float, int]]] = defaultdict(list)
    now = 0.0
    for msg in mid:  # merged tracks; msg.time is the delta in seconds, tempo changes applied
        now += msg.time
        if msg.type not in ("note_on", "note_off") or msg.channel == DRUM_CHANNEL:
            continue
        key = (msg.channel, msg.note)
        if msg.type == "note_on" and msg.velocity > 0:
            if sounding[key]:
                start, vel = sounding[key].pop(0)
                notes.append(Note(start, now - start, msg.note, vel))
            sounding[key].append((now, msg.velocity))
        elif sounding[key]:
            start, vel = sounding[key].pop(0)
            notes.append(Note(start, now - start, msg.note, vel))
    for (_, pitch), starts in sounding.items():
        notes.extend(Note(s, now - s, pitch, v) for s, v in starts)
    notes = [n for n in notes if n.duration > 0]
    notes.sort(key=lambda n: (n.start, n.pitch))
    return notes, now


def envelope(duration: float, voice: Voice = Voice(), sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The ADSR gain of a note held ``duration`` seconds: (round(duration·sr) + round(release·sr),)."""
    held = max(1, round(duration * sample_rate))
    fall = max(1, round(voice.release * sample_rate))
    t = np.arange(held) / sample_rate
    a, d = voice.attack, voice.decay
    on = np.interp(t, [0.0, a, a + d], [0.0, 1.0, voice.sustain])  # sustain after a + d
    x = np.arange(1, fall + 1) / fall
    return np.concatenate([on, on[-1] * (1.0 - x) ** 2])  # ends at exactly 0


def render(
    notes: Sequence[Note],
    *,
    length: float = 0.0,
    voice: Voice = Voice(),
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """Mix ``notes`` into mono samples (float64, peak ``PEAK``): as long as ``length`` seconds or the end
    of the last release, whichever is later."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 2000:
        raise ValueError(f"sample_rate must be an int >= 2000 (Hz), got {sample_rate!r}")
    if not notes:
        raise ValueError("notes must hold at least one note to render, got none")
    for n in notes:
        if not (n.start >= 0 and n.duration > 0 and 0 <= n.pitch <= 127 and 0 < n.velocity <= 127):
            raise ValueError(
                f"each note needs start >= 0, duration > 0, pitch 0–127 and velocity 1–127, got {n}"
            )
    end = max(length, *(n.start + n.duration + voice.release for n in notes))
    out = np.zeros(math.ceil(end * sample_rate) + 1)  # (N,)
    nyquist = sample_rate / 2
    for n in notes:
        gain = envelope(n.duration, voice, sample_rate) * (n.velocity / 127)  # (n_note,)
        t = np.arange(gain.size) / sample_rate
        f = frequency(n.pitch)
        tone = sum(
            a * np.sin(2 * np.pi * k * f * t)
            for k, a in enumerate(voice.partials, start=1)
            if k * f < nyquist and a > 0
        )
        first = round(n.start * sample_rate)
        out[first : first + gain.size] += (gain * tone)[: out.size - first]
    peak = float(np.abs(out).max())
    return out * (PEAK / peak) if peak > 0 else out


def wav_bytes(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Mono float samples in [−1, 1] as the bytes of a 16-bit PCM WAV file."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 1:
        raise ValueError(f"samples must be mono, shape (N,), got shape {samples.shape}")
    if samples.size and not (np.isfinite(samples).all() and np.abs(samples).max() <= 1.0):
        raise ValueError(
            f"samples must be finite and within [-1, 1], got peak {float(np.abs(samples).max())}"
        )
    pcm = np.round(samples * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def midi_to_wav(
    midi: str | os.PathLike[str],
    wav: str | os.PathLike[str] | None = None,
    *,
    voice: Voice = Voice(),
    sample_rate: int = SAMPLE_RATE,
) -> Path:
    """Render the MIDI file ``midi`` and write it (atomically) as ``wav`` (default: beside it, ``.wav``)."""
    notes, length = midi_notes(midi)
    if not notes:
        raise ValueError(f"MIDI file {os.fspath(midi)!r} has no notes to render (drums are left out)")
    out = Path(midi).with_suffix(".wav") if wav is None else Path(wav)
    samples = render(notes, length=length, voice=voice, sample_rate=sample_rate)
    atomic_write_bytes(out, wav_bytes(samples, sample_rate))
    return out
