"""What a layer runs while a graph of it is being captured for another runtime.

Capture modes (:func:`capture_mode`), each with its own rule:

- ``"onnx"`` — ``torch.onnx.export`` (the dynamo exporter): only standard operators may appear, since
  the other runtime knows nothing of rnnkit's. Every layer runs :func:`portable_scan`, the reference math
  inside torch's ``scan`` operator, which becomes ONNX's ``Scan``: batch and time axes stay dynamic, for
  every cell. (torch's own LSTM/GRU operators are not used here: their ONNX translation fails with dynamic
  axes in onnxruntime, for ``torch.nn.LSTM`` too.)
- ``"torchscript"`` — TorchScript tracing or scripting (also the TorchScript ONNX exporter,
  ``dynamo=False``), which knows no ``scan``: cells with a torch twin, unpadded and unprojected, run torch's
  own RNN operator (ONNX's LSTM/GRU/RNN come out); every other call runs the reference loop, unrolled over
  the example's length.
- ``"export"`` — ``torch.export``: the fused kernels appear as the operators ``rnnkit::scan_forward``
  and, for ``layer.step()``, ``rnnkit::step`` (a loaded program needs ``import rnnkit``); what would run
  the reference loop runs :func:`portable_scan`, so the time axis can stay dynamic.
- ``"transform"`` — inside a ``torch.func`` transform (``grad``, ``vmap``, ``jacrev`` …): the reference
  math, plain PyTorch operators that every transform knows (the fused operators' autograd formula is
  not written for functorch).
- ``None`` — eager mode and ``torch.compile``: the backends as selected.

:func:`portable_scan` has :func:`rnnkit.scan.reference.reference_scan`'s signature and results (without
``record``), and is tested against it.

Shape legend: T = time steps, B = batch, H = hidden size, P = output size (H, or proj_size),
G = row blocks of the cell's weights.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch._C._functorch import peek_interpreter_stack

from ..cells.base import CellSpec, State
from .reference import ScanResult, reference_scan, reference_step
from .weights import LayerWeights


@torch.compiler.assume_constant_result
def _in_onnx_export() -> bool:
    return torch.onnx.is_in_onnx_export()


def capture_mode() -> str | None:
    """``"onnx"``, ``"torchscript"``, ``"export"``, ``"transform"`` or None (see the module's docstring)."""
    if torch.jit.is_scripting() or torch.jit.is_tracing():
        return "torchscript"
    if not torch.compiler.is_compiling():  # eager: nothing is captured, but a transform may be running
        return "transform" if peek_interpreter_stack() is not None else None
    if _in_onnx_export():
        return "onnx"
    return "export" if torch.compiler.is_exporting() else None


def portable_scan(
    spec: CellSpec,
    xg: Tensor,
    state0: State,
    weights: LayerWeights,
    mask: Tensor | None = None,
    h_mask: Tensor | None = None,
    zoneout: tuple[Tensor, ...] | None = None,
) -> ScanResult:
    """Run ``spec`` forward over time as one ``scan`` operator; arguments and result as
    :func:`rnnkit.scan.reference.reference_scan` (no ``record``). Under TorchScript, which has no
    ``scan``, the reference loop itself runs."""
    if torch.jit.is_scripting() or torch.jit.is_tracing():
        return reference_scan(spec, xg, state0, weights, mask, h_mask=h_mask, zoneout=zoneout)
    from torch._higher_order_ops.scan import scan

    per_step = zoneout is not None and any(k.size(0) > 1 for k in zoneout)  # training draws (T, B, ·)
    xs: dict[str, object] = {"xg": xg}  # each (T, ...), sliced per step
    if mask is not None:
        xs["mask"] = mask  # (T, B, 1)
    if per_step:
        xs["zoneout"] = zoneout
    fixed_keep = None if zoneout is None or per_step else tuple(k[0] for k in zoneout)  # (1, 1) each

    def step(state: tuple[Tensor, ...], inp: dict[str, object]) -> tuple[tuple[Tensor, ...], Tensor]:
        keep = inp["zoneout"] if per_step else fixed_keep  # per component (B, ·) or (1, 1)
        zo = None if keep is None else tuple(k.unsqueeze(0) for k in keep)  # as one step's draw
        new, _ = reference_step(spec, inp["xg"], state, weights, False, h_mask, zo)
        if "mask" in inp:
            m = inp["mask"]  # (B, 1)
            out = torch.where(m, new[0], 0.0)
            new = tuple(torch.where(m, n, s) for n, s in zip(new, state, strict=True))
        else:
            out = new[0].clone()  # scan's outputs must not alias its carry
        return new, out

    # the scan gets its own copies of the initial state: views into the stacked (L*D, B, ·) state start
    # at an offset of B·H, which the exporter would tie to the batch size (fixing it in the graph)
    final, out = scan(step, tuple(s.clone() for s in state0), xs)
    return ScanResult(output=out, state=tuple(final))
