"""What the trainer reports while it runs: a progress bar, a JSONL metric log, PNG curves.

The trainer calls every callback's hooks with itself and a row, a flat dict:

- train rows (every step): ``split="train"``, step, epoch, lr, loss, grad_norm (the total gradient
  norm BEFORE clipping), clipped, items, items_per_s, time, plus the loss function's metrics;
- val rows (every evaluation): ``split="val"``, step, epoch, time, loss, the metrics, best.

``on_eval_start`` runs before each evaluation the trainer logs (periodic and final), with no row.

Subclass :class:`Callback` and override the hooks you need.
"""

from __future__ import annotations

import io
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from tqdm.auto import tqdm

from .._io import atomic_write_bytes, atomic_write_text
from .config import OptimConfig, RunConfig
from .optim import LRSchedule
from .outputs import FitResult
from .plan import StepPlan, plan_step


class Trainer(Protocol):
    """What a callback may read of the :class:`rnnkit.train.trainer.Trainer` that calls it (the
    trainer imports its callbacks, never the reverse)."""

    step: int  # optimizer steps taken
    epoch: int
    elapsed: float  # seconds of training so far, on the trainer's clock (resumed runs included)
    optim: OptimConfig
    run: RunConfig
    schedule: LRSchedule
    plan: StepPlan | None  # the step count planned for a time budget (None: no budget)


class Callback:
    """No-op hooks; override what you need."""

    def on_fit_start(self, trainer: Trainer) -> None: ...
    def on_step_end(self, trainer: Trainer, row: dict[str, Any]) -> None: ...
    def on_eval_start(self, trainer: Trainer) -> None: ...
    def on_eval_end(self, trainer: Trainer, row: dict[str, Any]) -> None: ...
    def on_fit_end(self, trainer: Trainer, result: FitResult) -> None: ...


def _fmt_rate(x: float) -> str:
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.1f}{unit}"
    return f"{x:.0f}"


