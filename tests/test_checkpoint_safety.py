"""Checkpoint safety at the library level: damaged files are refused naming the file, weights that do not
fit a model name the parameter, a run's checkpoint is checked against its config.json, a resume writes
nothing until its checkpoint is known to be sound, and temporary files of interrupted writes are cleaned
up (only ours, only orphans)."""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import time

import pytest
import torch
from torch import nn

from rnnkit import cli
from rnnkit._io import atomic_open, atomic_write_text, clean_orphans, is_orphan
from rnnkit.tasks import runner
from rnnkit.train import load_checkpoint, load_weights, read_meta, save_checkpoint
from rnnkit.train.checkpoint import CheckpointError, check_weights

SMOKE = ["--task", "text", "--preset", "smoke", "--no-progress"]


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    model = nn.GRU(3, 4)
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(5, 2, 3))[0].sum().backward()
    opt.step()
    return save_checkpoint(tmp_path / "ck.safetensors", model, opt, extra={"note": 1})


def _damaged(checkpoint, how: str):
    data = checkpoint.read_bytes()
    out = {
        "half": data[: len(data) // 2],
        "tail": data[:-3],
        "header-only": data[:8],
        "empty": b"",
        "random": os.urandom(2000),
        "pickle": pickle.dumps({"w": torch.zeros(3)}),
        "torch-save": None,
        "longer": data + b"\0" * 16,
    }[how]
    if how == "torch-save":
        torch.save({"w": torch.zeros(3)}, checkpoint)
    else:
        checkpoint.write_bytes(out)
    return checkpoint


@pytest.mark.parametrize(
    "how", ["half", "tail", "header-only", "empty", "random", "pickle", "torch-save", "longer"]
)
@pytest.mark.parametrize("loader", [load_checkpoint, read_meta, load_weights])
def test_damaged_checkpoints_are_refused_naming_the_file(checkpoint, how, loader):
    path = _damaged(checkpoint, how)
    with pytest.raises(CheckpointError) as e:
        loader(path)
    assert isinstance(e.value, ValueError)
    assert str(path) in str(e.value) and "not a readable safetensors file" in str(e.value)
    if how in ("pickle", "torch-save"):
        assert "pickle" in str(e.value)
    if how == "empty":
        assert "empty" in str(e.value)


def test_a_directory_or_a_missing_file_is_named(tmp_path):
    (tmp_path / "d.safetensors").mkdir()
    with pytest.raises(CheckpointError, match="is a directory"):
        load_checkpoint(tmp_path / "d.safetensors")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_meta(tmp_path / "none.safetensors")


def test_metadata_of_a_newer_version_or_not_matching_the_tensors(tmp_path, checkpoint):
    from safetensors.torch import load_file, save_file

    tensors = load_file(checkpoint)
    meta = read_meta(checkpoint)
    save_file(tensors, tmp_path / "new.safetensors", metadata={"rnnkit": json.dumps(meta | {"version": 99})})
    with pytest.raises(CheckpointError, match="newer rnnkit"):
        load_checkpoint(tmp_path / "new.safetensors")
    bad = meta | {"aliases": {"weight_hh_l0": "missing"}}
    save_file(tensors, tmp_path / "bad.safetensors", metadata={"rnnkit": json.dumps(bad)})
    with pytest.raises(CheckpointError, match="does not match its tensors"):
        load_checkpoint(tmp_path / "bad.safetensors")
    save_file(tensors, tmp_path / "junk.safetensors", metadata={"rnnkit": "{not json"})
    with pytest.raises(CheckpointError, match="not JSON"):
        read_meta(tmp_path / "junk.safetensors")


def test_check_weights_names_the_parameter_and_both_shapes(checkpoint):
    weights = load_weights(checkpoint)
    check_weights(nn.GRU(3, 4), weights, checkpoint)  # fits
    with pytest.raises(CheckpointError) as e:
        check_weights(nn.GRU(3, 5), weights, checkpoint)
    assert "parameter 'weight_ih_l0' has shape (12, 3) in the checkpoint, the model expects (15, 3)" in str(
        e.value
    )
    with pytest.raises(CheckpointError, match="it lacks 'weight_ih_l1'"):
        check_weights(nn.GRU(3, 4, num_layers=2), weights, checkpoint)
    with pytest.raises(CheckpointError, match="which the model does not"):
        check_weights(nn.GRU(3, 4, bias=False), weights, checkpoint)


# -- runs ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two finished smoke runs: text (hidden 32) and text with hidden 16."""
    root = tmp_path_factory.mktemp("runs")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert cli.main(["train", *SMOKE, "--out-dir", str(root), "--name", "a"]) == 0
        assert (
            cli.main(
                ["train", *SMOKE, "--out-dir", str(root), "--name", "h16", "--set", "model.hidden_size=16"]
            )
            == 0
        )
    finally:
        torch.set_num_threads(threads)
    return root


def _copy_run(runs, tmp_path, name="a"):
    return shutil.copytree(runs / name, tmp_path / name)


def test_load_run_refuses_a_checkpoint_of_another_architecture(runs, tmp_path):
    run = _copy_run(runs, tmp_path)
    shutil.copyfile(
        runs / "h16" / "checkpoints" / "best.safetensors", run / "checkpoints" / "best.safetensors"
    )
    with pytest.raises(
        ValueError, match=re.escape("model.hidden_size = 16 in the checkpoint, 32 in config.json")
    ):
        runner.load_run(run)
    # the file alone (no config.json beside it) loads as what it is
    loaded = runner.load_run(runs / "h16" / "checkpoints" / "best.safetensors")
    assert loaded.cfg.model.hidden_size == 16


def test_load_run_checks_shapes_against_the_checkpoints_own_config(runs, tmp_path):
    """A checkpoint whose weights do not fit the config stored inside it (edited metadata)."""
    from safetensors.torch import load_file, save_file

    src = runs / "a" / "checkpoints" / "best.safetensors"
    meta = read_meta(src)
    meta["extra"]["config"]["model"]["hidden_size"] = 24
    save_file(load_file(src), tmp_path / "x.safetensors", metadata={"rnnkit": json.dumps(meta)})
    with pytest.raises(
        CheckpointError, match=r"has shape \(128, 16\) in the checkpoint, the model expects \(96, 16\)"
    ):
        runner.load_run(tmp_path / "x.safetensors")


def test_load_run_refuses_a_task_it_was_not_asked_for(runs):
    with pytest.raises(ValueError, match="is a 'text' run, not 'compose'"):
        runner.load_run(runs / "a", tasks=["compose"])


def test_failed_resume_writes_nothing_and_points_to_best(runs, tmp_path, capsys):
    run = _copy_run(runs, tmp_path)
    last = run / "checkpoints" / "last.safetensors"
    last.write_bytes(last.read_bytes()[:1000])
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert cli.main(["train", "--resume", str(run), "--steps", "12"]) == 2
    err = capsys.readouterr().err
    assert str(last) in err and "best.safetensors' (step 10) is sound" in err and "Traceback" not in err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    # following the advice resumes the run
    shutil.copyfile(run / "checkpoints" / "best.safetensors", last)
    assert cli.main(["train", "--resume", str(run), "--steps", "12", "--no-progress"]) == 0
    assert json.loads((run / "summary.json").read_text())["steps"] == 12


def test_a_run_that_fails_before_training_leaves_no_folder(tmp_path, monkeypatch):
    from rnnkit.tasks.text import TextTask

    def broken(self, cfg, state):
        raise ValueError("model.cell cannot be built here")

    monkeypatch.setattr(TextTask, "build_model", broken)
    cfg = runner.resolve_config("text", preset="smoke", overrides={"run.out_dir": str(tmp_path / "out")})
    with pytest.raises(ValueError, match="cannot be built"):
        runner.train(cfg, echo=lambda s: None)
    assert not (tmp_path / "out").exists()


def test_a_run_whose_trainer_fails_to_start_removes_its_new_folder(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("the trainer refuses")

    monkeypatch.setattr(runner, "Trainer", broken)
    out = tmp_path / "runs" / "new"  # run.out_dir does not exist yet: it goes too
    cfg = runner.resolve_config("text", preset="smoke", overrides={"run.out_dir": str(out), "run.name": "r"})
    with pytest.raises(ValueError, match="refuses"):
        runner.train(cfg, echo=lambda s: None)
    assert list(tmp_path.iterdir()) == []


# -- orphaned temporary files ------------------------------------------------------------------------------
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _aged(path, seconds=3600):
    t = time.time() - seconds
    os.utime(path, (t, t))
    return path


def test_temporary_names_carry_the_writers_pid(tmp_path):
    with atomic_open(tmp_path / "x.json", "w") as f:
        tmp = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        f.write("{}")
        assert len(tmp) == 1 and tmp[0].name.startswith(f".x.json.{os.getpid()}.")
        assert not is_orphan(_aged(tmp[0]))  # this process is alive: never an orphan
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def _touch(path):
    path.write_bytes(b"x")
    return path


def test_clean_orphans_removes_only_our_leftovers(tmp_path):
    ck = tmp_path / "checkpoints"
    ck.mkdir()
    dead = _dead_pid()
    orphan = _touch(ck / f".last.safetensors.{dead}.abcd1234.tmp")  # its writer is gone
    legacy = _aged(_touch(tmp_path / ".config.json.k2j4x9q_.tmp"))  # no pid (older names): by age
    young = _touch(ck / ".best.safetensors.zzzz1111.tmp")  # no pid and just written: left alone
    live = _aged(_touch(ck / f".best.safetensors.{os.getppid()}.yyyy2222.tmp"))  # its writer still runs
    mine = _aged(_touch(ck / f".best.safetensors.{os.getpid()}.xxxx3333.tmp"))
    reused = _aged(_touch(ck / f".best.safetensors.{os.getppid()}.wwww4444.tmp"), 2 * 86400)
    other = _aged(_touch(tmp_path / "notes.tmp"))  # not our pattern
    hidden = _aged(_touch(tmp_path / ".cache.tmp"))
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    too_deep = _touch(deep / f".x.{dead}.abcdefgh.tmp")
    removed = clean_orphans(tmp_path)
    assert sorted(removed) == sorted([orphan, legacy, reused])
    for p in (young, live, mine, other, hidden, too_deep):
        assert p.exists(), p


def test_resume_removes_orphans_of_the_run(runs, tmp_path, capsys):
    run = _copy_run(runs, tmp_path)
    orphan = _aged(_touch(run / "checkpoints" / f".last.safetensors.{_dead_pid()}.abcd1234.tmp"))
    young = _touch(run / ".metrics.jsonl.abcd1234.tmp")  # no pid, just now: perhaps being written
    assert cli.main(["train", "--resume", str(run), "--steps", "11", "--no-progress"]) == 0
    assert "removed 1 temporary file(s)" in capsys.readouterr().out
    assert not orphan.exists() and young.exists()


def test_atomic_write_to_a_directory_names_it(tmp_path):
    with pytest.raises(IsADirectoryError) as e:
        atomic_write_text(tmp_path, "x")
    assert e.value.filename == str(tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
