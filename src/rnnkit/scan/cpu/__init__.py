"""The fused CPU backend (``backend="cpu"``): a C++ extension, compiled for this machine on first use,
that runs any registered cell with a native functor (``spec.kernel``) over a whole sequence — forward,
backward and single steps. See ``csrc/scan.h`` for the structure of the kernels and ``build.py`` for
how they are built and cached.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ...cells.base import CellSpec
from .build import load, probe, switched_off
from .function import cpu_scan, fused_layer
from .kernels import kernel_info, kernel_table
from .step import cpu_step

DTYPES = (torch.float32, torch.float64)


def supports(spec: CellSpec, x: Tensor, has_proj: bool) -> str | None:
    """None when the fused kernels can run this call, else why not."""
    if spec.kernel is None:
        return f"cell {spec!r} has no fused kernel"
    info = kernel_info(spec.kernel)
    if info is None:
        return f"no fused functor named {spec.kernel!r} (have {', '.join(kernel_table())})"
    if info["G"] != spec.num_chunks:
        return f"functor {spec.kernel!r} has {info['G']} row blocks, the cell {spec.num_chunks}"
    if x.device.type != "cpu":
        return f"input on {x.device}, the cpu backend needs CPU tensors"
    if x.dtype not in DTYPES:
        return f"dtype {x.dtype} (the cpu backend runs float32 and float64)"
    if x.numel() == 0:
        return f"empty input of shape {tuple(x.shape)}"
    if torch.is_autocast_enabled("cpu"):
        return "CPU autocast is on (the cpu backend computes in the input's float32/float64)"
    if has_proj and not info["cell_state"]:
        return f"proj_size with cell {spec.name!r}"
    extras = spec.extra_tensors(1)
    if len(extras) != info["E"] or not all(is_buffer for _, is_buffer in extras.values()):
        return f"cell {spec.name!r} has extra tensors the functor does not take as constants"
    return None


__all__ = ["cpu_scan", "cpu_step", "fused_layer", "kernel_table", "load", "probe", "supports", "switched_off"]
