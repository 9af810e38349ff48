"""Checkpoints: one safetensors file holding everything needed to continue a run exactly.

Tensors (no pickle anywhere, so loading never executes code):

- ``model/<name>``: the model's state_dict (tied weights stored once, see ``aliases``),
- ``optim/<param index>/<name>``: the optimiser's per-parameter state (Adam moments, step, …),
- ``carry/<i>``: the recurrent state carried across chunks (truncated BPTT),
- ``rng/torch``, ``rng/cuda/<i>``: the torch random-generator states.

The file's metadata entry ``rnnkit`` is JSON with the rest: optimiser hyper-parameters, Python and
NumPy RNG states, the trainer's position (step, epoch, batch, elapsed time, early-stopping state) and
what the caller adds (the run's config, the task's vocabulary, …). A checkpoint is written to a
temporary file and renamed over the old one, so a crash never leaves a broken checkpoint.

Reading is strict: a file that is missing, a folder, empty, truncated, not safetensors (e.g. a pickle
renamed ``.safetensors``), not an rnnkit checkpoint, of a newer format, or whose metadata does not match
its tensors raises :class:`CheckpointError` (a ``ValueError``) naming the file and what is wrong; and
:func:`check_weights` says which parameter does not fit a model before ``load_state_dict`` is tried.

Read the weights alone with :func:`load_weights` (or ``safetensors.torch.load_file`` and the
``model/`` prefix).
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor

from .._io import atomic_write_bytes

FORMAT = "rnnkit-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: unreadable, corrupt, foreign or not fitting the model."""


@dataclass
class Checkpoint:
    """A loaded checkpoint. ``meta`` is the JSON part (``meta["trainer"]``, ``meta["extra"]``, …)."""

    model: dict[str, Tensor]
    optimizer: dict[str, Any] | None
    carry: Any
    rng: dict[str, Any]
    meta: dict[str, Any]

    @property
    def extra(self) -> dict[str, Any]:
        return self.meta.get("extra", {})


# -- random generators -------------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) global generators."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} ({seed!r})")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# -- carried state (tensor / nested tuples of tensors / None) -----------------------------------------
def _flatten_carry(carry: Any, tensors: list[Tensor]) -> Any:
    if carry is None:
        return None
    if isinstance(carry, Tensor):
        tensors.append(carry)
        return len(tensors) - 1
    if isinstance(carry, tuple | list):
        return {"seq": [_flatten_carry(c, tensors) for c in carry], "tuple": isinstance(carry, tuple)}
    raise TypeError(f"the carried state must be a tensor or tuples of tensors, got {type(carry).__name__}")


def _unflatten_carry(spec: Any, tensors: dict[str, Tensor]) -> Any:
    if spec is None:
        return None
    if isinstance(spec, int):
        return tensors[f"carry/{spec}"]
    items = [_unflatten_carry(s, tensors) for s in spec["seq"]]
    return tuple(items) if spec["tuple"] else items


# -- saving / loading ------------------------------------------------------------------------------------
def _plain(t: Tensor) -> Tensor:
    return t.detach().to("cpu").contiguous().clone()


