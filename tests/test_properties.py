"""Property tests (hypothesis): random networks and calls, dtypes, invalid arguments, damaged checkpoints
and config files. Each property either holds exactly or ends in a clear ValueError/TypeError that names
its culprit — never another exception, never a different number.

1. Every backend equals the reference backend (outputs, final states, gradients of the input, h0 and
   every weight) for any registered cell, size, layer count, direction, layout, bias, projection, batch,
   length, lengths and initial state — or the option it cannot run is refused with a clear error.
2. float32/float64 layers called with float16/bfloat16/float32/float64/int64 input (with and without
   bf16 autocast) give the dtype torch.nn gives (values compared where the cell has a torch.nn twin;
   a cell without one, under autocast, a dtype of the call's), or a TypeError naming the dtype.
3. Invalid constructor and call arguments raise a ValueError/TypeError naming the argument.
4. Random bytes, truncated checkpoints and garbage metadata read as a checkpoint raise a ValueError
   naming the file.
5. Random bytes and random TOML as a config file, and random JSON-ish dicts as a saved config, raise a
   ValueError/TypeError naming the file or the key (or give a valid config).

Every test is derandomized (the same examples on every run) with a budget CI can afford: the file runs
in 10-25 s on two cores. Known edge cases are pinned with ``@example``."""

from __future__ import annotations

import json
import struct
import warnings
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from safetensors.torch import save as st_save
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

import rnnkit
from backend_helpers import leaf_copy, run_with_cotangents
from conftest import make_layer, states, torch_twin
from property_strategies import (
    CELLS,
    FLOAT_DTYPES,
    INPUT_DTYPES,
    JSON,
    SUPPORTS,
    LayerCase,
    bad_constructor_args,
    config_dicts,
    count_backend_runs,
    dtype_name,
    layer_cases,
    supports_proj,
    toml_text,
)
from rnnkit.cells.registry import get_cell
from rnnkit.tasks import runner
from rnnkit.tasks.registry import list_tasks
from rnnkit.train.checkpoint import load_checkpoint, load_weights, read_meta, save_checkpoint
from rnnkit.train.config import flatten_file, read_toml, to_dict
from torch_bf16 import TORCH_LSTM_BF16, onednn_bf16_missing


