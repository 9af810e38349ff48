"""``rnnkit info``: versions, registered cells and the backends usable on this machine."""

from __future__ import annotations

import argparse
import platform

import torch

from .. import __version__
from ..cells.registry import get_cell, list_cells
from ..scan.backends import backend_status


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="show versions, registered cells and available backends",
        description="Show the rnnkit and torch versions, the registered cells (with their "
        "gate names) and which backends can run on this machine.",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(
        f"rnnkit {__version__}  torch {torch.__version__}  python {platform.python_version()}  "
        f"threads {torch.get_num_threads()}"
    )
    print("cells:")
    for name in list_cells():
        spec = get_cell(name).make_spec()
        print(f"  {name:10s} gates: {', '.join(spec.gate_names)}")
    print("backends:")
    for name, status in backend_status().items():
        print(f"  {name:10s} {status}")
    return 0
