"""What every ``rnnkit`` sub-command shares: bad input reported as one line with an exit status
(:func:`cli_errors`), and output paths checked before any work is done (:func:`check_out_file`,
:func:`check_out_dir`)."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path


def _os_error_message(e: OSError) -> str:
    """One line for a file-system problem, naming the file and what was expected."""
    name = f"{e.filename!r}" if e.filename is not None else "a file"
    if isinstance(e, IsADirectoryError):
        return f"{name} is a directory, expected a file"
    if isinstance(e, NotADirectoryError):
        return f"{name}: a part of this path is a file, expected a directory"
    if isinstance(e, PermissionError):
        return f"{name}: permission denied"
    if isinstance(e, FileExistsError):
        return f"{name} already exists and is in the way"
    return f"{name}: {e.strerror or e}"


def cli_errors(command: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Report bad input (ValueError/TypeError/FileNotFoundError, and file-system errors such as a
    directory given for a file or a permission denied) as one line and exit status 2, and a diverged
    training run (:class:`rnnkit.train.DivergenceError`) as one line and exit status 3."""

    def wrap(fn: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(fn)
        def run(args: argparse.Namespace) -> int:
            try:
                return fn(args)
            except FloatingPointError as e:  # training diverged (rnnkit.train.DivergenceError)
                print(f"rnnkit {command}: error: {e}", file=sys.stderr)
                return 3
            except (ValueError, TypeError, FileNotFoundError) as e:
                print(f"rnnkit {command}: error: {e}", file=sys.stderr)
                return 2
            except OSError as e:  # IsADirectoryError, NotADirectoryError, PermissionError, …
                message = _os_error_message(e) if e.filename is not None else str(e)
                print(f"rnnkit {command}: error: {message}", file=sys.stderr)
                return 2

        return run

    return wrap


def check_out_file(flag: str, path: str | None) -> None:
    """Refuse an output file argument that cannot be written — a directory, or a path through a file —
    before any work is done."""
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{flag} {path!r} is a directory, expected a file to write")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{flag} {path!r}: {str(parent)!r} is a file, expected a folder")
            break


def check_out_dir(flag: str, path: str | None) -> None:
    """Refuse an output folder argument that is a file (or lies inside one) before any work is done."""
    if path is None:
        return
    p = Path(path)
    for parent in (p, *p.parents):
        if parent.exists():
            if not parent.is_dir():
                where = "" if parent == p else f": {str(parent)!r}"
                raise ValueError(f"{flag} {path!r}{where} is a file, expected a folder")
            break
