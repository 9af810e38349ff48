"""The pieces a tour report is made of, each rendered twice: as Markdown (images, audio and files
linked relative to the report) and as self-contained HTML (PNG images, WAV audio and small files
embedded as base64 ``data:`` URIs, inline CSS, no scripts, nothing fetched from the network).

Both start with a table of contents: one link per section, to its anchor. Figures (images and audio)
carry a short title and a caption of a sentence or two; in HTML they are ``<figure>`` elements with a
``<figcaption>``.

Inline markup in text, list items, table cells and captions is the common subset of both: ``**bold**``
and ```code```.
"""

from __future__ import annotations

import base64
import html
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

#: files up to this size are embedded in the HTML report (larger ones are only linked)
EMBED_LIMIT = 4 * 1024 * 1024
#: audio up to this size is embedded (22,050 Hz 16-bit mono: about 4.5 minutes); larger plays from its file
AUDIO_EMBED_LIMIT = 12 * 1024 * 1024
#: what a section's anchor may look like (an HTML id and a Markdown link target without escaping)
ANCHOR = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


@dataclass
class Text:
    """A paragraph."""

    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    """``header`` and ``rows`` of cell strings (inline markup allowed); ``caption`` above it."""

    header: list[str]
    rows: list[list[str]]
    caption: str | None = None


@dataclass
class Image:
    """A PNG file written by a run: ``title`` names it (also its alt text), ``caption`` says in a sentence
    or two what it shows (axes, what to look for, the baselines' lines)."""

    path: Path
    title: str
    caption: str = ""


@dataclass
class Audio:
    """A sound file (a WAV) to play in the page: embedded in HTML with a player, linked in Markdown."""

    path: Path
    title: str
    caption: str = ""
    mime: str = "audio/wav"


@dataclass
class Code:
    """Preformatted text (a generated sample, completions, a traceback)."""

    text: str
    caption: str | None = None


@dataclass
class FileLink:
    """A file to download (e.g. a MIDI file): linked in Markdown, embedded in HTML when small."""

    path: Path
    label: str
    mime: str = "application/octet-stream"


Block = Text | Bullets | Table | Image | Audio | Code | FileLink
_KINDS = "Text, Bullets, Table, Image, Audio, Code, FileLink"


@dataclass
class Section:
    """A titled part of the document; ``anchor`` is its id, the target of its link in the contents."""

    title: str
    anchor: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Document:
    """``title``, then the contents (one link per section), then ``intro``, then the ``sections``."""

    title: str
    intro: list[Block]
    sections: list[Section]


def check_anchors(doc: Document) -> None:
    """Every section's anchor must be a plain id (letters, digits, ``-``, ``_``) used only once."""
    seen: set[str] = set()
    for s in doc.sections:
        if not ANCHOR.fullmatch(s.anchor):
            raise ValueError(
                f"section anchor must be a letter then letters, digits, '-' or '_', got {s.anchor!r} "
                f"(section {s.title!r})"
            )
        if s.anchor in seen:
            raise ValueError(f"section anchors must be unique, got {s.anchor!r} twice")
        seen.add(s.anchor)


def _figure_caption(title: str, caption: str) -> str:
    """``**Title.** Caption`` (inline markup), or the title alone."""
    if not caption:
        return title
    return f"**{title}{'' if title.endswith(('.', '?', '!')) else '.'}** {caption}"


# -- Markdown ------------------------------------------------------------------------------------------
def _rel(path: Path, base: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), Path(base).resolve())).as_posix()


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def block_markdown(block: Block, base: Path) -> str:
    """One block as Markdown; paths relative to ``base`` (the report's folder)."""
    if isinstance(block, Text):
        return block.text
    if isinstance(block, Bullets):
        return "\n".join(f"- {item}" for item in block.items)
    if isinstance(block, Table):
        lines = [f"{block.caption}\n"] if block.caption else []
        lines.append("| " + " | ".join(_md_cell(h) for h in block.header) + " |")
        lines.append("|" + "---|" * len(block.header))
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
        return "\n".join(lines)
    if isinstance(block, Image):
        if not Path(block.path).is_file():
            return f"*({block.title}: image missing)*"
        alt = _md_link_text(block.title)
        return f"![{alt}]({_rel(block.path, base)})\n\n{_figure_caption(block.title, block.caption)}"
    if isinstance(block, Audio):
        if not Path(block.path).is_file():
            return f"*({block.title}: audio missing)*"
        link = f"[▶ {_md_link_text(block.title)} ({Path(block.path).name})]({_rel(block.path, base)})"
        return f"{link}\n\n{block.caption}" if block.caption else link
    if isinstance(block, Code):
        fence = "````" if "```" in block.text else "```"
        head = f"{block.caption}\n\n" if block.caption else ""
        return f"{head}{fence}text\n{block.text.rstrip()}\n{fence}"
    if isinstance(block, FileLink):
        return f"[{block.label}]({_rel(block.path, base)})"
    raise TypeError(f"block must be one of {_KINDS}, got {type(block)}")


def _md_link_text(text: str) -> str:
    return text.replace("[", "\\[").replace("]", "\\]").replace("\n", " ")


def contents_markdown(doc: Document) -> str:
    """The table of contents: a numbered list of links to the sections' anchors."""
    items = [f"{i}. [{_md_link_text(s.title)}](#{s.anchor})" for i, s in enumerate(doc.sections, start=1)]
    return "**Contents**\n\n" + "\n".join(items)


