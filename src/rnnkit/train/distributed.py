"""Data-parallel training on ``torch.distributed``: what one process of a ``torchrun`` group needs.

``torchrun --nproc_per_node N -m rnnkit train …`` (or ``rnnkit train --nproc N …``) starts N processes;
each reads the group from the environment torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``/``MASTER_PORT``) and joins it with :func:`init` (``gloo`` on CPU,
``nccl`` on CUDA). Then:

- every process builds the same data with the *global* batch (``data.batch_size`` × N) and keeps its own
  contiguous block of rows of each batch (:func:`shard`, :class:`ShardSource`); a TBPTT task's rows are
  its parallel streams, so each process owns the same streams throughout and carries their state;
- the model is wrapped in ``DistributedDataParallel`` (gradients all-reduced in buckets during the
  backward pass) and each process scales its loss by its share of the batch's items
  (:func:`loss_scale`), so the averaged gradient is exactly the gradient of the global batch's mean loss
  — the same as one process with the global batch, up to float summation order;
- random numbers (dropout) are drawn from a generator seeded by ``(seed, rank, step)``
  (:func:`seed_step`), so a resumed run draws what an uninterrupted one would have;
- only rank 0 evaluates, writes metrics, plots, checkpoints and reports and shows progress bars; what it
  decides (stop, early stopping, the time plan) is broadcast so every process agrees.
"""

from __future__ import annotations

import datetime
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor

