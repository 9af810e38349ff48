"""torch.autograd.gradcheck in float64 on every registered cell, single step and through the layer
runner (multi-layer, bidirectional, variable lengths)."""

from __future__ import annotations

import pytest
import torch

from conftest import ALL_CELLS, make_layer, states
from rnnkit.cells.registry import get_cell


@pytest.mark.parametrize("cell", ALL_CELLS)
def test_cell_step_gradcheck(cell):
    entry = get_cell(cell)
    mod = entry.cell(3, 4, **entry.options).double()
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    hx = tuple(torch.randn(2, 4, dtype=torch.float64, requires_grad=True) for _ in mod.spec.state_names)

    # gradcheck w.r.t. the input and the state; parameters via a functional call
    def g(x, *state_and_params):
        k = len(hx)
        state, ps = state_and_params[:k], state_and_params[k:]
        names = [n for n, _ in mod.named_parameters()]
        return torch.func.functional_call(
            mod, dict(zip(names, ps, strict=True)), (x, state if k > 1 else state[0])
        )

    ps = [p.detach().clone().requires_grad_(True) for p in mod.parameters()]
    assert torch.autograd.gradcheck(g, (x, *hx, *ps))


@pytest.mark.parametrize("cell", ALL_CELLS)
@pytest.mark.parametrize("with_lengths", [False, True])
def test_layer_gradcheck(cell, with_lengths):
    layer = make_layer(cell, 2, 3, num_layers=2, bidirectional=True).double()
    names = [n for n, _ in layer.named_parameters()]
    ps = [p.detach().clone().requires_grad_(True) for p in layer.parameters()]
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    h0 = tuple(torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True) for _ in layer.spec.state_names)
    lengths = torch.tensor([4, 2]) if with_lengths else None

    def f(x, *rest):
        k = len(h0)
        hx = rest[:k] if k > 1 else rest[0]
        out, st = torch.func.functional_call(
            layer, dict(zip(names, rest[k:], strict=True)), (x, hx), {"lengths": lengths}
        )
        return (out, *states(st))

    assert torch.autograd.gradcheck(f, (x, *h0, *ps))
