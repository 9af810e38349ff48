"""How many steps a run takes: fixed once, so that every step computes the same thing on every machine.

Without a time budget the plan is ``optim.max_steps`` and the learning rate anneals over it from the end
of warm-up. With a time budget (``optim.max_minutes``) the step count is *measured once*: when warm-up
ends (at step ``max(warmup_steps, 10)``, the plan step), the trainer times its training steps since
the first one (evaluations excluded) and one evaluation, and plans

    N = min(max_steps, P + ⌊0.97 · remaining / (t_step + t_eval / eval_every)⌋)

rounded down to three significant figures, where P is the plan step and ``remaining`` the budget left.
From then on the schedule anneals over N steps and the run ends at step N. The plan and the timings it
came from are recorded in every checkpoint, so a resumed run uses the same plan (or, if a resume changes
``max_steps``/``max_minutes``, re-plans from the recorded timings, never from a new measurement). Before
the plan step the learning rate depends on the step alone (warm-up, then the peak rate).

So the time budget decides *how many* steps there are, once, and never *what a step computes*: the
weights at step k are the same with or without a budget, and a run killed and resumed equals the run
that was never stopped. ``rnnkit train … --steps N --set optim.max_minutes=none`` replays a budgeted
run exactly when ``warmup_steps`` ≥ 10 (so the decay starts at the same step); its N is printed and
kept in ``summary.json``. The time budget still stops a run whose machine became slower than measured
(the summary then says the schedule was cut short).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

#: the fewest steps timed before the plan is made (the decay starts after them)
MIN_PLAN_STEP = 10
#: the share of the remaining budget the plan fills (checkpoints, noise)
MARGIN = 0.97


@dataclass(frozen=True)
class StepPlan:
    """The step count a run anneals over and where that number came from.

    Attributes:
        steps: total steps; the schedule anneals over them and the run ends there.
        decay_start: the step at which the decay from the peak learning rate begins.
        step_seconds, eval_seconds: the measured time of one training step and one evaluation
            (None for a plan made from ``max_steps`` alone).
        planned_at, elapsed_at: the step and the training seconds when the plan was made.
        max_steps, max_minutes: the limits it was made for.
    """

    steps: int
    decay_start: int
    step_seconds: float | None = None
    eval_seconds: float | None = None
    planned_at: int | None = None
    elapsed_at: float | None = None
    max_steps: int | None = None
    max_minutes: float | None = None

    @property
    def timed(self) -> bool:
        return self.step_seconds is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepPlan:
        return cls(**data)


def plan_step(warmup_steps: int) -> int:
    """The step at which a time-budgeted run plans its length."""
    return max(warmup_steps, MIN_PLAN_STEP)


def round_down(n: int, digits: int = 3) -> int:
    """``n`` rounded down to ``digits`` significant figures (12,345 → 12,300)."""
    if n < 10**digits:
        return n
    grain = 10 ** (int(math.log10(n)) + 1 - digits)
    return n // grain * grain


def steps_plan(max_steps: int, warmup_steps: int) -> StepPlan:
    """The plan of a run without a time budget: ``max_steps``, decaying from the end of warm-up."""
    return StepPlan(steps=max_steps, decay_start=warmup_steps, max_steps=max_steps)


def timed_plan(
    *,
    max_steps: int,
    max_minutes: float,
    eval_every: int | None,
    planned_at: int,
    elapsed_at: float,
    step_seconds: float,
    eval_seconds: float,
) -> StepPlan:
    """The plan of a time-budgeted run from the measured step and evaluation times (see the module
    docstring); a pure function of its arguments, so a resume can redo it from recorded numbers."""
    if step_seconds <= 0 or not math.isfinite(step_seconds):
        raise ValueError(f"step_seconds must be a positive number, got {step_seconds}")
    per_step = step_seconds + (eval_seconds / eval_every if eval_every else 0.0)
    remaining = max(0.0, 60.0 * max_minutes - elapsed_at)
    more = int(MARGIN * remaining / per_step)
    steps = max(planned_at, min(max_steps, round_down(planned_at + more)))
    return StepPlan(
        steps=steps,
        decay_start=planned_at,
        step_seconds=step_seconds,
        eval_seconds=eval_seconds,
        planned_at=planned_at,
        elapsed_at=elapsed_at,
        max_steps=max_steps,
        max_minutes=max_minutes,
    )


def replan(plan: StepPlan, *, max_steps: int, max_minutes: float | None, eval_every: int | None) -> StepPlan:
    """The plan for changed limits (a resume with other ``max_steps``/``max_minutes``), from the timings
    recorded in ``plan``: no new measurement, so the result does not depend on the clock."""
    if plan.max_steps == max_steps and plan.max_minutes == max_minutes:
        return plan
    if max_minutes is None or not plan.timed:
        return StepPlan(steps=max_steps, decay_start=plan.decay_start, max_steps=max_steps)
    assert plan.planned_at is not None and plan.elapsed_at is not None and plan.step_seconds is not None
    return timed_plan(
        max_steps=max_steps,
        max_minutes=max_minutes,
        eval_every=eval_every,
        planned_at=plan.planned_at,
        elapsed_at=plan.elapsed_at,
        step_seconds=plan.step_seconds,
        eval_seconds=plan.eval_seconds or 0.0,
    )