#: why a run stops, in the order that wins when processes disagree (the highest code)
STOP_REASONS = (None, "max_epochs", "max_steps", "max_minutes", "early_stopping", "interrupted")


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in its group (a single process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def active(self) -> bool:
        """Whether this process is one of several (collectives are needed)."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes files and prints."""
        return self.rank == 0


SINGLE = DistContext()


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from None


def context_from_env() -> DistContext:
    """The group torchrun described in the environment (a single process when it set nothing)."""
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_world = _env_int("LOCAL_WORLD_SIZE", world)
    local_rank = _env_int("LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"RANK must be in [0, WORLD_SIZE), got RANK={rank}, WORLD_SIZE={world}")
    return DistContext(rank, world, local_rank, local_world)


def backend_for(device: torch.device) -> str:
    """``nccl`` for CUDA devices, ``gloo`` otherwise."""
    return "nccl" if device.type == "cuda" else "gloo"


def is_joined() -> bool:
    """Whether this process is in a process group already."""
    return dist.is_available() and dist.is_initialized()


def init(ctx: DistContext, device: torch.device, timeout_minutes: float = 30.0) -> None:
    """Join the process group torchrun set up (no-op for a single process or one already joined)."""
    if not ctx.active or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(ctx.local_rank)
    timeout = datetime.timedelta(minutes=timeout_minutes)
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True":
        # torchrun's agent keeps one store across the attempts it restarts, and the previous attempt's
        # keys (the dead processes' addresses) stay in it: a restarted group that reads them hangs or
        # fails to connect. Each attempt keeps its keys under its own prefix.
        attempt = _env_int("TORCHELASTIC_RESTART_COUNT", 0)
        client = dist.TCPStore(
            os.environ["MASTER_ADDR"], _env_int("MASTER_PORT", 0), ctx.world_size, False, timeout=timeout
        )
        store = dist.PrefixStore(f"rnnkit/attempt_{attempt}", client)
        dist.init_process_group(
            backend_for(device), store=store, rank=ctx.rank, world_size=ctx.world_size, timeout=timeout
        )
    else:
        dist.init_process_group(backend_for(device), timeout=timeout)


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def default_threads(ctx: DistContext) -> int:
    """Torch threads per process: the machine's cores shared among this node's processes."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // max(1, ctx.local_world_size))


# -- data ---------------------------------------------------------------------------------------------
def shard(batch: Any, rank: int, world_size: int) -> Any:
    """Process ``rank``'s block of rows (dim 0) of every tensor in ``batch`` (tensors, or tuples, lists
    and dicts of them): near-equal contiguous blocks, as ``torch.tensor_split``; other values pass."""
    if isinstance(batch, Tensor):
        if batch.dim() == 0:
            return batch
        return torch.tensor_split(batch, world_size, dim=0)[rank]
    if isinstance(batch, tuple | list):
        return type(batch)(shard(b, rank, world_size) for b in batch)
    if isinstance(batch, dict):
        return {k: shard(v, rank, world_size) for k, v in batch.items()}
    return batch


def batch_rows(batch: Any) -> int | None:
    """The rows (dim 0) of the first tensor in ``batch``; None when it holds none."""
    if isinstance(batch, Tensor):
        return batch.shape[0] if batch.dim() else None
    items = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, tuple | list) else ()
    for b in items:
        rows = batch_rows(b)
        if rows is not None:
            return rows
    return None


class ShardSource:
    """A batch source whose batches are this process's rows of another source's (global) batches.

    A global batch with fewer rows than processes would leave one empty: it is skipped by all of them
    (they see the same global batches, so they skip the same ones).
    """

    def __init__(self, source: Any, ctx: DistContext) -> None:
        self.source, self.ctx = source, ctx

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Any]:
        for batch in self.source.epoch(epoch, start):
            rows = batch_rows(batch)
            if rows is not None and rows < self.ctx.world_size:
                continue
            yield shard(batch, self.ctx.rank, self.ctx.world_size)

    def __len__(self) -> int:
        return len(self.source)


# -- collectives --------------------------------------------------------------------------------------
def agree_stop(reason: str | None) -> str | None:
    """The stop reason every process adopts: the strongest any of them has (see :data:`STOP_REASONS`)."""
    code = torch.tensor([STOP_REASONS.index(reason)], dtype=torch.int64)
    dist.all_reduce(code, op=dist.ReduceOp.MAX)
    return STOP_REASONS[int(code)]


def global_loss(loss_value: float, count: int) -> tuple[float, int]:
    """(the batch's mean loss over all processes' items, all processes' item count)."""
    t = torch.tensor([loss_value * count, float(count)], dtype=torch.float64)
    dist.all_reduce(t)
    total = int(t[1])
    return (float(t[0]) / total if total else float("nan")), total


def loss_scale(count: int, total: int, world_size: int) -> float:
    """Factor on this process's mean loss so that DDP's average of the gradients is the gradient of the
    mean over all ``total`` items: ``count · world_size / total``."""
    return count * world_size / total if total else 0.0


def broadcast(obj: Any, src: int = 0) -> Any:
    """``obj`` as process ``src`` has it (a picklable value, sent between this run's own processes)."""
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def gather_to_main(obj: Any, ctx: DistContext) -> list[Any] | None:
    """Every process's ``obj`` on rank 0 (in rank order); None on the others."""
    out: list[Any] | None = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(obj, out, dst=0)
    return out


# -- random numbers -----------------------------------------------------------------------------------
def seed_step(seed: int, rank: int, step: int) -> None:
    """Seed the global generators for ``step`` of process ``rank``: a function of the three only."""
    s = int(np.random.SeedSequence([seed % 2**63, rank, step]).generate_state(1, np.uint64)[0]) % 2**63
    random.seed(s)
    np.random.seed(s % 2**32)
    torch.manual_seed(s)


# -- fault injection ------------------------------------------------------------------------------------
#: ``RANK:STEP``: that process kills itself (SIGKILL) after optimiser step STEP of a torchrun job's first
#: attempt — to see a group survive a lost process (``torchrun --max-restarts``); nothing else reads it
FAULT_ENV = "RNNKIT_FAULT_KILL"


class KillAtStep:
    """The callback behind :data:`FAULT_ENV` (see :func:`fault_callbacks`)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_fit_start(self, trainer: Any) -> None: ...
    def on_eval_start(self, trainer: Any) -> None: ...
    def on_eval_end(self, trainer: Any, row: dict[str, Any]) -> None: ...
    def on_fit_end(self, trainer: Any, result: Any) -> None: ...

    def on_step_end(self, trainer: Any, row: dict[str, Any]) -> None:
        if trainer.step == self.step:
            import signal

            os.kill(os.getpid(), signal.SIGKILL)


def fault_callbacks(ctx: DistContext) -> list[KillAtStep]:
    """``[KillAtStep]`` for this process when :data:`FAULT_ENV` names it and this is the job's first
    attempt (``TORCHELASTIC_RESTART_COUNT`` 0), else ``[]``."""
    raw = os.environ.get(FAULT_ENV)
    if not raw or _env_int("TORCHELASTIC_RESTART_COUNT", 0) > 0:
        return []
    try:
        rank, step = (int(v) for v in raw.split(":"))
    except ValueError:
        raise ValueError(f"{FAULT_ENV} must be RANK:STEP (two integers), got {raw!r}") from None
    return [KillAtStep(step)] if rank == ctx.rank else []
