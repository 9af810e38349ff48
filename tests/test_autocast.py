"""Layers under CPU bf16 autocast return what ``torch.nn.LSTM/GRU/RNN`` return there (output and state
dtypes), with sensible numbers; outside autocast an input whose dtype differs from the layer's is a clear
TypeError, as torch's own layers refuse it (nothing is cast silently)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence
from torch.utils._python_dispatch import TorchDispatchMode

import rnnkit
from torch_bf16 import TORCH_LSTM_BF16, onednn_bf16_missing

CELLS = ("LSTM", "GRU", "RNN")
CONFIGS = [
    {},
    {"num_layers": 2, "bidirectional": True},
    {"batch_first": True},
    {"nonlinearity": "relu"},
    {"proj_size": 3},
]
T, B, I, H = 6, 3, 4, 8


def pair(name: str, **kw):
    """(torch.nn layer, rnnkit layer) with the same weights."""
    torch.manual_seed(0)
    ref = getattr(nn, name)(I, H, **kw)
    ours = getattr(rnnkit, name)(I, H, **kw)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def dtypes(result) -> tuple[torch.dtype, tuple[torch.dtype, ...]]:
    out, state = result
    out = out.data if isinstance(out, torch.nn.utils.rnn.PackedSequence) else out
    return out.dtype, tuple(s.dtype for s in (state if isinstance(state, tuple) else (state,)))


def torch_dtypes(ref: nn.Module, label: str, *args) -> tuple[torch.dtype, tuple[torch.dtype, ...]]:
    """The dtypes torch.nn's layer returns for ``ref(*args)`` under the active autocast, or, where this
    CPU's oneDNN cannot run a bf16 LSTM, torch's recorded ones (``torch_bf16.py``)."""
    try:
        return dtypes(ref(*args))
    except RuntimeError as err:
        if not isinstance(ref, nn.LSTM) or ref.proj_size or not onednn_bf16_missing(err):
            raise
        return TORCH_LSTM_BF16[label]


def configs(name: str):
    for kw in CONFIGS:
        if ("nonlinearity" in kw and name != "RNN") or ("proj_size" in kw and name != "LSTM"):
            continue
        yield kw


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("name", CELLS)
def test_output_and_state_dtypes_match_torch_under_cpu_bf16_autocast(name):
    for kw in configs(name):
        ref, ours = pair(name, **kw)
        x = torch.randn(B, T, I) if kw.get("batch_first") else torch.randn(T, B, I)
        inputs = {"padded": x, "unbatched": x[0] if kw.get("batch_first") else x[:, 0]}
        if not kw.get("batch_first"):
            inputs["packed"] = pack_padded_sequence(x, [T, T - 2, 2])
        for label, inp in inputs.items():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                expected, got = torch_dtypes(ref, label, inp), dtypes(ours(inp))
            assert got == expected, f"{name} {kw} {label}: rnnkit {got}, torch.nn {expected}"


class MatmulDtypes(TorchDispatchMode):
    """Records the operand dtypes of every matrix product dispatched while active (after autocast has
    cast them), so a test can tell bf16 arithmetic from float32 arithmetic whose result is cast."""

    PRODUCTS = frozenset({"mm", "addmm", "bmm", "baddbmm", "matmul", "linear"})

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, tuple[torch.dtype, ...]]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func._overloadpacket.__name__ in self.PRODUCTS:
            dtypes = tuple(a.dtype for a in args if isinstance(a, torch.Tensor))
            self.seen.append((func._overloadpacket.__name__, dtypes))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("name", CELLS)
def test_numbers_under_autocast_stay_close_to_float32(name):
    """Under autocast the layer's matrix products run in bfloat16 (as torch.nn's do), and the result
    stays close to float32. Without the product check, a layer that computed in float32 and only cast
    its outputs to torch's dtypes would pass."""
    ref, ours = pair(name, num_layers=2)
    x = torch.randn(T, B, I)
    out32, _ = ours(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with MatmulDtypes() as products:
            out, _ = ours(x)
        try:
            out_ref = ref(x)[0]
        except RuntimeError as err:  # torch's oneDNN bf16 LSTM cannot run on this CPU (see TORCH_LSTM_BF16)
            if name != "LSTM" or not onednn_bf16_missing(err):
                raise
            out_ref = None
    assert products.seen, "no matrix product was dispatched under autocast"
    assert all(set(d) == {torch.bfloat16} for _, d in products.seen), products.seen
    assert torch.allclose(out.float(), out32, atol=5e-2), (out.float() - out32).abs().max()
    if out_ref is not None:
        assert torch.allclose(out.float(), out_ref.float(), atol=5e-2), (out.float() - out_ref).abs().max()


def test_backward_under_autocast_reaches_float32_weights():
    _, ours = pair("LSTM")
    x = torch.randn(T, B, I, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, (h, c) = ours(x)
        loss = out.float().square().mean() + h.float().sum() + c.float().sum()
    loss.backward()
    assert x.grad is not None and x.grad.dtype == torch.float32 and torch.isfinite(x.grad).all()
    for p in ours.parameters():
        assert p.grad is not None and p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all()


@pytest.mark.parametrize("name", CELLS)
def test_step_and_trace_follow_forward_under_autocast(name):
    _, ours = pair(name)
    x = torch.randn(T, B, I)
    with torch.autocast("cpu", dtype=torch.bfloat16), torch.no_grad():
        full = dtypes(ours(x[:1]))
        step = dtypes(ours.step(x[0]))
        trace = ours.trace(x)
    assert step == full
    assert dtypes((trace.output, trace.state)) == full


@pytest.mark.parametrize("name", CELLS)
def test_state_carried_over_under_autocast_is_accepted(name):
    """A state returned under autocast (bf16 for LSTM/RNN) fed back with the next float32 chunk, as in
    truncated BPTT: torch.nn accepts it there, so do these layers, with the same dtypes."""
    ref, ours = pair(name)
    x = torch.randn(T, B, I)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, state = ours(x)
        got = dtypes(ours(x, state))
        try:
            _, state_ref = ref(x)
        except RuntimeError as err:  # torch's oneDNN bf16 LSTM cannot run on this CPU: its recorded dtypes
            if not onednn_bf16_missing(err):
                raise
            state_ref = tuple(s.bfloat16() for s in state) if isinstance(state, tuple) else state
        expected = torch_dtypes(ref, "padded", x, state_ref)
    assert got == expected
    with pytest.raises(TypeError, match="must have the dtype of input"):  # outside autocast: exact
        ours(x, tuple(s.bfloat16() for s in state) if isinstance(state, tuple) else state.bfloat16())


def test_bf16_input_under_autocast_runs_in_bf16():
    _, ours = pair("GRU")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, h = ours(torch.randn(T, B, I, dtype=torch.bfloat16))
    assert out.dtype == h.dtype == torch.bfloat16


@pytest.mark.parametrize(
    ("layer_dtype", "input_dtype", "hint"),
    [
        (torch.float32, torch.float64, ".double() on the layer"),
        (torch.float32, torch.float16, ".half() on the layer"),
        (torch.float32, torch.bfloat16, ".bfloat16() on the layer"),
        (torch.float64, torch.float32, ".float() on the layer"),
    ],
)
@pytest.mark.parametrize("name", CELLS)
def test_dtype_mismatch_is_a_clear_type_error(name, layer_dtype, input_dtype, hint):
    ref, ours = pair(name)
    ref, ours = ref.to(layer_dtype), ours.to(layer_dtype)
    x = torch.randn(T, B, I, dtype=input_dtype)
    with pytest.raises((ValueError, RuntimeError)):  # torch.nn refuses it too
        ref(x)
    with pytest.raises(TypeError, match="input dtype") as e:
        ours(x)
    message = str(e.value)
    assert str(input_dtype) in message and str(layer_dtype) in message and hint in message
    assert "cast the input" in message
    with pytest.raises(TypeError, match="input dtype"):
        ours.step(x[0])
    with pytest.raises(TypeError, match="input dtype"):
        ours(pack_padded_sequence(x, [T, 3, 2]))


def test_float64_input_under_autocast_still_needs_a_float64_layer():
    _, ours = pair("LSTM")
    with torch.autocast("cpu", dtype=torch.bfloat16), pytest.raises(TypeError, match="double"):
        ours(torch.randn(T, B, I, dtype=torch.float64))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = ours.double()(torch.randn(T, B, I, dtype=torch.float64))
    assert out.dtype == torch.float64


def test_recorded_torch_lstm_dtypes_are_torchs_own():
    """The record ``torch_bf16.TORCH_LSTM_BF16`` is what torch.nn.LSTM returns under bf16 autocast on a
    CPU whose oneDNN runs it; on one whose oneDNN cannot, torch raises the error the tests recognise."""
    torch.manual_seed(0)
    ref = nn.LSTM(I, H)
    x = torch.randn(T, B, I)
    lengths = torch.tensor([T, T - 2, 1])
    inputs = {
        "padded": (x,),
        "unbatched": (x[:, 0],),
        "packed": (pack_padded_sequence(x, lengths, enforce_sorted=False),),
        "other": (x.half(),),
    }
    for label, args in inputs.items():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            try:
                got = dtypes(ref(*args))
            except RuntimeError as err:
                assert onednn_bf16_missing(err), f"{label}: torch failed otherwise: {err}"
                continue
        assert got == TORCH_LSTM_BF16[label], f"{label}: torch gives {got}, recorded {TORCH_LSTM_BF16[label]}"
