"""mkdocs hook: the API page's cell equations, one entry per module that defines registered cells.

``<!-- rnnkit: cell-equations -->`` becomes, for each module holding the spec of a registered cell
(``rnnkit.get_cell(name).spec``), a heading with the cells' registry names and a mkdocstrings entry
for the module's docstring, where the equations are. The modules are found from the live registry, so
the page follows the cells wherever they are defined, and a new cell appears by itself.
"""

from __future__ import annotations

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

MARKER = "<!-- rnnkit: cell-equations -->"
OPTIONS = """    options:
      show_root_heading: false
      show_root_toc_entry: false
      members: false
"""


def cell_modules() -> dict[str, list[str]]:
    """Module of each registered cell's spec -> the registry names it defines, in registration order."""
    import rnnkit

    out: dict[str, list[str]] = {}
    for name in rnnkit.list_cells():
        out.setdefault(rnnkit.get_cell(name).spec.__module__, []).append(name)
    return out


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if MARKER not in markdown:
        return markdown
    parts = []
    for module, names in cell_modules().items():
        title = ", ".join(f"`{n}`" for n in names)
        parts.append(f"### {title}\n\n::: {module}\n{OPTIONS}")
    return markdown.replace(MARKER, "\n".join(parts))
