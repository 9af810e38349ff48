"""Data-parallel training on torch.distributed (``torchrun``, gloo on CPU, on loopback).

- Two processes with ``data.batch_size`` b reach the weights one process reaches with 2b (a windowed
  task and the TBPTT text task, whose carried state each process keeps for its own streams): the
  gradients are averaged exactly, so only float summation order differs (tolerance 1e-5).
- A process killed with SIGKILL mid-run: torchrun (``--max-restarts 1``) restarts the group, which
  resumes from the last checkpoint and ends with exactly the weights of an uninterrupted run.
- Rank 0 alone writes (one metrics row per step), a run resumed with another process count stops with
  a clear message, and the pieces (sharding, loss weights, per-step seeds) do what they say.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnnkit import cli
from rnnkit.train import distributed as D
from rnnkit.train.checkpoint import load_checkpoint

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
#: task -> (flags of a tiny run, per-process batch)
RUNS = {
    "adding": ["--task", "adding", "--preset", "smoke", "--steps", "20"],
    "text": ["--task", "text", "--preset", "smoke", "--steps", "12"],
}
COMMON = ["--no-progress", "--set", "run.checkpoint_every=5", "--set", "run.plot=false"]
WEIGHT_TOL = {"atol": 1e-5, "rtol": 1e-5}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "TORCHELASTIC_RUN_ID")}
    return env | {"OMP_NUM_THREADS": "1"} | extra


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env or _env(), capture_output=True, text=True, timeout=240)
    shown = " ".join(command[2:])
    assert done.returncode == 0, f"{shown} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _train(cwd: Path, task: str, name: str, batch: int, nproc: int, *extra: str, env=None):
    args = ["train", *RUNS[task], *COMMON, "--name", name, "--set", f"data.batch_size={batch}", *extra]
    if nproc == 1:
        command = [sys.executable, "-m", "rnnkit", *args, "--threads", "1"]
    else:
        command = [*TORCHRUN, f"--nproc-per-node={nproc}", "-m", "rnnkit", *args]
    return _run(command, cwd, env)


def _last(run: Path):
    return load_checkpoint(run / "checkpoints" / "last.safetensors")


@pytest.fixture(scope="module", params=list(RUNS))
def pair(request, tmp_path_factory):
    """(task, folder, one process with batch 8, two processes with batch 4 each) — finished runs."""
    task, cwd = request.param, tmp_path_factory.mktemp(request.param)
    _train(cwd, task, "one", 8, 1)
    two = _train(cwd, task, "two", 4, 2)
    return task, cwd, cwd / "runs" / "one", cwd / "runs" / "two", two


def test_two_processes_equal_one_with_the_global_batch(pair):
    task, _, one, two, done = pair
    a, b = _last(one), _last(two)
    assert a.meta["trainer"]["step"] == b.meta["trainer"]["step"] == int(RUNS[task][-1])
    assert b.meta["trainer"]["world_size"] == 2 and a.meta["trainer"]["world_size"] == 1
    assert a.model.keys() == b.model.keys()
    for k in a.model:
        torch.testing.assert_close(b.model[k], a.model[k], **WEIGHT_TOL, msg=f"{task}: {k}")
    moved = max(float((a.model[k] - _init(task)[k]).abs().max()) for k in a.model)
    assert moved > 1e-3  # the runs trained: equal weights are not both the initial ones
    assert b.meta["trainer"]["items_seen"] == a.meta["trainer"]["items_seen"]  # all ranks' items
    # one process wrote: one row per step, the summary, and no rank printed twice
    rows = [json.loads(line) for line in (two / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows if r["split"] == "train"]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) == int(RUNS[task][-1])
    summaries = [json.loads((run / "summary.json").read_text()) for run in (one, two)]
    assert summaries[1]["steps"] == len(steps)
    for name, value in summaries[0]["metrics"]["val"].items():  # rank 0 evaluated the same model
        assert summaries[1]["metrics"]["val"][name] == pytest.approx(value, rel=1e-4), name
    assert done.stdout.count("run directory:") == 1 and "2 processes" in done.stdout
    if task == "text":  # each process's carried streams are kept, in rank order
        carry = b.carry
        assert isinstance(carry, list) and len(carry) == 2 and carry[0][0].shape[1] == 4


_INITS: dict[str, dict[str, torch.Tensor]] = {}


def _init(task: str) -> dict[str, torch.Tensor]:
    """The model's initial weights of the runs above (seed 0, built as the runner builds it)."""
    if task not in _INITS:
        from rnnkit.tasks.registry import get_task
        from rnnkit.tasks.runner import resolve_config
        from rnnkit.train.checkpoint import seed_everything

        t = get_task(task)
        cfg = resolve_config(task, preset="smoke", overrides={"data.batch_size": 8})
        seed_everything(cfg.run.seed)
        data = t.build_data(cfg)
        _INITS[task] = t.build_model(cfg, data.state).state_dict()
    return _INITS[task]


