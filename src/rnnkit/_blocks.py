"""Generated blocks in a markdown file: the text between ``<!-- NAME -->`` and ``<!-- /NAME -->`` lines,
found and replaced by name (the README's generated sections, :mod:`rnnkit.readme`)."""

from __future__ import annotations

import re

#: a block: ``<!-- name -->\\n`` … ``<!-- /name -->`` (names: letters, digits, ``:``, ``-``, ``_``)
_BLOCK = re.compile(r"<!-- ([A-Za-z0-9:_-]+) -->\n(.*?)<!-- /\1 -->", re.S)


def blocks(readme: str) -> dict[str, str]:
    """Every generated block of ``readme``: name -> its text."""
    found: dict[str, str] = {}
    for m in _BLOCK.finditer(readme):
        if m.group(1) in found:
            raise ValueError(f"the README has two <!-- {m.group(1)} --> blocks")
        found[m.group(1)] = m.group(2)
    return found


def block(readme: str, name: str) -> str:
    """The text of the ``name`` block; ValueError naming the markers when it is missing."""
    found = blocks(readme)
    if name not in found:
        raise ValueError(f"the README has no block between <!-- {name} --> and <!-- /{name} -->")
    return found[name]


def with_block(readme: str, name: str, text: str) -> str:
    """``readme`` with the ``name`` block's text replaced by ``text``."""
    block(readme, name)  # raises when missing
    if text and not text.endswith("\n"):
        text += "\n"
    pattern = re.compile(rf"(<!-- {re.escape(name)} -->\n).*?(<!-- /{re.escape(name)} -->)", re.S)
    return pattern.sub(lambda m: m.group(1) + text + m.group(2), readme, count=1)
