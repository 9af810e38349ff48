"""The trainer: clipping (by norm and by value, with the true pre-clip norm logged), early stopping,
limits, outputs, and an overfit check."""

from __future__ import annotations

import copy
import importlib
import math

import pytest
import torch
from torch import nn

from rnnkit.train import DivergenceError, LRSchedule, OptimConfig, RunConfig, Trainer, read_jsonl
from rnnkit.train.plan import StepPlan
from train_helpers import Rows, TinyTagger, batches, lm_loss, one_thread  # noqa: F401


def quiet(**kw) -> RunConfig:
    return RunConfig(progress=False, plot=False, **kw)


def sgd(**kw) -> OptimConfig:
    """Plain SGD with lr 1: the update equals the (clipped) gradient."""
    base = dict(optimizer="sgd", lr=1.0, momentum=0.0, weight_decay=0.0, warmup_steps=0, schedule="constant")
    return OptimConfig(**(base | kw))


def manual_grads(model: nn.Module, batch) -> list[torch.Tensor]:
    twin = copy.deepcopy(model)
    twin.zero_grad()
    lm_loss(twin, batch, None).loss.backward()
    return [p.grad.clone() for p in twin.parameters()]


def one_step(model: nn.Module, batch, optim: OptimConfig) -> tuple[list[torch.Tensor], dict]:
    before = [p.detach().clone() for p in model.parameters()]
    rows = Rows()
    Trainer(model, lm_loss, [batch], optim=optim, run=quiet(), callbacks=[rows]).fit()
    deltas = [b - p.detach() for b, p in zip(before, model.parameters(), strict=True)]
    return deltas, rows.train[0]


def total_norm(ts: list[torch.Tensor]) -> float:
    return math.sqrt(sum(float(t.double().pow(2).sum()) for t in ts))


def test_clip_norm_bounds_the_update_and_logs_the_true_norm():
    model, batch = TinyTagger(), batches(1)[0]
    true_norm = total_norm(manual_grads(model, batch))
    clip = true_norm / 4
    deltas, row = one_step(model, batch, sgd(max_steps=1, clip_norm=clip))
    assert row["grad_norm"] == pytest.approx(true_norm, rel=1e-5)  # logged BEFORE clipping
    assert row["clipped"] is True
    assert total_norm(deltas) == pytest.approx(clip, rel=1e-4)  # the applied update is bounded


def test_no_clipping_applies_the_raw_gradient():
    model, batch = TinyTagger(), batches(1)[0]
    grads = manual_grads(model, batch)
    deltas, row = one_step(model, batch, sgd(max_steps=1, clip_norm=None))
    assert row["clipped"] is False
    assert row["grad_norm"] == pytest.approx(total_norm(grads), rel=1e-5)
    for d, g in zip(deltas, grads, strict=True):
        torch.testing.assert_close(d, g, atol=1e-6, rtol=1e-5)


def test_clip_value_bounds_every_element():
    model, batch = TinyTagger(), batches(1)[0]
    grads = manual_grads(model, batch)
    limit = 0.25 * max(float(g.abs().max()) for g in grads)
    deltas, row = one_step(model, batch, sgd(max_steps=1, clip_norm=None, clip_value=limit))
    assert row["grad_norm"] == pytest.approx(total_norm(grads), rel=1e-5)  # the true, unclipped norm
    assert row["clipped"] is True
    for d, g in zip(deltas, grads, strict=True):
        torch.testing.assert_close(d, g.clamp(-limit, limit), atol=1e-6, rtol=1e-5)
    assert max(float(d.abs().max()) for d in deltas) == pytest.approx(limit, rel=1e-5)


def test_clip_value_then_norm():
    """Both set: clamp by value FIRST, then scale the clamped gradients to the norm. The update is the
    clamped gradient's direction, not the raw gradient's — norm-then-value (the swapped order) would
    leave the raw direction, since after scaling no element reaches the value limit."""
    model, batch = TinyTagger(), batches(1)[0]
    grads = manual_grads(model, batch)
    limit = 0.25 * max(float(g.abs().max()) for g in grads)
    clipped = [g.clamp(-limit, limit) for g in grads]
    clip = total_norm(clipped) / 3
    deltas, row = one_step(model, batch, sgd(max_steps=1, clip_norm=clip, clip_value=limit))
    assert row["grad_norm"] == pytest.approx(total_norm(grads), rel=1e-5)
    assert row["clipped"] is True
    assert total_norm(deltas) == pytest.approx(clip, rel=1e-4)
    scale = clip / total_norm(clipped)
    swapped = [(g * (clip / total_norm(grads))).clamp(-limit, limit) for g in grads]
    gap = max(float((s - c * scale).abs().max()) for s, c in zip(swapped, clipped, strict=True))
    assert gap > 1e-3 * limit  # the two orders differ here, so the check below tells them apart
    for d, c in zip(deltas, clipped, strict=True):  # value first, then norm: the clamped direction
        torch.testing.assert_close(d, c * scale, atol=1e-6, rtol=1e-4)


