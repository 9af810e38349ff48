"""Running a task: resolve its config, make the run directory, train with baselines computed in the same
run, evaluate the best checkpoint on the full splits, write ``summary.json``; and load a finished run
back for ``evaluate`` / ``generate``.

A run directory ``runs/<task>-<timestamp>/`` holds ``config.toml`` + ``config.json``, ``metrics.jsonl``,
``curves.png``, ``checkpoints/{last,best}.safetensors``, ``summary.json`` and the task's artefacts
(e.g. ``sample.txt``).

Nothing is written until everything a run needs has been checked: a new run's directory is created
once its data, baselines and model are ready (a bad data file leaves no empty folder behind), and a
resumed run's ``config.json`` and ``last`` checkpoint are checked (readable, same task, same
architecture, every shape) before any file of it is touched. A checkpoint loaded for ``evaluate``,
``generate`` and the rest is checked the same way against its run's ``config.json`` and model.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._io import atomic_write_text, clean_orphans
from ..train import distributed as D
from ..train.checkpoint import (
    Checkpoint,
    CheckpointError,
    check_weights,
    load_checkpoint,
    seed_everything,
)
from ..train.config import Config, apply_overrides, flatten_file, read_toml, save_config, to_dict, validate
from ..train.sources import ProgressSource, as_source
from ..train.trainer import FitResult, Trainer, resolve_device
from .base import LoadedRun, Task, TaskData
from .registry import get_task

Echo = Callable[[str], None]

#: where a run lives: a run directory may be moved or copied, so these need not match on resume
_PLACE = ("run.out_dir", "run.name")
#: keys a resumed run may change (the rest would break the exact continuation)
RESUMABLE = (
    "optim.max_steps",
    "optim.max_minutes",
    "optim.max_epochs",
    "optim.on_divergence",
    "run.progress",
    "run.plot",
    "run.device",
    "run.threads",
)


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


def config_from_dict(data: Mapping[str, Any], source: str | None = None) -> Config:
    """A saved ``config.json`` (or a checkpoint's copy) back into a :class:`Config`; ``source`` names
    where it came from in the error raised for a malformed one."""
    if not isinstance(data, Mapping):
        where = f"{source} " if source else ""
        raise ValueError(
            f"{where}must hold a JSON object with task, model, data, optim and run, got {type(data).__name__}"
        )
    try:
        task, flat = flatten_file(data, source=source or "config")
        cfg = get_task(task or "text").make_config()
        return validate(apply_overrides(cfg, flat))
    except (ValueError, TypeError) as e:
        if source is None or source in str(e):
            raise
        raise (TypeError if isinstance(e, TypeError) else ValueError)(f"{source}: {e}") from None


def read_run_config(run_dir: str | Path) -> Config:
    """The :class:`Config` saved in ``run_dir/config.json``; a missing, unreadable or malformed file (not
    JSON, not an object, an unknown task or key, a bad value) raises an error naming it."""
    path = Path(run_dir) / "config.json"
    if Path(run_dir).is_file():
        raise ValueError(f"{str(run_dir)!r} is a file, expected a run directory (holding config.json)")
    if not Path(run_dir).is_dir():
        raise FileNotFoundError(f"run directory {str(run_dir)!r} does not exist")
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a directory, expected the run's config file")
    if not path.is_file():
        raise FileNotFoundError(f"{str(run_dir)!r} is not a run directory (no config.json)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError(
            f"run config {str(path)!r} is not text (expected JSON written by rnnkit train)"
        ) from None
    except json.JSONDecodeError as e:
        raise ValueError(
            f"run config {str(path)!r} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})"
        ) from None
    return config_from_dict(data, source=f"run config {str(path)!r}")


def _check_out_dir(cfg: Config) -> Path:
    base = Path(cfg.run.out_dir)
    for parent in (base, *base.parents):
        if parent.exists() and not parent.is_dir():
            inside = "" if parent == base else f": {str(parent)!r} is a file"
            what = " is a file" if parent == base else ""
            raise ValueError(
                f"run.out_dir (--out-dir) {str(base)!r}{what}{inside}, expected a folder for run directories"
            )
        if parent.is_dir():
            break
    return base


def plan_run_dir(cfg: Config) -> Path:
    """The directory a new run of ``cfg`` will use (not created yet: see :func:`new_run_dir`)."""
    base = _check_out_dir(cfg)
    if cfg.run.name:
        path = base / cfg.run.name
        if path.exists() and not path.is_dir():
            raise ValueError(f"run directory {str(path)!r} is a file; pick another run.name")
        if (path / "checkpoints").exists():
            raise ValueError(
                f"run directory {str(path)!r} already holds a run; continue it with --resume {path} "
                "or pick another run.name"
            )
        return path
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, k = base / f"{cfg.task}-{stamp}", 2
    while path.exists():
        path, k = base / f"{cfg.task}-{stamp}-{k}", k + 1
    return path


def new_run_dir(cfg: Config) -> Path:
    """Create the directory of a new run of ``cfg`` (see :func:`plan_run_dir`)."""
    path = plan_run_dir(cfg)
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


def _marker(cfg: Config) -> Path | None:
    """Where the first attempt of a torchrun job notes its run directory, so that the attempts torchrun
    restarts after a failure (``--max-restarts``) continue that run: keyed by torchrun's run id."""
    run_id = os.environ.get("TORCHELASTIC_RUN_ID")
    if not run_id:
        return None
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    return Path(cfg.run.out_dir) / f".torchrun-{safe}.json"


def _group_run_dir(cfg: Config, resume: str | Path | None, ctx: D.DistContext) -> tuple[Path, bool]:
    """(run directory, whether it is resumed) for this process; in a group rank 0 decides: a job that
    torchrun restarted resumes the run its first attempt started (when that wrote a checkpoint)."""
    if not ctx.active:
        return (Path(resume), True) if resume is not None else (plan_run_dir(cfg), False)
    decision: tuple[str, bool] | None = None
    if ctx.is_main:
        marker = _marker(cfg)
        restarted = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0) > 0
        if resume is not None:
            decision = (str(resume), True)
        elif restarted and marker is not None and marker.is_file():
            previous = Path(json.loads(marker.read_text(encoding="utf-8"))["run_dir"])
            if (previous / "checkpoints" / "last.safetensors").is_file():
                decision = (str(previous), True)
        if decision is None:
            path = plan_run_dir(cfg)
            if marker is not None:
                marker.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(marker, json.dumps({"run_dir": str(path)}) + "\n")
            decision = (str(path), False)
    path, resumed = D.broadcast(decision)
    return Path(path), resumed


