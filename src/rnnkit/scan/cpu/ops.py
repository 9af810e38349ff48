"""The fused CPU kernels as PyTorch operators (``torch.library``), so that autograd, ``torch.compile``,
``torch.export`` and ``torch.library.opcheck`` see them as what they are: operators with a schema, a fake
(meta) implementation that gives the output shapes without running anything, and a registered autograd
formula.

- ``rnnkit::scan_forward`` runs one direction of one layer over the whole sequence; with
  ``training=True`` it also returns what the backward pass needs (else those outputs are empty).
- ``rnnkit::scan_backward`` is its reverse loop plus every weight gradient (large GEMMs after the loop).
- ``rnnkit::step`` advances a whole unidirectional stack by one step (generation), from weights packed
  once into GEMM panels (the packing is cached while the weights are unchanged; see ``step.py``).

Second derivatives: ``scan_backward`` itself is not differentiable, so when autograd asks for a graph of
the backward pass (``create_graph=True``: gradient penalties, meta-learning, ``gradgradcheck``) the
registered formula recomputes the layer with the reference scan — the same math written in PyTorch ops —
and differentiates that, so every higher derivative is exact. First derivatives stay on the fused kernels.

Shape legend: T = time steps, B = batch, I = input size, H = hidden size, P = output size (proj_size or
H), G = row blocks of the cell's weights, S = values the cell saves per unit and step, L = layers.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

from ...cells.base import CellSpec
from ..inputs import time_mask
from ..reference import reference_scan
from ..weights import LayerWeights
from .build import load
from .kernels import kernel_table

#: the scan's thread layout: "auto" (per call), "rows" (batch rows, no barriers) or "units" (hidden units,
#: a barrier per step); see csrc/common.h
SPLIT = "auto"
_SPLITS = {"auto": 0, "rows": 1, "units": 2}


@functools.cache
def spec_for_kernel(cell: str) -> CellSpec:
    """A cell spec computing kernel ``cell``'s math (a spec's ``kernel`` names exactly its math, so any
    registered cell with that kernel will do)."""
    from ...cells.registry import get_cell, list_cells

    for name in list_cells():
        spec = get_cell(name).make_spec()
        if spec.kernel == cell:
            return spec
    raise ValueError(f"no registered cell computes the fused kernel {cell!r}")


def _empty(ref: Tensor) -> Tensor:
    return ref.new_empty(0)


def _threads() -> tuple[int, int, int]:
    n = torch.get_num_threads()
    return n, n, _SPLITS[SPLIT]  # GEMM threads, scan threads, scan layout


def _c(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.contiguous()


# -- rnnkit::scan_forward --------------------------------------------------------------------------------
@torch.library.custom_op("rnnkit::scan_forward", mutates_args=(), device_types="cpu")
def scan_forward(
    cell: str,
    x: Tensor,
    w_ih: Tensor | None,
    b_ih: Tensor | None,
    h0: Tensor,
    c0: Tensor | None,
    w_hh: Tensor,
    b_hh: Tensor | None,
    w_hr: Tensor | None,
    extra: Tensor | None,
    lengths: Tensor | None,
    training: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """One direction of one layer over time with the fused kernel named ``cell``.

    ``x`` is the layer input (T, B, I) with ``w_ih`` (G*H, I), or the input projection xg (T, B, G*H)
    when ``w_ih`` is None. ``lengths`` (B,) int64 marks a valid prefix of each sequence.
    Returns (out (T, B, P), h_n (B, P), c_n (B, H), saved (T, B, S*H), cs (T, B, H), hraw (T, B, H)); c_n
    is empty for cells without a cell state, and the last three are empty unless ``training`` (and then
    each only where the cell / the projection needs it).
    """
    return forward_kernel(cell, x, w_ih, b_ih, h0, c0, w_hh, b_hh, w_hr, extra, lengths, training)


def forward_kernel(cell, x, w_ih, b_ih, h0, c0, w_hh, b_hh, w_hr, extra, lengths, training):
    """The body of ``rnnkit::scan_forward``: the extension's forward scan (same arguments and result)."""
    res = load().forward(
        kernel_table()[cell][0], x.contiguous(), _c(w_ih), _c(b_ih), h0.contiguous(), _c(c0),
        w_hh.contiguous(), _c(b_hh), _c(w_hr), _c(extra), _c(lengths), training, *_threads(),
    )  # fmt: skip
    return tuple(_empty(x) if t is None else t for t in res)


@scan_forward.register_fake
def _scan_forward_fake(cell, x, w_ih, b_ih, h0, c0, w_hh, b_hh, w_hr, extra, lengths, training):
    info = kernel_table()[cell][1]
    steps, batch = x.shape[0], x.shape[1]
    H, P = w_hh.shape[0] // int(info["G"]), w_hh.shape[1]
    new = x.new_empty
    has_c = bool(info["cell_state"])
    return (
        new(steps, batch, P),  # out
        new(batch, P),  # h_n
        new(batch, H) if has_c else new(0),  # c_n
        new(steps, batch, int(info["S"]) * H) if training and info["S"] else new(0),  # saved
        new(steps, batch, H) if training and has_c else new(0),  # cs
        new(steps, batch, H) if training and w_hr is not None else new(0),  # hraw
    )


