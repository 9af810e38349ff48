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

Read the weights alone with :func:`load_weights` (or ``safetensors.torch.load_file`` and the
``model/`` prefix).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor

from .io import atomic_write_bytes

FORMAT = "rnnkit-checkpoint"
VERSION = 1


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


def read_meta(path: str | Path) -> dict[str, Any]:
    """The JSON part of a checkpoint, without reading its tensors."""
    path = _existing(path)
    with safe_open(str(path), framework="pt") as f:
        raw = (f.metadata() or {}).get("rnnkit")
    if raw is None:
        raise ValueError(
            f"{str(path)!r} is a safetensors file but not an rnnkit checkpoint (no 'rnnkit' metadata)"
        )
    meta = json.loads(raw)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r}: expected format {FORMAT!r}, got {meta.get('format')!r}")
    return meta


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    return path


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint (safetensors + JSON; no code is executed)."""
    meta = read_meta(path)
    tensors = st_load(_existing(path).read_bytes())
    model = {k[len("model/") :]: v for k, v in tensors.items() if k.startswith("model/")}
    for name, target in meta["aliases"].items():
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
    return Checkpoint(model=model, optimizer=optimizer, carry=carry, rng=rng, meta=meta)


def load_weights(path: str | Path) -> dict[str, Tensor]:
    """Only the model's state_dict from a checkpoint."""
    return load_checkpoint(path).model
