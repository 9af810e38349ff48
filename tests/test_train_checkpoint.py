"""Checkpoints: safetensors without pickle, tied weights, and kill-and-resume ≡ uninterrupted (weights
compared exactly), with shuffled loaders, dropout and carried TBPTT state."""

from __future__ import annotations

import json
import os
import signal
import struct

import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rnnkit.train import Callback, OptimConfig, RunConfig, Trainer, load_checkpoint, load_weights, read_jsonl
from rnnkit.train.checkpoint import save_checkpoint
from train_helpers import TinyTagger, batches, lm_loss, one_thread  # noqa: F401


class StopAt(Callback):
    """Simulates a kill after ``k`` steps: either a clean stop request or an exception."""

    def __init__(self, k: int, crash: bool = False) -> None:
        self.k, self.crash = k, crash

    def on_step_end(self, trainer, row):
        if trainer.step == self.k:
            if self.crash:
                raise RuntimeError("simulated crash")
            trainer.request_stop("interrupted")


def shuffled_loader() -> DataLoader:
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 7, (10, 5), generator=g)
    return DataLoader(TensorDataset(x, torch.roll(x, -1, dims=1)), batch_size=3, shuffle=True)


def make_trainer(kind: str, run_dir, callbacks=()) -> Trainer:
    torch.manual_seed(0)
    model = TinyTagger(hidden=10, layers=2, dropout=0.3)  # dropout: the RNG state must be restored
    data = shuffled_loader() if kind == "loader" else batches(4)
    optim = OptimConfig(max_steps=13, warmup_steps=3, lr=1e-2)  # crosses epoch boundaries
    run = RunConfig(progress=False, plot=False, eval_every=4, checkpoint_every=5, seed=5)
    return Trainer(
        model,
        lm_loss,
        data,
        batches(2, seed=4),
        optim=optim,
        run=run,
        run_dir=run_dir,
        tbptt=kind == "stream",  # the carried state must be restored too
        callbacks=callbacks,
        extra={"note": "kept"},
    )


@pytest.mark.parametrize("kind", ["loader", "stream"])
@pytest.mark.parametrize("crash", [False, True])
def test_resume_equals_uninterrupted(tmp_path, kind, crash):
    full = make_trainer(kind, tmp_path / "full")
    full_result = full.fit()
    killed = make_trainer(kind, tmp_path / "killed", callbacks=[StopAt(7, crash)])
    if crash:
        with pytest.raises(RuntimeError, match="simulated crash"):
            killed.fit()
    else:
        assert killed.fit().stop_reason == "interrupted"
    torch.manual_seed(1234)  # a different global RNG state: resuming must restore its own
    resumed = make_trainer(kind, tmp_path / "killed")
    result = resumed.fit(resume=tmp_path / "killed")
    assert result.steps == full_result.steps == 13 and result.stop_reason == "max_steps"
    for (name, a), (_, b) in zip(
        full.model.state_dict().items(), resumed.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    for a, b in zip(full.optimizer.state.values(), resumed.optimizer.state.values(), strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert result.best == full_result.best and result.best_step == full_result.best_step
    rows = [
        {k: v for k, v in r.items() if k not in ("time", "items_per_s")}
        for r in read_jsonl(tmp_path / "killed" / "metrics.jsonl")
    ]
    ref = [
        {k: v for k, v in r.items() if k not in ("time", "items_per_s")}
        for r in read_jsonl(tmp_path / "full" / "metrics.jsonl")
    ]
    assert rows == ref  # the log holds each step once, with the same losses


def test_resume_after_hard_kill_drops_rows_past_the_checkpoint(tmp_path):
    """A SIGKILL leaves the last periodic checkpoint (step 5) and log rows up to step 7."""
    full = make_trainer("stream", tmp_path / "full")
    full.fit()
    killed = make_trainer("stream", tmp_path / "killed", callbacks=[StopAt(7)])
    killed.fit()
    ck = load_checkpoint(tmp_path / "killed" / "checkpoints" / "last.safetensors")
    assert ck.meta["trainer"]["step"] == 7
    # replace 'last' with the periodic state of step 5, as a hard kill at step 7 would leave it
    replay = make_trainer("stream", tmp_path / "replay", callbacks=[StopAt(5)])
    replay.fit()
    os.replace(
        tmp_path / "replay" / "checkpoints" / "last.safetensors",
        tmp_path / "killed" / "checkpoints" / "last.safetensors",
    )
    resumed = make_trainer("stream", tmp_path / "killed")
    resumed.fit(resume=tmp_path / "killed")
    for a, b in zip(full.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)
    steps = [r["step"] for r in read_jsonl(tmp_path / "killed" / "metrics.jsonl") if r["split"] == "train"]
    assert steps == list(range(1, 14))


def test_sigint_stops_cleanly_and_saves(tmp_path):
    class Interrupt(Callback):
        def on_step_end(self, trainer, row):
            if trainer.step == 2:
                os.kill(os.getpid(), signal.SIGINT)

    # Python's handler, as in a terminal (a pytest started in the background inherits SIG_IGN)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        trainer = make_trainer("loader", tmp_path / "a", callbacks=[Interrupt()])
        result = trainer.fit()
        assert result.stop_reason == "interrupted" and result.steps == 2
        assert load_checkpoint(tmp_path / "a/checkpoints/last.safetensors").meta["trainer"]["step"] == 2
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
        # an ignored SIGINT (nohup, a script's background job) stays ignored: the run goes on
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        result = make_trainer("loader", tmp_path / "b", callbacks=[Interrupt()]).fit()
        assert result.stop_reason != "interrupted" and result.steps > 2
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_checkpoint_is_plain_safetensors_without_pickle(tmp_path):
    trainer = make_trainer("stream", tmp_path)
    trainer.fit()
    path = tmp_path / "checkpoints" / "last.safetensors"
    raw = path.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len])  # a JSON header then raw tensor bytes: no code to run
    meta = json.loads(header["__metadata__"]["rnnkit"])
    assert meta["trainer"]["step"] == 13 and meta["extra"] == {"note": "kept"}
    tensors = load_file(path)
    assert {k.split("/")[0] for k in tensors} == {"model", "optim", "carry", "rng"}
    weights = load_weights(path)
    fresh = TinyTagger(hidden=10, layers=2, dropout=0.3)
    fresh.load_state_dict(weights)
    for a, b in zip(fresh.parameters(), trainer.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_tied_weights_round_trip(tmp_path):
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(5, 4)
            self.head = nn.Linear(4, 5, bias=False)
            self.head.weight = self.emb.weight

    model = Tied()
    save_checkpoint(tmp_path / "t.safetensors", model)
    weights = load_weights(tmp_path / "t.safetensors")
    assert torch.equal(weights["emb.weight"], weights["head.weight"])
    other = Tied()
    other.load_state_dict(weights)
    assert other.head.weight is other.emb.weight and torch.equal(other.emb.weight, model.emb.weight)


def test_loading_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.safetensors")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, tmp_path / "plain.safetensors")
    with pytest.raises(ValueError, match="not an rnnkit checkpoint"):
        load_checkpoint(tmp_path / "plain.safetensors")


def test_atomic_writes_respect_the_umask(tmp_path):
    import os

    from rnnkit._io import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "hello")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").read_text() == "hello"
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
