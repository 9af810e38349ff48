"""``rnnkit compose``: placeholder until the Smart Compose task lands (issue 5, demo 5)."""

from __future__ import annotations

import argparse
import sys

MESSAGE = (
    "rnnkit compose is not available yet: it arrives with the `compose` task of issue 5 (demo 5: "
    "encoder-decoder Smart Compose on KJV verses). Available now: rnnkit train/evaluate/generate --task text."
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compose", help="complete a sentence (coming with issue 5)", description=MESSAGE)
    p.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(MESSAGE, file=sys.stderr)
    return 2
