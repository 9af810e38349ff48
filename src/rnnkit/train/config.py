"""Dataclass configs for a training run, loadable from TOML and overridable from the command line.

A run's :class:`Config` has four sections: ``model`` and ``data`` (dataclasses that each task defines),
``optim`` (:class:`OptimConfig`) and ``run`` (:class:`RunConfig`). Every setting has one dotted key,
``section.field``; layers of settings are applied in order, later ones winning:

    dataclass defaults < task defaults < --preset < --config FILE.toml < --set key=value

A TOML file mirrors the sections::

    task = "text"
    [model]
    hidden_size = 512
    [optim]
    lr = 3e-3
    max_minutes = 10

and ``rnnkit train --set optim.lr=3e-3 --set model.cell=gru`` overrides single keys. An unknown key is
an error that lists the valid ones (with a "did you mean"). The resolved config is saved in the run
directory as ``config.toml`` (to read and re-use) and ``config.json`` (exact, used to resume).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._io import atomic_write_text

SECTIONS = ("model", "data", "optim", "run")


def option(
    default: Any,
    help: str,
    *,
    choices: tuple[Any, ...] | None = None,
    low: float | None = None,
    above: float | None = None,
    high: float | None = None,
):
    """A config field with its help text, allowed values and bounds (checked by :func:`validate`):
    ``low`` is an inclusive lower bound (value >= low), ``above`` an exclusive one (value > above),
    ``high`` an inclusive upper bound (value <= high)."""
    meta = {"help": help, "choices": choices, "low": low, "above": above, "high": high}
    return field(default=default, metadata=meta)


def fraction(default: float, help: str, *, split: bool = True):
    """A config field holding a share strictly between 0 and 1. ``split`` marks the share of a data split
    (validation, test …): the split shares of one section must also sum to less than 1, so that every
    split, training included, gets something."""
    return field(default=default, metadata={"help": help, "choices": None, "fraction": True, "split": split})


@dataclass
class OptimConfig:
    """How the weights are updated and for how long."""

    optimizer: str = option("adamw", "update rule", choices=("adamw", "adam", "sgd"))
    lr: float = option(2e-3, "peak learning rate", low=0.0)
    weight_decay: float = option(0.01, "decoupled weight decay on matrices (not on biases)", low=0.0)
    betas: tuple[float, float] = option((0.9, 0.999), "Adam/AdamW moment decay rates")
    momentum: float = option(0.9, "SGD momentum", low=0.0, high=1.0)
    schedule: str = option(
        "cosine", "learning-rate schedule after warm-up", choices=("cosine", "linear", "constant")
    )
    warmup_steps: int = option(100, "steps of linear warm-up from 0 to lr", low=0)
    min_lr_ratio: float = option(
        0.1, "final learning rate as a fraction of lr (cosine/linear)", low=0.0, high=1.0
    )
    clip_norm: float | None = option(1.0, "clip the total gradient norm to this (none = off)", low=0.0)
    clip_value: float | None = option(None, "clip every gradient element to ±this (none = off)", low=0.0)
    max_steps: int = option(2000, "stop after this many updates", low=1)
    max_epochs: int | None = option(None, "stop after this many passes over the training data", low=1)
    max_minutes: float | None = option(
        None,
        "time budget of the training loop (with periodic evaluations): the step count is planned once "
        "from the measured speed when warm-up ends, and the schedule anneals over that plan",
        above=0.0,
    )
    on_divergence: str = option(
        "stop",
        "a training loss above divergence_factor x its lowest running median for divergence_steps steps "
        "in a row: stop with an error or warn and go on (a non-finite loss or gradient always stops)",
        choices=("stop", "warn"),
    )
    divergence_factor: float = option(
        10.0, "how many times its lowest running median the loss must exceed to count as diverging", low=1.0
    )
    divergence_steps: int = option(20, "consecutive steps above the factor before it counts", low=1)


@dataclass
class RunConfig:
    """Where a run lives, how it is seeded, logged, evaluated and saved."""

    seed: int = option(0, "seed of weights, data order, dropout and sampling")
    out_dir: str = option("runs", "parent folder of run directories")
    name: str | None = option(None, "run directory name (default <task>-<timestamp>)")
    device: str = option("auto", "cpu, cuda, cuda:N or auto (cuda when available)")
    threads: int | None = option(None, "torch CPU threads (none = torch's default)", low=1)
    amp: str = option(
        "off", "mixed precision autocast: bf16 (CPU/GPU) or fp16 (GPU)", choices=("off", "bf16", "fp16")
    )
    eval_every: int = option(200, "evaluate on the validation split every this many steps", low=1)
    eval_batches: int | None = option(None, "cap on validation batches of periodic evaluations", low=1)
    checkpoint_every: int = option(500, "write the 'last' checkpoint every this many steps", low=1)
    patience: int | None = option(None, "early stopping: evaluations without improvement (none = off)", low=1)
    min_delta: float = option(0.0, "early stopping: smallest change that counts as improvement", low=0.0)
    progress: bool = option(True, "show a progress bar")
    plot: bool = option(True, "save loss/metric curves as PNG in the run directory")


@dataclass
class Config:
    """A complete run: the task's name and the four sections."""

    task: str
    model: Any
    data: Any
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def section(self, name: str) -> Any:
        return getattr(self, name)


