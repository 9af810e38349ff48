"""The ``rnnkit`` command line. Each sub-command lives in ``rnnkit/commands/<name>.py`` and exposes
``add_parser(subparsers)``; the parser sets ``func`` to the function that runs it."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__

#: sub-command modules under rnnkit.commands, in the order ``--help`` lists them
COMMANDS: tuple[str, ...] = (
    "train",
    "evaluate",
    "generate",
    "forecast",
    "compose",
    "serve",
    "explore",
    "export",
    "diagnose",
    "tour",
    "bench",
    "info",
)


_NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def in_words(n: int) -> str:
    """``6`` → ``"six"`` (up to ten; digits beyond), for counts in help texts."""
    return _NUMBERS[n] if 0 <= n < len(_NUMBERS) else str(n)


def demos_line() -> str:
    """What ``rnnkit tour`` runs, counted from the tour's demo registry (never a literal)."""
    from .tour.demos import DEMO_NAMES

    count = in_words(len(DEMO_NAMES))
    return f"`rnnkit tour` runs all {count} demos ({', '.join(DEMO_NAMES)}) and reports them."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnkit",
        description="Recurrent neural networks made inspectable and fast: train, generate, forecast, "
        "diagnose and benchmark RNN/LSTM/GRU models. " + demos_line(),
    )
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"rnnkit.commands.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # as typed (rnnkit train --nproc relaunches it)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
