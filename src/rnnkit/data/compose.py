"""Smart Compose data from the King James Bible: word-level tokens, prefix → continuation pairs, and
n-gram baselines scored exactly like the model.

Tokens are words (letters with an optional apostrophe suffix, ``brother's``), numbers, and single
punctuation marks, case kept (``LORD`` is not ``Lord``); :func:`detokenize` undoes :func:`tokenize` on
the KJV text. The vocabulary is built from the *training* books only (the by-book split of
``rnnkit.data.kjv``), capped at ``vocab_size`` entries including the specials ``<pad>``, ``<bos>``,
``<eos>``, ``<unk>``; rarer words become ``<unk>``.

Each verse gives several pairs by cutting it after a random token: the prefix (the encoder's input, at
most the last ``max_prefix`` tokens) and the next ``max_continuation`` tokens (the decoder's target),
ending with ``<eos>`` when the verse ends inside that window.

Metrics (:func:`score`): next-token top-1 / top-3 accuracy (the first continuation token among the
top k proposals) and 3-token exact match (the first three target tokens reproduced exactly, over pairs
with at least three). ``<unk>`` is never proposed, so an out-of-vocabulary target always counts as a miss.

Example::

    from rnnkit.data.compose import ComposeConfig, compose_data, ngram_baselines
    data = compose_data(ComposeConfig())
    data.vocab.decode(data.val.src[0]), data.vocab.decode(data.val.tgt[0])
    ngram_baselines(data, orders=(2, 3))     # {"bigram": {"top1": …, "top3": …, "exact3": …}, …}
"""

from __future__ import annotations

import heapq
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ..baselines import NGramModel
from . import kjv

SPECIALS: tuple[str, ...] = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = range(4)
_TOKEN = re.compile(r"[A-Za-z]+(?:['-][A-Za-z]+)*'?|\d+|[^\sA-Za-z\d]")
_NO_SPACE_BEFORE = frozenset(",.;:?!)]-")
_NO_SPACE_AFTER = frozenset("([-")
_NGRAM_NAMES = {1: "unigram", 2: "bigram", 3: "trigram", 4: "4-gram", 5: "5-gram"}


def tokenize(text: str) -> list[str]:
    """Words, numbers and punctuation marks of ``text``, case kept."""
    return _TOKEN.findall(text)


def detokenize(tokens: Iterable[str]) -> str:
    """Join tokens with single spaces, none before ``,.;:?!)]`` or after ``([`` (inverse of tokenize)."""
    out: list[str] = []
    for tok in tokens:
        if out and tok not in _NO_SPACE_BEFORE and out[-1] not in _NO_SPACE_AFTER:
            out.append(" ")
        out.append(tok)
    return "".join(out)