# -- keys and values -----------------------------------------------------------------------------------
def valid_keys(cfg: Config) -> list[str]:
    """Every dotted key of the config, in section order."""
    return [f"{s}.{f.name}" for s in SECTIONS for f in dataclasses.fields(cfg.section(s))]


#: rnnkit's field name -> other names people use for it (from other libraries, or plain words); a
#: suggestion is made only where the field exists in the config at hand
_FIELD_WORDS: dict[str, str] = {
    "lr": "learning_rate learningrate lr_max max_lr peak_lr base_lr",
    "max_steps": "steps num_steps n_steps train_steps total_steps iters iterations max_iters max_iterations",
    "max_epochs": "epochs num_epochs n_epochs epoch",
    "max_minutes": "minutes time_limit time_budget max_time",
    "weight_decay": "wd l2 l2_penalty",
    "warmup_steps": "warmup warmup_iters num_warmup_steps",
    "clip_norm": "clip grad_clip clip_grad clip_grad_norm max_grad_norm gradient_clip grad_norm",
    "schedule": "scheduler lr_schedule lr_scheduler",
    "optimizer": "optimiser opt",
    "hidden_size": "hidden hidden_dim hidden_units n_hidden rnn_size d_model",
    "num_layers": "layers n_layers nlayers num_layer depth",
    "cell": "rnn_type cell_type rnn",
    "dropout": "dropout_rate dropout_p p_dropout",
    "batch_size": "batch bs batchsize minibatch",
    "seed": "random_seed rng_seed manual_seed",
    "out_dir": "output_dir outdir out runs_dir save_dir",
    "patience": "early_stopping early_stop",
    "threads": "num_threads n_threads cpu_threads",
    "amp": "precision mixed_precision autocast",
}
FIELD_ALIASES: dict[str, str] = {a: f for f, words in _FIELD_WORDS.items() for a in words.split()}
#: the same for sections
_SECTION_WORDS: dict[str, str] = {
    "optim": "optimizer optimiser optimization optimisation train training trainer solver",
    "model": "network net arch architecture",
    "data": "dataset datasets loader",
    "run": "runtime logging output experiment",
}
SECTION_ALIASES: dict[str, str] = {a: s for s, words in _SECTION_WORDS.items() for a in words.split()}


