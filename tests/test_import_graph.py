"""rnnkit's modules depend on each other one way: no import cycles, and the layers a newcomer relies on.

Every import counts, including those inside functions and under ``TYPE_CHECKING`` (a cycle hidden in a
function is still a cycle a reader has to untangle). Imports of a package's ``__init__`` are left out:
those are the public facades (``rnnkit``, ``rnnkit.tasks`` …) that re-export their submodules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import rnnkit

ROOT = Path(rnnkit.__file__).parent


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package ``__init__``)."""
    mods = {}
    for f in sorted(ROOT.rglob("*.py")):
        parts = list(f.relative_to(ROOT.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_pkg else parts)] = (f, is_pkg)
    return mods


MODULES = _modules()


def _imports(name: str) -> set[str]:
    """The rnnkit modules ``name`` imports anywhere in its file (a ``from X import y`` counts as an
    import of ``X.y`` when that is a module, else of ``X``)."""
    f, is_pkg = MODULES[name]
    package = name if is_pkg else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            candidates = [target, *(f"{target}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        found.update(c for c in candidates if c in MODULES and c != name)
    return found


#: module -> the non-package modules it imports
GRAPH = {m: {t for t in _imports(m) if not MODULES[t][1]} for m in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_the_cycle_finder_finds_cycles():
    """The check below can fail: a two-module and a three-module cycle are found, a chain is not."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}, "g": set()}
    assert sorted(_cycles(graph)) == [["a", "b"], ["c", "d", "e"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycles():
    assert len(GRAPH) > 150  # the whole package was read
    assert _cycles(GRAPH) == []


def _reaches(start: str, prefixes: tuple[str, ...]) -> list[str]:
    return sorted(t for t in GRAPH[start] if t.startswith(prefixes))


@pytest.mark.parametrize(
    "low, forbidden",
    [
        # the neutral helpers import nothing of rnnkit
        ("rnnkit._io", ("rnnkit.",)),
        ("rnnkit._batches", ("rnnkit.",)),
        ("rnnkit._blocks", ("rnnkit.",)),
        ("rnnkit._pickle", ("rnnkit.",)),
        ("rnnkit._checks", ("rnnkit.",)),
    ],
)
def test_neutral_helpers_stand_alone(low, forbidden):
    assert _reaches(low, forbidden) == []


@pytest.mark.parametrize(
    "package, forbidden",
    [
        ("rnnkit.data.", ("rnnkit.train.", "rnnkit.tasks.", "rnnkit.commands.", "rnnkit.tour.")),
        ("rnnkit.baselines.", ("rnnkit.train.", "rnnkit.tasks.", "rnnkit.commands.", "rnnkit.tour.")),
        ("rnnkit.cells.", ("rnnkit.scan.", "rnnkit.train.", "rnnkit.tasks.", "rnnkit.models.")),
        ("rnnkit.plots.", ("rnnkit.train.", "rnnkit.tasks.", "rnnkit.commands.", "rnnkit.tour.")),
        ("rnnkit.train.", ("rnnkit.tasks.", "rnnkit.commands.", "rnnkit.tour.")),
        # backends run one direction of one layer; the layers drive them, never the reverse
        ("rnnkit.scan.", ("rnnkit.layers.", "rnnkit.models.", "rnnkit.train.", "rnnkit.tasks.")),
        ("rnnkit.layers.", ("rnnkit.models.", "rnnkit.train.", "rnnkit.tasks.", "rnnkit.commands.")),
    ],
)
def test_lower_packages_never_import_higher_ones(package, forbidden):
    wrong = {m: _reaches(m, forbidden) for m in GRAPH if m.startswith(package)}
    assert {m: t for m, t in wrong.items() if t} == {}


def test_reports_do_not_import_their_task():
    """A task imports its report; the report takes what it needs from ``baselines/`` or shared task
    helpers, never from the task module itself."""
    reports = [m for m in GRAPH if m.startswith("rnnkit.tasks.") and m.endswith("_report")]
    assert len(reports) >= 5
    for report in reports:
        task = report.removesuffix("_report")
        assert task not in GRAPH[report], f"{report} imports {task}"
        if task in GRAPH:
            assert report in GRAPH[task], f"{task} does not use its report {report}"
