"""The ``compose`` task: batches, scoring of a model, completion, a short training run and the
``rnnkit compose`` command."""

from __future__ import annotations

import io
import json
import math

import pytest
import torch
import torch.nn.functional as F

from rnnkit.cli import main
from rnnkit.data.compose import BOS, EOS, PAD, SPECIALS, PairSet, Vocab
from rnnkit.models import Seq2Seq
from rnnkit.tasks import resolve_config, train
from rnnkit.tasks.compose_data import (
    COVERAGES,
    PairBatches,
    complete,
    confidence_curve,
    greedy_continuation,
    greedy_with_confidence,
    model_metrics,
)
from rnnkit.tasks.compose_report import verdict

WORDS = ["a", "b", "c", "d", "e", "f"]
VOCAB = Vocab([*SPECIALS, *WORDS])  # a=4 … f=9
PAIRS = PairSet(
    src=[[4, 5], [5, 6], [6, 7], [9, 8, 7], [8, 9]],
    tgt=[[6, 7, 8], [7, 8, EOS], [8, 9, 4, 5], [6, EOS], [4, 4, 4]],
    context=[[4, 5], [5, 6], [6, 7], [9, 8, 7], [8, 9]],
)


def test_pair_batches_teacher_forcing_alignment_and_order():
    src = PairBatches(PAIRS, 2, shuffle=False)
    assert len(src) == 3
    s, s_len, t_in, t_out = next(src.epoch(0))
    assert s.tolist() == [[4, 5], [5, 6]] and s_len.tolist() == [2, 2]
    assert t_in.tolist() == [[BOS, 6, 7], [BOS, 7, 8]] and t_out.tolist() == [[6, 7, 8], [7, 8, EOS]]
    for _, _, t_in, t_out in src.epoch(0):
        assert (t_in[:, 0] == BOS).all()
        keep = t_in[:, 1:] != PAD
        assert torch.equal(t_in[:, 1:][keep], t_out[:, :-1][keep])  # input = target shifted right
    shuffled = PairBatches(PAIRS, 2, shuffle=True, seed=3)
    first = [b[0].tolist() for b in shuffled.epoch(0)]
    assert first == [b[0].tolist() for b in PairBatches(PAIRS, 2, shuffle=True, seed=3).epoch(0)]
    assert [b[0].tolist() for b in shuffled.epoch(0, start=1)] == first[1:]
    with pytest.raises(ValueError, match="at least one pair"):
        PairBatches(PairSet([], [], []), 2, shuffle=False)


def test_an_overfit_model_scores_perfectly_and_completes_what_it_learned():
    torch.manual_seed(0)
    model = Seq2Seq(len(VOCAB), len(VOCAB), 16, 32, attention="luong", share_embeddings=True)
    batch = next(PairBatches(PAIRS, 8, shuffle=False).epoch(0))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(150):
        s, s_len, t_in, t_out = batch
        loss = F.cross_entropy(model(s, s_len, t_in).transpose(1, 2), t_out, ignore_index=PAD)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    m = model_metrics(model, PairBatches(PAIRS, 2, shuffle=False))
    assert m["top1"] == 1.0 and m["top3"] == 1.0 and m["exact3"] == 1.0 and m["loss"] < 0.05
    found, unknown = complete(model, VOCAB, "a b", max_prefix=8, beam_size=3, n=2, max_tokens=5)
    assert found[0].tokens == ["c", "d", "e"] and found[0].prob > 0.5 and not unknown
    assert found[0].text == " c d e"
    found, unknown = complete(model, VOCAB, "b zzz c", max_prefix=8, n=1)
    assert unknown == ["zzz"] and len(found) <= 1
    with pytest.raises(ValueError, match="at least one word"):
        complete(model, VOCAB, "   ", max_prefix=8)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    cfg = resolve_config(
        "compose", preset="smoke", overrides={"run.out_dir": str(out), "run.progress": False}
    )
    return train(cfg, echo=lambda s: None), out


