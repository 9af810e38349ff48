"""Batches, scoring and completion for the ``compose`` task.

:class:`PairBatches` turns prefix → continuation pairs into padded tensors
``(src (B, S), src_lengths (B,), tgt_in (B, T), tgt_out (B, T))`` with ``tgt_in`` = ``<bos>`` + the
target but its last token and ``tgt_out`` the target padded with ``<pad>`` (ignored by the loss).
:func:`model_metrics` scores a :class:`~rnnkit.models.Seq2Seq` exactly as the n-gram baselines are scored
(:func:`rnnkit.data.compose_eval.score`): the first decoder step's top 3 tokens and a greedy 3-token
continuation, ``<pad>``/``<bos>``/``<unk>`` never proposed. :func:`complete` is Smart Compose itself:
beam search over the continuation of a typed prefix.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._batches import batch_count, batch_indices
from ..data.compose import BOS, EOS, PAD, UNK, ComposeData, PairSet, Vocab, detokenize, pad_batch, tokenize
from ..data.compose_eval import score

BANNED = (PAD, BOS, UNK)  # never proposed


class PairBatches:
    """Padded batches over a :class:`PairSet`; shuffled by ``(seed, epoch)`` when ``shuffle``.
    ``corpus`` keeps the whole :class:`ComposeData` (vocabulary, training sentences) for baselines."""

    def __init__(
        self,
        pairs: PairSet,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int = 0,
        corpus: ComposeData | None = None,
    ) -> None:
        if len(pairs) == 0:
            raise ValueError("PairBatches needs at least one pair, got none")
        self.pairs, self.batch_size, self.shuffle, self.seed, self.corpus = (
            pairs,
            batch_size,
            shuffle,
            seed,
            corpus,
        )

    def __len__(self) -> int:
        return batch_count(len(self.pairs), self.batch_size)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[Tensor, Tensor, Tensor, Tensor]]:
        for rows in batch_indices(
            len(self.pairs), self.batch_size, shuffle=self.shuffle, seed=self.seed, epoch=epoch, start=start
        ):
            idx = rows.tolist()
            src, src_len = pad_batch([self.pairs.src[i] for i in idx])
            tgt_in, _ = pad_batch([self.pairs.tgt[i][:-1] for i in idx], prepend=BOS)
            tgt_out, _ = pad_batch([self.pairs.tgt[i] for i in idx])
            yield src, src_len, tgt_in, tgt_out


def _mask(logits: Tensor) -> Tensor:
    return logits.index_fill(-1, torch.tensor(BANNED, device=logits.device), float("-inf"))


def greedy_continuation(model: nn.Module, src: Tensor, src_len: Tensor, steps: int) -> list[list[int]]:
    """Argmax decoding of ``steps`` tokens (stopping at ``<eos>``) with the banned tokens masked."""
    return greedy_with_confidence(model, src, src_len, steps)[0]


@torch.no_grad()
def greedy_with_confidence(
    model: nn.Module, src: Tensor, src_len: Tensor, steps: int
) -> tuple[list[list[int]], list[float]]:
    """:func:`greedy_continuation` and, per row, the model's probability of that continuation: the
    product of each chosen token's probability (banned tokens masked), up to its ``<eos>``."""
    enc, state = model.encode(src, src_len)
    token = torch.full((src.size(0),), BOS, dtype=torch.long, device=enc.memory.device)
    tokens, probs = [], []
    for _ in range(steps):
        logits, state, _ = model.decode_step(token, state, enc)
        masked = _mask(logits)  # (B, V)
        token = masked.argmax(-1)  # (B,)
        tokens.append(token)
        probs.append(masked.float().softmax(-1).gather(1, token[:, None])[:, 0])  # (B,)
    if not tokens:  # steps = 0: nothing proposed
        return [[] for _ in range(src.size(0))], [1.0] * src.size(0)
    rows, confidence = [], []
    for row, ps in zip(torch.stack(tokens, 1).tolist(), torch.stack(probs, 1).tolist(), strict=True):
        n = row.index(EOS) + 1 if EOS in row else len(row)
        rows.append(row[:n])
        confidence.append(float(math.prod(ps[:n])))
    return rows, confidence


@dataclass(frozen=True)
class ConfidencePoint:
    """Suggest only the most confident ``coverage`` share of prefixes (a probability of at least
    ``threshold``): the share of those suggestions that are exactly right (``exact3``)."""

    coverage: float
    threshold: float
    exact3: float
    shown: int


#: the shares of prefixes given a suggestion on the confidence curve
COVERAGES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)


def confidence_curve(
    confidence: list[float], correct: list[bool], coverages: tuple[float, ...] = COVERAGES
) -> list[ConfidencePoint]:
    """Gmail's trade-off: rank the prefixes by the model's confidence in its 3-token suggestion, show a
    suggestion for the top ``coverage`` share only, and score the exact-3 accuracy of those shown."""
    if len(confidence) != len(correct):
        raise ValueError(
            f"confidence and correct must be equally long, got {len(confidence)}, {len(correct)}"
        )
    if not confidence:
        raise ValueError("confidence_curve needs at least one scored prefix")
    order = sorted(range(len(confidence)), key=lambda i: -confidence[i])
    points = []
    for c in coverages:
        if not 0 < c <= 1:
            raise ValueError(f"coverages must be in (0, 1], got {c}")
        k = max(1, math.ceil(c * len(order)))
        top = order[:k]
        points.append(ConfidencePoint(c, confidence[top[-1]], sum(correct[i] for i in top) / k, k))
    return points


