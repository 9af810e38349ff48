"""Griffe extension: the reStructuredText bits of rnnkit's docstrings, made Markdown for mkdocstrings.

The docstrings are read in the terminal and by ``help()`` too, so they stay as written; only the copy
that mkdocstrings renders is changed:

- ``.. math::`` blocks become display math (``$$ … $$``, a multi-line block wrapped in
  ``\\begin{aligned}``), which ``pymdownx.arithmatex`` and the MathML hook render;
- ``Text::`` followed by an indented block becomes ``Text:`` and a fenced Python block;
- roles such as ``:class:`~rnnkit.cells.base.CellSpec``` become code (``CellSpec``).
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import griffe

MATH = re.compile(r"^(?P<i>[ ]*)\.\. math::[ ]*\n(?P<body>(?:(?P=i)[ ]+\S.*\n|[ ]*\n)+)", re.M)
LITERAL = re.compile(r"^(?P<i>[ ]*)(?P<text>\S.*?)::[ ]*\n[ ]*\n(?P<body>(?:(?P=i)[ ]+\S.*\n|[ ]*\n)+)", re.M)
ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj):`(?P<tilde>~?)(?P<target>[^`]+)`")


def _math(m: re.Match[str]) -> str:
    tex = textwrap.dedent(m["body"]).strip()
    if "&" in tex or "\\\\" in tex:
        tex = f"\\begin{{aligned}}\n{tex}\n\\end{{aligned}}"
    i = m["i"]
    return f"{i}$$\n" + textwrap.indent(tex, i) + f"\n{i}$$\n\n"


def _literal(m: re.Match[str]) -> str:
    i = m["i"]
    code = textwrap.dedent(m["body"]).strip("\n")
    return f"{i}{m['text']}:\n\n{i}```python\n" + textwrap.indent(code, i) + f"\n{i}```\n\n"


def _role(m: re.Match[str]) -> str:
    target = m["target"]
    return f"`{target.rsplit('.', 1)[-1] if m['tilde'] else target}`"


def markdown_of(text: str) -> str:
    """The Markdown mkdocstrings renders for an rnnkit docstring."""
    text = MATH.sub(_math, text + "\n")
    text = LITERAL.sub(_literal, text)
    return ROLE.sub(_role, text).rstrip("\n")


class RstDocstrings(griffe.Extension):
    """Rewrite every docstring of the loaded package once it is fully loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        seen: set[int] = set()
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = markdown_of(obj.docstring.value)
            stack.extend(m for m in obj.members.values() if not m.is_alias)
