"""What a loss function returns for a batch, and what ``Trainer.fit`` returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor, nn


@dataclass
class LossOutput:
    """What a loss function returns for one batch.

    Attributes:
        loss: scalar to minimise, the mean over ``count`` items.
        count: items the loss averages (tokens, sequences, values): weights the aggregation over batches
            and gives the throughput.
        metrics: extra per-item means over this batch (``{"bpc": …, "accuracy": …}``).
        state: recurrent state to carry into the next batch (only used with ``tbptt=True``).
    """

    loss: Tensor
    count: int = 1
    metrics: dict[str, float] = field(default_factory=dict)
    state: Any = None


class DivergenceError(FloatingPointError):
    """Training diverged (a non-finite loss or gradient, or a sustained blow-up of the loss).

    The message names the step; ``step`` is the step that failed (1-based), ``path`` the post-mortem
    checkpoint of the diverged weights (None without a run directory). The ``last`` and ``best``
    checkpoints are left as they were before the divergence."""

    def __init__(self, message: str, step: int, path: Path | None = None) -> None:
        super().__init__(message)
        self.step, self.path = step, path


LossFn = Callable[[nn.Module, Any, Any], LossOutput]


@dataclass
class FitResult:
    steps: int
    epoch: int
    stop_reason: str  # max_steps | max_epochs | max_minutes | early_stopping | interrupted
    elapsed: float  # seconds of training (this run and the ones it resumed)
    best: float | None
    best_step: int | None
    last_val: dict[str, float] | None
    run_dir: Path | None
    plan: dict[str, Any] | None = None  # the StepPlan the schedule annealed over (rnnkit.train.plan)
    warnings: list[str] = field(default_factory=list)  # e.g. divergence warned about, budget cut short
