"""The four output shapes as models: shapes for every registered cell, padding-awareness (padded ≡ run
alone), tiny-batch overfitting, generation (seeded, argmax, streaming ≡ recomputing, top-k/top-p), the
encoder-decoder (stepwise ≡ all-at-once, beam 1 ≡ greedy, beam scores ≡ recomputed log-probs), the
forecaster's scaling, and argument errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import ALL_CELLS
from rnnkit.models import (
    Forecaster,
    Generator,
    SamplingConfig,
    Scaler,
    Seq2Seq,
    SequenceClassifier,
    SequenceTagger,
    filter_logits,
    gnmt_length_penalty,
    make_windows,
    sample_next,
)

TOL = {"atol": 1e-10, "rtol": 1e-9}
ATTENTIONS = [None, "luong", "bahdanau"]


@pytest.fixture(autouse=True)
def _one_thread():
    """These models are tiny: one thread is fastest, and immune to a busy machine's thread contention."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def padded_batch(seqs: list[torch.Tensor], fill: float = 100.0) -> torch.Tensor:
    """(B, T, ...) with garbage in the padding, which must not leak anywhere."""
    T = max(len(s) for s in seqs)
    out = torch.full((len(seqs), T, *seqs[0].shape[1:]), fill, dtype=seqs[0].dtype)
    for b, s in enumerate(seqs):
        out[b, : len(s)] = s
    return out


def overfit(model: nn.Module, loss_fn, steps: int = 300, lr: float = 0.02) -> tuple[float, float]:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    first = last = None
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
        last = loss.item()
        if last <= 0.05 * first:
            break
    return first, last


# -- shapes for every cell in the registry --------------------------------------------------------------
@pytest.mark.parametrize("cell", ALL_CELLS)
def test_shapes_every_cell(cell):
    x = torch.randn(3, 5, 4)
    lengths = [5, 2, 4]
    for bi in (False, True):
        for pooling in ("last", "mean", "max"):
            clf = SequenceClassifier(
                4, 3, hidden_size=6, num_layers=2, cell=cell, bidirectional=bi, pooling=pooling
            )
            assert clf(x, lengths).shape == (3, 3)
        tagger = SequenceTagger(4, 7, hidden_size=6, cell=cell, bidirectional=bi)
        assert tagger(x, lengths).shape == (3, 5, 7)
    clf = SequenceClassifier(4, 3, hidden_size=6, cell=cell)
    assert clf.per_step_logits(x, lengths).shape == (3, 5, 3)
    fc = Forecaster(4, horizon=3, num_targets=2, hidden_size=6, cell=cell)
    fc.fit_scalers(x, torch.randn(3, 3, 2))
    assert fc(x).shape == (3, 3, 2) and fc.predict(x).shape == (3, 3, 2) and fc.predict(x[0]).shape == (3, 2)
    gen = Generator(11, embed_dim=5, hidden_size=6, num_layers=2, cell=cell)
    logits, state = gen(torch.randint(0, 11, (3, 5)))
    assert logits.shape == (3, 5, 11)
    parts = state if isinstance(state, tuple) else (state,)
    zeros = gen.init_state(3)
    assert [p.shape for p in parts] == [z.shape for z in (zeros if isinstance(zeros, tuple) else (zeros,))]
    assert all(p.shape == (2, 3, 6) for p in parts)
    assert gen.sample([1, 2], 4, num_samples=2, seed=0).shape == (2, 4)
    for attention in ATTENTIONS:
        s2s = Seq2Seq(9, 10, 5, 6, num_layers=2, cell=cell, attention=attention, bidirectional_encoder=True)
        src, tgt = torch.randint(0, 9, (3, 6)), torch.randint(0, 10, (3, 4))
        assert s2s(src, [6, 3, 1], tgt).shape == (3, 4, 10)
        assert len(s2s.greedy(src, [6, 3, 1], 4, bos=0, eos=1)) == 3


# -- classifier ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["lstm", "gru", "urlstm"])
@pytest.mark.parametrize("bi", [False, True])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_classifier_padded_equals_alone(cell, bi, pooling):
    model = SequenceClassifier(
        3, 4, hidden_size=5, num_layers=2, cell=cell, bidirectional=bi, pooling=pooling
    )
    model = model.double().eval()
    lengths = [6, 2, 4, 1]
    seqs = [torch.randn(n, 3, dtype=torch.float64) for n in lengths]
    batch = model(padded_batch(seqs), torch.tensor(lengths))
    for b, s in enumerate(seqs):
        torch.testing.assert_close(batch[b], model(s.unsqueeze(0))[0], **TOL)


