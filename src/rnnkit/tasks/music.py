"""``music``: "from one note, a song". An event-level language model over melodies: Bach chorale soprano
lines (default), Essen folk songs, or your own MIDI files (``--midi DIR``).

Each melody is a sequence of (pitch | rest, duration) events (:mod:`rnnkit.data.music`); the model
(:class:`rnnkit.models.Generator`: embedding → LSTM → next-event logits) predicts every event from the
ones before it. 10% of the melodies are held out for testing and 10% for validation, by tune (all
settings of one hymn tune land in the same split, see :mod:`rnnkit.data.tunes`);
training melodies are transposed by a random shift of up to ±6 semitones each epoch (within the
training pitch range). Reported: per-event perplexity on held-out melodies next to unigram and bigram
Markov models (add-α, fit in the same run; α and whether to fit on the transposed melodies chosen on
validation), and the share of generated notes in the key of the primer (:func:`~rnnkit.data.music.key_share`)
next to the same share for the bigram's samples, for the held-out melodies themselves and for random notes.

    rnnkit train --task music
    rnnkit train --task music --midi my_midi_folder/
    rnnkit generate --task music --prime C4 --steps 64 --out song.mid      # + song.png piano roll
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..train.config import Config, fraction, option
from ..train.trainer import LossOutput
from .base import Task, TaskData, ValSubset


@dataclass
class MusicModelConfig:
    cell: str = option("lstm", "recurrent cell: any registered name (lstm, gru, rnn, urlstm, …)")
    embed_dim: int = option(32, "event embedding size", low=1)
    hidden_size: int = option(256, "hidden units per layer", low=1)
    num_layers: int = option(1, "stacked recurrent layers", low=1)
    dropout: float = option(
        0.2, "dropout on embeddings, between layers and before the output", low=0.0, high=1.0
    )
    backend: str = option("auto", "scan backend (auto picks the fastest usable)")


@dataclass
class MusicDataConfig:
    source: str = option("chorales", "built-in melodies", choices=("chorales", "essen"))
    midi_dir: str | None = option(None, "your own folder of MIDI files (melody = highest note)")
    val_frac: float = fraction(0.1, "share of melodies held out for validation")
    test_frac: float = fraction(0.1, "share of melodies held out for testing")
    split_seed: int = option(0, "seed of the shuffle that splits the melodies")
    transpose: int = option(6, "training melodies are shifted by up to ±N semitones (0 = off)", low=0)
    batch_size: int = option(32, "melodies per batch", low=1)
    max_len: int = option(256, "longer melodies are cut into pieces of this many events", low=2)
    samples: int = option(24, "melodies generated after training for the key-share metric", low=1)
    sample_steps: int = option(64, "events per generated melody", low=1)


class FirstMelodyBatches:
    """The first ``batches`` batches of an evaluation ``MelodyBatches`` (its pieces sorted by length):
    what periodic evaluations capped at ``run.eval_batches`` score, in the same batches."""

    def __init__(self, whole: Any, batches: int) -> None:
        self.whole, self.vocab = whole, whole.vocab
        self._batches = whole.batches(0)[:batches]

    def __len__(self) -> int:
        return len(self._batches)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, ...]]:
        from .music_data import collate

        for batch in self._batches[start:]:
            yield collate(batch)

    def token_sequences(self) -> list[list[int]]:
        """The pieces scored, each ``[first token, …]``: every token after the first is predicted."""
        return [s for batch in self._batches for s in batch]


class MusicTask(Task):
    name = "music"
    summary = "melodies from Bach chorales or --midi DIR: event perplexity vs bigram, key share, MIDI out"
    ModelConfig, DataConfig = MusicModelConfig, MusicDataConfig
    monitor, mode, item_name = "ppl", "min", "events"
    cli_flags: ClassVar[dict[str, tuple[str, str]]] = {
        "--midi": ("data.midi_dir", "music: train on your own folder of MIDI files")
    }
    defaults: ClassVar[dict[str, Any]] = {
        "optim.lr": 3e-3,
        "optim.max_steps": 4000,
        "optim.max_minutes": 8.0,
        "optim.warmup_steps": 100,
        "optim.clip_norm": 1.0,
        "run.eval_every": 100,
        "run.checkpoint_every": 100,
        "run.patience": 8,
    }
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tour": {"optim.max_minutes": 1.0, "optim.max_steps": 1200, "data.samples": 12},
        "smoke": {
            "model.hidden_size": 16,
            "model.embed_dim": 8,
            "model.num_layers": 1,
            "data.samples": 2,
            "data.sample_steps": 8,
            "optim.max_steps": 6,
            "optim.max_minutes": None,
            "optim.warmup_steps": 1,
            "run.eval_every": 3,
            "run.patience": None,
        },
    }

    def __init__(self) -> None:
        self._baselines: dict[int, dict[str, dict[str, dict[str, float]]]] = {}

    def build_data(self, cfg: Config, state: dict[str, Any] | None = None) -> TaskData:
        from ..data.midi import load_midi_folder
        from ..data.music import load_corpus
        from ..data.music_vocab import EventVocab
        from ..data.tunes import split_melodies
        from .music_data import MelodyBatches

        d = cfg.data
        if d.midi_dir:
            melodies = load_midi_folder(d.midi_dir)
        else:
            melodies = load_corpus(d.source, progress=cfg.run.progress)
        train, val, test = split_melodies(melodies, d.val_frac, d.test_frac, d.split_seed)
        if not val or not test:
            raise ValueError(f"{len(melodies)} melodies are too few to hold out validation and test melodies")
        pitches = [e.pitch for m in train for e in m.events if e.pitch is not None]
        low, high = (min(pitches), max(pitches)) if not state else tuple(state["pitch_range"])
        shifts = list(range(-d.transpose, d.transpose + 1))
        vocab = EventVocab.from_json(state["vocab"]) if state else EventVocab.build(train, shifts, low, high)
        kw = {"max_len": d.max_len, "pitch_range": (low, high), "seed": cfg.run.seed}
        sources = {
            "train": MelodyBatches(train, vocab, d.batch_size, shifts=shifts, shuffle=True, **kw),
            "val": MelodyBatches(val, vocab, d.batch_size, **kw),
            "test": MelodyBatches(test, vocab, d.batch_size, **kw),
        }
        n_events = {k: sum(len(m.events) for m in s.melodies) for k, s in sources.items()}
        return TaskData(
            train=sources["train"],
            val=sources["val"],
            test=sources["test"],
            state={"vocab": vocab.to_json(), "pitch_range": [low, high], "shifts": shifts},
            info={
                "melodies": f"{d.midi_dir or d.source}: {len(train)}/{len(val)}/{len(test)} train/val/test",
                "events": f"{n_events['train']:,} / {n_events['val']:,} / {n_events['test']:,}",
                "vocab": len(vocab),
                "unknown held-out events": sum(vocab.unknown(m.events) for m in val + test),
            },
        )

    def build_model(self, cfg: Config, state: dict[str, Any]) -> nn.Module:
        from ..models import Generator

        m = cfg.model
        V = len(state["vocab"]) + 2  # + <s>, <unk>
        return Generator(V, m.embed_dim, m.hidden_size, m.num_layers, m.cell, m.dropout, False, m.backend)

    def loss(self, model: nn.Module, batch: Any, carry: Any = None) -> LossOutput:
        from .music_data import IGNORE

        x, y, lengths = batch  # (B, T), (B, T), (B,)
        logits, _ = model(x, lengths=lengths.cpu())  # (B, T, V)
        loss = F.cross_entropy(
            logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1), ignore_index=IGNORE
        )
        return LossOutput(loss, count=int((y != IGNORE).sum()))

    @torch.no_grad()
    def evaluate(self, model: nn.Module, source: Any, cfg: Config, max_batches: int | None = None) -> dict:
        from .music_data import IGNORE

        device = next(model.parameters()).device
        total, count = 0.0, 0
        for i, (x, y, lengths) in enumerate(source.epoch(0)):
            if max_batches is not None and i >= max_batches:
                break
            logits, _ = model(x.to(device), lengths=lengths)
            y = y.to(device)
            total += float(
                F.cross_entropy(
                    logits.flatten(0, 1).float(), y.flatten(), ignore_index=IGNORE, reduction="sum"
                )
            )
            count += int((y != IGNORE).sum())
        return {"loss": total / count, "ppl": math.exp(total / count)}

    def baselines(self, cfg: Config, data: TaskData, split: str = "val") -> dict[str, dict[str, float]]:
        from .music_data import augmented_sequences, ngram_baselines

        key = id(data)
        if key not in self._baselines:
            tr, vocab = data.train, data.train.vocab
            aug = augmented_sequences(
                tr.melodies, vocab, data.state["shifts"], tuple(data.state["pitch_range"])
            )
            # α and the fit are chosen on the whole validation split (also when scoring a subset of it)
            whole = data.val.whole if isinstance(data.val, FirstMelodyBatches) else data.val
            splits = {k: s for k, s in (("val", data.val), ("test", data.test)) if s is not None}
            self._baselines = {key: ngram_baselines(tr, whole, splits, aug)}
        return self._baselines[key].get(split, {})

    def val_subset(self, cfg: Config, data: TaskData, batches: int) -> ValSubset:
        sub = FirstMelodyBatches(data.val, batches)
        return ValSubset(sub, f"{sum(len(s) - 1 for s in sub.token_sequences()):,}-event")

    def after_training(self, model: nn.Module, cfg: Config, data: TaskData, run_dir: Path) -> dict[str, Any]:
        from .music_report import write_report

        return write_report(model, cfg, data, run_dir)

    def generate(self, run: Any, args: argparse.Namespace) -> int:
        """``rnnkit generate --task music``: a melody after ``--prime``, streamed as events and written to
        ``--out`` (a .mid file, plus its .wav audio and .png piano roll); without ``--out``, to
        :func:`free_song_path` in the current folder, never into the run directory."""
        from ..data.music_vocab import EventVocab
        from .music_report import GENERATE_PRIME, GENERATE_STEPS, GENERATE_TEMPERATURE, compose

        vocab = EventVocab.from_json(run.state["vocab"])
        out = Path(args.out) if args.out else free_song_path()
        if out.suffix.lower() not in (".mid", ".midi"):
            raise ValueError(f"--out must name a .mid file, got {str(out)!r}")
        steps = GENERATE_STEPS if args.steps is None else args.steps
        temperature = GENERATE_TEMPERATURE if args.temperature is None else args.temperature
        summary = compose(
            run.model,
            vocab,
            args.prime or GENERATE_PRIME,
            steps,
            out,
            temperature,
            args.top_k,
            args.top_p,
            args.seed,
            sys.stdout,
        )
        print(summary, file=sys.stderr)
        return 0


def free_song_path(folder: str | Path = ".") -> Path:
    """``song.mid`` in ``folder``, or ``song-2.mid``, ``song-3.mid`` … when it (or its audio or piano
    roll) is taken: where ``rnnkit generate --task music`` writes without ``--out``, never over an earlier
    song."""
    out, k = Path(folder) / "song.mid", 2
    while any(out.with_suffix(ext).exists() for ext in (".mid", ".wav", ".png")):
        out, k = Path(folder) / f"song-{k}.mid", k + 1
    return out