def fmt_clock(seconds: float) -> str:
    """A duration as ``M:SS``, or ``H:MM:SS`` from an hour on (negative durations read 0:00)."""
    s = max(0, int(seconds))
    hours, rest = divmod(s, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _fmt_pace(seconds_per_step: float) -> str:
    if seconds_per_step >= 1:
        return f"{seconds_per_step:.3g} s/step"
    return f"{1 / seconds_per_step:.3g} steps/s"


class ProgressBar(Callback):
    """A tqdm bar on stderr (or ``file``) that counts what ends the run, and says why it ended.

    - Without a time budget: the run's steps (``max_steps``), with the time left at the pace measured
      in this process (evaluations included).
    - With a time budget (``optim.max_minutes``), before the step count is planned (the first
      ``max(warmup_steps, 10)`` steps and one timed evaluation, see :mod:`rnnkit.train.plan`): the time
      used of the budget — never the ``max_steps`` cap, which would predict hours for a run of minutes.
    - With a time budget, once planned: the planned steps; the time left is the sooner of the budget's
      end and the remaining steps at the measured pace, so it never exceeds the budget.
    - When the run stops, the last line says why: done, the time budget ran out before the planned
      steps, early stopping, the epochs, an interrupt.

    The smoothed loss, the monitored metric, the pre-clip gradient norm and the throughput follow; while
    an evaluation runs the bar says so. Times come from the trainer's clock (:attr:`Trainer.clock`) and
    count its training time, so a resumed run goes on from the time it had already used.

    Args:
        item_name: what ``items_per_s`` counts (tokens, chars, clips …).
        metric: a training-row metric to show smoothed beside the loss.
        file: where the bar goes (default ``sys.stderr``).
        mininterval: the least seconds between two redraws (events such as an evaluation redraw at once).
        desc: the bar's label.
    """

    def __init__(
        self,
        item_name: str = "items",
        metric: str | None = None,
        file: Any = None,
        *,
        mininterval: float = 0.1,
        desc: str = "train",
    ) -> None:
        if mininterval < 0:
            raise ValueError(f"mininterval must be >= 0 seconds, got {mininterval}")
        self.item_name, self.metric, self.file = item_name, metric, file
        self.mininterval, self.desc = mininterval, desc
        self.bar: tqdm | None = None
        self.ema = self.ema_metric = self.weight = 0.0  # bias-corrected moving averages
        self._stats: list[str] = []  # smoothed loss, metric, gradient norm, throughput
        self._status = ""  # what the run is doing beside training steps, or why it stopped
        self._mark: tuple[int, float] | None = None  # (step, training seconds) after this process's 1st step
        self._shown = -math.inf  # time.monotonic() of the last redraw

    # -- what the bar shows ----------------------------------------------------------------------------
    @staticmethod
    def _budget(trainer: Trainer) -> float | None:
        minutes = trainer.optim.max_minutes
        return 60.0 * minutes if minutes else None

    @staticmethod
    def _total(trainer: Trainer) -> int | None:
        """The steps the run will take: its plan; None while a time-budgeted run is still unplanned,
        unless ``max_steps`` ends it before its plan step."""
        plan, cap = trainer.plan, trainer.optim.max_steps
        if plan is None:
            return cap if cap <= plan_step(trainer.optim.warmup_steps) else None
        return min(plan.steps, cap)

    def _pace(self, trainer: Trainer) -> float | None:
        """Seconds a step, evaluations included: measured in this process after its first step (which
        pays for warm-up allocations), else the plan's measured step and evaluation times."""
        if self._mark is not None and trainer.step > self._mark[0]:
            return max(trainer.elapsed - self._mark[1], 0.0) / (trainer.step - self._mark[0])
        plan = trainer.plan
        if plan is not None and plan.step_seconds:
            evals = (plan.eval_seconds or 0.0) / trainer.run.eval_every
            return plan.step_seconds + evals
        return None

    def _head(self, trainer: Trainer, final: bool) -> tuple[float, float, str]:
        """(total, n, text) of the bar: time against the budget before the plan, else steps."""
        budget, total = self._budget(trainer), self._total(trainer)
        if total is None:  # a time budget, not yet planned: the clock is the only honest measure
            assert budget is not None
            used = min(trainer.elapsed, budget)
            text = f"{fmt_clock(used)}/{fmt_clock(budget)} of the budget, step {trainer.step:,}"
            if not final:
                at = plan_step(trainer.optim.warmup_steps)
                text += (
                    " (timing an evaluation to plan the steps)"
                    if trainer.step >= at
                    else f" (steps planned at step {at:,})"
                )
            return budget, used, text
        pace = self._pace(trainer)
        fields = [fmt_clock(trainer.elapsed)]
        if not final:
            eta = None if pace is None else max(0, total - trainer.step) * pace
            if budget is not None:
                room = max(0.0, budget - trainer.elapsed)
                eta = room if eta is None else min(eta, room)
            fields[0] += "<" + ("?" if eta is None else fmt_clock(eta))
        if budget is not None:
            fields.append(f"budget {fmt_clock(budget)}")
        if pace:
            fields.append(_fmt_pace(pace))
        return total, min(trainer.step, total), f"{trainer.step:,}/{total:,} steps [{', '.join(fields)}]"

    def _format(self, trainer: Trainer, final: bool) -> tuple[float, float, str]:
        """(total, n, tqdm bar_format) of the bar now."""
        total, n, head = self._head(trainer, final)
        # what ends the run and why it stopped come first: a narrow terminal trims the end of the line
        text = " · ".join(p for p in (head, self._status, *self._stats) if p)
        return total, n, "{desc}: {percentage:3.0f}%|{bar}| " + text.replace("{", "{{").replace("}", "}}")

    def _show(self, trainer: Trainer, *, force: bool = False, final: bool = False) -> None:
        if self.bar is None:
            return
        total, n, self.bar.bar_format = self._format(trainer, final)
        force = force or total != self.bar.total
        self.bar.total, self.bar.n = total, n
        now = time.monotonic()
        if force or now - self._shown >= self.mininterval:
            self.bar.refresh()
            self._shown = now

    @staticmethod
    def _ending(trainer: Trainer, result: FitResult) -> str:
        """Why the run stopped, in words."""
        reason, step, plan = result.stop_reason, result.steps, trainer.plan
        if reason == "max_minutes":
            ran_out = "stopped: the time budget ran out"
            if plan is None:
                return f"{ran_out} at step {step:,}, before the steps were planned"
            if step < plan.steps:
                return f"{ran_out} at step {step:,} of {plan.steps:,} planned"
            return f"done: all {plan.steps:,} planned steps"
        if reason == "max_steps":
            return "done"
        if reason == "early_stopping":
            return f"stopped early at step {step:,}: no improvement in {trainer.run.patience} evaluations"
        if reason == "max_epochs":
            return f"stopped: {trainer.optim.max_epochs} epoch(s) done at step {step:,}"
        if reason == "interrupted":
            return f"interrupted at step {step:,}"
        return f"stopped at step {step:,}" + ("" if reason == "unknown" else f" ({reason})")  # an error

    # -- hooks -----------------------------------------------------------------------------------------
    def on_fit_start(self, trainer: Trainer) -> None:
        self._mark, self._status, self._stats = None, "", []
        self.ema = self.ema_metric = self.weight = 0.0
        total, n, bar_format = self._format(trainer, final=False)
        self.bar = tqdm(
            total=total,
            initial=n,
            file=self.file or sys.stderr,
            desc=self.desc,
            bar_format=bar_format,
            dynamic_ncols=True,
            mininterval=self.mininterval,
            unit="step",
        )
        self._shown = time.monotonic()

    def on_step_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        if self.bar is None:
            return
        if self._mark is None:
            self._mark = (trainer.step, trainer.elapsed)
        a = 0.05
        self.weight = (1 - a) * self.weight + a
        self.ema = (1 - a) * self.ema + a * row["loss"]
        parts = [f"loss {self.ema / self.weight:.3f}"]
        if self.metric and self.metric in row:
            self.ema_metric = (1 - a) * self.ema_metric + a * row[self.metric]
            parts.append(f"{self.metric} {self.ema_metric / self.weight:.3f}")
        parts.append(f"|g| {row['grad_norm']:.2g}")
        parts.append(f"{_fmt_rate(row['items_per_s'])} {self.item_name}/s")
        self._stats, self._status = parts, ""
        # the step that makes a time-budgeted run's plan is shown at once (an evaluation is timed next)
        planning = trainer.plan is None and trainer.step >= plan_step(trainer.optim.warmup_steps)
        self._show(trainer, force=planning)

    def on_eval_start(self, trainer: Trainer) -> None:
        self._status = "evaluating …"
        self._show(trainer, force=True)

    def on_eval_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        shown = [
            f"{k} {v:.4f}"
            for k, v in row.items()
            if k not in ("split", "step", "epoch", "time", "best", "count")
        ]
        mark = "  (best)" if row.get("best") else ""
        msg = f"step {row['step']:>6} · val " + " · ".join(shown) + mark
        self._status = ""
        if self.bar is not None:
            self._show(trainer)
            self.bar.write(msg, file=self.file or sys.stderr)
        else:
            print(msg, file=self.file or sys.stderr)

    def on_fit_end(self, trainer: Trainer, result: FitResult) -> None:
        if self.bar is None:
            return
        self._status = self._ending(trainer, result)
        total, n, self.bar.bar_format = self._format(trainer, final=True)
        self.bar.total, self.bar.n = total, n
        self.bar.close()  # draws this last state once more and leaves it
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
    ``min_interval`` seconds: drawing takes a moment) and at the end.

    The learning-rate panel also shows the run's plan (see :mod:`rnnkit.train.plan`): where the decay
    starts and the planned last step, and, dashed, the planned rates of the steps not run yet (or never
    run, when the time budget or early stopping ended the run first)."""

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
        self._ended = False

    def on_fit_start(self, trainer: Trainer) -> None:
        self._ended = False

    def on_eval_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        if time.monotonic() - self.last >= self.min_interval:
            self.plot(trainer)

    def on_fit_end(self, trainer: Trainer, result: FitResult) -> None:
        self._ended = True
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
        plan = trainer.plan if trainer is not None else None
        ahead: list[tuple[int, float]] = []
        if trainer is not None and plan is not None:
            # row k logs the rate of 0-based step k - 1; join the logged curve at its last step
            last = max(r["step"] for r in train)
            stride = max(1, (plan.steps - last) // 400)
            ahead = [
                (k, trainer.schedule(k - 1, plan)) for k in (*range(last, plan.steps, stride), plan.steps)
            ]
        png = render_curves(
            train,
            val,
            self.metric,
            self.references,
            clip,
            self.title,
            plan=None if plan is None else plan.to_dict(),
            planned_lr=ahead if len(ahead) > 1 else (),
            planned_label="planned, not run" if self._ended else "planned",
        )
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
    *,
    plan: dict[str, Any] | None = None,
    planned_lr: Sequence[tuple[int, float]] = (),
    planned_label: str = "planned",
) -> bytes:
    """The 2×2 figure as PNG bytes (matplotlib, Agg backend).

    Rows are drawn in step order, one point per step (the last row of a step wins), so every line joins
    consecutive steps of one series. ``plan`` (a :class:`~rnnkit.train.plan.StepPlan` as a dict) marks
    the start of the decay and the planned last step on the learning-rate panel; ``planned_lr``
    ``[(step, rate), …]`` is drawn dashed after the logged rates (when it ends within half the run
    again of the last logged step, so that it never squeezes the logged curve)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train, val = _by_step(train), _by_step(val)
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
    ax.set(title="loss: training and validation", xlabel="step")
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
    # the monitored metric (the loss again for tasks that monitor it) beside the baselines: its own title
    ax.set(title=f"validation {name}" + (" beside the baselines" if references else ""), xlabel="step")
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
    _lr_panel(axes[1][1], steps, [r["lr"] for r in train], plan, planned_lr, planned_label)
    if title:
        fig.suptitle(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _by_step(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` sorted by step, one per step (the last logged)."""
    return sorted({r["step"]: r for r in rows}.values(), key=lambda r: r["step"])


def _lr_panel(
    ax: Any,
    steps: list[int],
    lrs: list[float],
    plan: dict[str, Any] | None,
    planned: Sequence[tuple[int, float]],
    planned_label: str,
) -> None:
    """The learning rate per step and, with a plan, where it decays and where the plan ends."""
    ax.plot(steps, lrs, color="tab:green", label="logged")
    name = "learning rate"
    if plan is not None:
        start, end = int(plan["decay_start"]), int(plan["steps"])
        timed = plan.get("step_seconds") is not None
        name += f" (plan: {end:,} steps{', from a time budget' if timed else ''})"
        if start > 0:
            what = "plan made, decay starts" if timed else "decay starts"
            ax.axvline(start, ls=":", color="grey", lw=1, label=f"{what} (step {start:,})")
        last = steps[-1] if steps else 0
        if planned and planned[-1][0] <= 1.5 * max(last, 1):
            ax.plot([k for k, _ in planned], [v for _, v in planned], ls="--", color="tab:green", alpha=0.5,
                    label=planned_label)  # fmt: skip
            ax.axvline(end, ls="--", color="grey", lw=1, label=f"planned end (step {end:,})")
        ax.legend(fontsize=8)
    ax.set(title=name, xlabel="step")
