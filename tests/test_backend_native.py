"""The torch backend (``backend="torch"``, torch's own fused ``_VF`` RNN operator) forced on CPU against
the reference backend, for every cell with a torch twin: outputs, final states and ALL gradients (random
cotangents on the output AND every final state) across layers, directions, layouts, lengths, packed
input, proj_size, bias=False and initial states; gradcheck and gradgradcheck in float64; what it refuses;
``auto`` choosing it when the cpu backend is unavailable; the warning when only the reference loop runs
a call on a device other than CPU. A spy on ``torch._VF`` proves the torch operator ran in every
equivalence test (a silent fallback to the reference would make both sides equal)."""

from __future__ import annotations

import dataclasses
import importlib
import warnings
from typing import NamedTuple

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

import rnnkit
from backend_helpers import assert_same_runs, backend_pair
from conftest import ALL_CELLS, TWIN_CELLS, make_layer, states
from rnnkit.cells.registry import get_cell
from rnnkit.cli import main as cli_main
from rnnkit.scan import native as native_mod
from rnnkit.scan.weights import LayerWeights

backends_mod = importlib.import_module("rnnkit.scan.backends")  # the module, not rnnkit.scan.backends()
OTHER_CELLS = [n for n in ALL_CELLS if n not in TWIN_CELLS]
TOL = {
    torch.float64: {"atol": 1e-12, "rtol": 1e-10},
    torch.float32: {"atol": 2e-5, "rtol": 1e-4},
}


class Call(NamedTuple):
    op: str  # "lstm", "gru", "rnn_tanh", "rnn_relu"
    packed: bool  # the overload with batch_sizes
    train: bool


