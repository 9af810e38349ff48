"""rnnkit layers and cells against torch.nn with copied weights: outputs, final states and every
gradient, in float64, both ways of copying the state_dict."""

from __future__ import annotations

import itertools

import pytest
import torch

import rnnkit
from conftest import TWIN_CELLS, make_layer, states, torch_twin

TOL = {"atol": 1e-10, "rtol": 1e-9}

LAYER_CASES = [
    # (num_layers, bidirectional, batch_first, proj_size, with_h0, bias)
    *[
        (L, bi, bf, 0, h0, True)
        for L, bi, bf, h0 in itertools.product((1, 2, 3), (False, True), (False, True), (False, True))
        if (L + bi + bf + h0) % 2 == 0
    ],
    (2, True, False, 0, True, False),
    (1, False, True, 0, False, False),
]


def _copy(src: torch.nn.Module, dst: torch.nn.Module) -> None:
    missing, unexpected = dst.load_state_dict(src.state_dict(), strict=True)
    assert not missing and not unexpected


def _compare_run(ours, theirs, x, hx, **fkw) -> None:
    out_a, st_a = ours(x, hx, **fkw)
    out_b, st_b = theirs(x, hx)
    torch.testing.assert_close(out_a, out_b, **TOL)
    for a, b in zip(states(st_a), states(st_b), strict=True):
        torch.testing.assert_close(a, b, **TOL)
    # random cotangents on the output and on every final state
    gen = torch.Generator().manual_seed(1)
    cot_out = torch.randn(out_a.shape, generator=gen, dtype=out_a.dtype)
    cots = [torch.randn(s.shape, generator=gen, dtype=s.dtype) for s in states(st_a)]
    loss_a = (out_a * cot_out).sum() + sum((s * c).sum() for s, c in zip(states(st_a), cots, strict=True))
    loss_b = (out_b * cot_out).sum() + sum((s * c).sum() for s, c in zip(states(st_b), cots, strict=True))
    inputs = [x] + ([] if hx is None else list(states(hx)))
    ga = torch.autograd.grad(loss_a, list(ours.parameters()) + inputs)
    gb = torch.autograd.grad(loss_b, list(theirs.parameters()) + inputs)
    for a, b in zip(ga, gb, strict=True):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("cell", TWIN_CELLS)
@pytest.mark.parametrize(("layers", "bi", "bf", "proj", "with_h0", "bias"), LAYER_CASES)
def test_layer_matches_torch(cell, layers, bi, bf, proj, with_h0, bias):
    kw = dict(num_layers=layers, bidirectional=bi, batch_first=bf, bias=bias)
    theirs = torch_twin(cell, 5, 7, **kw).double()
    ours = make_layer(cell, 5, 7, **kw).double()
    _copy(theirs, ours)
    T, B, D = 6, 3, 2 if bi else 1
    x = torch.randn((B, T, 5) if bf else (T, B, 5), dtype=torch.float64, requires_grad=True)
    hx = None
    if with_h0:
        hx = torch.randn(layers * D, B, 7, dtype=torch.float64, requires_grad=True)
        if cell == "lstm":
            hx = (hx, torch.randn(layers * D, B, 7, dtype=torch.float64, requires_grad=True))
    _compare_run(ours, theirs, x, hx)


@pytest.mark.parametrize(("layers", "bi", "with_h0"), [(1, False, False), (2, True, True), (3, False, True)])
def test_lstm_proj_size_matches_torch(layers, bi, with_h0):
    theirs = torch.nn.LSTM(4, 9, num_layers=layers, bidirectional=bi, proj_size=5).double()
    ours = rnnkit.LSTM(4, 9, num_layers=layers, bidirectional=bi, proj_size=5).double()
    _copy(ours, theirs)  # the other direction of copying
    _copy(theirs, ours)
    D, B = 2 if bi else 1, 2
    x = torch.randn(7, B, 4, dtype=torch.float64, requires_grad=True)
    hx = None
    if with_h0:
        hx = (
            torch.randn(layers * D, B, 5, dtype=torch.float64, requires_grad=True),
            torch.randn(layers * D, B, 9, dtype=torch.float64, requires_grad=True),
        )
    _compare_run(ours, theirs, x, hx)


@pytest.mark.parametrize("cell", TWIN_CELLS)
@pytest.mark.parametrize("with_h0", [False, True])
def test_unbatched_matches_torch(cell, with_h0):
    theirs = torch_twin(cell, 3, 4, num_layers=2, bidirectional=True).double()
    ours = make_layer(cell, 3, 4, num_layers=2, bidirectional=True).double()
    _copy(theirs, ours)
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    hx = None
    if with_h0:
        hx = torch.randn(4, 4, dtype=torch.float64, requires_grad=True)
        if cell == "lstm":
            hx = (hx, torch.randn(4, 4, dtype=torch.float64, requires_grad=True))
    _compare_run(ours, theirs, x, hx)