def test_compose_task_trains_and_writes_its_outputs(smoke_run):
    summary, _ = smoke_run
    run = summary.run_dir
    saved = json.loads((run / "summary.json").read_text())
    for split in ("val", "test"):
        assert set(saved["metrics"][split]) == {"loss", "top1", "top3", "exact3"}
        assert set(saved["baselines"][split]) == {"bigram", "trigram"}
        assert saved["baselines"][split]["bigram"]["top1"] > 0.05
    report = (run / "compose.md").read_text()
    assert "| top1 |" in report and "floor: above the bigram" in report
    assert isinstance(saved["artifacts"]["floor_met"], bool)
    # floor_met is "test top-1 above the bigram's", on the numbers compose.json shows
    shown = json.loads((run / "compose.json").read_text())
    top1, bigram = shown["metrics"]["top1"], shown["baselines"]["bigram"]["top1"]
    assert saved["artifacts"]["floor_met"] is (top1 > bigram) and shown["floor_met"] is (top1 > bigram)
    assert top1 < bigram and "(floor: above the bigram: NOT MET)" in report  # this tiny run is not there
    samples = (run / "compose_samples.txt").read_text()
    assert samples.startswith("And the LORD spake unto …") and "  1. " in samples


def test_compose_verdict_is_the_floor_it_names():
    """Met only when the model's top-1 is strictly above the bigram's (the trigram does not count)."""
    base = {
        "bigram": {"top1": 0.25, "top3": 0.4, "exact3": 0.01},
        "trigram": {"top1": 0.3, "top3": 0.4, "exact3": 0.01},
    }
    at = {"top1": 0.25, "top3": 0.5, "exact3": 0.02}
    assert verdict(at, base)["floor_met"] is False
    assert "(floor: above the bigram: NOT MET)" in verdict(at, base)["verdict"]
    above = {**at, "top1": 0.26}
    assert verdict(above, base)["floor_met"] is True  # below the trigram, above the bigram: met
    assert "(floor: above the bigram: MET)" in verdict(above, base)["verdict"]
    assert verdict({**at, "top1": 0.01}, base)["floor_met"] is False


