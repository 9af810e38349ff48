"""Ctrl-C (SIGINT) and SIGTERM during training: the first asks the trainer to stop after the current
step and write its checkpoint; a second one aborts at once (the checkpoint is still written).

In a ``torchrun`` group SIGTERM is left alone: torchrun sends it to tear the group down when a process
failed, and the survivors could not agree on a clean stop without it; the run resumes from its last
periodic checkpoint (torchrun ``--max-restarts`` does that by itself).

A signal the process ignores stays ignored (``nohup``, or a job a script started with ``&``, which the
shell shields from the terminal's Ctrl-C): the user asked for it."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any


class StopOnSignal:
    """Context manager installing the handlers (main thread only; elsewhere it does nothing)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, trainer: Any, terminate: bool = True) -> None:
        self.trainer = trainer
        self.signals = self.SIGNALS if terminate else (signal.SIGINT,)
        self.previous: dict[int, Any] = {}
        self.hits = 0

    def _handle(self, signum: int, frame: Any) -> None:
        self.hits += 1
        if self.hits > 1:
            raise KeyboardInterrupt
        self.trainer.request_stop("interrupted")
        print(
            "\nstopping after this step and saving a checkpoint (press Ctrl-C again to abort now)",
            file=sys.stderr,
        )

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for s in self.signals:
                current = signal.getsignal(s)
                if current is signal.SIG_IGN:
                    continue
                self.previous[s] = current
                signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, handler)
        self.previous.clear()
