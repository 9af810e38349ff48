"""The add-a-cell promise, kept: a toy cell registered at run time (the recipe in
``rnnkit/cells/registry.py``) works everywhere a built-in cell does — by name in ``create_layer``, as a
single-step module, with ``trace()``, ``step()``, padded batches and autograd — on the reference backend
that every cell without a fused functor runs on, and is removed again afterwards."""

from __future__ import annotations

import warnings
from typing import ClassVar

import pytest
import torch
from torch import Tensor

import rnnkit
from rnnkit.cells.base import CellModule, CellSpec, Gates, State

NAME = "toy_leaky"


class LeakySpec(CellSpec):
    """A leaky tanh RNN with a learned leak:

    a = σ(W_a x_t + b_ia + U_a h_{t-1} + b_ha),  n = tanh(W_n x_t + b_in + U_n h_{t-1} + b_hn),
    h_t = (1 − a) ⊙ h_{t-1} + a ⊙ n."""

    name: ClassVar[str] = NAME
    gate_names: ClassVar[tuple[str, ...]] = ("leak", "candidate")
    num_chunks: ClassVar[int] = 2

    def pointwise(
        self, xg: Tensor, hg: Tensor, state: State, extras: dict[str, Tensor], record: bool
    ) -> tuple[State, Gates | None]:
        xa, xn = xg.chunk(2, dim=-1)  # 2 x (B, H)
        ha, hn = hg.chunk(2, dim=-1)
        a, n = torch.sigmoid(xa + ha), torch.tanh(xn + hn)
        h = (1 - a) * state[0] + a * n
        return (h,), ({"leak": a, "candidate": n} if record else None)


class LeakyCell(CellModule):
    """The single-step module of the toy cell."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(LeakySpec(), input_size, hidden_size, bias, device=device, dtype=dtype)


@pytest.fixture
def toy():
    """The toy cell, registered for the test and removed afterwards."""
    entry = rnnkit.register_cell(
        rnnkit.cells.CellEntry(NAME, LeakySpec, LeakyCell, "rnnkit.layers:RecurrentLayer")
    )
    try:
        yield entry
    finally:
        rnnkit.unregister_cell(NAME)
    assert NAME not in rnnkit.list_cells()


def test_registered_cell_is_a_layer_by_name_and_matches_its_own_single_step_cell(toy):
    assert NAME in rnnkit.list_cells()
    torch.manual_seed(0)
    layer = rnnkit.create_layer(NAME, 3, 5, num_layers=2, batch_first=True).double()
    assert layer.weight_hh_l1.shape == (2 * 5, 5) and layer.spec.gate_names == ("leak", "candidate")
    x = torch.randn(4, 6, 3, dtype=torch.float64)  # (B, T, I)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a cell without a fused functor runs on the reference silently
        out, h = layer(x)
    cells = [toy.cell(3 if k == 0 else 5, 5).double() for k in range(2)]
    for k, cell in enumerate(cells):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).data.copy_(getattr(layer, f"{name}_l{k}"))
    hs = [torch.zeros(4, 5, dtype=torch.float64) for _ in cells]
    outs = []
    for t in range(6):
        inp = x[:, t]
        for k, cell in enumerate(cells):
            hs[k] = cell(inp, hs[k])
            inp = hs[k]
        outs.append(inp)
    torch.testing.assert_close(out, torch.stack(outs, 1), rtol=0, atol=1e-12)
    torch.testing.assert_close(h, torch.stack(hs), rtol=0, atol=1e-12)


def test_registered_cell_gradcheck_padded_equals_alone_trace_and_step(toy):
    torch.manual_seed(1)
    layer = rnnkit.create_layer(NAME, 2, 3, bidirectional=True).double()
    x = torch.randn(5, 3, 2, dtype=torch.float64, requires_grad=True)
    lengths = [5, 2, 4]
    assert torch.autograd.gradcheck(lambda inp: layer(inp, lengths=lengths)[0], (x,))
    out, h = layer(x, lengths=lengths)
    for b, n in enumerate(lengths):  # each sequence alone gives the same outputs and final state
        alone, h_alone = layer(x[:n, b : b + 1])
        torch.testing.assert_close(out[:n, b : b + 1], alone, rtol=0, atol=1e-12)
        torch.testing.assert_close(h[:, b : b + 1], h_alone, rtol=0, atol=1e-12)
        assert torch.all(out[n:, b] == 0)
    uni = rnnkit.create_layer(NAME, 2, 3).double()
    tr = uni.trace(x.detach())
    a, n = tr.gates["leak"][0], tr.gates["candidate"][0]  # (T, B, H)
    h_prev = torch.zeros(3, 3, dtype=torch.float64)
    for t in range(5):  # the recorded gates recompute every hidden state
        h_prev = (1 - a[t]) * h_prev + a[t] * n[t]
        torch.testing.assert_close(tr.hiddens[0, t], h_prev, rtol=0, atol=1e-12)
    state = None
    with torch.no_grad():
        for t in range(5):
            y, state = uni.step(x[t].detach(), state)
        torch.testing.assert_close(y, uni(x.detach())[0][-1], rtol=0, atol=1e-12)


def test_a_registered_name_cannot_be_taken_twice_and_unknown_names_are_refused(toy):
    with pytest.raises(ValueError, match="already registered"):
        rnnkit.register_cell(toy)
    with pytest.raises(ValueError, match="no registered cell 'nope'"):
        rnnkit.unregister_cell("nope")