def train(cfg: Config, *, resume: str | Path | None = None, echo: Echo = print) -> RunSummary:
    """Train ``cfg.task``; with ``resume`` (a run directory) continue that run exactly.

    Everything is checked before anything is written: a new run's directory is made once its data,
    baselines and model are ready; a resumed run's ``last`` checkpoint must be sound and fit ``cfg``'s
    model (else a :class:`~rnnkit.train.checkpoint.CheckpointError` says what is wrong, and whether
    ``best`` could take its place). Temporary files left by a crash mid-write are then removed.

    Started by ``torchrun`` (its environment names a group of several processes), this process joins
    the group and trains its share of each batch (see :mod:`rnnkit.train.distributed`); only rank 0
    prints, writes the run directory and evaluates the best checkpoint.
    """
    ctx = D.context_from_env()
    device = resolve_device(cfg.run.device)
    joined = ctx.active and not D.is_joined()
    D.init(ctx, device)
    try:
        return _train(cfg, resume, echo if ctx.is_main else (lambda _: None), ctx, device)
    finally:
        if joined:
            D.shutdown()


def _train(
    cfg: Config, resume: str | Path | None, echo: Echo, ctx: D.DistContext, device: torch.device
) -> RunSummary:
    started = time.perf_counter()
    task = get_task(cfg.task)
    resumed: Checkpoint | None = None
    run_dir, resuming = _group_run_dir(cfg, resume, ctx)
    if resuming:
        resumed = resumable_checkpoint(run_dir, cfg)
        world = resumed.meta["trainer"].get("world_size", 1)
        if world != ctx.world_size:
            raise ValueError(
                f"run {str(run_dir)!r} was trained by {world} process(es) and this run has {ctx.world_size}: "
                f"the global batch (data.batch_size x processes) would change; resume it with {world} "
                f"(rnnkit train --resume {run_dir} --nproc {world}, or torchrun --nproc_per_node {world})"
            )
        echo(f"resuming at step {resumed.meta['trainer'].get('step', 0):,} from its last checkpoint")
    if cfg.run.threads or ctx.active:
        torch.set_num_threads(cfg.run.threads or D.default_threads(ctx))
    seed_everything(cfg.run.seed)
    echo(f"run directory: {run_dir}")
    data_cfg = cfg
    if ctx.active:  # every process builds the global batches and trains on its rows of each
        if not isinstance(getattr(cfg.data, "batch_size", None), int):
            raise ValueError(
                f"task {cfg.task!r} has no data.batch_size, so it cannot split its batches among "
                f"{ctx.world_size} processes; train it with one"
            )
        data_cfg = copy.deepcopy(cfg)
        data_cfg.data.batch_size = cfg.data.batch_size * ctx.world_size
        echo(
            f"{ctx.world_size} processes, {torch.get_num_threads()} thread(s) each: global batch "
            f"{data_cfg.data.batch_size} ({cfg.data.batch_size} per process)"
        )
    data = task.build_data(data_cfg)
    if data.info:
        echo(
            "data: "
            + ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in data.info.items())
        )
    baselines: dict[str, dict[str, dict[str, float]]] = {}
    if ctx.is_main:  # the other processes of a group neither report nor draw curves
        echo("computing baselines …")
        baselines = {"val": task.baselines(cfg, data, "val")} if data.val is not None else {}
        if data.test is not None:
            baselines["test"] = task.baselines(cfg, data, "test")
    for split, bl in baselines.items():
        for name, m in bl.items():
            echo(f"baseline {name} ({split}): " + ", ".join(f"{k} {v:.4f}" for k, v in m.items()))
    model = task.build_model(cfg, data.state)
    if resumed is not None:
        check_weights(model, resumed.model, run_dir / "checkpoints" / "last.safetensors")
        del resumed
    n_params = sum(p.numel() for p in model.parameters())
    echo(f"model: {type(model).__name__}, {n_params:,} parameters, device {device}")
    # the curve's baseline lines are scored on exactly what the periodic evaluations score (a subset, or all)
    periodic = task.periodic_val(cfg, data)
    curve = task.curve_baselines(cfg, periodic, baselines.get("val", {})) if ctx.is_main else {}
    if periodic.subset is not None:
        how = "its baselines are scored on it too" if periodic.data is not None else "no baselines are drawn"
        echo(f"periodic evaluations score a {periodic.subset} subset of val (run.eval_batches); {how}")
        for name, m in curve.items():
            echo(f"baseline {name}: " + ", ".join(f"{k} {v:.4f}" for k, v in m.items()))
    refs = {n: m[task.monitor] for n, m in curve.items() if task.monitor in m}
    # the topmost folder this call creates (run.out_dir too, when it is new): removed if the run never starts
    created = next((p for p in reversed((run_dir, *run_dir.parents)) if not p.exists()), None)
    try:
        if ctx.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            removed = clean_orphans(run_dir)
            if removed:
                echo(
                    f"removed {len(removed)} temporary file(s) an interrupted write left behind: "
                    + ", ".join(str(p.relative_to(run_dir)) for p in removed)
                )
            save_config(cfg, run_dir)
        trainer = Trainer(
            model,
            task.loss,
            data.train,
            data.val,
            optim=cfg.optim,
            run=cfg.run,
            run_dir=run_dir,
            evaluate_fn=None
            if data.val is None
            else (lambda m, n: task.evaluate(m, periodic.source, cfg, periodic.max_batches)),
            monitor=task.monitor,
            mode=task.mode,
            tbptt=task.tbptt,
            extra={"config": to_dict(cfg), "task_state": data.state},
            item_name=task.item_name,
            references=refs,
            dist=ctx,
            callbacks=D.fault_callbacks(ctx),
        )
    except BaseException:
        if created is not None and ctx.is_main:  # a run that never started leaves no folder behind
            shutil.rmtree(created, ignore_errors=True)
        raise
    fit = trainer.fit(resume=run_dir if resuming else None)
    if not ctx.is_main:  # rank 0 evaluates and reports
        return RunSummary(run_dir, fit, {}, {}, {}, data.info, time.perf_counter() - started)
    marker = _marker(cfg) if ctx.active else None
    if marker is not None and fit.stop_reason != "interrupted":  # the job is done: nothing to restart
        marker.unlink(missing_ok=True)
    if fit.stop_reason == "interrupted":
        echo(f"interrupted at step {fit.steps}; continue with: rnnkit train --resume {run_dir}")
        return RunSummary(run_dir, fit, {}, baselines, {}, data.info, time.perf_counter() - started)
    best = run_dir / "checkpoints" / "best.safetensors"
    if best.exists():
        model.load_state_dict(load_checkpoint(best).model)
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


