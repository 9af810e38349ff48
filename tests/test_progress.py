"""Progress bars tell the truth about time-budgeted work, and the learning-rate curve has no kinks.

A time-budgeted run's bar counts the budget's time until the step count is planned, then the planned
steps with a time left that never runs past the budget, and its last line says why the run stopped (a
resume goes on from the time already used). The learning rate is a function of the step and the plan,
so evaluations that take a long time leave no kink in it (it used to read the clock, which dropped the
rate at every evaluation); the curve plot marks the plan. Evaluation and data-loading bars go to their
file and can be turned off. The trainer runs under a fake clock (``Trainer.clock``) so every number the
bar shows is deterministic.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from rnnkit.train import Callback, DivergenceError, OptimConfig, ProgressBar, RunConfig, Trainer, callbacks
from rnnkit.train.callbacks import _by_step, fmt_clock, render_curves
from rnnkit.train.sources import IterableSource, ProgressSource
from train_helpers import Rows, TinyTagger, batches, lm_loss, one_thread  # noqa: F401

HOURS = re.compile(r"\b\d+:\d{2}:\d{2}\b")  # H:MM:SS
TIMES = re.compile(r"\[(\d+):(\d{2})<(\d+):(\d{2})")  # [elapsed<left


class FakeClock:
    """Advances ``tick`` seconds at every reading (``slower`` times that after ``after`` readings)."""

    def __init__(self, tick: float, *, after: int | None = None, slower: float = 1.0) -> None:
        self.now, self.tick, self.reads, self.after, self.slower = 0.0, tick, 0, after, slower

    def __call__(self) -> float:
        self.reads += 1
        late = self.after is not None and self.reads > self.after
        self.now += self.tick * (self.slower if late else 1.0)
        return self.now


class StopAt(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, trainer, row):
        if trainer.step == self.step:
            trainer.request_stop("interrupted")


def trainer_with_bar(clock, *, run_dir=None, extra=(), evaluate_fn=None, eval_every=7, **optim):
    """A tiny LSTM trainer whose bar writes every redraw into a buffer; returns (trainer, buffer)."""
    buf = io.StringIO()
    kw = dict(max_steps=10**6, warmup_steps=10, lr=3e-2) | optim
    trainer = Trainer(
        TinyTagger(),
        lm_loss,
        batches(6),
        batches(2, seed=5),
        optim=OptimConfig(**kw),
        run=RunConfig(progress=False, plot=False, eval_every=eval_every, checkpoint_every=5),
        run_dir=run_dir,
        evaluate_fn=evaluate_fn,
        callbacks=[ProgressBar("tokens", file=buf, mininterval=0), *extra],
    )
    trainer.clock = clock
    return trainer, buf


def bar_lines(buf: io.StringIO) -> list[str]:
    """Every state the bar drew, in order."""
    text = buf.getvalue().replace("\r", "\n")
    return [line.strip() for line in text.splitlines() if line.strip().startswith("train:")]


def said(line: str, what: str) -> bool:
    """Whether ``what`` is one of the bar line's " · "-separated fields."""
    return what in line.split(" · ")


def seconds(m: str, s: str) -> int:
    return 60 * int(m) + int(s)


# -- the training bar ------------------------------------------------------------------------------------
def test_budgeted_bar_shows_the_budget_before_the_plan_then_the_planned_steps():
    trainer, buf = trainer_with_bar(FakeClock(0.05), max_minutes=0.5)  # ~150 ms a step, 30 s budget
    result = trainer.fit()
    plan = trainer.plan
    assert plan is not None and result.steps == plan.steps < 10**6
    lines = bar_lines(buf)
    assert not any(HOURS.search(line) for line in lines), "hours printed for a 30-second budget"
    assert not any("1,000,000" in line or "1000000" in line for line in lines), "the step cap was shown"
    before = [line for line in lines if "of the budget" in line]
    after = [line for line in lines if f"/{plan.steps:,} steps [" in line]
    assert before and after and len(before) + len(after) == len(lines)
    assert lines.index(before[-1]) < lines.index(after[0])  # time first, then steps, never back
    assert before[0].startswith("train:   0%") and "0:00/0:30 of the budget, step 0" in before[0]
    assert "step 3 (steps planned at step 10)" in before[3]
    assert any("step 10 (timing an evaluation to plan the steps)" in line for line in before)
    # the time left agrees with the budget: elapsed + left ends within the budget, close to its end
    ends = [
        seconds(*m.groups()[:2]) + seconds(*m.groups()[2:]) for line in after if (m := TIMES.search(line))
    ]
    assert ends and all(25 <= end <= 30 for end in ends), ends
    assert all("budget 0:30" in line for line in after)
    assert lines[-1].startswith("train: 100%")
    assert said(lines[-1], f"done: all {plan.steps:,} planned steps")


