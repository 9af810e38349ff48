"""The seeded epoch order every batch source of rnnkit shares.

A training source shuffles by a permutation that depends only on ``(seed, epoch)``, so a resumed run
(or a run on another machine) sees exactly the batches an uninterrupted one would; an evaluation source
walks its items in order. :func:`batch_indices` is that loop once, for the sources that batch a fixed
set of items (forecast windows, clips, sentence pairs); sources with their own order (text streams,
bucketed melodies) draw from :func:`epoch_seed` directly.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor


def epoch_seed(seed: int, epoch: int) -> int:
    """A per-epoch seed derived from the run's seed (stable across Python versions and processes)."""
    return (seed * 1_000_003 + epoch * 7919 + 12345) % 2**63


def batch_count(items: int, batch_size: int) -> int:
    """Batches per epoch over ``items`` items: the last batch may be short, none is dropped."""
    return -(-items // batch_size)


def batch_indices(
    items: int, batch_size: int, *, shuffle: bool, seed: int, epoch: int, start: int = 0
) -> Iterator[Tensor]:
    """The item indices of each batch of epoch ``epoch`` (0-based), skipping the first ``start``
    batches: a ``(seed, epoch)`` permutation when ``shuffle``, else ``0 … items-1`` in order."""
    if shuffle:
        generator = torch.Generator().manual_seed(epoch_seed(seed, epoch))
        order = torch.randperm(items, generator=generator)  # (N,)
    else:
        order = torch.arange(items)  # (N,)
    for b in range(start, batch_count(items, batch_size)):
        yield order[b * batch_size : (b + 1) * batch_size]  # (≤ batch_size,)
