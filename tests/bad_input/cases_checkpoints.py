"""Bad checkpoints: corrupt files (truncated, random bytes, empty, a pickle renamed ``.safetensors``), a
directory where the file should be, and checkpoints of another task or architecture placed in a run —
for every command that loads one (evaluate, generate, compose, forecast, export, diagnose, train
--resume) and for the library (``load_checkpoint``, ``load_run``)."""

from __future__ import annotations

import io
import os
import pickle
import shutil
from pathlib import Path

from . import Case, chain, trained_run

TEXT = trained_run("text", "t")
SERIES = trained_run("series", "s")
BEST = "runs/t/checkpoints/best.safetensors"
LAST = "runs/t/checkpoints/last.safetensors"


def _damage(name: str, how: str):
    """A setup that replaces checkpoint ``name`` (relative to the case folder) by a broken file."""

    def setup(root: Path) -> None:
        path = root / name
        data = path.read_bytes() if path.exists() else b""
        if how == "truncated":
            out = data[: len(data) * 2 // 3]
        elif how == "random":
            out = os.urandom(4096)
        elif how == "empty":
            out = b""
        elif how == "pickle":
            buf = io.BytesIO()
            pickle.dump({"weight": [0.0] * 16}, buf, protocol=2)
            out = buf.getvalue()
        elif how == "tail":  # a few bytes short: the header is intact, the data is not
            out = data[:-7]
        else:
            raise ValueError(how)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(out)

    return setup


def _make_dir(name: str):
    def setup(root: Path) -> None:
        path = root / name
        if path.exists():
            path.unlink()
        path.mkdir(parents=True)

    return setup


def _copy(src: str, dst: str):
    def setup(root: Path) -> None:
        shutil.copyfile(root / src, root / dst)

    return setup


def _load_checkpoint(name: str):
    def call(root: Path):
        from rnnkit.train import load_checkpoint

        return load_checkpoint(root / name)

    return call


def _load_run(run: str):
    def call(root: Path):
        from rnnkit.tasks.runner import load_run

        return load_run(root / run)

    return call


UNREADABLE = "not a readable safetensors file"

CASES: list[Case] = [
    # -- corrupt files, each command --------------------------------------------------------------------
    Case(
        "ckpt-evaluate-truncated",
        argv=["evaluate", "runs/t"],
        setup=chain(TEXT, _damage(BEST, "truncated")),
        names=[BEST, UNREADABLE],
    ),
    Case(
        "ckpt-evaluate-random-bytes",
        argv=["evaluate", "runs/t"],
        setup=chain(TEXT, _damage(BEST, "random")),
        names=[BEST, UNREADABLE],
    ),
    Case(
        "ckpt-evaluate-empty",
        argv=["evaluate", "runs/t", "--checkpoint", "last"],
        setup=chain(TEXT, _damage(LAST, "empty")),
        names=[LAST, "empty"],
    ),
    Case(
        "ckpt-evaluate-pickle-renamed",
        argv=["evaluate", "runs/t"],
        setup=chain(TEXT, _damage(BEST, "pickle")),
        names=[BEST, "pickle"],
    ),
    Case(
        "ckpt-evaluate-tail-missing",
        argv=["evaluate", "runs/t"],
        setup=chain(TEXT, _damage(BEST, "tail")),
        names=[BEST, UNREADABLE, "bytes"],
    ),
    Case(
        "ckpt-generate-truncated",
        argv=["generate", "runs/t", "--steps", "5"],
        setup=chain(TEXT, _damage(BEST, "truncated")),
        names=[BEST, UNREADABLE],
    ),
    Case(
        "ckpt-generate-pickle-file",
        argv=["generate", "model.safetensors", "--steps", "5"],
        setup=_damage("model.safetensors", "pickle"),
        names=["model.safetensors", "pickle"],
    ),
    Case(
        "ckpt-compose-random-bytes",
        argv=["compose", "--run", "runs/t", "And the LORD"],
        setup=chain(TEXT, _damage(BEST, "random")),
        names=[BEST, UNREADABLE],
    ),
    Case(
        "ckpt-forecast-empty",
        argv=["forecast", "runs/s"],
        setup=chain(SERIES, _damage("runs/s/checkpoints/best.safetensors", "empty")),
        names=["runs/s/checkpoints/best.safetensors", "empty"],
    ),
    Case(
        "ckpt-export-truncated",
        argv=["export", "runs/t", "--format", "onnx"],
        setup=chain(TEXT, _damage(BEST, "truncated")),
        names=[BEST, UNREADABLE],
    ),
    Case(
        "ckpt-diagnose-pickle-renamed",
        argv=["diagnose", "runs/t", "--no-exploding"],
        setup=chain(TEXT, _damage(BEST, "pickle")),
        names=[BEST, "pickle"],
    ),
    # -- train --resume: the last checkpoint is broken; best is offered when sound ----------------------
    Case(
        "ckpt-resume-truncated-last-points-to-best",
        argv=["train", "--resume", "runs/t", "--no-progress"],
        setup=chain(TEXT, _damage(LAST, "truncated")),
        names=[LAST, UNREADABLE, BEST, "is sound", "copy it over last.safetensors"],
    ),
    Case(
        "ckpt-resume-empty-last-and-broken-best",
        argv=["train", "--resume", "runs/t", "--no-progress"],
        setup=chain(TEXT, _damage(LAST, "empty"), _damage(BEST, "random")),
        names=[LAST, "empty", BEST, "not sound either"],
    ),
    Case(
        "ckpt-resume-pickle-last",
        argv=["train", "--resume", "runs/t", "--no-progress"],
        setup=chain(TEXT, _damage(LAST, "pickle")),
        names=[LAST, "pickle"],
    ),
    Case(
        "ckpt-resume-last-is-a-directory",
        argv=["train", "--resume", "runs/t", "--no-progress"],
        setup=chain(TEXT, _make_dir(LAST)),
        names=[LAST, "is a directory"],
    ),
    # -- a directory where the checkpoint file should be -------------------------------------------------
    Case(
        "ckpt-evaluate-checkpoint-is-a-directory",
        argv=["evaluate", "runs/t"],
        setup=chain(TEXT, _make_dir(BEST)),
        names=[BEST, "is a directory"],
    ),
    Case(
        "ckpt-generate-path-is-a-directory",
        argv=["generate", "weights.safetensors"],
        setup=_make_dir("weights.safetensors"),
        names=["weights.safetensors", "is a directory"],
    ),
    # -- checkpoints of another run ------------------------------------------------------------------------
    Case(
        "ckpt-series-checkpoint-in-text-run-evaluate",
        argv=["evaluate", "runs/t"],
        setup=chain(TEXT, SERIES, _copy("runs/s/checkpoints/best.safetensors", BEST)),
        names=[BEST, "series run", "text run", "runs/t"],
    ),
    Case(
        "ckpt-series-checkpoint-in-text-run-generate",
        argv=["generate", "runs/t", "--steps", "5"],
        setup=chain(TEXT, SERIES, _copy("runs/s/checkpoints/best.safetensors", BEST)),
        names=[BEST, "series run", "text run"],
    ),
    Case(
        "ckpt-series-checkpoint-in-text-run-resume",
        argv=["train", "--resume", "runs/t", "--no-progress"],
        setup=chain(TEXT, SERIES, _copy("runs/s/checkpoints/last.safetensors", LAST)),
        names=[LAST, "series run", "text run"],
    ),
    Case(
        "ckpt-text-checkpoint-given-to-forecast",
        argv=["forecast", BEST],
        setup=TEXT,
        names=[BEST, "'text' run", "'stocks' or 'series'"],
    ),
    Case(
        "ckpt-text-run-given-to-compose",
        argv=["compose", "--run", "runs/t", "And the LORD"],
        setup=TEXT,
        names=["runs/t", BEST, "'text' run", "not 'compose'"],
    ),
    Case(
        "ckpt-other-architecture-evaluate",
        argv=["evaluate", "runs/t"],
        setup=chain(
            TEXT,
            trained_run("text", "h16", "--set", "model.hidden_size=16"),
            _copy("runs/h16/checkpoints/best.safetensors", BEST),
        ),
        names=[BEST, "model.hidden_size", "16", "32", "config.json"],
    ),
    Case(
        "ckpt-other-architecture-resume",
        argv=["train", "--resume", "runs/t", "--no-progress"],
        setup=chain(
            TEXT,
            trained_run("text", "h16", "--set", "model.hidden_size=16"),
            _copy("runs/h16/checkpoints/last.safetensors", LAST),
        ),
        names=[LAST, "model.hidden_size", "does not belong"],
    ),
    Case(
        "ckpt-evaluate-task-disagrees",
        argv=["evaluate", "runs/s", "--task", "text"],
        setup=SERIES,
        names=["runs/s", "'series' run", "not 'text'"],
    ),
    # -- the library -----------------------------------------------------------------------------------------
    Case(
        "ckpt-lib-load-checkpoint-random-bytes",
        call=_load_checkpoint("x.safetensors"),
        setup=_damage("x.safetensors", "random"),
        names=["x.safetensors", UNREADABLE],
        error=ValueError,
    ),
    Case(
        "ckpt-lib-load-run-foreign-checkpoint",
        call=_load_run("runs/t"),
        setup=chain(TEXT, SERIES, _copy("runs/s/checkpoints/best.safetensors", BEST)),
        names=[BEST, "series run", "text run"],
        error=ValueError,
    ),
]
