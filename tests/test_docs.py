"""The documentation site (``mkdocs.yml``, ``docs/``): every Python snippet of every page runs, and
``mkdocs build --strict`` builds the site offline — the cells' equations as MathML in the API
reference, no script, stylesheet or font from the network, and each concept page's figure drawn."""

from __future__ import annotations

import html
import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import rnnkit

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.relative_to(DOCS).parts)
CONCEPTS = sorted((DOCS / "concepts").glob("*.md"))
FIGURE = re.compile(r"!\[[^\]]*\]\((?P<src>[^)\s]+\.png)\)")


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, DOCS / "hooks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


snippets = _load("docsnippets")


def _rel(page: Path) -> str:
    return page.relative_to(DOCS).as_posix()


def _text(page_html: str) -> str:
    """The visible text of an HTML page, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page_html)).split())


def test_the_pages_are_there_and_every_python_fence_is_found() -> None:
    assert {"index.md", "getting-started.md", "benchmarks.md", "api.md"} <= {_rel(p) for p in PAGES}
    assert len(CONCEPTS) == 5 and len(list((DOCS / "how-to").glob("*.md"))) == 4
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        opened = len(re.findall(r"^[ \t]*```python[ \t]*$", text, re.M))
        assert len(snippets.python_snippets(text)) == opened, f"{_rel(page)}: a ```python fence is not closed"
    for page in CONCEPTS:
        assert snippets.python_snippets(page.read_text(encoding="utf-8")), f"{_rel(page)} has no snippet"


def test_a_failing_snippet_names_its_page_and_number(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```python\nx = 1\n```\n\ntext\n\n```python\nassert x == 2, 'x is 1'\n```\n")
    with pytest.raises(snippets.SnippetError, match=r"page\.md, snippet 2: AssertionError: x is 1"):
        snippets.run_page(page, tmp_path / "work")


@pytest.mark.parametrize(
    "page",
    [p for p in PAGES if snippets.python_snippets(p.read_text(encoding="utf-8"))],
    ids=_rel,
)
def test_snippets_run(page: Path, tmp_path: Path) -> None:
    cells = rnnkit.list_cells()
    try:
        snippets.run_page(page, tmp_path, _rel(page))
    finally:
        for name in set(rnnkit.list_cells()) - set(cells):  # a page that registers a cell leaves none
            rnnkit.unregister_cell(name)


@pytest.fixture(scope="module", autouse=True)
def _build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen, Path, Path]]:
    """``mkdocs build --strict``, started before the first test so that it runs beside the snippets."""
    out = tmp_path_factory.mktemp("site")
    log = out.parent / f"{out.name}.log"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "OMP_NUM_THREADS": "1"}  # beside the snippets
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    yield proc, out, log
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def site(_build: tuple[subprocess.Popen, Path, Path]) -> Path:
    proc, out, log = _build
    proc.wait(timeout=600)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{log.read_text(errors='replace')}"
    return out


def test_api_reference_renders_the_lstm_equations_as_mathml(site: Path) -> None:
    page = (site / "api" / "index.html").read_text(encoding="utf-8")
    assert 'id="rnnkit.LSTM"' in page and 'id="rnnkit.Trace"' in page
    start = page.index('id="lstm-lstm_peephole-layernorm_lstm"')
    section = page[start : page.index("<h3", start + 1)]
    math = re.findall(r'<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">.*?</math>', section)
    assert math, "no display MathML in the LSTM cell's section"
    eq = math[0]
    assert eq.count("<mtr>") == 6  # f, i, a, o, c_t, h_t
    assert "<mi>tanh</mi>" in eq and "&#x02299;" in eq  # tanh and ⊙
    assert "<msub><mi>c</mi><mi>t</mi></msub>" in eq
    for leftover in (".. math::", "arithmatex", "\\begin{", "\\sigma"):
        assert leftover not in page, f"unrendered math left in the API page: {leftover!r}"


def test_built_site_loads_nothing_from_the_network(site: Path) -> None:
    remote = re.compile(
        r"<(?:script|img|iframe|source)\b[^>]*\bsrc=[\"']?(?:https?:)?//"
        r"|<link\b[^>]*\bhref=[\"']?(?:https?:)?//"
        r"|@import\s+(?:url\()?[\"']?(?:https?:)?//"
        r"|url\(\s*[\"']?(?:https?:)?//",
        re.I,
    )
    checked = 0
    for path in site.rglob("*"):
        if path.suffix in (".html", ".css"):
            found = remote.search(path.read_text(encoding="utf-8", errors="replace"))
            assert found is None, f"{path.relative_to(site)} loads {found[0]!r}"
            checked += 1
    assert checked > 10


@pytest.mark.parametrize("page", CONCEPTS, ids=_rel)
def test_each_concept_page_shows_a_figure_it_draws(site: Path, page: Path) -> None:
    figures = FIGURE.findall(page.read_text(encoding="utf-8"))
    assert figures, f"{_rel(page)} shows no figure"
    built = (site / "concepts" / page.stem / "index.html").read_text(encoding="utf-8")
    for name in figures:
        png = site / "concepts" / name
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{name} was not drawn"
        assert png.stat().st_size > 10_000, f"{name} is suspiciously small"
        assert f'src="../{name}"' in built
        assert not (DOCS / "concepts" / name).exists(), f"{name} must be drawn by the build, not committed"


def test_benchmarks_page_shows_the_committed_results(site: Path) -> None:
    raw = (site / "benchmarks" / "index.html").read_text(encoding="utf-8")
    text = _text(raw)
    results = sorted((ROOT / "benchmarks" / "results").glob("*.md"))
    assert results
    for path in results:
        first = " ".join(path.read_text(encoding="utf-8").split()[:8])  # the opening words: plain text
        assert first in text, f"{path.name} is not on the benchmarks page"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    tour = readme.split("<!-- tour -->", 1)[1].split()[:8]  # the README's generated tour section
    assert " ".join(tour) in text
    assert "<!-- results:" not in raw and "<!-- readme:" not in raw