def save_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    carry: Any = None,
    trainer: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    include_rng: bool = True,
) -> Path:
    """Write a checkpoint atomically. ``trainer`` and ``extra`` must be JSON-serialisable."""
    tensors: dict[str, Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple[int, tuple[int, ...], tuple[int, ...]], str] = {}
    for name, t in model.state_dict().items():
        key = (
            t.untyped_storage().data_ptr() + t.storage_offset() * t.element_size(),
            tuple(t.shape),
            t.stride(),
        )
        if t.numel() and key in seen:  # tied weights: stored once
            aliases[name] = seen[key]
            continue
        seen[key] = name
        tensors[f"model/{name}"] = _plain(t)
    optim_meta = None
    if optimizer is not None:
        sd = optimizer.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for pid, pstate in sd["state"].items():
            for k, v in pstate.items():
                if isinstance(v, Tensor):
                    tensors[f"optim/{pid}/{k}"] = _plain(v)
                else:
                    scalars.setdefault(str(pid), {})[k] = v
        optim_meta = {
            "param_groups": sd["param_groups"],
            "scalars": scalars,
            "pids": [str(p) for p in sd["state"]],
        }
    carry_tensors: list[Tensor] = []
    carry_spec = _flatten_carry(carry, carry_tensors)
    tensors |= {f"carry/{i}": _plain(t) for i, t in enumerate(carry_tensors)}
    rng_meta = None
    if include_rng:
        rng = rng_state()
        tensors["rng/torch"] = rng["torch"]
        for i, s in enumerate(rng.get("cuda", [])):
            tensors[f"rng/cuda/{i}"] = s
        name, keys, pos, has_gauss, cached = rng["numpy"]
        rng_meta = {
            "python": [rng["python"][0], list(rng["python"][1]), rng["python"][2]],
            "numpy": [name, [int(k) for k in keys], int(pos), int(has_gauss), float(cached)],
            "cuda": len(rng.get("cuda", [])),
        }
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "aliases": aliases,
        "optimizer": optim_meta,
        "carry": carry_spec,
        "rng": rng_meta,
        "trainer": trainer or {},
        "extra": extra or {},
    }
    path = Path(path)
    atomic_write_bytes(path, st_save(tensors, metadata={"rnnkit": json.dumps(meta)}))
    return path


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {str(path)!r} is a directory, expected a .safetensors file")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    return path


def _unreadable(path: Path, head: bytes, size: int, reason: str) -> CheckpointError:
    """The error for a file that is not a readable safetensors file, with what it looks like instead."""
    if size == 0:
        what = "it is empty (0 bytes)"
    elif head[:1] == b"\x80" or head[:4] == b"PK\x03\x04":
        what = "it looks like a pickle / torch.save file, which rnnkit never loads (unpickling can run code)"
    else:
        what = f"{reason}; it may have been cut short by a crash or a full disk, or be another kind of file"
    return CheckpointError(f"checkpoint {str(path)!r} is not a readable safetensors file: {what}")


def _header(path: Path, data: bytes, size: int) -> dict[str, Any]:
    """The safetensors header at the start of ``data`` (the first bytes of a ``size``-byte file)."""
    if size < 8:
        raise _unreadable(path, data, size, f"it holds only {size} bytes")
    (n,) = struct.unpack("<Q", data[:8])
    if n > 100_000_000:  # safetensors' own limit: these bytes are not a header length
        raise _unreadable(path, data, size, "it does not start with a safetensors header")
    if n > size - 8:
        raise _unreadable(path, data, size, f"its header claims {n:,} bytes but the file has {size:,}")
    try:
        header = json.loads(data[8 : 8 + n])
    except (UnicodeDecodeError, ValueError):
        raise _unreadable(path, data, size, "its header is not JSON") from None
    if not isinstance(header, dict):
        raise _unreadable(path, data, size, "its header is not a JSON object")
    return header


def _parse_meta(path: Path, raw: Any) -> dict[str, Any]:
    if raw is None:
        raise CheckpointError(
            f"{str(path)!r} is a safetensors file but not an rnnkit checkpoint (no 'rnnkit' metadata)"
        )
    try:
        meta = json.loads(raw)
    except (TypeError, ValueError):
        raise CheckpointError(
            f"checkpoint {str(path)!r} is damaged: its 'rnnkit' metadata is not JSON"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else None
        raise CheckpointError(f"{str(path)!r}: expected format {FORMAT!r}, got {got!r}")
    version = meta.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format version {version!r}; this rnnkit reads version {VERSION} "
            "(it was written by a newer rnnkit: upgrade to read it)"
        )
    for key, kind in (("aliases", dict), ("trainer", dict), ("extra", dict)):
        if not isinstance(meta.get(key, {}), kind):
            raise CheckpointError(
                f"checkpoint {str(path)!r} is damaged: metadata {key!r} must be a JSON object, "
                f"got {type(meta[key]).__name__}"
            )
    return meta


def _rnnkit_entry(header: dict[str, Any]) -> Any:
    entries = header.get("__metadata__")
    return entries.get("rnnkit") if isinstance(entries, dict) else None


