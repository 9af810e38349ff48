"""Batches and baselines of the ``music`` task.

:class:`MelodyBatches` turns melodies into padded token batches ``(x, y, lengths)``:
x = ``[<s>, e1 … e_{n−1}]``, y = ``[e1 … e_n]`` (every event is predicted from the ones before it, the
first from ``<s>``), padding marked with ``IGNORE`` in y. A training source transposes each melody by a
random shift drawn from the shifts that keep it inside the training pitch range, fresh every epoch; the
draw, like the order, depends only on ``(seed, epoch)``. Melodies longer than ``max_len`` events are
cut into pieces; pieces of similar length are batched together to save padding.

The n-gram baselines score exactly the same predictions (every event given the events before it).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from .._batches import epoch_seed
from ..baselines.ngram import NGramModel
from ..data.music import Melody, transpose, transpositions
from ..data.music_vocab import EventVocab

IGNORE = -100  # target id of padded positions (cross_entropy's ignore_index)
BUCKET = 8  # training batches sorted by length together
ALPHAS = (0.01, 0.03, 0.1, 0.3, 1.0)  # add-α values tried for the n-gram baselines (chosen on validation)


def pieces(ids: list[int], max_len: int) -> list[list[int]]:
    """Cut ``[<s>, e1 … e_n]`` into overlapping pieces of at most ``max_len + 1`` tokens (each piece
    predicts up to ``max_len`` events; consecutive pieces share one token)."""
    return [ids[i : i + max_len + 1] for i in range(0, max(1, len(ids) - 1), max_len)]


class MelodyBatches:
    """Padded batches of token sequences over a list of melodies (see the module docstring)."""

    def __init__(
        self,
        melodies: Sequence[Melody],
        vocab: EventVocab,
        batch_size: int,
        *,
        max_len: int = 256,
        shifts: Sequence[int] = (0,),
        pitch_range: tuple[int, int] = (0, 127),
        shuffle: bool = False,
        seed: int = 0,
    ) -> None:
        if not melodies:
            raise ValueError("MelodyBatches needs at least one melody, got none")
        self.melodies, self.vocab = list(melodies), vocab
        self.batch_size, self.max_len, self.shuffle, self.seed = batch_size, max_len, shuffle, seed
        self.options = [transpositions(m.events, shifts, *pitch_range) or [0] for m in self.melodies]
        self._fixed = None if shuffle and any(len(o) > 1 for o in self.options) else self.batches(0)
        self._count = sum(len(pieces([0] * (len(m.events) + 1), max_len)) for m in self.melodies)

    def sequences(self, epoch: int) -> list[list[int]]:
        """The token pieces of one epoch, in batch order (see :meth:`batches`)."""
        return [s for batch in self.batches(epoch) for s in batch]

    def batches(self, epoch: int) -> list[list[list[int]]]:
        """The epoch's batches of token pieces. Pieces of similar length share a batch (less padding):
        evaluation sorts them all by length; training shuffles, sorts within windows of
        ``BUCKET`` batches, then shuffles the batches."""
        rng = random.Random(epoch_seed(self.seed, epoch))
        order = list(range(len(self.melodies)))
        if self.shuffle:
            rng.shuffle(order)
        seqs = []
        for i in order:
            shift = rng.choice(self.options[i]) if self.shuffle else 0
            events = transpose(self.melodies[i].events, shift) if shift else self.melodies[i].events
            seqs.extend(pieces(self.vocab.encode(events), self.max_len))
        window = self.batch_size * BUCKET if self.shuffle else len(seqs)
        for w in range(0, len(seqs), window):
            seqs[w : w + window] = sorted(seqs[w : w + window], key=len)
        out = [seqs[b : b + self.batch_size] for b in range(0, len(seqs), self.batch_size)]
        if self.shuffle:
            rng.shuffle(out)
        return out

    def __len__(self) -> int:
        return math.ceil(self._count / self.batch_size)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        batches = self._fixed if self._fixed is not None else self.batches(epoch)
        for batch in batches[start:]:
            yield collate(batch)

    def token_sequences(self) -> list[list[int]]:
        """Every untransposed melody as ``[<s>, e1 … e_n]`` (what the baselines score)."""
        return [self.vocab.encode(m.events) for m in self.melodies]


def collate(seqs: Sequence[Sequence[int]]) -> tuple[Tensor, Tensor, Tensor]:
    """x (B, T) padded with 0, y (B, T) padded with IGNORE, lengths (B,)."""
    T = max(len(s) for s in seqs) - 1
    x = torch.zeros(len(seqs), T, dtype=torch.long)
    y = torch.full((len(seqs), T), IGNORE, dtype=torch.long)
    for b, s in enumerate(seqs):
        n = len(s) - 1
        x[b, :n] = torch.as_tensor(s[:-1])
        y[b, :n] = torch.as_tensor(s[1:])
    return x, y, torch.tensor([len(s) - 1 for s in seqs])


def ngram_nll(model: NGramModel, seqs: Sequence[Sequence[int]]) -> tuple[float, int]:
    """(total NLL in nats, events scored): every token after the first, given the tokens before it."""
    total, n = 0.0, 0
    for s in seqs:
        for i in range(1, len(s)):
            total -= math.log(model.prob(s[max(0, i - model.order + 1) : i], s[i]))
            n += 1
    return total, n


def ngram_baselines(
    train: MelodyBatches, val: MelodyBatches, splits: dict[str, MelodyBatches], augmented: list[list[int]]
) -> dict[str, dict[str, dict[str, float]]]:
    """Unigram and bigram perplexity on each split; α and whether the bigram is fit on the transposed
    training melodies too are chosen on validation (the baselines get their best shot)."""
    V = len(train.vocab)
    fits = {"plain": train.token_sequences(), "transposed": augmented}
    val_seqs = val.token_sequences()
    out: dict[str, dict[str, dict[str, float]]] = {s: {} for s in splits}
    for name, order in (("unigram", 1), ("bigram", 2)):
        best = None
        for data_name, seqs in fits.items():
            counts = NGramModel(order, V, 1.0).fit(seqs)
            for alpha in ALPHAS:
                counts.alpha = alpha
                nll, k = ngram_nll(counts, val_seqs)
                if best is None or nll / k < best[0]:
                    best = (nll / k, data_name, alpha)
        _, data_name, alpha = best
        model = NGramModel(order, V, alpha).fit(fits[data_name])
        for split, source in splits.items():
            nll, k = ngram_nll(model, source.token_sequences())
            out[split][name] = {"loss": nll / k, "ppl": math.exp(nll / k)}
    return out


def augmented_sequences(
    melodies: Sequence[Melody], vocab: EventVocab, shifts, pitch_range
) -> list[list[int]]:
    """Every training melody in every allowed transposition, as token sequences."""
    return [
        vocab.encode(transpose(m.events, s))
        for m in melodies
        for s in transpositions(m.events, shifts, *pitch_range)
    ]
