"""The optimiser (AdamW by default) and the learning-rate schedule.

Schedule, with peak rate η, warm-up W steps and final ratio r::

    lr = η · min(1, (step + 1) / W) · d(p)
    d(p) = cosine: r + (1 − r) · ½ (1 + cos π p)  |  linear: 1 − (1 − r) p  |  constant: 1

where p ∈ [0, 1] is the progress: ``(step − W) / (max_steps − W)`` (0 during warm-up), or with a time
budget the larger of that and ``elapsed / max_minutes`` — so the rate anneals fully even when the
clock, not the step count, ends the run, and never jumps. Runs ended by steps are bit-reproducible;
runs ended by a time budget depend on the machine's speed (that is what a time budget means).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import OptimConfig


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
    """Learning rate as a function of (step, elapsed seconds); stateless, so resuming needs only those."""

    def __init__(self, cfg: OptimConfig) -> None:
        self.cfg = cfg

    def progress(self, step: int, elapsed: float) -> float:
        c = self.cfg
        span = max(1, c.max_steps - c.warmup_steps)
        p = (step - c.warmup_steps) / span
        if c.max_minutes:
            p = max(p, elapsed / (60.0 * c.max_minutes))
        return min(1.0, max(0.0, p))

    def __call__(self, step: int, elapsed: float = 0.0) -> float:
        c = self.cfg
        warm = min(1.0, (step + 1) / c.warmup_steps) if c.warmup_steps else 1.0
        p, r = self.progress(step, elapsed), c.min_lr_ratio
        if c.schedule == "cosine":
            decay = r + (1 - r) * 0.5 * (1 + math.cos(math.pi * p))
        elif c.schedule == "linear":
            decay = 1 - (1 - r) * p
        else:
            decay = 1.0
        return c.lr * warm * decay

    def apply(self, optimizer: torch.optim.Optimizer, step: int, elapsed: float = 0.0) -> float:
        lr = self(step, elapsed)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr
