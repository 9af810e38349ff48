"""Whole-module pickling as with torch.nn: ``torch.save(module)`` then ``torch.load(f)`` with torch's
default ``weights_only=True`` needs only the module classes allow-listed (the pickle holds no other
rnnkit class: specs and regularisation settings travel as plain data), the loaded module computes the
same numbers, loading without the allow-list fails with torch's own "Unsupported global" error, and
``copy.deepcopy`` gives an equal, independent module."""

from __future__ import annotations

import copy
import io
import pickle
import re

import pytest
import torch
from torch import nn

import rnnkit
from conftest import ALL_CELLS, make_layer
from rnnkit._pickle import _encode
from rnnkit.cells import registry
from rnnkit.cells.registry import CellEntry, get_cell
from rnnkit.cells.rnn import RNNSpec
from rnnkit.models import Forecaster, Generator, Seq2Seq, SequenceClassifier, SequenceTagger

I, H, T, B = 3, 4, 5, 2


def saved(obj: object) -> io.BytesIO:
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return buf


def qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def unsafe_globals(buf: io.BytesIO) -> set[str]:
    names = set(torch.serialization.get_unsafe_globals_in_checkpoint(buf))
    buf.seek(0)
    return names


def load(buf: io.BytesIO, allowed: list[type]) -> object:
    with torch.serialization.safe_globals(allowed):
        return torch.load(buf)  # weights_only=True: torch's default


def module_classes(module: nn.Module) -> list[type]:
    return sorted({type(m) for m in module.modules()}, key=qualname)


