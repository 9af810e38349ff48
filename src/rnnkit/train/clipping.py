"""Gradient clipping, the remedy for exploding gradients, with the TRUE norm reported.

By value, every element is clamped to [−v, v]; by norm, all gradients are scaled together by
min(1, c / ‖g‖) where ‖g‖ is the L2 norm of all of them concatenated. Both may be combined (value
first). The norm returned is always the one measured before any clipping, so a log of it shows how
often and how badly the gradients explode.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn


def clip_gradients(
    parameters: Iterable[nn.Parameter], clip_norm: float | None = None, clip_value: float | None = None
) -> tuple[float, bool]:
    """Clip the ``.grad`` of ``parameters`` in place.

    Returns:
        (total L2 norm of the gradients before any clipping, whether anything was clipped).
    """
    params = [p for p in parameters if p.grad is not None]
    if not params:
        raise ValueError("the loss does not depend on any trainable parameter (no gradients)")
    if clip_value is not None:
        grads = [p.grad for p in params]
        norm = float(
            torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))
        )
        clipped = max(float(g.abs().max()) for g in grads) > clip_value
        torch.nn.utils.clip_grad_value_(params, clip_value)
        if clip_norm is not None:
            clipped |= float(torch.nn.utils.clip_grad_norm_(params, clip_norm)) > clip_norm
        return norm, clipped
    max_norm = clip_norm if clip_norm is not None else math.inf
    norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))  # the norm before scaling
    return norm, norm > max_norm
