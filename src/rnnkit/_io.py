"""Atomic file writes: write a temporary file in the target's folder, flush it to disk, then
``os.replace`` it over the target, so a crash never leaves a half-written config, metric log, plot or
checkpoint behind.

The temporary file is a hidden sibling ``.<name>.<pid>.<random>.tmp`` (``pid``: the writing process). A
process killed mid-write (power cut, ``kill -9``, out of memory) leaves it behind; :func:`clean_orphans`
removes such leftovers when the run directory is used again."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

#: our temporary names: ``.<target name>.<pid>.<8 random chars>.tmp`` (and, from older versions, without
#: the pid)
TMP_PATTERN = re.compile(r"^\.(?P<name>.+?)\.(?:(?P<pid>\d+)\.)?(?P<rand>[a-z0-9_]{8})\.tmp$")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; on success it replaces ``path``."""
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_open(path, "w") as f:
        f.write(text)


def write_new_json(folder: str | Path, stem: str, payload: object) -> Path:
    """Write ``payload`` as indented JSON to ``folder/stem.json``, or to ``stem-2.json``, ``stem-3.json`` …
    when taken — a record is never overwritten — atomically; returns the path written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path, n = folder / f"{stem}.json", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.json"
    atomic_write_text(path, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return path


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (this process counts as alive: it may be writing right now)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError, ValueError):
        return True  # exists but is not ours, or cannot be asked: leave its files alone
    return True


def is_orphan(
    path: Path, *, min_age: float = 60.0, stale_age: float = 86400.0, now: float | None = None
) -> bool:
    """Whether ``path`` is a temporary file of :func:`atomic_open` that nobody will finish.

    Only names of our pattern count. One whose name records its writer is an orphan once that process
    is gone (or, should the pid have been reused, once it is ``stale_age`` seconds old: no write takes
    that long); one without (older versions) once it is untouched for ``min_age`` seconds."""
    m = TMP_PATTERN.match(path.name)
    if m is None or path.is_symlink() or not path.is_file():
        return False
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except OSError:
        return False
    if m["pid"] is None:
        return age >= min_age
    return not _alive(int(m["pid"])) or age >= stale_age


def clean_orphans(
    folder: str | Path, *, min_age: float = 60.0, stale_age: float = 86400.0, depth: int = 1
) -> list[Path]:
    """Remove the temporary files that interrupted atomic writes left in ``folder`` and its subfolders
    (``depth`` levels down; a run directory keeps its checkpoints one level down). Only files that
    :func:`is_orphan` accepts are touched. Returns the removed paths."""
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for entry in sorted(folder.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            if depth > 0:
                removed += clean_orphans(entry, min_age=min_age, stale_age=stale_age, depth=depth - 1)
        elif is_orphan(entry, min_age=min_age, stale_age=stale_age):
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
                removed.append(entry)
    return removed