def _normal(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def suggest_key(got: str, valid: list[str]) -> str | None:
    """The valid key most likely meant by ``got``, by meaning first, then by spelling.

    By meaning: the field name itself or one of its :data:`FIELD_ALIASES` (``learning_rate`` → ``lr``,
    ``epochs`` → ``max_epochs``), found in the same section or, failing that, any other
    (``model.lr`` → ``optim.lr``; a bare ``lr`` → ``optim.lr``). By spelling: the closest field name
    within the section, then the closest whole key (``optim.lrr`` → ``optim.lr``)."""
    section, _, name = got.rpartition(".")
    section = SECTION_ALIASES.get(_normal(section), _normal(section))
    name = _normal(name)
    by_field: dict[str, list[str]] = {}
    for key in valid:
        s, _, f = key.partition(".")
        by_field.setdefault(f, []).append(s)
    for field_name in dict.fromkeys((name, FIELD_ALIASES.get(name, name))):
        sections = by_field.get(field_name)
        if sections:
            return f"{section if section in sections else sections[0]}.{field_name}"
    mine = [k.partition(".")[2] for k in valid if k.partition(".")[0] == section]
    close = difflib.get_close_matches(name, mine, n=1, cutoff=0.75)
    if close:
        return f"{section}.{close[0]}"
    close = difflib.get_close_matches(got, valid, n=1)
    return close[0] if close else None


def _unknown(kind: str, got: str, valid: list[str]) -> ValueError:
    if kind == "section":
        meant = SECTION_ALIASES.get(_normal(got), _normal(got))
        close = [meant] if meant in valid else difflib.get_close_matches(got, valid, n=1)
        suggestion = close[0] if close else None
    else:
        suggestion = suggest_key(got, valid)
    hint = f"; did you mean {suggestion!r}?" if suggestion is not None else "."
    return ValueError(f"unknown config {kind} {got!r}{hint} Valid {kind}s: {', '.join(valid)}")


def _split_key(cfg: Config, key: str) -> tuple[Any, dataclasses.Field]:
    if not isinstance(key, str) or key.count(".") != 1:
        raise _unknown("key", str(key), valid_keys(cfg))
    section, name = key.split(".")
    if section not in SECTIONS:
        raise _unknown("key", key, valid_keys(cfg))
    obj = cfg.section(section)
    fields = {f.name: f for f in dataclasses.fields(obj)}
    if name not in fields:
        raise _unknown("key", key, valid_keys(cfg))
    return obj, fields[name]


def _hint_parts(hint: Any) -> tuple[Any, bool]:
    """(the non-None type, whether None is allowed); config fields use one type or ``X | None``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        kinds = [a for a in args if a is not type(None)]
        if len(kinds) != 1:
            raise TypeError(f"config fields must have one type or 'X | None', got {hint}")
        return kinds[0], len(kinds) < len(args)
    return hint, False


def _a(kind: Any) -> str:
    name = getattr(kind, "__name__", str(kind))
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _parse_scalar(text: str, kind: type, key: str) -> Any:
    s = text.strip()
    try:
        if kind is bool:
            low = s.lower()
            if low in ("true", "yes", "on", "1"):
                return True
            if low in ("false", "no", "off", "0"):
                return False
            raise ValueError
        if kind is int:
            return int(s.replace("_", ""))
        if kind is float:
            return float(s)
    except ValueError:
        raise ValueError(f"{key} expects {_a(kind)}, got {text!r}") from None
    return s.strip("'\"") if kind is str else s


def coerce(value: Any, hint: Any, key: str) -> Any:
    """Check/convert ``value`` (from TOML, JSON or a command-line string) to the field type ``hint``."""
    kind, nullable = _hint_parts(hint)
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null") and nullable):
        if not nullable:
            raise ValueError(f"{key} cannot be none (expected {_a(kind)})")
        return None
    if typing.get_origin(kind) in (tuple, list):
        inner = typing.get_args(kind)
        if isinstance(value, str):
            value = [v for v in value.strip().strip("[]()").split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise TypeError(f"{key} expects a list, got {type(value).__name__} ({value!r})")
        if typing.get_origin(kind) is tuple and Ellipsis not in inner and len(value) != len(inner):
            raise ValueError(f"{key} expects {len(inner)} values, got {len(value)} ({list(value)!r})")
        elem = inner[0] if inner else str
        items = [coerce(v, elem, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if typing.get_origin(kind) is tuple else items
    if isinstance(value, str) and kind is not str:
        return _parse_scalar(value, kind, key)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise ValueError(
                f"{key} expects a float, got an integer of {len(str(abs(value)))} digits, too large for one"
            ) from None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"{key} expects {_a(kind)}, got {type(value).__name__} ({value!r})")
    return value


def set_value(cfg: Config, key: str, value: Any) -> None:
    """Set one dotted key (``"optim.lr"``), converting ``value`` to the field's type."""
    if key == "task":
        raise ValueError("the task is chosen with --task (or `task = ...` at the top of a config file)")
    obj, f = _split_key(cfg, key)
    hint = typing.get_type_hints(type(obj))[f.name]
    setattr(obj, f.name, coerce(value, hint, key))


def apply_overrides(cfg: Config, overrides: Mapping[str, Any]) -> Config:
    """Apply ``{"section.key": value}`` in order; returns ``cfg`` (modified in place)."""
    for key, value in overrides.items():
        set_value(cfg, key, value)
    return cfg


def parse_assignments(items: list[str]) -> dict[str, str]:
    """``["optim.lr=3e-3", "model.cell=gru"]`` -> ``{"optim.lr": "3e-3", "model.cell": "gru"}``."""
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE (e.g. optim.lr=3e-3), got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = value
    return out


def validate(cfg: Config) -> Config:
    """Check every field's allowed values and bounds; raises ValueError naming the key. The recurrent cell
    (``model.cell``) and scan backend (``model.backend``) must be registered ones; the split shares of a
    section (:func:`fraction`) must each lie in (0, 1) and together leave a training split."""
    for s in SECTIONS:
        obj = cfg.section(s)
        splits: list[tuple[str, float]] = []
        for f in dataclasses.fields(obj):
            value, key = getattr(obj, f.name), f"{s}.{f.name}"
            _check_value(key, value, f.metadata)
            if f.metadata.get("split") and value is not None:
                splits.append((key, value))
        if len(splits) > 1 and sum(v for _, v in splits) >= 1:
            keys = " + ".join(k for k, _ in splits)
            got = " + ".join(f"{v:g}" for _, v in splits)
            raise ValueError(
                f"{keys} must sum to less than 1 (the rest is the training split), "
                f"got {got} = {sum(v for _, v in splits):g}"
            )
    return cfg


def _check_value(key: str, value: Any, meta: Mapping[str, Any]) -> None:
    if isinstance(value, list | tuple) and key != "optim.betas":  # each element meets the field's rules
        if not value:
            raise ValueError(f"{key} must hold at least one value, got an empty list")
        for v in value:
            _check_value(key, v, meta)
        return
    choices, low, above, high = meta.get("choices"), meta.get("low"), meta.get("above"), meta.get("high")
    if choices is not None and value not in choices:
        raise ValueError(f"{key} must be one of {list(choices)}, got {value!r}")
    if key == "model.cell":
        from ..cells.registry import list_cells

        cells = list_cells()
        if value not in cells:
            raise ValueError(f"{key} must be a registered cell, one of {cells}, got {value!r}")
    if key == "model.backend":
        from ..scan.backends import known_backends

        names = known_backends()
        if value not in names:
            close = difflib.get_close_matches(str(value), names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{key} must be a registered backend, one of {names}, got {value!r}{hint}")
    if key == "optim.betas" and not all(math.isfinite(b) and 0 <= b < 1 for b in value):
        raise ValueError(f"{key} must be two numbers in [0, 1), got {list(value)}")
    if value is None:
        return
    bounded = low is not None or above is not None or high is not None or meta.get("fraction")
    if bounded and isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{key} must be finite, got {value}")
    if low is not None and value < low:
        raise ValueError(f"{key} must be >= {low}, got {value}")
    if above is not None and value <= above:
        raise ValueError(f"{key} must be > {above}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{key} must be <= {high}, got {value}")
    if meta.get("fraction") and not 0 < value < 1:
        raise ValueError(f"{key} must be a share strictly between 0 and 1, got {value}")


# -- files -----------------------------------------------------------------------------------------------
def flatten_file(data: Mapping[str, Any], source: str = "config") -> tuple[str | None, dict[str, Any]]:
    """A parsed TOML/JSON config ``{"task": .., "model": {..}, ..}`` -> (task, {"model.x": ..})."""
    task = data.get("task")
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key == "task":
            continue
        if key not in SECTIONS:
            raise _unknown("section", key, ["task", *SECTIONS]) from None
        if not isinstance(value, Mapping):
            raise TypeError(f"[{key}] in {source} must be a table of settings, got {type(value).__name__}")
        flat.update({f"{key}.{k}": v for k, v in value.items()})
    if task is not None and not isinstance(task, str):
        raise TypeError(f"task in {source} must be a string, got {type(task).__name__}")
    return task, flat


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML config file, parsed; a missing file, a folder, a binary file or bad TOML is a one-line
    error naming the file."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"config file {str(path)!r} is a directory, expected a TOML file")
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"config file {str(path)!r} is not a UTF-8 TOML text (byte {e.start} cannot be decoded)"
        ) from None
    except OSError as e:
        raise ValueError(f"config file {str(path)!r} cannot be read: {e.strerror or e}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"config file {str(path)!r} is not valid TOML: {e}") from None


def to_dict(cfg: Config) -> dict[str, Any]:
    """``{"task": .., "model": {..}, "data": {..}, "optim": {..}, "run": {..}}`` (tuples as lists)."""
    out: dict[str, Any] = {"task": cfg.task}
    for s in SECTIONS:
        out[s] = {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg.section(s)).items()
        }
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return (
            repr(value)
            if math.isfinite(value)
            else ("nan" if value != value else ("inf" if value > 0 else "-inf"))
        )
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def to_toml(cfg: Config) -> str:
    """The config as TOML; unset (None) options are written as comments."""
    d = to_dict(cfg)
    lines = [f"task = {json.dumps(cfg.task)}"]
    for s in SECTIONS:
        lines += ["", f"[{s}]"]
        for k, v in d[s].items():
            lines.append(f"# {k} = none" if v is None else f"{k} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


def save_config(cfg: Config, folder: str | Path) -> None:
    """Write ``config.toml`` and ``config.json`` into ``folder`` (atomically)."""
    folder = Path(folder)
    atomic_write_text(folder / "config.toml", to_toml(cfg))
    atomic_write_text(folder / "config.json", json.dumps(to_dict(cfg), indent=2) + "\n")


def describe_keys(cfg: Config) -> str:
    """One line per key: ``section.key = value  # help [choices]`` (for ``--show-config``)."""
    rows = []
    for s in SECTIONS:
        for f in dataclasses.fields(cfg.section(s)):
            value = getattr(cfg.section(s), f.name)
            note = f.metadata.get("help", "")
            if f.metadata.get("choices"):
                note += f" [{' | '.join(map(str, f.metadata['choices']))}]"
            shown = "none" if value is None else _toml_value(value)
            rows.append(f"{s}.{f.name} = {shown}" + (f"    # {note}" if note else ""))
    return "\n".join(rows)
