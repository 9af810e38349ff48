"""The check every exported file passes before it is written: run it on fresh inputs — the example's
batch size, batch 1, a larger batch, and a shorter time length where time is symbolic — and compare each
output with the PyTorch module's. A file that disagrees is refused with the largest difference found.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .part import TIME_LABELS, ExportPart
from .spec import Signature

#: fp32 tolerance: |exported - pytorch| <= ATOL + RTOL * |pytorch|
ATOL = 1e-5
RTOL = 1e-5


class ExportMismatchError(ValueError):
    """An exported file computes something else than the PyTorch model; nothing was written."""


@dataclass(frozen=True)
class CheckReport:
    """What the check compared.

    Attributes:
        runs: (batch, time) of every input set compared (time None for a step without a time axis).
        max_abs_diff: the largest |exported - pytorch| over every float output of every run.
    """

    runs: tuple[tuple[int, int | None], ...]
    max_abs_diff: float


def check_variants(part: ExportPart, signature: Signature) -> list[tuple[int, int | None]]:
    """(batch, time) of the input sets to compare: the example's, batch 1, a larger batch, and one time
    step less where the exported time axis is symbolic."""
    B = int(part.example[0].shape[0])
    T = part.example_steps()
    dynamic_time = any(
        isinstance(signature.input(name).shape[axis], str)
        for name, axes in part.axes.items()
        for axis, label in axes.items()
        if label in TIME_LABELS and name in part.inputs
    )
    runs = [(B, T), (1, T), (B + 2, T)]
    if dynamic_time and T is not None and T > 2:
        runs.append((B + 1, T - 1))
    return runs


def compare_outputs(
    got: tuple[Tensor, ...], want: tuple[Tensor, ...], names: tuple[str, ...], atol: float, rtol: float
) -> tuple[float, str | None]:
    """(max |got - want| over float outputs, a description of the first failure or None)."""
    worst = 0.0
    if len(got) != len(want):
        return float("inf"), f"{len(got)} outputs instead of {len(want)}"
    for name, g, w in zip(names, got, want, strict=True):
        g = g.to(w.device)
        if tuple(g.shape) != tuple(w.shape):
            return float("inf"), f"output {name!r} has shape {tuple(g.shape)}, PyTorch gives {tuple(w.shape)}"
        if not w.is_floating_point():
            if not torch.equal(g.to(w.dtype), w):
                return float("inf"), f"output {name!r} differs (exact values expected, dtype {w.dtype})"
            continue
        diff = (g.to(w.dtype) - w).abs()
        d = float(diff.max()) if diff.numel() else 0.0
        if not diff.isfinite().all() and not torch.equal(g.to(w.dtype).isnan(), w.isnan()):
            return float("inf"), f"output {name!r} is not finite where PyTorch's is"
        worst = max(worst, d)
        if bool((diff > atol + rtol * w.abs()).any()):
            return worst, f"output {name!r}: max |difference| {d:.3g}"
    return worst, None


def check_part(
    part: ExportPart,
    signature: Signature,
    run: Callable[[tuple[Tensor, ...]], tuple[Tensor, ...]],
    what: str,
    atol: float = ATOL,
    rtol: float = RTOL,
    seed: int = 0,
) -> CheckReport:
    """Compare ``run`` (the exported file) with the PyTorch part on :func:`check_variants`.

    Raises:
        ExportMismatchError: naming the part, the input set and the largest difference.
    """
    gen = torch.Generator().manual_seed(seed)
    runs = check_variants(part, signature)
    worst = 0.0
    for batch, steps in runs:
        inputs = part.example if (batch, steps) == runs[0] else part.make_inputs(batch, steps, gen)
        want = part.run(inputs)
        try:
            got = run(inputs)
        except Exception as e:  # the runtime refusing an input the signature accepts is a failure too
            raise ExportMismatchError(
                f"the exported {what} fails on inputs of batch {batch}, time {steps} that PyTorch runs "
                f"({type(e).__name__}: {str(e).splitlines()[0][:300]}); nothing was written"
            ) from e
        d, problem = compare_outputs(got, want, part.outputs, atol, rtol)
        worst = max(worst, d)
        if problem is not None:
            raise ExportMismatchError(
                f"the exported {what} does not match PyTorch on inputs of batch {batch}, time {steps}: "
                f"{problem} (allowed {atol:g} + {rtol:g}·|value|); nothing was written"
            )
    return CheckReport(tuple(runs), worst)