def _check_covers(path: Path, header: dict[str, Any], head: bytes, size: int) -> None:
    """The tensors' offsets must end exactly at the end of the file: a truncated file fails here."""
    n = struct.unpack("<Q", head[:8])[0]
    try:
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    except (TypeError, KeyError, IndexError, ValueError):
        raise _unreadable(path, head, size, "its header does not describe tensors") from None
    if 8 + n + end != size:
        raise _unreadable(path, head, size, f"it should hold {8 + n + end:,} bytes but holds {size:,}")


def read_meta(path: str | Path) -> dict[str, Any]:
    """The JSON part of a checkpoint, without reading its tensors."""
    path = _existing(path)
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) == 8:
            (n,) = struct.unpack("<Q", head)
            if n <= min(size - 8, 100_000_000):
                head += f.read(n)
    header = _header(path, head, size)
    _check_covers(path, header, head, size)
    return _parse_meta(path, _rnnkit_entry(header))


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint (safetensors + JSON; no code is executed)."""
    path = _existing(path)
    data = path.read_bytes()
    header = _header(path, data, len(data))
    _check_covers(path, header, data, len(data))
    try:
        tensors = st_load(data)
    except Exception as e:  # safetensors' SafetensorError: bad offsets, dtypes, sizes, …
        reason = (
            str(e)
            .removeprefix("Error while deserializing header: ")
            .removeprefix("Error while deserializing: ")
        )
        raise _unreadable(path, data[:8], len(data), reason) from None
    meta = _parse_meta(path, _rnnkit_entry(header))
    try:
        return _assemble(meta, tensors)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        raise CheckpointError(
            f"checkpoint {str(path)!r} is damaged: its metadata does not match its tensors "
            f"({type(e).__name__}: {e})"
        ) from None


def _assemble(meta: dict[str, Any], tensors: dict[str, Tensor]) -> Checkpoint:
    model = {k[len("model/") :]: v for k, v in tensors.items() if k.startswith("model/")}
    for name, target in meta.get("aliases", {}).items():
        model[name] = model[target]
    optimizer = None
    om = meta.get("optimizer")
    if om is not None:
        state: dict[int, dict[str, Any]] = {}
        for pid in om["pids"]:
            entry = {k.split("/", 2)[2]: v for k, v in tensors.items() if k.startswith(f"optim/{pid}/")}
            entry |= om["scalars"].get(pid, {})
            state[int(pid)] = entry
        optimizer = {"state": state, "param_groups": om["param_groups"]}
    rng: dict[str, Any] = {}
    if meta.get("rng") is not None:
        r = meta["rng"]
        rng = {"python": r["python"], "numpy": r["numpy"], "torch": tensors["rng/torch"]}
        if r["cuda"]:
            rng["cuda"] = [tensors[f"rng/cuda/{i}"] for i in range(r["cuda"])]
    carry = _unflatten_carry(meta.get("carry"), tensors)
    meta.setdefault("trainer", {})
    meta.setdefault("extra", {})
    return Checkpoint(model=model, optimizer=optimizer, carry=carry, rng=rng, meta=meta)


def _shape(t: Any) -> str:
    return "(" + ", ".join(str(d) for d in t.shape) + ")"


def check_weights(model: torch.nn.Module, weights: Mapping[str, Tensor], source: str | Path) -> None:
    """Raise :class:`CheckpointError` (naming ``source`` and the first parameter that differs) unless
    ``weights`` has exactly ``model``'s state_dict keys and shapes — before ``load_state_dict`` is tried."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(
                f"it lacks {', '.join(repr(k) for k in missing[:3])}{' …' if len(missing) > 3 else ''}"
            )
        if unexpected:
            parts.append(
                f"it has {', '.join(repr(k) for k in unexpected[:3])}{' …' if len(unexpected) > 3 else ''}, "
                "which the model does not"
            )
        raise CheckpointError(
            f"checkpoint {str(source)!r} does not fit the model ({type(model).__name__}): {'; '.join(parts)}"
        )
    for name, t in expected.items():
        w = weights[name]
        if tuple(w.shape) != tuple(t.shape):
            raise CheckpointError(
                f"checkpoint {str(source)!r} does not fit the model: parameter {name!r} has shape "
                f"{_shape(w)} in the checkpoint, the model expects {_shape(t)}"
            )


def load_weights(path: str | Path) -> dict[str, Tensor]:
    """Only the model's state_dict from a checkpoint."""
    return load_checkpoint(path).model