def budget(examples: int):
    """A derandomized hypothesis budget, without an example database."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


TOL = {
    torch.float64: {"atol": 1e-10, "rtol": 1e-9},
    torch.float32: {"atol": 1e-5, "rtol": 1e-5},
}


def names_one_of(message: str, words) -> bool:
    low = message.lower()
    return any(str(w).lower() in low for w in words)


# -- 1. every backend ≡ the reference backend -------------------------------------------------------
def make_input(case: LayerCase, gen: torch.Generator):
    """(x, hx, lengths) of one call: x with NaN in its padding (it must reach nothing), packed when asked."""
    I, T, B = case.input_size, case.steps, case.batch
    if B is None:
        x = torch.randn(T, I, generator=gen, dtype=case.dtype)
    else:
        x = torch.randn(B, T, I, generator=gen, dtype=case.dtype)  # batch-major first, padded below
        for b, n in enumerate(case.lengths or ()):
            x[b, n:] = float("nan")
        if not case.batch_first or case.packed:
            x = x.transpose(0, 1).contiguous()
    hx = None
    if case.h0:
        lead = (case.num_layers * case.directions,) + (() if B is None else (B,))
        parts = tuple(torch.randn(*lead, s, generator=gen, dtype=case.dtype) for s in case.state_sizes)
        hx = parts if len(parts) > 1 else parts[0]
    lengths = None if case.lengths is None else torch.tensor(case.lengths)
    if case.packed:
        x = pack_padded_sequence(x, lengths, enforce_sorted=False)
        lengths = None
    return x, hx, lengths


OPTION_WORDS = ("proj_size", "bidirectional", "batch_first", "bias", "num_layers", "lengths", "hx", "dtype")


@budget(300)
@given(case=layer_cases())
def test_backend_equals_reference(case: LayerCase):
    torch.manual_seed(case.seed)
    kw = case.layer_kwargs()
    if case.proj_size and not supports_proj(case.cell):  # the option the cell has not: refused
        event("proj_size refused")
        for backend in ("reference", case.backend):
            with pytest.raises(ValueError, match="proj_size"):
                make_layer(case.cell, case.input_size, case.hidden_size, backend=backend, **kw)
        return
    ref = make_layer(case.cell, case.input_size, case.hidden_size, backend="reference", **kw).to(case.dtype)
    layer = make_layer(case.cell, case.input_size, case.hidden_size, backend=case.backend, **kw)
    layer = layer.to(case.dtype)
    layer.load_state_dict(ref.state_dict())
    x, hx, lengths = make_input(case, torch.Generator().manual_seed(case.seed))
    probe = x.data if isinstance(x, PackedSequence) else x
    reason = SUPPORTS[case.backend](layer.spec, probe, bool(case.proj_size))  # None: it runs the call
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a fallback warning: the counts below tell
        vals_ref, grads_ref = run_with_cotangents(ref, leaf_copy(x), leaf_copy(hx), lengths)
        try:
            with count_backend_runs(case.backend) as counts:
                vals, grads = run_with_cotangents(layer, leaf_copy(x), leaf_copy(hx), lengths)
        except (ValueError, TypeError) as e:  # a refusal: of what it cannot run, and naming it
            assert reason is not None, f"{case.backend} refused a call it says it runs: {e}"
            assert names_one_of(str(e), OPTION_WORDS), f"unclear refusal: {e}"
            event(f"{case.backend}: refused")
            return
    # the backend ran wherever it says it can (no silent fallback), once per layer and direction
    runs = case.num_layers * case.directions
    event(f"{case.backend}: {'ran' if reason is None else 'reference'}")
    if reason is None:
        assert counts["forward"] == runs, f"{case.backend} ran {counts['forward']} of {runs} scans"
        if case.backend == "cpu":
            assert counts["backward"] == runs
    else:
        assert counts == {"forward": 0, "backward": 0}
    tol = TOL[case.dtype]
    for a, b in zip(vals_ref, vals, strict=True):
        torch.testing.assert_close(b, a, **tol)
    assert grads.keys() == grads_ref.keys()
    for name, a in grads_ref.items():
        assert a is not None and grads[name] is not None, f"no gradient for {name}"
        torch.testing.assert_close(grads[name], a, **tol, msg=lambda m, n=name: f"gradient of {n}: {m}")


# -- 2. dtypes --------------------------------------------------------------------------------------------
def torch_reference(cell: str, input_size: int, hidden_size: int, **kw) -> torch.nn.RNNBase:
    """The torch.nn layer whose dtype behaviour a cell's layer must have: its twin, else nn.LSTM for a
    cell with a cell state and nn.GRU for one without (every torch.nn recurrent layer has the same)."""
    if get_cell(cell).torch_twin is not None:
        return torch_twin(cell, input_size, hidden_size, **kw)
    cls = torch.nn.LSTM if get_cell(cell).make_spec().has_cell_state else torch.nn.GRU
    return cls(input_size, hidden_size, **kw)


def outcome(layer, x, autocast: bool):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                out, st = layer(x)
        return out, states(st)
    except Exception as e:
        return e


def dtype_example(cell: str, backend: str, layer_dtype, input_dtype, autocast: bool):
    return example(
        cell=cell,
        backend=backend,
        layer_dtype=layer_dtype,
        input_dtype=input_dtype,
        autocast=autocast,
        num_layers=2,
        bidirectional=True,
        batch=2,
        steps=3,
        seed=0,
    )


DTYPE_TOL = {torch.float64: TOL[torch.float64], torch.float32: {"atol": 1e-4, "rtol": 1e-4}}
LOW_TOL = {"atol": 0.05, "rtol": 0.05}  # bfloat16 or float16 arithmetic


@budget(200)
@given(
    cell=st.sampled_from(CELLS),
    backend=st.sampled_from(("auto", "reference", "cpu", "torch")),
    layer_dtype=st.sampled_from(FLOAT_DTYPES),
    input_dtype=st.sampled_from(INPUT_DTYPES),
    autocast=st.booleans(),
    num_layers=st.integers(1, 2),
    bidirectional=st.booleans(),
    batch=st.integers(1, 3),
    steps=st.integers(1, 4),
    seed=st.integers(0, 2**31 - 1),
)
@dtype_example("mingru", "auto", torch.float32, torch.float64, False)  # the parallel-scan layers check too
@dtype_example("lstm", "cpu", torch.float32, torch.float32, True)
@dtype_example("gru", "auto", torch.float32, torch.float16, True)
def test_dtype_like_torch_or_clear_error(
    cell, backend, layer_dtype, input_dtype, autocast, num_layers, bidirectional, batch, steps, seed
):
    torch.manual_seed(seed)
    kw = {"num_layers": num_layers, "bidirectional": bidirectional}
    ours = make_layer(cell, 3, 4, backend=backend, **kw).to(layer_dtype)
    theirs = torch_reference(cell, 3, 4, **kw).to(layer_dtype)
    twin = get_cell(cell).torch_twin is not None
    if twin:
        theirs.load_state_dict(ours.state_dict())
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn(steps, batch, 3, generator=gen, dtype=torch.float64) * 3).to(input_dtype)
    got, want = outcome(ours, x, autocast), outcome(theirs, x, autocast)
    if cell == "lstm" and autocast and onednn_bf16_missing(want) and layer_dtype == torch.float32:
        # torch's oneDNN bf16 LSTM does not run on this CPU: its recorded dtypes, the float32 values
        ref = outcome(theirs, x.float(), False)
        kind = "padded" if input_dtype in (torch.float32, torch.bfloat16) else "other"
        dtype, state_dtypes = TORCH_LSTM_BF16[kind]
        want = (ref[0].to(dtype), tuple(s.to(d) for s, d in zip(ref[1], state_dtypes, strict=True)))
    if isinstance(got, Exception):
        assert isinstance(got, TypeError), f"{type(got).__name__} instead of a TypeError: {got}"
        named = (dtype_name(input_dtype), dtype_name(layer_dtype))
        assert names_one_of(str(got), named), f"the TypeError does not name the dtype: {got}"
        assert input_dtype != layer_dtype or autocast, f"the layer's own dtype refused: {got}"
        return
    assert not isinstance(want, Exception), (
        f"torch.nn refuses {dtype_name(input_dtype)} input to a {dtype_name(layer_dtype)} layer"
        f"{' under bf16 autocast' if autocast else ''} ({want}); rnnkit must raise a TypeError naming "
        f"the dtype, it returned {got[0].dtype}"
    )
    if not twin and autocast:  # no torch.nn layer to follow: a dtype of the call's, the mixed math's
        allowed = {input_dtype, layer_dtype, torch.get_autocast_dtype("cpu")}
        for t in (got[0], *got[1]):
            assert t.dtype in allowed, f"{t.dtype} out of a call with {sorted(map(str, allowed))}"
        return
    assert got[0].dtype == want[0].dtype, f"output {got[0].dtype}, torch.nn gives {want[0].dtype}"
    for a, b in zip(got[1], want[1], strict=True):
        assert a.dtype == b.dtype, f"state {a.dtype}, torch.nn gives {b.dtype}"
    if twin:
        tol = LOW_TOL if autocast else DTYPE_TOL.get(got[0].dtype, LOW_TOL)  # autocast: bf16 products
        for a, b in zip((got[0], *got[1]), (want[0], *want[1]), strict=True):
            torch.testing.assert_close(a.float(), b.float(), **tol)


# -- 3. invalid arguments -------------------------------------------------------------------------------
@budget(300)
@given(args=bad_constructor_args())
def test_bad_constructor_argument_is_named(args):
    cell, kw, name = args
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises((ValueError, TypeError)) as e:
            rnnkit.create_layer(cell, **kw)
    assert name in str(e.value), f"the error does not name {name}: {e.value!r}"


@st.composite
def bad_calls(draw):
    """(layer, args, kwargs, the argument to be named) of a call with exactly one invalid argument."""
    cell = draw(st.sampled_from(CELLS))
    I, H = draw(st.integers(1, 4)), draw(st.integers(2, 5))
    L, bi, bf = draw(st.integers(1, 2)), draw(st.booleans()), draw(st.booleans())
    proj = draw(st.integers(0, H - 1)) if supports_proj(cell) else 0
    kw = {"proj_size": proj} if proj else {}
    layer = make_layer(cell, I, H, num_layers=L, bidirectional=bi, batch_first=bf, **kw)
    B, T = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    x = torch.randn((B, T, I) if bf else (T, B, I))
    sizes = ((proj or H), H)[: len(layer.spec.state_names)]
    hx = tuple(torch.zeros(L * (2 if bi else 1), B, s) for s in sizes)
    kind = draw(
        st.sampled_from(
            ("rank", "features", "no steps", "not a tensor", "long", "short", "count", "float lengths", "hx")
        )
    )
    if kind == "rank":
        rank = draw(st.sampled_from((0, 1, 4, 5)))
        shape = draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank))
        return layer, (torch.randn(shape),), {}, "input"
    if kind == "features":
        wrong = draw(st.integers(1, 6).filter(lambda n: n != I))
        return layer, (torch.randn((B, T, wrong) if bf else (T, B, wrong)),), {}, "input_size"
    if kind == "no steps":
        return layer, (torch.randn((B, 0, I) if bf else (0, B, I)),), {}, "input"
    if kind == "not a tensor":
        return layer, (draw(st.one_of(st.none(), st.integers(), st.just(x.tolist()))),), {}, "input"
    lengths = [draw(st.integers(1, T)) for _ in range(B)]
    if kind == "long":
        lengths[draw(st.integers(0, B - 1))] = draw(st.integers(T + 1, T + 5))
    elif kind == "short":
        lengths[draw(st.integers(0, B - 1))] = draw(st.integers(-3, 0))
    elif kind == "count":
        lengths = [draw(st.integers(1, T)) for _ in range(draw(st.integers(0, 5).filter(lambda n: n != B)))]
    elif kind == "float lengths":
        return layer, (x,), {"lengths": torch.tensor(lengths, dtype=torch.float32)}, "lengths"
    if kind in ("long", "short", "count"):
        as_tensor = draw(st.booleans())
        return layer, (x,), {"lengths": torch.tensor(lengths) if as_tensor else lengths}, "lengths"
    # hx: one part with one dimension off by a few, or the wrong structure
    k = draw(st.integers(0, len(hx) - 1))
    if draw(st.booleans()):
        dim = draw(st.integers(0, 2))
        shape = list(hx[k].shape)
        shape[dim] += draw(st.sampled_from((-1, 1, 2)))
        parts = list(hx)
        parts[k] = torch.zeros([max(n, 0) for n in shape])
        bad = tuple(parts) if len(parts) > 1 else parts[0]
    else:
        bad = hx[0] if len(hx) > 1 else (hx[0], hx[0])
    return layer, (x, bad), {}, "hx"


@budget(300)
@given(call=bad_calls())
def test_bad_call_argument_is_named(call):
    layer, args, kwargs, name = call
    with pytest.raises((ValueError, TypeError)) as e:
        layer(*args, **kwargs)
    assert name in str(e.value), f"the error does not name {name}: {e.value!r}"


# -- 4. damaged checkpoints --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("properties")


@pytest.fixture(scope="module")
def checkpoint_bytes(folder) -> bytes:
    """A real checkpoint: a two-layer LSTM after one Adam step, a carried state, a config inside."""
    torch.manual_seed(0)
    model = rnnkit.LSTM(2, 3, num_layers=2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 1, 2))[0].sum().backward()
    opt.step()
    carry = (torch.zeros(2, 1, 3), torch.zeros(2, 1, 3))
    path = save_checkpoint(folder / "real.safetensors", model, opt, carry=carry, extra={"config": {}})
    return path.read_bytes()


def assert_refused(call, path: Path) -> None:
    """``call(path)`` raises a ValueError naming the file (and nothing else)."""
    with pytest.raises(ValueError) as e:
        call(path)
    assert path.name in str(e.value), f"the error does not name the file: {e.value!r}"


LOADERS = {"read_meta": read_meta, "load_checkpoint": load_checkpoint, "load_weights": load_weights}


@budget(60)
@given(data=st.binary(max_size=300), loader=st.sampled_from(sorted(LOADERS)))
@example(data=b"", loader="load_weights")
@example(data=struct.pack("<Q", 2) + b"{}", loader="load_checkpoint")  # an empty safetensors header
@example(data=struct.pack("<Q", 2**63) + b"{}", loader="read_meta")  # a header length past the file
def test_random_bytes_are_not_a_checkpoint(folder, data, loader):
    path = folder / "random.safetensors"
    path.write_bytes(data)
    assert_refused(LOADERS[loader], path)


@budget(60)
@given(data=st.binary(max_size=300))
def test_random_bytes_are_not_a_run(folder, data):
    run = folder / "run"
    (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    (run / "checkpoints" / "best.safetensors").write_bytes(data)
    assert_refused(lambda p: runner.load_run(p.parent.parent), run / "checkpoints" / "best.safetensors")


@budget(60)
@given(cut=st.floats(0, 1, exclude_max=True), loader=st.sampled_from(sorted(LOADERS)))
def test_truncated_checkpoint_is_refused(folder, checkpoint_bytes, cut, loader):
    path = folder / "truncated.safetensors"
    path.write_bytes(checkpoint_bytes[: int(cut * len(checkpoint_bytes))])
    assert_refused(LOADERS[loader], path)


@st.composite
def garbage_meta(draw) -> str:
    """Text that is not JSON, JSON that is not a checkpoint's, or the right format with junk fields."""
    kind = draw(st.sampled_from(("text", "json", "fields")))
    if kind == "text":
        return draw(st.text(max_size=40))
    if kind == "json":
        return json.dumps(draw(JSON))
    meta = {"format": "rnnkit-checkpoint", "version": 1, "aliases": {}, "optimizer": None, "carry": None}
    meta |= {"rng": None, "trainer": {}, "extra": {}}
    for key in draw(st.lists(st.sampled_from(sorted(meta)), min_size=1, max_size=3, unique=True)):
        meta[key] = draw(JSON)
    return json.dumps(meta)


