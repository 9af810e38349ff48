"""Bad run directories and run arguments: a run that does not exist (for every command), a file where a
folder belongs and a folder where a file belongs, a broken or edited ``config.json`` on ``--resume``,
settings a resume may not change, a task flag given to a task without it, a data file that fails before
training (no empty run folder left behind), and orphaned temporary files that a failed command leaves
alone."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from . import Case, chain, trained_run, write

TEXT = trained_run("text", "t")
SERIES = trained_run("series", "s")
CONFIG = "runs/t/config.json"
LAST = "runs/t/checkpoints/last.safetensors"
SMOKE = ["--preset", "smoke", "--no-progress"]


def _edit_config(name: str, **changes):
    """A setup that changes ``section.key`` values (``data__seq_len=30``) or the task of a config.json."""

    def setup(root: Path) -> None:
        path = root / name
        data = json.loads(path.read_text())
        for key, value in changes.items():
            if key == "task":
                data["task"] = value
            else:
                section, field = key.split("__", 1)
                data[section][field] = value
        path.write_text(json.dumps(data, indent=2) + "\n")

    return setup


def _remove(name: str):
    def setup(root: Path) -> None:
        (root / name).unlink()

    return setup


def _copy(src: str, dst: str):
    def setup(root: Path) -> None:
        (root / dst).write_bytes((root / src).read_bytes())

    return setup


def _mkdir(name: str):
    def setup(root: Path) -> None:
        (root / name).mkdir(parents=True)

    return setup


def _orphan(name: str):
    """A temporary file an interrupted atomic write left behind an hour ago (by a process now gone)."""

    def setup(root: Path) -> None:
        path = root / name
        path.write_bytes(b"half a checkpoint")
        old = time.time() - 3600
        os.utime(path, (old, old))

    return setup


ORPHAN = "runs/t/checkpoints/.last.safetensors.999999999.abcd1234.tmp"

MISSING = [
    ("evaluate", ["evaluate", "runs/nope"]),
    ("generate", ["generate", "runs/nope", "--steps", "5"]),
    ("forecast", ["forecast", "runs/nope"]),
    ("compose", ["compose", "--run", "runs/nope", "And the LORD"]),
    ("export", ["export", "runs/nope", "--format", "onnx"]),
    ("diagnose", ["diagnose", "runs/nope", "--no-exploding"]),
    ("resume", ["train", "--resume", "runs/nope"]),
]

CASES: list[Case] = [
    # -- a run that does not exist, for every command ---------------------------------------------------
    *(
        Case(f"runs-{cmd}-missing-run", argv=argv, names=["runs/nope", "does not exist"])
        for cmd, argv in MISSING
    ),
    # -- files where folders belong, folders where files belong -------------------------------------------
    Case(
        "runs-train-out-dir-is-a-file",
        argv=["train", "--task", "text", *SMOKE, "--out-dir", "notes.txt"],
        setup=write("notes.txt", "not a folder\n"),
        names=["notes.txt", "is a file", "out-dir"],
    ),
    Case(
        "runs-train-out-dir-inside-a-file",
        argv=["train", "--task", "text", *SMOKE, "--out-dir", "notes.txt/runs"],
        setup=write("notes.txt", "not a folder\n"),
        names=["notes.txt", "is a file"],
    ),
    Case(
        "runs-evaluate-out-dir-is-a-file",
        argv=["evaluate", "--out-dir", "notes.txt"],
        setup=write("notes.txt", "not a folder\n"),
        names=["notes.txt", "is a file"],
    ),
    Case(
        "runs-resume-is-a-file",
        argv=["train", "--resume", "notes.txt"],
        setup=write("notes.txt", "not a run\n"),
        names=["notes.txt", "is a file", "run directory"],
    ),
    Case(
        "runs-config-is-a-directory",
        argv=["train", "--config", "exp.toml", "--show-config"],
        setup=_mkdir("exp.toml"),
        names=["exp.toml", "is a directory"],
    ),
    Case(
        "runs-generate-out-is-a-directory",
        argv=["generate", "runs/t", "--steps", "5", "--out", "samples"],
        setup=chain(TEXT, _mkdir("samples")),
        names=["samples", "is a directory"],
    ),
    Case(
        "runs-export-out-is-a-directory",
        argv=["export", "runs/t", "--format", "onnx", "--out", "model.onnx"],
        setup=chain(TEXT, _mkdir("model.onnx")),
        names=["model.onnx", "is a directory"],
    ),
    Case(
        "runs-diagnose-out-is-a-file",
        argv=["diagnose", "runs/t", "--no-exploding", "--out", "notes.txt"],
        setup=chain(TEXT, write("notes.txt", "not a folder\n")),
        names=["notes.txt", "is a file"],
    ),
    Case(
        "runs-tour-out-is-a-file",
        argv=["tour", "--smoke", "--out", "notes.txt"],
        setup=write("notes.txt", "not a folder\n"),
        names=["notes.txt", "is a file"],
    ),
    # -- config.json of a resumed run ---------------------------------------------------------------------
    Case(
        "runs-resume-config-not-json",
        argv=["train", "--resume", "runs/t"],
        setup=chain(TEXT, write(CONFIG, "{task = 'text'")),
        names=[CONFIG, "not valid json"],
    ),
    Case(
        "runs-resume-config-binary",
        argv=["train", "--resume", "runs/t"],
        setup=chain(TEXT, write(CONFIG, bytes(range(256)))),
        names=[CONFIG, "not text"],
    ),
    Case(
        "runs-resume-config-wrong-shape",
        argv=["train", "--resume", "runs/t"],
        setup=chain(TEXT, write(CONFIG, "[1, 2, 3]\n")),
        names=[CONFIG, "json object"],
    ),
    Case(
        "runs-resume-config-unknown-task",
        argv=["train", "--resume", "runs/t"],
        setup=chain(TEXT, _edit_config(CONFIG, task="nosuch")),
        names=[CONFIG, "nosuch"],
    ),
    Case(
        "runs-resume-config-missing",
        argv=["train", "--resume", "runs/t"],
        setup=chain(TEXT, _remove(CONFIG)),
        names=["runs/t", "config.json"],
    ),
    Case(
        "runs-resume-config-of-another-task",
        argv=["train", "--resume", "runs/t", "--no-progress"],
        setup=chain(TEXT, SERIES, _copy("runs/s/config.json", CONFIG)),
        names=[LAST, "text run", "series run"],
    ),
    Case(
        "runs-resume-config-edited",
        argv=["train", "--resume", "runs/t", "--no-progress"],
        setup=chain(TEXT, _edit_config(CONFIG, data__seq_len=31)),
        names=[LAST, "data.seq_len", "31", "config.json"],
    ),
    Case(
        "runs-resume-changes-a-fixed-key",
        argv=["train", "--resume", "runs/t", "--set", "model.hidden_size=64"],
        setup=TEXT,
        names=["model.hidden_size", "cannot change"],
    ),
    Case(
        "runs-resume-with-task",
        argv=["train", "--resume", "runs/t", "--task", "text"],
        setup=TEXT,
        names=["--resume", "--task"],
    ),
    Case(
        "runs-resume-no-checkpoint-yet",
        argv=["train", "--resume", "runs/t", "--no-progress"],
        setup=chain(TEXT, _remove(LAST), _remove("runs/t/checkpoints/best.safetensors")),
        names=["runs/t", "last.safetensors", "no checkpoint"],
    ),
    Case(
        "runs-resume-orphan-tmp-left-alone-on-failure",
        argv=["train", "--resume", "runs/t"],
        setup=chain(TEXT, _orphan(ORPHAN), write(CONFIG, "")),
        names=[CONFIG, "not valid json"],
    ),
    Case(
        "runs-name-already-holds-a-run",
        argv=["train", "--task", "text", *SMOKE, "--out-dir", "runs", "--name", "t"],
        setup=TEXT,
        names=["runs/t", "already holds a run", "--resume"],
    ),
    # -- task flags ---------------------------------------------------------------------------------------
    Case(
        "runs-text-flag-for-series",
        argv=["train", "--task", "series", "--text", "notes.txt", "--show-config"],
        setup=write("notes.txt", "In the beginning\n"),
        names=["--text", "series", "text, compose"],
    ),
    Case(
        "runs-csv-flag-for-text",
        argv=["train", "--task", "text", "--csv", "prices.csv", "--show-config"],
        setup=write("prices.csv", "date,close\n2020-01-01,1\n"),
        names=["--csv", "'text'", "stocks, series"],
    ),
    Case(
        "runs-text-flag-for-config-file-task",
        argv=["train", "--config", "exp.toml", "--text", "notes.txt", "--show-config"],
        setup=chain(write("exp.toml", 'task = "series"\n'), write("notes.txt", "In the beginning\n")),
        names=["--text", "'series'"],
    ),
    # -- a run that fails before training leaves no folder ---------------------------------------------------
    Case(
        "runs-missing-text-leaves-no-run-folder",
        argv=["train", "--task", "text", *SMOKE, "--text", "missing.txt", "--out-dir", "out", "--name", "r"],
        names=["missing.txt"],
    ),
    Case(
        "runs-bad-device-leaves-no-run-folder",
        argv=["train", "--task", "text", *SMOKE, "--device", "tpu", "--out-dir", "out"],
        names=["run.device", "tpu"],
    ),
]
