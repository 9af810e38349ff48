"""Reproducibility and divergence: the learning rate is a function of the step and a plan fixed once (a
time budget decides how many steps, never what a step computes), and a diverging run stops with a clear
error, leaving its last and best checkpoints as they were."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file

from rnnkit.train import (
    DivergenceError,
    OptimConfig,
    RunConfig,
    Trainer,
    load_checkpoint,
    read_jsonl,
    read_meta,
)
from rnnkit.train.divergence import DivergenceMonitor
from rnnkit.train.plan import StepPlan, replan, round_down, timed_plan
from train_helpers import TinyTagger, batches, lm_loss, one_thread  # noqa: F401


def quiet(**kw) -> RunConfig:
    return RunConfig(progress=False, plot=False, **kw)


class FakeClock:
    """A wall clock that advances ``tick`` seconds at every reading: the trainer reads it a fixed number
    of times per step, so the 'measured' speed, and with it a time budget's plan, is deterministic."""

    def __init__(self, tick: float) -> None:
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def tensors(path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(str(path)).items() if not k.startswith("rng/")}


def assert_same_checkpoint(a, b) -> None:
    ta, tb = tensors(a), tensors(b)
    assert ta.keys() == tb.keys()
    differ = [k for k in ta if not torch.equal(ta[k], tb[k])]
    assert not differ, f"{len(differ)} of {len(ta)} tensors differ, e.g. {differ[:3]}"


def make(run_dir, *, clock=None, callbacks=(), loss=lm_loss, **optim) -> Trainer:
    kw = dict(max_steps=60, warmup_steps=10, lr=3e-2) | optim
    trainer = Trainer(
        TinyTagger(),
        loss,
        batches(6),
        batches(2, seed=5),
        optim=OptimConfig(**kw),
        run=quiet(eval_every=7, checkpoint_every=5),
        run_dir=run_dir,
        callbacks=callbacks,
    )
    if clock is not None:
        trainer.clock = clock
    return trainer


# -- the plan ---------------------------------------------------------------------------------------------
def test_timed_plan_fills_the_budget_left_after_the_plan_step():
    plan = timed_plan(max_steps=10**6, max_minutes=1.0, eval_every=100, planned_at=10, elapsed_at=5.0,
                      step_seconds=0.01, eval_seconds=1.0)  # fmt: skip
    # 0.97 of the 55 s left at 0.01 s a step + 1 s every 100 steps = 2,667 more steps; 3 figures
    assert (plan.steps, plan.decay_start, plan.timed) == (2670, 10, True)
    capped = timed_plan(max_steps=500, max_minutes=1.0, eval_every=None, planned_at=10, elapsed_at=5.0,
                        step_seconds=0.01, eval_seconds=0.0)  # fmt: skip
    assert capped.steps == 500
    spent = timed_plan(max_steps=500, max_minutes=0.05, eval_every=None, planned_at=10, elapsed_at=9.0,
                       step_seconds=0.01, eval_seconds=0.0)  # fmt: skip
    assert spent.steps == 10  # the budget is gone: the run ends where it planned
    assert [round_down(n) for n in (7, 999, 1234, 98765)] == [7, 999, 1230, 98700]
    with pytest.raises(ValueError, match="step_seconds must be a positive number, got 0"):
        timed_plan(max_steps=5, max_minutes=1.0, eval_every=None, planned_at=1, elapsed_at=0.0,
                   step_seconds=0.0, eval_seconds=0.0)  # fmt: skip


def test_replan_uses_the_recorded_timings_not_the_clock():
    plan = timed_plan(max_steps=10**6, max_minutes=1.0, eval_every=100, planned_at=10, elapsed_at=5.0,
                      step_seconds=0.01, eval_seconds=1.0)  # fmt: skip
    assert replan(plan, max_steps=10**6, max_minutes=1.0, eval_every=100) is plan
    longer = replan(plan, max_steps=10**6, max_minutes=2.0, eval_every=100)
    assert longer.steps == round_down(10 + int(0.97 * 115.0 / 0.02)) and longer.step_seconds == 0.01
    assert replan(plan, max_steps=10**6, max_minutes=None, eval_every=100).steps == 10**6
    assert StepPlan.from_dict(longer.to_dict()) == longer


