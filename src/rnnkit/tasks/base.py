"""The Task interface: everything ``rnnkit train/evaluate/generate --task NAME`` needs to know.

A task bundles a data source, a model, a loss, metrics and honest baselines. The trainer, the run
directory, checkpoints, configs and the CLI are shared; a task only fills in what is specific to it.

Adding a task = one file + one registry line:

1. ``src/rnnkit/tasks/mytask.py``::

       @dataclass
       class MyModelConfig:
           hidden_size: int = option(128, "LSTM hidden size", low=1)

       @dataclass
       class MyDataConfig:
           csv: str | None = option(None, "your own CSV file (default: the built-in data)")
           batch_size: int = option(32, "sequences per batch", low=1)

       class MyTask(Task):
           name = "mytask"
           summary = "one line for `rnnkit train --help`"
           ModelConfig, DataConfig = MyModelConfig, MyDataConfig
           monitor, mode = "rmse", "min"              # picks the best checkpoint, early stopping
           defaults = {"optim.max_steps": 1500}       # task-specific defaults of any section
           presets = {"tour": {"optim.max_minutes": 1.0}}
           cli_flags = {"--csv": ("data.csv", "train on your own CSV file")}

           def build_data(self, cfg, state=None): ...   # -> TaskData(train, val, test, state, info)
           def build_model(self, cfg, state): ...       # -> nn.Module
           def loss(self, model, batch, carry): ...     # -> LossOutput(loss, count, metrics)
           def baselines(self, cfg, data, split): ...   # -> {"persistence": {"rmse": …}, …}

2. one line in :data:`rnnkit.tasks.registry.TASKS`: ``"mytask": "rnnkit.tasks.mytask:MyTask"``.

Keep the module's imports light (import heavy data libraries inside ``build_data``): the CLI imports
every task to build its ``--help``.

Conventions:

- ``build_data`` returns batch sources (see :mod:`rnnkit.train.sources`: a list, a DataLoader, or an
  object with ``epoch(epoch, start)``) whose order depends only on ``cfg.run.seed`` and the epoch, so
  ``--resume`` is exact. ``TaskData.state`` is JSON (a vocabulary, scaler statistics, …); it is stored
  in every checkpoint and handed back to ``build_model`` / ``build_data`` when a checkpoint is loaded,
  so evaluation and generation never depend on re-deriving it.
- ``evaluate`` returns ``{metric: value}`` including ``self.monitor``; the default averages ``loss``'s
  loss and metrics over the batches (weighted by ``count``). Override it for metrics that do not
  average (RMSE, top-k accuracy over a corpus, …).
- ``baselines`` are computed in the same run, on the same split, with the same metric names, so every
  reported number stands next to an honest reference.
- Periodic evaluations during training score the first ``run.eval_batches`` batches of ``val`` only;
  ``val_subset`` gives those batches as a source of the same kind, so the baselines drawn on the curve
  are computed on exactly that subset (see :meth:`Task.periodic_val`). A task that cannot cut its data
  keeps the default (None): its curve then shows no baseline lines rather than lines from other data.
- ``generate`` backs ``rnnkit generate --task NAME`` (common options: --prime, --steps, --temperature,
  --top-k, --top-p, --seed, --out); tasks without one keep the default, which says so.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from torch import nn

from ..train.config import Config
from ..train.evaluation import evaluate_source
from ..train.outputs import LossOutput
from ..train.sources import as_source

#: the better side of the metric names tasks share ("min": lower is better, "max": higher is better)
METRIC_DIRECTIONS: dict[str, str] = {
    **dict.fromkeys(("loss", "bpc", "ppl", "mse", "rmse", "mae", "mae_avg", "nll", "ratio"), "min"),
    **dict.fromkeys(("accuracy", "recall_accuracy", "top1", "top3", "top5", "exact3"), "max"),
}


@dataclass
class TaskData:
    """What ``Task.build_data`` returns.

    Attributes:
        train, val, test: batch sources (val/test may be None).
        state: JSON-serialisable facts the model needs (vocabulary, scaling …); saved in checkpoints.
        info: human-readable facts about the data (sizes, source, split) for the run summary.
    """

    train: Any
    val: Any = None
    test: Any = None
    state: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class ValSubset:
    """The first batches of a validation source, as a source of the same kind (``Task.val_subset``).

    Attributes:
        source: exactly the data those batches hold, in the same order (its batches are those batches).
        size: what it holds, for labels: ``"1,536-pair"``, ``"40,960-character"``.
    """

    source: Any
    size: str


@dataclass
class PeriodicVal:
    """What the periodic evaluations during training score (``Task.periodic_val``).

    Attributes:
        source: the validation source each periodic evaluation scores.
        max_batches: the cap it is scored with (only when the task could not cut its data: None otherwise).
        subset: what ``source`` holds when it is less than the validation split (``"1,536-pair"``); None
            when it is the whole split.
        data: the task data whose ``val`` is exactly what is scored (``test`` None), for the curve's
            baselines; None when the task cannot cut its data (the curve then shows no baselines).
    """

    source: Any
    max_batches: int | None = None
    subset: str | None = None
    data: TaskData | None = None


class Task:
    """Base class of every task; see the module docstring."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    ModelConfig: ClassVar[type]
    DataConfig: ClassVar[type]
    defaults: ClassVar[dict[str, Any]] = {}
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    monitor: ClassVar[str] = "loss"
    mode: ClassVar[str] = "min"
    tbptt: ClassVar[bool] = False
    item_name: ClassVar[str] = "items"
    cli_flags: ClassVar[dict[str, tuple[str, str]]] = {}
    #: metric -> "min" (lower is better) or "max" (higher is better), for the task's own metric names;
    #: ``monitor`` reads as ``mode``, and common names as in :data:`METRIC_DIRECTIONS`
    directions: ClassVar[dict[str, str]] = {}

    # -- required --------------------------------------------------------------------------------------
    def build_data(self, cfg: Config, state: dict[str, Any] | None = None) -> TaskData:
        """Train/val/test sources. ``state`` is the saved one when a checkpoint is evaluated (reuse it)."""
        raise NotImplementedError

    def build_model(self, cfg: Config, state: dict[str, Any]) -> nn.Module:
        raise NotImplementedError

    def loss(self, model: nn.Module, batch: Any, carry: Any = None) -> LossOutput:
        raise NotImplementedError

    # -- optional --------------------------------------------------------------------------------------
    def evaluate(
        self, model: nn.Module, source: Any, cfg: Config, max_batches: int | None = None
    ) -> dict[str, float]:
        """Metrics of ``model`` (in eval mode, under no_grad) on a source."""
        device = next(model.parameters()).device
        return evaluate_source(
            model,
            self.loss,
            as_source(source, cfg.run.seed),
            max_batches=max_batches,
            tbptt=self.tbptt,
            device=device,
        )

    def baselines(self, cfg: Config, data: TaskData, split: str = "val") -> dict[str, dict[str, float]]:
        """Baseline name -> its metrics on ``split`` (same names as :meth:`evaluate`)."""
        return {}

    def val_subset(self, cfg: Config, data: TaskData, batches: int) -> ValSubset | None:
        """The first ``batches`` batches of ``data.val`` as a source of the same kind, which
        :meth:`baselines` can score (``data.val`` replaced by it); None when the task cannot cut its data."""
        return None

    def periodic_val(self, cfg: Config, data: TaskData) -> PeriodicVal:
        """What the periodic evaluations score: all of ``data.val``, or its first ``run.eval_batches``
        batches (as :meth:`val_subset` cuts them, else ``data.val`` capped at that many batches)."""
        n, val = cfg.run.eval_batches, data.val
        total = len(val) if val is not None and hasattr(val, "__len__") else None
        if val is None or n is None or (total is not None and n >= total):
            return PeriodicVal(val, data=data)
        sub = self.val_subset(cfg, data, n)
        if sub is None:
            return PeriodicVal(val, max_batches=n, subset=f"first {n}-batch")
        return PeriodicVal(sub.source, subset=sub.size, data=replace(data, val=sub.source, test=None))

    def curve_baselines(
        self, cfg: Config, periodic: PeriodicVal, val_baselines: dict[str, dict[str, float]]
    ) -> dict[str, dict[str, float]]:
        """The baselines to draw beside the validation curve, scored on exactly what it scores: the
        whole split's (``val_baselines``), or the subset's, named ``"bigram (same 1,536-pair subset)"``."""
        if periodic.subset is None:
            return val_baselines
        if periodic.data is None:
            return {}
        found = self.baselines(cfg, periodic.data, "val")
        return {f"{name} (same {periodic.subset} subset)": m for name, m in found.items()}

    def after_training(self, model: nn.Module, cfg: Config, data: TaskData, run_dir: Path) -> dict[str, Any]:
        """Write task-specific artefacts (samples, plots) into the run directory; returns their summary."""
        return {}

    def direction(self, metric: str) -> str | None:
        """How to read ``metric``: "min" (lower is better), "max" (higher is better) or None (no better
        side, e.g. a control such as an accuracy on shuffled inputs)."""
        if metric == self.monitor:
            return self.mode
        return self.directions.get(metric, METRIC_DIRECTIONS.get(metric))

    def generate(self, run: LoadedRun, args: argparse.Namespace) -> int:
        """``rnnkit generate`` for this task; returns the exit status."""
        raise NotImplementedError(f"task {self.name!r} has no generate command")

    # -- config ------------------------------------------------------------------------------------------
    def make_config(self) -> Config:
        """A config with the dataclass defaults and this task's :attr:`defaults` applied."""
        from ..train.config import apply_overrides

        return apply_overrides(Config(self.name, self.ModelConfig(), self.DataConfig()), dict(self.defaults))


@dataclass
class LoadedRun:
    """A finished run loaded from its folder (:func:`rnnkit.tasks.load_run`): the task, the run's
    config, the model with the checkpoint's weights, the checkpoint's saved state, and where it came
    from."""

    task: Task
    cfg: Config
    model: nn.Module
    state: dict[str, Any]
    run_dir: Path
    checkpoint: Path