@pytest.mark.parametrize("cell", TWIN_CELLS)
def test_state_dict_round_trip_and_names(cell):
    theirs = torch_twin(cell, 3, 4, num_layers=2, bidirectional=True)
    ours = make_layer(cell, 3, 4, num_layers=2, bidirectional=True)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in theirs.state_dict().items()
    }
    _copy(ours, theirs)
    for k, v in theirs.state_dict().items():
        assert torch.equal(v, ours.state_dict()[k])


@pytest.mark.parametrize("cell", TWIN_CELLS)
def test_init_is_torchs_uniform(cell):
    ours = make_layer(cell, 3, 64, num_layers=2)
    bound = 1 / 64**0.5
    for p in ours.parameters():
        m = float(p.detach().abs().max())
        assert 0.9 * bound < m <= bound  # really spread over the interval


def test_dropout_between_layers_only_in_training():
    lstm = rnnkit.LSTM(3, 8, num_layers=2, dropout=0.5)
    x = torch.randn(5, 2, 3)
    lstm.eval()
    a, _ = lstm(x)
    b, _ = lstm(x)
    torch.testing.assert_close(a, b)
    twin = torch.nn.LSTM(3, 8, num_layers=2, dropout=0.5).eval()
    twin.load_state_dict(lstm.state_dict())
    torch.testing.assert_close(a, twin(x)[0])
    lstm.train()
    c, _ = lstm(x)
    d, _ = lstm(x)
    assert not torch.allclose(c, d)  # dropout masks differ between calls
    with pytest.warns(UserWarning, match="dropout"):
        rnnkit.GRU(3, 4, num_layers=1, dropout=0.2)


CELL_MODULES = [
    (rnnkit.RNNCell, torch.nn.RNNCell, {"nonlinearity": "tanh"}),
    (rnnkit.RNNCell, torch.nn.RNNCell, {"nonlinearity": "relu"}),
    (rnnkit.LSTMCell, torch.nn.LSTMCell, {}),
    (rnnkit.GRUCell, torch.nn.GRUCell, {}),
]


@pytest.mark.parametrize(("ours_cls", "theirs_cls", "opts"), CELL_MODULES)
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_matches_torch(ours_cls, theirs_cls, opts, batched, bias):
    theirs = theirs_cls(5, 6, bias=bias, **opts).double()
    ours = ours_cls(5, 6, bias=bias, **opts).double()
    ours.load_state_dict(theirs.state_dict())
    shape = (3, 5) if batched else (5,)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    hshape = (3, 6) if batched else (6,)
    h = torch.randn(hshape, dtype=torch.float64, requires_grad=True)
    hx = (
        (h, torch.randn(hshape, dtype=torch.float64, requires_grad=True))
        if ours_cls is rnnkit.LSTMCell
        else h
    )
    a, b = ours(x, hx), theirs(x, hx)
    for u, v in zip(states(a), states(b), strict=True):
        torch.testing.assert_close(u, v, **TOL)
    la = sum((s * (k + 1)).sum() for k, s in enumerate(states(a)))
    lb = sum((s * (k + 1)).sum() for k, s in enumerate(states(b)))
    inputs = [x, *states(hx)]
    for u, v in zip(
        torch.autograd.grad(la, [*ours.parameters(), *inputs]),
        torch.autograd.grad(lb, [*theirs.parameters(), *inputs]),
        strict=True,
    ):
        torch.testing.assert_close(u, v, **TOL)
    # zero initial state when hx is omitted, as torch does
    for u, v in zip(states(ours(x)), states(theirs(x)), strict=True):
        torch.testing.assert_close(u, v, **TOL)


@pytest.mark.parametrize("cell", TWIN_CELLS)
@pytest.mark.parametrize("batched", [True, False])
def test_step_equals_forward(cell, batched):
    layer = make_layer(cell, 3, 5, num_layers=2, batch_first=True).double()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    out, st = layer(x if batched else x[0])
    state, outs = None, []
    for t in range(6):
        o, state = layer.step(x[:, t] if batched else x[0, t], state)
        outs.append(o)
    stepped = torch.stack(outs, dim=-2)
    torch.testing.assert_close(stepped, out)
    for a, b in zip(states(state), states(st), strict=True):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="unidirectional"):
        make_layer(cell, 3, 5, bidirectional=True).step(x[:, 0])
