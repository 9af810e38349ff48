"""Held-out melodies that are really unseen: a split by *tune*, not by file.

A corpus often holds one tune several times (Bach harmonised many hymn tunes more than once: the 412
chorale soprano lines hold about 220 distinct tunes), so a split by file puts copies of held-out tunes
into training and flatters any model that memorises. Here melodies are grouped by tune and whole groups
go to one split.

Two melodies are the same tune when their pitch contours match: with repeated notes merged and the
melody reduced to its intervals (so transposition and rhythm do not matter), either their first 8
intervals are equal or the sets of their interval 4-grams have a Jaccard similarity of at least
``threshold`` (0.4: unrelated chorale melodies stay below 0.3, re-harmonisations of one tune score
0.4 – 1). Groups are the connected components of this relation.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import defaultdict
from collections.abc import Sequence

from .music import Event, Melody

OPENING = 8  # intervals compared at the start
GRAM = 4  # interval n-gram length of the similarity


def contour(events: Sequence[Event]) -> list[int]:
    """The melody's intervals in semitones, rests dropped and repeated notes merged."""
    pitches = [e.pitch for e in events if e.pitch is not None]
    merged = [p for i, p in enumerate(pitches) if i == 0 or p != pitches[i - 1]]
    return [b - a for a, b in itertools.pairwise(merged)]


def tune_groups(melodies: Sequence[Melody], threshold: float = 0.4) -> list[int]:
    """A group id per melody (melodies of one tune share it); ids are 0, 1, … in order of first
    appearance."""
    n = len(melodies)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(i: int, j: int) -> None:
        parent[root(i)] = root(j)

    contours = [contour(m.events) for m in melodies]
    grams = [{tuple(c[i : i + GRAM]) for i in range(len(c) - GRAM + 1)} for c in contours]
    openings: dict[tuple[int, ...], int] = {}
    index: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, c in enumerate(contours):
        if len(c) >= OPENING:
            head = tuple(c[:OPENING])
            if head in openings:
                join(i, openings[head])
            openings.setdefault(head, i)
        for g in grams[i]:
            index[g].append(i)
    common = max(50, n // 20)  # n-grams in more melodies than this are too common to propose pairs
    for i in range(n):
        candidates = {j for g in grams[i] if len(index[g]) <= common for j in index[g] if j > i}
        for j in candidates:
            shared = len(grams[i] & grams[j])
            if shared / (len(grams[i]) + len(grams[j]) - shared) >= threshold:
                join(i, j)
    ids: dict[int, int] = {}
    return [ids.setdefault(root(i), len(ids)) for i in range(n)]


def split_melodies(
    melodies: Sequence[Melody],
    val_frac: float = 0.1,
    test_frac: float = 0.1,
    seed: int = 0,
    *,
    by_tune: bool = True,
) -> tuple[list[Melody], list[Melody], list[Melody]]:
    """(train, validation, test). The tune groups (or single melodies with ``by_tune=False``) are
    shuffled with ``seed``; whole groups go to the test split until it holds ``test_frac`` of the
    melodies, then to validation until it holds ``val_frac``; the rest train."""
    for name, frac in (("val_frac", val_frac), ("test_frac", test_frac)):
        if not 0.0 <= frac < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {frac}")
    group = tune_groups(melodies) if by_tune else list(range(len(melodies)))
    members: dict[int, list[Melody]] = defaultdict(list)
    for m, g in zip(melodies, group, strict=True):
        members[g].append(m)
    order = list(members.values())
    random.Random(seed).shuffle(order)
    splits: list[list[Melody]] = [[], [], []]  # test, val, train
    wanted = [math.ceil(test_frac * len(melodies)), math.ceil(val_frac * len(melodies))]
    k = 0
    for tune in order:
        while k < 2 and len(splits[k]) >= wanted[k]:
            k += 1
        splits[k].extend(tune)
    test, val, train = splits
    if not train:
        raise ValueError(
            f"{len(melodies)} melodies in {len(order)} tunes leave none for training with "
            f"val_frac={val_frac}, test_frac={test_frac}"
        )
    return train, val, test
