"""A time-budgeted ``rnnkit train`` killed with SIGKILL — between steps, before its plan, after it, in the
middle of a checkpoint write — and resumed ends bit-identical to the same run never stopped.

The killed process runs under ``tests/kill_driver.py`` with a deterministic clock (a time budget's plan
then does not depend on how busy the test machine is); the reference is the uninterrupted run replayed
from the plan (``--steps N --set optim.max_minutes=none``), which the plan module promises is the same run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rnnkit import cli
from rnnkit.train import read_jsonl, read_meta, trainer
from train_helpers import one_thread  # noqa: F401

TICK = 0.01  # seconds per clock reading: about 30 ms a step, so a 2.4 s budget plans ~75 steps
BASE = ["train", "--task", "text", "--preset", "smoke", "--no-progress", "--set", "optim.warmup_steps=10",
        "--set", "run.checkpoint_every=5", "--set", "run.eval_every=10", "--set", "run.patience=none",
        "--set", "run.plot=false"]  # fmt: skip
BUDGET = ["--steps", "100000", "--max-minutes", "0.04"]
DRIVER = Path(__file__).with_name("kill_driver.py")


def fake_clock(monkeypatch) -> None:
    init = trainer.Trainer.__init__

    def patched(self, *a, **kw):
        init(self, *a, **kw)
        now = [0.0]

        def clock() -> float:
            now[0] += TICK
            return now[0]

        self.clock = clock

    monkeypatch.setattr(trainer.Trainer, "__init__", patched)


def tensors(path: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(str(path)).items() if not k.startswith("rng/")}


def train_rows(run: Path) -> list[tuple[int, float, float]]:
    return [
        (r["step"], r["lr"], r["loss"]) for r in read_jsonl(run / "metrics.jsonl") if r["split"] == "train"
    ]


_REPLAYS: dict[int, Path] = {}


def replay(steps: int, root: Path) -> Path:
    """The uninterrupted run of ``steps`` planned steps (trained once per plan)."""
    if steps not in _REPLAYS:
        name = f"replay-{steps}"
        argv = [
            *BASE,
            "--steps",
            str(steps),
            "--set",
            "optim.max_minutes=none",
            "--out-dir",
            str(root),
            "--name",
            name,
        ]
        assert cli.main(argv) == 0
        _REPLAYS[steps] = root / name
    return _REPLAYS[steps]


@pytest.fixture(scope="module")
def replay_root(tmp_path_factory):
    yield tmp_path_factory.mktemp("replays")
    _REPLAYS.clear()


@pytest.mark.parametrize("kill", ["step:7", "step:33", "partial:5", "replace:9"])
def test_sigkill_and_resume_equals_the_uninterrupted_run(kill, tmp_path, replay_root, monkeypatch, capsys):
    argv = [*BASE, *BUDGET, "--out-dir", str(tmp_path), "--name", "r"]
    proc = subprocess.run(
        [sys.executable, str(DRIVER), "--tick", str(TICK), "--kill", kill, "--", *argv],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]  # died by SIGKILL, not by an error
    run = tmp_path / "r"
    before = read_meta(run / "checkpoints" / "last.safetensors")["trainer"]["step"]
    if kill.startswith(("partial", "replace")):
        assert list((run / "checkpoints").glob(".last.safetensors.*.tmp")), "the kill left no temporary file"

    fake_clock(monkeypatch)
    assert cli.main(["train", "--resume", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    assert not list(run.rglob("*.tmp")), "the resumed run left the killed process's temporary files"

    meta = read_meta(run / "checkpoints" / "last.safetensors")["trainer"]
    plan = meta["plan"]
    assert plan["step_seconds"] is not None and plan["decay_start"] == 10 and 30 < plan["steps"] < 1000
    assert meta["step"] == plan["steps"] > before
    ref = replay(plan["steps"], replay_root)
    assert train_rows(run) == train_rows(ref)  # every step's learning rate and loss
    for kind in ("last", "best"):
        a, b = (
            tensors(run / "checkpoints" / f"{kind}.safetensors"),
            tensors(ref / "checkpoints" / f"{kind}.safetensors"),
        )
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), f"{kind}: resumed ≠ uninterrupted"
