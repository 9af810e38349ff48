"""Running a task: resolve its config, make the run directory, train with baselines computed in the same
run, evaluate the best checkpoint on the full splits, write ``summary.json``; and load a finished run
back for ``evaluate`` / ``generate``.

A run directory ``runs/<task>-<timestamp>/`` holds ``config.toml`` + ``config.json``, ``metrics.jsonl``,
``curves.png``, ``checkpoints/{last,best}.safetensors``, ``summary.json`` and the task's artefacts
(e.g. ``sample.txt``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..train.checkpoint import load_weights, read_meta, seed_everything
from ..train.config import Config, apply_overrides, flatten_file, read_toml, save_config, to_dict, validate
from ..train.io import atomic_write_text
from ..train.sources import ProgressSource, as_source
from ..train.trainer import FitResult, Trainer, resolve_device
from .base import Task, TaskData
from .registry import get_task

Echo = Callable[[str], None]


def resolve_config(
    task: str | None = None,
    *,
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """defaults < task defaults < preset < config file < overrides; validated."""
    file_task, flat = None, {}
    if config_file is not None:
        file_task, flat = flatten_file(read_toml(config_file), source=str(config_file))
    if task and file_task and task != file_task:
        raise ValueError(f"--task {task!r} disagrees with task = {file_task!r} in {config_file}")
    t = get_task(task or file_task or "text")
    cfg = t.make_config()
    if preset is not None:
        if preset not in t.presets:
            raise ValueError(f"preset must be one of {sorted(t.presets)} for task {t.name!r}, got {preset!r}")
        apply_overrides(cfg, t.presets[preset])
    apply_overrides(cfg, flat)
    apply_overrides(cfg, dict(overrides or {}))
    return validate(cfg)


def config_from_dict(data: Mapping[str, Any]) -> Config:
    """A saved ``config.json`` (or a checkpoint's copy) back into a :class:`Config`."""
    task, flat = flatten_file(data)
    cfg = get_task(task or "text").make_config()
    return validate(apply_overrides(cfg, flat))


def new_run_dir(cfg: Config) -> Path:
    base = Path(cfg.run.out_dir)
    if cfg.run.name:
        path = base / cfg.run.name
        if (path / "checkpoints").exists():
            raise ValueError(
                f"run directory {str(path)!r} already holds a run; continue it with --resume {path} "
                "or pick another run.name"
            )
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path, k = base / f"{cfg.task}-{stamp}", 2
        while path.exists():
            path, k = base / f"{cfg.task}-{stamp}-{k}", k + 1
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class RunSummary:
    run_dir: Path
    fit: FitResult
    metrics: dict[str, dict[str, float]]  # split -> metrics of the best checkpoint
    baselines: dict[str, dict[str, dict[str, float]]]  # split -> baseline -> metrics
    artifacts: dict[str, Any]
    info: dict[str, Any]
    wall_seconds: float  # this command, from start to end (data, baselines, training, final evaluation)


def format_table(
    metrics: Mapping[str, float], baselines: Mapping[str, Mapping[str, float]], first: str | None = None
) -> str:
    """Metric rows (``first`` on top); columns: the model, then each baseline (``-`` where it lacks one)."""
    names = sorted((k for k in metrics if k != "count"), key=lambda k: k != first)
    cols = ["model", *baselines]
    width = max(8, *(len(c) for c in cols))
    lines = [f"{'metric':<10}" + "".join(f"{c:>{width + 2}}" for c in cols)]
    for n in names:
        vals = [metrics[n], *(b.get(n) for b in baselines.values())]
        lines.append(f"{n:<10}" + "".join(f"{'-' if v is None else f'{v:.4f}':>{width + 2}}" for v in vals))
    return "\n".join(lines)


def _evaluate(
    task: Task, model: nn.Module, source: Any, cfg: Config, desc: str = "evaluating"
) -> dict[str, float]:
    was = model.training
    model.eval()
    if cfg.run.progress:
        source = ProgressSource(as_source(source, cfg.run.seed), desc)
    try:
        with torch.no_grad():
            return task.evaluate(model, source, cfg)
    finally:
        model.train(was)


def train(cfg: Config, *, resume: str | Path | None = None, echo: Echo = print) -> RunSummary:
    """Train ``cfg.task``; with ``resume`` (a run directory) continue that run exactly."""
    started = time.perf_counter()
    task = get_task(cfg.task)
    run_dir = Path(resume) if resume is not None else new_run_dir(cfg)
    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    seed_everything(cfg.run.seed)
    save_config(cfg, run_dir)
    echo(f"run directory: {run_dir}")
    data = task.build_data(cfg)
    if data.info:
        echo(
            "data: "
            + ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in data.info.items())
        )
    echo("computing baselines …")
    baselines = {"val": task.baselines(cfg, data, "val")} if data.val is not None else {}
    if data.test is not None:
        baselines["test"] = task.baselines(cfg, data, "test")
    for split, bl in baselines.items():
        for name, m in bl.items():
            echo(f"baseline {name} ({split}): " + ", ".join(f"{k} {v:.4f}" for k, v in m.items()))
    model = task.build_model(cfg, data.state)
    n_params = sum(p.numel() for p in model.parameters())
    echo(f"model: {type(model).__name__}, {n_params:,} parameters, device {resolve_device(cfg.run.device)}")
    refs = {n: m[task.monitor] for n, m in baselines.get("val", {}).items() if task.monitor in m}
    trainer = Trainer(
        model,
        task.loss,
        data.train,
        data.val,
        optim=cfg.optim,
        run=cfg.run,
        run_dir=run_dir,
        evaluate_fn=None if data.val is None else (lambda m, n: task.evaluate(m, data.val, cfg, n)),
        monitor=task.monitor,
        mode=task.mode,
        tbptt=task.tbptt,
        extra={"config": to_dict(cfg), "task_state": data.state},
        item_name=task.item_name,
        references=refs,
    )
    fit = trainer.fit(resume=run_dir if resume is not None else None)
    if fit.stop_reason == "interrupted":
        echo(f"interrupted at step {fit.steps}; continue with: rnnkit train --resume {run_dir}")
        return RunSummary(run_dir, fit, {}, baselines, {}, data.info, time.perf_counter() - started)
    best = run_dir / "checkpoints" / "best.safetensors"
    if best.exists():
        model.load_state_dict(load_weights(best))
    metrics = {}
    for split, source in (("val", data.val), ("test", data.test)):
        if source is not None:
            metrics[split] = _evaluate(task, model, source, cfg, f"evaluating the best checkpoint on {split}")
    artifacts = task.after_training(model, cfg, data, run_dir)
    wall = time.perf_counter() - started
    summary = RunSummary(run_dir, fit, metrics, baselines, artifacts, data.info, wall)
    write_summary(summary, task, "best" if best.exists() else "last")
    best_txt = "none" if fit.best is None else f"{fit.best:.4f} at step {fit.best_step}"
    echo(
        f"stopped: {fit.stop_reason} after {fit.steps:,} steps, {fit.elapsed / 60:.1f} min of training, "
        f"{wall / 60:.1f} min in all (best validation {task.monitor}: {best_txt})"
    )
    for split, m in metrics.items():
        echo(
            f"\n{split} ({'best' if best.exists() else 'last'} checkpoint):\n"
            + format_table(m, baselines.get(split, {}), task.monitor)
        )
    return summary


