"""Running the tour: prepare the fused kernels, train every chosen demo's task with its ``tour`` preset
(``smoke`` in smoke mode) under its share of the time budget, turn each finished run into its report
section, and keep going when one demo fails. Run directories land in the tour's folder
(``runs/tour/<task>-<timestamp>/``), next to the report.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import platform
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .budget import Budget
from .demos import Demo
from .report import DemoRun, TourFacts, write_reports
from .sections import describe

Echo = Callable[[str], None]


@dataclass
class TourOptions:
    """What ``rnnkit tour`` runs and how.

    Attributes:
        out: the tour's folder (report and run directories).
        demos: the demos to run, in order.
        minutes: the total wall-clock budget (None: every demo gets its preset's training time).
        smoke: tiny versions of everything (the tasks' ``smoke`` presets) — for tests.
        seed, device, threads, progress: passed to every run (``run.*``).
        series: the built-in series of the series demo (None: the task's default).
    """

    out: Path
    demos: Sequence[Demo]
    minutes: float | None = 10.0
    smoke: bool = False
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    progress: bool = True
    series: str | None = None


@dataclass
class TourResult:
    runs: list[DemoRun]
    facts: TourFacts
    report_md: Path
    report_html: Path

    @property
    def exit_code(self) -> int:
        """0 when every demo finished, 130 when interrupted, else 1."""
        if any(r.status == "interrupted" for r in self.runs):
            return 130
        return 0 if all(r.status == "ok" for r in self.runs) else 1


def _load() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def machine() -> str:
    """The CPU model and core count (no host names)."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPU cores"


def choose_threads(requested: int | None) -> tuple[int | None, str]:
    """Torch threads for every run and why: ``requested``, else torch's default on an idle machine, else
    1 — on a machine already busy (1-minute load ≥ 75% of its cores) extra threads wait on each other
    and make every step several times slower."""
    import torch

    if requested:
        return requested, f"{requested} torch thread{'s' if requested > 1 else ''} (--threads)"
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    if cores > 1 and load >= 0.75 * cores:
        return 1, f"1 torch thread (the machine was busy: load {load:.1f} on {cores} cores)"
    n = torch.get_num_threads()
    return None, f"{n} torch thread{'s' if n > 1 else ''}"


def prepare_backend(echo: Echo) -> str:
    """Build (or load) the fused CPU kernels now, so the first demo does not pay for it silently."""
    from ..scan.backends import backend_status, short_reason

    echo("preparing the fused CPU kernels (compiled once per machine, about a minute the first time) …")
    start = time.perf_counter()
    status = backend_status()
    took = time.perf_counter() - start
    if status.get("cpu") == "available":
        note = f"backend cpu (ready in {took:.0f} s)"
    else:  # the demos' cells run torch's own operator where they have a torch twin, else the reference
        note = f"fused CPU kernels unavailable ({short_reason(status.get('cpu', 'not registered'))})"
    echo(note)
    return note


def demo_config(demo: Demo, opts: TourOptions, minutes: float | None) -> Any:
    from ..tasks.runner import resolve_config

    overrides: dict[str, Any] = {
        "run.out_dir": str(opts.out),
        "run.seed": opts.seed,
        "run.device": opts.device,
        "run.progress": opts.progress,
    }
    if opts.threads:
        overrides["run.threads"] = opts.threads
    if minutes is not None:
        overrides["optim.max_minutes"] = minutes
    if demo.name == "series" and opts.series:
        overrides["data.series"] = opts.series
    return resolve_config(demo.name, preset="smoke" if opts.smoke else "tour", overrides=overrides)


def _header(i: int, n: int, run: DemoRun, budget: Budget, echo: Echo) -> None:
    """The demo's place in the tour and its share of the time (its training bar then counts that share)."""
    share = ""
    if run.train_minutes is not None:
        rest = budget.overhead_s(run.demo.name) / 60
        share = (
            f"; this demo: {run.train_minutes:.2f} min of training + ≈{rest:.1f} min of data, baselines"
            " and evaluation"
        )
    echo(f"\n━━ [{i}/{n}] {run.demo.title}  (tour: {budget.progress()}{share})")


def _footer(run: DemoRun, budget: Budget, echo: Echo) -> None:
    """How long the demo took and where the tour stands."""
    if run.status in ("ok", "failed"):
        echo(f"── {run.demo.name}: {run.status} in {run.seconds / 60:.1f} min (tour: {budget.progress()})")


def _run_one(run: DemoRun, opts: TourOptions, out: Path, budget: Budget, echo: Echo) -> None:
    """Train one demo and describe it; any exception is recorded in ``run`` (KeyboardInterrupt passes)."""
    from ..tasks.runner import train

    start = time.perf_counter()
    try:
        summary = train(demo_config(run.demo, opts, run.train_minutes), echo=echo)
        run.run_dir = summary.run_dir
        run.seconds = time.perf_counter() - start
        if summary.fit.stop_reason == "interrupted":
            run.status = "interrupted"
            return
        run.outcome = describe(run.demo, summary, run.seconds, out)
        run.status = "ok"
        budget.finished(run.demo.name, run.seconds, summary.fit.elapsed)
    except Exception as e:  # one demo's failure must not end the tour
        run.seconds = time.perf_counter() - start
        run.status = "failed"
        run.error = f"{type(e).__name__}: {e}".splitlines()[0][:300]
        run.traceback = "".join(traceback.format_exc().splitlines(keepends=True)[-25:])
        echo(f"demo {run.demo.name} FAILED after {run.seconds:.0f} s: {run.error}")


def run_tour(opts: TourOptions, echo: Echo = print) -> TourResult:
    """Run the demos one after another; a failing demo is recorded and the tour goes on."""
    import torch

    from .. import __version__

    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    budget = Budget(None if opts.smoke or opts.minutes is None else 60.0 * opts.minutes)
    facts = TourFacts(
        date=dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        machine=machine(),
        software=f"rnnkit {__version__}, torch {torch.__version__}, Python {platform.python_version()}",
        backend="",
        budget_minutes=None if opts.smoke else opts.minutes,
        smoke=opts.smoke,
        load_start=_load(),
    )
    runs = [DemoRun(d) for d in opts.demos]
    current: DemoRun | None = None
    threads_before = torch.get_num_threads()
    threads, threads_note = choose_threads(opts.threads)
    opts = dataclasses.replace(opts, threads=threads)
    try:
        facts.backend = prepare_backend(echo) + "; " + threads_note
        echo(threads_note)
        for i, run in enumerate(runs, 1):
            current = run
            remaining = [r.demo.name for r in runs[i - 1 :]]
            run.train_minutes = None if opts.smoke else budget.training_minutes(run.demo.name, remaining)
            _header(i, len(runs), run, budget, echo)
            _run_one(run, opts, out, budget, echo)
            _footer(run, budget, echo)
            facts.seconds, facts.load_end = budget.elapsed(), _load()
            write_reports(out, runs, facts)
            if run.status == "interrupted":
                break
    except KeyboardInterrupt:
        echo("\ninterrupted: writing the report of what finished")
        if current is not None and current.status == "pending":
            current.status = "interrupted"
    finally:
        torch.set_num_threads(threads_before)
    facts.seconds, facts.load_end = budget.elapsed(), _load()
    md, page = write_reports(out, runs, facts)
    return TourResult(runs, facts, md, page)
