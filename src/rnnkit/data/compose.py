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

The held-out books' verses are split by chapter: even chapters for validation, odd ones for testing.
Metrics and n-gram baselines live in :mod:`rnnkit.data.compose_eval`.

Example::

    from rnnkit.data.compose import ComposeConfig, compose_data
    data = compose_data(ComposeConfig())
    data.vocab.decode(data.val.src[0]), data.vocab.decode(data.val.tgt[0])
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from . import kjv

SPECIALS: tuple[str, ...] = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = range(4)
_TOKEN = re.compile(r"[A-Za-z]+(?:['-][A-Za-z]+)*'?|\d+|[^\sA-Za-z\d]")
_NO_SPACE_BEFORE = frozenset(",.;:?!)]-")
_NO_SPACE_AFTER = frozenset("([-")


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
        train_cuts_per_verse: pairs drawn from each *training* verse (None = ``cuts_per_verse``): more
            distinct training pairs at no cost per step; validation and test pairs stay as they are.
        min_prefix: the shortest prefix, in tokens.
        seed: seed of the cut points.
        max_verses: use only the first N verses of each split (None = all; for quick runs and tests).
    """

    vocab_size: int = 6000
    max_prefix: int = 24
    max_continuation: int = 5
    cuts_per_verse: int = 3
    train_cuts_per_verse: int | None = None
    min_prefix: int = 2
    seed: int = 0
    max_verses: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_prefix", "max_continuation", "cuts_per_verse", "min_prefix"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        t = self.train_cuts_per_verse
        if t is not None and (isinstance(t, bool) or not isinstance(t, int) or t < 1):
            raise ValueError(f"train_cuts_per_verse must be None or a positive int, got {t!r}")
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
    """A corpus cut into pairs: vocabulary, train/val/test pairs, and the training sentences as ids."""

    vocab: Vocab
    train: PairSet
    val: PairSet
    test: PairSet
    train_verses: list[list[int]]  # the n-gram baselines' training text
    config: ComposeConfig
    source: str = ""


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


def build_corpus(
    train: Sequence[Sequence[str]],
    val: Sequence[Sequence[str]],
    test: Sequence[Sequence[str]],
    config: ComposeConfig,
    vocab: Vocab | None = None,
    source: str = "",
) -> ComposeData:
    """Pairs from tokenised sentences of each split; the vocabulary comes from ``train`` unless given."""
    cap = (lambda xs: list(xs)[: config.max_verses]) if config.max_verses else list
    train, val, test = cap(train), cap(val), cap(test)
    if not train or not val or not test:
        raise ValueError(
            f"every split needs sentences, got {len(train)} train, {len(val)} val, {len(test)} test"
        )
    vocab = vocab or Vocab.build(train, config.vocab_size)
    ids = [[vocab.encode(t) for t in split] for split in (train, val, test)]
    return ComposeData(
        vocab=vocab,
        train=make_pairs(
            ids[0], replace(config, cuts_per_verse=config.train_cuts_per_verse or config.cuts_per_verse)
        ),
        val=make_pairs(ids[1], replace(config, seed=config.seed + 1)),
        test=make_pairs(ids[2], replace(config, seed=config.seed + 2)),
        train_verses=ids[0],
        config=config,
        source=source,
    )


def compose_data(config: ComposeConfig | None = None, vocab: Vocab | None = None) -> ComposeData:
    """The KJV: training books for training; the held-out books' even chapters for validation, odd
    chapters for testing (the by-book split of :mod:`rnnkit.data.kjv`)."""
    cfg = config or ComposeConfig()
    held_out = set(kjv.split_books()[1])
    splits: dict[str, list[list[str]]] = {"train": [], "val": [], "test": []}
    for v in kjv.load_verses():
        split = "train" if v.book not in held_out else ("val" if v.chapter % 2 == 0 else "test")
        splits[split].append(tokenize(v.text))
    source = "King James Bible (held out: " + ", ".join(kjv.split_books()[1]) + ")"
    return build_corpus(splits["train"], splits["val"], splits["test"], cfg, vocab, source)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n")


def split_sentences(text: str) -> list[list[str]]:
    """Tokenised sentences of a plain text: a sentence ends at a line break or after ``.``/``!``/``?``."""
    return [t for t in (tokenize(piece) for piece in _SENTENCE_END.split(text)) if t]


def text_data(
    text: str,
    config: ComposeConfig | None = None,
    val_frac: float = 0.1,
    vocab: Vocab | None = None,
    source: str = "your text",
) -> ComposeData:
    """Pairs from the user's text: its last ``val_frac`` of sentences held out, the first half of them
    for validation and the second for testing."""
    cfg = config or ComposeConfig()
    if not 0.0 < val_frac < 1.0:
        raise ValueError(f"val_frac must lie strictly between 0 and 1, got {val_frac}")
    sents = split_sentences(text)
    n_held = max(2, round(val_frac * len(sents)))
    if len(sents) < n_held + 1:
        raise ValueError(f"the text needs at least 3 sentences to hold some out, got {len(sents)}")
    train, held = sents[: len(sents) - n_held], sents[len(sents) - n_held :]
    half = len(held) // 2
    return build_corpus(train, held[:half], held[half:], cfg, vocab, source)


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
