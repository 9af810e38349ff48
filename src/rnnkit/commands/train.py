"""``rnnkit train``: train a built-in task into a run directory, or resume one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ._cli import cli_errors

EPILOG = """\
settings (later wins): task defaults < --preset < --config FILE.toml < shortcut flags < --set KEY=VALUE.
Every key is listed by --show-config; a TOML file mirrors its sections ([model], [data], [optim], [run]).

examples:
  rnnkit train --task text                          # KJV char model, ~15 min on 2 CPU cores
  rnnkit train --task text --text notes.txt --max-minutes 5
  rnnkit train --task text --set model.cell=gru --set optim.lr=2e-3
  rnnkit train --task text --preset tour            # a 1-2 minute run
  rnnkit train --resume runs/text-20260101-120000   # continue a killed run exactly
  rnnkit train --task text --nproc 2                # 2 data-parallel processes (torchrun, gloo on CPU)
  torchrun --nproc_per_node 2 -m rnnkit train --task text   # the same, launched by torchrun itself

tasks:
"""

#: shortcut flag -> (config key, dest)
SHORTCUTS = {
    "--max-minutes": ("optim.max_minutes", "max_minutes"),
    "--steps": ("optim.max_steps", "steps"),
    "--seed": ("run.seed", "seed"),
    "--cell": ("model.cell", "cell"),
    "--out-dir": ("run.out_dir", "out_dir"),
    "--name": ("run.name", "name"),
    "--device": ("run.device", "device"),
    "--threads": ("run.threads", "threads"),
    "--on-divergence": ("optim.on_divergence", "on_divergence"),
}


def flag_metavar(key: str) -> str:
    """The placeholder of a task flag in ``--help``, from what its config key holds: ``DIR`` for a
    folder (``data.midi_dir``), ``NAME`` for a CSV column (``data.column``), else ``FILE``."""
    field = key.rsplit(".", 1)[-1]
    if field.endswith("_dir"):
        return "DIR"
    if field == "column" or field.endswith("_column"):
        return "NAME"
    return "FILE"


def _task_lines() -> str:
    from ..tasks.registry import get_task, list_tasks

    lines = []
    for name in list_tasks():
        t = get_task(name)
        presets = f" (presets: {', '.join(t.presets)})" if t.presets else ""
        lines.append(f"  {name:10s} {t.summary}{presets}")
    return "\n".join(lines)


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..tasks.registry import get_task, list_tasks

    p = sub.add_parser(
        "train",
        help="train a built-in task (text, …) into runs/<task>-<timestamp>/",
        description="Train a task; the run directory gets config.toml/json, metrics.jsonl, curves.png, "
        "checkpoints/{last,best}.safetensors and summary.json. Ctrl-C stops after the current step and "
        "saves a checkpoint; --resume continues exactly where it stopped.",
        epilog=EPILOG + _task_lines(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--task", choices=list_tasks(), help="what to train (default: text, or the config file's)")
    p.add_argument("--config", metavar="FILE", help="TOML file with [model]/[data]/[optim]/[run] settings")
    p.add_argument("--preset", metavar="NAME", help="a named preset of the task (e.g. tour, smoke)")
    p.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                   help="override one setting, e.g. --set optim.lr=3e-3 (repeatable)")  # fmt: skip
    p.add_argument(
        "--max-minutes", type=float, metavar="M", help="time budget of the training loop (optim.max_minutes)"
    )
    p.add_argument("--steps", type=int, metavar="N", help="maximum optimiser steps (optim.max_steps)")
    p.add_argument("--seed", type=int, metavar="S", help="random seed (run.seed)")
    p.add_argument("--cell", metavar="NAME", help="recurrent cell: lstm, gru, urlstm, … (model.cell)")
    p.add_argument(
        "--out-dir", metavar="DIR", help="parent folder of run directories (run.out_dir, default runs)"
    )
    p.add_argument("--name", help="run directory name (run.name, default <task>-<timestamp>)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or auto (run.device)")
    p.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (run.threads)")
    p.add_argument(
        "--on-divergence",
        choices=("stop", "warn"),
        help="when the loss blows up (above optim.divergence_factor x its lowest running median for "
        "optim.divergence_steps steps): stop with an error (default) or warn and go on "
        "(optim.on_divergence); a non-finite loss or gradient always stops",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar (run.progress=false)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run from its last checkpoint")
    p.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="train with N data-parallel processes on this machine: starts torchrun --standalone "
        "--nproc-per-node N; data.batch_size is per process; each process gets cores/N threads",
    )
    p.add_argument(
        "--max-restarts",
        type=int,
        default=0,
        metavar="K",
        help="with --nproc: when a process dies, torchrun restarts the group up to K times and it "
        "resumes from the last checkpoint (default 0)",
    )
    p.add_argument("--show-config", action="store_true", help="print the resolved settings and exit")
    seen: dict[str, str] = {}
    for name in list_tasks():
        for flag, (key, help_text) in get_task(name).cli_flags.items():
            if flag in seen:
                continue
            seen[flag] = name
            p.add_argument(
                flag,
                dest=f"taskflag_{key}",
                metavar=flag_metavar(key),
                help=f"{help_text} ({key}; task {name})",
            )
    p.set_defaults(func=run)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, dest in SHORTCUTS.values():
        if getattr(args, dest) is not None:
            out[key] = getattr(args, dest)
    if args.no_progress:
        out["run.progress"] = False
    for dest, value in vars(args).items():
        if dest.startswith("taskflag_") and value is not None:
            out[dest[len("taskflag_") :]] = value
    from ..train.config import parse_assignments

    out |= parse_assignments(args.assignments)
    return out


def _check_task_flags(args: argparse.Namespace, task: Any) -> None:
    """A task flag (--text, --csv, …) given to a task that does not take it: say which tasks do."""
    from ..tasks.registry import get_task, list_tasks

    own = {key for key, _ in task.cli_flags.values()}
    for dest, value in vars(args).items():
        key = dest[len("taskflag_") :]
        if not dest.startswith("taskflag_") or value is None or key in own:
            continue
        takers = {n: f for n in list_tasks() for f, (k, _) in get_task(n).cli_flags.items() if k == key}
        flag = next(iter(takers.values()), key)
        its = f"; task {task.name!r} takes {', '.join(task.cli_flags)}" if task.cli_flags else ""
        raise ValueError(
            f"{flag} is not an option of task {task.name!r}: only the {', '.join(takers)} "
            f"task{'s' if len(takers) > 1 else ''} take{'' if len(takers) > 1 else 's'} it ({key}){its}"
        )


def _task_of(args: argparse.Namespace) -> str:
    """The task a new run will train: --task, else the config file's, else text."""
    if args.task:
        return args.task
    if args.config:
        from ..train.config import flatten_file, read_toml

        _check_config_path(args.config)
        task, _ = flatten_file(read_toml(args.config), source=str(args.config))
        if task:
            return task
    return "text"


