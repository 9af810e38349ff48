"""Where parsed data is cached: ``$RNNKIT_CACHE`` when set, else ``$XDG_CACHE_HOME/rnnkit``, else
``~/.cache/rnnkit``. Cache files are JSON written atomically (:mod:`rnnkit._io`), so a crash
never leaves a half-written cache behind; an unreadable cache file is treated as missing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .._io import atomic_write_text


def cache_dir() -> Path:
    """The user cache folder for rnnkit (created on demand)."""
    root = os.environ.get("RNNKIT_CACHE")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(xdg, "rnnkit")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_json(path: str | os.PathLike[str], payload: Any) -> None:
    atomic_write_text(path, json.dumps(payload, separators=(",", ":")) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any | None:
    """The JSON in ``path``, or None when it is missing or unreadable (a stale or corrupt cache)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
