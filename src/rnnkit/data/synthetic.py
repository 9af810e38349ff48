"""Synthetic long-memory tasks — the classic tests of whether a recurrent network can carry information
across many steps (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016; Gu et al. 2020).

**Copy** (memorise, wait, recall). Tokens: 0 = blank, 1…8 = symbols, 9 = delimiter. The input is 10
random symbols, L − 1 blanks, the delimiter, then 10 blanks (L + 20 steps); the target is L + 10 blanks
followed by the 10 symbols. A model without memory can at best output blank for the first L + 10
steps and a uniform guess over the 8 symbols for the last 10: cross-entropy per step
``10·ln 8 / (L + 20)`` (:func:`copy_baseline`).

**Adding** (find the two marked numbers, add them). Each step carries a value u_t ~ U[0, 1] and a
marker; exactly one marker lies in the first half and one in the second half of the T steps. The target
is the sum of the two marked values. Predicting the mean 1 always gives MSE = Var(u_a + u_b) =
2 · 1/12 = 1/6 (:data:`ADDING_BASELINE_MSE`), whatever T.

Batches are drawn from a generator seeded by ``(seed, epoch, index)``, so a run's data order is
reproducible and a resumed run sees exactly the batches it would have seen.

Example::

    x, y = copy_batch(64, lag=100, generator=torch.Generator().manual_seed(0))  # (64, 120) each
    x, y = adding_batch(64, length=200, generator=g)                          # (64, 200, 2), (64,)
    train = SyntheticSource(lambda g: adding_batch(64, 200, generator=g), batches=1000, seed=0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor

from .._checks import check_positive_int

#: copy-task tokens
BLANK, DELIMITER = 0, 9
NUM_SYMBOLS = 8  # symbols are 1..8
COPY_LENGTH = 10  # symbols to memorise
COPY_VOCAB = 10  # input tokens: blank, 8 symbols, delimiter
COPY_CLASSES = 9  # output tokens: blank and the 8 symbols

#: MSE of always predicting 1 on the adding task: Var(U + U') for independent U, U' ~ U[0, 1]
ADDING_BASELINE_MSE = 1.0 / 6.0


def copy_baseline(lag: int) -> float:
    """Cross-entropy per step (nats) of the best memoryless copy-task model: 10·ln 8 / (L + 20)."""
    check_positive_int("lag", lag)
    return COPY_LENGTH * math.log(NUM_SYMBOLS) / (lag + 2 * COPY_LENGTH)


def copy_batch(
    batch_size: int, lag: int, *, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """``batch_size`` copy sequences with blank lag ``lag``: inputs and targets, (B, L + 20) int64 each."""
    B, L, K = check_positive_int("batch_size", batch_size), check_positive_int("lag", lag), COPY_LENGTH
    symbols = torch.randint(1, NUM_SYMBOLS + 1, (B, K), generator=generator)  # (B, 10)
    x = torch.full((B, L + 2 * K), BLANK, dtype=torch.long)
    y = torch.full((B, L + 2 * K), BLANK, dtype=torch.long)
    x[:, :K] = symbols
    x[:, K + L - 1] = DELIMITER
    y[:, L + K :] = symbols
    return x, y


def adding_batch(
    batch_size: int, length: int, *, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """``batch_size`` adding-problem sequences of ``length`` steps: x (B, T, 2) = (value, marker) and
    the target y (B,) = the sum of the two marked values."""
    B, T = check_positive_int("batch_size", batch_size), check_positive_int("length", length)
    if T < 2:
        raise ValueError(f"length must be >= 2 (one marker in each half), got {T}")
    values = torch.rand(B, T, generator=generator)  # (B, T)
    half = T // 2
    first = torch.randint(0, half, (B,), generator=generator)
    second = torch.randint(half, T, (B,), generator=generator)
    markers = torch.zeros(B, T)
    rows = torch.arange(B)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    y = values[rows, first] + values[rows, second]  # (B,)
    return torch.stack([values, markers], dim=-1), y  # (B, T, 2), (B,)


def batch_seed(seed: int, epoch: int, index: int) -> int:
    """The generator seed of batch ``index`` of ``epoch`` (stable across processes)."""
    return (seed * 1_000_003 + epoch * 7_919 + index * 104_729 + 17) % 2**63


class SyntheticSource:
    """A resumable batch source of freshly drawn synthetic batches (the trainer's ``BatchSource``).

    Args:
        make: ``generator -> batch``.
        batches: batches per epoch.
        seed: the source's seed; with ``fixed=True`` every epoch repeats the same batches (validation
            and test sets), else each epoch draws new ones.
    """

    def __init__(self, make: Callable[[torch.Generator], Any], batches: int, seed: int, fixed: bool = False):
        self.make, self.batches, self.seed, self.fixed = (
            make,
            check_positive_int("batches", batches),
            seed,
            fixed,
        )

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Any]:
        e = 0 if self.fixed else epoch
        for i in range(start, self.batches):
            yield self.make(torch.Generator().manual_seed(batch_seed(self.seed, e, i)))

    def __len__(self) -> int:
        return self.batches
