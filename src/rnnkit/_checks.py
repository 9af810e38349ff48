"""Argument checks shared by cells, layers, models and baselines, all in one place: every message names
the argument, the expected and the actual value, so a user never meets a bare index error from deep
inside a kernel."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Sequence

import torch
from torch import Tensor


def check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return value


def check_size(name: str, value: object) -> int:
    """A cell's size: an int >= 0 (``torch.nn.RNNCell(10, 0)`` is a valid, empty cell)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value}")
    return value


def check_bool(name: str, value: object) -> bool:
    """torch.nn.RNNBase's check of ``bias`` and ``batch_first`` (its message, word for word)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} should be of type bool, got: {type(value).__name__}")
    return value


def check_probability(name: str, value: object) -> float:
    """A drop or zoneout probability: a number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in [0, 1), got {type(value).__name__} ({value!r})")
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1), got {value}")
    return float(value)


def check_dropout(value: object, name: str = "dropout") -> float:
    """A model's dropout probability (:func:`check_probability` named ``dropout``)."""
    return check_probability(name, value)


def check_choice(name: str, value: object, choices: Sequence[object]) -> object:
    """One of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_int_range(name: str, value: object, low: int, high: int | None = None) -> int:
    """An int (or numpy integer, returned as int) in [low, high) (no upper bound when ``high`` is None)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    value = int(value)
    if value < low or (high is not None and value >= high):
        bound = f"[{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an int {bound}, got {value}")
    return value


def check_layer_args(
    input_size: object,
    hidden_size: object,
    num_layers: object,
    bias: object,
    batch_first: object,
    dropout: object,
    bidirectional: object,
    proj_size: object,
) -> None:
    """The constructor checks of ``torch.nn.RNNBase``, in its order and with its error types: dropout a
    number in [0, 1] (ValueError; a warning when it cannot act with one layer), ``bias`` and
    ``batch_first`` bools (TypeError), sizes and ``num_layers`` positive ints (TypeError for a non-int,
    ValueError for <= 0), ``proj_size`` an int in [0, hidden_size). ``bidirectional`` must be a bool
    too: torch builds a layer with ``bidirectional=1`` whose every call then fails with a TypeError,
    so the same TypeError comes here at once."""
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout <= 1:
        raise ValueError(f"dropout must be a number in [0, 1], got {dropout!r}")
    if dropout > 0 and num_layers == 1:
        warnings.warn(
            f"dropout acts between layers, so it has no effect with num_layers=1 (got dropout={dropout})",
            UserWarning,
            stacklevel=3,
        )
    check_bool("bias", bias)
    check_bool("batch_first", batch_first)
    check_bool("bidirectional", bidirectional)
    check_positive_int("input_size", input_size)
    check_positive_int("hidden_size", hidden_size)
    check_positive_int("num_layers", num_layers)
    if isinstance(proj_size, bool) or not isinstance(proj_size, int):
        raise TypeError(f"proj_size must be an int, got {type(proj_size).__name__} ({proj_size!r})")
    if proj_size < 0:
        raise ValueError(f"proj_size must be a non-negative int (0: no projection), got {proj_size}")
    if proj_size >= hidden_size:  # type: ignore[operator]
        raise ValueError(f"proj_size must be smaller than hidden_size={hidden_size}, got {proj_size}")


def check_float_tensor(name: str, value: object) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(
            f"{name} must have a floating-point dtype (float16/bfloat16/float32/float64), got {value.dtype}"
        )
    return value


def check_shape(name: str, value: Tensor, expected: Sequence[int]) -> None:
    if tuple(value.shape) != tuple(expected):
        raise ValueError(f"{name} must have shape {tuple(expected)}, got {tuple(value.shape)}")


def check_same_dtype(name: str, value: Tensor, ref: Tensor, ref_name: str = "input") -> None:
    if value.dtype != ref.dtype:
        raise TypeError(f"{name} must have the dtype of {ref_name} ({ref.dtype}), got {value.dtype}")


def check_values(ok: Tensor, message: str, detail: Callable[[], str] | None = None) -> None:
    """A check on tensor VALUES (not shapes): every element of the bool tensor ``ok`` must be True.

    Eager: a ValueError ``message + detail()`` (``detail`` tells the actual values, e.g. ", got min 0").
    Under ``torch.compile`` / ``torch.export`` a Python branch on values would break the graph, so the
    check goes INTO the graph as ``torch._assert_async``: a bad value still fails when the compiled code
    runs (a RuntimeError with ``message``); an ONNX export drops the assertion, as it drops torch's own.
    """
    if torch.compiler.is_compiling():
        torch._assert_async(ok.all(), message)
    elif not bool(ok.all()):
        raise ValueError(message + (detail() if detail is not None else ""))


def as_lengths(value: object, batch: int, steps: int) -> Tensor:
    """Validate ``lengths`` and return it as a CPU int64 tensor of shape (B,)."""
    if isinstance(value, Tensor):
        if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"lengths must hold integers, got dtype {value.dtype}")
        lengths = value.detach().to("cpu", torch.int64)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise TypeError(f"lengths must be a sequence of ints, got {list(value)!r}")
        lengths = torch.tensor(list(value), dtype=torch.int64)
    else:
        raise TypeError(f"lengths must be a 1-D int tensor or a list of ints, got {type(value).__name__}")
    if lengths.dim() != 1 or lengths.numel() != batch:
        raise ValueError(
            f"lengths must have shape ({batch},) (one length per batch entry), got {tuple(lengths.shape)}"
        )
    if batch:
        check_values(lengths >= 1, "lengths must be >= 1", lambda: f", got min {int(lengths.min())}")
        check_values(
            lengths <= steps,
            "lengths must be <= the sequence length T",
            lambda: f"={steps}, got max {int(lengths.max())}",
        )
    return lengths


def drop_full_lengths(lengths: Tensor | None, steps: int) -> Tensor | None:
    """None when every sequence has all ``steps`` steps (nothing to mask), else ``lengths``.

    Under ``torch.compile`` and TorchScript tracing the lengths stay as they are: the test reads values,
    which would break a compiled graph, and a trace would bake the answer in (a trace made with full
    lengths would then ignore shorter ones); masking with lengths that are all ``steps`` gives the same
    numbers as no mask."""
    if lengths is None or torch.compiler.is_compiling() or torch.jit.is_tracing():
        return lengths
    return None if bool((lengths == steps).all()) else lengths


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
