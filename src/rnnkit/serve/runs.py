"""The runs a server holds: loaded once at start, each with an id, and picked per request.

``rnnkit serve RUN_DIR ...`` loads the runs named; with none, the latest run of each task under
``runs/`` (one folder deeper too: the tour's ``runs/tour/<run>``). A request names a run by its id (the
run directory's name) or leaves it to the server, which takes the first loaded run of a task the
endpoint serves. Requests never name paths.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..run import Run, load_run
from ..tasks.registry import list_tasks


@dataclass
class ServedRun:
    """A loaded run and what the server tells about it."""

    id: str
    run: Run
    summary: dict[str, Any] = field(default_factory=dict)  # summary.json, when the run wrote one

    def describe(self) -> dict[str, Any]:
        m = self.run.config.model
        return {
            "id": self.id,
            "task": self.run.task,
            "cell": getattr(m, "cell", None),
            "hidden_size": getattr(m, "hidden_size", None),
            "num_layers": getattr(m, "num_layers", None),
            "parameters": sum(p.numel() for p in self.run.model.parameters()),
            "checkpoint": self.run.checkpoint.name,
            "metrics": self.summary.get("metrics", {}),
            "baselines": self.summary.get("baselines", {}),
        }


def _summary(run_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load_runs(paths: Sequence[str | Path] = (), out_dir: str | Path = "runs") -> list[ServedRun]:
    """The runs in ``paths``, or (none given) the latest run of each task under ``out_dir``.

    A named run that cannot be loaded raises its error (the server does not start); with no paths, a
    task without a run is skipped, and no run at all raises ``FileNotFoundError`` saying where it
    looked."""
    runs: list[Run] = []
    if paths:
        runs = [load_run(p) for p in paths]
    else:
        for task in list_tasks():
            try:
                runs.append(load_run(task=task, out_dir=out_dir))
            except FileNotFoundError:
                continue
        if not runs:
            raise FileNotFoundError(
                f"no trained run under {str(out_dir)!r} to serve: train one (rnnkit train --task compose, "
                "rnnkit tour) or name run directories (rnnkit serve RUN_DIR ...)"
            )
    served: list[ServedRun] = []
    for run in runs:
        rid, k = run.dir.name, 2
        while any(s.id == rid for s in served):
            rid, k = f"{run.dir.name}-{k}", k + 1
        served.append(ServedRun(rid, run, _summary(run.dir)))
    return served


def pick(runs: Sequence[ServedRun], tasks: Sequence[str], run_id: str | None, endpoint: str) -> ServedRun:
    """The run ``run_id`` (which must be of one of ``tasks``), or the first loaded run of those tasks;
    ``LookupError`` with a message naming what is loaded otherwise."""
    loaded = ", ".join(f"{s.id} ({s.run.task})" for s in runs) or "none"
    if run_id is not None:
        for s in runs:
            if s.id == run_id:
                if s.run.task not in tasks:
                    raise LookupError(
                        f"{endpoint} serves {' or '.join(tasks)} runs; run {run_id!r} is a {s.run.task} run"
                    )
                return s
        raise LookupError(f"no run {run_id!r} is loaded (loaded: {loaded})")
    for s in runs:
        if s.run.task in tasks:
            return s
    raise LookupError(f"{endpoint} needs a {' or '.join(tasks)} run; none is loaded (loaded: {loaded})")
