"""Quality floors of the ``jump`` and ``compose`` demos (minutes each: ``pytest -m slow``, run with the
benchmarks, not in CI). Step budgets instead of time budgets, so a busy machine does not change the
verdict. Shorter runs of every demo against its baselines, jump and compose included, run in CI:
tests/test_demo_floors_ci.py."""

from __future__ import annotations

import pytest

from rnnkit.tasks import resolve_config, train

pytestmark = pytest.mark.slow


def _run(task: str, tmp_path, steps: int, **overrides):
    cfg = resolve_config(
        task,
        preset="tour",
        overrides={
            "optim.max_steps": steps,
            "optim.max_minutes": None,
            "run.out_dir": str(tmp_path),
            "run.progress": False,
            **overrides,
        },
    )
    return train(cfg, echo=lambda s: None)


def test_jump_floor_order_control_and_no_single_frame(tmp_path):
    art = _run("jump", tmp_path, 400).artifacts
    assert art["floor_met"], art["verdict"]  # test accuracy >= 0.95
    assert art["order_matters"], art["verdict"]  # frames shuffled: >= 0.2 lower
    assert art["no_single_frame"], art["verdict"]  # best per-frame baseline: >= 0.2 lower


def test_compose_beats_the_bigram(tmp_path):
    summary = _run("compose", tmp_path, 1500)
    assert summary.artifacts["floor_met"], summary.artifacts["verdict"]
    val = summary.metrics["val"]
    assert val["top1"] > summary.baselines["val"]["bigram"]["top1"]
