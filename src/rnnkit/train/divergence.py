"""Telling a diverging run from a noisy one.

A **non-finite** loss or gradient norm always stops training (:class:`DivergenceError`). A **finite
blow-up** — the loss of a run whose learning rate is far too high climbs to 1e7 and stays there — is
caught by :class:`DivergenceMonitor`: a step counts as *blown up* when its training loss exceeds
``factor`` times the reference, the lowest running median (over the last ``window`` steps) seen so far,
which starts at the loss of the very first step (the untrained model). ``steps`` blown-up steps in a
row make the run *diverging*; ``optim.on_divergence`` then stops it with an error (``stop``, the
default) or warns once and goes on (``warn``). Defaults: factor 10, 20 steps, a 25-step window — a
single noisy batch, or a loss that rises a little at a restart of the data, never triggers it.

While the loss is blown up the trainer writes no ``last`` checkpoint (the write waits for the first
step back below the threshold) and no evaluation counts as ``best``, so the checkpoints a diverged run
leaves behind are the ones from before the blow-up.
"""

from __future__ import annotations

import statistics
from collections import deque
from typing import Any

#: steps in the running median
WINDOW = 25


class DivergenceMonitor:
    """Feed it every training loss (:meth:`update`); see the module docstring."""

    def __init__(self, factor: float = 10.0, steps: int = 20, window: int = WINDOW) -> None:
        if factor < 1:
            raise ValueError(f"factor must be >= 1, got {factor}")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.factor, self.steps = float(factor), int(steps)
        self.recent: deque[float] = deque(maxlen=window)
        self.reference: float | None = None
        self.run = 0  # blown-up steps in a row
        self.diverging = False  # `steps` blown-up steps in a row have been seen (and not yet recovered)

    @property
    def blown_up(self) -> bool:
        """Whether the latest step's loss was above the threshold."""
        return self.run > 0

    @property
    def threshold(self) -> float | None:
        return None if self.reference is None else self.factor * self.reference

    def update(self, loss: float) -> bool:
        """Record one step's loss; True when this step makes the run count as diverging (once per
        blow-up: it resets when the loss comes back below the threshold)."""
        if self.reference is not None and loss > self.factor * self.reference:
            self.run += 1
        else:
            self.run, self.diverging = 0, False
            self.recent.append(loss)
            median = statistics.median(self.recent)
            self.reference = median if self.reference is None else min(self.reference, median)
        if self.run >= self.steps and not self.diverging:
            self.diverging = True
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"recent": list(self.recent), "reference": self.reference, "run": self.run,
                "diverging": self.diverging}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.recent.clear()
        self.recent.extend(float(v) for v in state["recent"])
        self.reference, self.run, self.diverging = state["reference"], int(state["run"]), state["diverging"]
