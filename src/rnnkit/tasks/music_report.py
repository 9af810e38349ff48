"""The ``music`` task's outputs: a melody composed from a primer (streamed, then written as MIDI and a
piano roll), and the report: held-out perplexity against the bigram, and the key share of generated
melodies against the bigram's samples, the held-out melodies and random notes."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from torch import nn

from .._io import atomic_write_text
from ..baselines.ngram import NGramModel
from ..data.music import NOTE_NAMES, Event, best_key, key_share, parse_event
from ..data.music_vocab import BOS, SPECIALS, EventVocab
from ..train.config import Config

PRIMERS = tuple(range(60, 72))  # C4 … B4: the key-share samples start from each pitch class in turn
TEMPO_BPM = 90.0


def parse_primer(text: str, vocab: EventVocab) -> tuple[list[Event], list[str]]:
    """``"C4"``, ``"C4:0.5 E4 G4:2"`` → events the vocabulary knows (the nearest one where it does not),
    and notes about every substitution."""
    words = [w for w in re.split(r"[\s,]+", text.strip()) if w]
    if not words:
        raise ValueError("--prime must name at least one note, e.g. C4 or 'C4:0.5 E4 G4', got nothing")
    events, notes = [], []
    for w in words:
        e = parse_event(w)
        near = vocab.nearest(e)
        if near != e:
            notes.append(f"{e} is not in the model's vocabulary; using {near}")
        events.append(near)
    if all(e.pitch is None for e in events):
        raise ValueError(f"--prime must contain a note, not only rests: {text!r}")
    return events, notes


#: what ``rnnkit generate --task music`` (and ``Run.generate``) plays unless told otherwise
GENERATE_PRIME, GENERATE_STEPS, GENERATE_TEMPERATURE = "C4", 64, 0.9


def sample_melody(
    model: nn.Module,
    vocab: EventVocab,
    prime: str = GENERATE_PRIME,
    steps: int = GENERATE_STEPS,
    temperature: float = GENERATE_TEMPERATURE,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    stream: IO[str] | None = None,
) -> tuple[list[Event], list[Event]]:
    """(the primer's events, the ``steps`` events generated after them), streamed to ``stream`` as they
    come (with a note about every primer event the vocabulary lacks)."""
    primed, notes = parse_primer(prime, vocab)
    if stream is not None:
        for n in notes:
            print(f"note: {n}", file=stream)
        stream.write(" ".join(str(e) for e in primed) + " |")
        stream.flush()
    model.eval()
    ids = [BOS, *(vocab.id(e) for e in primed)]
    generated: list[Event] = []
    for tok in model.generate(ids, steps, temperature, top_k, top_p, seed=seed):
        if tok < len(SPECIALS):
            continue  # <s>/<unk> are never training targets; skipped if ever drawn
        generated.append(vocab.events[tok - len(SPECIALS)])
        if stream is not None:
            stream.write(f" {generated[-1]}")
            stream.flush()
    if stream is not None:
        stream.write("\n")
    return primed, generated


def write_song(primed: list[Event], generated: list[Event], out: Path, prime: str) -> str:
    """Write ``primed + generated`` to ``out`` (MIDI), ``out`` with ``.wav`` (the MIDI rendered to audio)
    and with ``.png`` (piano roll, titled with ``prime``); returns a one-line summary."""
    from ..data.midi import write_midi
    from ..data.synth import midi_to_wav
    from ..plots import plot_pianoroll

    out = Path(out)
    tonic = next(e.pitch for e in primed if e.pitch is not None)
    song = primed + generated
    write_midi(song, out, tempo_bpm=TEMPO_BPM)
    wav = midi_to_wav(out)
    png = out.with_suffix(".png")
    mode, share = (
        best_key(generated, tonic) if any(e.pitch is not None for e in generated) else ("major", 0.0)
    )
    key = f"{NOTE_NAMES[tonic % 12]} {mode}"
    title = f"primer {prime} ({key})"
    plot_pianoroll(
        song, png, prime_count=len(primed), tonic=tonic, mode=mode, title=title, tempo_bpm=TEMPO_BPM
    )
    seconds = sum(e.duration for e in song) * 60 / TEMPO_BPM
    return (
        f"wrote {out} ({len(song)} events, {seconds:.0f} s at {TEMPO_BPM:g} bpm), {wav} and {png}; "
        f"{share:.0%} of the generated notes are in {key}"
    )


def compose(
    model: nn.Module,
    vocab: EventVocab,
    prime: str,
    steps: int,
    out: Path,
    temperature: float = GENERATE_TEMPERATURE,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    stream: IO[str] | None = None,
) -> str:
    """Generate ``steps`` events after ``prime`` (streamed to ``stream`` as they come), write ``out``
    (MIDI) and ``out`` with ``.png`` (piano roll); returns a one-line summary."""
    primed, generated = sample_melody(model, vocab, prime, steps, temperature, top_k, top_p, seed, stream)
    return write_song(primed, generated, out, prime)


def _bigram_samples(train_seqs, V: int, starts: list[list[int]], steps: int, seed: int) -> list[list[int]]:
    """Samples of a bigram Markov chain (add-0.1) from the same primers (special tokens never drawn)."""
    model = NGramModel(2, V, 0.1).fit(train_seqs)
    rng = np.random.default_rng(seed)
    out = []
    for start in starts:
        seq = list(start)
        for _ in range(steps):
            p = model.distribution(seq[-1:])
            p[: len(SPECIALS)] = 0.0
            seq.append(int(rng.choice(V, p=p / p.sum())))
        out.append(seq[len(start) :])
    return out


def key_shares(model: nn.Module, cfg: Config, data: Any) -> dict[str, float]:
    """Mean key share of the network's samples, the bigram's samples from the same primers, the
    held-out melodies (tonic = their first note) and uniformly random notes."""
    d, vocab = cfg.data, data.train.vocab
    primers = [vocab.nearest(Event(PRIMERS[i % len(PRIMERS)], 1.0)) for i in range(d.samples)]
    starts = [[BOS, vocab.id(e)] for e in primers]
    model.eval()
    with torch.no_grad():
        ours = model.sample(starts, d.sample_steps, 1.0, seed=cfg.run.seed)  # (N, steps)
    bigram = _bigram_samples(data.train.token_sequences(), len(vocab), starts, d.sample_steps, cfg.run.seed)

    def share(rows) -> float:
        vals = []
        for p, row in zip(primers, rows, strict=True):
            events = vocab.decode(row)
            if any(e.pitch is not None for e in events):
                vals.append(key_share(events, p.pitch))
        return float(np.mean(vals)) if vals else 0.0

    held = [m.events for m in data.test.melodies + data.val.melodies]
    rng = np.random.default_rng(cfg.run.seed)
    random_notes = [[Event(int(p), 1.0) for p in rng.integers(60, 72, d.sample_steps)] for _ in primers]
    return {
        "network": share(ours.tolist()),
        "bigram": share(bigram),
        "held-out melodies": float(np.mean([key_share(ev[1:], ev[0].pitch) for ev in held if ev[0].pitch])),
        "random notes": float(
            np.mean([key_share(r, p.pitch) for r, p in zip(random_notes, primers, strict=True)])
        ),
    }


def write_report(model: nn.Module, cfg: Config, data: Any, run_dir: Path) -> dict[str, Any]:
    from .registry import get_task

    task = get_task("music")
    model.eval()
    ppl = task.evaluate(model, data.test, cfg)["ppl"]
    base = task.baselines(cfg, data, "test")
    bigram = base["bigram"]["ppl"]
    verdict = (
        f"held-out perplexity per event: network {ppl:.2f} vs bigram {bigram:.2f} "
        f"(unigram {base['unigram']['ppl']:.2f}): {'lower' if ppl < bigram else 'NOT lower'} than the bigram"
    )
    shares = key_shares(model, cfg, data)
    line = compose(
        model, data.train.vocab, "C4", cfg.data.sample_steps, run_dir / "sample.mid", seed=cfg.run.seed
    ).replace(f"{run_dir}{os.sep}", "")
    rows = "\n".join(f"| {k} | {v:.3f} |" for k, v in shares.items())
    text = (
        f"# music: melodies, held-out test\n\n{verdict}.\n\n"
        f"Share of notes in the key of the primer ({cfg.data.samples} melodies of "
        f"{cfg.data.sample_steps} events from primers C4 … B4; key = the major or harmonic-minor scale "
        "on the primer, whichever fits better):\n\n"
        f"| melodies | key share |\n|---|---|\n{rows}\n\n"
        f"Sample from C4: sample.mid, sample.wav, sample.png ({line}).\n"
    )
    atomic_write_text(run_dir / "music.md", text)
    payload = {"verdict": verdict, "ppl": ppl, "baselines": base, "key_share": shares}
    atomic_write_text(run_dir / "music.json", json.dumps(payload, indent=2) + "\n")
    print(f"\n{verdict}\nkey share: " + ", ".join(f"{k} {v:.2f}" for k, v in shares.items()))
    return {
        "verdict": verdict,
        "lower_than_bigram": ppl < bigram,
        "key_share": shares,
        "midi": "sample.mid",
        "audio": "sample.wav",
        "pianoroll": "sample.png",
        "report": "music.md",
    }