def assert_same_state(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def assert_same_outputs(a, b) -> None:
    """Bit-identical nested outputs (tensors in tuples / dicts)."""
    torch.testing.assert_close(a, b, rtol=0, atol=0)


# -- layers and cells ----------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ALL_CELLS)
def test_layer_round_trip(cell):
    layer = make_layer(cell, I, H, num_layers=2, bidirectional=True, backend="reference").eval()
    buf = saved(layer)
    assert unsafe_globals(buf) == {qualname(type(layer))}
    loaded = load(buf, [type(layer)])
    assert type(loaded) is type(layer) and repr(loaded) == repr(layer)
    assert type(loaded.spec) is type(layer.spec) and vars(loaded.spec) == vars(layer.spec)
    assert_same_state(loaded, layer)
    x = torch.randn(T, B, I)
    assert_same_outputs(loaded(x, lengths=[T, 3]), layer(x, lengths=[T, 3]))
    assert_same_outputs(loaded.trace(x).gates, layer.trace(x).gates)


@pytest.mark.parametrize("cell", ALL_CELLS)
def test_cell_round_trip(cell):
    entry = get_cell(cell)
    module = entry.cell(I, H, **entry.options)
    buf = saved(module)
    assert unsafe_globals(buf) == {qualname(type(module))}
    loaded = load(buf, [type(module)])
    assert vars(loaded.spec) == vars(module.spec)
    assert_same_state(loaded, module)
    x, h = torch.randn(B, I), tuple(torch.randn(B, H) for _ in module.spec.state_names)
    hx = h[0] if len(h) == 1 else h
    assert_same_outputs(loaded(x, hx), module(x, hx))


@pytest.mark.parametrize(
    ("cell", "options"),
    [
        ("rnn", {"nonlinearity": "relu"}),
        ("lstm", {"forget_bias": 1.0, "peephole": True}),
        ("lstm", {"forget_bias": "ugi", "layer_norm": True}),
        ("gru", {"forget_bias": 2, "layer_norm": True}),
        *[(name, {}) for name in ALL_CELLS],
    ],
)
def test_every_spec_travels_as_plain_data(cell, options):
    """options() describes each registered spec fully: rebuilt from (name, options) it is the same."""
    spec = get_cell(cell).make_spec(**options)
    kind, (name, opts) = _encode(spec)
    assert kind == "cell_spec"
    rebuilt = get_cell(name).spec(**opts)
    assert type(rebuilt) is type(spec) and vars(rebuilt) == vars(spec)


def test_layer_with_options_and_regularisation():
    lstm = rnnkit.LSTM(
        I,
        H,
        proj_size=2,
        forget_bias="ugi",
        peephole=True,
        zoneout=(0.1, 0.2),
        recurrent_dropout=0.25,
        input_dropout=0.125,
        recurrent_init="orthogonal",
        batch_first=True,
    ).eval()
    buf = saved(lstm)
    assert unsafe_globals(buf) == {qualname(rnnkit.LSTM)}
    loaded = load(buf, [rnnkit.LSTM])
    assert loaded.regularization == lstm.regularization
    assert repr(loaded) == repr(lstm)
    x = torch.randn(B, T, I)
    assert_same_outputs(loaded(x), lstm(x))


def test_layer_that_ran_on_the_default_backend():
    """Whatever a layer keeps after running on its backend ("auto") stays out of the pickle."""
    gru = rnnkit.GRU(I, H, num_layers=2)
    x = torch.randn(T, B, I)
    out, h = gru(x)
    with torch.no_grad():
        gru.step(x[0], h)
    buf = saved(gru)
    assert unsafe_globals(buf) == {qualname(rnnkit.GRU)}
    assert_same_outputs(load(buf, [rnnkit.GRU])(x), (out, h))


def test_loading_without_the_allow_list_fails_as_for_torch_nn():
    for layer in (nn.LSTM(I, H), rnnkit.LSTM(I, H)):
        expected = "Unsupported global: GLOBAL " + re.escape(qualname(type(layer)))
        with pytest.raises(pickle.UnpicklingError, match=expected):
            torch.load(saved(layer))
    model = SequenceClassifier(I, 2, hidden_size=H, backend="reference")
    with pytest.raises(pickle.UnpicklingError, match=r"Unsupported global: GLOBAL rnnkit\.layers\.LSTM"):
        load(saved(model), [SequenceClassifier, type(model.backbone), nn.Linear, nn.Dropout])


class _MySpec(RNNSpec):
    """A user's own cell, not in the registry."""

    name = "my_rnn"


class _PartialSpec(RNNSpec):
    """A registered spec whose options() leaves out an attribute."""

    name = "partial_rnn"

    def __init__(self, scale: float = 0.5) -> None:
        super().__init__("tanh")
        self.scale = scale

    def options(self) -> dict[str, object]:
        return {}


def test_unregistered_spec_stays_an_object_to_allow_list():
    layer = rnnkit.RecurrentLayer(_MySpec("relu"), I, H, backend="reference")
    buf = saved(layer)
    assert unsafe_globals(buf) == {qualname(rnnkit.RecurrentLayer), qualname(_MySpec)}
    with pytest.raises(pickle.UnpicklingError, match=r"Unsupported global: GLOBAL .*_MySpec"):
        load(buf, [rnnkit.RecurrentLayer])
    buf.seek(0)
    loaded = load(buf, [rnnkit.RecurrentLayer, _MySpec])
    assert type(loaded.spec) is _MySpec and loaded.spec.nonlinearity == "relu"
    x = torch.randn(T, B, I)
    assert_same_outputs(loaded(x), layer(x))


def test_spec_that_options_cannot_rebuild_stays_an_object(monkeypatch):
    entry = CellEntry("partial_rnn", _PartialSpec, rnnkit.RNNCell, "rnnkit.layers:RecurrentLayer")
    monkeypatch.setitem(registry._REGISTRY, "partial_rnn", entry)
    assert _encode(_PartialSpec()) is not None  # the default spec rebuilds from its name alone
    layer = rnnkit.RecurrentLayer(_PartialSpec(scale=2.0), I, H, backend="reference")
    assert _encode(layer.spec) is None  # this one would not: it is pickled as it is
    buf = saved(layer)
    assert qualname(_PartialSpec) in unsafe_globals(buf)
    assert load(buf, [rnnkit.RecurrentLayer, _PartialSpec]).spec.scale == 2.0


# -- models ----------------------------------------------------------------------------------------------
def _tokens(vocab: int, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.randint(0, vocab, shape)


MODELS = {
    "classifier": lambda: (
        SequenceClassifier(I, 3, hidden_size=H, pooling="mean", bidirectional=True, backend="reference"),
        (torch.randn(B, T, I), [T, 3]),
    ),
    "tagger": lambda: (
        SequenceTagger(I, 3, hidden_size=H, cell="gru", encoder=nn.Embedding(7, I), backend="reference"),
        (_tokens(7, (B, T)), [T, 2]),
    ),
    "forecaster": lambda: (
        Forecaster(2, horizon=3, num_targets=2, hidden_size=H, num_layers=2, cell="urlstm"),
        (torch.randn(B, T, 2),),
    ),
    "generator": lambda: (
        Generator(7, embed_dim=H, hidden_size=H, tie_weights=True, backend="reference"),
        (_tokens(7, (B, T)),),
    ),
    "seq2seq_luong": lambda: (
        Seq2Seq(7, 8, H, H, attention="luong", bidirectional_encoder=True, backend="reference"),
        (_tokens(7, (B, T)), [T, 3], _tokens(8, (B, 4))),
    ),
    "seq2seq_bahdanau": lambda: (
        Seq2Seq(7, 8, H, H, cell="gru", attention="bahdanau", backend="reference"),
        (_tokens(7, (B, T)), [T, 3], _tokens(8, (B, 4))),
    ),
}


@pytest.mark.parametrize("kind", list(MODELS))
def test_model_round_trip(kind):
    model, args = MODELS[kind]()
    model.eval()
    if isinstance(model, Forecaster):
        model.fit_scalers(torch.randn(20, 2), torch.randn(20, 2))
    buf = saved(model)
    allowed = module_classes(model)
    assert unsafe_globals(buf) == {qualname(c) for c in allowed}  # module classes only
    loaded = load(buf, allowed)
    assert_same_state(loaded, model)
    assert_same_outputs(loaded(*args), model(*args))
    if isinstance(model, Generator):  # tied weights stay tied
        assert loaded.head.weight is loaded.embedding.weight


@pytest.mark.parametrize("kind", list(MODELS))
def test_model_deepcopy(kind):
    model, args = MODELS[kind]()
    model.eval()
    twin = copy.deepcopy(model)
    assert_same_state(twin, model)
    assert_same_outputs(twin(*args), model(*args))
    with torch.no_grad():
        for p in twin.parameters():
            p.add_(1.0)
    assert not torch.equal(next(twin.parameters()), next(model.parameters()))  # independent


@pytest.mark.parametrize("cell", ALL_CELLS)
def test_layer_and_cell_deepcopy(cell):
    layer = make_layer(cell, I, H, num_layers=2, backend="reference")
    twin = copy.deepcopy(layer)
    assert twin.spec is not layer.spec and vars(twin.spec) == vars(layer.spec)
    x = torch.randn(T, B, I)
    assert_same_outputs(twin(x), layer(x))
    entry = get_cell(cell)
    module = entry.cell(I, H, **entry.options)
    twin_cell = copy.deepcopy(module)
    x = torch.randn(B, I)
    assert_same_outputs(twin_cell(x), module(x))