class SpyVF:
    """Stands in for ``torch._VF`` in the native module: records each operator call, then runs it."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def __getattr__(self, name: str):
        op = getattr(torch._VF, name)

        def wrapper(*args):
            packed = isinstance(args[3], list)  # packed: (data, batch_sizes, hx, params, …)
            self.calls.append(Call(name, packed, bool(args[7] if packed else args[6])))
            return op(*args)

        return wrapper


@pytest.fixture
def spy(monkeypatch) -> SpyVF:
    vf = SpyVF()
    monkeypatch.setattr(native_mod, "_VF", vf)
    return vf


def op_name(cell: str) -> str:
    return native_mod.OPS[get_cell(cell).make_spec().kernel]


def pair(cell: str, input_size: int, hidden_size: int, dtype=torch.float64, **kw):
    """The same network on the reference and the torch backend (shared weights)."""
    return backend_pair(cell, input_size, hidden_size, dtype, "torch", **kw)


def assert_same(ref, fused, x, hx=None, lengths=None, dtype=torch.float64) -> None:
    """Both layers give the same values and gradients for every input and parameter."""
    assert_same_runs(ref, fused, x, hx, lengths, TOL[dtype])


def random_state(layer, batch: int, dtype) -> torch.Tensor | tuple[torch.Tensor, ...]:
    n = layer.num_layers * layer.num_directions
    sizes = (layer.proj_size or layer.hidden_size, layer.hidden_size)[: len(layer.spec.state_names)]
    hx = tuple(torch.randn(n, batch, s, dtype=dtype) for s in sizes)
    return hx if len(hx) > 1 else hx[0]


CONFIGS = {
    "plain": {"layer": {}},
    "deep-bi-batchfirst-lengths-h0": {
        "layer": {"num_layers": 2, "bidirectional": True, "batch_first": True},
        "lengths": [6, 2, 5],
        "h0": True,
    },
    "nobias-three-layers-lengths": {"layer": {"num_layers": 3, "bias": False}, "lengths": [4, 6, 1]},
    "bi-h0": {"layer": {"bidirectional": True}, "h0": True},
}


@pytest.mark.parametrize("cell", TWIN_CELLS)
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_matches_reference(cell, config, dtype, spy):
    cfg = CONFIGS[config]
    ref, fused = pair(cell, 5, 7, dtype, **cfg["layer"])
    T, B = 6, 3
    bf = cfg["layer"].get("batch_first", False)
    x = torch.randn((B, T, 5) if bf else (T, B, 5), dtype=dtype)
    lengths = None
    if "lengths" in cfg:
        lengths = torch.tensor(cfg["lengths"])
        for b, n in enumerate(cfg["lengths"]):  # garbage in the padding must not leak anywhere
            (x[b, n:] if bf else x[n:, b]).fill_(100.0)
    hx = random_state(ref, B, dtype) if cfg.get("h0") else None
    assert_same(ref, fused, x, hx, lengths, dtype)
    runs = fused.num_layers * fused.num_directions
    assert spy.calls == [Call(op_name(cell), lengths is not None, True)] * runs


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("bias", [True, False])
def test_proj_size_matches_reference(dtype, bias, spy):
    ref, fused = pair("lstm", 4, 9, dtype, num_layers=2, bidirectional=True, proj_size=5, bias=bias)
    x = torch.randn(7, 4, 4, dtype=dtype)
    hx = (torch.randn(4, 4, 5, dtype=dtype), torch.randn(4, 4, 9, dtype=dtype))
    with warnings.catch_warnings():  # torch says once that oneDNN has no projection (float32)
        warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")
        assert_same(ref, fused, x, hx, torch.tensor([7, 3, 5, 1]), dtype)
    assert spy.calls == [Call("lstm", True, True)] * 4


@pytest.mark.parametrize("cell", TWIN_CELLS)
def test_packed_sequence_matches_reference(cell, spy):
    ref, fused = pair(cell, 3, 6, num_layers=2, bidirectional=True)
    x = torch.randn(5, 4, 3, dtype=torch.float64)
    packed = pack_padded_sequence(x, torch.tensor([3, 5, 2, 5]), enforce_sorted=False)
    assert_same(ref, fused, packed)
    assert spy.calls == [Call(op_name(cell), True, True)] * 4


def test_unbatched_input_and_forget_bias_option(spy):
    """forget_bias only changes the init: the cell still computes torch's LSTM."""
    ref, fused = pair("lstm", 3, 4, forget_bias=1.0, num_layers=2)
    assert native_mod.supports(fused.spec, torch.randn(2, 3), False) is None
    hx = tuple(h[:, 0] for h in random_state(ref, 1, torch.float64))  # unbatched: (L, H) each
    assert_same(ref, fused, torch.randn(5, 3, dtype=torch.float64), hx)
    assert len(spy.calls) == 2


@pytest.mark.parametrize("cell", TWIN_CELLS)
def test_inference_runs_without_train_flag(cell, spy):
    ref, fused = pair(cell, 3, 5, bidirectional=True)
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    with torch.no_grad():
        out, st = fused(x, lengths=[4, 2])
        out_ref, st_ref = ref(x, lengths=[4, 2])
    torch.testing.assert_close(out, out_ref, **TOL[torch.float64])
    for a, b in zip(states(st), states(st_ref), strict=True):
        torch.testing.assert_close(a, b, **TOL[torch.float64])
    assert spy.calls == [Call(op_name(cell), True, False)] * 2  # train=False: nothing saved for backward


def _layer_function(layer, lengths):
    """f(x, *h0, *params) -> (output, *final states) through ``layer``, for gradcheck."""
    names = [n for n, _ in layer.named_parameters()]
    k = len(layer.spec.state_names)

    def f(x, *rest):
        hx = rest[:k] if k > 1 else rest[0]
        params = dict(zip(names, rest[k:], strict=True))
        out, st = torch.func.functional_call(layer, params, (x, hx), {"lengths": lengths})
        return (out, *states(st))

    return f


GRAD_CASES = [(cell, {"bidirectional": True}) for cell in TWIN_CELLS] + [
    ("lstm", {"proj_size": 2, "bias": False})
]