def test_bar_says_the_time_budget_cut_the_plan_short():
    # the machine becomes 3x slower after the plan: the hard time stop ends the run first
    trainer, buf = trainer_with_bar(FakeClock(0.05, after=400, slower=3.0), max_minutes=0.5)
    result = trainer.fit()
    assert result.stop_reason == "max_minutes" and result.steps < trainer.plan.steps
    last = bar_lines(buf)[-1]
    planned = trainer.plan.steps
    assert said(last, f"stopped: the time budget ran out at step {result.steps:,} of {planned:,} planned")
    assert f"{result.steps:,}/{trainer.plan.steps:,} steps [0:30, budget 0:30," in last  # no time left shown
    assert not any(HOURS.search(line) for line in bar_lines(buf))


def test_resumed_bar_goes_on_from_the_time_and_plan_already_used(tmp_path):
    # 2-minute budget, ~1.5 s a step: stopped at step 5 (before the plan), resumed, stopped at 30, resumed
    first, buf = trainer_with_bar(FakeClock(0.5), run_dir=tmp_path, extra=[StopAt(5)], max_minutes=2.0)
    used = first.fit().elapsed
    assert said(bar_lines(buf)[-1], "interrupted at step 5")
    second, buf = trainer_with_bar(FakeClock(0.5), run_dir=tmp_path, extra=[StopAt(30)], max_minutes=2.0)
    second.fit(resume=tmp_path)
    lines = bar_lines(buf)
    assert used > 5 and f"{fmt_clock(used)}/2:00 of the budget, step 5 (" in lines[0]
    plan = second.plan
    assert plan is not None and said(lines[-1], "interrupted at step 30")
    third, buf = trainer_with_bar(FakeClock(0.5), run_dir=tmp_path, max_minutes=2.0)
    result = third.fit(resume=tmp_path)
    lines = bar_lines(buf)
    # the recorded plan and the time used so far; the time left comes from the plan's timings at once
    assert f"30/{plan.steps:,} steps [{fmt_clock(second.elapsed)}<" in lines[0] and "<?" not in lines[0]
    assert result.steps == plan.steps and said(lines[-1], f"done: all {plan.steps:,} planned steps")


def test_bar_without_a_budget_counts_steps_with_a_measured_time_left():
    trainer, buf = trainer_with_bar(FakeClock(0.05), max_steps=60)
    result = trainer.fit()
    lines = bar_lines(buf)
    assert all("/60 steps [" in line and "budget" not in line for line in lines)
    # after a few steps, elapsed + left predicts the real end (evaluations included) within 15%
    ends = [
        seconds(*m.groups()[:2]) + seconds(*m.groups()[2:]) for line in lines[6:] if (m := TIMES.search(line))
    ]
    assert ends and all(abs(end - result.elapsed) <= 0.15 * result.elapsed + 1 for end in ends)
    assert lines[-1].startswith("train: 100%") and said(lines[-1], "done")


def test_budget_with_a_step_cap_below_the_plan_step_counts_the_steps():
    trainer, buf = trainer_with_bar(FakeClock(0.05), max_minutes=0.5, max_steps=6)
    assert trainer.fit().steps == 6
    lines = bar_lines(buf)
    assert "0/6 steps [0:00<" in lines[0] and not any("of the budget" in line for line in lines)


def test_bar_says_when_it_is_evaluating():
    seen: list[str] = []
    buf_holder: list[io.StringIO] = []

    def evaluate(model, max_batches):
        seen.append(bar_lines(buf_holder[0])[-1])
        return {"loss": 1.0}

    trainer, buf = trainer_with_bar(FakeClock(0.05), max_steps=14, evaluate_fn=evaluate)
    buf_holder.append(buf)
    trainer.fit()
    assert len(seen) == 2 and all(said(line, "evaluating …") for line in seen)
    assert "14/14 steps" in seen[1]
    assert not bar_lines(buf)[-1].count("evaluating")


# -- the learning-rate curve -----------------------------------------------------------------------------
def test_slow_evaluations_leave_no_kink_in_the_learning_rate():
    """Each evaluation eats 3 s of a 60 s budget; the rate of every step must still be the schedule's
    rate for that step under the plan (no clock in it), smooth across the evaluation steps."""
    clock = FakeClock(0.05)

    def slow_eval(model, max_batches):
        clock.now += 3.0
        return {"loss": 1.0}

    rows = Rows()
    trainer, _ = trainer_with_bar(clock, extra=[rows], evaluate_fn=slow_eval, max_minutes=1.0, eval_every=5)
    trainer.fit()
    plan = trainer.plan
    assert plan is not None and plan.steps > 40 and plan.eval_seconds >= 3.0
    steps = [r["step"] for r in rows.train]
    lrs = np.array([r["lr"] for r in rows.train])
    assert [trainer.schedule(s - 1, plan) for s in steps] == lrs.tolist()
    curve = np.abs(np.diff(lrs, 2))  # curve[i] is the bend at step steps[i + 1]
    decay = [i for i, s in enumerate(steps[1:-1]) if s > plan.decay_start + 1]
    at_eval = max(curve[i] for i in decay if steps[i + 1] % 5 in (0, 1))
    elsewhere = max(curve[i] for i in decay if steps[i + 1] % 5 not in (0, 1))
    assert at_eval <= 1.5 * elsewhere, (at_eval, elsewhere)


