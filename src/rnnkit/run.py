"""A trained run from Python: :func:`load_run` and the :class:`Run` it returns.

Example::

    import rnnkit

    run = rnnkit.load_run()                          # the latest run under runs/ (the tour's runs too)
    run = rnnkit.load_run(task="text")               # the latest text run
    run = rnnkit.load_run("runs/text-20261201-101500", which="last")
    print(run.generate("And God said", steps=200, temperature=0.8, seed=0))
    tr = run.trace("In the beginning")               # tr.gates["forget"]: (layers, 16 characters, hidden)
    run.evaluate("val")["metrics"]["bpc"]

Each helper runs the code of the matching command, so it gives what the command prints (as Python
values), and a helper that does not apply to the run's task raises a ``ValueError`` naming the task:

=========  ===============  ==================================================
helper     tasks            what it returns (the command)
=========  ===============  ==================================================
generate   text, music      the text / the melody's events (rnnkit generate)
trace      text             the recurrent layer's :class:`~rnnkit.Trace` on the text
forecast   stocks, series   a DataFrame of the forecasts (rnnkit forecast)
compose    compose          the best completions (rnnkit compose)
evaluate   every task       metrics beside baselines (rnnkit evaluate)
=========  ===============  ==================================================
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ._io import atomic_write_text
from .layers import Trace
from .tasks.runner import LoadedRun, choose_run, evaluate_run
from .tasks.runner import load_run as _load_checkpoint
from .train.config import Config

if TYPE_CHECKING:
    import pandas as pd

    from .data.music import Event
    from .tasks.compose_data import Completion

#: helper -> the tasks it applies to (None: every task)
HELPERS: dict[str, tuple[str, ...] | None] = {
    "generate": ("text", "music"),
    "trace": ("text",),
    "forecast": ("stocks", "series"),
    "compose": ("compose",),
    "evaluate": None,
}

PathLike = str | os.PathLike[str]


def load_run(
    path: PathLike | None = None,
    *,
    task: str | None = None,
    which: str = "best",
    out_dir: PathLike = "runs",
    device: str = "cpu",
) -> Run:
    """Load a trained run: its model and what using it takes (vocabulary, scalers, config).

    Args:
        path: a run directory or a checkpoint file; None: the most recently trained run (of ``task``)
            under ``out_dir``, directly in it or one folder deeper (the tour's ``runs/tour/<run>``).
        task: the task the run must be of ("text", "stocks", …); None accepts any.
        which: "best" (the best validation checkpoint; "last" where there is none) or "last".
        out_dir: where to look for the latest run when ``path`` is None.
        device: "cpu", "cuda", "cuda:N" or "auto".

    The checkpoint is checked before its weights are used (an rnnkit checkpoint, of the same task and
    architecture as its run's ``config.json``, every shape as the model expects); a problem raises a
    ``ValueError`` naming the file. No run found raises ``FileNotFoundError`` saying where it looked.
    """
    if path is not None and not isinstance(path, str | os.PathLike):
        raise TypeError(
            f"path must be a run directory or checkpoint file (str or Path), got {type(path).__name__}"
        )
    if which not in ("best", "last"):
        raise ValueError(f"which must be 'best' or 'last', got {which!r}")
    if task is not None:
        from .tasks.registry import get_task

        get_task(task)  # an unknown name fails here, with the list of tasks
    chosen = choose_run(path, out_dir, task)
    return Run(_load_checkpoint(chosen, which, device, tasks=[task] if task else None))


class Run:
    """A trained run, loaded (see :func:`load_run`).

    Attributes:
        model: the network, in eval mode on the device it was loaded to.
        task: the task's name ("text", "music", "stocks", "series", "compose", "jump", …).
        config: the run's :class:`~rnnkit.train.config.Config` (``config.model``, ``config.data``, …).
        dir: the run directory.
        checkpoint: the checkpoint file the weights came from.
        state: the task state saved with the weights (JSON: vocabulary, scalers, window, …).
        vocab: text runs: :class:`~rnnkit.data.text.CharVocab` (``encode``/``decode`` characters); music:
            :class:`~rnnkit.data.music_vocab.EventVocab`; compose: the word
            :class:`~rnnkit.data.compose.Vocab`; None for the other tasks.
        scalers: stocks and series runs: ``{"input_mean", "input_std", "target_mean", "target_std"}``,
            lists fitted on the training windows (the model applies them itself); None otherwise.
    """

    def __init__(self, loaded: LoadedRun) -> None:
        if not isinstance(loaded, LoadedRun):
            raise TypeError(f"loaded must be a LoadedRun (use rnnkit.load_run), got {type(loaded).__name__}")
        self._loaded = loaded
        self.model: nn.Module = loaded.model
        self.task: str = loaded.task.name
        self.config: Config = loaded.cfg
        self.dir: Path = Path(loaded.run_dir)
        self.checkpoint: Path = Path(loaded.checkpoint)
        self.state: dict[str, Any] = loaded.state
        self.vocab = _vocab(self.task, self.state)
        self.scalers: dict[str, list[float]] | None = self.state.get("scalers")

    def __repr__(self) -> str:
        params = sum(p.numel() for p in self.model.parameters())
        return (
            f"Run(task={self.task!r}, dir={str(self.dir)!r}, checkpoint={self.checkpoint.name!r}, "
            f"model={type(self.model).__name__} with {params:,} parameters)"
        )

    # -- helpers ---------------------------------------------------------------------------------------
    def generate(
        self,
        prime: str | None = None,
        steps: int | None = None,
        temperature: float | None = None,
        *,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        out: PathLike | None = None,
    ) -> str | list[Event]:
        """Sample from the model after ``prime``, carrying the recurrent state (``rnnkit generate``).

        text: returns ``prime`` followed by ``steps`` sampled characters (defaults: the run's prime —
        "And God said" for the KJV —, 500 characters, temperature 0.8); ``out`` also writes it to a file.
        music: returns the primer's events followed by ``steps`` generated ones (:class:`Event`: pitch,
        duration; ``str(event)`` is "C4:1"); ``prime`` is notes such as "C4" (default) or "C4:0.5 E4 G4",
        64 events at temperature 0.9 by default; ``out`` (a .mid file) also writes the MIDI file and its
        piano roll (the same name with .png), as the command does.

        ``temperature`` 0 always takes the most likely token; ``top_k``/``top_p`` restrict sampling;
        ``seed`` fixes the sample (the same seed gives the same result as ``rnnkit generate --seed``).
        """
        self._needs("generate")
        if out is not None and not isinstance(out, str | os.PathLike):
            raise TypeError(f"out must be a file path (str or Path), got {type(out).__name__}")
        if prime is not None and not isinstance(prime, str):
            raise TypeError(f"prime must be a str, got {type(prime).__name__}")
        if self.task == "music":
            return self._melody(prime, steps, temperature, top_k, top_p, seed, out)
        from .tasks.text import GENERATE_STEPS, GENERATE_TEMPERATURE, stream_text

        text = "".join(
            stream_text(
                self.model,
                self.vocab,
                self.state["default_prime"] if prime is None else prime,
                GENERATE_STEPS if steps is None else steps,
                GENERATE_TEMPERATURE if temperature is None else temperature,
                top_k,
                top_p,
                seed,
            )
        )
        if out is not None:
            atomic_write_text(out, text + "\n")
        return text

    def _melody(
        self,
        prime: str | None,
        steps: int | None,
        temperature: float | None,
        top_k: int | None,
        top_p: float | None,
        seed: int | None,
        out: PathLike | None,
    ) -> list[Event]:
        from .tasks.music_report import (
            GENERATE_PRIME,
            GENERATE_STEPS,
            GENERATE_TEMPERATURE,
            sample_melody,
            write_song,
        )

        if out is not None and Path(out).suffix.lower() not in (".mid", ".midi"):
            raise ValueError(f"out must name a .mid file, got {os.fspath(out)!r}")
        prime = prime or GENERATE_PRIME
        primed, generated = sample_melody(
            self.model,
            self.vocab,
            prime,
            GENERATE_STEPS if steps is None else steps,
            GENERATE_TEMPERATURE if temperature is None else temperature,
            top_k,
            top_p,
            seed,
        )
        if out is not None:
            write_song(primed, generated, Path(out), prime)
        return primed + generated

    def trace(self, text: str) -> Trace:
        """Every hidden state and gate of the recurrent layer, character by character, as it reads
        ``text`` from a zero state (the embedding is applied here; dropout is off).

        Returns an unbatched :class:`~rnnkit.Trace`: ``gates[name]`` and ``hiddens`` are (L, T, H) with
        T = ``len(text)`` and L the layers, ``cells`` (L, T, H) for LSTM-like cells; ``output`` (T, H)
        is what the output layer reads. Gate names are the cell's (lstm: input, forget, candidate,
        output)."""
        self._needs("trace")
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if not text:
            raise ValueError("text must hold at least one character, got ''")
        embedding = self.model.embedding
        ids = self.vocab.encode(text, "text").to(embedding.weight.device)  # (T,)
        with torch.no_grad():
            return self.model.rnn.trace(embedding(ids))  # (T, E) unbatched -> gates (L, T, H)

    def forecast(
        self,
        series: Any = None,
        horizon: int | None = None,
        *,
        column: str | None = None,
        date_column: str | None = None,
        out: PathLike | None = None,
    ) -> pd.DataFrame:
        """The model's forecast after the last step of its data, or of ``series`` (``rnnkit forecast``).

        ``series``: None (the run's own data), a CSV file (stocks: date, open, high, low, close,
        volume[, adj_close]; series: the ``column`` to forecast, dated by ``date_column`` — the run's
        own names unless given), or, for a series run, a pandas Series of numbers indexed by time or
        row. ``horizon`` keeps the forecasts up to that many steps ahead (default: every one the model
        was trained for; it forecasts no further). ``out`` also writes the table as CSV.

        Returns a DataFrame: stocks, one row per ticker and horizon — ticker, last_day, close,
        days_ahead, forecast (the price), log_return; series, one row per step ahead — time, forecast
        (in the series' units).
        """
        self._needs("forecast")
        if out is not None and not isinstance(out, str | os.PathLike):
            raise TypeError(f"out must be a file path (str or Path), got {type(out).__name__}")
        if self.task == "stocks":
            frame, steps_col, trained = self._stocks_forecast(series, column, date_column)
        else:
            frame, steps_col, trained = self._series_forecast(series, column, date_column)
        if horizon is not None:
            if isinstance(horizon, bool) or not isinstance(horizon, int):
                raise TypeError(f"horizon must be an int, got {type(horizon).__name__} ({horizon!r})")
            if not 1 <= horizon <= max(trained):
                raise ValueError(
                    f"horizon must be between 1 and {max(trained)} (this {self.task} run forecasts "
                    f"{', '.join(map(str, trained))} steps ahead), got {horizon}"
                )
            frame = frame[steps_col <= horizon].reset_index(drop=True)
        if out is not None:
            atomic_write_text(out, frame.to_csv(index=False))
        return frame

    def _stocks_forecast(self, series: Any, column: str | None, date_column: str | None) -> tuple:
        import pandas as pd

        from .tasks.stocks import forecast_data
        from .tasks.stocks_report import forecast_rows

        if series is not None and not isinstance(series, str | os.PathLike):
            raise TypeError(
                "series must be a CSV file of daily prices (date, open, high, low, close, volume) for a "
                f"stocks run, got {type(series).__name__}"
            )
        for name, value in (("column", column), ("date_column", date_column)):
            if value is not None:
                raise ValueError(f"{name} applies to series runs; this is a stocks run, got {name}={value!r}")
        cfg, data, source = forecast_data(self.config, series)
        frame = pd.DataFrame(forecast_rows(self.model, data, cfg, source))
        return frame, frame["days_ahead"], list(cfg.data.horizons)

    def _series_forecast(self, series: Any, column: str | None, date_column: str | None) -> tuple:
        import numpy as np
        import pandas as pd

        from .tasks.series import forecast_data
        from .tasks.series_report import forecast_frame

        if isinstance(series, pd.Series):
            if column is not None or date_column is not None:
                raise ValueError(
                    "column and date_column name the columns of a CSV file, not of a pandas Series"
                )
            cfg, data, source = forecast_data(self.config, series=series)
        elif series is None or isinstance(series, str | os.PathLike):
            cfg, data, source = forecast_data(self.config, series, column, date_column)
        else:
            raise TypeError(f"series must be a CSV file path or a pandas Series, got {type(series).__name__}")
        trained_features = len(self.state["scalers"]["input_mean"])
        if len(data.feature_names) != trained_features:
            raise ValueError(
                f"this series run was trained on {trained_features} features per step and {source} gives "
                f"{len(data.feature_names)} ({', '.join(data.feature_names)}): its time-of-day features "
                "need the series' times at a regular step (a pandas Series with a DatetimeIndex)"
            )
        frame = forecast_frame(self.model, data, source)
        trained = list(range(1, cfg.data.horizon + 1))
        return frame, pd.Series(np.arange(1, len(frame) + 1)), trained

    def compose(
        self,
        prefix: str,
        num: int = 3,
        words: int | None = None,
        *,
        beam: int = 5,
        length_penalty: float = 0.6,
    ) -> list[Completion]:
        """The ``num`` best continuations of ``prefix`` by beam search (``rnnkit compose``), best first.

        Each :class:`~rnnkit.tasks.compose_data.Completion` has ``text`` (to append to the prefix),
        ``tokens``, ``prob`` and ``ends_sentence``. ``words``: the longest completion in tokens (default:
        the trained length); ``beam``: the beam width (at least ``num``); ``length_penalty``: GNMT's
        alpha, 0 favours short completions. Words the vocabulary lacks are read as ``<unk>`` (check
        with ``prefix_word in run.vocab.stoi``); completions holding ``<unk>`` are left out."""
        from ._checks import check_positive_int
        from .tasks.compose_data import complete

        self._needs("compose")
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
        check_positive_int("num", num)
        check_positive_int("beam", beam)
        if words is not None:
            check_positive_int("words", words)
        found, _ = complete(
            self.model,
            self.vocab,
            prefix.strip(),
            max_prefix=self.state["max_prefix"],
            beam_size=max(beam, num),
            n=num,
            max_tokens=words or self.config.data.max_continuation,
            length_penalty=length_penalty,
        )
        return found

    def evaluate(self, split: str = "val") -> dict[str, Any]:
        """The model's metrics on ``split`` ("val", or "test" where the task has one) beside the task's
        baselines recomputed on the same split (``rnnkit evaluate``, without writing its JSON file).

        Returns ``{"split", "checkpoint", "metrics": {name: value}, "baselines": {baseline: {name:
        value}}}``, what ``rnnkit evaluate`` writes to ``eval-<split>-<checkpoint>.json``."""
        self._needs("evaluate")
        if not isinstance(split, str):
            raise TypeError(f"split must be a str ('val' or 'test'), got {type(split).__name__}")
        metrics, baselines, _ = evaluate_run(self._loaded, split)
        return {
            "split": split,
            "checkpoint": str(self.checkpoint),
            "metrics": metrics,
            "baselines": baselines,
        }

    def _needs(self, helper: str) -> None:
        tasks = HELPERS[helper]
        if tasks is None or self.task in tasks:
            return
        offered = [h for h, t in HELPERS.items() if t is None or self.task in t]
        raise ValueError(
            f"run.{helper}() needs a {' or '.join(tasks)} run; {str(self.dir)!r} is a {self.task} run "
            f"(a {self.task} run offers: {', '.join(offered)})"
        )


def _vocab(task: str, state: dict[str, Any]) -> Any:
    """The vocabulary object of a text, music or compose run's state (None for the other tasks)."""
    if task == "text":
        from .data.text import CharVocab

        return CharVocab(state["chars"])
    if task == "music":
        from .data.music_vocab import EventVocab

        return EventVocab.from_json(state["vocab"])
    if task == "compose":
        from .data.compose import Vocab

        return Vocab.from_json(state["vocab"])
    return None