# -- same seed → same weights, with or without a budget, interrupted or not --------------------------------
def test_same_seed_twice_is_bit_identical_with_a_time_budget(tmp_path):
    """A generous budget plans max_steps; the clock must not leak into any step (it used to, through the
    schedule's progress, so two such runs differed in most tensors)."""
    runs = {}
    for name, minutes in (("a", 30.0), ("b", 30.0), ("no-budget", None)):
        torch.manual_seed(0)
        r = make(tmp_path / name, max_minutes=minutes).fit()
        assert r.steps == 60 and r.plan["steps"] == 60
        runs[name] = tmp_path / name / "checkpoints"
    for kind in ("last", "best"):
        assert_same_checkpoint(runs["a"] / f"{kind}.safetensors", runs["b"] / f"{kind}.safetensors")
        assert_same_checkpoint(runs["a"] / f"{kind}.safetensors", runs["no-budget"] / f"{kind}.safetensors")


def test_a_binding_budget_sets_the_step_count_once_and_resume_keeps_it(tmp_path):
    # a few clock readings a step at 10 ms each, a 1.8 s budget → a plan well short of max_steps
    torch.manual_seed(0)
    full = make(tmp_path / "full", clock=FakeClock(1e-2), max_minutes=0.03, max_steps=10**6).fit()
    n = full.plan["steps"]
    assert full.plan["step_seconds"] is not None and full.plan["decay_start"] == 10
    assert 30 < n < 10**6 and full.steps == n and full.stop_reason == "max_minutes" and not full.warnings

    class Crash(Exception):
        pass

    class CrashAt:
        def __init__(self, k: int) -> None:
            self.k = k

        def on_fit_start(self, trainer): ...
        def on_eval_end(self, trainer, row): ...
        def on_fit_end(self, trainer, result): ...

        def on_step_end(self, trainer, row):
            if trainer.step == self.k:
                raise Crash

    torch.manual_seed(0)
    killed = make(tmp_path / "killed", clock=FakeClock(1e-2), max_minutes=0.03, max_steps=10**6,
                  callbacks=[CrashAt(23)])  # fmt: skip
    with pytest.raises(Crash):
        killed.fit()
    assert (
        read_meta(tmp_path / "killed" / "checkpoints" / "last.safetensors")["trainer"]["plan"]["steps"] == n
    )
    # the resumed process's clock is 10x faster: a new measurement would plan far more steps
    resumed = make(tmp_path / "killed", clock=FakeClock(1e-3), max_minutes=0.03, max_steps=10**6)
    result = resumed.fit(resume=tmp_path / "killed")
    assert result.steps == n and result.plan == full.plan
    assert_same_checkpoint(
        tmp_path / "full/checkpoints/last.safetensors", tmp_path / "killed/checkpoints/last.safetensors"
    )

    # replaying the plan without a budget gives the same weights (warm-up >= 10: same decay start)
    torch.manual_seed(0)
    make(tmp_path / "replay", max_steps=n).fit()
    assert_same_checkpoint(
        tmp_path / "full/checkpoints/last.safetensors", tmp_path / "replay/checkpoints/last.safetensors"
    )


def test_a_plan_measured_on_a_busy_machine_is_kept_and_the_summary_says_so(tmp_path):
    """Steps timed at 10x their later speed plan too few steps: the run keeps the plan (exactness) and
    finishes early, with a warning naming both speeds."""

    class Faster:
        def on_fit_start(self, trainer): ...
        def on_eval_end(self, trainer, row): ...
        def on_fit_end(self, trainer, result): ...

        def on_step_end(self, trainer, row):
            if trainer.plan is not None:
                clock.tick = 1e-3  # the load went away once the plan was made

    torch.manual_seed(0)
    clock = FakeClock(1e-2)
    result = make(tmp_path / "r", clock=clock, max_minutes=0.03, max_steps=10**6, callbacks=[Faster()]).fit()
    assert result.steps == result.plan["steps"] and result.stop_reason == "max_minutes"
    assert result.elapsed < 0.5 * 60 * 0.03
    [warning] = result.warnings
    assert f"finished its {result.steps:,} planned steps after 0.0 of its 0.03 minutes" in warning
    assert "the machine was busier while the plan was measured" in warning