def _check_config_path(path: str) -> None:
    if Path(path).is_dir():
        raise ValueError(f"--config {path!r} is a directory, expected a TOML file")


def _launch(args: argparse.Namespace) -> int | None:
    """``--nproc N``: run this same command under ``torchrun --standalone`` (its exit status); None when
    there is nothing to launch (N is 1 and no restarts, or this process is already one of a group)."""
    import os
    import subprocess

    if args.nproc is not None and args.nproc < 1:
        raise ValueError(f"--nproc must be at least 1, got {args.nproc}")
    if args.max_restarts < 0:
        raise ValueError(f"--max-restarts must be at least 0, got {args.max_restarts}")
    if "TORCHELASTIC_RUN_ID" in os.environ or "WORLD_SIZE" in os.environ:
        if args.nproc not in (None, int(os.environ.get("WORLD_SIZE", "1"))):
            raise ValueError(
                f"--nproc {args.nproc} given inside a torchrun group of {os.environ.get('WORLD_SIZE')} "
                "processes: give the process count to torchrun only"
            )
        return None
    if (args.nproc or 1) == 1 and not args.max_restarts:
        return None
    rest, skip = [], False
    for a in getattr(args, "argv", []):
        if skip:
            skip = False
            continue
        if a in ("--nproc", "--max-restarts"):
            skip = True
            continue
        if a.startswith(("--nproc=", "--max-restarts=")):
            continue
        rest.append(a)
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={args.nproc or 1}",
        f"--max-restarts={args.max_restarts}", "-m", "rnnkit", *rest,
    ]  # fmt: skip
    print("launching: torchrun " + " ".join(command[3:]), file=sys.stderr)
    return subprocess.call(command)


@cli_errors("train")
def run(args: argparse.Namespace) -> int:
    from ..tasks import runner
    from ..tasks.registry import get_task
    from ..train.config import apply_overrides, describe_keys, validate

    if args.nproc is not None or args.max_restarts:
        code = _launch(args)
        if code is not None:
            return code
    overrides = _overrides(args)
    if args.resume:
        if args.task or args.config or args.preset:
            raise ValueError(
                "--resume continues a run with its saved settings; drop --task/--config/--preset"
            )
        cfg = runner.read_run_config(args.resume)
        fixed = sorted(k for k in overrides if k not in runner.RESUMABLE)
        if fixed:
            raise ValueError(
                f"a resumed run cannot change {', '.join(fixed)}; it may change only "
                f"{', '.join(runner.RESUMABLE)}"
            )
        cfg = validate(apply_overrides(cfg, overrides))
    else:
        if args.config:
            _check_config_path(args.config)
        _check_task_flags(args, get_task(_task_of(args)))
        cfg = runner.resolve_config(
            args.task, preset=args.preset, config_file=args.config, overrides=overrides
        )
    if args.show_config:
        print(f"task = {cfg.task}\n" + describe_keys(cfg))
        return 0
    try:
        summary = runner.train(cfg, resume=args.resume)
    except KeyboardInterrupt:
        print(
            "\naborted; the last checkpoint was saved. Continue with: rnnkit train --resume <run dir>",
            file=sys.stderr,
        )
        return 130
    return 130 if summary.fit.stop_reason == "interrupted" else 0
