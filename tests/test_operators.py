"""The fused kernels as PyTorch operators (``rnnkit::scan_forward``, ``rnnkit::scan_backward``,
``rnnkit::step``): ``torch.library.opcheck`` on each (schema, fake implementation, autograd registration,
AOTAutograd static and dynamic), second derivatives (``gradgradcheck``) for every registered cell on every
backend that runs it, the scan operator used while exporting (``portable_scan``) against the reference, and
the clear errors where the operator cannot give a gradient."""

from __future__ import annotations

import importlib
import warnings

import pytest
import torch

from conftest import ALL_CELLS, make_layer, states
from matrix import covering
from rnnkit import RecurrentLayer
from rnnkit.cells.registry import get_cell
from rnnkit.scan.cpu import load
from rnnkit.scan.inputs import time_mask
from rnnkit.scan.native import supports as torch_supports
from rnnkit.scan.portable import portable_scan
from rnnkit.scan.reference import reference_scan

backends_mod = importlib.import_module("rnnkit.scan.backends")
F64 = torch.float64
#: the fused kernels: name -> (G, has a cell state, has an extra tensor)
KERNELS = {k["name"]: (k["G"], bool(k["cell_state"]), bool(k["E"])) for k in load().kernel_info()}


def _spy(monkeypatch) -> list[str]:
    """Record the extension's entry points a call goes through."""
    calls: list[str] = []
    ext = load()
    for name in ("forward", "backward", "step"):
        fn = getattr(ext, name)
        monkeypatch.setattr(ext, name, lambda *a, _fn=fn, _n=name: calls.append(_n) or _fn(*a))
    return calls


def scan_args(cell: str, *, proj: bool, lengths: bool, bias: bool = True, projected_input: bool = False):
    """Arguments of ``rnnkit::scan_forward`` for kernel ``cell`` (float64 leaves requiring grad)."""
    G, has_c, has_e = KERNELS[cell]
    T, B, I, H = 4, 3, 5, 6
    P = 3 if proj else H
    mk = lambda *s: torch.randn(*s, dtype=F64, requires_grad=True)  # noqa: E731
    x = mk(T, B, G * H) if projected_input else mk(T, B, I)
    w_ih = None if projected_input else mk(G * H, I)
    b_ih = mk(G * H) if bias and not projected_input else None
    extra = torch.rand(H, dtype=F64) * 2 - 1 if has_e else None
    lens = torch.tensor([4, 2, 1]) if lengths else None
    return (
        cell, x, w_ih, b_ih, mk(B, P), mk(B, H) if has_c else None, mk(G * H, P), mk(G * H) if bias else None,
        mk(P, H) if proj else None, extra, lens, True,
    )  # fmt: skip


OPCHECK_CASES = (
    [(c, False, False, True, False) for c in KERNELS]
    + [(c, False, True, False, False) for c in KERNELS]
    + [(c, True, True, True, False) for c in KERNELS if KERNELS[c][1]]
    + [("gru", False, True, True, True), ("lstm", False, False, True, True)]
)


@pytest.mark.parametrize(("cell", "proj", "lengths", "bias", "xg"), OPCHECK_CASES)
def test_opcheck_scan_forward(cell, proj, lengths, bias, xg):
    """Schema, fake (meta) implementation, registered autograd and AOTAutograd for the training form; the
    inference form (training=False) through the same checks without gradients."""
    args = scan_args(cell, proj=proj, lengths=lengths, bias=bias, projected_input=xg)
    torch.library.opcheck(torch.ops.rnnkit.scan_forward.default, args)
    detached = (*(a.detach() if isinstance(a, torch.Tensor) else a for a in args[:-1]), False)
    torch.library.opcheck(torch.ops.rnnkit.scan_forward.default, detached)


@pytest.mark.parametrize("cell", list(KERNELS))
def test_opcheck_scan_backward(cell):
    args = scan_args(cell, proj=KERNELS[cell][1], lengths=True)
    cell_, x, w_ih, _, h0, c0, w_hh, _, w_hr, extra, lens, _ = args
    with torch.no_grad():
        out, hn, cn, saved, cs, hraw = torch.ops.rnnkit.scan_forward(*args)
    g = torch.Generator().manual_seed(0)
    cot = lambda t: torch.randn(t.shape, generator=g, dtype=F64)  # noqa: E731
    bwd = (
        cell_, x.detach(), w_ih.detach(), True, w_hh.detach(), True,
        w_hr.detach() if w_hr is not None else None,
        extra, lens, h0.detach(), c0.detach() if c0 is not None else None, out, saved, cs, hraw, cot(out),
        cot(hn), cot(cn) if c0 is not None else None, [True] * 6,
    )  # fmt: skip
    torch.library.opcheck(torch.ops.rnnkit.scan_backward.default, bwd)