def test_learning_rate_before_the_plan_does_not_depend_on_the_budget(tmp_path):
    lrs = {}
    for name, minutes, steps in (("budget", 0.03, 10**6), ("steps", None, 60)):
        torch.manual_seed(0)
        make(tmp_path / name, clock=FakeClock(1e-2), max_minutes=minutes, max_steps=steps).fit()
        rows = read_jsonl(tmp_path / name / "metrics.jsonl")
        lrs[name] = [r["lr"] for r in rows if r["split"] == "train"][:10]  # warm-up: steps 1-10
    assert lrs["budget"] == lrs["steps"]


# -- divergence --------------------------------------------------------------------------------------------
def blow_up_after(k: int, factor: float = 1e6):
    def loss(model, batch, state):
        out = lm_loss(model, batch, state)
        loss.calls += model.training  # training steps only (evaluations call it too)
        if model.training and loss.calls > k:
            out.loss = out.loss * factor
        return out

    loss.calls = 0
    return loss


def test_monitor_ignores_noise_and_flags_a_sustained_blow_up():
    m = DivergenceMonitor(factor=10, steps=5, window=5)
    g = torch.Generator().manual_seed(0)
    for i in range(200):  # a decreasing, noisy loss with single 8x spikes
        v = 3.0 * math.exp(-i / 50) * float(torch.empty(1).uniform_(0.7, 1.3, generator=g))
        assert not m.update(v * (8 if i % 37 == 0 else 1))
    ref = m.reference
    assert [m.update(ref * 11) for _ in range(5)] == [False] * 4 + [True]
    assert not m.update(ref * 11)  # reported once per blow-up
    m.update(ref)  # back below: a later blow-up is reported again
    assert [m.update(ref * 11) for _ in range(5)][-1]
    twin = DivergenceMonitor(factor=10, steps=5, window=5)
    twin.load_state_dict(m.state_dict())
    assert twin.state_dict() == m.state_dict()


def test_a_finite_blow_up_stops_and_keeps_last_and_best(tmp_path):
    torch.manual_seed(0)
    trainer = make(tmp_path, loss=blow_up_after(22), max_steps=200)
    with pytest.raises(
        DivergenceError, match=r"diverged at step 42: the training loss has stayed above 10x"
    ) as e:
        trainer.fit()
    message = str(e.value)
    assert "\n" not in message and "'last' (step 20)" in message and "lower optim.lr" in message
    ck = tmp_path / "checkpoints"
    assert read_meta(ck / "last.safetensors")["trainer"]["step"] == 20  # 25, 30, … waited for a recovery
    best = read_meta(ck / "best.safetensors")["trainer"]
    assert best["best_step"] <= 22 and math.isfinite(best["best"])
    assert e.value.path == ck / "diverged.safetensors" and read_meta(e.value.path)["trainer"]["step"] == 42
    assert (
        load_checkpoint(ck / "diverged.safetensors").model.keys()
        == load_checkpoint(ck / "last.safetensors").model.keys()
    )


def test_warn_mode_goes_on_but_never_takes_a_best_from_a_blown_up_step(tmp_path):
    torch.manual_seed(0)
    trainer = make(tmp_path, loss=blow_up_after(22), max_steps=60, on_divergence="warn")
    result = trainer.fit()
    assert result.steps == 60 and len(result.warnings) == 1 and "step 42" in result.warnings[0]
    assert result.best_step is not None and result.best_step <= 22 and math.isfinite(result.best)


def test_a_far_too_high_learning_rate_is_caught(tmp_path):
    """lr 1e6 without clipping: either the loss stays huge (the monitor) or it overflows (non-finite);
    either way a one-line DivergenceError, and no best from a diverged step."""
    torch.manual_seed(0)
    trainer = make(tmp_path, optimizer="sgd", lr=1e6, clip_norm=None, warmup_steps=0, max_steps=500)
    with pytest.raises(DivergenceError, match=r"training diverged at step \d+: .*gradient clipping") as e:
        trainer.fit()
    assert e.value.step < 40
    best = tmp_path / "checkpoints" / "best.safetensors"
    if best.exists():
        assert math.isfinite(read_meta(best)["trainer"]["best"])
