"""The fused CPU scan as a differentiable function: :func:`cpu_scan` has :func:`reference_scan`'s
signature and result, and runs the whole sequence forward (and, in the backward pass, the whole reverse
loop) in native code.

Two ways in, the same kernels and the same autograd formula (``ops.py``): while anything traces the
call — ``torch.compile``, ``torch.export``, fake tensors or another Python dispatch mode, tensor
subclasses — it goes through the operators ``rnnkit::scan_forward`` / ``rnnkit::scan_backward``, which
those tools understand (inside ``torch.func`` transforms the layer runs the reference math instead, see
``scan/portable.py``). A plain eager call runs the kernels directly:
the Python operator dispatch and its generic autograd wrapper cost about 0.12 ms per layer and direction
in training (0.02 ms in inference), a third of a B=1, T=500, H=64 GRU's training step.

Training (anything requires grad) saves only what the backward pass needs — per step the cell's gate
values (B, S*H), c_t for LSTM-like cells and h before the projection — and computes the weight
gradients after the reverse loop as large GEMMs:
``dW_hh = Σ_t dhg_tᵀ h_{t-1}``, ``db_hh = Σ_t dhg_t``, ``dW_hr = Σ_t dh_tᵀ hraw_t``. Inference saves nothing.

Shape legend: T = time steps, B = batch, H = hidden size, P = output size (proj_size or H), G = row
blocks of the cell's weights, S = values the cell saves per unit and step.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils._python_dispatch import _get_current_dispatch_mode

from ...cells.base import CellSpec, State
from ..inputs import lengths_from_mask
from ..reference import ScanResult
from ..weights import LayerWeights
from . import ops


class _DirectScan(torch.autograd.Function):
    """``rnnkit::scan_forward`` in training form without the operator dispatch, for plain eager calls:
    the operator's kernel and autograd formula (``ops.backward``), with what the backward pass needs kept
    on the context as the operator's ``setup_context`` keeps it, rather than returned."""

    @staticmethod
    def forward(ctx, *args):
        out, hn, cn, saved, cs, hraw = ops.forward_kernel(*args)
        ops.keep_for_backward(ctx, args, out, saved, cs, hraw)
        ctx.direct = True  # the backward pass calls the kernel directly too
        ctx.set_materialize_grads(False)
        return out, hn, cn

    @staticmethod
    def backward(ctx, dout, dh_n, dc_n):
        return ops.backward(ctx, dout, dh_n, dc_n)


def through_operator(x: Tensor) -> bool:
    """Whether a call on input ``x`` must go through the registered operator (something traces or
    transforms it) rather than straight to the kernels."""
    return torch.compiler.is_compiling() or type(x) is not Tensor or _get_current_dispatch_mode() is not None


def fused_layer(
    spec: CellSpec,
    x: Tensor,
    state0: State,
    weights: LayerWeights,
    mask: Tensor | None = None,
) -> ScanResult:
    """One direction of one layer from its input x (T, B, I): ``xg = x w_ihᵀ + b_ih`` (rnnkit's GEMM) and
    the scan, differentiable. With ``weights.weight_ih`` None, x is xg itself (T, B, G*H)."""
    w_ih, b_ih, w_hh, b_hh, w_hr, extras = weights
    has_c = spec.has_cell_state
    extra = next(iter(extras.values())).detach() if extras else None
    h0, c0 = state0[0], state0[1] if has_c else None
    tensors = (x, w_ih, b_ih, h0, c0, w_hh, b_hh, w_hr)
    # save for the backward pass only when gradients can be asked for; torch.export records the inference
    # form (an exported program is for running; its backward pass raises a clear error)
    training = (
        torch.is_grad_enabled()
        and any(t is not None and t.requires_grad for t in tensors)
        and not torch.compiler.is_exporting()
    )
    args = (spec.kernel, x, w_ih, b_ih, h0, c0, w_hh, b_hh, w_hr, extra, lengths_from_mask(mask, x.size(0)))
    if through_operator(x):
        out, hn, cn, *_ = torch.ops.rnnkit.scan_forward(*args, training)
    elif training:
        out, hn, cn, *_ = _DirectScan.apply(*args, training)
    else:
        out, hn, cn, *_ = ops.forward_kernel(*args, training)
    return ScanResult(output=out, state=(hn, cn) if has_c else (hn,))


def cpu_scan(
    spec: CellSpec,
    xg: Tensor,
    state0: State,
    weights: LayerWeights,
    mask: Tensor | None = None,
) -> ScanResult:
    """Run ``spec`` over time with the fused kernels; arguments and result as
    :func:`rnnkit.scan.reference.reference_scan` (``mask`` must pad a suffix of each sequence, as
    ``time_mask`` does)."""
    return fused_layer(spec, xg, state0, weights.recurrent(), mask)
