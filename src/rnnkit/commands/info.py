"""``rnnkit info``: versions, the CPU, registered cells, the backends usable on this machine and which
GEMM the fused CPU kernels use for each class of product."""

from __future__ import annotations

import argparse
import platform

import torch

from .. import __version__
from ..cells.registry import get_cell, list_cells
from ..scan.backends import backend_status
from ..scan.cpu.gemm import status as gemm_status
from ..scan.cpu.machine import cpu_info


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="show versions, registered cells and available backends",
        description="Show the rnnkit and torch versions, the CPU (model, family, SIMD features), the "
        "registered cells (with their gate names), which backends can run on this machine and, for the "
        "fused CPU backend, which GEMM (rnnkit's own or the vendor library's) runs each class of product "
        "and how that was chosen (RNNKIT_GEMM=own|vendor|auto).",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(
        f"rnnkit {__version__}  torch {torch.__version__}  python {platform.python_version()}  "
        f"threads {torch.get_num_threads()}"
    )
    print(f"cpu: {cpu_info().describe()}")
    cells = list_cells()
    statuses = backend_status()
    g = gemm_status() if statuses.get("cpu") == "available" else None
    classes = list(g["choice"]) if g else []  # type: ignore[call-overload]
    # one name column for the three lists, as wide as their longest name (lstm_peephole, layernorm_lstm …)
    width = max(len(n) for n in (*cells, *statuses, *classes))
    print("cells:")
    for name in cells:
        spec = get_cell(name).make_spec()
        print(f"  {name:<{width}}  gates: {', '.join(spec.gate_names)}")
    print("backends:")
    for name, status in statuses.items():
        print(f"  {name:<{width}}  {status}")
    if g:
        print(f"cpu backend GEMM ({g['source']}; own: {g['own_tile']} tile; vendor: {g['vendor']}):")
        for cls, mode in g["choice"].items():  # type: ignore[union-attr]
            times = (g["measured"] or {}).get(cls)  # type: ignore[union-attr]
            timing = (
                f"  (own {1e3 * times['own']:.2f} ms, vendor {1e3 * times['vendor']:.2f} ms)" if times else ""
            )
            print(f"  {cls:<{width}}  {mode}{timing}")
    return 0
