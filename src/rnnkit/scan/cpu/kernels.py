"""The fused kernels the compiled extension holds, and how many threads a step runs on.

:func:`kernel_table` reads the extension's list once (a constant under ``torch.compile``); the operators
(``ops.py``), the differentiable scan (``function.py``) and the step plans (``step.py``) all look kernels
up here.
"""

from __future__ import annotations

import torch

from .build import load

#: a time step with fewer multiply-adds than this runs on one thread when its layers split the hidden
#: units (a barrier per step costs more than the second core saves; measured on a 2-core Zen machine)
MIN_SPLIT_WORK = 96 * 1024


def threads_for(work: int) -> int:
    """Threads for a step of ``work`` multiply-adds: torch's intra-op thread count, or 1 when small."""
    return 1 if work < MIN_SPLIT_WORK else torch.get_num_threads()


@torch.compiler.assume_constant_result
def kernel_table() -> dict[str, tuple[int, dict[str, object]]]:
    """Cells with a fused kernel: name -> (kernel id, info: G, S, E, cell_state, split); a constant
    under ``torch.compile``."""
    global _TABLE
    if _TABLE is None:
        _TABLE = {k["name"]: (i, k) for i, k in enumerate(load().kernel_info())}
    return _TABLE


_TABLE: dict[str, tuple[int, dict[str, object]]] | None = None


@torch.compiler.assume_constant_result
def kernel_info(cell: str) -> dict[str, object] | None:
    """The fused kernel ``cell``'s info (G, S, E, cell_state, split), or None when there is none; a
    constant under ``torch.compile``."""
    entry = kernel_table().get(cell)
    return None if entry is None else entry[1]