def test_classifier_last_pooling_is_last_valid_output():
    """'last' takes the forward direction at the last valid step and the backward one at step 0."""
    model = SequenceClassifier(3, 2, hidden_size=4, bidirectional=True).double()
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    out, _ = model.rnn(x, lengths=[5, 3])  # (B, T, 2H)
    feats = model.features(x, [5, 3])
    torch.testing.assert_close(feats[1, :4], out[1, 2, :4], **TOL)
    torch.testing.assert_close(feats[1, 4:], out[1, 0, 4:], **TOL)


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_per_step_logits_equal_prefix_forward(pooling):
    model = SequenceClassifier(3, 4, hidden_size=5, cell="gru", pooling=pooling).double()
    lengths = [6, 3]
    x = padded_batch([torch.randn(n, 3, dtype=torch.float64) for n in lengths])
    per_step = model.per_step_logits(x, lengths)  # (B, T, C)
    for b, n in enumerate(lengths):
        for t in range(6):
            prefix = x[b : b + 1, : min(t, n - 1) + 1]
            torch.testing.assert_close(per_step[b, t], model(prefix)[0], **TOL)
    with pytest.raises(ValueError, match="unidirectional"):
        SequenceClassifier(3, 4, bidirectional=True).per_step_logits(x, lengths)


def test_classifier_frame_encoder():
    """A small CNN applied to each video frame: (B, T, C, H, W) → (B, T, E); padded frames ignored."""
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    model = SequenceClassifier(4, 2, hidden_size=6, encoder=cnn).double().eval()
    clips = [torch.randn(n, 1, 8, 8, dtype=torch.float64) for n in (5, 3)]
    batch = padded_batch(clips)
    logits = model(batch, [5, 3])
    assert logits.shape == (2, 2) and model.per_step_logits(batch).shape == (2, 5, 2)
    torch.testing.assert_close(logits[1], model(clips[1].unsqueeze(0))[0], **TOL)
    with pytest.raises(ValueError, match=r"encoder must map each step to a vector of input_size=5"):
        SequenceClassifier(5, 2, encoder=cnn.float())(batch.float())


def test_encoder_sees_only_valid_steps():
    """Padded frames never reach the per-step encoder (so a BatchNorm there sees no padding)."""
    seen = []
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.BatchNorm1d(3))
    encoder.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    model = SequenceClassifier(3, 2, hidden_size=4, encoder=encoder)
    x = torch.randn(3, 5, 2, 2)
    model(x, [5, 1, 3])
    torch.testing.assert_close(seen[0], torch.cat([x[0, :5], x[1, :1], x[2, :3]]))


def test_options_reach_the_recurrent_layer():
    model = SequenceTagger(3, 2, cell="rnn", backend="reference", rnn_options={"nonlinearity": "relu"})
    assert model.rnn.backend == "reference" and model.rnn.spec.options() == {"nonlinearity": "relu"}
    x = torch.randn(2, 4, 3)
    h = torch.relu(F.linear(x[:, 0], model.rnn.weight_ih_l0, model.rnn.bias_ih_l0) + model.rnn.bias_hh_l0)
    torch.testing.assert_close(model.rnn(x)[0][:, 0], h)


def test_classifier_overfits():
    model = SequenceClassifier(3, 3, hidden_size=16)
    x, y = torch.randn(8, 6, 3), torch.randint(0, 3, (8,))
    lengths = torch.tensor([6, 5, 4, 3, 6, 2, 5, 4])
    first, last = overfit(model, lambda: F.cross_entropy(model(x, lengths), y))
    assert last <= 0.1 * first, (first, last)


