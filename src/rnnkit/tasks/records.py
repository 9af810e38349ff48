"""Recorded training runs: the README's figures of a task come from these files, never from memory.

``python benchmarks/record_run.py RUN_DIR --label default`` copies what a finished run wrote — its
``config.json``, ``summary.json`` (metrics and baselines per split, steps, minutes), the task's report
(``forecast.json``, ``music.json``, ``jump.json`` or ``compose.json``) and ``sample.txt`` — with a
description of the machine into ``benchmarks/results/run-records/<task>-<label>-<date>-<cpu family>.json``.
The label names the configuration (``default`` for ``rnnkit train --task NAME`` as it ships); the
README renders each task's figures from the newest record of a label (``rnnkit.readme``), or, for a
figure given per seed and on average, from the label's seed set (:func:`seed_set`: the newest record of
each seed of the newest record's configuration and CPU family).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._io import write_new_json

VERSION = 1
REPORTS = ("forecast.json", "music.json", "jump.json", "compose.json")


class NoRecordError(ValueError):
    """No recorded run of the task and label asked for."""


@dataclass
class RunRecord:
    """One recorded run (a parsed record file)."""

    path: Path
    task: str
    label: str
    recorded: str  # date the record was written (right after the run)
    machine: dict[str, Any]
    config: dict[str, Any]
    summary: dict[str, Any]
    reports: dict[str, Any]  # report file name -> its JSON
    sample: str | None
    recorded_at: str = ""  # UTC time of the recording (records written before it was kept have none)

    @property
    def seed(self) -> int | None:
        seed = self.config.get("run", {}).get("seed")
        return seed if isinstance(seed, int) else None

    @property
    def family(self) -> str:
        return str(self.machine.get("cpu_family") or self.machine.get("cpu") or "unknown CPU")

    def describe(self) -> str:
        """When, where and how long: one sentence's worth."""
        m, s = self.machine, self.summary
        load = m.get("load_average_1min")
        load_text = f", load average {load:.1f} when recorded" if isinstance(load, int | float) else ""
        return (
            f"{self.recorded} on {m.get('cpu', 'unknown CPU')} ({self.family}, {m.get('cores', '?')} cores"
            f"{load_text}): {s['steps']:,} steps, {s['minutes']:.1f} min of training, "
            f"{s['wall_minutes']:.1f} min in all"
        )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read {str(path)!r}: {e}") from None


def record_run(run_dir: Path, folder: Path, label: str, machine: dict[str, Any] | None = None) -> Path:
    """Write a record of the finished run in ``run_dir`` into ``folder``; returns its path.

    Refused with a ValueError: a run without ``summary.json`` (not finished) or one that was interrupted.
    ``machine`` defaults to this machine's description: record on the machine that trained the run."""
    run_dir = Path(run_dir)
    if not label or not all(c.isalnum() or c in "-_" for c in label):
        raise ValueError(f"label must be a non-empty name of letters, digits, '-' or '_', got {label!r}")
    if not (run_dir / "summary.json").is_file():
        raise ValueError(f"{str(run_dir)!r} has no summary.json: the run did not finish (or is not a run)")
    summary = _read_json(run_dir / "summary.json")
    if summary.get("stop_reason") == "interrupted":
        raise ValueError(f"the run in {str(run_dir)!r} was interrupted: resume it to the end first")
    config = _read_json(run_dir / "config.json")
    reports = {name: _read_json(run_dir / name) for name in REPORTS if (run_dir / name).is_file()}
    sample = (
        (run_dir / "sample.txt").read_text(encoding="utf-8") if (run_dir / "sample.txt").is_file() else None
    )
    if machine is None:
        from ..bench.timing import machine_info

        machine = machine_info()
    recorded = str(machine.get("date") or time.strftime("%Y-%m-%d"))
    record = {"version": VERSION, "task": summary["task"], "label": label, "recorded": recorded,
              "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "run": run_dir.name, "machine": machine, "config": config, "summary": summary,
              "reports": reports, "sample": sample}  # fmt: skip
    stem = f"{summary['task']}-{label}-{recorded}-{machine.get('cpu_slug') or 'cpu'}"
    return write_new_json(folder, stem, record)


def read_run_records(folder: Path, task: str | None = None, label: str | None = None) -> list[RunRecord]:
    """The records in ``folder`` (of ``task`` / ``label`` when given), newest first."""
    records = []
    for path in sorted(Path(folder).glob("*.json")):
        data = _read_json(path)
        try:
            if data.get("version") != VERSION:
                raise ValueError(f"version {data.get('version')!r}, expected {VERSION}")
            rec = RunRecord(path, data["task"], data["label"], data["recorded"], data["machine"],
                            data["config"], data["summary"], data["reports"], data.get("sample"),
                            str(data.get("recorded_at") or ""))  # fmt: skip
        except (KeyError, AttributeError, ValueError) as e:
            raise ValueError(f"{str(path)!r} is not a run record: {e}") from None
        if (task is None or rec.task == task) and (label is None or rec.label == label):
            records.append(rec)
    return sorted(records, key=_age, reverse=True)


def _age(rec: RunRecord) -> tuple[str, str, int]:
    """Sort key, oldest first: the date, the time of recording, then the copy number of a file written
    when the name was taken (``stem.json`` is the first, ``stem-2.json`` the second …)."""
    stem, _, number = rec.path.stem.rpartition("-")
    copy = int(number) if stem and number.isdigit() and (rec.path.parent / f"{stem}.json").exists() else 1
    return rec.recorded, rec.recorded_at, copy


def newest(folder: Path, task: str, label: str = "default") -> RunRecord:
    """The newest record of ``task`` with ``label``; ValueError saying how to make one when none exists."""
    return _newest_first(folder, task, label)[0]


def _newest_first(folder: Path, task: str, label: str) -> list[RunRecord]:
    """The records of ``task`` with ``label``, newest first; NoRecordError when there are none."""
    records = read_run_records(folder, task, label)
    if not records:
        raise NoRecordError(
            f"no recorded {task!r} run labelled {label!r} in {str(folder)!r}: train one and record it with "
            f"`python benchmarks/record_run.py RUN_DIR --label {label}`"
        )
    return records


#: run settings that do not change what a run computes (its seed aside): records differing only in these
#: belong to one seed set
_RUN_ONLY = ("seed", "name", "out_dir", "progress", "plot", "device", "threads")


def _setting(rec: RunRecord) -> dict[str, Any]:
    config = dict(rec.config)
    config["run"] = {k: v for k, v in config.get("run", {}).items() if k not in _RUN_ONLY}
    return config


def seed_set(folder: Path, task: str, label: str = "default") -> list[RunRecord]:
    """The newest record of ``task``/``label`` with the newest record of each other seed of the same
    configuration recorded on the same CPU family: one record per seed, in seed order.

    A figure quoted as a mean over seeds comes from these; a record of another configuration or another
    CPU family starts a new set (the newest one's)."""
    records = _newest_first(folder, task, label)
    head = records[0]
    chosen: dict[int | None, RunRecord] = {}
    for rec in records:  # newest first: the newest record of each seed wins
        if rec.family == head.family and _setting(rec) == _setting(head):
            chosen.setdefault(rec.seed, rec)
    return sorted(chosen.values(), key=lambda r: (r.seed is None, r.seed or 0))
