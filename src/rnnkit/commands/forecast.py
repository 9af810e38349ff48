"""``rnnkit forecast``: placeholder until the stocks / time-series task lands (issue 5, demo 2)."""

from __future__ import annotations

import argparse
import sys

MESSAGE = (
    "rnnkit forecast is not available yet: it arrives with the `stocks` task of issue 5 (demo 2: "
    "price and sea-surface-temperature forecasting). Available now: "
    "rnnkit train/evaluate/generate --task text."
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("forecast", help="forecast a series (coming with issue 5)", description=MESSAGE)
    p.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(MESSAGE, file=sys.stderr)
    return 2
