"""``torch.compile(model, fullgraph=True)`` of the four model shapes: no graph break (fullgraph raises on
one), the same outputs and parameter gradients as eager, with padded batches (``lengths``) whose padding
holds NaN or ids outside the vocabulary (never read, so every gradient stays finite); and bad input still
fails inside the compiled graph (value checks become in-graph assertions there).

Tiny sizes: compile time dominates. ``aot_eager`` traces forward AND backward through AOTAutograd (what
inductor consumes) without inductor's code generation; one test runs the default inductor backend.
"""

from __future__ import annotations

import pytest
import torch
import torch._dynamo
from torch import nn

from matrix import covering
from rnnkit.models import Forecaster, Generator, Seq2Seq, SequenceClassifier, SequenceTagger

#: the layers' backends under test
BACKENDS = ["reference", "auto"]
B, T, H, V = 3, 5, 4, 7
LENGTHS = [5, 3, 2]


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def padded_tokens(vocab: int, lengths: list[int], fill: int) -> torch.Tensor:
    """(B, T) ids with ``fill`` — possibly out of the vocabulary — past each length."""
    ids = torch.randint(0, vocab, (len(lengths), max(lengths)))
    for b, n in enumerate(lengths):
        ids[b, n:] = fill
    return ids


def padded_floats(lengths: list[int], features: int) -> torch.Tensor:
    x = torch.randn(len(lengths), max(lengths), features)
    for b, n in enumerate(lengths):
        x[b, n:] = float("nan")  # padding must reach neither the outputs nor the gradients
    return x


def build(kind: str, backend: str) -> tuple[nn.Module, tuple, dict]:
    lengths = torch.tensor(LENGTHS)
    if kind == "classifier":
        model = SequenceClassifier(2, 3, hidden_size=H, pooling="mean", bidirectional=True, backend=backend)
        return model, (padded_floats(LENGTHS, 2),), {"lengths": lengths}
    if kind == "classifier_last":
        model = SequenceClassifier(2, 3, hidden_size=H, num_layers=2, cell="gru", backend=backend)
        return model, (padded_floats(LENGTHS, 2),), {"lengths": LENGTHS}
    if kind == "tagger":
        enc = nn.Embedding(V, H)
        model = SequenceTagger(H, 3, hidden_size=H, encoder=enc, bidirectional=True, backend=backend)
        return model, (padded_tokens(V, LENGTHS, fill=-100),), {"lengths": lengths}  # pad: not an id
    if kind == "forecaster":
        model = Forecaster(2, horizon=3, num_targets=2, hidden_size=H, cell="lstm", backend=backend)
        return model, (padded_floats(LENGTHS, 2),), {"lengths": lengths}
    if kind == "generator":
        model = Generator(V, embed_dim=H, hidden_size=H, num_layers=2, tie_weights=True, backend=backend)
        return model, (padded_tokens(V, LENGTHS, fill=0),), {"lengths": lengths}
    attention = {"seq2seq": None, "seq2seq_luong": "luong", "seq2seq_bahdanau": "bahdanau"}[kind]
    model = Seq2Seq(
        V, V + 1, H, H, attention=attention, bidirectional_encoder=attention == "luong", backend=backend
    )
    src = padded_tokens(V, LENGTHS, fill=0)
    return model, (src, lengths, torch.randint(0, V + 1, (B, 4))), {}


def scalar_loss(out) -> torch.Tensor:
    logits = out[0] if isinstance(out, tuple) else out
    weights = torch.linspace(-1.0, 1.0, logits.numel()).view_as(logits)  # every output matters
    return (logits * weights).sum()


def forward_and_grads(model: nn.Module, fn, args, kwargs):
    model.zero_grad(set_to_none=True)
    out = fn(*args, **kwargs)
    scalar_loss(out).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return out, grads