@pytest.mark.parametrize(
    ("cell", "kw"),
    GRAD_CASES,
    ids=[f"{c}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for c, kw in GRAD_CASES],
)
def test_gradcheck_and_gradgradcheck(cell, kw, spy):
    """First and second derivatives of torch's operator (ATen's loop in float64), packed and not."""
    layer = make_layer(cell, 2, 3, backend="torch", **kw).double()
    x = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)
    h0 = random_state(layer, 2, torch.float64)
    h0 = tuple(h.requires_grad_(True) for h in states(h0))
    ps = [p.detach().clone().requires_grad_(True) for p in layer.parameters()]
    for lengths in (None, torch.tensor([3, 1])):
        f = _layer_function(layer, lengths)
        assert torch.autograd.gradcheck(f, (x, *h0, *ps))
        assert torch.autograd.gradgradcheck(f, (x, *h0, *ps))
    assert {c.packed for c in spy.calls} == {False, True}
    assert {c.op for c in spy.calls} == {op_name(cell)}


def test_supports_refuses_what_it_cannot_run():
    lstm, x = get_cell("lstm").make_spec(), torch.randn(2, 2, 3)
    assert native_mod.supports(lstm, x, True) is None
    for cell in TWIN_CELLS:
        assert native_mod.supports(get_cell(cell).make_spec(), x.double(), False) is None
    for cell in OTHER_CELLS:
        assert "torch" in native_mod.supports(get_cell(cell).make_spec(), x, False)
    assert "proj_size" in native_mod.supports(get_cell("gru").make_spec(), x, True)
    assert "dtype" in native_mod.supports(lstm, x.half(), False)
    assert "meta" in native_mod.supports(lstm, torch.empty(2, 2, 3, device="meta"), False)
    assert "empty" in native_mod.supports(lstm, torch.empty(2, 0, 3), False)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert "autocast" in native_mod.supports(lstm, x, False)


def test_torch_layer_rejects_bad_arguments():
    spec = get_cell("gru").make_spec()
    x, w_ih, w_hh, h0 = torch.randn(3, 2, 4), torch.randn(9, 4), torch.randn(9, 3), torch.randn(2, 3)
    weights = LayerWeights(w_ih, None, w_hh, None, None, {})
    with pytest.raises(ValueError, match="w_ih must be given"):
        native_mod.torch_layer(spec, x, (h0,), weights.recurrent())
    with pytest.raises(ValueError, match="extras must be empty"):
        native_mod.torch_layer(spec, x, (h0,), weights._replace(extras={"p": h0}))
    with pytest.raises(ValueError, match="w_hr"):
        native_mod.torch_layer(spec, x, (h0,), weights._replace(weight_hr=torch.randn(3, 3)))
    with pytest.raises(ValueError, match="mask must have shape"):
        native_mod.torch_layer(spec, x, (h0,), weights, torch.ones(3, 2, dtype=torch.bool))
    empty_seq = torch.ones(3, 2, 1, dtype=torch.bool)
    empty_seq[:, 1] = False
    with pytest.raises(ValueError, match="at least one step"):
        native_mod.torch_layer(spec, x, (h0,), weights, empty_seq)
    with pytest.raises(ValueError, match="torch's math"):
        native_mod.torch_layer(get_cell("mingru").make_spec(), x, (h0,), weights)
    with pytest.raises(ValueError, match="scan or a scan_input"):
        backends_mod.Backend("nothing", None, lambda: None, lambda spec, x, proj: None)


def test_listed_as_a_backend(capsys):
    assert "torch" in rnnkit.backends()
    assert rnnkit.backend_status()["torch"] == "available"
    assert cli_main(["info"]) == 0
    assert any(line.split() == ["torch", "available"] for line in capsys.readouterr().out.splitlines())
    prio = {name: b.priority for name, b in backends_mod._BACKENDS.items()}
    assert prio["reference"] < prio["torch"] < prio["cpu"]


