"""The torch backend (``backend="torch"``): one direction of one layer through torch's own fused RNN
operator, the one behind ``torch.nn.LSTM``/``GRU``/``RNN`` — ``torch._VF.lstm``, ``gru``, ``rnn_tanh``,
``rnn_relu`` (cuDNN on CUDA; oneDNN or ATen's native loop on CPU).

It runs only the cells whose math IS torch's (``spec.kernel`` one of :data:`OPS`, no extra tensors):
rnnkit's LSTM (``forget_bias`` only changes the init), GRU and Elman RNN; ``proj_size`` goes in as the
LSTM's fifth weight (``weight_hr``). On CPU the fused ``cpu`` backend is faster and ``backend="auto"``
prefers it; this backend is what ``auto`` runs where rnnkit has no fused kernel (CUDA tensors, or the
``cpu`` backend failed to build or is switched off).

Padded batches (a ``mask``) are packed — sorted by length, as ``torch.nn`` does for a PackedSequence —
and run through the op's packed overload, so each final state is taken at the sequence's own last step
and outputs past a length are zero; the batch order is restored afterwards.

Autograd is torch's own: gradients flow to the input, the weights and the initial state. Twice
differentiable on CPU (ATen's loop and oneDNN); through cuDNN torch raises at the second backward
("Double backwards is not supported for CuDNN RNNs"), an error rather than a wrong number.

Shape legend: T = time steps, B = batch, I = input size, H = hidden size, P = output size (proj_size
or H), G = row blocks of the cell's weights (LSTM 4, GRU 3, Elman 1).
"""

from __future__ import annotations

import torch
from torch import _VF, Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from .._checks import check_values, drop_full_lengths
from ..cells.base import CellSpec, State
from .inputs import lengths_from_mask
from .reference import ScanResult
from .weights import LayerWeights

#: the cells' kernel names (``spec.kernel``) that compute torch's math -> the ``torch._VF`` operator
OPS = {"lstm": "lstm", "gru": "gru", "rnn_tanh": "rnn_tanh", "rnn_relu": "rnn_relu"}

#: device type -> dtypes torch's op runs there (CPU: those ATen and oneDNN differentiate; CUDA: cuDNN's,
#: with ATen's loop for what cuDNN refuses). Other devices are not verified and fall back.
DTYPES = {
    "cpu": (torch.float32, torch.float64),
    "cuda": (torch.float16, torch.bfloat16, torch.float32, torch.float64),
}


def supports(spec: CellSpec, x: Tensor, has_proj: bool) -> str | None:
    """None when torch's fused operator computes exactly this call, else why not."""
    if spec.kernel not in OPS:
        return f"cell {spec!r} does not compute torch.nn's math (no torch twin)"
    if spec.extra_tensors(1):
        return f"cell {spec!r} has extra tensors that torch's operator does not take"
    if has_proj and spec.kernel != "lstm":
        return f"proj_size with cell {spec.name!r} (torch projects LSTMs only)"
    dtypes = DTYPES.get(x.device.type)
    if dtypes is None:
        return f"input on {x.device} (the torch backend runs on {' and '.join(DTYPES)} tensors)"
    if x.dtype not in dtypes:
        names = ", ".join(str(d).removeprefix("torch.") for d in dtypes)
        return f"dtype {x.dtype} on {x.device.type} (the torch backend runs {names} there)"
    if x.numel() == 0:
        return f"empty input of shape {tuple(x.shape)}"
    if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        return "CPU autocast is on (torch's CPU operator would not compute what the reference does)"
    return None


def _needs_grad(tensors: tuple[Tensor | None, ...]) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _params(
    w_ih: Tensor, b_ih: Tensor | None, w_hh: Tensor, b_hh: Tensor | None, w_hr: Tensor | None
) -> tuple[list[Tensor], bool]:
    """torch's flat weight list for one layer and direction, and whether it holds biases."""
    params = [w_ih, w_hh]  # (G*H, I), (G*H, P)
    has_biases = b_ih is not None or b_hh is not None
    if has_biases:  # torch takes both or neither: a missing one is zero
        some = b_ih if b_ih is not None else b_hh
        params += [b if b is not None else torch.zeros_like(some) for b in (b_ih, b_hh)]  # (G*H,) each
    if w_hr is not None:
        params.append(w_hr)  # (P, H)
    return params, has_biases


