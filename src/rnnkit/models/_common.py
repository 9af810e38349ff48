"""Small helpers shared by the models: building the recurrent layer, handling the state (a tensor ``h``
or a tuple ``(h, c)``) and masks from lengths. Their argument checks live in :mod:`rnnkit._checks`.

Shape legend: B = batch, T = time steps, L = layers, D = directions, H = hidden size, V = vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor

from .._checks import as_lengths, check_positive_int, drop_full_lengths
from ..layers import RecurrentLayer, create_layer

#: what a recurrent layer returns as its state: ``h`` or ``(h, c)``, each (L*D, B, H)
StateLike = Tensor | tuple[Tensor, ...]


def batch_lengths(lengths: object, batch: int, steps: int) -> Tensor | None:
    """Validated (B,) CPU int64 lengths, or None when absent or when every sequence has ``steps`` steps
    (see :func:`rnnkit._checks.drop_full_lengths`)."""
    return None if lengths is None else drop_full_lengths(as_lengths(lengths, batch, steps), steps)


def step_mask(lengths: Tensor | None, steps: int, device: torch.device) -> Tensor | None:
    """(B, T) bool, True at valid steps; None without lengths."""
    if lengths is None:
        return None
    return (torch.arange(steps).unsqueeze(0) < lengths.unsqueeze(1)).to(device)  # (B, T)


def make_rnn(
    cell: str,
    input_size: int,
    hidden_size: int,
    num_layers: int,
    dropout: float,
    bidirectional: bool,
    backend: str,
    rnn_options: Mapping[str, object] | None = None,
) -> RecurrentLayer:
    """A batch-first recurrent layer of any registered cell; inter-layer dropout only when it acts.

    ``rnn_options`` go to the layer as extra keyword arguments (cell options such as
    ``nonlinearity``, or the layer's regularisation and init options)."""
    check_positive_int("hidden_size", hidden_size)
    check_positive_int("num_layers", num_layers)
    if not isinstance(bidirectional, bool):
        raise TypeError(f"bidirectional must be a bool, got {type(bidirectional).__name__}")
    if not isinstance(rnn_options, Mapping | None):
        got = type(rnn_options).__name__
        raise TypeError(f"rnn_options must be a dict of layer keyword arguments, got {got}")
    options = dict(rnn_options or {})
    fixed = {"num_layers", "dropout", "bidirectional", "batch_first", "backend", "input_size", "hidden_size"}
    clash = sorted(fixed & set(options))
    if clash:
        raise ValueError(f"rnn_options must not set {clash}: they are the model's own arguments")
    return create_layer(
        cell,
        input_size,
        hidden_size,
        num_layers=num_layers,
        dropout=dropout if num_layers > 1 else 0.0,
        bidirectional=bidirectional,
        batch_first=True,
        backend=backend,
        **options,
    )


def as_tuple(state: StateLike) -> tuple[Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


def like_state(parts: Sequence[Tensor]) -> StateLike:
    """Rebuild the layer's state form from its parts: ``h`` alone, or the tuple ``(h, c)``."""
    return parts[0] if len(parts) == 1 else tuple(parts)


def map_state(fn: Callable[[Tensor], Tensor], state: StateLike) -> StateLike:
    """Apply ``fn`` to every component of a state, keeping its form."""
    if isinstance(state, tuple):
        return tuple(fn(s) for s in state)
    return fn(state)


def top_hidden(state: StateLike, num_directions: int) -> Tensor:
    """The last layer's hidden state of every direction, concatenated: (B, D*H).

    For a bidirectional layer this is the forward direction at each sequence's last valid step and the
    backward direction after reading back to step 0.
    """
    h = as_tuple(state)[0]  # (L*D, B, H)
    return torch.cat(list(h[-num_directions:]), dim=-1)  # (B, D*H)


def model_device_dtype(module: torch.nn.Module) -> tuple[torch.device, torch.dtype]:
    p = next(module.parameters())
    return p.device, p.dtype
