"""Small untrained run directories for the ``rnnkit serve`` tests (the API's and the browser's)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from rnnkit.tasks.registry import get_task
from rnnkit.tasks.runner import resolve_config
from rnnkit.train.checkpoint import save_checkpoint
from rnnkit.train.config import save_config, to_dict


def make_run(root: Path, task: str) -> Path:
    """A run directory as ``rnnkit train`` leaves it (smoke-sized model, real task state, untrained)."""
    t = get_task(task)
    cfg = resolve_config(task, preset="smoke")
    data = t.build_data(cfg)
    torch.manual_seed(0)
    model = t.build_model(cfg, data.state)
    run = root / f"{task}-run"
    run.mkdir(parents=True)
    save_config(cfg, run)
    save_checkpoint(
        run / "checkpoints" / "best.safetensors",
        model,
        extra={"config": to_dict(cfg), "task_state": data.state},
    )
    (run / "summary.json").write_text(json.dumps({"metrics": {"val": {"loss": 1.5}}}))
    return run
