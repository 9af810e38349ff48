"""The Python snippets of the documentation: found in the pages, run in order, one namespace per page.

Every fenced block that opens with a bare ```` ```python ```` line is a snippet and is executed — by
``tests/test_docs.py`` for every page, and by the figures hook for the concept pages (whose snippets
write the figures the page shows). Code that must not run is fenced as ``text`` or ``bash``.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
from collections.abc import Iterator
from pathlib import Path

FENCE = re.compile(r"^(?P<indent>[ \t]*)```python[ \t]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
SEED = 0


def python_snippets(markdown: str) -> list[str]:
    """The code of every ```python fence of a page, in order, dedented to its fence."""
    out = []
    for m in FENCE.finditer(markdown):
        indent = m["indent"]
        lines = m["body"].splitlines(True)
        out.append("".join(line[len(indent) :] if line.startswith(indent) else line for line in lines))
    return out


@contextlib.contextmanager
def working_dir(path: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


class SnippetError(RuntimeError):
    """A snippet of a page raised; the message names the page and the snippet (1-based)."""


def run_page(page: Path, workdir: Path, label: str | None = None) -> dict[str, object]:
    """Run the snippets of ``page`` in order in one namespace, inside ``workdir``, from a fixed seed.
    Returns the namespace; raises :class:`SnippetError` naming the page and snippet that failed."""
    import numpy as np
    import torch

    name = label or page.name
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    namespace: dict[str, object] = {"__name__": f"docs:{name}"}
    snippets = python_snippets(page.read_text(encoding="utf-8"))
    workdir.mkdir(parents=True, exist_ok=True)
    with working_dir(workdir):
        for k, code in enumerate(snippets, start=1):
            try:
                exec(compile(code, f"<{name}, snippet {k}>", "exec"), namespace)
            except Exception as e:
                raise SnippetError(f"{name}, snippet {k}: {type(e).__name__}: {e}") from e
    return namespace
