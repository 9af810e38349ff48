"""Small helpers shared by the models: argument checks, building the recurrent layer, handling the
state (a tensor ``h`` or a tuple ``(h, c)``) and masks from lengths.

Shape legend: B = batch, T = time steps, L = layers, D = directions, H = hidden size, V = vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor

from .._checks import as_lengths, check_positive_int, check_values, drop_full_lengths
from ..layers import create_layer
from ..scan.layer import RecurrentLayer

#: what a recurrent layer returns as its state: ``h`` or ``(h, c)``, each (L*D, B, H)
StateLike = Tensor | tuple[Tensor, ...]


def check_dropout(value: object, name: str = "dropout") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number in [0, 1), got {type(value).__name__} ({value!r})")
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return float(value)


def check_choice(name: str, value: object, choices: Sequence[object]) -> object:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_int_range(name: str, value: object, low: int, high: int | None = None) -> int:
    """An int in [low, high) (no upper bound when ``high`` is None)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    if value < low or (high is not None and value >= high):
        bound = f"[{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an int {bound}, got {value}")
    return value


def check_tokens(name: str, tokens: object, vocab_size: int, dims: tuple[int, ...] = (2,)) -> Tensor:
    """An integer tensor of token ids in [0, vocab_size) with one of the allowed ranks."""
    if not isinstance(tokens, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of token ids, got {type(tokens).__name__}")
    if tokens.is_floating_point() or tokens.is_complex() or tokens.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer token ids (e.g. torch.long), got dtype {tokens.dtype}")
    if tokens.dim() not in dims:
        want = " or ".join(f"{d}-D" for d in dims)
        raise ValueError(f"{name} must be {want}, got {tokens.dim()}-D with shape {tuple(tokens.shape)}")
    if tokens.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(tokens.shape)}")
    check_values(
        (tokens >= 0) & (tokens < vocab_size),
        f"{name} must hold ids in [0, {vocab_size})",
        lambda: f", got values in [{int(tokens.min())}, {int(tokens.max())}]",
    )
    return tokens.long()


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
