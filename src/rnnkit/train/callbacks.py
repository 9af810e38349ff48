"""What the trainer reports while it runs: a progress bar, a JSONL metric log, PNG curves.

The trainer calls every callback's hooks with itself and a row, a flat dict:

- train rows (every step): ``split="train"``, step, epoch, lr, loss, grad_norm (the total gradient
  norm BEFORE clipping), clipped, items, items_per_s, time, plus the loss function's metrics;
- val rows (every evaluation): ``split="val"``, step, epoch, time, loss, the metrics, best.

Subclass :class:`Callback` and override the hooks you need.
"""

from __future__ import annotations

import io
import json
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from .io import atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:
    from .trainer import FitResult, Trainer


class Callback:
    """No-op hooks; override what you need."""

    def on_fit_start(self, trainer: Trainer) -> None: ...
    def on_step_end(self, trainer: Trainer, row: dict[str, Any]) -> None: ...
    def on_eval_end(self, trainer: Trainer, row: dict[str, Any]) -> None: ...
    def on_fit_end(self, trainer: Trainer, result: FitResult) -> None: ...


def _fmt_rate(x: float) -> str:
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.1f}{unit}"
    return f"{x:.0f}"


def _fmt_minutes(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class ProgressBar(Callback):
    """A tqdm bar over the steps: smoothed loss, the monitored metric, gradient norm, throughput.

    Its total is the run's planned step count: ``max_steps``, or for a time-budgeted run the number the
    trainer plans once warm-up has been timed (until then the bar counts steps without a total, so it
    never predicts hours for a run that ends in minutes); ``left`` is the time budget still to go."""

    def __init__(self, item_name: str = "items", metric: str | None = None, file: Any = None) -> None:
        self.item_name, self.metric, self.file = item_name, metric, file
        self.bar: tqdm | None = None
        self.ema = self.ema_metric = self.weight = 0.0  # bias-corrected moving averages

    def on_fit_start(self, trainer: Trainer) -> None:
        self.bar = tqdm(
            total=self._total(trainer),
            initial=trainer.step,
            unit="step",
            dynamic_ncols=True,
            file=self.file or sys.stderr,
            desc="train",
        )

    @staticmethod
    def _total(trainer: Trainer) -> int | None:
        plan = trainer.plan
        return None if plan is None else min(plan.steps, trainer.optim.max_steps)

    def on_step_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        if self.bar is None:
            return
        total = self._total(trainer)
        if total != self.bar.total:
            self.bar.total = total
            self.bar.refresh()
        a = 0.05
        self.weight = (1 - a) * self.weight + a
        self.ema = (1 - a) * self.ema + a * row["loss"]
        parts = [f"loss {self.ema / self.weight:.3f}"]
        if self.metric and self.metric in row:
            self.ema_metric = (1 - a) * self.ema_metric + a * row[self.metric]
            parts.append(f"{self.metric} {self.ema_metric / self.weight:.3f}")
        parts.append(f"|g| {row['grad_norm']:.2g}")
        parts.append(f"{_fmt_rate(row['items_per_s'])} {self.item_name}/s")
        if trainer.optim.max_minutes:
            parts.append(f"left {_fmt_minutes(60 * trainer.optim.max_minutes - trainer.elapsed)}")
        self.bar.set_postfix_str(" · ".join(parts), refresh=False)
        self.bar.update(1)

    def on_eval_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        shown = [
            f"{k} {v:.4f}"
            for k, v in row.items()
            if k not in ("split", "step", "epoch", "time", "best", "count")
        ]
        mark = "  (best)" if row.get("best") else ""
        msg = f"step {row['step']:>6} · val " + " · ".join(shown) + mark
        if self.bar is not None:
            self.bar.write(msg, file=self.file or sys.stderr)
        else:
            print(msg, file=self.file or sys.stderr)

    def on_fit_end(self, trainer: Trainer, result: FitResult) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class JSONLLogger(Callback):
    """Every row as one JSON line in ``path``. On resume, rows logged after the checkpoint (by the
    killed process) are dropped, so the log matches the weights."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.file: Any = None

    def on_fit_start(self, trainer: Trainer) -> None:
        if self.path.exists():
            kept = [r for r in read_jsonl(self.path) if r.get("step", 0) <= trainer.step]
            atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = self.path.open("a", encoding="utf-8")

    def _write(self, row: dict[str, Any]) -> None:
        if self.file is not None:
            self.file.write(json.dumps(row) + "\n")
            self.file.flush()  # a checkpoint may follow: the log must never lag behind it

    def on_step_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        self._write(row)

    def on_eval_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        self._write(row)

    def on_fit_end(self, trainer: Trainer, result: FitResult) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file; a torn last line (from a killed process) is skipped."""
    rows = []
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


class CurvePlotter(Callback):
    """Loss, the monitored metric (with reference lines, e.g. baselines), the pre-clip gradient norm
    and the learning rate against steps, as one PNG; redrawn after evaluations (at most every
    ``min_interval`` seconds: drawing takes a moment) and at the end."""

    def __init__(
        self,
        metrics_path: str | Path,
        out_path: str | Path,
        metric: str | None = None,
        references: dict[str, float] | None = None,
        title: str = "",
        min_interval: float = 30.0,
    ) -> None:
        self.metrics_path, self.out_path = Path(metrics_path), Path(out_path)
        self.metric, self.references, self.title = metric, references or {}, title
        self.min_interval, self.last = min_interval, time.monotonic()

    def on_eval_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        if time.monotonic() - self.last >= self.min_interval:
            self.plot(trainer)

    def on_fit_end(self, trainer: Trainer, result: FitResult) -> None:
        self.plot(trainer)

    def plot(self, trainer: Trainer | None = None) -> None:
        if not self.metrics_path.exists():
            return
        rows = read_jsonl(self.metrics_path)
        train = [r for r in rows if r.get("split") == "train"]
        val = [r for r in rows if r.get("split") == "val"]
        if not train:
            return
        clip = trainer.optim.clip_norm if trainer is not None else None
        png = render_curves(train, val, self.metric, self.references, clip, self.title)
        atomic_write_bytes(self.out_path, png)
        self.last = time.monotonic()


def _ema(values: list[float], a: float = 0.05) -> list[float]:
    """Exponential moving average, bias-corrected (no lag towards the first value)."""
    out, m, w = [], 0.0, 0.0
    for v in values:
        if not math.isfinite(v):
            out.append(v)
            continue
        m, w = (1 - a) * m + a * v, (1 - a) * w + a
        out.append(m / w)
    return out


def render_curves(
    train: list[dict[str, Any]],
    val: list[dict[str, Any]],
    metric: str | None,
    references: dict[str, float],
    clip_norm: float | None,
    title: str = "",
) -> bytes:
    """The 2×2 figure as PNG bytes (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in train]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), constrained_layout=True)
    ax = axes[0][0]
    losses = [r["loss"] for r in train]
    ax.plot(steps, losses, color="tab:blue", alpha=0.25, lw=0.8)
    ax.plot(steps, _ema(losses), color="tab:blue", label="train (smoothed)")
    if val:
        ax.plot(
            [r["step"] for r in val], [r["loss"] for r in val], "o-", color="tab:orange", label="validation"
        )
    ax.set(title="loss", xlabel="step")
    ax.legend()
    ax = axes[0][1]
    name = metric if metric and (any(metric in r for r in val) or any(metric in r for r in train)) else "loss"
    tr = [(r["step"], r[name]) for r in train if name in r]
    if tr:
        ax.plot([s for s, _ in tr], _ema([v for _, v in tr]), color="tab:blue", label="train (smoothed)")
    vv = [(r["step"], r[name]) for r in val if name in r]
    if vv:
        ax.plot([s for s, _ in vv], [v for _, v in vv], "o-", color="tab:orange", label="validation")
    for i, (ref, value) in enumerate(references.items()):
        ax.axhline(value, ls="--", color=f"C{i + 2}", lw=1, label=f"{ref} {value:.3g}")
    ax.set(title=name, xlabel="step")
    ax.legend(fontsize=8)
    ax = axes[1][0]
    norms = [r["grad_norm"] for r in train]
    ax.plot(steps, norms, color="tab:purple", lw=0.6, alpha=0.6, label="pre-clip norm")
    if clip_norm:
        ax.axhline(clip_norm, ls="--", color="k", lw=1, label=f"clip {clip_norm:g}")
    if all(n > 0 and math.isfinite(n) for n in norms):
        ax.set_yscale("log")
    ax.set(title="gradient norm (before clipping)", xlabel="step")
    ax.legend(fontsize=8)
    ax = axes[1][1]
    ax.plot(steps, [r["lr"] for r in train], color="tab:green")
    ax.set(title="learning rate", xlabel="step")
    if title:
        fig.suptitle(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()
