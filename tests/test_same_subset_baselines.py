"""The baselines drawn beside a run's validation curve are scored on exactly the data the curve is: the
subset a periodic evaluation scores when ``run.eval_batches`` caps it, the whole split otherwise; the
final evaluation keeps the whole split's baselines."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from rnnkit.baselines import NGramModel
from rnnkit.data.compose import PairSet
from rnnkit.data.compose_eval import ngram_baselines
from rnnkit.tasks import resolve_config, train
from rnnkit.tasks import runner as runner_module
from rnnkit.tasks.registry import get_task
from rnnkit.train.checkpoint import load_checkpoint


@pytest.fixture
def captured(monkeypatch):
    """The ``references`` each Trainer of a run is built with (what ``curves.png`` draws)."""
    seen: list[dict[str, float]] = []

    class Recording(runner_module.Trainer):
        def __init__(self, *args, **kwargs):
            seen.append(dict(kwargs.get("references") or {}))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(runner_module, "Trainer", Recording)
    return seen


def _run(task: str, tmp_path, overrides: dict | None = None):
    cfg = resolve_config(
        task,
        preset="smoke",
        overrides={"run.out_dir": str(tmp_path), "run.progress": False, **(overrides or {})},
    )
    lines: list[str] = []
    return cfg, train(cfg, echo=lines.append), lines


def _last_model(task, cfg, summary):
    ck = load_checkpoint(summary.run_dir / "checkpoints" / "last.safetensors")
    model = task.build_model(cfg, ck.meta["extra"]["task_state"])
    model.load_state_dict(ck.model)
    return model.eval()


def _last_val_row(summary) -> dict:
    rows = [json.loads(line) for line in (summary.run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["split"] == "val"][-1]


def test_compose_curve_baselines_are_those_of_the_periodic_subset(tmp_path, captured):
    cfg, summary, lines = _run("compose", tmp_path)
    task = get_task("compose")
    k = cfg.run.eval_batches * cfg.data.eval_batch_size  # 2 batches of 32 pairs
    refs = captured[-1]
    assert set(refs) == {f"bigram (same {k}-pair subset)", f"trigram (same {k}-pair subset)"}
    # recomputed here, from a fresh copy of the data, on exactly the first k validation pairs
    data = task.build_data(cfg)
    corpus, val = data.train.corpus, data.val.pairs
    assert len(val) > k
    sub = PairSet(val.src[:k], val.tgt[:k], val.context[:k])
    expected = ngram_baselines(corpus.train_verses, len(corpus.vocab), {"sub": sub, "all": val}, (2, 3))
    for name in ("bigram", "trigram"):
        assert refs[f"{name} (same {k}-pair subset)"] == expected["sub"][name]["top1"]
        # the final evaluation on the whole split keeps the whole split's baselines
        assert summary.baselines["val"][name] == expected["all"][name]
    assert expected["sub"]["bigram"]["top1"] != expected["all"]["bigram"]["top1"]
    assert any(f"{k}-pair subset" in line for line in lines)
    # and the curve itself was scored on those k pairs: the last periodic evaluation is the last model's
    from rnnkit.tasks.compose_data import PairBatches, model_metrics

    model = _last_model(task, cfg, summary)
    again = model_metrics(model, PairBatches(sub, cfg.data.eval_batch_size, shuffle=False))
    row = _last_val_row(summary)
    assert row["top1"] == pytest.approx(again["top1"], abs=1e-12)
    assert row["loss"] == pytest.approx(again["loss"], rel=1e-6)


def _bits(model: NGramModel, pairs: list[tuple[int, int]]) -> float:
    """Bits per character of ``model`` predicting each y from the x before it."""
    return -sum(math.log2(model.prob([x], y)) for x, y in pairs) / len(pairs)


def test_text_curve_baselines_are_those_of_the_periodic_subset(tmp_path, captured):
    cfg, summary, _ = _run("text", tmp_path, {"run.eval_batches": 2})
    task = get_task("text")
    data = task.build_data(cfg)
    V = len(data.state["chars"])
    train_ids = data.train.ids.tolist()

    def scored(batches):  # (previous character, character) of every position the model is scored on
        out = []
        for i, (x, y) in enumerate(data.val.epoch(0)):
            if batches is not None and i >= batches:
                break
            out += list(zip(x.flatten().tolist(), y.flatten().tolist(), strict=True))
        return out

    sub, whole = scored(2), scored(None)
    assert len(sub) < len(whole)
    refs = captured[-1]
    label = f"(same {len(sub):,}-character subset)"
    assert set(refs) == {f"unigram {label}", f"bigram {label}"}
    for name, order in (("unigram", 1), ("bigram", 2)):
        ngram = NGramModel(order, V, alpha=1.0).fit([train_ids])
        assert refs[f"{name} {label}"] == pytest.approx(_bits(ngram, sub), rel=1e-9)
        assert summary.baselines["val"][name]["bpc"] == pytest.approx(_bits(ngram, whole), rel=1e-9)
    assert refs[f"bigram {label}"] != pytest.approx(summary.baselines["val"]["bigram"]["bpc"], rel=1e-6)
    # the subset source is the same batches the capped evaluation scores, and the curve was scored on it
    periodic = task.periodic_val(cfg, data)
    model = _last_model(task, cfg, summary)
    with torch.no_grad():
        on_subset = task.evaluate(model, periodic.source, cfg)
        capped = task.evaluate(model, data.val, cfg, 2)
    assert on_subset == capped
    assert _last_val_row(summary)["bpc"] == pytest.approx(on_subset["bpc"], rel=1e-6)


def test_a_task_that_cannot_cut_its_data_draws_no_baselines(tmp_path, captured):
    """``adding`` keeps the default ``val_subset`` (None): capped evaluations, no lines from other data."""
    cfg, summary, lines = _run("adding", tmp_path, {"run.eval_batches": 1})
    assert captured[-1] == {}
    assert _last_val_row(summary)["count"] == cfg.data.batch_size  # one batch scored
    assert any("no baselines are drawn" in line for line in lines)
    assert set(summary.baselines["val"]) == {"predict 1"}  # the whole split's, for the final table


def test_the_whole_split_keeps_its_baselines_when_nothing_is_cut():
    cfg = resolve_config("jump", preset="smoke", overrides={"run.progress": False, "data.val_clips": 24})
    task = get_task("jump")
    data = task.build_data(cfg)
    full = task.baselines(cfg, data, "val")
    for n in (None, 3, 50):  # 24 clips are 3 batches of 8
        cfg.run.eval_batches = n
        periodic = task.periodic_val(cfg, data)
        assert periodic.source is data.val and periodic.subset is None and periodic.max_batches is None
        assert task.curve_baselines(cfg, periodic, full) is full


def _first_batches(source, n):
    return [b for i, b in zip(range(n), source.epoch(0), strict=False)]


@pytest.mark.parametrize("name", ["stocks", "series", "jump", "music"])
def test_each_task_cuts_exactly_the_batches_a_capped_evaluation_reads(name):
    overrides = {"run.progress": False} | ({"data.val_clips": 24} if name == "jump" else {})
    cfg = resolve_config(name, preset="smoke", overrides=overrides)
    task = get_task(name)
    data = task.build_data(cfg)
    n = len(data.val) - 1
    cfg.run.eval_batches = n
    periodic = task.periodic_val(cfg, data)
    assert periodic.subset is not None and periodic.data is not None and periodic.max_batches is None
    got, want = list(periodic.source.epoch(0)), _first_batches(data.val, n)
    assert len(got) == n
    for a, b in zip(got, want, strict=True):
        assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    curve = task.curve_baselines(cfg, periodic, task.baselines(cfg, data, "val"))
    assert curve and all(k.endswith(f"(same {periodic.subset} subset)") for k in curve)
    whole = task.baselines(cfg, data, "val")
    if name in ("stocks", "series"):  # persistence predicts no change: its loss is that of the targets
        std = np.asarray(data.state["scalers"]["target_std"])
        y = torch.cat([b[1] for b in want])[..., 0].double().numpy()  # (S, K) raw targets
        loss = float(np.mean((y / std) ** 2))
        assert curve[f"persistence (same {periodic.subset} subset)"]["loss"] == pytest.approx(loss, rel=1e-6)
        assert whole["persistence"]["loss"] != pytest.approx(loss, rel=1e-6)
    elif name == "jump":
        labels = torch.cat([b[1] for b in want])
        majority = int(torch.bincount(data.train.labels).argmax())
        share = float((labels == majority).float().mean())
        assert curve[f"majority (same {periodic.subset} subset)"]["accuracy"] == share
        assert periodic.subset == f"{len(labels)}-clip"
    else:  # music: the events the capped evaluation predicts
        events = sum(int((b[1] >= 0).sum()) for b in want)
        assert periodic.subset == f"{events:,}-event"
        assert curve[f"bigram (same {periodic.subset} subset)"] != whole["bigram"]
