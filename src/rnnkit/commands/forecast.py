"""``rnnkit forecast``: placeholder until the stocks / time-series task lands (issue 5, demo 2)."""

from __future__ import annotations

import argparse
import sys

#: marks a placeholder command (replaced when its issue lands)
PLACEHOLDER_ISSUE = "issue 5"
MESSAGE = (
    "rnnkit forecast is not available yet: it arrives with issue 5 (demo 2, forecasting a series from a "
    "trained stocks/series run). Meanwhile: rnnkit train --task stocks | series, then rnnkit evaluate."
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("forecast", help="forecast a series (coming with issue 5)", description=MESSAGE)
    p.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(MESSAGE, file=sys.stderr)
    return 2
