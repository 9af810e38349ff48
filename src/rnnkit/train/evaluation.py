"""The default evaluation: the count-weighted mean of a loss function's loss and metrics over a source."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from .sources import BatchSource


def to_device(obj: Any, device: torch.device) -> Any:
    """Move every tensor inside tuples/lists/dicts (and dataclass-free containers) to ``device``."""
    if isinstance(obj, Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return type(obj)(*(to_device(o, device) for o in obj))
    if isinstance(obj, tuple | list):
        return type(obj)(to_device(o, device) for o in obj)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    return obj


@torch.no_grad()
def evaluate_source(
    model: nn.Module,
    loss_fn: Callable[..., Any],
    source: BatchSource,
    *,
    max_batches: int | None = None,
    tbptt: bool = False,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """``{"loss": …, <metric>: …, "count": items}`` over the first epoch of ``source`` (at most
    ``max_batches`` batches), each the mean over all items. With ``tbptt`` the state is carried from
    batch to batch, as in training."""
    device = torch.device(device)
    totals: dict[str, float] = {}
    count, state = 0, None
    for i, batch in enumerate(source.epoch(0)):
        if max_batches is not None and i >= max_batches:
            break
        out = loss_fn(model, to_device(batch, device), state)
        n = int(out.count)
        totals["loss"] = totals.get("loss", 0.0) + float(out.loss) * n
        for k, v in out.metrics.items():
            totals[k] = totals.get(k, 0.0) + float(v) * n
        count += n
        state = out.state if tbptt else None
    if count == 0:
        raise ValueError("the validation data yielded no batches")
    return {k: v / count for k, v in totals.items()} | {"count": count}