def test_clipped_flag_reports_a_norm_clip_when_a_value_limit_is_also_set():
    """With both limits set and only the norm one binding, ``clipped`` is still True (a flag that
    looked only at the value clamp would say False); with neither binding it is False."""
    model, batch = TinyTagger(), batches(1)[0]
    grads = manual_grads(model, batch)
    loose = 2.0 * max(float(g.abs().max()) for g in grads)  # the value clamp changes nothing
    clip = total_norm(grads) / 4
    deltas, row = one_step(copy.deepcopy(model), batch, sgd(max_steps=1, clip_norm=clip, clip_value=loose))
    assert row["clipped"] is True
    assert total_norm(deltas) == pytest.approx(clip, rel=1e-4)
    deltas, row = one_step(
        copy.deepcopy(model), batch, sgd(max_steps=1, clip_norm=4 * total_norm(grads), clip_value=loose)
    )
    assert row["clipped"] is False
    for d, g in zip(deltas, grads, strict=True):
        torch.testing.assert_close(d, g, atol=1e-6, rtol=1e-5)


def test_lr_schedule_warmup_cosine_linear_and_time_budget():
    s = LRSchedule(OptimConfig(lr=1.0, warmup_steps=10, max_steps=110, min_lr_ratio=0.1))
    assert s(0) == pytest.approx(0.1) and s(9) == pytest.approx(1.0)
    assert s(10) == pytest.approx(1.0)
    assert s(60) == pytest.approx(0.1 + 0.9 * 0.5)  # half-way through the cosine
    assert s(110) == pytest.approx(0.1) and s(500) == pytest.approx(0.1)
    lin = LRSchedule(OptimConfig(lr=2.0, warmup_steps=0, max_steps=100, schedule="linear", min_lr_ratio=0.0))
    assert lin(25) == pytest.approx(1.5)
    budget = OptimConfig(lr=1.0, warmup_steps=10, max_steps=10**6, max_minutes=1.0, min_lr_ratio=0.0)
    timed = LRSchedule(budget)
    assert timed(4) == pytest.approx(0.5) and timed(50) == 1.0  # before the plan: warm-up, then the peak
    plan = StepPlan(steps=110, decay_start=10, step_seconds=0.1, planned_at=10)
    assert timed(9, plan) == pytest.approx(1.0) and timed(10, plan) == pytest.approx(1.0)  # no jump
    assert timed(60, plan) == pytest.approx(0.5)  # half-way through the planned cosine
    assert timed(4, plan) == timed(4)  # the plan never changes what warm-up computes
    assert LRSchedule(OptimConfig(lr=0.3, warmup_steps=0, schedule="constant"))(999) == 0.3


def test_early_stopping_stops_and_keeps_the_best():
    values = iter([3.0, 2.0, 2.5, 2.4, 2.6, 1.0, 0.5])
    trainer = Trainer(
        TinyTagger(),
        lm_loss,
        batches(),
        evaluate_fn=lambda model, n: {"loss": next(values)},
        optim=OptimConfig(max_steps=50),
        run=quiet(eval_every=1, patience=3),
    )
    result = trainer.fit()
    assert result.stop_reason == "early_stopping"
    assert result.steps == 5  # 3.0, 2.0 (best), then three evaluations without improvement
    assert result.best == 2.0 and result.best_step == 2


def test_limits_epochs_and_time():
    r = Trainer(
        TinyTagger(), lm_loss, batches(3), optim=OptimConfig(max_steps=100, max_epochs=2), run=quiet()
    ).fit()
    assert (r.steps, r.stop_reason) == (6, "max_epochs")
    # the time budget on a driven clock (1 s a reading), so a loaded machine cannot change the outcome
    trainer = Trainer(
        TinyTagger(), lm_loss, batches(3), optim=OptimConfig(max_steps=10**6, max_minutes=5 / 60), run=quiet()
    )
    ticks = iter(range(10**6))
    trainer.clock = lambda: float(next(ticks))
    r = trainer.fit()
    assert r.stop_reason == "max_minutes" and 1 <= r.steps <= 5 and 5 <= r.elapsed <= 10


def test_backends_load_before_the_clock_starts(monkeypatch):
    """The fused kernels compile on first use (about a minute): that must not come out of the budget."""
    backends = importlib.import_module("rnnkit.scan.backends")  # the package re-exports a function `backends`
    events: list[str] = []
    monkeypatch.setattr(backends, "backend_status", lambda: events.append("load") or {})

    def clock() -> float:
        events.append("clock")
        return float(len(events))

    trainer = Trainer(TinyTagger(), lm_loss, batches(1), optim=OptimConfig(max_steps=1), run=quiet())
    trainer.clock = clock
    trainer.fit()
    assert events[0] == "load" and events.count("load") == 1 and "clock" in events
    # a model without rnnkit layers (or with only backend="reference" ones) compiles nothing
    events.clear()
    model = TinyTagger()
    model.rnn.backend = "reference"
    Trainer(model, lm_loss, batches(1), optim=OptimConfig(max_steps=1), run=quiet()).fit()
    assert events == []


