"""Training: dataclass configs, one task-agnostic loop with gradient clipping and truncated BPTT,
checkpoints that resume exactly, progress/metrics/plots.

``Trainer(model, loss_fn, train_data, val_data, optim=OptimConfig(...), run=RunConfig(...)).fit()``.
"""

from .callbacks import Callback, CurvePlotter, JSONLLogger, ProgressBar, read_jsonl
from .checkpoint import (
    Checkpoint,
    CheckpointError,
    check_weights,
    load_checkpoint,
    load_weights,
    read_meta,
    save_checkpoint,
    seed_everything,
)
from .config import Config, OptimConfig, RunConfig, apply_overrides, option, to_toml, valid_keys
from .optim import LRSchedule, build_optimizer
from .outputs import DivergenceError, FitResult, LossOutput
from .sources import BatchSource, as_source
from .trainer import Trainer

__all__ = [
    "BatchSource",
    "Callback",
    "Checkpoint",
    "CheckpointError",
    "Config",
    "CurvePlotter",
    "DivergenceError",
    "FitResult",
    "JSONLLogger",
    "LRSchedule",
    "LossOutput",
    "OptimConfig",
    "ProgressBar",
    "RunConfig",
    "Trainer",
    "apply_overrides",
    "as_source",
    "build_optimizer",
    "check_weights",
    "load_checkpoint",
    "load_weights",
    "option",
    "read_jsonl",
    "read_meta",
    "save_checkpoint",
    "seed_everything",
    "to_toml",
    "valid_keys",
]