def test_a_killed_process_is_restarted_and_the_run_ends_as_if_uninterrupted(pair):
    """``rnnkit train --nproc 2 --max-restarts 1``; rank 1 kills itself (SIGKILL) after a step past a
    checkpoint; torchrun restarts both, they resume from that checkpoint (rank 0's carried streams and
    rank 1's) and finish with exactly the uninterrupted run's weights."""
    task, cwd, _, two, _ = pair
    kill_at = 8 if task == "text" else 13  # checkpoints every 5 steps
    env = _env(**{D.FAULT_ENV: f"1:{kill_at}"})
    args = ["train", *RUNS[task], *COMMON, "--name", "killed", "--set", "data.batch_size=4"]
    done = _run([sys.executable, "-m", "rnnkit", *args, "--nproc", "2", "--max-restarts", "1"], cwd, env)
    assert "exitcode: -9" in done.stderr or "SIGKILL" in done.stderr, done.stderr[-2000:]
    assert "resuming at step" in done.stdout
    a, b = _last(two), _last(cwd / "runs" / "killed")
    assert b.meta["trainer"]["step"] == a.meta["trainer"]["step"]
    for k in a.model:
        assert torch.equal(a.model[k], b.model[k]), f"{task}: {k} differs from the uninterrupted run"
    assert not list((cwd / "runs").glob(".torchrun-*"))  # the finished job's restart note is gone


def test_resume_with_another_process_count_stops_with_a_clear_message(pair, capsys):
    _, _, _, two, _ = pair
    assert cli.main(["train", "--resume", str(two), "--steps", "30", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "trained by 2 process(es)" in err and "this run has 1" in err and "--nproc 2" in err


# -- the pieces ---------------------------------------------------------------------------------------
def test_shard_splits_every_tensor_by_rows_and_the_shards_make_the_batch():
    x, y, lengths = torch.randn(7, 3, 2), torch.arange(7), torch.tensor(5)
    batch = (x, {"y": y, "name": "kept"}, lengths)
    parts = [D.shard(batch, r, 3) for r in range(3)]
    assert [p[0].shape[0] for p in parts] == [3, 2, 2]
    torch.testing.assert_close(torch.cat([p[0] for p in parts]), x, rtol=0, atol=0)
    assert torch.equal(torch.cat([p[1]["y"] for p in parts]), y)
    assert all(p[1]["name"] == "kept" and p[2] is lengths for p in parts)  # non-tensors, scalars pass
    assert D.batch_rows(batch) == 7 and D.batch_rows(("a", 1)) is None


def test_shard_source_skips_batches_smaller_than_the_group_and_keeps_streams_in_place():
    class Src:
        def epoch(self, epoch, start=0):
            batches = [torch.arange(8).view(4, 2), torch.arange(2).view(1, 2), torch.arange(6).view(3, 2)]
            yield from batches[start:]

        def __len__(self):
            return 3

    src = D.ShardSource(Src(), D.DistContext(rank=1, world_size=2))
    got = list(src.epoch(0))
    assert len(got) == 2 and len(src) == 3
    assert got[0].tolist() == [[4, 5], [6, 7]] and got[1].tolist() == [[4, 5]]  # rank 1: the last rows


def test_loss_weights_make_the_mean_gradient_the_global_batch_mean():
    counts, means = [3, 5], [torch.tensor(2.0), torch.tensor(10.0)]
    total, world = sum(counts), len(counts)
    ddp_mean = sum(D.loss_scale(c, total, world) * m for c, m in zip(counts, means, strict=True)) / world
    assert float(ddp_mean) == pytest.approx((3 * 2 + 5 * 10) / 8)
    assert D.loss_scale(0, 0, 2) == 0.0


def test_context_from_env(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(k, raising=False)
    assert D.context_from_env() == D.SINGLE and not D.SINGLE.active and D.SINGLE.is_main
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    ctx = D.context_from_env()
    assert (ctx.rank, ctx.world_size, ctx.local_rank, ctx.local_world_size) == (3, 4, 1, 2)
    assert ctx.active and not ctx.is_main
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ValueError, match=r"RANK must be in \[0, WORLD_SIZE\), got RANK=4, WORLD_SIZE=4"):
        D.context_from_env()
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(ValueError, match="RANK must be an integer, got 'x'"):
        D.context_from_env()


def test_per_step_seeds_depend_on_seed_rank_and_step_only():
    def draw(seed, rank, step):
        D.seed_step(seed, rank, step)
        return torch.rand(4)

    assert torch.equal(draw(0, 1, 7), draw(0, 1, 7))
    others = [draw(0, 0, 7), draw(0, 1, 8), draw(1, 1, 7)]
    assert all(not torch.equal(draw(0, 1, 7), o) for o in others)


def test_fault_injection_names_one_rank_and_only_the_first_attempt(monkeypatch):
    monkeypatch.setenv(D.FAULT_ENV, "1:5")
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "0")
    assert [c.step for c in D.fault_callbacks(D.DistContext(1, 2))] == [5]
    assert D.fault_callbacks(D.DistContext(0, 2)) == []
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    assert D.fault_callbacks(D.DistContext(1, 2)) == []
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "0")
    monkeypatch.setenv(D.FAULT_ENV, "5")
    with pytest.raises(ValueError, match="RNNKIT_FAULT_KILL must be RANK:STEP"):
        D.fault_callbacks(D.DistContext(1, 2))


def test_nproc_flag_checks(capsys, monkeypatch):
    for k in ("WORLD_SIZE", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(k, raising=False)
    assert cli.main(["train", "--task", "adding", "--nproc", "0"]) == 2
    assert "--nproc must be at least 1, got 0" in capsys.readouterr().err
    assert cli.main(["train", "--task", "adding", "--nproc", "2", "--max-restarts", "-1"]) == 2
    assert "--max-restarts must be at least 0, got -1" in capsys.readouterr().err
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job")
    assert cli.main(["train", "--task", "adding", "--nproc", "3"]) == 2
    assert "given inside a torchrun group of 2 processes" in capsys.readouterr().err