def _cpu_unavailable(monkeypatch) -> None:
    cpu = dataclasses.replace(backends_mod._BACKENDS["cpu"], probe=lambda: "no C++ compiler (simulated)")
    monkeypatch.setitem(backends_mod._BACKENDS, "cpu", cpu)
    monkeypatch.setattr(backends_mod, "_warned", set())


@pytest.mark.parametrize("cell", TWIN_CELLS)
def test_auto_runs_torch_when_cpu_backend_is_unavailable(cell, monkeypatch, spy):
    _cpu_unavailable(monkeypatch)
    ref, auto = pair(cell, 3, 4, num_layers=2)
    auto.backend = "auto"
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="'cpu' backend is unavailable.*simulated.*'torch' backend"):
        assert_same(ref, auto, x, lengths=torch.tensor([5, 3]))
    assert spy.calls == [Call(op_name(cell), True, True)] * 2
    monkeypatch.setenv("RNNKIT_DISABLE_CPU", "1")  # switched off on purpose: torch without a word
    monkeypatch.setattr(backends_mod, "_warned", set())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert backends_mod.select_backend("auto", auto.spec, x, False).name == "torch"


@pytest.mark.parametrize("cell", TWIN_CELLS)
def test_auto_prefers_the_cpu_backend_on_cpu(cell):
    if backends_mod._BACKENDS["cpu"].probe() is not None:
        pytest.fail(f"the cpu backend must build on the test machine: {rnnkit.backend_status()['cpu']}")
    chosen = backends_mod.select_backend("auto", get_cell(cell).make_spec(), torch.randn(2, 2, 3), False)
    assert chosen.name == "cpu"


@pytest.mark.parametrize("cell", OTHER_CELLS)
def test_auto_runs_other_cells_on_the_reference(cell, monkeypatch, spy):
    _cpu_unavailable(monkeypatch)
    spec = get_cell(cell).make_spec()
    with pytest.warns(RuntimeWarning, match="'cpu' backend is unavailable.*'reference' backend"):
        assert backends_mod.select_backend("auto", spec, torch.randn(2, 2, 3), False).name == "reference"
    layer = make_layer(cell, 3, 4, backend="torch")
    if isinstance(layer, rnnkit.RecurrentLayer):  # asked for explicitly: the reference, with a warning
        with pytest.warns(RuntimeWarning, match="backend='torch' cannot run this call"):
            layer(torch.randn(3, 2, 3))
    else:  # the parallel-scan cells (minGRU, minLSTM) run their own scan whatever the backend
        layer(torch.randn(3, 2, 3))
    assert spy.calls == []


def test_warns_once_when_only_the_reference_runs_on_another_device(monkeypatch):
    """No GPU needed: ``meta`` tensors are a device other than CPU that no fused backend runs."""
    monkeypatch.setattr(backends_mod, "_warned", set())
    x = torch.empty(4, 2, 3, device="meta")
    urlstm = get_cell("urlstm").make_spec()
    with pytest.warns(
        RuntimeWarning, match="no fused backend runs URLSTMSpec.* on meta.*reference loop"
    ) as rec:
        for _ in range(3):
            assert backends_mod.select_backend("auto", urlstm, x, False).name == "reference"
    assert len([w for w in rec if "reference loop" in str(w.message)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # on CPU the reference is the expected path for such cells: silent
        backends_mod.select_backend("auto", urlstm, torch.randn(4, 2, 3), False)
        # a device where torch's operator runs: the twin cells take it, no warning
        monkeypatch.setitem(native_mod.DTYPES, "meta", (torch.float32,))
        assert backends_mod.select_backend("auto", get_cell("lstm").make_spec(), x, False).name == "torch"
        layer = make_layer("gru", 3, 5, num_layers=2, bidirectional=True, device="meta")
        out, h = layer(x)
    assert out.shape == (4, 2, 10) and h.shape == (4, 2, 5) and out.device.type == "meta"