@budget(100)
@given(meta=garbage_meta(), loader=st.sampled_from(sorted(LOADERS)))
@example(meta='{"format": "rnnkit-checkpoint", "aliases": {"w": "missing"}}', loader="load_weights")
@example(meta='{"format": "rnnkit-checkpoint", "aliases": {}, "carry": 3}', loader="load_checkpoint")
@example(
    meta='{"format": "rnnkit-checkpoint", "aliases": {}, "optimizer": {"pids": [1]}}',
    loader="load_checkpoint",
)
@example(
    meta='{"format": "rnnkit-checkpoint", "aliases": {}, "rng": {"python": 1}}', loader="load_checkpoint"
)
@example(meta="[1, 2]", loader="read_meta")
def test_garbage_metadata_is_refused_or_read_right(folder, meta, loader):
    """A valid safetensors file whose ``rnnkit`` metadata is garbage: a ValueError naming the file, or —
    where the junk happens to be a valid value — the stored weights, exactly."""
    weights = {"weight": torch.arange(6.0).reshape(2, 3), "bias": torch.ones(2)}
    path = folder / "garbage.safetensors"
    path.write_bytes(st_save({f"model/{k}": v for k, v in weights.items()}, metadata={"rnnkit": meta}))
    try:
        result = LOADERS[loader](path)
    except ValueError as e:
        assert path.name in str(e), f"the error does not name the file: {e!r}"
        return
    except Exception as e:
        pytest.fail(f"{type(e).__name__} instead of a ValueError naming the file: {e!r}")
    parsed = json.loads(meta)
    if loader == "read_meta":
        assert result == parsed
        return
    model = result if loader == "load_weights" else result.model
    aliases = parsed["aliases"]
    assert set(model) == set(weights) | set(aliases)
    for name, value in model.items():
        assert torch.equal(value, weights[aliases.get(name, name)]), name