# -- tagger -------------------------------------------------------------------------------------------
def test_tagger_padding_and_loss():
    model = SequenceTagger(3, 4, hidden_size=5, num_layers=2, cell="gru", bidirectional=True).double()
    lengths = [5, 2, 4]
    seqs = [torch.randn(n, 3, dtype=torch.float64) for n in lengths]
    x = padded_batch(seqs)
    logits = model(x, lengths)
    for b, s in enumerate(seqs):
        torch.testing.assert_close(logits[b, : len(s)], model(s.unsqueeze(0))[0], **TOL)
        assert torch.all(logits[b, len(s) :] == 0)
    tags = torch.randint(0, 4, (3, 5))
    manual = torch.cat(
        [F.cross_entropy(logits[b, :n], tags[b, :n], reduction="none") for b, n in enumerate(lengths)]
    )
    torch.testing.assert_close(model.loss(x, tags, lengths), manual.mean(), **TOL)
    pred = model.predict(x, lengths)
    assert torch.all(pred[1, 2:] == -100) and torch.equal(pred[0], logits[0].argmax(-1))


def test_tagger_token_encoder_overfits():
    model = SequenceTagger(8, 3, hidden_size=16, encoder=nn.Embedding(10, 8), bidirectional=True)
    words, tags = torch.randint(0, 10, (6, 7)), torch.randint(0, 3, (6, 7))
    lengths = [7, 6, 5, 7, 3, 4]
    first, last = overfit(model, lambda: model.loss(words, tags, lengths))
    assert last <= 0.1 * first, (first, last)