def torch_layer(
    spec: CellSpec,
    x: Tensor,
    state0: State,
    weights: LayerWeights,
    mask: Tensor | None = None,
) -> ScanResult:
    """One direction of one layer from its input x (T, B, I) with torch's fused operator, differentiable.

    Args:
        spec: a cell :func:`supports` accepts (torch's math).
        x: the layer's input (T, B, I), time-major.
        state0: initial state ``(h0,)`` or ``(h0, c0)``; h0 (B, P), c0 (B, H).
        weights: this layer/direction's weights in torch's shapes — weight_ih (G*H, I), bias_ih (G*H,)
            or None, weight_hh (G*H, P), bias_hh (G*H,) or None, weight_hr (P, H) or None; extras must
            be empty (torch's cells have none).
        mask: (T, B, 1) bool marking a valid prefix of each sequence (at least one step), or None when
            every sequence is T steps long.
    Returns:
        the output (T, B, P), zero past each length, and the final state at each sequence's last step.
    """
    w_ih, b_ih, w_hh, b_hh, w_hr, extras = weights
    if spec.kernel not in OPS:
        raise ValueError(f"spec must compute torch's math (kernel one of {list(OPS)}), got {spec!r}")
    if w_ih is None:
        raise ValueError("w_ih must be given: torch's operator does the input projection itself")
    if extras:
        raise ValueError(f"extras must be empty for torch's operator, got {sorted(extras)}")
    lstm = spec.kernel == "lstm"
    if w_hr is not None and not lstm:
        raise ValueError(f"w_hr (proj_size) needs an LSTM, got {spec!r}")
    if len(state0) != (2 if lstm else 1):
        raise ValueError(f"state0 must have {2 if lstm else 1} tensors for {spec!r}, got {len(state0)}")
    op = getattr(_VF, OPS[spec.kernel])
    params, has_biases = _params(w_ih, b_ih, w_hh, b_hh, w_hr)
    hx = tuple(s.unsqueeze(0) for s in state0)  # each (1, B, ·): one layer, one direction
    # cuDNN keeps what its backward needs only with train=True (and refuses the backward otherwise);
    # dropout is 0, so the flag changes nothing else
    train = _needs_grad((x, *params, *state0))
    steps = x.size(0)
    lengths = None
    if mask is not None:
        if mask.shape != (steps, x.size(1), 1):
            raise ValueError(f"mask must have shape {(steps, x.size(1), 1)}, got {tuple(mask.shape)}")
        lengths = lengths_from_mask(mask, steps)  # (B,)
        check_values(
            lengths >= 1,
            "mask must give every sequence at least one step",
            lambda: f", got lengths {lengths.tolist()}",
        )
        lengths = drop_full_lengths(lengths, steps)  # None when nothing is padded
    if lengths is None:
        res = op(x, hx if lstm else hx[0], params, has_biases, 1, 0.0, train, False, False)
        out, final = res[0], res[1:]  # (T, B, P); each (1, B, ·)
    else:
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)  # data (sum of lengths, I)
        order = packed.sorted_indices  # longest first
        hx = tuple(h.index_select(1, order) for h in hx)
        batch_sizes = packed.batch_sizes
        res = op(packed.data, batch_sizes, hx if lstm else hx[0], params, has_biases, 1, 0.0, train, False)
        out_packed = PackedSequence(res[0], batch_sizes, order, packed.unsorted_indices)
        out, _ = pad_packed_sequence(out_packed, total_length=steps)  # (T, B, P), caller's batch order
        final = tuple(h.index_select(1, packed.unsorted_indices) for h in res[1:])
    return ScanResult(output=out, state=tuple(h[0] for h in final))  # h (B, P), c (B, H)