def test_trainer_overfits_a_tiny_batch():
    torch.manual_seed(0)
    model, data = TinyTagger(hidden=32), batches(1)
    first = float(lm_loss(model, data[0], None).loss.detach())
    optim = OptimConfig(lr=3e-2, max_steps=150, warmup_steps=0, weight_decay=0.0)
    Trainer(model, lm_loss, data, optim=optim, run=quiet()).fit()
    assert float(lm_loss(model, data[0], None).loss.detach()) <= 0.1 * first


def test_run_dir_outputs_and_eval_rows(tmp_path):
    rows = Rows()
    optim = OptimConfig(max_steps=6)
    trainer = Trainer(
        TinyTagger(),
        lm_loss,
        batches(),
        batches(2, seed=9),
        optim=optim,
        run=RunConfig(progress=False, eval_every=3),
        run_dir=tmp_path,
        callbacks=[rows],
        monitor="bpc",
        tbptt=True,
    )
    result = trainer.fit()
    logged = read_jsonl(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in logged if r["split"] == "train"] == [1, 2, 3, 4, 5, 6]
    val = [r for r in logged if r["split"] == "val"]
    assert [r["step"] for r in val] == [3, 6] and val == rows.val
    assert val[0]["bpc"] == pytest.approx(val[0]["loss"] / math.log(2))
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "checkpoints" / "last.safetensors").exists()
    assert (tmp_path / "checkpoints" / "best.safetensors").exists()
    assert result.best == min(r["bpc"] for r in val)


def test_non_finite_loss_raises_and_keeps_the_last_weights(tmp_path):
    def bad_loss(model, batch, state):
        out = lm_loss(model, batch, state)
        if bad_loss.calls >= 2:
            out.loss = out.loss * float("nan")
        bad_loss.calls += 1
        return out

    bad_loss.calls = 0
    run = quiet(checkpoint_every=1)
    trainer = Trainer(
        TinyTagger(), bad_loss, batches(), optim=OptimConfig(max_steps=5), run=run, run_dir=tmp_path
    )
    with pytest.raises(DivergenceError, match="diverged at step 3: the loss became nan") as e:
        trainer.fit()
    from rnnkit.train import read_meta

    assert e.value.step == 3 and e.value.path == tmp_path / "checkpoints" / "diverged.safetensors"
    assert "'last' (step 2)" in str(e.value)
    assert read_meta(tmp_path / "checkpoints" / "last.safetensors")["trainer"]["step"] == 2


def test_bf16_autocast_on_cpu_trains():
    """amp="bf16": every training forward (and the evaluation) runs under CPU bf16 autocast — the
    logits come out in bfloat16 — while the weights and their updates stay float32. A trainer that
    dropped the autocast would give float32 logits here; amp="off" must give float32."""
    seen: list[tuple[str, bool, torch.dtype]] = []

    def probing_loss(model, batch, state):
        out = lm_loss(model, batch, state)
        logits, _ = model(batch[0])
        seen.append(("train" if model.training else "eval", torch.is_autocast_enabled("cpu"), logits.dtype))
        return out

    model = TinyTagger()
    before = [p.detach().clone() for p in model.parameters()]
    data = batches()
    r = Trainer(
        model, probing_loss, data, val_data=data[:1], optim=OptimConfig(max_steps=2), run=quiet(amp="bf16")
    ).fit()
    assert r.steps == 2
    train = [s for s in seen if s[0] == "train"]
    assert len(train) == 2 and all(s[1:] == (True, torch.bfloat16) for s in train), seen
    evals = [s for s in seen if s[0] == "eval"]
    assert evals and all(s[1:] == (True, torch.bfloat16) for s in evals), seen
    for b, p in zip(before, model.parameters(), strict=True):
        assert p.dtype == torch.float32 and not torch.equal(b, p.detach())  # trained, still float32
    seen.clear()
    Trainer(TinyTagger(), probing_loss, data, optim=OptimConfig(max_steps=1), run=quiet(amp="off")).fit()
    assert [s[1:] for s in seen if s[0] == "train"] == [(False, torch.float32)], seen


def test_bad_arguments():
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        Trainer("model", lm_loss, batches())
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        Trainer(TinyTagger(), lm_loss, batches(), mode="best")
    with pytest.raises(TypeError, match="one-shot iterator"):
        Trainer(TinyTagger(), lm_loss, iter(batches()))
    with pytest.raises(ValueError, match="fp16"):
        Trainer(TinyTagger(), lm_loss, batches(), run=quiet(amp="fp16", device="cpu"))