# -- forecaster ---------------------------------------------------------------------------------------
def test_scaler_round_trip_and_fit_on_given_data_only():
    train = torch.randn(200, 3, dtype=torch.float64) * torch.tensor([1.0, 10.0, 0.1]) + torch.tensor(
        [5, -2, 0.0]
    )
    test = torch.randn(50, 3, dtype=torch.float64) * 100  # very different: must not influence the stats
    scaler = Scaler(3).double().fit(train)
    torch.testing.assert_close(scaler.mean, train.mean(0), **TOL)
    torch.testing.assert_close(scaler.std, train.std(0, unbiased=False), **TOL)
    z = scaler.transform(train)
    torch.testing.assert_close(z.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(z.std(0, unbiased=False), torch.ones(3, dtype=torch.float64), **TOL)
    torch.testing.assert_close(scaler.inverse_transform(scaler.transform(test)), test, **TOL)
    const = Scaler(2).fit(torch.tensor([[1.0, 3.0], [2.0, 3.0]]))  # a constant column is only centred
    torch.testing.assert_close(const.transform(torch.tensor([[1.5, 4.0]])), torch.tensor([[0.0, 1.0]]))
    with pytest.raises(RuntimeError, match="not fitted"):
        Scaler(3).transform(train)
    with pytest.raises(ValueError, match="finite"):
        Scaler(1).fit(torch.tensor([[1.0], [float("nan")]]))


def test_make_windows():
    series = torch.arange(20.0).view(10, 2)  # row t = [2t, 2t+1]
    x, y = make_windows(series, window=3, horizon=2, targets=[1])
    assert x.shape == (6, 3, 2) and y.shape == (6, 2, 1)
    torch.testing.assert_close(x[4], series[4:7])
    torch.testing.assert_close(y[4], series[7:9, 1:])


def test_forecaster_predicts_in_original_units_and_saves_scalers():
    series = torch.cumsum(torch.randn(120, 3), 0) * 50 + 1000  # price-like levels
    x, y = make_windows(series, window=10, horizon=4, targets=[0, 2])
    model = Forecaster(3, horizon=4, num_targets=2, hidden_size=8).fit_scalers(x[:80], y[:80])
    torch.testing.assert_close(model.target_scaler.mean, y[:80].reshape(-1, 2).mean(0))
    with torch.no_grad():  # a zero output layer predicts 0 in scaled units: the training mean
        model.head.weight.zero_()
        model.head.bias.zero_()
    torch.testing.assert_close(model.predict(x[80:]), model.target_scaler.mean.expand(len(x) - 80, 4, 2))
    with torch.no_grad():
        model.head.bias.normal_()
    pred = model.predict(x[80:])
    torch.testing.assert_close(
        pred, model.target_scaler.inverse_transform(model(model.input_scaler.transform(x[80:])))
    )
    clone = Forecaster(3, horizon=4, num_targets=2, hidden_size=8)
    clone.load_state_dict(model.state_dict())  # the scalers travel with the weights
    assert clone.input_scaler.is_fitted
    torch.testing.assert_close(clone.predict(x[80:]), pred)


def test_forecaster_overfits():
    series = torch.randn(40, 3)
    x, y = make_windows(series, window=8, horizon=2, targets=[1])
    x, y = x[:8], y[:8]
    model = Forecaster(3, horizon=2, hidden_size=16).fit_scalers(x, y)
    first, last = overfit(model, lambda: model.loss(x, y))
    assert last <= 0.1 * first, (first, last)


# -- generator ----------------------------------------------------------------------------------------
@pytest.fixture
def gen() -> Generator:
    return Generator(13, embed_dim=6, hidden_size=8, num_layers=2, cell="gru").double().eval()


def test_generation_seeded_and_global_rng_untouched(gen):
    rng_before = torch.get_rng_state()
    a = gen.sample([3, 1, 4], 30, seed=7)
    b = gen.sample([3, 1, 4], 30, seed=7)
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert a == b and len(a) == 30 and all(isinstance(t, int) for t in a)
    assert gen.sample([3, 1, 4], 30, seed=8) != a
    batch = gen.sample([3, 1, 4], 30, seed=7, num_samples=3)
    assert batch.shape == (3, 30) and torch.equal(batch, gen.sample([3, 1, 4], 30, seed=7, num_samples=3))


def test_temperature_zero_is_argmax_rollout(gen):
    prime, steps = [5, 2, 9], 12
    fast = gen.sample(prime, steps, temperature=0)
    seq = list(prime)
    with torch.no_grad():
        for _ in range(steps):  # recompute the whole prefix every step, take the argmax
            logits, _ = gen(torch.tensor([seq]))
            seq.append(int(logits[0, -1].argmax()))
    assert fast == seq[len(prime) :]


def test_streaming_equals_recomputing_prefix(gen):
    """Carried state ≡ re-running the whole prefix, for the logits and the sampled tokens."""
    prime = torch.tensor([[5, 2, 9, 1], [0, 12, 3, 3]])
    config = SamplingConfig(temperature=1.3, top_k=8, top_p=0.95)
    stream = list(gen._rollout(prime, None, 15, config, torch.Generator().manual_seed(3), None, None))
    rng = torch.Generator().manual_seed(3)
    seq = prime
    with torch.no_grad():
        for token, logits, _ in stream:
            full, _ = gen(seq)
            torch.testing.assert_close(logits, full[:, -1], **TOL)
            expected = sample_next(full[:, -1], config, rng)
            assert torch.equal(token, expected)
            seq = torch.cat([seq, token.unsqueeze(1)], dim=1)


def test_generation_streams_one_step_per_token(gen, monkeypatch):
    """The prime is read by ONE forward; each further token costs one ``step``; nothing runs ahead."""
    calls = {"forward": 0, "step": 0}
    forward, step = gen.rnn.forward, gen.rnn.step

    def count(name, fn):
        def wrapped(*a, **k):
            calls[name] += 1
            return fn(*a, **k)

        return wrapped

    monkeypatch.setattr(gen.rnn, "forward", count("forward", forward))
    monkeypatch.setattr(gen.rnn, "step", count("step", step))
    stream = gen.generate([1, 2, 3], 10**9, seed=0)
    assert calls == {"forward": 0, "step": 0}  # lazy: nothing computed before the first token is asked
    for _ in range(5):
        next(stream)
    assert calls == {"forward": 1, "step": 4}


def test_stream_continues_from_its_state(gen):
    whole = gen.sample([4, 4, 2], 15, temperature=0)
    stream = gen.generate([4, 4, 2], 10, temperature=0)
    first = list(stream)
    rest = gen.sample([first[-1]], 5, temperature=0, state=stream.state)
    assert first + rest == whole


def test_batched_variable_length_primes_equal_alone(gen):
    primes = [[1, 2, 3, 4, 5], [7], [8, 9]]
    batch = gen.sample(primes, 10, temperature=0)
    for b, p in enumerate(primes):
        assert batch[b].tolist() == gen.sample(p, 10, temperature=0)


def test_generation_stops_at_eos(gen):
    first = gen.sample([1, 2], 1, temperature=0)[0]
    out = gen.sample([1, 2], 20, temperature=0, eos=first)
    assert out == [first]


def test_top_k_top_p_never_leave_the_allowed_set():
    torch.manual_seed(0)
    logits = torch.randn(20) * 2
    probs = logits.softmax(-1)
    order = probs.argsort(descending=True)
    top_k = set(order[:5].tolist())

    def nucleus(p: torch.Tensor, mass: float) -> set[int]:  # smallest most-likely set reaching ``mass``
        cum = p[order].cumsum(0)
        return set(order[: int((cum < mass).sum()) + 1].tolist())

    in_top_k = torch.zeros(20).index_fill(0, order[:5], 1.0) * probs
    rng = torch.Generator().manual_seed(0)
    for config, allowed in [
        (SamplingConfig(top_k=5), top_k),
        (SamplingConfig(top_p=0.7), nucleus(probs, 0.7)),
        (SamplingConfig(top_k=5, top_p=0.7), nucleus(in_top_k / in_top_k.sum(), 0.7)),  # top-p after top-k
        (SamplingConfig(temperature=3.0, top_k=5), top_k),
    ]:
        kept = torch.isfinite(filter_logits(logits.unsqueeze(0), config)[0]).nonzero().flatten().tolist()
        assert set(kept) == allowed
        draws = set(sample_next(logits.expand(4000, -1), config, rng).tolist())
        assert draws == allowed  # never outside, and every allowed token does occur
    assert set(sample_next(logits.expand(100, -1), SamplingConfig(top_p=1e-6), rng).tolist()) == {
        int(order[0])
    }


def test_generator_overfits_and_ties_weights():
    model = Generator(10, embed_dim=24, hidden_size=24, num_layers=1, tie_weights=True)
    assert model.head.weight is model.embedding.weight
    tokens = torch.randint(0, 10, (4, 12))
    first, last = overfit(
        model, lambda: F.cross_entropy(model(tokens[:, :-1])[0].transpose(1, 2), tokens[:, 1:]), steps=400
    )
    assert last <= 0.1 * first, (first, last)


# -- seq2seq ------------------------------------------------------------------------------------------
def s2s_model(attention, cell="lstm", bi=False) -> Seq2Seq:
    torch.manual_seed(1)
    return (
        Seq2Seq(12, 11, 6, 8, num_layers=2, cell=cell, attention=attention, bidirectional_encoder=bi)
        .double()
        .eval()
    )


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("bi", [False, True])
def test_seq2seq_steps_equal_teacher_forced_forward(attention, bi):
    model = s2s_model(attention, "gru", bi)
    src, tgt = torch.randint(0, 12, (3, 7)), torch.randint(0, 11, (3, 5))
    logits, weights = model(src, [7, 4, 2], tgt, return_attention=True)
    enc, state = model.encode(src, [7, 4, 2])
    for t in range(5):
        step_logits, state, w = model.decode_step(tgt[:, t], state, enc)
        torch.testing.assert_close(logits[:, t], step_logits, **TOL)
        if attention is not None:
            torch.testing.assert_close(weights[:, t], w, **TOL)
            assert torch.all(w[1, 4:] == 0) and torch.all(w[2, 2:] == 0)  # padded source never attended
            torch.testing.assert_close(w.sum(-1), torch.ones(3, dtype=torch.float64), **TOL)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_seq2seq_padded_source_equals_alone(attention):
    model = s2s_model(attention, bi=True)
    lengths = [6, 3, 1]
    srcs = [torch.randint(0, 12, (n,)) for n in lengths]
    src = torch.full((3, 6), 11)
    for b, s in enumerate(srcs):
        src[b, : len(s)] = s
    tgt = torch.randint(0, 11, (3, 4))
    logits = model(src, lengths, tgt)
    for b, s in enumerate(srcs):
        torch.testing.assert_close(logits[b], model(s.unsqueeze(0), None, tgt[b : b + 1])[0], **TOL)


def test_teacher_forcing_zero_feeds_own_argmax():
    model = s2s_model("bahdanau")
    src = torch.randint(0, 12, (2, 5))
    free = model(
        src, None, torch.randint(0, 11, (2, 6)).index_fill(1, torch.tensor([0]), 0), teacher_forcing_ratio=0.0
    )
    own = torch.cat([torch.zeros(2, 1, dtype=torch.long), free[:, :-1].argmax(-1)], dim=1)  # [BOS, argmaxes]
    torch.testing.assert_close(model(src, None, own), free, **TOL)


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
def test_beam_one_equals_greedy(attention, alpha):
    model = s2s_model(attention)
    src, lengths = torch.randint(0, 12, (4, 6)), [6, 5, 2, 4]
    for eos in range(4):  # several EOS ids, so that both finished and max_len-cut outputs occur
        greedy = model.greedy(src, lengths, 8, bos=0, eos=eos)
        beams = model.beam_search(src, lengths, 1, 8, bos=0, eos=eos, length_penalty=alpha)
        assert [b[0].tokens for b in beams] == greedy


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_decoding_with_a_typed_prefix(attention):
    """Smart-Compose completion: outputs start with the prefix; beam 1 ≡ greedy; scores stay exact."""
    model = s2s_model(attention)
    src, lengths = torch.randint(0, 12, (3, 6)), [6, 5, 2]
    prefix = [[4, 5, 6], [], [7]]
    greedy = model.greedy(src, lengths, 8, bos=0, eos=3, prefix=prefix)
    assert [g[: len(p)] for g, p in zip(greedy, prefix, strict=True)] == prefix
    beams = model.beam_search(src, lengths, 1, 8, bos=0, eos=3, prefix=prefix)
    assert [b[0].tokens for b in beams] == greedy
    beams = model.beam_search(src, lengths, 3, 8, bos=0, eos=3, prefix=prefix)
    for b, hyps in enumerate(beams):
        assert all(h.tokens[: len(prefix[b])] == prefix[b] for h in hyps)
        again = model.sequence_log_prob(
            src[b : b + 1].expand(len(hyps), -1), [lengths[b]] * len(hyps), [h.tokens for h in hyps], bos=0
        )
        torch.testing.assert_close(torch.tensor([h.log_prob for h in hyps], dtype=torch.float64), again)
    with pytest.raises(ValueError, match=r"prefix must not be longer than max_len=2, got one of 3 tokens"):
        model.greedy(src, lengths, 2, bos=0, eos=3, prefix=prefix)
    with pytest.raises(ValueError, match=r"prefix must be a list of 3 token-id lists"):
        model.beam_search(src, lengths, 2, 8, bos=0, eos=3, prefix=[[1]])


@pytest.mark.parametrize("attention", ["luong", "bahdanau"])
@pytest.mark.parametrize("early", [True, False])
def test_beam_scores_are_true_log_probs(attention, early):
    model = s2s_model(attention)
    src, lengths = torch.randint(0, 12, (3, 6)), [6, 5, 2]
    beams = model.beam_search(src, lengths, 4, 7, bos=0, eos=3, length_penalty=0.6, early_stopping=early)
    for b, hyps in enumerate(beams):
        assert 1 <= len(hyps) <= 4
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        again = model.sequence_log_prob(
            src[b : b + 1].expand(len(hyps), -1), [lengths[b]] * len(hyps), [h.tokens for h in hyps], bos=0
        )
        for h, lp in zip(hyps, again.tolist(), strict=True):
            assert math.isclose(h.log_prob, lp, rel_tol=1e-9, abs_tol=1e-9)
            assert math.isclose(h.score, h.log_prob / gnmt_length_penalty(len(h.tokens), 0.6), rel_tol=1e-12)
            assert h.finished == (h.tokens[-1] == 3) and (h.finished or len(h.tokens) == 7)


def test_seq2seq_overfits():
    torch.manual_seed(0)
    model = Seq2Seq(10, 10, 12, 24, attention="luong")
    src = torch.randint(3, 10, (6, 5))
    tgt = torch.cat([torch.zeros(6, 1, dtype=torch.long), src.flip(1), torch.ones(6, 1, dtype=torch.long)], 1)
    lengths = [5, 5, 4, 5, 3, 5]
    first, last = overfit(
        model,
        lambda: F.cross_entropy(model(src, lengths, tgt[:, :-1]).transpose(1, 2), tgt[:, 1:]),
        steps=300,
    )
    assert last <= 0.1 * first, (first, last)


# -- errors -------------------------------------------------------------------------------------------
def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match=r"pooling must be one of \['last', 'mean', 'max'\], got 'median'"):
        SequenceClassifier(3, 2, pooling="median")
    with pytest.raises(ValueError, match=r"unknown cell 'lstn'; registered cells: .*lstm"):
        SequenceTagger(3, 2, cell="lstn")
    with pytest.raises(ValueError, match=r"num_classes must be a positive int, got 0"):
        SequenceClassifier(3, 0)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\), got 1.5"):
        Forecaster(3, 2, dropout=1.5)
    with pytest.raises(ValueError, match=r"backend must be one of"):
        Generator(5, backend="cuda-magic")
    with pytest.raises(ValueError, match=r"rnn_options must not set \['dropout'\]"):
        Generator(5, rnn_options={"dropout": 0.5})
    with pytest.raises(ValueError, match=r"x must have shape \(batch, time, input_size=3\), got \(2, 4, 5\)"):
        SequenceClassifier(3, 2)(torch.randn(2, 4, 5))
    with pytest.raises(ValueError, match=r"lengths must be <= the sequence length T=4, got max 5"):
        SequenceClassifier(3, 2)(torch.randn(2, 4, 3), [5, 1])
    with pytest.raises(
        ValueError, match=r"window must be \(batch, time, 3\) or \(time, 3\), got shape \(2, 4, 2\)"
    ):
        Forecaster(3, 2).fit_scalers(torch.randn(5, 3), torch.randn(5, 1)).predict(torch.randn(2, 4, 2))
    with pytest.raises(ValueError, match=r"target must have shape \(2, 2, 1\), got \(2, 3, 1\)"):
        Forecaster(3, 2).fit_scalers(torch.randn(5, 3), torch.randn(5, 1)).loss(
            torch.randn(2, 4, 3), torch.randn(2, 3, 1)
        )
    with pytest.raises(
        ValueError, match=r"tie_weights=True needs embed_dim == hidden_size, got embed_dim=4, hidden_size=8"
    ):
        Generator(5, embed_dim=4, hidden_size=8, tie_weights=True)
    gen = Generator(5, 4, 8, num_layers=1)
    with pytest.raises(ValueError, match=r"tokens must hold ids in \[0, 5\), got values in \[0, 7\]"):
        gen(torch.tensor([[0, 7]]))
    with pytest.raises(TypeError, match=r"tokens must hold integer token ids.*torch.float32"):
        gen(torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"temperature must be a finite number >= 0"):
        gen.generate([1], 3, temperature=-1.0)
    with pytest.raises(ValueError, match=r"top_k must be an int >= 1, got 0"):
        gen.generate([1], 3, top_k=0)
    with pytest.raises(ValueError, match=r"top_p must be in \(0, 1\], got 1.5"):
        gen.generate([1], 3, top_p=1.5)
    with pytest.raises(TypeError, match=r"seed must be an int or None, got str"):
        gen.generate([1], 3, seed="x")
    with pytest.raises(TypeError, match=r"prime must be a non-empty list .* got an empty sequence"):
        gen.generate([], 3)
    with pytest.raises(ValueError, match=r"prime must hold ids in \[0, 5\), got values in \[1, 9\]"):
        gen.generate([1, 9], 3)
    with pytest.raises(
        ValueError, match=r"attention must be one of \[None, 'luong', 'bahdanau'\], got 'dot'"
    ):
        Seq2Seq(5, 5, attention="dot")
    with pytest.raises(ValueError, match=r"luong_score='dot' needs query_size == memory_size, got 8 and 16"):
        Seq2Seq(5, 5, 4, 8, attention="luong", luong_score="dot", bidirectional_encoder=True)
    s2s = Seq2Seq(5, 6, 4, 8)
    src = torch.randint(0, 5, (2, 3))
    with pytest.raises(ValueError, match=r"beam_size must be an int >= 1, got 0"):
        s2s.beam_search(src, None, 0, 5, bos=0, eos=1)
    with pytest.raises(ValueError, match=r"eos must be an int \[0, 6\), got 6"):
        s2s.greedy(src, None, 5, bos=0, eos=6)
    with pytest.raises(ValueError, match=r"teacher_forcing_ratio must be a number in \[0, 1\], got 2"):
        s2s(src, None, torch.zeros(2, 3, dtype=torch.long), teacher_forcing_ratio=2)
    with pytest.raises(ValueError, match=r"src must be 2-D, got 1-D"):
        s2s(src[0], None, torch.zeros(2, 3, dtype=torch.long))