# -- rnnkit::scan_backward -------------------------------------------------------------------------------
@torch.library.custom_op("rnnkit::scan_backward", mutates_args=(), device_types="cpu")
def scan_backward(
    cell: str,
    x: Tensor,
    w_ih: Tensor | None,
    has_b_ih: bool,
    w_hh: Tensor,
    has_b_hh: bool,
    w_hr: Tensor | None,
    extra: Tensor | None,
    lengths: Tensor | None,
    h0: Tensor,
    c0: Tensor | None,
    out: Tensor,
    saved: Tensor,
    cs: Tensor,
    hraw: Tensor,
    dout: Tensor,
    dh_n: Tensor,
    dc_n: Tensor | None,
    need: list[bool],
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The backward pass of ``scan_forward`` (``training=True``): the reverse loop and the weight
    gradients asked for in ``need`` = [x, w_ih, b_ih, w_hh, b_hh, w_hr].

    Returns (dx, dw_ih, db_ih, dh0, dc0, dw_hh, db_hh, dw_hr): dx is (T, B, I), or dxg (T, B, G*H) without
    ``w_ih``; a gradient not asked for or not applicable is an empty tensor.
    """
    return backward_kernel(
        cell, x, w_ih, has_b_ih, w_hh, has_b_hh, w_hr, extra, lengths, h0, c0, out, saved, cs, hraw, dout,
        dh_n, dc_n, need,
    )  # fmt: skip


def backward_kernel(
    cell, x, w_ih, has_b_ih, w_hh, has_b_hh, w_hr, extra, lengths, h0, c0, out, saved, cs, hraw, dout, dh_n,
    dc_n, need,
):  # fmt: skip
    """The body of ``rnnkit::scan_backward``: the extension's backward scan (same arguments and result)."""
    opt = lambda t: t if t is not None and t.numel() else None  # noqa: E731
    res = load().backward(
        kernel_table()[cell][0], x.contiguous(), _c(w_ih), has_b_ih, w_hh.contiguous(), has_b_hh, _c(w_hr),
        _c(extra), _c(lengths), h0.contiguous(), _c(c0), out.contiguous(), opt(saved), opt(cs), opt(hraw),
        dout.contiguous(), dh_n.contiguous(), _c(dc_n), list(need), *_threads(),
    )  # fmt: skip
    return tuple(_empty(out) if t is None else t for t in res)


@scan_backward.register_fake
def _scan_backward_fake(
    cell, x, w_ih, has_b_ih, w_hh, has_b_hh, w_hr, extra, lengths, h0, c0, out, saved, cs, hraw, dout, dh_n,
    dc_n, need,
):  # fmt: skip
    new = out.new_empty
    steps, batch, P = out.shape
    GH = w_hh.shape[0]
    has_w_ih = w_ih is not None
    dx_shape = (steps, batch, x.shape[2]) if has_w_ih else (steps, batch, GH)
    return (
        new(dx_shape) if need[0] else new(0),
        new(GH, x.shape[2]) if has_w_ih and need[1] else new(0),
        new(GH) if has_w_ih and need[2] and has_b_ih else new(0),
        new(batch, P),
        new(c0.shape) if c0 is not None else new(0),
        new(GH, P) if need[3] else new(0),
        new(GH) if need[4] and has_b_hh else new(0),
        new(w_hr.shape) if need[5] and w_hr is not None else new(0),
    )


# -- autograd of scan_forward ------------------------------------------------------------------------------
#: positions of scan_forward's arguments (needs_input_grad has one flag per argument)
_X, _W_IH, _B_IH, _H0, _C0, _W_HH, _B_HH, _W_HR, _EXTRA = range(1, 10)


def setup_context(ctx, inputs, output) -> None:
    """Autograd of ``scan_forward``: what the backward pass keeps."""
    out, _, _, saved, cs, hraw = output
    keep_for_backward(ctx, inputs, out, saved, cs, hraw)
    ctx.mark_non_differentiable(saved, cs, hraw)
    ctx.set_materialize_grads(False)  # no zero-filled gradients for saved/cs/hraw (tens of MB at scale)


def keep_for_backward(ctx, inputs, out: Tensor, saved: Tensor, cs: Tensor, hraw: Tensor) -> None:
    """Save what :func:`backward` reads (shared with ``function.py``'s direct eager path)."""
    cell, x, w_ih, b_ih, h0, c0, w_hh, b_hh, w_hr, extra, lengths, training = inputs
    ctx.cell, ctx.training = cell, training
    ctx.has_b_ih, ctx.has_b_hh = b_ih is not None, b_hh is not None
    ctx.save_for_backward(x, w_ih, b_ih, h0, c0, w_hh, b_hh, w_hr, extra, lengths, out, saved, cs, hraw)


def backward(ctx, dout, dh_n, dc_n, *_):
    """Autograd of ``scan_forward``: the fused backward pass, through ``rnnkit::scan_backward`` (or, on the
    direct eager path, its kernel), or the reference formula when a differentiable graph is wanted."""
    need = ctx.needs_input_grad
    saved_tensors = ctx.saved_tensors  # unpacked once: each access unpacks all fourteen
    x, w_ih, _, h0, c0, w_hh, _, w_hr, extra, lengths, out, saved, cs, hraw = saved_tensors
    dout = torch.zeros_like(out) if dout is None else dout  # outputs no loss reached
    dh_n = torch.zeros_like(h0) if dh_n is None else dh_n
    if c0 is not None and dc_n is None:
        dc_n = torch.zeros_like(c0)
    if need[_EXTRA]:
        raise RuntimeError(
            f"rnnkit::scan_forward takes the cell's extra tensor as a constant; it gives no gradient for it "
            f"(cell {ctx.cell!r}: make it a buffer, or run the layer with backend='reference')"
        )
    if torch.is_grad_enabled():  # create_graph=True: a differentiable formula is wanted
        return _reference_backward(ctx, saved_tensors, dout, dh_n, dc_n)
    if not ctx.training:
        raise RuntimeError(
            "rnnkit::scan_forward ran with training=False (the inference form, which saves nothing for the "
            "backward pass; torch.export records that form): run the layer itself, or call the operator "
            "with training=True, when gradients are wanted"
        )
    flags = [need[_X], need[_W_IH], need[_B_IH], need[_W_HH], need[_B_HH], need[_W_HR]]
    run = backward_kernel if getattr(ctx, "direct", False) else torch.ops.rnnkit.scan_backward
    grads = run(
        ctx.cell, x, w_ih, ctx.has_b_ih, w_hh, ctx.has_b_hh, w_hr, extra, lengths, h0, c0, out, saved, cs,
        hraw, dout, dh_n, dc_n if c0 is not None else None, flags,
    )  # fmt: skip
    dx, dw_ih, db_ih, dh0, dc0, dw_hh, db_hh, dw_hr = grads
    pick = lambda g, k: g if need[k] else None  # noqa: E731
    return (
        None, pick(dx, _X), pick(dw_ih, _W_IH), pick(db_ih, _B_IH), pick(dh0, _H0), pick(dc0, _C0),
        pick(dw_hh, _W_HH), pick(db_hh, _B_HH), pick(dw_hr, _W_HR), None, None, None,
    )  # fmt: skip


def _reference_backward(ctx, saved_tensors: tuple[Tensor | None, ...], dout, dh_n, dc_n):
    """Gradients as a differentiable graph: the layer recomputed with the reference scan (PyTorch ops),
    differentiated with ``create_graph=True``."""
    x, w_ih, b_ih, h0, c0, w_hh, b_hh, w_hr, extra, lengths, *_ = saved_tensors
    spec = spec_for_kernel(ctx.cell)
    inputs = (x, w_ih, b_ih, h0, c0, w_hh, b_hh, w_hr)
    xg = x if w_ih is None else F.linear(x, w_ih, b_ih)  # (T, B, G*H)
    mask = time_mask(lengths, x.size(0), x.device)  # (T, B, 1) or None
    extras = {} if extra is None else {next(iter(spec.extra_tensors(1))): extra}
    state0 = (h0,) if c0 is None else (h0, c0)
    res = reference_scan(spec, xg, state0, LayerWeights(None, None, w_hh, b_hh, w_hr, extras), mask)
    outputs, cotangents = [res.output, res.state[0]], [dout, dh_n]
    if c0 is not None:
        outputs.append(res.state[1])
        cotangents.append(dc_n)
    wanted = [k for k, t in enumerate(inputs) if t is not None and ctx.needs_input_grad[k + 1]]
    grads = torch.autograd.grad(
        outputs, [inputs[k] for k in wanted], cotangents, create_graph=True, allow_unused=True
    )
    result: list[Tensor | None] = [None] * 12
    for k, g in zip(wanted, grads, strict=True):
        result[k + 1] = g
    return tuple(result)


torch.library.register_autograd("rnnkit::scan_forward", backward, setup_context=setup_context)


# -- rnnkit::step ------------------------------------------------------------------------------------------
@torch.library.custom_op("rnnkit::step", mutates_args=(), device_types="cpu")
def step(cell: str, x: Tensor, h: Tensor, c: Tensor | None, weights: list[Tensor]) -> tuple[Tensor, Tensor]:
    """One step of a unidirectional stack of L layers: x (B, I), h (L, B, P), c (L, B, H) or None, and per
    layer the 6 tensors [w_ih, b_ih, w_hh, b_hh, w_hr, extra] (an empty tensor for a missing one) ->
    (h' (L, B, P), c' (L, B, H), empty without a cell state). No autograd (generation)."""
    from .step import step_kernel

    return step_kernel(cell, x, h, c, weights)


@step.register_fake
def _step_fake(cell, x, h, c, weights):
    return h.new_empty(h.shape), h.new_empty(c.shape) if c is not None else h.new_empty(0)