def _describe(cfg: Config) -> str:
    """``series run (model lstm, hidden 64, 2 layers)``: what a config trains, for messages."""
    return f"{cfg.task} run {_model_text(cfg)}"


def _model_text(cfg: Config) -> str:
    m = cfg.model
    bits = [str(getattr(m, "cell", type(m).__name__))]
    if getattr(m, "hidden_size", None) is not None:
        bits.append(f"hidden {m.hidden_size}")
    if getattr(m, "num_layers", None) not in (None, 1):
        bits.append(f"{m.num_layers} layers")
    return f"(model {', '.join(bits)})"


def _differences(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str) -> list[str]:
    return [f"{prefix}.{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def _checkpoint_config(meta: Mapping[str, Any], ck: Path) -> tuple[Config, dict[str, Any]]:
    """The config and task state stored in checkpoint ``ck``'s metadata."""
    extra = meta.get("extra", {})
    if not isinstance(extra, Mapping) or "config" not in extra:
        raise CheckpointError(f"{str(ck)!r} was not written by `rnnkit train` (no config inside)")
    cfg = config_from_dict(extra["config"], source=f"the config inside checkpoint {str(ck)!r}")
    state = extra.get("task_state") or {}
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {str(ck)!r} is damaged: its task state is not a JSON object")
    return cfg, state


def check_checkpoint_config(ck_cfg: Config, run_cfg: Config, ck: Path, run_dir: Path, fixed: bool) -> None:
    """Raise :class:`CheckpointError` when checkpoint ``ck`` (trained with ``ck_cfg``) is not one of the
    run in ``run_dir`` (configured as ``run_cfg``): another task, another architecture, or — with
    ``fixed``, for a resume — any setting a resumed run may not change."""
    if ck_cfg.task != run_cfg.task:
        raise CheckpointError(
            f"checkpoint {str(ck)!r} holds a {_describe(ck_cfg)}, not the {run_cfg.task} run of "
            f"{str(run_dir)!r} {_model_text(run_cfg)}"
        )
    a, b = to_dict(ck_cfg), to_dict(run_cfg)
    changed = _differences(a["model"], b["model"], "model")
    if fixed:
        for section in ("data", "optim", "run"):
            changed += [
                k
                for k in _differences(a[section], b[section], section)
                if k not in RESUMABLE and k not in _PLACE
            ]
    if changed:
        shown = ", ".join(
            f"{k} = {json.dumps(a[k.split('.')[0]].get(k.split('.')[1]))} in the checkpoint, "
            f"{json.dumps(b[k.split('.')[0]].get(k.split('.')[1]))} in config.json"
            for k in changed[:3]
        )
        more = f" (and {len(changed) - 3} more)" if len(changed) > 3 else ""
        kept = (
            f"; a resumed run keeps its settings (it may change only {', '.join(RESUMABLE)}): was "
            "config.json edited?"
            if fixed and not any(k.startswith("model.") for k in changed)
            else ""
        )
        raise CheckpointError(
            f"checkpoint {str(ck)!r} does not belong to the run in {str(run_dir)!r}: {shown}{more}{kept}"
        )


def resumable_checkpoint(run_dir: str | Path, cfg: Config) -> Checkpoint:
    """The ``last`` checkpoint of ``run_dir``, checked to continue ``cfg``'s run (sound file, optimiser
    and trainer state, same task and settings). When it is broken, the error says whether ``best`` is
    sound and how to resume from it."""
    run_dir = Path(run_dir)
    last = run_dir / "checkpoints" / "last.safetensors"
    try:
        ck = load_checkpoint(last)
        ck_cfg, _ = _checkpoint_config(ck.meta, last)
        check_checkpoint_config(ck_cfg, cfg, last, run_dir, fixed=True)
        if ck.optimizer is None or not ck.meta.get("trainer"):
            raise CheckpointError(
                f"checkpoint {str(last)!r} holds no optimiser or trainer state, so training cannot "
                "resume from it"
            )
    except FileNotFoundError:
        if (run_dir / "checkpoints" / "best.safetensors").exists():
            missing = f"run {str(run_dir)!r} has no last checkpoint ({str(last)!r} is missing)"
            raise CheckpointError(missing + _best_hint(run_dir, cfg)) from None
        raise FileNotFoundError(
            f"run {str(run_dir)!r} has no checkpoint to resume ({str(last)!r} is missing: it stopped before "
            "its first checkpoint); start it again with rnnkit train"
        ) from None
    except (CheckpointError, ValueError, TypeError) as e:
        raise CheckpointError(f"{e}{_best_hint(run_dir, cfg)}") from None
    return ck


def _best_hint(run_dir: Path, cfg: Config) -> str:
    best = run_dir / "checkpoints" / "best.safetensors"
    if not best.exists():
        return "; the run has no best checkpoint to fall back on"
    try:
        ck = load_checkpoint(best)
        ck_cfg, _ = _checkpoint_config(ck.meta, best)
    except (ValueError, TypeError, OSError):
        return f"; {str(best)!r} is not sound either"
    try:
        check_checkpoint_config(ck_cfg, cfg, best, run_dir, fixed=True)
    except ValueError:
        return f"; {str(best)!r} does not fit the run's config.json either"
    step = ck.meta.get("trainer", {}).get("step")
    if ck.optimizer is None:
        return (
            f"; {str(best)!r} is sound but holds no optimiser state, so it can be evaluated but not resumed"
        )
    at = f" (step {step})" if step is not None else ""
    return (
        f"; {str(best)!r}{at} is sound: to resume from it, copy it over last.safetensors "
        "(the steps after it are lost), or evaluate it with rnnkit evaluate"
    )


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
        "plan": f.plan,  # the step count the schedule annealed over, and the timings it came from
        "warnings": f.warnings,
        "metrics": s.metrics,
        "baselines": s.baselines,
        "data": s.info,
        "artifacts": {k: v for k, v in s.artifacts.items() if isinstance(v, str | int | float | list | dict)},
    }
    atomic_write_text(s.run_dir / "summary.json", json.dumps(data, indent=2) + "\n")


