"""Task name -> ``"module:Class"``, imported on first use. Adding a task: one line here (and its file)."""

from __future__ import annotations

import importlib
from functools import cache

from .base import Task

TASKS: dict[str, str] = {
    "text": "rnnkit.tasks.text:TextTask",
    "stocks": "rnnkit.tasks.stocks:StocksTask",
    "series": "rnnkit.tasks.series:SeriesTask",
    "music": "rnnkit.tasks.music:MusicTask",
    "jump": "rnnkit.tasks.jump:JumpTask",
    "compose": "rnnkit.tasks.compose:ComposeTask",
    "adding": "rnnkit.tasks.synthetic:AddingTask",
    "copy": "rnnkit.tasks.synthetic:CopyTask",
    "seqdigits": "rnnkit.tasks.seqdigits:SeqDigitsTask",
}


def list_tasks() -> list[str]:
    return list(TASKS)


@cache
def get_task(name: str) -> Task:
    """The task instance registered as ``name``."""
    if name not in TASKS:
        raise ValueError(f"task must be one of {list_tasks()}, got {name!r}")
    module, _, cls_name = TASKS[name].partition(":")
    cls = getattr(importlib.import_module(module), cls_name)
    task = cls()
    if not isinstance(task, Task) or task.name != name:
        raise TypeError(f"{TASKS[name]} must be a Task subclass with name={name!r}")
    return task