@pytest.mark.parametrize("cell", ["lstm", "gru", "urlstm"])
def test_opcheck_step(cell):
    layer = make_layer(cell, 3, 5, num_layers=2)
    flat = []
    for k in range(2):
        w_ih, b_ih, w_hh, b_hh, w_hr, extras = layer.weights(k, 0)
        extra = next(iter(extras.values()), None)
        flat += [
            t.detach() if t is not None else torch.empty(0) for t in (w_ih, b_ih, w_hh, b_hh, w_hr, extra)
        ]
    h = torch.randn(2, 4, 5)
    c = torch.randn(2, 4, 5) if layer.spec.has_cell_state else None
    torch.library.opcheck(torch.ops.rnnkit.step.default, (layer.spec.kernel, torch.randn(4, 3), h, c, flat))


# -- second derivatives ----------------------------------------------------------------------------------
def _backends_for(cell: str) -> list[str]:
    spec = get_cell(cell).make_spec()
    x = torch.randn(2, 2, 3, dtype=F64)
    names = ["reference"]
    if spec.kernel in KERNELS:
        names.append("cpu")
    if torch_supports(spec, x, False) is None:
        names.append("torch")
    return names


GRADGRAD_CASES = [(cell, backend) for cell in ALL_CELLS for backend in _backends_for(cell)]


