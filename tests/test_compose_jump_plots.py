"""What compose, jump and every run show people: compose completions (as many as asked for, never
``<unk>``, spaced as text, probabilities that read, a legend), the jump saliency strip (one shared
robust scale, a colour bar with units), the explained early answers of the jump probability plot, and
the curve plot's panel titles."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.data.compose import BOS, EOS, SPECIALS, Vocab, detokenize
from rnnkit.models import Seq2Seq
from rnnkit.tasks.compose_data import complete
from rnnkit.tasks.compose_report import LEGEND, chance, format_completions

WORDS = ["thou", ",", "O", "LORD", "art", "I", "."]
VOCAB = Vocab([*SPECIALS, *WORDS])


def _model(vocab: Vocab, bias: dict[str, float] | None = None) -> Seq2Seq:
    torch.manual_seed(0)
    model = Seq2Seq(len(vocab), len(vocab), 8, 16, attention="luong", share_embeddings=True).eval()
    with torch.no_grad():
        for token, value in (bias or {}).items():
            model.out.bias[vocab.stoi[token]] += value
    return model


def test_as_many_completions_as_asked_and_never_unknown_words():
    """A model that mostly wants <unk> (the old search dropped those hypotheses and returned fewer)."""
    model = _model(VOCAB, {"<unk>": 8.0})
    found, unknown = complete(model, VOCAB, "thou", max_prefix=8, beam_size=2, n=5, max_tokens=3)
    assert len(found) == 5 and not unknown
    assert len({(tuple(c.tokens), c.ends_sentence) for c in found}) == 5  # distinct
    for c in found:
        assert not {"<unk>", "<pad>", "<bos>", "<eos>"} & set(c.tokens)


def test_probabilities_are_the_models_own():
    model = _model(VOCAB)
    found, _ = complete(model, VOCAB, "thou art", max_prefix=8, beam_size=3, n=3, max_tokens=3)
    src = torch.tensor([VOCAB.encode(["thou", "art"])])
    for c in found:
        target = [VOCAB.stoi[t] for t in c.tokens] + ([EOS] if c.ends_sentence else [])
        logits = model(src, torch.tensor([2]), torch.tensor([[BOS, *target[:-1]]]))  # (1, n, V)
        log_p = -F.cross_entropy(logits[0], torch.tensor(target), reduction="sum").item()
        assert c.prob == pytest.approx(math.exp(log_p), rel=1e-5)
        assert c.per_token == pytest.approx(math.exp(log_p / len(target)), rel=1e-5)


def test_fewer_completions_are_said_to_be_fewer():
    tiny = Vocab([*SPECIALS, "a"])  # one word: "a" and the end of the sentence are all there is
    model = _model(tiny)
    found, _ = complete(model, tiny, "a", max_prefix=4, n=5, max_tokens=1)
    assert sorted((c.tokens, c.ends_sentence) for c in found) == [([], True), (["a"], False)]
    shown = format_completions(model, tiny, "a", 4, n=5, max_tokens=1)
    assert "(only 2 distinct completions of up to 1 tokens exist)" in shown


def test_completions_read_as_text_after_the_prompt():
    model = _model(VOCAB, {",": 3.0, "O": 1.5})
    prompt = "Blessed art thou"  # 'Blessed' is not in the vocabulary
    found, unknown = complete(model, VOCAB, prompt, max_prefix=8, n=4, max_tokens=4)
    assert unknown == ["Blessed"] and found
    lines = format_completions(model, VOCAB, prompt, 8, n=4, max_tokens=4).splitlines()
    assert lines[0] == "Blessed art thou …" and "not in the vocabulary" in lines[1]
    rows = lines[2:]
    assert len(rows) == len(found) == 4
    starts = {row.index("p = ") for row in rows}
    assert len(starts) == 1  # the probabilities line up
    for i, (row, c) in enumerate(zip(rows, found, strict=True), 1):
        text = "…" + detokenize(["thou", *c.tokens]) + (" ⏎" if c.ends_sentence else "")
        assert row.startswith(f"  {i}. {text} ") and f"p = {chance(c.prob)} " in row
        assert row.rstrip().endswith(f"per word {chance(c.per_token)}")
        assert " , " not in row and " ." not in row  # no space before punctuation
    assert any(c.tokens[:1] == [","] for c in found)  # the case that read ', O LORD' before
    assert "⏎" in LEGEND and "per word" in LEGEND and "probability" in LEGEND


@pytest.mark.parametrize(
    "p, text",
    [
        (1.0, "100%"),
        (0.123, "12%"),
        (0.0312, "3.1%"),
        (0.001, "0.1%"),
        (2.9e-5, "1 in 34,000"),
        (1.2e-4, "1 in 8,300"),
        (3.3e-9, "3.3e-09"),
        (0.0, "0"),
    ],
)
def test_chance_reads_as_people_say_it(p, text):
    assert chance(p) == text


# -- jump ----------------------------------------------------------------------------------------------
def test_saliency_scale_shows_every_frame_where_the_largest_one_hid_the_rest():
    from matplotlib.colors import LogNorm

    from rnnkit.plots.video import saliency_scale

    rng = np.random.default_rng(0)
    T, S = 16, 8
    sal = rng.random((T, S, S)) * np.geomspace(0.03, 1.0, T)[:, None, None]  # fading back in time
    sal[-1, 0, 0] = 50.0  # one extreme pixel
    old = sal / sal.max()  # the former scaling: by the largest pixel
    assert (np.median(old.reshape(T, -1), axis=1) < 0.02).sum() == T  # every frame near black
    low, top = saliency_scale(sal)
    assert top == pytest.approx(np.percentile(sal, 99)) and low == pytest.approx(top / 100)
    shown = np.asarray(LogNorm(low, top)(np.clip(sal, low, top).ravel())).reshape(T, S, S)  # in [0, 1]
    assert (np.median(shown.reshape(T, -1), axis=1) > 0.05).all()
    assert np.median(shown[-1]) > np.median(shown[0])  # the shared scale keeps the order of magnitudes


def test_saliency_figure_has_a_colour_bar_with_units(tmp_path):
    from rnnkit.plots.video import plot_saliency, saliency_figure

    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (8, 1, 16, 16), dtype=np.uint8)
    sal = rng.random((8, 16, 16))
    fig = saliency_figure(frames, sal, title="a clip", target="jump")
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert len(fig.axes) == 4 and any("logit per unit of" in label for label in labels)
    assert any("99th percentile" in ax.get_title(loc="left") for ax in fig.axes)
    assert plot_saliency(frames, sal, tmp_path / "s.png").stat().st_size > 1000
    with pytest.raises(ValueError, match=r"saliency must have shape \(8, 16, 16\)"):
        saliency_figure(frames, sal[:4])


class _ConstantAtFirst(nn.Module):
    """Answers P(class 1) = 0.95 after the first frame whatever it shows (an untrained early answer)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def per_step_logits(self, x: torch.Tensor) -> torch.Tensor:
        B, T = x.shape[:2]
        first = torch.tensor([0.0, math.log(0.95 / 0.05)])
        return first.expand(B, T, 2) + self.w


