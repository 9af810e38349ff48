"""Turning what users pass to a layer (padded or packed, batch-first or not, batched or not, with or
without an initial state) into the time-major form the runner works in, and back."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from .._checks import as_lengths, check_float_tensor, check_same_dtype, check_shape, drop_full_lengths
from ..cells.base import State


@dataclass
class Prepared:
    """A layer call in the runner's form.

    Attributes:
        x: input, time-major (T, B, I).
        state: initial state per component, each (L*D, B, ·) — h0 (L*D, B, P), c0 (L*D, B, H).
        lengths: (B,) CPU int64 lengths, or None when every sequence is T steps long.
        batched: False for an unbatched 2-D input (B = 1 was added).
        packed: the PackedSequence the user passed, to pack the output the same way; else None.
    """

    x: Tensor
    state: State
    lengths: Tensor | None
    batched: bool
    packed: PackedSequence | None


def prepare_input(
    input: Tensor | PackedSequence,
    hx: Tensor | tuple[Tensor, ...] | None,
    lengths: object,
    *,
    input_size: int,
    batch_first: bool,
    state_sizes: tuple[int, ...],
    state_names: tuple[str, ...],
    num_states: int,
) -> Prepared:
    """Check and normalise one call. ``state_sizes`` are the feature sizes of h (and c);
    ``num_states`` = num_layers × num_directions."""
    packed = None
    if isinstance(input, PackedSequence):
        if lengths is not None:
            raise ValueError("lengths must be None when input is a PackedSequence (it carries its lengths)")
        check_float_tensor("input (PackedSequence.data)", input.data)
        x, lens = pad_packed_sequence(input)  # (T, B, I) in the caller's batch order; (B,)
        packed, batched = input, True
    else:
        check_float_tensor("input", input)
        if input.dim() not in (2, 3):
            layout = "(batch, seq, feature)" if batch_first else "(seq, batch, feature)"
            raise ValueError(
                f"input must be 3-D {layout} or 2-D unbatched (seq, feature), "
                f"got {input.dim()}-D with shape {tuple(input.shape)}"
            )
        batched = input.dim() == 3
        x = (
            input.unsqueeze(1) if not batched else input.transpose(0, 1) if batch_first else input
        )  # (T, B, I)
        if x.size(0) == 0:
            raise ValueError(f"input must have at least one time step, got shape {tuple(input.shape)}")
        lens = None if lengths is None else as_lengths(lengths, x.size(1), x.size(0))
    if x.size(-1) != input_size:
        raise ValueError(
            f"input must have input_size={input_size} features in its last dimension, got {x.size(-1)}"
        )
    lens = drop_full_lengths(lens, x.size(0))  # every sequence full length: no masking needed
    if lens is not None and packed is None:
        # padding may hold anything (NaN, inf): zero it, or 0 * NaN would reach the weights' gradients
        x = torch.where(time_mask(lens, x.size(0), x.device), x, 0.0)  # (T, B, I)
    state = _prepare_state(hx, x, batched, state_sizes, state_names, num_states)
    return Prepared(x=x, state=state, lengths=lens, batched=batched, packed=packed)


def _prepare_state(
    hx, x: Tensor, batched: bool, sizes: tuple[int, ...], names: tuple[str, ...], num_states: int
) -> State:
    batch = x.size(1)
    if hx is None:
        return tuple(x.new_zeros(num_states, batch, size) for size in sizes)
    if len(names) == 1:
        if not isinstance(hx, Tensor):
            raise TypeError(f"hx must be a Tensor (h_0), got {type(hx).__name__}")
        parts, labels = (hx,), ("hx",)
    else:
        if not isinstance(hx, tuple | list) or len(hx) != len(names):
            expected = ", ".join(f"{n}_0" for n in names)
            raise TypeError(
                f"hx must be a tuple of {len(names)} tensors ({expected}), got {type(hx).__name__}"
            )
        parts, labels = tuple(hx), tuple(f"hx[{k}] ({n}_0)" for k, n in enumerate(names))
    out = []
    for part, label, size in zip(parts, labels, sizes, strict=True):
        check_float_tensor(label, part)
        check_same_dtype(label, part, x)
        if batched:
            check_shape(label, part, (num_states, batch, size))
            out.append(part)
        else:
            check_shape(label, part, (num_states, size))
            out.append(part.unsqueeze(1))
    return tuple(out)


def time_mask(lengths: Tensor | None, steps: int, device: torch.device) -> Tensor | None:
    """(T, B, 1) bool, True where step t lies inside sequence b; None without lengths."""
    if lengths is None:
        return None
    t = torch.arange(steps).unsqueeze(1)  # (T, 1)
    return (t < lengths.unsqueeze(0)).unsqueeze(-1).to(device)  # (T, B, 1)


def lengths_from_mask(mask: Tensor | None, steps: int) -> Tensor | None:
    """(T, B, 1) suffix-padding mask (``time_mask``) -> (B,) int64 lengths on the CPU (None when absent)."""
    if mask is None:
        return None
    return mask.reshape(steps, -1).sum(0, dtype=torch.int64).cpu()


def reverse_time(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence within its own length; padded steps stay where they are. (T, B, ...)"""
    if lengths is None:
        return x.flip(0)
    steps, batch = x.shape[:2]
    t = torch.arange(steps).unsqueeze(1)  # (T, 1)
    n = lengths.unsqueeze(0)  # (1, B)
    idx = torch.where(t < n, n - 1 - t, t).to(x.device)  # (T, B)
    idx = idx.view(steps, batch, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(0, idx)


def finish_output(prep: Prepared, out: Tensor, batch_first: bool) -> Tensor | PackedSequence:
    """(T, B, D*P) time-major output -> the layout the caller passed in."""
    if prep.packed is not None:
        p = prep.packed
        lens = prep.lengths if prep.lengths is not None else torch.full((out.size(1),), out.size(0))
        if p.sorted_indices is not None:
            idx = p.sorted_indices
            out, lens = out.index_select(1, idx.to(out.device)), lens.index_select(0, idx.cpu())
        data = pack_padded_sequence(out, lens, enforce_sorted=True).data
        return PackedSequence(data, p.batch_sizes, p.sorted_indices, p.unsorted_indices)
    if not prep.batched:
        return out.squeeze(1)  # (T, D*P)
    return out.transpose(0, 1) if batch_first else out


def finish_state(prep: Prepared, state: State) -> Tensor | tuple[Tensor, ...]:
    """Per component (L*D, B, ·) -> torch's return form (tensor or tuple; unbatched squeezed)."""
    if not prep.batched:
        state = tuple(s.squeeze(1) for s in state)
    return state[0] if len(state) == 1 else state
