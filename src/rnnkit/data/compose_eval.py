"""Scoring of Smart Compose proposals and the n-gram baselines, scored exactly like the model.

Metrics (:func:`score`): next-token top-1 / top-3 accuracy (the first continuation token among the
top k proposals) and 3-token exact match (the first three target tokens reproduced exactly, over pairs
with at least three). ``<unk>`` is never proposed, so an out-of-vocabulary target always counts as a miss.

Example::

    from rnnkit.data.compose import compose_data
    from rnnkit.data.compose_eval import ngram_baselines
    ngram_baselines(compose_data(), orders=(2, 3))   # {"bigram": {"top1": …, "top3": …, "exact3": …}, …}
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np

from ..baselines import NGramModel
from .compose import BOS, EOS, PAD, UNK, PairSet

_NGRAM_NAMES = {1: "unigram", 2: "bigram", 3: "trigram", 4: "4-gram", 5: "5-gram"}


def score(
    top_k: Sequence[Sequence[int]], continuations: Sequence[Sequence[int]], targets: Sequence[Sequence[int]]
) -> dict[str, float]:
    """Next-token top-1/top-3 accuracy and 3-token exact match.

    Args:
        top_k: per pair, the proposed first tokens, best first (at least 3).
        continuations: per pair, the proposed continuation (at least 3 tokens or ending in ``<eos>``).
        targets: per pair, the true continuation.
    """
    if not len(top_k) == len(continuations) == len(targets):
        raise ValueError(
            f"top_k, continuations and targets must have equal lengths, got "
            f"{len(top_k)}, {len(continuations)}, {len(targets)}"
        )
    top1 = np.mean([t[0] != UNK and t[0] in list(k[:1]) for k, t in zip(top_k, targets, strict=True)])
    top3 = np.mean([t[0] != UNK and t[0] in list(k[:3]) for k, t in zip(top_k, targets, strict=True)])
    long = [(list(c[:3]), list(t[:3])) for c, t in zip(continuations, targets, strict=True) if len(t) >= 3]
    exact = np.mean([c == t and UNK not in t for c, t in long]) if long else float("nan")
    return {"top1": float(top1), "top3": float(top3), "exact3": float(exact)}


class NGramRanker:
    """Ranks next tokens with an :class:`NGramModel`, backing off to shorter contexts when the full one
    was never seen (or has fewer than k continuations); ``<pad>``, ``<bos>`` and ``<unk>`` are never
    proposed, ties are broken by token id. Each context is ranked once and cached."""

    def __init__(self, model: NGramModel, depth: int = 8) -> None:
        self.model, self.depth = model, depth
        self._cache: dict[tuple[int, ...], list[int]] = {}

    def _ranked(self, ctx: tuple[int, ...]) -> list[int]:
        if ctx not in self._cache:
            counts = self.model.counts.get(ctx) or {}
            usable = ((-c, tok) for tok, c in counts.items() if tok not in (PAD, BOS, UNK))
            self._cache[ctx] = [tok for _, tok in heapq.nsmallest(self.depth, usable)]
        return self._cache[ctx]

    def top(self, history: Sequence[int], k: int) -> list[int]:
        """The k most likely next tokens after ``history`` (k <= depth)."""
        chosen: list[int] = []
        for order in range(self.model.order, 0, -1):
            n_ctx = min(order - 1, len(history))
            ctx = tuple(int(t) for t in history[len(history) - n_ctx :]) if n_ctx else ()
            for tok in self._ranked(ctx):
                if tok not in chosen:
                    chosen.append(tok)
                    if len(chosen) == k:
                        return chosen
        return chosen

    def predict(self, history: Sequence[int], steps: int = 3) -> tuple[list[int], list[int]]:
        """(top-3 next tokens, greedy continuation of ``steps`` tokens) after ``<bos>`` + ``history``."""
        hist = [BOS, *history]
        top = self.top(hist, 3)
        cont: list[int] = []
        for _ in range(steps):
            best = self.top(hist + cont, 1)
            cont.append(best[0] if best else EOS)
            if cont[-1] == EOS:
                break
        return top, cont


def ngram_baselines(
    train_verses: Sequence[Sequence[int]],
    vocab_size: int,
    splits: dict[str, PairSet],
    orders: Sequence[int] = (2, 3),
) -> dict[str, dict[str, dict[str, float]]]:
    """Fit n-gram models (add-1) on the training verses and score them on each split's pairs.

    Returns split -> model name ("bigram", "trigram", …) -> metrics."""
    seqs = [[BOS, *v, EOS] for v in train_verses]
    out: dict[str, dict[str, dict[str, float]]] = {split: {} for split in splits}
    for order in orders:
        ranker = NGramRanker(NGramModel(order, vocab_size).fit(seqs))
        name = _NGRAM_NAMES.get(order, f"{order}-gram")
        for split, pairs in splits.items():
            preds = [ranker.predict(ctx) for ctx in pairs.context]
            out[split][name] = score([p[0] for p in preds], [p[1] for p in preds], pairs.tgt)
    return out