# -- loading a finished run --------------------------------------------------------------------------------
def find_checkpoint(path: str | Path, which: str = "best") -> Path:
    """A checkpoint file from a run directory (``which`` = best or last) or the file itself."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(
            f"run {str(path)!r} does not exist (expected a run directory or a checkpoint file)"
        )
    if path.suffix == ".safetensors":
        raise ValueError(f"checkpoint {str(path)!r} is a directory, expected a .safetensors file")
    folder = path / "checkpoints"
    for name in (which, "last") if which == "best" else (which,):
        candidate = folder / f"{name}.safetensors"
        if candidate.is_dir():
            raise ValueError(f"checkpoint {str(candidate)!r} is a directory, expected a .safetensors file")
        if candidate.is_file():
            return candidate
    hint = "" if folder.is_dir() or (path / "config.json").exists() else "; it is not a run directory"
    raise FileNotFoundError(
        f"{str(path)!r} holds no {which!r} checkpoint (expected {folder}/{which}.safetensors){hint}"
    )


#: where a run is looked for under an ``out_dir``: ``<out_dir>/<run>`` and one folder deeper, where the
#: tour keeps its runs (``runs/tour/<run>``)
RUN_PATTERNS = ("*/checkpoints/last.safetensors", "*/*/checkpoints/last.safetensors")


def trained_runs(out_dir: str | Path = "runs") -> list[tuple[float, Path, str]]:
    """(time of the last checkpoint, run directory, task) of every trained run under ``out_dir``, directly
    in it or one folder deeper (see :data:`RUN_PATTERNS`); folders without a readable config are skipped."""
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise ValueError(f"--out-dir {str(out_dir)!r} is a file, expected the folder that holds the runs")
    runs = []
    for pattern in RUN_PATTERNS:
        for ck in Path(out_dir).glob(pattern):
            run_dir = ck.parent.parent
            try:
                run_task = json.loads((run_dir / "config.json").read_text())["task"]
                mtime = ck.stat().st_mtime
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if isinstance(run_task, str):
                runs.append((mtime, run_dir, run_task))
    return runs


def latest_run(out_dir: str | Path = "runs", task: str | None = None) -> Path:
    """The most recently trained run directory of ``task`` (any task when None) under ``out_dir``: a run
    directly in it (``runs/<run>``) or one folder deeper, as the tour keeps them (``runs/tour/<run>``);
    the newest ``last`` checkpoint wins. When there is none, the ``FileNotFoundError`` says where it
    looked, which other tasks' runs are there, and how to get one."""
    runs = trained_runs(out_dir)
    mine = [(mtime, str(run_dir), run_dir) for mtime, run_dir, t in runs if task is None or t == task]
    if mine:
        return max(mine)[2]
    raise FileNotFoundError(_no_run_message(out_dir, task, sorted({t for _, _, t in runs})))


