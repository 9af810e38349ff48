"""The fused CPU backend (``backend="cpu"``) against the reference backend, for every registered cell
with a fused kernel: outputs, final states and ALL gradients (random cotangents on the outputs AND the
final states) across layers, directions, layouts, lengths, packed input, proj_size, initial states and
dtypes; gradcheck in float64 through the extension; the inference path; step() ≡ forward; and the
fallback when the extension cannot be built.

Every equivalence test proves the fused path ran: the ``spy`` fixture records each call into the
extension, and the tests assert the forward scan (and the backward scan when gradients are taken) ran
once per layer and direction — a silent fallback to the reference would make both sides equal. A
fallback warning is an error in this module."""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import shutil
import subprocess
import sys
import warnings

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

import rnnkit
from backend_helpers import assert_same_runs, backend_pair, leaf_copy, run_with_cotangents
from conftest import ALL_CELLS, make_layer, states
from rnnkit.cells.registry import get_cell
from rnnkit.scan import cpu as cpu_mod
from rnnkit.scan.cpu import build as build_mod
from rnnkit.scan.cpu import kernels as kernels_mod
from rnnkit.scan.cpu import ops as ops_mod

backends_mod = importlib.import_module("rnnkit.scan.backends")  # the module, not rnnkit.scan.backends()
FUSED_CELLS = [n for n in ALL_CELLS if get_cell(n).make_spec().kernel is not None]
OTHER_CELLS = [n for n in ALL_CELLS if n not in FUSED_CELLS]
PROJ_CELLS = [n for n in FUSED_CELLS if get_cell(n).make_spec().supports_proj]
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # a fallback warning fails a test
TOL = {
    torch.float64: {"atol": 1e-10, "rtol": 1e-9},
    torch.float32: {"atol": 2e-5, "rtol": 1e-4},
}


@pytest.fixture(scope="session", autouse=True)
def extension():
    """Build (or load from the cache) the extension once per test session; failing to is a failure."""
    reason = cpu_mod.probe()
    assert reason is None, f"the cpu backend must build on the test machine: {reason}"
    return cpu_mod.load()


@pytest.fixture
def spy(monkeypatch, extension):
    """Record which entry points of the extension a call goes through (and with which `training`)."""
    calls: list[tuple[str, object]] = []
    for name in ("forward", "backward", "step"):
        fn = getattr(extension, name)

        def wrapper(*args, _fn=fn, _name=name):
            calls.append((_name, args[11] if _name == "forward" else None))
            return _fn(*args)

        monkeypatch.setattr(extension, name, wrapper)
    return calls


def pair(cell: str, input_size: int, hidden_size: int, dtype=torch.float64, **kw):
    """The same network on the reference and the cpu backend (shared weights)."""
    return backend_pair(cell, input_size, hidden_size, dtype, "cpu", **kw)


def assert_fused_ran(spy, layer, backward: bool) -> None:
    """The extension ran the forward scan in training form (and the backward scan when ``backward``)
    once per layer and direction of ``layer``, and nothing else."""
    runs = layer.num_layers * (2 if layer.bidirectional else 1)
    want = [("forward", True)] * runs + ([("backward", None)] * runs if backward else [])
    assert spy == want, f"the fused path must have run: expected {want}, recorded {spy}"


def assert_same(ref_layer, cpu_layer, x, hx=None, lengths=None, dtype=torch.float64, *, spy):
    """Both layers give the same values and the same gradient for every input and parameter, and the
    second one ran on the extension (forward and backward)."""
    assert_same_runs(ref_layer, cpu_layer, x, hx, lengths, TOL[dtype], before_second=spy.clear)
    assert_fused_ran(spy, cpu_layer, backward=True)


CONFIGS = {
    "plain": {"layer": {}, "B": 3, "T": 6},
    "deep-bi-batchfirst-lengths-h0": {
        "layer": {"num_layers": 2, "bidirectional": True, "batch_first": True},
        "lengths": [6, 2, 5],
        "h0": True,
    },
    "three-layers-lengths": {"layer": {"num_layers": 3}, "lengths": [4, 6, 1], "h0": True},
}