def assert_compiled_equals_eager(model: nn.Module, args, kwargs, backend: str, **tol) -> None:
    eager_out, eager_grads = forward_and_grads(model, model, args, kwargs)
    compiled = torch.compile(model, fullgraph=True, backend=backend)
    out, grads = forward_and_grads(model, compiled, args, kwargs)
    torch.testing.assert_close(out, eager_out, **tol)
    assert grads.keys() == eager_grads.keys() and grads
    torch.testing.assert_close(grads, eager_grads, **tol)
    assert all(torch.isfinite(g).all() for g in grads.values())


KINDS = [
    "classifier",
    "classifier_last",
    "tagger",
    "forecaster",
    "generator",
    "seq2seq",
    "seq2seq_luong",
    "seq2seq_bahdanau",
]


# every model kind under one backend in CI (the backends alternate), all pairs with -m slow
@pytest.mark.parametrize(("kind", "backend"), covering(KINDS, BACKENDS))
def test_compiled_model_equals_eager(kind, backend):
    model, args, kwargs = build(kind, backend)
    assert_compiled_equals_eager(model, args, kwargs, "aot_eager")


@pytest.mark.parametrize("backend", BACKENDS)
def test_inductor_equals_eager(backend):
    model, args, kwargs = build("forecaster", backend)
    assert_compiled_equals_eager(model, args, kwargs, "inductor", atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_compiled_models_still_reject_bad_values(backend):
    gen, (tokens,), _ = build("generator", backend)
    compiled = torch.compile(gen, fullgraph=True, backend="aot_eager")
    compiled(tokens)
    with pytest.raises(RuntimeError, match=r"tokens must hold ids in \[0, 7\)"):
        compiled(torch.full_like(tokens, V))
    clf, (x,), _ = build("classifier", backend)
    compiled = torch.compile(clf, fullgraph=True, backend="aot_eager")
    with pytest.raises(RuntimeError, match=r"lengths must be <= the sequence length T"):
        compiled(x, torch.tensor([6, 3, 2]))
    with pytest.raises(RuntimeError, match=r"lengths must be >= 1"):
        compiled(x, torch.tensor([5, 0, 2]))
    # eager keeps its ValueError with the actual values
    with pytest.raises(ValueError, match=r"lengths must be >= 1, got min 0"):
        clf(x, torch.tensor([5, 0, 2]))
    with pytest.raises(ValueError, match=r"lengths must be <= the sequence length T=5, got max 6"):
        clf(x, torch.tensor([6, 3, 2]))


def test_compiled_batchnorm_encoder_with_lengths_in_training():
    """BatchNorm's statistics would include the padded steps in the compiled graph: refused, never a
    wrong number. fullgraph=True fails naming the reason; without fullgraph that part runs eagerly."""
    enc = nn.Sequential(nn.Linear(2, H), nn.BatchNorm1d(H))
    model = SequenceClassifier(H, 3, hidden_size=H, encoder=enc, backend="reference")
    x, lengths = torch.randn(B, T, 2), torch.tensor(LENGTHS)
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    with pytest.raises(Exception, match=r"encoder has batch statistics in training mode \(BatchNorm1d\)"):
        compiled(x, lengths)
    torch.testing.assert_close(compiled(x), model(x))  # without lengths: every step is valid
    torch._dynamo.reset()
    torch.testing.assert_close(torch.compile(model, backend="eager")(x, lengths), model(x, lengths))
    model.eval()
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(x, lengths), model(x, lengths))


@pytest.mark.parametrize("backend", BACKENDS)
def test_compiled_tagger_loss(backend):
    """``loss`` checks the tag values too: inside the graph when compiled, with the value when eager."""
    model, (words,), kwargs = build("tagger", backend)
    tags = torch.randint(0, 3, words.shape)
    loss = torch.compile(model.loss, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(loss(words, tags, **kwargs), model.loss(words, tags, **kwargs))
    bad = tags.clone()
    bad[0, 0] = 3
    with pytest.raises(RuntimeError, match=r"tags must be in \[0, 3\) or -100"):
        loss(words, bad, **kwargs)
    with pytest.raises(ValueError, match=r"tags must be in \[0, 3\) or -100, got 3"):
        model.loss(words, bad, **kwargs)