def render_markdown(doc: Document, base: Path) -> str:
    """The whole document as Markdown; links relative to ``base`` (the report's folder)."""
    check_anchors(doc)
    parts = [f"# {doc.title}"]
    if doc.sections:
        parts.append(contents_markdown(doc))
    parts += [block_markdown(b, base) for b in doc.intro]
    for s in doc.sections:
        parts.append(f'<a id="{s.anchor}"></a>\n\n## {s.title}')
        parts += [block_markdown(b, base) for b in s.blocks]
    return "\n\n".join(parts) + "\n"


# -- HTML ----------------------------------------------------------------------------------------------
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; color: #1b1f23; line-height: 1.45; }
h1 { border-bottom: 2px solid #d0d7de; padding-bottom: .3em; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .92em; }
th, td { border: 1px solid #d0d7de; padding: .3em .7em; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { background: #f6f8fa; padding: .1em .3em; border-radius: 3px; font-size: .92em; }
pre { background: #f6f8fa; padding: .8em; overflow-x: auto; white-space: pre-wrap; font-size: .88em; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eaeef2; }
figcaption { color: #57606a; font-size: .9em; }
figure audio { width: 100%; max-width: 640px; display: block; margin-bottom: .3em; }
nav.toc { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px; padding: .6em 1.2em;
          display: inline-block; }
nav.toc ol { margin: .3em 0; padding-left: 1.4em; }
.caption { font-weight: 600; margin-bottom: .2em; }
"""


def inline_html(text: str) -> str:
    """Escape ``text`` and turn its ``**bold**`` and ```code``` into tags."""
    out = html.escape(text, quote=False)
    out = _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", out)
    return _BOLD.sub(lambda m: f"<strong>{m.group(1)}</strong>", out)


def _data_uri(path: Path, mime: str, limit: int = EMBED_LIMIT) -> str | None:
    path = Path(path)
    if not path.is_file() or path.stat().st_size > limit:
        return None
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _is_number(text: str) -> bool:
    return bool(re.fullmatch(r"\**[-+−]?[\d.,]+(e[-+]?\d+)?[×%]?\**", text.strip()))


def _td(cell: str) -> str:
    cls = ' class="num"' if _is_number(cell) else ""
    return f"<td{cls}>{inline_html(cell)}</td>"


def block_html(block: Block, base: Path) -> str:
    """One block as HTML; images embedded, files embedded when small and also linked relatively."""
    if isinstance(block, Text):
        return f"<p>{inline_html(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{inline_html(i)}</li>" for i in block.items) + "</ul>"
    if isinstance(block, Table):
        cap = f'<div class="caption">{inline_html(block.caption)}</div>' if block.caption else ""
        head = "".join(f"<th>{inline_html(h)}</th>" for h in block.header)
        rows = "".join("<tr>" + "".join(_td(c) for c in row) + "</tr>" for row in block.rows)
        return f"{cap}<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    if isinstance(block, Image):
        uri = _data_uri(block.path, "image/png")
        if uri is None:
            return f"<p><em>({inline_html(block.title)}: image missing)</em></p>"
        cap = inline_html(_figure_caption(block.title, block.caption))
        alt = html.escape(block.title)
        return f'<figure><img src="{uri}" alt="{alt}"><figcaption>{cap}</figcaption></figure>'
    if isinstance(block, Audio):
        if not Path(block.path).is_file():
            return f"<p><em>({inline_html(block.title)}: audio missing)</em></p>"
        rel = html.escape(_rel(block.path, base))
        src = _data_uri(block.path, block.mime, AUDIO_EMBED_LIMIT) or rel
        cap = inline_html(_figure_caption(block.title, block.caption))
        file = f'<a href="{rel}" download="{html.escape(Path(block.path).name)}">{rel}</a>'
        return (
            f'<figure class="audio"><audio controls preload="metadata" src="{src}">'
            f"your browser cannot play {html.escape(block.mime)}: {file}</audio>"
            f"<figcaption>{cap} (file: {file})</figcaption></figure>"
        )
    if isinstance(block, Code):
        cap = f'<div class="caption">{inline_html(block.caption)}</div>' if block.caption else ""
        return f"{cap}<pre>{html.escape(block.text.rstrip(), quote=False)}</pre>"
    if isinstance(block, FileLink):
        rel = html.escape(_rel(block.path, base))
        uri = _data_uri(block.path, block.mime)
        name = html.escape(Path(block.path).name)
        label = inline_html(block.label)
        if uri is None:
            return f'<p><a href="{rel}">{label}</a></p>'
        also = f'(embedded; also at <a href="{rel}">{rel}</a>)'
        return f'<p><a href="{uri}" download="{name}">{label}</a> {also}</p>'
    raise TypeError(f"block must be one of {_KINDS}, got {type(block)}")


def contents_html(doc: Document) -> str:
    """The table of contents: a ``<nav>`` with a numbered list of links to the sections' ids."""
    items = "".join(
        f'<li><a href="#{html.escape(s.anchor)}">{inline_html(s.title)}</a></li>' for s in doc.sections
    )
    return f'<nav class="toc" aria-label="Contents"><strong>Contents</strong><ol>{items}</ol></nav>'


def render_html(doc: Document, base: Path) -> str:
    """The whole document as one self-contained HTML page (files embedded, links relative to ``base``)."""
    check_anchors(doc)
    body = [f"<h1>{inline_html(doc.title)}</h1>"]
    if doc.sections:
        body.append(contents_html(doc))
    body += [block_html(b, base) for b in doc.intro]
    for s in doc.sections:
        body.append(f'<h2 id="{html.escape(s.anchor)}">{inline_html(s.title)}</h2>')
        body += [block_html(b, base) for b in s.blocks]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(doc.title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
