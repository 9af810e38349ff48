"""``rnnkit tour``: placeholder until the tour of all five demos lands (issue 5, item 6)."""

from __future__ import annotations

import argparse
import sys

#: marks a placeholder command (replaced when its issue lands)
PLACEHOLDER_ISSUE = "issue 5"
MESSAGE = (
    "rnnkit tour is not available yet: it arrives with issue 5 (item 6: short runs of all five "
    "demos and a report). Meanwhile: rnnkit train --task text --preset tour."
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tour", help="short runs of every demo and a report (coming with issue 5)", description=MESSAGE
    )
    p.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(MESSAGE, file=sys.stderr)
    return 2
