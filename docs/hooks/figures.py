"""mkdocs hook: run the snippets of every concept page at build time and publish the figures they draw.

Each page under ``concepts/`` is run by :func:`docsnippets.run_page` in a fresh temporary folder; every
PNG its snippets write there becomes ``concepts/<name>.png`` in the site, which the page shows with
``![…](<name>.png)``. A page that draws nothing, or a failing snippet, fails the build.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

sys.path.insert(0, str(Path(__file__).parent))
from docsnippets import SnippetError, run_page

SECTION = "concepts"


def on_files(files: Files, config: MkDocsConfig) -> Files:
    pages = sorted((Path(config.docs_dir) / SECTION).glob("*.md"))
    with tempfile.TemporaryDirectory(prefix="rnnkit-docs-") as tmp:
        for page in pages:
            work = Path(tmp) / page.stem
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    run_page(page, work, f"{SECTION}/{page.name}")
            except SnippetError as e:
                raise PluginError(f"figures: {e}") from e
            pngs = sorted(work.glob("*.png"))
            if not pngs:
                raise PluginError(f"figures: {SECTION}/{page.name} draws no figure")
            for png in pngs:
                uri = f"{SECTION}/{png.name}"
                if files.get_file_from_path(uri) is not None:
                    raise PluginError(f"figures: {uri} is drawn twice (or also exists in docs/)")
                files.append(File.generated(config, uri, content=png.read_bytes()))
    return files