@pytest.mark.parametrize(("cell", "backend"), GRADGRAD_CASES)
def test_gradgradcheck_every_cell_and_backend(cell, backend, monkeypatch):
    """Second derivatives w.r.t. the input, the initial state and every parameter, with lengths; on the
    cpu backend the first backward pass must run the fused operator (the second runs the reference
    formula, create_graph=True)."""
    layer = make_layer(cell, 2, 3, backend=backend).double()
    names = [n for n, _ in layer.named_parameters()]
    ps = [p.detach().clone().requires_grad_(True) for p in layer.parameters()]
    x = torch.randn(3, 2, 2, dtype=F64, requires_grad=True)
    h0 = tuple(torch.randn(1, 2, 3, dtype=F64, requires_grad=True) for _ in layer.spec.state_names)
    lengths = torch.tensor([3, 2])

    def f(x, *rest):
        k = len(h0)
        hx = rest[:k] if k > 1 else rest[0]
        out, st = torch.func.functional_call(
            layer, dict(zip(names, rest[k:], strict=True)), (x, hx), {"lengths": lengths}
        )
        return (out, *states(st))

    calls = _spy(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback: the chosen backend runs every call
        assert torch.autograd.gradgradcheck(f, (x, *h0, *ps))
    if backend == "cpu":
        assert "forward" in calls, "the fused operator must have run"
    else:
        assert not calls


def test_first_derivatives_stay_fused_and_second_exact(monkeypatch):
    """create_graph=False runs the fused backward; create_graph=True gives the same first derivatives
    as a graph whose derivatives equal the reference's (a gradient penalty)."""
    ref = make_layer("lstm", 3, 4, backend="reference").double()
    cpu = make_layer("lstm", 3, 4, backend="cpu").double()
    cpu.load_state_dict(ref.state_dict())
    x = torch.randn(5, 2, 3, dtype=F64)
    penalties = []
    for layer in (ref, cpu):
        xi = x.clone().requires_grad_(True)
        out, _ = layer(xi)
        (gx,) = torch.autograd.grad(out.pow(2).sum(), xi, create_graph=True)
        penalty = gx.pow(2).sum()
        penalties.append((penalty, torch.autograd.grad(penalty, list(layer.parameters()))))
    torch.testing.assert_close(penalties[1][0], penalties[0][0])
    for a, b in zip(penalties[0][1], penalties[1][1], strict=True):
        torch.testing.assert_close(b, a)
    calls = _spy(monkeypatch)
    out, _ = cpu(x.clone().requires_grad_(True))
    out.sum().backward()
    assert calls == ["forward", "backward"]


def test_gradient_for_a_constant_extra_tensor_raises():
    args = list(scan_args("urlstm", proj=False, lengths=False))
    args[9] = args[9].clone().requires_grad_(True)  # the UGI forget bias, a constant of the kernel
    out = torch.ops.rnnkit.scan_forward(*args)[0]
    with pytest.raises(RuntimeError, match="extra tensor as a constant"):
        out.sum().backward()


def test_inference_form_has_no_backward():
    args = scan_args("gru", proj=False, lengths=False)
    out = torch.ops.rnnkit.scan_forward(*args[:-1], False)[0]
    with pytest.raises(RuntimeError, match="training=False"):
        out.sum().backward()


# -- the scan operator used while exporting ------------------------------------------------------------
#: cells run by the recurrent runner (min-GRU/min-LSTM run a parallel scan of their own)
RECURRENT_CELLS = [c for c in ALL_CELLS if isinstance(make_layer(c, 1, 1), RecurrentLayer)]


# every cell with two of the four variants in CI (each variant with half the cells), all with -m slow
@pytest.mark.parametrize(
    ("cell", "variant"),
    covering(RECURRENT_CELLS, ["plain", "lengths-hmask", "zoneout-train", "zoneout-eval"], per_row=2),
)
def test_portable_scan_matches_reference(cell, variant):
    layer = make_layer(cell, 3, 4, proj_size=2 if get_cell(cell).make_spec().supports_proj else 0).double()
    weights = layer.weights(0, 0).recurrent()
    w_hh = weights.weight_hh
    spec = layer.spec
    xg = torch.randn(5, 3, spec.num_chunks * 4, dtype=F64, requires_grad=True)
    sizes = (w_hh.size(1), 4)[: len(spec.state_names)]
    state0 = tuple(torch.randn(3, s, dtype=F64) for s in sizes)
    kwargs: dict[str, object] = {}
    mask = None
    if variant == "lengths-hmask":
        mask = time_mask(torch.tensor([5, 2, 4]), 5, xg.device)
        kwargs["h_mask"] = torch.bernoulli(torch.full((3, sizes[0]), 0.7, dtype=F64)) / 0.7
    elif variant == "zoneout-train":
        kwargs["zoneout"] = tuple(torch.bernoulli(torch.full((5, 3, s), 0.3, dtype=F64)) for s in sizes)
    elif variant == "zoneout-eval":
        kwargs["zoneout"] = tuple(torch.full((1, 1, 1), 0.3, dtype=F64) for _ in sizes)
    results = []
    for scan in (reference_scan, portable_scan):
        res = scan(spec, xg, state0, weights, mask, **kwargs)
        g = torch.Generator().manual_seed(1)
        loss = sum((t * torch.randn(t.shape, generator=g, dtype=F64)).sum() for t in (res.output, *res.state))
        results.append([res.output, *res.state, *torch.autograd.grad(loss, [xg, w_hh])])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(b, a)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("used", ["output", "h_n", "c_n"])
def test_gradients_when_the_loss_reads_one_output(cell, used, monkeypatch):
    """A loss on the final state alone (a classifier) or on the output alone: the outputs it does not
    read get no gradient tensors at all (nothing is zero-filled) and the fused backward still gives the
    reference's gradients."""
    if used == "c_n" and cell == "gru":
        used = "h_n"
    ref = make_layer(cell, 3, 4, backend="reference").double()
    cpu = make_layer(cell, 3, 4, backend="cpu").double()
    cpu.load_state_dict(ref.state_dict())
    x = torch.randn(5, 2, 3, dtype=F64)
    grads = []
    calls = _spy(monkeypatch)
    for layer in (ref, cpu):
        out, st = layer(x)
        pick = {"output": out, "h_n": states(st)[0], "c_n": states(st)[-1]}[used]
        grads.append(torch.autograd.grad(pick.pow(2).sum(), list(layer.parameters())))
    assert calls == ["forward", "backward"]
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(b, a)


def test_fallback_warning_under_compile(monkeypatch):
    """An explicit backend that cannot run a call warns (once, while tracing) and the compiled graph
    still has no break: the warning is not a graph operation."""
    monkeypatch.setattr(backends_mod, "_warned", set())
    layer = make_layer("lstm_peephole", 3, 4, backend="cpu")  # no fused kernel for peepholes
    x = torch.randn(4, 2, 3)
    torch._dynamo.reset()
    compiled = torch.compile(layer, fullgraph=True, backend="aot_eager")
    with pytest.warns(RuntimeWarning, match="backend='cpu' cannot run this call") as record:
        out, _ = compiled(x)
        compiled(x)
    assert len(record) == 1
    torch.testing.assert_close(out, layer(x)[0])


def test_transforms_and_fake_tensors_go_through_the_operator():
    """Plain eager calls run the kernels directly; fake tensors go through the registered operator (its
    fake implementation); torch.func transforms run the reference math — the same numbers."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    layer = make_layer("gru", 3, 4, num_layers=2, backend="cpu").double()
    x = torch.randn(5, 2, 3, dtype=F64)
    params = {n: p.detach() for n, p in layer.named_parameters()}

    def loss(ps, x):
        out, h = torch.func.functional_call(layer, ps, (x,))
        return out.pow(2).sum() + h.sum()

    by_transform = torch.func.grad(loss)(params, x)
    by_autograd = torch.autograd.grad(loss(dict(layer.named_parameters()), x), list(layer.parameters()))
    for (name, a), b in zip(by_transform.items(), by_autograd, strict=True):
        torch.testing.assert_close(a, b, msg=lambda m, n=name: f"{n}: {m}")
    with FakeTensorMode() as mode:
        fake_layer = make_layer("lstm", 3, 4, num_layers=2, bidirectional=True, backend="cpu")
        out, (h, c) = fake_layer(mode.from_tensor(torch.randn(6, 2, 3)))
    assert out.shape == (6, 2, 8) and h.shape == (4, 2, 4) and c.shape == (4, 2, 4)
