"""Short passages of a text run's validation text, for the page's Explorer (``GET /api/passages``).

The validation text is the run's own (the King James Bible's held-out books, or the last part of the
``--text`` file it was trained on), read again from its configuration; passages are whole lines taken
at evenly spaced places, joined while they fit, and only those every character of which the model knows.
"""

from __future__ import annotations

from typing import Any


def pick_passages(text: str, known: set[str], count: int = 6, max_chars: int = 300) -> list[str]:
    """Up to ``count`` passages of ``text`` of at most ``max_chars`` characters each, evenly spaced:
    consecutive lines joined while they fit (a longer first line is cut at a space), every character in
    ``known``, at least 20 characters long."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if max_chars < 20:
        raise ValueError(f"max_chars must be at least 20, got {max_chars}")
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if line.strip()]
    if not starts:
        return []
    found: list[str] = []
    tries = min(len(starts), 4 * count)
    for k in range(tries):
        i = starts[k * len(starts) // tries]
        passage = lines[i]
        if len(passage) > max_chars:
            cut = passage.rfind(" ", 0, max_chars)
            passage = passage[: cut if cut > 0 else max_chars]
        else:
            j = i + 1
            while j < len(lines) and len(passage) + 1 + len(lines[j]) <= max_chars:
                passage += "\n" + lines[j]
                j += 1
        passage = passage.strip()
        if len(passage) >= 20 and set(passage) <= known and passage not in found:
            found.append(passage)
        if len(found) == count:
            break
    return found


def run_passages(run: Any, count: int = 6, max_chars: int = 300) -> dict[str, Any]:
    """``{"source": ..., "passages": [...]}`` from a text :class:`~rnnkit.run.Run`'s validation text;
    ``FileNotFoundError`` when the text it was trained on is no longer there."""
    from ..tasks.text import load_texts

    if run.task != "text":
        raise ValueError(f"passages come from a text run's validation text; this is a {run.task} run")
    _, val, source = load_texts(run.config)
    return {"source": source, "passages": pick_passages(val, set(run.vocab.chars), count, max_chars)}