@pytest.mark.parametrize("cell", FUSED_CELLS)
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_matches_reference(cell, config, dtype, spy):
    cfg = CONFIGS[config]
    ref, cpu = pair(cell, 5, 7, dtype, **cfg["layer"])
    T, B = 6, 3
    bf = cfg["layer"].get("batch_first", False)
    x = torch.randn((B, T, 5) if bf else (T, B, 5), dtype=dtype)
    lengths = None
    if "lengths" in cfg:
        lengths = torch.tensor(cfg["lengths"])
        for b, n in enumerate(cfg["lengths"]):  # garbage in the padding must not leak anywhere
            (x[b, n:] if bf else x[n:, b]).fill_(100.0)
    x.requires_grad_(True)
    hx = None
    if cfg.get("h0"):
        D = 2 if ref.bidirectional else 1
        sizes = (7, 7) if ref.spec.has_cell_state else (7,)
        hx = tuple(torch.randn(ref.num_layers * D, B, s, dtype=dtype) for s in sizes)
        hx = hx if len(hx) > 1 else hx[0]
    assert_same(ref, cpu, x, hx, lengths, dtype, spy=spy)


@pytest.mark.parametrize("cell", PROJ_CELLS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_proj_size_matches_reference(cell, dtype, spy):
    ref, cpu = pair(cell, 4, 9, dtype, num_layers=2, bidirectional=True, proj_size=5)
    x = torch.randn(7, 4, 4, dtype=dtype, requires_grad=True)
    hx = (torch.randn(4, 4, 5, dtype=dtype), torch.randn(4, 4, 9, dtype=dtype))
    assert_same(ref, cpu, x, hx, torch.tensor([7, 3, 5, 1]), dtype, spy=spy)


@pytest.mark.parametrize("cell", FUSED_CELLS)
def test_packed_sequence_matches_reference(cell, spy):
    ref, cpu = pair(cell, 3, 6, torch.float64, num_layers=2, bidirectional=True)
    x = torch.randn(5, 4, 3, dtype=torch.float64, requires_grad=True)
    packed = pack_padded_sequence(x, torch.tensor([3, 5, 2, 5]), enforce_sorted=False)
    assert_same(ref, cpu, packed, spy=spy)


@pytest.mark.parametrize("cell", FUSED_CELLS)
@pytest.mark.parametrize(
    ("split", "threads"), [("auto", 1), ("units", 2), ("units", 3), ("rows", 2), ("rows", 3)]
)
@pytest.mark.parametrize("batch", [13, 19])
def test_thread_layouts_match_reference(cell, split, threads, batch, monkeypatch, spy):
    """Sizes off the SIMD width and the register tile, with 1-3 threads either owning batch rows (no
    barrier; 13 rows: 8 + 5) or slices of the hidden units (3 threads: 16/16/8 units); with
    proj_size for LSTM-like cells. From 16 rows on, W x is computed step by step inside the scan."""
    monkeypatch.setattr(ops_mod, "SPLIT", split)
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    kw = {"proj_size": 20} if cell in PROJ_CELLS else {}
    ref, cpu = pair(cell, 11, 40, torch.float32, **kw)
    x = torch.randn(9, batch, 11, requires_grad=True)
    lengths = torch.tensor([9, 1, 4, 9, 8, 2, 9, 5, 3, 9, 7, 6, 9, 2, 5, 9, 1, 8, 9][:batch])
    assert_same(ref, cpu, x, None, lengths, torch.float32, spy=spy)


@pytest.mark.parametrize("cell", FUSED_CELLS)
def test_dropout_between_layers_matches_reference(cell, spy):
    ref, cpu = pair(cell, 3, 5, torch.float64, num_layers=3, dropout=0.5)
    x = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(7)
    vals_a, grads_a = run_with_cotangents(ref.train(), leaf_copy(x), None, None)
    torch.manual_seed(7)
    spy.clear()
    vals_b, grads_b = run_with_cotangents(cpu.train(), leaf_copy(x), None, None)
    assert_fused_ran(spy, cpu, backward=True)
    assert not torch.equal(vals_a[0], ref.eval()(x)[0]), "dropout must have been active"
    for a, b in zip(vals_a, vals_b, strict=True):
        torch.testing.assert_close(b, a, **TOL[torch.float64])
    for name, a in grads_a.items():
        torch.testing.assert_close(grads_b[name], a, **TOL[torch.float64])


GRADCHECK_CASES = [(c, "bi-lengths") for c in FUSED_CELLS] + [(c, "proj") for c in PROJ_CELLS]


@pytest.mark.parametrize(("cell", "variant"), GRADCHECK_CASES)
def test_gradcheck_through_extension(cell, variant, spy):
    spec = get_cell(cell).make_spec()
    kw = {"bidirectional": True} if variant == "bi-lengths" else {"proj_size": 2}
    layer = make_layer(cell, 2, 3, num_layers=2, backend="cpu", **kw).double()
    names = [n for n, _ in layer.named_parameters()]
    ps = [p.detach().clone().requires_grad_(True) for p in layer.parameters()]
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    D, P = (2, 3) if variant == "bi-lengths" else (1, 2)
    sizes = (P, 3) if spec.has_cell_state else (P,)
    h0 = tuple(torch.randn(2 * D, 2, s, dtype=torch.float64, requires_grad=True) for s in sizes)
    lengths = torch.tensor([4, 2]) if variant == "bi-lengths" else None

    def f(x, *rest):
        k = len(h0)
        hx = rest[:k] if k > 1 else rest[0]
        out, st = torch.func.functional_call(
            layer, dict(zip(names, rest[k:], strict=True)), (x, hx), {"lengths": lengths}
        )
        return (out, *states(st))

    assert torch.autograd.gradcheck(f, (x, *h0, *ps))
    assert any(name == "backward" for name, _ in spy), "gradcheck must have gone through the extension"


@pytest.mark.parametrize("cell", FUSED_CELLS)
def test_inference_path_saves_nothing(cell, spy):
    layer = make_layer(cell, 4, 8, num_layers=2, backend="cpu")
    x = torch.randn(5, 3, 4)
    with torch.no_grad():
        out, st = layer(x, lengths=[5, 2, 4])
    assert out.grad_fn is None
    assert spy and all(name == "forward" and training is False for name, training in spy)
    spy.clear()
    out2, st2 = layer(x, lengths=[5, 2, 4])  # parameters require grad: the training path
    assert all(training is True for name, training in spy if name == "forward")
    torch.testing.assert_close(out, out2.detach(), rtol=0, atol=0)
    for a, b in zip(states(st), states(st2), strict=True):
        torch.testing.assert_close(a, b.detach(), rtol=0, atol=0)


@pytest.mark.parametrize("cell", FUSED_CELLS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_step_matches_forward(cell, dtype, spy):
    kw = {"proj_size": 3} if cell in PROJ_CELLS else {}
    layer = make_layer(cell, 4, 6, num_layers=2, backend="cpu", **kw).to(dtype).eval()
    x = torch.randn(7, 2, 4, dtype=dtype)
    with torch.no_grad():
        full, full_state = layer(x)
        state = None
        outs = []
        for x_t in x:
            y, state = layer.step(x_t, state)
            outs.append(y)
    torch.testing.assert_close(torch.stack(outs), full, **TOL[dtype])
    for a, b in zip(states(state), states(full_state), strict=True):
        torch.testing.assert_close(a, b, **TOL[dtype])
    assert sum(name == "step" for name, _ in spy) == len(x), "step() must use the fused single step"


@pytest.mark.parametrize("cell", FUSED_CELLS)
def test_step_with_autograd_stays_differentiable(cell, spy):
    layer = make_layer(cell, 3, 5, backend="cpu")
    y, _ = layer.step(torch.randn(2, 3))
    y.sum().backward()
    assert layer.weight_hh_l0.grad is not None
    assert not any(name == "step" for name, _ in spy)


@pytest.mark.parametrize("cell", FUSED_CELLS)
def test_auto_selects_cpu(cell):
    spec = get_cell(cell).make_spec()
    chosen = backends_mod.select_backend("auto", spec, torch.randn(2, 2, 3), False)
    assert chosen.name == "cpu"
    assert "cpu" in rnnkit.backends()
    assert rnnkit.backend_status()["cpu"] == "available"


@pytest.mark.parametrize("cell", OTHER_CELLS or ["<none>"])
def test_cells_without_functor_use_reference_silently(cell):
    if cell == "<none>":
        return
    layer = make_layer(cell, 3, 4)  # backend="auto"
    spec = layer.spec
    assert cpu_mod.supports(spec, torch.randn(2, 2, 3), False) is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer(torch.randn(3, 2, 3))


def test_supports_refuses_what_it_cannot_run():
    spec = get_cell("lstm").make_spec()
    assert cpu_mod.supports(spec, torch.randn(2, 2, 3), False) is None
    assert "dtype" in cpu_mod.supports(spec, torch.randn(2, 2, 3, dtype=torch.float16), False)
    assert "meta" in cpu_mod.supports(spec, torch.empty(2, 2, 3, device="meta"), False)
    assert "empty" in cpu_mod.supports(spec, torch.empty(2, 0, 3), False)
    assert "proj_size" in cpu_mod.supports(get_cell("gru").make_spec(), torch.randn(2, 2, 3), True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert "autocast" in cpu_mod.supports(spec, torch.randn(2, 2, 3), False)


def test_fallback_when_the_build_is_unavailable(monkeypatch):
    reason = "no C++ compiler found (simulated)"
    cpu = dataclasses.replace(backends_mod._BACKENDS["cpu"], probe=lambda: reason)
    monkeypatch.setitem(backends_mod._BACKENDS, "cpu", cpu)
    monkeypatch.setattr(backends_mod, "_warned", set())
    assert "cpu" not in rnnkit.backends()
    assert rnnkit.backend_status()["cpu"] == reason
    ref, auto = pair("urlstm", 3, 4)  # a cell without a torch twin: no other fused backend runs it
    auto.backend = "auto"
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="'cpu' backend is unavailable here.*simulated") as record:
        out_auto, _ = auto(x)  # auto: the reference, with one warning
        y_auto, _ = auto.step(x[0])
    assert len(record) == 1
    explicit = make_layer("urlstm", 3, 4, backend="cpu").double()
    explicit.load_state_dict(ref.state_dict())
    with pytest.warns(RuntimeWarning, match="simulated"):
        out_cpu, _ = explicit(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once only
        explicit(x)
    out_ref, _ = ref(x)
    torch.testing.assert_close(out_auto, out_ref, rtol=0, atol=0)
    torch.testing.assert_close(y_auto, ref.step(x[0])[0], rtol=0, atol=0)
    torch.testing.assert_close(out_cpu, out_ref, rtol=0, atol=0)
    # switched off on purpose: auto falls back without a word
    monkeypatch.setattr(backends_mod, "_warned", set())
    monkeypatch.setenv("RNNKIT_DISABLE_CPU", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        auto(x)


def test_build_key_depends_on_cpu_and_flags(monkeypatch):
    key = build_mod.build_key()
    assert key == build_mod.build_key()
    monkeypatch.setattr(build_mod, "_cpu_signature", lambda: "x86_64|another cpu|avx2 fma")
    other_cpu = build_mod.build_key()
    monkeypatch.undo()
    monkeypatch.setattr(build_mod, "CFLAGS", (*build_mod.CFLAGS, "-DSOMETHING"))
    other_flags = build_mod.build_key()
    assert len({key, other_cpu, other_flags}) == 3


def test_missing_compiler_is_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_CACHE_DIR", str(tmp_path))  # nothing cached there
    monkeypatch.setattr(build_mod.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="no C\\+\\+ compiler"):
        build_mod._build()


def test_cached_build_is_loaded_without_a_compiler(tmp_path, extension):
    """A fresh process finds the build in the cache under this machine's key and imports it: no
    compiler, no ninja (``shutil.which`` finds nothing there)."""
    key = build_mod.build_key()
    folder = tmp_path / "cpu" / key
    folder.mkdir(parents=True)
    shutil.copy(extension.__file__, folder / f"rnnkit_cpu_{key}.so")
    code = (
        "import shutil; shutil.which = lambda *a, **k: None\n"
        "from rnnkit.scan.cpu import build\n"
        "print(build._build().__file__)\n"
    )
    env = {**os.environ, "RNNKIT_CACHE_DIR": str(tmp_path)}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert res.stdout.strip() == str(folder / f"rnnkit_cpu_{key}.so")
    assert "compiling" not in res.stderr


def test_disable_switch(monkeypatch):
    monkeypatch.setenv("RNNKIT_DISABLE_CPU", "1")
    with pytest.raises(RuntimeError, match="RNNKIT_DISABLE_CPU"):
        build_mod._build()


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_gemm_matches_torch(threads, dtype, extension):
    """rnnkit's GEMM (input projection and weight gradients): every layout, edges off the register
    tile, K over several cache blocks, split between threads."""
    for M, N, K in [(1, 1, 1), (7, 5, 3), (50, 70, 600), (301, 129, 513), (96, 64, 256)]:
        for ta in (False, True):
            for tb in (False, True):
                a = torch.randn((K, M) if ta else (M, K), dtype=dtype)
                b = torch.randn((N, K) if tb else (K, N), dtype=dtype)
                want = (a.t() if ta else a) @ (b.t() if tb else b)
                got = extension.mm(a, b, ta, tb, threads)
                case = f"M={M} N={N} K={K} trans_a={ta} trans_b={tb}"
                tol = TOL[dtype] if dtype == torch.float64 else {"atol": 1e-4 * K**0.5, "rtol": 1e-4}
                torch.testing.assert_close(got, want, **tol, msg=lambda m, c=case: f"{c}: {m}")


def test_bench_command_writes_json_and_markdown(tmp_path, capsys):
    from rnnkit.cli import main

    threads = torch.get_num_threads()
    try:
        args = ["bench", "--cells", "lstm,urlstm", "--shapes", "2x3x16", "--repeats", "3", "--tokens", "2"]
        assert main([*args, "--peak-size", "128", "--threads", "1", "--out", str(tmp_path)]) == 0
    finally:
        torch.set_num_threads(threads)
    from rnnkit.scan.cpu.machine import cpu_info

    stem = f"backends-cpu-{cpu_info().slug}"  # one result file per CPU family
    payload = json.loads((tmp_path / f"{stem}.json").read_text())
    rows = payload["rows"]
    assert [(r["cell"], r["anchor"], r["mode"]) for r in rows] == [
        ("lstm", "nn.LSTM", "train"),
        ("lstm", "nn.LSTM", "infer"),
        ("urlstm", "nn.LSTM", "train"),
        ("urlstm", "nn.LSTM", "infer"),
    ]
    for r in rows:
        assert r["torch_ms"] > 0 and r["rnnkit_ms"] > 0
        assert r["ratio_min"] <= r["ratio"] <= r["ratio_max"]
    assert payload["peak"]["gflops"] == max(payload["peak"]["torch_gflops"], payload["peak"]["rnnkit_gflops"])
    assert all(r["peak_gflops"] > 0 and r["peak_share"] > 0 for r in rows)
    assert len(payload["generation"]) == 2 and payload["machine"]["torch_threads"] == 1
    md = (tmp_path / f"{stem}.md").read_text()
    assert "| lstm | nn.LSTM | train | 2,3,16 |" in md and "tokens/s" in md
    assert md in capsys.readouterr().out


@pytest.mark.parametrize("threads", [1, 2])
def test_step_repacks_when_weights_change(threads, monkeypatch, spy):
    """The packed weights of the single step are cached; an in-place update (an optimiser step) or a
    loaded state_dict must be seen by the next step."""
    monkeypatch.setattr(kernels_mod, "MIN_SPLIT_WORK", 0)
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    layer = make_layer("lstm", 3, 40, num_layers=2, backend="cpu").eval()
    ref = make_layer("lstm", 3, 40, num_layers=2, backend="reference").eval()
    x = torch.randn(2, 3)
    with torch.no_grad():
        for change in (
            lambda: None,
            lambda: layer.weight_hh_l1.mul_(0.5),
            lambda: layer.bias_ih_l0.add_(1.0),
        ):
            change()
            ref.load_state_dict(layer.state_dict())
            y, state = layer.step(x)
            y_ref, state_ref = ref.step(x)
            torch.testing.assert_close(y, y_ref, **TOL[torch.float32])
            torch.testing.assert_close(state, state_ref, **TOL[torch.float32])
        layer.load_state_dict(make_layer("lstm", 3, 40, num_layers=2).state_dict())
        ref.load_state_dict(layer.state_dict())
        torch.testing.assert_close(layer.step(x)[0], ref.step(x)[0], **TOL[torch.float32])
    assert sum(name == "step" for name, _ in spy) == 4


@pytest.mark.parametrize("cell", FUSED_CELLS)
def test_scan_function_matches_reference_scan(cell, spy):
    """``cpu_scan`` (the backend's ScanFn, reference_scan's signature: xg in) against reference_scan,
    with gradients for xg, the state and the recurrent weights."""
    from rnnkit.scan.inputs import time_mask
    from rnnkit.scan.reference import reference_scan

    layer = make_layer(cell, 3, 6).double()
    weights = layer.weights(0, 0).recurrent()
    spec, G = layer.spec, layer.spec.num_chunks
    xg = torch.randn(5, 4, G * 6, dtype=torch.float64)
    state0 = tuple(torch.randn(4, 6, dtype=torch.float64) for _ in spec.state_names)
    mask = time_mask(torch.tensor([5, 3, 1, 4]), 5, xg.device)
    results = []
    for scan in (reference_scan, cpu_mod.cpu_scan):
        spy.clear()
        leaves = [xg.clone().requires_grad_(True), *(s.clone().requires_grad_(True) for s in state0)]
        w = weights.weight_hh.detach().clone().requires_grad_(True)
        res = scan(spec, leaves[0], tuple(leaves[1:]), weights._replace(weight_hh=w), mask)
        g = torch.Generator().manual_seed(3)
        loss = sum(
            (t * torch.randn(t.shape, generator=g, dtype=t.dtype)).sum() for t in (res.output, *res.state)
        )
        grads = torch.autograd.grad(loss, [*leaves, w])
        results.append([res.output, *res.state, *grads])
    assert spy == [("forward", True), ("backward", None)], "cpu_scan must run on the extension"
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(b, a, **TOL[torch.float64])


def test_large_buffers_are_recycled_safely(spy):
    """Outputs and scratch of >= 4 MiB come from a block pool: a live output must never be handed out
    again, and recycled blocks must give the same results as fresh ones."""
    ref, cpu = pair("lstm", 8, 256, torch.float32)
    xs = [torch.randn(16, 64, 8) for _ in range(2)]
    kept = []
    for x in xs:  # save (16, 64, 4*256) floats = 4 MiB: pooled
        out, _ = cpu(x)
        out.sum().backward()
        kept.append((out.detach(), x))
    assert spy == [("forward", True), ("backward", None)] * 2
    for out, x in kept:
        with torch.no_grad():
            torch.testing.assert_close(out, ref(x)[0], **TOL[torch.float32])
    grads = [p.grad.clone() for p in cpu.parameters()]
    ref(torch.cat(xs, dim=1))[0].sum().backward()  # one batch: the sum of both calls' gradients
    for g, p in zip(grads, ref.parameters(), strict=True):
        torch.testing.assert_close(g, p.grad, atol=1e-3, rtol=1e-4)
