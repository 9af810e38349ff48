"""Built-in tasks (``rnnkit train --task NAME``) and the machinery that runs them.

See :mod:`rnnkit.tasks.base` for the Task interface and how to add one.
"""

from .base import Task, TaskData
from .registry import TASKS, get_task, list_tasks
from .runner import LoadedRun, RunSummary, evaluate_run, latest_run, load_run, resolve_config, train

__all__ = [
    "TASKS",
    "LoadedRun",
    "RunSummary",
    "Task",
    "TaskData",
    "evaluate_run",
    "get_task",
    "latest_run",
    "list_tasks",
    "load_run",
    "resolve_config",
    "train",
]
