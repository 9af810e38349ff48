"""Batch sources: what the trainer draws batches from, resumable at any batch of any epoch.

A :class:`BatchSource` yields the batches of epoch ``e`` from position ``start`` on, in an order that
depends only on ``(seed, e)``; this is what lets ``--resume`` continue with exactly the batches an
uninterrupted run would have seen. :func:`as_source` adapts what users usually have:

- an object with an ``epoch(epoch, start)`` method: used as is;
- a ``torch.utils.data.DataLoader``: each epoch's shuffle is re-seeded from ``(seed, epoch)`` (the
  loader's own generator is replaced), so the order no longer depends on the global RNG;
- any other re-iterable (a list of batches, …): the same order every epoch.

Starting mid-epoch skips the first ``start`` batches of that epoch.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

import torch
from torch.utils.data import DataLoader

from .._batches import epoch_seed


@runtime_checkable
class BatchSource(Protocol):
    def epoch(self, epoch: int, start: int = 0) -> Iterator[Any]:
        """The batches of epoch ``epoch`` (0-based), skipping the first ``start``."""
        ...


class LoaderSource:
    """A ``DataLoader`` whose shuffle order is a function of ``(seed, epoch)``."""

    def __init__(self, loader: DataLoader, seed: int = 0) -> None:
        self.loader, self.seed = loader, seed

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Any]:
        g = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
        sampler = getattr(self.loader, "sampler", None)
        if sampler is not None and hasattr(sampler, "generator"):
            sampler.generator = g
        self.loader.generator = torch.Generator().manual_seed(epoch_seed(self.seed, epoch) + 1)
        return itertools.islice(iter(self.loader), start, None)

    def __len__(self) -> int:
        return len(self.loader)


class IterableSource:
    """Any re-iterable: the same order every epoch."""

    def __init__(self, data: Iterable[Any]) -> None:
        if isinstance(data, Iterator):
            raise TypeError(
                "train/val data must be re-iterable (a list, a DataLoader or a BatchSource), got a one-shot "
                f"iterator ({type(data).__name__}); it would be exhausted after one epoch"
            )
        self.data = data

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Any]:
        return itertools.islice(iter(self.data), start, None)

    def __len__(self) -> int:
        return len(self.data)  # type: ignore[arg-type]


def as_source(data: Any, seed: int = 0) -> BatchSource:
    """Wrap ``data`` as a :class:`BatchSource` (see the module docstring)."""
    if isinstance(data, BatchSource):
        return data
    if isinstance(data, DataLoader):
        return LoaderSource(data, seed)
    if isinstance(data, Iterable):
        return IterableSource(data)
    raise TypeError(
        f"data must be a BatchSource, DataLoader or re-iterable of batches, got {type(data).__name__}"
    )


def num_batches(source: BatchSource) -> int | None:
    """Batches per epoch when the source knows it, else None."""
    try:
        return len(source)  # type: ignore[arg-type]
    except TypeError:
        return None


class ProgressSource:
    """A source whose epochs show a tqdm bar (for long evaluations): one bar per epoch, labelled
    ``desc``, counting batches against the epoch's length when the source knows it (a mid-epoch
    ``start`` counts from there), on ``file`` (default ``sys.stderr``), redrawn at most every
    ``mininterval`` seconds; ``disable`` draws nothing. The bar is removed when the epoch ends or its
    reader stops early."""

    def __init__(
        self,
        source: BatchSource,
        desc: str,
        *,
        file: Any = None,
        disable: bool = False,
        mininterval: float = 0.1,
    ) -> None:
        if not isinstance(desc, str):
            raise TypeError(f"desc must be a str, got {type(desc).__name__}")
        self.source, self.desc, self.file, self.disable = source, desc, file, disable
        self.mininterval = mininterval

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Any]:
        from tqdm.auto import tqdm

        total = num_batches(self.source)
        yield from tqdm(
            self.source.epoch(epoch, start),
            total=total,
            initial=min(start, total) if total is not None else start,
            desc=self.desc,
            leave=False,
            unit="batch",
            file=self.file or sys.stderr,
            disable=self.disable,
            mininterval=self.mininterval,
            dynamic_ncols=True,
        )

    def __len__(self) -> int:
        return len(self.source)  # type: ignore[arg-type]
