"""Dynamic batching of token-by-token generation: every request being generated advances by ONE
batched step of the model per token.

A :class:`GenerationBatcher` owns one model (a :class:`~rnnkit.models.generator.Generator`: text or
music) and a worker thread. A request is admitted by running its prime alone (one forward over it);
then, at each tick, the worker draws the next token of every active request from its own logits — with
its own temperature / top-k / top-p and its own seeded generator, exactly as ``model.generate`` draws
them — and advances all of them together with one ``model._step`` on the stacked tokens and states
(``(L, B, H)`` states concatenated on the batch dimension). Requests join and leave between ticks; a
client that goes away cancels its request.

With ``enabled=False`` each request runs its own loop instead (one step per request per token, the
model guarded by a lock): the baseline the load test compares against.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..models.sampling import SamplingConfig, make_rng, sample_next

_DONE = object()


def _stack(states: list[Any]) -> Any:
    """Per-request states (tensors or tuples of (L, 1, H) tensors) → one batched state (L, B, H)."""
    first = states[0]
    if isinstance(first, Tensor):
        return torch.cat(states, dim=1)
    return type(first)(torch.cat([s[i] for s in states], dim=1) for i in range(len(first)))


def _row(state: Any, b: int) -> Any:
    """Request ``b``'s part (L, 1, H) of a batched state."""
    if isinstance(state, Tensor):
        return state[:, b : b + 1]
    return type(state)(s[:, b : b + 1] for s in state)


@dataclass
class _Request:
    ids: list[int]
    steps: int
    config: SamplingConfig
    rng: torch.Generator | None
    out: queue.Queue = field(default_factory=queue.Queue)
    state: Any = None
    logits: Tensor | None = None  # (1, V): what the next token is drawn from
    done: int = 0
    cancelled: bool = False


@dataclass
class BatcherStats:
    """What the worker did: ticks (batched steps) and the tokens they produced."""

    ticks: int = 0
    tokens: int = 0
    largest_batch: int = 0

    @property
    def mean_batch(self) -> float:
        return self.tokens / self.ticks if self.ticks else 0.0


class GenerationBatcher:
    """Generate from ``model`` for many concurrent requests (see the module docstring)."""

    def __init__(self, model: nn.Module, *, enabled: bool = True, max_batch: int = 64) -> None:
        if not hasattr(model, "_step"):
            raise TypeError(f"model must be a token Generator with _step(), got {type(model).__name__}")
        self.model, self.enabled, self.max_batch = model.eval(), enabled, max_batch
        self.device = next(model.parameters()).device
        self.lock = threading.Lock()  # the model, when requests run their own loops
        self.stats = BatcherStats()
        self._pending: list[_Request] = []
        self._wake = threading.Condition()
        self._closed = False
        self._worker: threading.Thread | None = None

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify_all()

    def generate(
        self, ids: list[int], steps: int, config: SamplingConfig, seed: int | None = None
    ) -> Iterator[int]:
        """The ``steps`` token ids drawn after ``ids``, as they come (stop iterating to cancel)."""
        request = _Request(list(ids), steps, config, make_rng(seed, self.device))
        if not self.enabled:
            yield from self._alone(request)
            return
        with self._wake:
            if self._closed:
                raise RuntimeError("the generation batcher is closed")
            if self._worker is None:
                self._worker = threading.Thread(target=self._loop, name="rnnkit-generation", daemon=True)
                self._worker.start()
            self._pending.append(request)
            self._wake.notify()
        try:
            while True:
                item = request.out.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            request.cancelled = True

    # -- one request alone ---------------------------------------------------------------------------
    @torch.no_grad()
    def _alone(self, r: _Request) -> Iterator[int]:
        with self.lock:
            self._admit(r)
        for _ in range(r.steps):
            token = int(sample_next(r.logits, r.config, r.rng)[0])
            yield token
            if r.done + 1 >= r.steps:
                return
            r.done += 1
            with self.lock:
                logits, r.state = self.model._step(torch.tensor([token]), r.state)
            r.logits = logits  # (1, V)

    def _admit(self, r: _Request) -> None:
        ids = torch.tensor([r.ids], device=self.device)  # (1, P)
        logits, r.state = self.model(ids)  # (1, P, V)
        r.logits = logits[:, -1]  # (1, V)

    # -- the worker -----------------------------------------------------------------------------------
    def _loop(self) -> None:
        active: list[_Request] = []
        while True:
            with self._wake:
                while not self._pending and not active and not self._closed:
                    self._wake.wait()
                if self._closed:
                    for r in active + self._pending:
                        r.out.put(_DONE)
                    return
                room = self.max_batch - len(active)
                joining, self._pending = self._pending[:room], self._pending[room:]
            try:
                self._tick(active, joining)
            except Exception as e:  # a broken step fails every request it holds, not the server
                for r in active + joining:
                    r.out.put(e)
                active = []
                continue
            active = [r for r in active + joining if not r.cancelled and r.done < r.steps]

    @torch.no_grad()
    def _tick(self, active: list[_Request], joining: list[_Request]) -> None:
        for r in joining:
            if not r.cancelled:
                self._admit(r)
        rows = [r for r in active + joining if not r.cancelled and r.logits is not None]
        tokens = []
        for r in rows:  # each request's own sampling settings and generator
            token = int(sample_next(r.logits, r.config, r.rng)[0])
            tokens.append(token)
            r.out.put(token)
            r.done += 1
            if r.done >= r.steps:
                r.out.put(_DONE)
        going = [(r, t) for r, t in zip(rows, tokens, strict=True) if r.done < r.steps and not r.cancelled]
        if not going:
            return
        batch_tokens = torch.tensor([t for _, t in going], device=self.device)  # (B,)
        state = _stack([r.state for r, _ in going])  # (L, B, H) each
        logits, state = self.model._step(batch_tokens, state)  # (B, V)
        for b, (r, _) in enumerate(going):
            r.logits, r.state = logits[b : b + 1], _row(state, b)
        self.stats.ticks += 1
        self.stats.tokens += len(going)
        self.stats.largest_batch = max(self.stats.largest_batch, len(going))
