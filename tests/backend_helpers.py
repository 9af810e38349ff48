"""Shared helpers of the backend equivalence tests: the same network on two backends with shared
weights, a forward/backward with random cotangents on the output AND every final state, and the
comparison of values and of every gradient (input, initial state, each parameter)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn.utils.rnn import PackedSequence

from conftest import make_layer, states


def backend_pair(cell: str, input_size: int, hidden_size: int, dtype: torch.dtype, backend: str, **kw):
    """(reference layer, ``backend`` layer) of the same network with the same weights."""
    ref = make_layer(cell, input_size, hidden_size, backend="reference", **kw).to(dtype)
    other = make_layer(cell, input_size, hidden_size, backend=backend, **kw).to(dtype)
    other.load_state_dict(ref.state_dict())
    return ref, other


def leaf_copy(x):
    """A fresh leaf requiring grad (a PackedSequence's data, each tensor of a tuple; None stays None)."""
    if isinstance(x, PackedSequence):
        return x._replace(data=x.data.detach().clone().requires_grad_(True))
    if isinstance(x, tuple):
        return tuple(leaf_copy(t) for t in x)
    return None if x is None else x.detach().clone().requires_grad_(True)


def run_with_cotangents(layer, x, hx, lengths, seed: int = 1):
    """Forward, then backward with random cotangents on the output and every final state. Returns the
    values (output, final states) and the gradients by name (x, hx[k], every parameter)."""
    layer.zero_grad(set_to_none=True)
    hx_parts = () if hx is None else hx if isinstance(hx, tuple) else (hx,)
    leaves = {"x": x.data if isinstance(x, PackedSequence) else x}
    leaves |= {f"hx[{k}]": h for k, h in enumerate(hx_parts)}
    for t in leaves.values():
        t.grad = None
    kwargs = {} if lengths is None else {"lengths": lengths}
    out, st = layer(x, hx, **kwargs)
    data = out.data if isinstance(out, PackedSequence) else out
    g = torch.Generator().manual_seed(seed)
    loss = (data * torch.randn(data.shape, generator=g, dtype=data.dtype)).sum()
    for s in states(st):
        loss = loss + (s * torch.randn(s.shape, generator=g, dtype=s.dtype)).sum()
    loss.backward()
    grads = {n: t.grad for n, t in leaves.items()} | {n: p.grad for n, p in layer.named_parameters()}
    return [data, *states(st)], grads


def assert_same_runs(
    ref_layer, layer, x, hx, lengths, tol: dict[str, float], before_second: Callable[[], object] | None = None
) -> None:
    """Both layers give the same values and the same gradient for every input and parameter, within
    ``tol`` (``assert_close``'s atol/rtol); ``before_second`` runs between the two runs (e.g. to clear a
    spy so that it records the second layer's calls only)."""
    vals_a, grads_a = run_with_cotangents(ref_layer, leaf_copy(x), leaf_copy(hx), lengths)
    if before_second is not None:
        before_second()
    vals_b, grads_b = run_with_cotangents(layer, leaf_copy(x), leaf_copy(hx), lengths)
    for a, b in zip(vals_a, vals_b, strict=True):
        torch.testing.assert_close(b, a, **tol)
    assert grads_a.keys() == grads_b.keys()
    for name, a in grads_a.items():
        b = grads_b[name]
        assert a is not None and b is not None, f"no gradient for {name}"
        torch.testing.assert_close(b, a, **tol, msg=lambda m, n=name: f"gradient of {n}: {m}")
