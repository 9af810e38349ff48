"""The command line: help for every command, train → evaluate → generate end to end on the text task,
resume through the CLI, Ctrl-C in a real process, clear errors, the placeholders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rnnkit import cli
from rnnkit.train import load_weights, read_jsonl
from train_helpers import one_thread  # noqa: F401

SMOKE = ["--preset", "smoke", "--no-progress"]


def run_cli(*argv: str) -> int:
    return cli.main([str(a) for a in argv])


@pytest.mark.parametrize("command", cli.COMMANDS)  # every sub-command the CLI registers
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        run_cli(command, "--help")
    assert e.value.code == 0
    assert len(capsys.readouterr().out) > 200


def test_train_evaluate_generate_end_to_end(tmp_path, capsys):
    assert run_cli("train", *SMOKE, "--out-dir", tmp_path, "--name", "r1") == 0
    out = capsys.readouterr().out
    assert "baseline bigram (val)" in out and "unigram" in out and "bpc" in out
    run = tmp_path / "r1"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 10 and summary["stop_reason"] == "max_steps"

    assert run_cli("evaluate", run) == 0
    table = capsys.readouterr().out
    assert "bigram" in table
    saved = json.loads((run / "eval-val-best.json").read_text())
    assert saved["metrics"]["bpc"] == pytest.approx(summary["metrics"]["val"]["bpc"], rel=1e-6)

    args = ("generate", "--out-dir", tmp_path, "--prime", "And God said", "--steps", 80, "--seed", 7)
    assert run_cli(*args, "--out", tmp_path / "g.txt") == 0
    first = capsys.readouterr().out
    assert first.startswith("And God said") and len(first.rstrip("\n")) == len("And God said") + 80
    assert (tmp_path / "g.txt").read_text() == first
    assert run_cli(*args) == 0
    assert capsys.readouterr().out == first  # same seed, same text
    assert run_cli("generate", run, "--steps", 80, "--seed", 8, "--top-k", 5, "--top-p", 0.9) == 0
    assert capsys.readouterr().out != first


def test_cli_resume_extends_a_run_exactly(tmp_path, capsys):
    same = ["--set", "optim.schedule=constant", "--set", "optim.warmup_steps=0", "--out-dir", tmp_path]
    assert run_cli("train", *SMOKE, *same, "--name", "full", "--steps", 12) == 0
    assert run_cli("train", *SMOKE, *same, "--name", "part", "--steps", 7) == 0
    assert run_cli("train", "--resume", tmp_path / "part", "--steps", 12, "--no-progress") == 0
    a = load_weights(tmp_path / "full" / "checkpoints" / "last.safetensors")
    b = load_weights(tmp_path / "part" / "checkpoints" / "last.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [r["step"] for r in read_jsonl(tmp_path / "part" / "metrics.jsonl") if r["split"] == "train"]
    assert steps == list(range(1, 13))
    assert run_cli("train", "--resume", tmp_path / "part", "--set", "model.hidden_size=64") == 2
    assert "cannot change model.hidden_size" in capsys.readouterr().err


def test_config_file_show_config_and_typos(tmp_path, capsys):
    cfg = tmp_path / "exp.toml"
    cfg.write_text('task = "text"\n[model]\ncell = "gru"\n[optim]\nlr = 0.005\n')
    assert run_cli("train", "--config", cfg, "--set", "optim.lr=1e-3", "--show-config") == 0
    shown = capsys.readouterr().out
    assert 'model.cell = "gru"' in shown and "optim.lr = 0.001" in shown
    assert run_cli("train", "--set", "optim.lrr=1e-3", "--show-config") == 2
    err = capsys.readouterr().err
    assert "unknown config key 'optim.lrr'; did you mean 'optim.lr'?" in err and "optim.clip_norm" in err
    assert run_cli("train", "--task", "adding", "--cell", "urgru", "--show-config") == 0
    assert 'model.cell = "urgru"' in capsys.readouterr().out
    assert run_cli("train", "--task", "adding", "--cell", "nosuch", "--show-config") == 2
    err = capsys.readouterr().err
    assert "model.cell must be a registered cell" in err and "'urlstm'" in err and "'nosuch'" in err
    assert run_cli("train", "--preset", "nope", "--show-config") == 2
    assert "preset must be one of" in capsys.readouterr().err
    assert run_cli("train", "--text", tmp_path / "missing.txt", *SMOKE, "--out-dir", tmp_path) == 2
    assert "does not exist" in capsys.readouterr().err


def test_generate_and_evaluate_without_a_run(tmp_path, capsys):
    assert run_cli("generate", "--out-dir", tmp_path / "none") == 2
    assert "no trained text run" in capsys.readouterr().err
    assert run_cli("evaluate", tmp_path / "nothing-here") == 2
    assert "does not exist" in capsys.readouterr().err


def test_forecast_without_a_run(tmp_path, capsys):
    assert run_cli("forecast", "--out-dir", tmp_path / "none") == 2
    assert "no trained stocks run" in capsys.readouterr().err
    assert run_cli("forecast", tmp_path / "nothing-here") == 2
    assert "does not exist" in capsys.readouterr().err


def test_ctrl_c_in_a_real_process_saves_and_resumes(tmp_path):
    """SIGINT to `rnnkit train`: it stops after the step, saves, exits 130; --resume finishes the run."""
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "rnnkit.cli", "train", *SMOKE, "--out-dir", str(tmp_path), "--name", "r"]
    cmd += ["--steps", "100000", "--set", "run.eval_every=1000"]
    # Ctrl-C as in a terminal: an ignored SIGINT (a pytest started in the background) would stay ignored
    terminal = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=terminal
    )
    log = Path(tmp_path / "r" / "metrics.jsonl")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if log.exists() and log.stat().st_size > 0:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "continue with: rnnkit train --resume" in out
    step = read_jsonl(log)[-1]["step"]
    assert step >= 1 and json.loads((tmp_path / "r" / "config.json").read_text())["task"] == "text"
    from rnnkit.train import read_meta

    assert read_meta(tmp_path / "r" / "checkpoints" / "last.safetensors")["trainer"]["step"] == step
    assert (
        cli.main(["train", "--resume", str(tmp_path / "r"), "--steps", str(step + 3), "--no-progress"]) == 0
    )
    assert read_jsonl(log)[-1]["step"] == step + 3
