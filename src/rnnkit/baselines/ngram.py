"""An add-α smoothed n-gram model over integer tokens: the unigram/bigram baselines of the text, music
and compose demos.

P(w | ctx) = (count(ctx, w) + α) / (count(ctx) + α·V), ctx = the previous n−1 tokens; at the start of a
sequence the shorter available context is used.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import numpy as np


class NGramModel:
    """n-gram language model with add-α smoothing.

    Args:
        order: n (1 = unigram, 2 = bigram, …).
        vocab_size: V, the number of distinct tokens (ids 0 … V−1).
        alpha: the add-α pseudo-count (1.0 = Laplace).
    """

    def __init__(self, order: int, vocab_size: int, alpha: float = 1.0) -> None:
        if not isinstance(order, int) or order < 1:
            raise ValueError(f"order must be an int >= 1, got {order!r}")
        if not isinstance(vocab_size, int) or vocab_size < 1:
            raise ValueError(f"vocab_size must be an int >= 1, got {vocab_size!r}")
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        self.order, self.vocab_size, self.alpha = order, vocab_size, float(alpha)
        self.counts: dict[tuple[int, ...], Counter[int]] = defaultdict(Counter)
        self.totals: Counter[tuple[int, ...]] = Counter()

    def fit(self, sequences: Iterable[Sequence[int]]) -> NGramModel:
        """Count every context of length 0 … n−1 in the given token sequences."""
        for seq in sequences:
            seq = [int(t) for t in seq]
            for i, tok in enumerate(seq):
                if not 0 <= tok < self.vocab_size:
                    raise ValueError(f"token ids must lie in [0, {self.vocab_size}), got {tok}")
                for k in range(min(i, self.order - 1) + 1):
                    ctx = tuple(seq[i - k : i])
                    self.counts[ctx][tok] += 1
                    self.totals[ctx] += 1
        return self

    def _context(self, history: Sequence[int]) -> tuple[int, ...]:
        k = min(len(history), self.order - 1)
        return tuple(int(t) for t in history[len(history) - k :]) if k else ()

    def prob(self, history: Sequence[int], token: int) -> float:
        ctx = self._context(history)
        return (self.counts[ctx][token] + self.alpha) / (self.totals[ctx] + self.alpha * self.vocab_size)

    def distribution(self, history: Sequence[int]) -> np.ndarray:
        """P(· | history) as a (V,) array."""
        ctx = self._context(history)
        p = np.full(self.vocab_size, self.alpha, dtype=np.float64)
        for tok, c in self.counts[ctx].items():
            p[tok] += c
        return p / (self.totals[ctx] + self.alpha * self.vocab_size)

    def top_k(self, history: Sequence[int], k: int) -> list[int]:
        """The k most probable next tokens (ties broken by token id)."""
        p = self.distribution(history)
        return [int(i) for i in np.lexsort((np.arange(len(p)), -p))[:k]]

    def nll(self, sequences: Iterable[Sequence[int]]) -> tuple[float, int]:
        """(total negative log-likelihood in nats, number of tokens scored)."""
        total, n = 0.0, 0
        for seq in sequences:
            seq = [int(t) for t in seq]
            for i, tok in enumerate(seq):
                total -= math.log(self.prob(seq[max(0, i - self.order + 1) : i], tok))
                n += 1
        return total, n

    def bits_per_token(self, sequences: Iterable[Sequence[int]]) -> float:
        total, n = self.nll(sequences)
        return total / n / math.log(2)

    def perplexity(self, sequences: Iterable[Sequence[int]]) -> float:
        total, n = self.nll(sequences)
        return math.exp(total / n)