# -- 5. damaged config files and saved configs ---------------------------------------------------------
TASKS = list_tasks()
DEFAULTS = to_dict(runner.resolve_config("text"))


def assert_clear_config_error(call, words) -> None:
    """``call()`` succeeds, or raises a ValueError/TypeError that names one of ``words``."""
    try:
        call()
        event("valid")
    except (ValueError, TypeError) as e:
        event(type(e).__name__)
        assert names_one_of(str(e), words), f"the error names neither the file nor a key: {e!r}"
    except Exception as e:
        pytest.fail(f"{type(e).__name__} instead of a ValueError/TypeError: {e!r}")


def mentioned(data: dict) -> list[str]:
    """What an error about ``data`` may name: its sections, their keys, dotted keys and the task."""
    words = ["task"]
    for section, table in data.items():
        words.append(section)
        if isinstance(table, dict):
            words += [str(k) for k in table] + [f"{section}.{k}" for k in table]
    return [w for w in words if w]


@budget(80)
@given(data=st.binary(max_size=200))
def test_random_bytes_are_not_a_config_file(folder, data):
    path = folder / "random.toml"
    path.write_bytes(data)
    assert_clear_config_error(lambda: flatten_file(read_toml(path), source=str(path)), [path.name])
    assert_clear_config_error(lambda: runner.resolve_config(config_file=path), [path.name])


@budget(80)
@given(data=config_dicts(DEFAULTS, TASKS), mangle=st.integers(0, 3))
@example(data={"optim": {"lr": 10**400}}, mangle=1)
def test_random_toml_config_file(folder, data, mangle):
    """Random TOML with real and made-up sections, keys and values (one time in four with a line cut
    short): a config, or an error naming the file or a key."""
    text = toml_text(data)
    if mangle == 0 and text.strip():
        text = text[: len(text) // 2]
    path = folder / "random-config.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    words = [path.name, *mentioned(data)]
    assert_clear_config_error(lambda: runner.resolve_config(config_file=path), words)


@budget(200)
@given(data=config_dicts(DEFAULTS, TASKS))
@example(data={"optim": {"lr": 10**400}})  # an int past a double where a float belongs
@example(data={"model": {"dropout": -(10**400)}})
def test_random_saved_config(data):
    assert_clear_config_error(lambda: runner.config_from_dict(data), mentioned(data))
