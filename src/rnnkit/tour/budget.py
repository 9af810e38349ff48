"""Sharing the tour's wall-clock budget among its demos.

Each demo's time is its training loop (``optim.max_minutes``, which the tour sets) plus an overhead the
tour cannot cut: loading data, fitting the baselines, evaluating the best checkpoint on the full splits
and writing the outputs. Before each demo the tour takes what is left of the budget, reserves the
expected overheads of the demos still to run (estimates measured on 2 CPU cores, scaled by how far the
finished demos' real overheads were from theirs — a busy machine is slower at everything), and gives
the training loops the rest in proportion to their ``tour`` presets: at least :data:`MIN_SHARE` of a
preset (so a slow machine makes the tour longer, not its models meaningless) and at most
:data:`MAX_SHARE` times it (time left by demos that finish early — their presets also cap the steps —
goes to the ones after them). The plan ends at :data:`SAFETY` of the budget.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

#: expected seconds outside the training loop per demo on 2 idle CPU cores (data, baselines, final
#: evaluation, plots and samples): the CPU time of tour runs with one thread. The first music run also
#: parses the chorales (cached afterwards); the series demo refits its AR baselines for every split.
OVERHEAD_S: dict[str, float] = {
    "text": 10.0,
    "stocks": 5.0,
    "series": 20.0,
    "music": 6.0,
    "jump": 12.0,
    "compose": 26.0,
}
MIN_SHARE = 0.3  # the least share of its preset's training minutes a demo gets
MAX_SHARE = 2.0  # the most, when earlier demos left time over
SAFETY = 0.95  # plan to finish at this share of the budget (overheads are estimates)


def preset_minutes(task: str) -> float:
    """Training minutes of the task's ``tour`` preset (its ``optim.max_minutes``)."""
    from ..tasks.registry import get_task

    preset = get_task(task).presets.get("tour", {})
    minutes = preset.get("optim.max_minutes", get_task(task).defaults.get("optim.max_minutes"))
    if minutes is None:
        raise ValueError(f"task {task!r} has no time budget in its tour preset (optim.max_minutes)")
    return float(minutes)


@dataclass
class Budget:
    """The tour's clock. ``total_s`` None: no budget (every demo gets its preset)."""

    total_s: float | None
    started: float = field(default_factory=time.perf_counter)
    _spent: float = 0.0  # real overhead seconds of finished demos
    _expected: float = 0.0  # their estimates

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def scale(self) -> float:
        """How much slower than the estimates the finished demos' overheads were (1 before any)."""
        if self._expected <= 0:
            return 1.0
        return min(4.0, max(0.5, self._spent / self._expected))

    def training_minutes(self, demo: str, remaining: Sequence[str]) -> float:
        """Minutes of training loop for ``demo``; ``remaining`` = it and the demos after it."""
        preset = preset_minutes(demo)
        if self.total_s is None:
            return preset
        left = SAFETY * self.total_s - self.elapsed()
        reserve = self.scale() * sum(OVERHEAD_S.get(d, 30.0) for d in remaining)
        presets = sum(preset_minutes(d) for d in remaining)
        share = max(0.0, left - reserve) / 60.0 * preset / presets
        return round(min(MAX_SHARE * preset, max(MIN_SHARE * preset, share)), 3)

    def overhead_s(self, demo: str) -> float:
        """Expected seconds of ``demo`` outside its training loop, scaled like the reserve."""
        return self.scale() * OVERHEAD_S.get(demo, 30.0)

    def progress(self) -> str:
        """The tour's progress in words: ``3.2 of 10.0 min used, 6.8 left`` (``3.2 min elapsed`` without
        a budget) — minutes always, never a count that would predict hours for a tour of minutes."""
        used = self.elapsed() / 60.0
        if self.total_s is None:
            return f"{used:.1f} min elapsed"
        total = self.total_s / 60.0
        if used > total:
            return f"{used:.1f} min used, {used - total:.1f} over the {total:.1f}-min budget"
        return f"{used:.1f} of {total:.1f} min used, {total - used:.1f} left"

    def finished(self, demo: str, wall_s: float, training_s: float) -> None:
        """Record a finished demo's real overhead (wall time minus its training loop)."""
        self._spent += max(0.0, wall_s - training_s)
        self._expected += OVERHEAD_S.get(demo, 30.0)