def test_early_answers_are_measured_and_explained():
    from rnnkit.data.video import ClipConfig, make_clips
    from rnnkit.tasks.jump_report import early_answers

    clips = make_clips(6, ClipConfig(frames=8, size=24), seed=0)
    out = early_answers(_ConstantAtFirst(), clips, 1, 0.5)
    assert out["first_frame_mean"] == pytest.approx(0.95)
    assert out["first_frame_mean_positive"] == pytest.approx(0.95)
    note = out["note"]
    assert "trained only on its answer after the last frame" in note
    assert "0.95 on average over 6 test clips" in note and "50% of the training clips" in note


def test_jump_plots_carry_the_note_and_the_scaled_saliency(tmp_path):
    from rnnkit.data.video import ClipConfig, make_clips
    from rnnkit.tasks import resolve_config
    from rnnkit.tasks.jump_model import build_sequence_model
    from rnnkit.tasks.jump_report import write_plots

    clips = make_clips(6, ClipConfig(frames=8, size=24), seed=0)
    model = build_sequence_model(1, 24, 2, width=2, features=8, hidden_size=8).eval()
    cfg = resolve_config("jump", preset="smoke", overrides={"data.plot_clips": 2})
    out = write_plots(model, cfg, clips, tmp_path, train_shares={"no-jump": 0.5, "jump": 0.5})
    assert (tmp_path / out["probability_plot"]).is_file() and (tmp_path / out["saliency_plot"]).is_file()
    early = out["early_answers"]
    x = torch.from_numpy(clips.frames[:, :1]).float() / 255
    with torch.no_grad():
        expected = model.per_step_logits(x).softmax(-1)[:, 0, 1].mean().item()
    assert early["first_frame_mean"] == pytest.approx(expected, rel=1e-5)
    assert f"{expected:.2f} on average" in early["note"]


# -- curves --------------------------------------------------------------------------------------------
def test_curve_panels_have_distinct_titles(monkeypatch):
    import matplotlib.pyplot as plt

    from rnnkit.train.callbacks import render_curves

    closed: list = []
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: (closed.append(fig), close(fig)))
    train = [{"step": s, "loss": 1.0 / s, "grad_norm": 1.0, "lr": 1e-3} for s in range(1, 11)]
    val = [{"step": 5, "loss": 0.3}, {"step": 10, "loss": 0.2}]
    for metric, refs in (("loss", {"persistence": 0.25}), ("loss", {}), ("top1", {"bigram": 0.2})):
        rows = [dict(r, top1=0.1) for r in val] if metric == "top1" else val
        assert render_curves(train, rows, metric, refs, 1.0).startswith(b"\x89PNG")
        titles = [ax.get_title() for ax in closed[-1].axes]
        assert len(set(titles)) == len(titles) == 4, titles
        assert titles[0] == "loss: training and validation"
        assert titles[1] == f"validation {metric}" + (" beside the baselines" if refs else "")