@dataclass
class Vocab:
    """Token ↔ id mapping; ids 0–3 are ``<pad>``, ``<bos>``, ``<eos>``, ``<unk>``."""

    itos: list[str]
    stoi: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if tuple(self.itos[:4]) != SPECIALS:
            raise ValueError(f"a vocabulary must start with {SPECIALS}, got {tuple(self.itos[:4])}")
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], max_size: int = 6000) -> Vocab:
        """The ``max_size`` − 4 most frequent tokens (ties alphabetical) after the specials."""
        if not isinstance(max_size, int) or max_size < 5:
            raise ValueError(f"max_size must be an int >= 5, got {max_size!r}")
        counts = Counter(t for toks in token_lists for t in toks)
        ranked = sorted(counts, key=lambda t: (-counts[t], t))[: max_size - len(SPECIALS)]
        return cls([*SPECIALS, *ranked])

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        return [self.stoi.get(t, UNK) for t in tokens]

    def decode(self, ids: Iterable[int], *, keep_special: bool = False) -> list[str]:
        """Ids → tokens; stops at ``<eos>`` and drops ``<pad>``/``<bos>`` unless ``keep_special``."""
        out = []
        for i in ids:
            i = int(i)
            if not keep_special and i == EOS:
                break
            if keep_special or i not in (PAD, BOS):
                out.append(self.itos[i])
        return out

    def to_json(self) -> str:
        return json.dumps({"itos": self.itos}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Vocab:
        return cls(list(json.loads(text)["itos"]))


@dataclass(frozen=True)
class ComposeConfig:
    """How the corpus is cut into pairs.

    Attributes:
        vocab_size: vocabulary cap including the 4 specials.
        max_prefix: the encoder sees at most this many of the prefix's last tokens.
        max_continuation: target tokens per pair (plus ``<eos>`` when the verse ends inside the window).
        cuts_per_verse: pairs drawn from each verse (distinct cut points; fewer for short verses).
        min_prefix: the shortest prefix, in tokens.
        seed: seed of the cut points.
        max_verses: use only the first N verses of each split (None = all; for quick runs and tests).
    """

    vocab_size: int = 6000
    max_prefix: int = 24
    max_continuation: int = 5
    cuts_per_verse: int = 3
    min_prefix: int = 2
    seed: int = 0
    max_verses: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_prefix", "max_continuation", "cuts_per_verse", "min_prefix"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.max_verses is not None and (not isinstance(self.max_verses, int) or self.max_verses < 1):
            raise ValueError(f"max_verses must be None or a positive int, got {self.max_verses!r}")


@dataclass
class PairSet:
    """Prefix → continuation pairs as token ids (no specials in ``src``; ``tgt`` may end in ``<eos>``).

    ``context`` holds the whole verse prefix (for n-gram models, which need no truncation)."""

    src: list[list[int]]
    tgt: list[list[int]]
    context: list[list[int]]

    def __len__(self) -> int:
        return len(self.src)


@dataclass
class ComposeData:
    vocab: Vocab
    train: PairSet
    val: PairSet
    train_verses: list[list[int]]  # every training verse as ids (the n-gram baselines' training text)
    config: ComposeConfig


def make_pairs(verses: Sequence[Sequence[int]], config: ComposeConfig) -> PairSet:
    """Cut each verse (token ids) at up to ``cuts_per_verse`` random points into prefix → continuation."""
    rng = np.random.default_rng(config.seed)
    src, tgt, ctx = [], [], []
    for ids in verses:
        n = len(ids)
        cuts = np.arange(config.min_prefix, n)  # at least one continuation token
        if len(cuts) == 0:
            continue
        for c in sorted(rng.choice(cuts, size=min(config.cuts_per_verse, len(cuts)), replace=False)):
            cont = list(ids[c : c + config.max_continuation])
            if c + config.max_continuation >= n:
                cont.append(EOS)
            src.append(list(ids[max(0, c - config.max_prefix) : c]))
            tgt.append(cont)
            ctx.append(list(ids[:c]))
    return PairSet(src, tgt, ctx)


def compose_data(config: ComposeConfig | None = None) -> ComposeData:
    """Vocabulary from the training books, and pairs from training and held-out books (``kjv`` split)."""
    cfg = config or ComposeConfig()
    val_books = kjv.split_books()[1]
    held_out = set(val_books)
    verses = kjv.load_verses()
    train_tok = [tokenize(v.text) for v in verses if v.book not in held_out]
    val_tok = [tokenize(v.text) for v in verses if v.book in held_out]
    if cfg.max_verses is not None:
        train_tok, val_tok = train_tok[: cfg.max_verses], val_tok[: cfg.max_verses]
    vocab = Vocab.build(train_tok, cfg.vocab_size)
    train_ids = [vocab.encode(t) for t in train_tok]
    val_ids = [vocab.encode(t) for t in val_tok]
    return ComposeData(
        vocab=vocab,
        train=make_pairs(train_ids, cfg),
        val=make_pairs(val_ids, replace(cfg, seed=cfg.seed + 1)),
        train_verses=train_ids,
        config=cfg,
    )


def pad_batch(
    seqs: Sequence[Sequence[int]], *, prepend: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded (B, L) int64 ids and (B,) lengths; ``prepend`` adds a token (e.g. BOS) to each."""
    rows = [([prepend] if prepend is not None else []) + list(s) for s in seqs]
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.int64)
    out = torch.full((len(rows), int(lengths.max()) if rows else 0), PAD, dtype=torch.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.int64)
    return out, lengths


# ---- scoring -----------------------------------------------------------------------------------------


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


def ngram_baselines(data: ComposeData, orders: Sequence[int] = (2, 3)) -> dict[str, dict[str, float]]:
    """Fit n-gram models on the training verses and score them on the held-out pairs."""
    out = {}
    seqs = [[BOS, *v, EOS] for v in data.train_verses]
    for order in orders:
        ranker = NGramRanker(NGramModel(order, len(data.vocab)).fit(seqs))
        preds = [ranker.predict(ctx) for ctx in data.val.context]
        out[_NGRAM_NAMES.get(order, f"{order}-gram")] = score(
            [p[0] for p in preds], [p[1] for p in preds], data.val.tgt
        )
    return out