@torch.no_grad()
def model_confidence(model: nn.Module, source) -> tuple[list[float], list[bool]]:
    """Per pair of ``source`` that exact-3 scores (a true continuation of at least 3 tokens): the
    probability of the model's greedy 3-token suggestion, and whether it is exactly right (as exact-3
    counts it: a true continuation with ``<unk>`` is never matched)."""
    device = next(model.parameters()).device
    confidence, correct = [], []
    for src, src_len, _, tgt_out in source.epoch(0):
        rows, conf = greedy_with_confidence(model, src.to(device), src_len, 3)
        for row, c, target in zip(rows, conf, tgt_out.tolist(), strict=True):
            target = [t for t in target if t != PAD]
            if len(target) >= 3:
                confidence.append(c)
                correct.append(list(row[:3]) == target[:3] and UNK not in target[:3])
    return confidence, correct


@torch.no_grad()
def model_metrics(model: nn.Module, source, max_batches: int | None = None) -> dict[str, float]:
    """Teacher-forced loss per target token, and top-1 / top-3 / exact-3 as in ``compose_eval.score``."""
    device = next(model.parameters()).device
    total, count = 0.0, 0
    top_k, conts, targets = [], [], []
    for i, (src, src_len, tgt_in, tgt_out) in enumerate(source.epoch(0)):
        if max_batches is not None and i >= max_batches:
            break
        src, tgt_in, tgt_out = src.to(device), tgt_in.to(device), tgt_out.to(device)
        logits = model(src, src_len, tgt_in)  # (B, T, V)
        flat = logits.reshape(-1, logits.size(-1))  # (B·T, V): contiguous rows, fast on CPU
        total += float(F.cross_entropy(flat, tgt_out.reshape(-1), ignore_index=PAD, reduction="sum"))
        count += int((tgt_out != PAD).sum())
        top_k += _mask(logits[:, 0]).topk(3, dim=-1).indices.tolist()
        conts += greedy_continuation(model, src, src_len, 3)
        targets += [[t for t in row if t != PAD] for row in tgt_out.tolist()]
    return {"loss": total / max(count, 1), **score(top_k, conts, targets)}


@dataclass(frozen=True)
class Completion:
    """One proposed continuation.

    Attributes:
        tokens: its words and punctuation marks (``<eos>`` left out).
        text: what to append to the prompt, spaced as the text would be (``", O LORD"``, ``" Moses"``).
        prob: the model's probability of the whole continuation, the end of the sentence included when
            ``ends_sentence`` (the product of its tokens' probabilities).
        ends_sentence: the model ends the sentence after it (``<eos>``; for the Bible: the verse ends).
        per_token: the geometric mean of its tokens' probabilities (``<eos>`` counts as one): comparable
            across completions of different lengths, where ``prob`` favours the short ones.
    """

    tokens: list[str]
    text: str
    prob: float
    ends_sentence: bool
    per_token: float = float("nan")


class _Proposing:
    """A Seq2Seq as beam search sees it when proposing: ``<pad>``, ``<bos>`` and ``<unk>`` impossible, so
    every hypothesis it keeps is a completion that can be shown."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def encode(self, src: Tensor, src_lengths: object) -> tuple[Any, Any]:
        return self.model.encode(src, src_lengths)

    def decode_step(self, token: Tensor, state: Any, enc: Any) -> tuple[Tensor, Any, Tensor | None]:
        logits, state, weights = self.model.decode_step(token, state, enc)
        return _mask(logits), state, weights


@torch.no_grad()
def complete(
    model: nn.Module,
    vocab: Vocab,
    prompt: str,
    *,
    max_prefix: int,
    beam_size: int = 5,
    n: int = 3,
    max_tokens: int = 5,
    length_penalty: float = 0.6,
) -> tuple[list[Completion], list[str]]:
    """Smart Compose: the ``n`` best distinct continuations of ``prompt`` by beam search, and the
    prompt's words the vocabulary does not know.

    The search never proposes ``<pad>``/``<bos>``/``<unk>``; its beam is at least ``n`` wide and is
    widened (up to 4 times, at most 256) while it finds fewer than ``n`` distinct completions, so fewer
    come back only where fewer exist. Ranked by the search's length-normalised score; ``prob`` and
    ``per_token`` are the model's own probabilities (teacher-forced, ``<unk>`` not excluded)."""
    from ..models.beam import beam_search

    words = tokenize(prompt)
    if not words:
        raise ValueError(f"the prompt must contain at least one word, got {prompt!r}")
    ids = vocab.encode(words)[-max_prefix:]
    unknown = [w for w in words if w not in vocab.stoi]
    device = next(model.parameters()).device
    src, src_len = torch.tensor([ids], dtype=torch.long, device=device), torch.tensor([len(ids)])
    base = detokenize(words)
    beam = max(beam_size, n)
    for _ in range(4):
        hyps = beam_search(_Proposing(model), src, src_len, beam, max_tokens, BOS, EOS, length_penalty)[0]
        kept: dict[tuple[int, ...], Any] = {}
        for h in hyps:
            kept.setdefault(tuple(h.tokens), h)  # distinct token sequences (EOS included) only
        if len(kept) >= n or beam >= 256:
            break
        beam = min(2 * beam, 256)
    chosen = list(kept.values())[:n]
    if not chosen:
        return [], unknown
    rows = [list(h.tokens) for h in chosen]
    log_p = model.sequence_log_prob(src.expand(len(rows), -1), src_len.expand(len(rows)), rows, BOS)
    out = []
    for h, lp in zip(chosen, log_p.tolist(), strict=True):
        names = [vocab.itos[t] for t in h.tokens if t != EOS]
        text = detokenize([*words, *names])[len(base) :]
        per_token = math.exp(lp / len(h.tokens))
        out.append(Completion(names, text, math.exp(lp), bool(h.tokens[-1:] == [EOS]), per_token))
    return out, unknown