def test_compose_command(smoke_run, capsys, monkeypatch):
    _, out = smoke_run
    assert main(["compose", "--out-dir", str(out), "--num", "2", "And", "it", "came", "to", "pass"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "And it came to pass …"
    assert [line.split(".")[0] for line in lines[1:]] == ["  1", "  2"] and "p = " in lines[1]
    assert main(["compose", "--out-dir", str(out / "nowhere"), "x"]) == 2
    assert "no trained compose run" in capsys.readouterr().err
    assert main(["compose", "--out-dir", str(out), "--beam", "0", "x"]) == 2
    assert "--beam must be >= 1, got 0" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("In the\n\nAnd God said\n"))  # one prompt per line
    assert main(["compose", "--out-dir", str(out), "--num", "1"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("In the …\n  1. ") and "\nAnd God said …\n  1. " in shown
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["compose", "--out-dir", str(out)]) == 2
    assert "give the start of a sentence" in capsys.readouterr().err


def test_tied_output_layer_and_label_smoothing():
    """tie_embeddings: the output layer's weight is the embedding (fewer weights, gradients from both
    ends reach it); the task's label_smoothing is the loss's, and the loss equals cross-entropy."""
    torch.manual_seed(0)
    tied = Seq2Seq(10, 10, 8, 16, attention="luong", share_embeddings=True, tie_embeddings=True)
    untied = Seq2Seq(10, 10, 8, 16, attention="luong", share_embeddings=True)
    assert tied.out.weight is tied.tgt_embedding.weight is tied.src_embedding.weight
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(tied) == n(untied) - 16 * 10 + (16 * 8 + 8)  # V×H output matrix → H×E projection
    src, tgt = torch.tensor([[4, 5, 6]]), torch.tensor([[BOS, 7]])
    logits = tied(src, torch.tensor([3]), tgt)
    assert logits.shape == (1, 2, 10)
    tied.src_embedding.weight.grad = None
    logits[0, -1, 9].backward()
    assert tied.src_embedding.weight.grad[9].abs().sum() > 0  # the output row of token 9 is its embedding
    with pytest.raises(ValueError, match="tie_embeddings must be True or False"):
        Seq2Seq(10, 10, tie_embeddings="yes")
    from rnnkit.tasks import get_task

    task = get_task("compose")
    for smoothing in (0.0, 0.2):
        cfg = resolve_config("compose", preset="smoke", overrides={"model.label_smoothing": smoothing})
        model = task.build_model(cfg, {"vocab": VOCAB.to_json(), "tied_readout": cfg.model.tie_embeddings})
        assert model.out.weight is model.tgt_embedding.weight  # tied by default
        old_run = task.build_model(cfg, {"vocab": VOCAB.to_json()})  # a run from before the option
        assert isinstance(old_run.out, torch.nn.Linear) and old_run.out.weight.shape == (len(VOCAB), 16)
        batch = next(PairBatches(PAIRS, 4, shuffle=False).epoch(0))
        torch.manual_seed(1)
        got = task.loss(model.eval(), batch).loss
        want = F.cross_entropy(
            model(batch[0], batch[1], batch[2]).transpose(1, 2),
            batch[3],
            ignore_index=PAD,
            label_smoothing=smoothing,
        )
        assert torch.allclose(got, want, atol=1e-6)
    with pytest.raises(ValueError, match="label_smoothing"):
        resolve_config("compose", overrides={"model.label_smoothing": 0.9})


def test_confidence_curve_ranks_by_confidence_and_scores_the_shown():
    confidence = [0.9, 0.1, 0.5, 0.8, 0.2, 0.05, 0.7, 0.3, 0.6, 0.4]
    correct = [True, False, False, True, False, False, True, False, True, True]
    points = confidence_curve(confidence, correct, (0.1, 0.3, 0.5, 1.0))
    assert [p.shown for p in points] == [1, 3, 5, 10]
    assert [p.threshold for p in points] == [0.9, 0.7, 0.5, 0.05]
    assert [p.exact3 for p in points] == [1.0, 1.0, 0.8, 0.5]  # top 5: 0.9 0.8 0.7 0.6 0.5 -> 4 right
    with pytest.raises(ValueError, match="equally long"):
        confidence_curve([0.5], [True, False])
    with pytest.raises(ValueError, match=r"coverages must be in \(0, 1\], got 0"):
        confidence_curve([0.5], [True], (0.0,))


def test_the_full_coverage_point_is_exact3_and_the_report_draws_the_curve(smoke_run):
    summary, _ = smoke_run
    run = summary.run_dir
    shown = json.loads((run / "compose.json").read_text())
    curve = shown["confidence_curve"]
    assert [p["coverage"] for p in curve] == list(COVERAGES)
    assert curve[-1]["exact3"] == pytest.approx(shown["metrics"]["exact3"])  # suggesting always = exact-3
    thresholds = [p["threshold"] for p in curve]
    assert thresholds == sorted(thresholds, reverse=True) and all(0 <= t <= 1 for t in thresholds)
    assert (run / "compose_confidence.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## Suggest only when confident" in (run / "compose.md").read_text()
    assert summary.artifacts["confidence_plot"] == "compose_confidence.png"


def test_greedy_confidence_is_the_probability_of_the_greedy_continuation():
    torch.manual_seed(0)
    model = Seq2Seq(len(VOCAB), len(VOCAB), 8, 16, attention="luong", share_embeddings=True).eval()
    src, src_len, _, _ = next(PairBatches(PAIRS, 4, shuffle=False).epoch(0))
    rows, conf = greedy_with_confidence(model, src, src_len, 3)
    assert rows == greedy_continuation(model, src, src_len, 3)
    for b, row in enumerate(rows):  # teacher-forced probability of the same tokens
        log_p = model.sequence_log_prob(src[b : b + 1], src_len[b : b + 1], [row], BOS)
        masked_mass_free = math.exp(float(log_p[0]))
        assert conf[b] >= masked_mass_free - 1e-6  # masking <pad>/<bos>/<unk> only raises the rest
        assert 0 < conf[b] <= 1


def test_the_latency_benchmark_runs_and_renders_its_table(smoke_run, tmp_path):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "compose_latency.py"
    spec = importlib.util.spec_from_file_location("compose_latency", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    summary, _ = smoke_run
    before = torch.get_num_threads()
    try:
        assert (
            bench.main(
                ["--run", str(summary.run_dir), "--prefixes", "5", "--out", str(tmp_path), "--no-readme"]
            )
            == 0
        )
    finally:
        torch.set_num_threads(before)
    payload = json.loads((tmp_path / "compose-latency.json").read_text())
    s = payload["latency_ms"]
    assert payload["prefixes"] == 5 and 0 < s["p50"] <= s["p90"] <= s["p99"] <= s["max"]
    assert (tmp_path / "compose-latency.md").read_text() == bench.render(payload)
    assert all(len(p.split()) == 20 for p in bench.prefixes(5))
