"""Reading the files and folders a user points rnnkit at, with one-line errors that name the file, what is
wrong with it and what was expected (never a parser's raw message or a traceback).

``what`` in every function is how the message names the thing, e.g. ``"csv file (data.csv)"``.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import pandas as pd


def check_file(path: str | os.PathLike[str], what: str = "file") -> Path:
    """``path`` as a Path when it is an existing regular file; else FileNotFoundError (missing) or
    ValueError (a folder, or something else)."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{what} {str(p)!r} is a directory, expected a file")
    if not p.exists():
        raise FileNotFoundError(f"{what} {str(p)!r} does not exist")
    if not p.is_file():
        raise ValueError(f"{what} {str(p)!r} is not a regular file")
    return p


def check_folder(path: str | os.PathLike[str], what: str = "folder") -> Path:
    """``path`` as a Path when it is an existing folder; else FileNotFoundError or ValueError."""
    p = Path(path)
    if p.is_file():
        raise ValueError(f"{what} {str(p)!r} is a file, expected a directory")
    if not p.is_dir():
        raise FileNotFoundError(f"{what} {str(p)!r} does not exist")
    return p


def read_text(path: str | os.PathLike[str], what: str = "text file") -> str:
    """A UTF-8 text file (a byte-order mark is dropped); binary or other-encoded files are refused."""
    p = check_file(path, what)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ValueError(f"{what} {str(p)!r} cannot be read: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{what} {str(p)!r} is not UTF-8 text ({e.reason} at byte {e.start}); "
            "expected a text file saved as UTF-8"
        ) from None
    if "\x00" in text:
        raise ValueError(f"{what} {str(p)!r} is a binary file (it holds NUL bytes), expected UTF-8 text")
    return text


def read_csv(path: str | os.PathLike[str], what: str = "csv file") -> pd.DataFrame:
    """A CSV file with a header row and at least one data row, as a DataFrame (pandas' own warnings and
    errors become one-line messages naming the file)."""
    text = read_text(path, what)
    name = str(Path(path))
    if not text.strip():
        raise ValueError(f"{what} {name!r} is empty, expected a CSV table with a header row")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = pd.read_csv(io.StringIO(text))
    except pd.errors.EmptyDataError:
        raise ValueError(f"{what} {name!r} is empty, expected a CSV table with a header row") from None
    except (pd.errors.ParserError, ValueError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{what} {name!r} is not a readable CSV table ({reason})") from None
    if len(frame) == 0:
        raise ValueError(
            f"{what} {name!r} has a header ({', '.join(map(str, frame.columns))}) but no data rows"
        )
    return frame


def csv_line(row: int) -> int:
    """The line of a CSV file (1 = the header) that holds data row ``row`` (0-based)."""
    return int(row) + 2


def describe_lines(rows, limit: int = 5) -> str:
    """``"line 7"`` / ``"lines 7, 9, 12 …"`` for the given 0-based data rows."""
    lines = [csv_line(r) for r in list(rows)[:limit]]
    more = " …" if len(rows) > limit else ""
    return ("line " if len(lines) == 1 else "lines ") + ", ".join(map(str, lines)) + more