def _no_run_message(out_dir: str | Path, task: str | None, others: list[str]) -> str:
    base = Path(out_dir)
    what = f"{task} run" if task else "run"
    missing = "" if base.is_dir() else "; that folder does not exist"
    found = f"; it holds {', '.join(others)} runs" if others else ""
    name = task or "text"
    short = "tour" in get_task(name).presets
    ways = [f"`rnnkit train --task {name}" + (" --preset tour` (a short run)" if short else "`")]
    if task is None:
        ways.append("`rnnkit tour` (every demo)")
    elif short:
        ways.append(f"`rnnkit tour --only {name}`")
    return (
        f"no trained {what} under {str(out_dir)!r} (looked in {base / '<run>'} and {base / '*' / '<run>'}, "
        f"where the tour keeps its runs{missing}{found}); train one with {' or '.join(ways)}, "
        "or name a run directory, or the folder that holds your runs with --out-dir"
    )


def choose_run(
    run: str | Path | None, out_dir: str | Path = "runs", task: str | None = None, echo: Echo | None = None
) -> Path:
    """``run`` when given, else the latest run of ``task`` under ``out_dir`` (:func:`latest_run`), which
    ``echo`` then names: the commands say which run they picked."""
    if run is not None and str(run) != "":
        return Path(run)
    path = latest_run(out_dir, task)
    if echo is not None:
        echo(f"using run {path} (the latest {task + ' ' if task else ''}run under {out_dir})")
    return path


