"""mkdocs hook: pages that include the committed results, so they never go stale.

- ``<!-- results: GLOB -->`` becomes the content of every ``benchmarks/results/GLOB`` file (sorted),
  each introduced by its path;
- ``<!-- readme: NAME -->`` becomes the README's generated section between ``<!-- NAME -->`` and
  ``<!-- /NAME -->``;
- every PNG under ``benchmarks/results/`` is published as ``results/<path>``.

A marker that matches nothing fails the build.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

RESULTS = Path("benchmarks") / "results"
MARKER = re.compile(r"^<!-- (?P<kind>results|readme): (?P<arg>\S+) -->$", re.M)


def _root(config: MkDocsConfig) -> Path:
    return Path(config.config_file_path).resolve().parent


def _results(root: Path, pattern: str) -> str:
    found = sorted((root / RESULTS).glob(pattern))
    if not found:
        raise PluginError(f"includes: no file matches {RESULTS / pattern}")
    parts = []
    for path in found:
        rel = path.relative_to(root).as_posix()
        parts.append(f"From `{rel}`:\n\n{path.read_text(encoding='utf-8').strip()}\n")
    return "\n".join(parts)


def _readme(root: Path, name: str) -> str:
    text = (root / "README.md").read_text(encoding="utf-8")
    m = re.search(rf"^<!-- {re.escape(name)} -->\n(.*?)^<!-- /{re.escape(name)} -->", text, re.M | re.S)
    if m is None:
        raise PluginError(f"includes: README.md has no section <!-- {name} --> … <!-- /{name} -->")
    return m[1].strip() + "\n"


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    root = _root(config)

    def replace(m: re.Match[str]) -> str:
        return _results(root, m["arg"]) if m["kind"] == "results" else _readme(root, m["arg"])

    return MARKER.sub(replace, markdown)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    results = _root(config) / RESULTS
    for png in sorted(results.rglob("*.png")):
        uri = f"results/{png.relative_to(results).as_posix()}"
        files.append(File.generated(config, uri, abs_src_path=str(png)))
    return files
