"""The `music` task on a user's MIDI folder: batches and transposition, n-gram baselines on the same
predictions, learning beyond the bigram, the report, and `generate` writing a playable MIDI + piano roll."""

from __future__ import annotations

import argparse
import itertools
import json
import math

import pytest
import torch

from rnnkit.baselines.ngram import NGramModel
from rnnkit.data.midi import load_midi_folder, read_midi, write_midi
from rnnkit.data.music import Event, Melody, clean_events, key_share, parse_event
from rnnkit.data.music_vocab import BOS, EventVocab
from rnnkit.data.tunes import split_melodies
from rnnkit.tasks import get_task, load_run, resolve_config, train
from rnnkit.tasks.music_data import IGNORE, MelodyBatches, ngram_nll
from rnnkit.tasks.music_report import parse_primer
from train_helpers import one_thread  # noqa: F401


def motif(tonic: int, repeats: int = 8, up: int = 2, down: int = 4) -> list[Event]:
    """tonic, tonic+up, tonic, tonic+down, … : after the tonic the next note alternates, which a bigram
    cannot know and a recurrent network can."""
    cycle = [(tonic, 0.5), (tonic + up, 1.0), (tonic, 0.5), (tonic + down, 1.0)]
    return [Event(p, d) for p, d in cycle * repeats]


@pytest.fixture
def midi_dir(tmp_path):
    folder = tmp_path / "midi"
    steps = (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5)
    pairs = [(a, b) for a in steps for b in steps if a < b]
    pairs = pairs[::3] + pairs[1::3]
    for i, (a, b) in enumerate(pairs):  # 30 distinct tunes (the split is by tune)
        write_midi(motif(60 + i % 5, up=a, down=b), folder / f"tune{i:02d}.mid")
    return folder


def test_batches_shift_within_the_range_and_keep_the_order():
    m = [Melody("a", tuple(motif(60, 2))), Melody("b", tuple(motif(64, 3)))]
    vocab = EventVocab.build(m, range(-2, 3), 58, 70)
    train = MelodyBatches(m, vocab, 2, shifts=range(-2, 3), pitch_range=(58, 70), shuffle=True, seed=1)
    assert train.options == [[-2, -1, 0, 1, 2], [-2, -1, 0, 1, 2]]
    x, y, lengths = next(train.epoch(0))
    assert sorted(lengths.tolist()) == [8, 12]
    for b in range(2):
        n = int(lengths[b])
        assert x[b, 0] == BOS and torch.equal(x[b, 1:n], y[b, : n - 1]) and (y[b, n:] == IGNORE).all()
    again = [t.tolist() for t in next(train.epoch(0))]
    assert again == [t.tolist() for t in (x, y, lengths)]  # the epoch's draw depends on (seed, epoch) only
    draws = {tuple(next(train.epoch(e))[0][0, 1:3].tolist()) for e in range(12)}
    assert len(draws) > 1  # a new transposition (or order) in other epochs
    plain = MelodyBatches(m, vocab, 2, max_len=5)
    assert len(plain) == 3  # 8 and 12 events → 2 + 3 pieces of <= 5 events, 2 per batch


def test_ngram_scores_every_event_after_the_start():
    seqs = [[BOS, 2, 3, 2], [BOS, 3]]
    model = NGramModel(2, 4, alpha=1.0).fit(seqs)
    nll, n = ngram_nll(model, seqs)
    assert n == 4
    expect = -sum(math.log(model.prob([a], b)) for s in seqs for a, b in itertools.pairwise(s))
    assert nll == pytest.approx(expect)


def test_primer_parsing():
    vocab = EventVocab([Event(60, 1.0), Event(64, 0.5), Event(None, 1.0)])
    assert parse_primer("C4", vocab) == ([Event(60, 1.0)], [])
    events, notes = parse_primer("C4:0.75, E4:0.5", vocab)
    assert (
        events == [Event(60, 1.0), Event(64, 0.5)] and "C4:0.75 is not in the model's vocabulary" in notes[0]
    )
    with pytest.raises(ValueError, match="not only rests"):
        parse_primer("rest", vocab)


def test_music_task_learns_beyond_the_bigram_and_generates_midi(tmp_path, midi_dir, capsys):
    overrides = {
        "run.out_dir": str(tmp_path),
        "run.progress": False,
        "run.plot": False,
        "data.midi_dir": str(midi_dir),
        "data.transpose": 2,
        "data.batch_size": 8,
        "model.hidden_size": 24,
        "optim.max_steps": 150,
        "optim.lr": 1e-2,
        "run.eval_every": 75,
    }
    s = train(resolve_config("music", preset="smoke", overrides=overrides), echo=lambda _: None)
    assert s.info["melodies"].endswith("24/3/3 train/val/test")
    test, base = s.metrics["test"], s.baselines["test"]
    assert set(base) == {"unigram", "bigram"} and base["bigram"]["ppl"] < base["unigram"]["ppl"]
    assert test["ppl"] < base["bigram"]["ppl"]  # it remembers more than the previous note
    assert test["ppl"] == pytest.approx(math.exp(test["loss"]))
    summary = json.loads((s.run_dir / "summary.json").read_text())
    assert summary["artifacts"]["lower_than_bigram"] is True
    assert set(summary["artifacts"]["key_share"]) == {
        "network",
        "bigram",
        "held-out melodies",
        "random notes",
    }
    # the held-out reference: the key share of the held-out melodies, tonic = their first note
    _, val, held = split_melodies(load_midi_folder(midi_dir), 0.1, 0.1, 0)
    expect = sum(key_share(m.events[1:], m.events[0].pitch) for m in held + val) / len(held + val)
    assert summary["artifacts"]["key_share"]["held-out melodies"] == pytest.approx(expect)
    for name in ("music.md", "sample.mid", "sample.png"):
        assert (s.run_dir / name).exists(), name
    run = load_run(s.run_dir)
    out = tmp_path / "song.mid"
    args = argparse.Namespace(
        prime="D4", steps=12, temperature=1.0, top_k=None, top_p=None, seed=3, out=str(out)
    )
    capsys.readouterr()
    assert get_task("music").generate(run, args) == 0
    printed = capsys.readouterr()
    assert out.exists() and out.with_suffix(".png").exists()
    assert "of the generated notes are in D" in printed.err
    # what streamed to the terminal is exactly what the MIDI file plays
    events = [parse_event(w) for w in printed.out.replace("|", " ").split()]
    assert events[0] == Event(62, 1.0) and read_midi(out) == clean_events(events) and len(events) <= 13
    with pytest.raises(ValueError, match=r"--out must name a \.mid file"):
        get_task("music").generate(run, argparse.Namespace(**{**vars(args), "out": str(tmp_path / "x.wav")}))