def load_run(
    path: str | Path, which: str = "best", device: str = "cpu", *, tasks: Sequence[str] | None = None
) -> LoadedRun:
    """Rebuild the model of a run from its checkpoint (config and task state come from the file).

    The checkpoint is checked before its weights are used: a readable rnnkit checkpoint, of one of
    ``tasks`` (if given), of the same task and architecture as the ``config.json`` of the run directory
    it sits in (if any), and with every parameter's shape as the model expects. A problem raises a
    ``ValueError`` (:class:`~rnnkit.train.checkpoint.CheckpointError`) naming the file."""
    ck = find_checkpoint(path, which)
    loaded = load_checkpoint(ck)
    cfg, state = _checkpoint_config(loaded.meta, ck)
    run_dir = ck.parent.parent if ck.parent.name == "checkpoints" else ck.parent
    if tasks is not None and cfg.task not in tasks:
        wanted = " or ".join(repr(t) for t in tasks)
        where = "" if Path(path) == ck else f"checkpoint {str(ck)!r}, "
        raise CheckpointError(
            f"{str(path)!r} is a {cfg.task!r} run, not {wanted} ({where}{_model_text(cfg)[1:]}"
        )
    if (run_dir / "config.json").exists():
        check_checkpoint_config(cfg, read_run_config(run_dir), ck, run_dir, fixed=False)
    task = get_task(cfg.task)
    model = task.build_model(cfg, state)
    check_weights(model, loaded.model, ck)
    model.load_state_dict(loaded.model)
    model.to(resolve_device(device)).eval()
    return LoadedRun(task, cfg, model, state, run_dir, ck)


def evaluate_run(
    run: LoadedRun, split: str = "val"
) -> tuple[dict[str, float], dict[str, dict[str, float]], TaskData]:
    """(metrics, baselines, data) of a loaded run on ``split``, baselines recomputed in this call."""
    data = run.task.build_data(run.cfg, state=run.state)
    source = {"val": data.val, "test": data.test}.get(split)
    if source is None:
        offered = "val" if data.test is None else "val, test"
        raise ValueError(f"--split must be one of the splits the task provides ({offered}), got {split!r}")
    seed_everything(run.cfg.run.seed)
    metrics = _evaluate(run.task, run.model, source, run.cfg, f"evaluating on {split}")
    return metrics, run.task.baselines(run.cfg, data, split), data
