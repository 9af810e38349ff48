"""The demos against their baselines in CI: short, seeded runs on the real data (the KJV text, the
glucose and sea-surface-temperature series, the generated jump clips, KJV verses for compose), each
scored on the same split as the task's own baselines, with a margin that an untrained model, or one
that predicts the mean / the most frequent answer, fails.

The full floors (README) need minutes per demo: ``pytest -m slow tests/test_floors_jump_compose.py``
runs those of jump and compose at their tour budgets. Here the budgets are steps, never minutes, so a
busy machine changes only how long a test takes, not its verdict. Where the small budget does not reach
the full floor, the test says what it holds the model to instead, and why.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from rnnkit.tasks import get_task, resolve_config, train
from rnnkit.tasks.compose_data import BANNED
from rnnkit.tasks.jump_report import ACCURACY_FLOOR, CLEAR_MARGIN
from rnnkit.tasks.series import FLOOR as SERIES_FLOOR
from train_helpers import one_thread  # noqa: F401


def _train(task: str, tmp_path, preset: str | None, **overrides):
    cfg = resolve_config(
        task,
        preset=preset,
        overrides={
            "run.out_dir": str(tmp_path),
            "run.progress": False,
            "run.plot": False,
            "run.seed": 0,
            "optim.max_minutes": None,
            **overrides,
        },
    )
    return cfg, train(cfg, echo=lambda _: None)


def test_text_beats_the_bigram_on_kjv_validation_books(tmp_path):
    """300 steps of a small char-LSTM on the first 300,000 training characters of the KJV, scored on
    the first 20,000 characters of the held-out books, where the add-1 unigram and bigram fitted in the
    same run are scored too. The model must be 0.5 bits/char below the bigram (it gets ~0.8 below): an
    untrained model is near log2(65) ≈ 6 bpc, one that learned only character frequencies is at the
    unigram's ~4.3. (The full run's floor, ≤ 2.0 bpc, needs the 15-minute budget.)"""
    _, s = _train(
        "text",
        tmp_path,
        "smoke",
        **{
            "data.train_chars": 300_000,
            "data.val_chars": 20_000,
            "data.seq_len": 50,
            "data.batch_size": 16,
            "data.eval_batch_size": 16,
            "model.hidden_size": 96,
            "model.embed_dim": 32,
            "optim.max_steps": 300,
            "optim.lr": 1e-2,
            "run.eval_every": 300,
        },
    )
    assert s.info["source"].startswith("King James Bible (validation: Joshua,")
    bpc = s.metrics["val"]["bpc"]
    uni, bi = (s.baselines["val"][n]["bpc"] for n in ("unigram", "bigram"))
    assert bi < uni
    assert bpc < bi - 0.5, (bpc, bi, uni)


def _series_verdict(s) -> tuple[float, float]:
    """(test MAE H steps ahead, best naive baseline's) — and the verdict the run wrote agrees with them."""
    test, base = s.metrics["test"], s.baselines["test"]
    naive = min(v["mae"] for k, v in base.items() if not k.startswith("ar"))
    art = s.artifacts
    assert art["mae_vs_best_naive"] == pytest.approx(test["mae"] / naive, rel=1e-6)
    assert art["floor_met"] is (test["mae"] <= SERIES_FLOOR * naive)
    return test["mae"], naive


SERIES_SMALL = {
    "model.hidden_size": 32,
    "data.window": 96,
    "data.ar_order": 8,  # the linear AR reference (not a naive baseline): its fits dominate the time
    "optim.max_steps": 300,
    "optim.lr": 5e-3,
    "optim.warmup_steps": 20,
    "run.eval_every": 300,
}


def test_glucose_meets_the_series_floor_at_a_small_budget(tmp_path):
    """The default series (a continuous glucose monitor, 2 h ahead): 300 steps of a 32-unit LSTM
    already meet the demo's floor, test MAE ≤ 0.9 × the best naive baseline (0.84–0.85 over seeds 0–2).
    Forecasting the training mean — a naive baseline itself — is at 1.0, as is persistence; the
    untrained network is at ~1.06."""
    _, s = _train("series", tmp_path, "smoke", **SERIES_SMALL)
    assert s.info["series"] == "glucose"
    assert {"persistence", "seasonal_1d", "mean", "ar8"} <= set(s.baselines["test"])
    mae, naive = _series_verdict(s)
    assert mae <= SERIES_FLOOR * naive, (mae, naive, s.baselines["test"])
    assert s.artifacts["floor_met"] is True
    assert mae < 0.9 * s.baselines["test"]["mean"]["mae"]


def test_sst_runs_on_its_data_and_reports_its_floor_not_met(tmp_path):
    """Sea-surface temperature, 12 h ahead. Here persistence is the baseline to beat, and even the full
    run does not (README: 1.075× persistence, "not met"); the network starts at persistence (it predicts
    a change near 0) and 300 steps leave it ~1.16×. So this test holds the short run to what it does
    reach: far below the training mean (which misses by the seasonal swing, ~30× the network's error)
    and below the one-day seasonal naive; and the verdict must say "not met" exactly when the ratio is
    above 0.9. It does not show learning beyond persistence — nothing at this budget does."""
    _, s = _train("series", tmp_path, "smoke", **{**SERIES_SMALL, "data.series": "sst"})
    assert s.info["series"] == "sst"
    base = s.baselines["test"]
    mae, naive = _series_verdict(s)
    assert naive == base["persistence"]["mae"]
    assert mae < 0.1 * base["mean"]["mae"], (mae, base)
    assert mae < base["seasonal_1d"]["mae"], (mae, base)
    assert s.artifacts["floor_met"] is False and "NOT MET" in s.artifacts["verdict"]


def test_jump_uses_frame_order_and_beats_every_single_frame_baseline(tmp_path):
    """150 steps on 600 generated clips (the tour preset's model). The floor's controls hold at this
    budget: test accuracy ≥ 0.85 (≈0.92 here; 0.95, the full floor, takes ~400 steps), ≥ 0.2 above the
    same clips with their frames shuffled and above the best per-frame classifier. The majority class
    and an untrained model are at 0.5."""
    _, s = _train(
        "jump",
        tmp_path,
        "tour",
        **{
            "data.train_clips": 600,
            "data.val_clips": 100,
            "data.test_clips": 200,
            "data.baseline_steps": 40,
            "data.plot_clips": 0,
            "optim.max_steps": 150,
            "optim.warmup_steps": 20,
            "run.eval_every": 150,
        },
    )
    art, base = s.artifacts, s.baselines["test"]
    acc = art["accuracy"]
    assert acc == s.metrics["test"]["accuracy"]
    assert acc >= 0.85 and acc - base["majority"]["accuracy"] >= 0.3, (acc, base)
    best_frame = max(v["accuracy"] for k, v in base.items() if k.startswith("per-frame"))
    assert art["best_per_frame"] == best_frame
    assert acc - best_frame >= CLEAR_MARGIN and art["no_single_frame"] is True, art["verdict"]
    assert acc - art["shuffled_accuracy"] >= CLEAR_MARGIN and art["order_matters"] is True, art["verdict"]
    assert art["floor_met"] is (acc >= ACCURACY_FLOOR)


def test_compose_learns_next_words_of_kjv_verses(tmp_path):
    """600 steps on the first 3,000 KJV sentences of each split, 300-word vocabulary. Beating the bigram
    (the floor) takes minutes (``-m slow``); at this budget the model's next-word top-1 on the test pairs
    must reach 0.8× the bigram's (≈0.92× here) and clear, by 0.05, the best constant answer — the most
    frequent first target word of the training pairs, scored on the same test pairs. An untrained
    model's top-1 is ~0.001."""
    cfg, s = _train(
        "compose",
        tmp_path,
        "smoke",
        **{
            "data.max_verses": 3000,
            "data.vocab_size": 300,
            "data.batch_size": 64,
            "data.eval_batch_size": 256,
            "model.embed_dim": 32,
            "model.hidden_size": 64,
            "model.dropout": 0.0,
            "optim.max_steps": 600,
            "optim.lr": 1e-2,
            "optim.warmup_steps": 20,
            "run.eval_every": 600,
            "run.eval_batches": None,
        },
    )
    top1, bigram = s.metrics["test"]["top1"], s.baselines["test"]["bigram"]["top1"]
    data = get_task("compose").build_data(cfg)
    # the most frequent proposable first word (',' here: ~0.09 of the test pairs; <unk> never scores)
    first, _ = Counter(t[0] for t in data.train.pairs.tgt if t[0] not in BANNED).most_common(1)[0]
    test_pairs = data.test.pairs.tgt
    constant = sum(t[0] == first for t in test_pairs) / len(test_pairs)
    assert top1 >= 0.8 * bigram, (top1, bigram)
    assert top1 >= constant + 0.05, (top1, constant)
    assert s.artifacts["floor_met"] is (top1 > bigram)
    shown = json.loads((s.run_dir / "compose.json").read_text())
    assert shown["metrics"]["top1"] == top1