def write_summary(s: RunSummary, task: Task, checkpoint: str) -> None:
    f = s.fit
    data = {
        "task": task.name,
        "monitor": task.monitor,
        "checkpoint": checkpoint,
        "steps": f.steps,
        "stop_reason": f.stop_reason,
        "minutes": round(f.elapsed / 60, 3),
        "wall_minutes": round(s.wall_seconds / 60, 3),
        "best_step": f.best_step,
        "metrics": s.metrics,
        "baselines": s.baselines,
        "data": s.info,
        "artifacts": {k: v for k, v in s.artifacts.items() if isinstance(v, str | int | float | list | dict)},
    }
    atomic_write_text(s.run_dir / "summary.json", json.dumps(data, indent=2) + "\n")


# -- loading a finished run --------------------------------------------------------------------------------
@dataclass
class LoadedRun:
    task: Task
    cfg: Config
    model: nn.Module
    state: dict[str, Any]
    run_dir: Path
    checkpoint: Path


def find_checkpoint(path: str | Path, which: str = "best") -> Path:
    """A checkpoint file from a run directory (``which`` = best or last) or the file itself."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"run {str(path)!r} does not exist")
    folder = path / "checkpoints"
    for name in (which, "last") if which == "best" else (which,):
        if (folder / f"{name}.safetensors").is_file():
            return folder / f"{name}.safetensors"
    raise FileNotFoundError(
        f"{str(path)!r} holds no {which!r} checkpoint (expected {folder}/{which}.safetensors)"
    )


def latest_run(out_dir: str | Path = "runs", task: str | None = None) -> Path:
    """The most recently written run directory of ``task`` under ``out_dir``."""
    runs = []
    for d in Path(out_dir).glob("*/checkpoints/last.safetensors"):
        run_dir = d.parent.parent
        try:
            run_task = json.loads((run_dir / "config.json").read_text())["task"]
        except (OSError, ValueError, KeyError):
            continue
        if task is None or run_task == task:
            runs.append((d.stat().st_mtime, run_dir))
    if not runs:
        what = f"{task} run" if task else "run"
        raise FileNotFoundError(
            f"no trained {what} under {str(out_dir)!r}; train one with "
            f"`rnnkit train --task {task or 'text'}` or pass the run directory"
        )
    return max(runs)[1]


def load_run(path: str | Path, which: str = "best", device: str = "cpu") -> LoadedRun:
    """Rebuild the model of a run from its checkpoint (config and task state come from the file)."""
    ck = find_checkpoint(path, which)
    extra = read_meta(ck).get("extra", {})
    if "config" not in extra:
        raise ValueError(f"{str(ck)!r} was not written by `rnnkit train` (no config inside)")
    cfg = config_from_dict(extra["config"])
    task = get_task(cfg.task)
    state = extra.get("task_state", {})
    model = task.build_model(cfg, state)
    model.load_state_dict(load_weights(ck))
    model.to(resolve_device(device)).eval()
    run_dir = ck.parent.parent if ck.parent.name == "checkpoints" else ck.parent
    return LoadedRun(task, cfg, model, state, run_dir, ck)


def evaluate_run(
    run: LoadedRun, split: str = "val"
) -> tuple[dict[str, float], dict[str, dict[str, float]], TaskData]:
    """(metrics, baselines, data) of a loaded run on ``split``, baselines recomputed in this call."""
    data = run.task.build_data(run.cfg, state=run.state)
    source = {"val": data.val, "test": data.test}.get(split)
    if source is None:
        offered = "val" if data.test is None else "val, test"
        raise ValueError(f"split must be one the task provides ({offered}), got {split!r}")
    seed_everything(run.cfg.run.seed)
    metrics = _evaluate(run.task, run.model, source, run.cfg, f"evaluating on {split}")
    return metrics, run.task.baselines(run.cfg, data, split), data
