"""The optimiser (AdamW by default) and the learning-rate schedule.

Schedule, with peak rate η, warm-up W steps and final ratio r::

    lr = η · min(1, (step + 1) / W) · d(p)
    d(p) = cosine: r + (1 − r) · ½ (1 + cos π p)  |  linear: 1 − (1 − r) p  |  constant: 1

where p ∈ [0, 1] is the progress ``(step − S) / (N − S)`` over the run's :class:`~rnnkit.train.plan.StepPlan`:
N steps in all, the decay starting at step S (the end of warm-up). The rate is a function of the step and
the plan only — never of the clock — so runs are bit-reproducible and resume exactly; a time budget
enters only through the plan, which is fixed once (see :mod:`rnnkit.train.plan`). Before a
time-budgeted run has made its plan, p = 0.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import OptimConfig
from .plan import StepPlan, steps_plan


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    """AdamW/Adam/SGD over the trainable parameters; weight decay on matrices only (not biases, gains,
    or the UR-LSTM's scalars)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas))
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, betas=tuple(cfg.betas))
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    raise ValueError(f"optim.optimizer must be one of ['adamw', 'adam', 'sgd'], got {cfg.optimizer!r}")


class LRSchedule:
    """Learning rate as a function of (step, plan); stateless, so resuming needs only those."""

    def __init__(self, cfg: OptimConfig) -> None:
        self.cfg = cfg

    def progress(self, step: int, plan: StepPlan | None) -> float:
        if plan is None:
            return 0.0
        span = max(1, plan.steps - plan.decay_start)
        return min(1.0, max(0.0, (step - plan.decay_start) / span))

    def __call__(self, step: int, plan: StepPlan | None = None) -> float:
        """The rate of step ``step`` (0-based); ``plan`` defaults to ``max_steps`` without a budget."""
        c = self.cfg
        if plan is None and not c.max_minutes:
            plan = steps_plan(c.max_steps, c.warmup_steps)
        warm = min(1.0, (step + 1) / c.warmup_steps) if c.warmup_steps else 1.0
        p, r = self.progress(step, plan), c.min_lr_ratio
        if c.schedule == "cosine":
            decay = r + (1 - r) * 0.5 * (1 + math.cos(math.pi * p))
        elif c.schedule == "linear":
            decay = 1 - (1 - r) * p
        else:
            decay = 1.0
        return c.lr * warm * decay

    def apply(self, optimizer: torch.optim.Optimizer, step: int, plan: StepPlan | None = None) -> float:
        lr = self(step, plan)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr
