"""The bad-input catalogue: every way a user can hand rnnkit something wrong, and what must happen.

Each :class:`Case` is one mistake, made either through the command line (``argv``, run in-process in a
fresh folder) or through the library (``call``). ``tests/test_bad_input.py`` runs every case and
asserts, for CLI cases: the exit code (2 for bad input), no traceback, every fragment of ``names`` (the
culprit: a file, an argument, a key) in the message, and the folder unchanged (no file written,
overwritten, or left behind — a failed command leaves no empty run directory); for library cases: the
exception type and the fragments in its message.

The cases live in the ``cases_*.py`` modules of this package, one per area; each defines ``CASES``.
"""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Setup = Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    """One mistake.

    Args:
        id: a short unique name (the pytest id).
        argv: the ``rnnkit`` arguments (relative paths: the case runs in its own folder), or None.
        call: for a library case, a function of the case folder that must raise ``error``.
        setup: writes the files the mistake needs into the case folder (before the snapshot).
        names: fragments the one-line message must contain (case-insensitive): the culprit and, where
            it helps, what was expected.
        code: the exit status of a CLI case.
        error: the exception type(s) of a library case.
        may_change: paths (relative, glob patterns) a case is allowed to create or change, e.g. a
            ``diverged.safetensors`` written for post-mortem. Everything else must stay as it was.
    """

    id: str
    argv: Sequence[str] | None = None
    call: Callable[[Path], Any] | None = None
    setup: Setup | None = None
    names: Sequence[str] = ()
    code: int = 2
    error: type[BaseException] | tuple[type[BaseException], ...] = (ValueError, TypeError)
    may_change: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if (self.argv is None) == (self.call is None):
            raise ValueError(f"case {self.id!r}: give exactly one of argv and call")


def all_cases() -> list[Case]:
    """Every case of every ``cases_*`` module, ids unique."""
    cases: list[Case] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("cases_"):
            cases += importlib.import_module(f"{__name__}.{info.name}").CASES
    ids = [c.id for c in cases]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"duplicate case ids: {dupes}")
    return cases


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` → a digest of its content ("dir" for folders)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_dir():
            out[rel] = "dir"
        elif p.is_file():
            out[rel] = hashlib.sha1(p.read_bytes()).hexdigest()
        else:
            out[rel] = "other"
    return out


# -- small builders the case modules share ----------------------------------------------------------------
def write(name: str, content: str | bytes) -> Setup:
    """A setup that writes one file (text or bytes), creating its folders."""

    def setup(root: Path) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)

    return setup


def chain(*setups: Setup) -> Setup:
    def setup(root: Path) -> None:
        for s in setups:
            s(root)

    return setup


_RUNS: dict[str, Path] = {}
_RUN_ROOT: list[Path] = []


def trained_run(task: str, name: str, *extra: str) -> Setup:
    """A setup that copies a finished ``--preset smoke`` run of ``task`` into ``runs/<name>`` of the case
    folder (each distinct run is trained once per test session and then copied)."""

    def setup(root: Path) -> None:
        import tempfile

        from rnnkit import cli

        key = "|".join((task, *extra))
        if key not in _RUNS:
            if not _RUN_ROOT:
                _RUN_ROOT.append(Path(tempfile.mkdtemp(prefix="rnnkit-catalogue-")))
            out = _RUN_ROOT[0] / f"run{len(_RUNS)}"
            argv = ["train", "--task", task, "--preset", "smoke", "--no-progress", "--out-dir", str(out),
                    "--name", "r", *extra]  # fmt: skip
            if cli.main(argv) != 0:
                raise RuntimeError(f"could not train the catalogue's {task} run: rnnkit {' '.join(argv)}")
            _RUNS[key] = out / "r"
        shutil.copytree(_RUNS[key], root / "runs" / name)

    return setup


def cleanup_runs() -> None:
    for root in _RUN_ROOT:
        shutil.rmtree(root, ignore_errors=True)
    _RUN_ROOT.clear()
    _RUNS.clear()
