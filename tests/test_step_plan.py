"""``RecurrentLayer.step`` keeps a step plan per layer (the backend, its kernel and threads, the packed
weights) for generation loops: it gives the general path's results, is made once and reused while
nothing changes, and is made again when the weights change in place or are replaced, when the batch
size, dtype or thread count changes; calls it cannot take go the general way (and raise there)."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import pickle

import pytest
import torch
from torch import nn

from conftest import make_layer, states
from rnnkit.scan.cpu import probe

backends_mod = importlib.import_module("rnnkit.scan.backends")  # the module, not rnnkit.scan.backends()

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")
TOL = {"atol": 2e-5, "rtol": 1e-4}


@pytest.fixture
def plans(monkeypatch):
    """Count the step plans the cpu backend makes."""
    assert probe() is None
    made: list[int] = []
    cpu = backends_mod._BACKENDS["cpu"]
    original = cpu.step_plan

    def counting(spec, weights, batch):
        made.append(batch)
        return original(spec, weights, batch)

    monkeypatch.setitem(backends_mod._BACKENDS, "cpu", dataclasses.replace(cpu, step_plan=counting))
    return made


def pair(cell="lstm", **kw):
    fast = make_layer(cell, 5, 24, num_layers=2, backend="cpu", **kw).eval()
    ref = make_layer(cell, 5, 24, num_layers=2, backend="reference", **kw).eval()
    ref.load_state_dict(fast.state_dict())
    return fast, ref


def run_steps(layer, x, state=None):
    outs = []
    for x_t in x:
        y, state = layer.step(x_t, state)
        outs.append(y)
    return torch.stack(outs), state


@pytest.mark.parametrize("cell", ["lstm", "gru", "urlstm", "rnn"])
def test_planned_steps_match_forward_and_plan_once(cell, plans):
    fast, ref = pair(cell)
    x = torch.randn(12, 3, 5)
    with torch.no_grad():
        ys, st = run_steps(fast, x)
        full, full_st = ref(x)
    torch.testing.assert_close(ys, full, **TOL)
    for a, b in zip(states(st), states(full_st), strict=True):
        torch.testing.assert_close(a, b, **TOL)
    assert plans == [3], "one plan for the whole loop"


def test_plan_is_made_again_when_anything_it_depends_on_changes(plans, monkeypatch):
    fast, ref = pair(proj_size=7)
    x = torch.randn(2, 5)

    def check(layer_x=x):
        ref.to(fast.weight_hh_l0.dtype).load_state_dict(fast.state_dict())
        with torch.no_grad():
            y, st = fast.step(layer_x)
            y_ref, st_ref = ref.step(layer_x)
        torch.testing.assert_close(y, y_ref, **TOL)
        torch.testing.assert_close(st, st_ref, **TOL)

    check()
    check()
    assert len(plans) == 1
    with torch.no_grad():
        fast.weight_hh_l1.mul_(0.5)  # an optimiser step: in place, the version moves
    check()
    assert len(plans) == 2
    fast.load_state_dict(make_layer("lstm", 5, 24, num_layers=2, proj_size=7).state_dict())
    check()
    assert len(plans) == 3
    fast.weight_ih_l0 = nn.Parameter(torch.randn(4 * 24, 5))  # replaced outright
    check()
    assert len(plans) == 4
    check(torch.randn(6, 5))  # another batch size
    assert plans[-1] == 6
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    check(torch.randn(6, 5))
    assert len(plans) == 6
    fast.double()
    check(torch.randn(6, 5, dtype=torch.float64))
    assert len(plans) == 7


def test_calls_the_plan_cannot_take_go_the_general_way(plans):
    fast, ref = pair(dropout=0.5)
    x = torch.randn(2, 5)
    with torch.no_grad():
        y1, _ = fast.step(x[0])  # unbatched (I,)
        torch.testing.assert_close(y1, ref.step(x[0])[0], **TOL)
        with pytest.raises(ValueError):  # a wrong state shape: the general path's error
            fast.step(x, (torch.zeros(2, 3, 24), torch.zeros(2, 3, 24)))
        fast.train()  # dropout between layers is active: no plan
        fast.step(x)
    assert plans == []
    y, _ = fast.eval().step(x)  # grad enabled and parameters require grad: differentiable, no plan
    assert y.requires_grad
    assert plans == []


def test_layers_copy_and_pickle_after_planned_steps(plans):
    fast, _ = pair()
    x = torch.randn(2, 5)
    with torch.no_grad():
        want, _ = fast.step(x)
        for clone in (copy.deepcopy(fast), pickle.loads(pickle.dumps(fast))):
            torch.testing.assert_close(clone.step(x)[0], want, rtol=0, atol=0)
    assert len(plans) == 3, "each copy makes its own plan: plans never travel with a layer"


def test_state_fed_back_and_a_new_batch_size(plans):
    """The state a planned step returned is taken back as it is; with another batch size than that
    state's, the general path reports the mismatch as for any wrong state."""
    fast, ref = pair()
    x = torch.randn(4, 3, 5)
    with torch.no_grad():
        ys, st = run_steps(fast, x)
        torch.testing.assert_close(ys, ref(x)[0], **TOL)
        with pytest.raises(ValueError):
            fast.step(torch.randn(2, 5), st)
