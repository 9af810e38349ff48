"""mkdocs hook: LaTeX to MathML at build time, so formulas render with no script and no network.

``pymdownx.arithmatex`` (generic mode) marks the math of the pages — and of the docstrings, which
mkdocstrings renders with the same Markdown extensions — as ``<span class="arithmatex">\\(…\\)</span>``
and ``<div class="arithmatex">\\[…\\]</div>``; this hook replaces each with the MathML that
``latex2mathml`` makes of it, which browsers render natively. A formula it cannot convert fails the
build, naming the page.
"""

from __future__ import annotations

import html
import re

from latex2mathml.converter import convert
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

INLINE = re.compile(r'<span class="arithmatex">\\\((?P<tex>.*?)\\\)</span>', re.S)
BLOCK = re.compile(r'<div class="arithmatex">\\\[(?P<tex>.*?)\\\]</div>', re.S)
# latex2mathml knows split, not aligned ("{}" keeps a first row that opens with "[" from being read as
# an alignment argument); it has no use for row spacing such as \\[4pt]
REWRITES = ((r"\begin{aligned}", r"\begin{split}{}"), (r"\end{aligned}", r"\end{split}"))
ROW_SPACING = re.compile(r"\\\\\[[^\]]*\]")


def to_mathml(tex: str, display: str) -> str:
    """MathML for one formula (``display``: ``"inline"`` or ``"block"``)."""
    tex = html.unescape(tex).strip()
    for old, new in REWRITES:
        tex = tex.replace(old, new)
    tex = ROW_SPACING.sub(r"\\\\", tex)
    return convert(tex, display=display)


def on_page_content(html_text: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    def sub(pattern: re.Pattern[str], display: str, text: str) -> str:
        def one(m: re.Match[str]) -> str:
            try:
                math = to_mathml(m["tex"], display)
            except Exception as e:
                raise PluginError(f"mathml: {page.file.src_uri}: cannot convert {m['tex']!r}: {e}") from e
            return f'<div class="math">{math}</div>' if display == "block" else math

        return pattern.sub(one, text)

    return sub(INLINE, "inline", sub(BLOCK, "block", html_text))