def test_curve_plot_draws_the_plan_and_the_rates_not_run(tmp_path, monkeypatch):
    drawn: list[dict] = []

    def fake_render(train, val, *args, **kwargs):
        drawn.append({"train": train, **kwargs})
        return b"png"

    monkeypatch.setattr(callbacks, "render_curves", fake_render)
    trainer, _ = trainer_with_bar(FakeClock(0.05, after=400, slower=3.0), run_dir=tmp_path, max_minutes=0.5)
    trainer.callbacks.append(callbacks.CurvePlotter(tmp_path / "metrics.jsonl", tmp_path / "curves.png"))
    result = trainer.fit()
    plan, final = trainer.plan, drawn[-1]
    assert final["plan"] == plan.to_dict() and final["planned_label"] == "planned, not run"
    ahead = final["planned_lr"]
    assert ahead[0] == (result.steps, final["train"][-1]["lr"])  # joins the logged curve
    assert ahead[-1][0] == plan.steps
    assert ahead[-1][1] == pytest.approx(trainer.optim.lr * trainer.optim.min_lr_ratio, rel=1e-3)
    assert (tmp_path / "curves.png").read_bytes() == b"png"


def test_curves_join_one_point_per_step_in_order_and_render_with_a_plan():
    rows = [{"step": 3, "v": 1}, {"step": 1, "v": 2}, {"step": 2, "v": 3}, {"step": 3, "v": 4}]
    assert [(r["step"], r["v"]) for r in _by_step(rows)] == [(1, 2), (2, 3), (3, 4)]
    train = [
        {"step": s, "loss": 2.0 - s / 100, "grad_norm": 0.5, "lr": 1e-3 * min(1, s / 10)}
        for s in range(1, 51)
    ]
    plan = {"steps": 60, "decay_start": 10, "step_seconds": 0.1}
    png = render_curves(train, [], None, {}, 1.0, plan=plan, planned_lr=[(50, 1e-3), (60, 1e-4)])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


# -- evaluation and data bars ------------------------------------------------------------------------------
def test_evaluation_bar_counts_batches_on_its_file_and_can_be_disabled():
    buf = io.StringIO()
    source = ProgressSource(IterableSource(list(range(5))), "evaluating on val", file=buf, mininterval=0)
    assert list(source.epoch(0)) == [0, 1, 2, 3, 4]
    text = buf.getvalue()
    assert "evaluating on val" in text and "5/5" in text and "batch" in text
    buf.truncate(0)
    assert list(source.epoch(0, start=2)) == [2, 3, 4]
    assert "2/5" in buf.getvalue() and "1/5" not in buf.getvalue()
    quiet = io.StringIO()
    assert list(ProgressSource(IterableSource([1, 2]), "x", file=quiet, disable=True).epoch(0)) == [1, 2]
    assert quiet.getvalue() == ""
    with pytest.raises(TypeError, match="desc must be a str, got int"):
        ProgressSource(IterableSource([1]), 3)  # type: ignore[arg-type]


def test_clip_loading_bar_goes_to_stderr_and_respects_progress(tmp_path, capsys):
    from rnnkit.data.videofiles import load_clip_folder

    for cls in ("jump", "still"):
        folder = tmp_path / cls / "clip"
        folder.mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)).save(folder / f"{i}.png")
    load_clip_folder(str(tmp_path), frames=2, size=8, progress=True)
    captured = capsys.readouterr()
    assert "loading clips" in captured.err and "2/2" in captured.err and captured.out == ""
    load_clip_folder(str(tmp_path), frames=2, size=8, progress=False)
    assert capsys.readouterr().err == ""


def test_tour_progress_is_in_minutes_against_the_budget():
    from rnnkit.tour.budget import Budget

    budget = Budget(total_s=600.0)
    budget.started -= 120.0
    assert budget.progress() == "2.0 of 10.0 min used, 8.0 left"
    unbounded = Budget(total_s=None)
    unbounded.started -= 90.0
    assert unbounded.progress() == "1.5 min elapsed"
    late = Budget(total_s=60.0)
    late.started -= 90.0
    assert late.progress() == "1.5 min used, 0.5 over the 1.0-min budget"


def test_bar_ends_cleanly_when_the_run_raises():
    calls = [0]

    def nan_at_step_4(model, batch, state):
        calls[0] += 1
        out = lm_loss(model, batch, state)
        return out if calls[0] < 4 else type(out)(out.loss * float("nan"), out.count)

    buf = io.StringIO()
    trainer = Trainer(
        TinyTagger(),
        nan_at_step_4,
        batches(6),
        optim=OptimConfig(max_steps=50, warmup_steps=2),
        run=RunConfig(progress=False, plot=False),
        callbacks=[ProgressBar(file=buf, mininterval=0)],
    )
    trainer.clock = FakeClock(0.05)
    with pytest.raises(DivergenceError, match="at step 4"):
        trainer.fit()
    assert said(bar_lines(buf)[-1], "stopped at step 3") and buf.getvalue().endswith("\n")
