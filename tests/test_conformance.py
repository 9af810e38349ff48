"""Constructor conformance with torch.nn, side by side, re-derived from PyTorch's own tests
(``test_RNN_cell_no_broadcasting`` / ``test_rnn_cell_zero_hidden`` style: ``nn.RNNCell(10, 0)`` is a
valid, empty cell; ``nn.RNN(3, 5, bias=0)`` is a TypeError).

- Layers (``torch.nn.RNNBase``): ``bias`` and ``batch_first`` must be bools (TypeError, torch's message
  word for word), dropout a number in [0, 1] (ValueError), sizes and ``num_layers`` positive ints
  (TypeError for a non-int, ValueError for <= 0), ``proj_size`` an int in [0, hidden_size).
  ``bidirectional=1``: torch builds the layer, then every call is a TypeError; rnnkit raises that
  TypeError in the constructor.
- Cells (``torch.nn.RNNCellBase``): sizes may be 0 (empty outputs, an input of 0 features reads only the
  bias), ``bias`` is not type-checked. Where torch fails only by accident inside ``torch.empty`` — a
  negative size (RuntimeError there) — rnnkit raises a ValueError naming the argument.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import rnnkit
from conftest import ALL_CELLS, make_layer
from rnnkit.cells.registry import get_cell

LAYERS = [(nn.RNN, rnnkit.RNN), (nn.LSTM, rnnkit.LSTM), (nn.GRU, rnnkit.GRU)]
CELLS = [(nn.RNNCell, rnnkit.RNNCell), (nn.LSTMCell, rnnkit.LSTMCell), (nn.GRUCell, rnnkit.GRUCell)]
LAYER_IDS = [t.__name__ for t, _ in LAYERS]
CELL_IDS = [t.__name__ for t, _ in CELLS]


def error_of(fn) -> BaseException | None:
    try:
        fn()
    except Exception as err:  # compare whatever each side raises
        return err
    return None


def parts(out) -> tuple[torch.Tensor, ...]:
    return out if isinstance(out, tuple) else (out,)


def copy_weights(dst: nn.Module, src: nn.Module) -> None:
    dst.load_state_dict(src.state_dict())


# -- layers: torch.nn.RNNBase's checks -----------------------------------------------------------------
#: (the argument at fault, positional arguments, keyword arguments)
BAD_LAYER_ARGS = [
    ("bias", (3, 5), {"bias": 0}),
    ("bias", (3, 5), {"bias": None}),
    ("bias", (3, 5), {"bias": "yes"}),
    ("batch_first", (3, 5), {"batch_first": 0}),
    ("batch_first", (3, 5), {"batch_first": 1.0}),
    ("dropout", (3, 5), {"dropout": True}),
    ("dropout", (3, 5), {"dropout": 1.5}),
    ("dropout", (3, 5), {"dropout": -0.1}),
    ("dropout", (3, 5), {"dropout": "0.5"}),
    ("num_layers", (3, 5), {"num_layers": 0}),
    ("num_layers", (3, 5), {"num_layers": 2.0}),
    ("input_size", (0, 5), {}),
    ("input_size", (3.0, 5), {}),
    ("hidden_size", (3, 0), {}),
    ("hidden_size", (3, -1), {}),
    ("hidden_size", (3, 5.0), {}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), BAD_LAYER_ARGS, ids=lambda v: repr(v) if v else "")
@pytest.mark.parametrize(("theirs", "ours"), LAYERS, ids=LAYER_IDS)
def test_layer_rejects_what_torch_rejects(theirs, ours, name, args, kwargs):
    expected = error_of(lambda: theirs(*args, **kwargs))
    assert expected is not None, "torch.nn accepts these arguments: not a rejection case"
    got = error_of(lambda: ours(*args, **kwargs))
    assert type(got) is type(expected), f"torch raised {expected!r}, rnnkit {got!r}"
    assert str(got).startswith(name)  # the message names the argument
    if name in ("bias", "batch_first"):
        assert str(got) == str(expected)  # word for word: "bias should be of type bool, got: int"


@pytest.mark.parametrize("cell", ALL_CELLS)
def test_every_layer_class_type_checks_bias_and_batch_first(cell):
    with pytest.raises(TypeError, match=r"^bias should be of type bool, got: int$"):
        make_layer(cell, 3, 5, bias=0)
    with pytest.raises(TypeError, match=r"^batch_first should be of type bool, got: NoneType$"):
        make_layer(cell, 3, 5, batch_first=None)
    with pytest.raises(ValueError, match=r"hidden_size must be a positive int, got 0"):
        make_layer(cell, 3, 0)  # torch.nn.LSTM(10, 0) raises too; only cells may be empty


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bidirectional": True},
        {"num_layers": 2, "dropout": 1},
        {"num_layers": 2, "dropout": 0},
        {"num_layers": 2, "dropout": np.float32(0.25)},
        {"bias": False, "batch_first": True},
    ],
    ids=repr,
)
@pytest.mark.parametrize(("theirs", "ours"), LAYERS, ids=LAYER_IDS)
def test_layer_accepts_what_torch_accepts(theirs, ours, kwargs):
    ref, mine = theirs(3, 5, **kwargs), ours(3, 5, **kwargs, backend="reference")
    assert list(mine.state_dict()) == list(ref.state_dict())
    assert (mine.bidirectional, mine.dropout, mine.bias) == (ref.bidirectional, ref.dropout, ref.bias)
    copy_weights(mine, ref)
    x = torch.randn(2, 4, 3)
    for a, b in zip(parts(mine.eval()(x)), parts(ref.eval()(x)), strict=True):
        for u, v in zip(parts(a), parts(b), strict=True):
            torch.testing.assert_close(u, v)


@pytest.mark.parametrize("value", [1, 0, None])
@pytest.mark.parametrize(("theirs", "ours"), LAYERS, ids=LAYER_IDS)
def test_bidirectional_must_be_a_bool(theirs, ours, value):
    """torch builds the layer but every call fails with a TypeError; rnnkit raises it at once."""
    ref = theirs(3, 5, bidirectional=value)
    with pytest.raises(TypeError):
        ref(torch.randn(4, 2, 3))
    with pytest.raises(
        TypeError, match=rf"^bidirectional should be of type bool, got: {type(value).__name__}$"
    ):
        ours(3, 5, bidirectional=value)


@pytest.mark.parametrize(("theirs", "ours"), LAYERS, ids=LAYER_IDS)
def test_dropout_with_one_layer_warns_as_torch(theirs, ours):
    with pytest.warns(UserWarning, match="num_layers"):
        theirs(3, 5, dropout=0.5)
    with pytest.warns(UserWarning, match="num_layers"):
        ours(3, 5, dropout=0.5)


@pytest.mark.parametrize("proj_size", [-1, 5, 7, 2.0, True])
def test_lstm_proj_size_checks(proj_size):
    expected = error_of(lambda: nn.LSTM(3, 5, proj_size=proj_size))
    got = error_of(lambda: rnnkit.LSTM(3, 5, proj_size=proj_size))
    assert expected is not None and type(got) is type(expected), f"torch {expected!r}, rnnkit {got!r}"
    assert "proj_size" in str(got)


# -- cells: torch.nn.RNNCellBase -----------------------------------------------------------------------
@pytest.mark.parametrize(("theirs", "ours"), CELLS, ids=CELL_IDS)
@pytest.mark.parametrize(("input_size", "hidden_size"), [(10, 0), (0, 5), (0, 0)])
def test_cell_with_a_zero_size_behaves_as_torch(theirs, ours, input_size, hidden_size):
    ref, mine = theirs(input_size, hidden_size), ours(input_size, hidden_size)
    assert {n: p.shape for n, p in mine.named_parameters()} == {n: p.shape for n, p in ref.named_parameters()}
    copy_weights(mine, ref)
    for x in (torch.randn(3, input_size), torch.randn(input_size)):
        got, expected = parts(mine(x)), parts(ref(x))
        assert len(got) == len(expected)
        for g, e in zip(got, expected, strict=True):
            assert g.shape == e.shape
            torch.testing.assert_close(g, e)  # with input_size 0: the bias alone, not zeros
    h = parts(mine(torch.randn(3, input_size)))
    sum(t.sum() for t in h).backward()  # empty or not, autograd runs


@pytest.mark.parametrize("cell", ALL_CELLS)
def test_every_cell_may_be_empty(cell):
    entry = get_cell(cell)
    module = entry.cell(10, 0, **entry.options)
    out = parts(module(torch.randn(3, 10)))
    assert [tuple(t.shape) for t in out] == [(3, 0)] * len(module.spec.state_names)
    assert [tuple(t.shape) for t in parts(module(torch.randn(10)))] == [(0,)] * len(out)
    zero_in = entry.cell(0, 4, **entry.options)
    assert [tuple(t.shape) for t in parts(zero_in(torch.randn(3, 0)))] == [(3, 4)] * len(out)


@pytest.mark.parametrize(("theirs", "ours"), CELLS, ids=CELL_IDS)
@pytest.mark.parametrize("bias", [0, 1, None, "yes"])
def test_cell_bias_is_a_truth_value_as_in_torch(theirs, ours, bias):
    ref, mine = theirs(3, 4, bias=bias), ours(3, 4, bias=bias)
    assert (mine.bias_ih is None) == (ref.bias_ih is None) == (not bias)
    copy_weights(mine, ref)
    x = torch.randn(2, 3)
    for g, e in zip(parts(mine(x)), parts(ref(x)), strict=True):
        torch.testing.assert_close(g, e)


@pytest.mark.parametrize(("theirs", "ours"), CELLS, ids=CELL_IDS)
def test_cell_bad_sizes(theirs, ours):
    # a float size: TypeError on both sides
    assert isinstance(error_of(lambda: theirs(10, 2.0)), TypeError)
    with pytest.raises(TypeError, match=r"hidden_size must be an int, got float \(2.0\)"):
        ours(10, 2.0)
    # a negative size: torch fails inside torch.empty (RuntimeError); rnnkit names the argument
    assert isinstance(error_of(lambda: theirs(10, -1)), RuntimeError)
    with pytest.raises(ValueError, match=r"hidden_size must be a non-negative int, got -1"):
        ours(10, -1)
    with pytest.raises(ValueError, match=r"input_size must be a non-negative int, got -2"):
        ours(-2, 3)
