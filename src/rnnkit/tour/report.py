"""The tour's outputs: ``report.md`` and ``report.html`` (the same document; the HTML is self-contained),
``report.json`` (the summary rows and the facts of the run) and the summary table for the terminal.

The report is rewritten after every demo, so a tour stopped half-way still leaves a report of what
finished.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._io import atomic_write_text
from .blocks import Block, Bullets, Code, Document, Section, Table, Text, render_html, render_markdown
from .demos import Demo
from .sections import Outcome, fmt


@dataclass
class DemoRun:
    """One demo's fate in the tour: ``status`` is pending, ok, failed or interrupted."""

    demo: Demo
    status: str = "pending"
    seconds: float = 0.0
    train_minutes: float | None = None
    run_dir: Path | None = None
    outcome: Outcome | None = None
    error: str | None = None
    traceback: str | None = None


@dataclass
class TourFacts:
    """When, where and how the tour ran (printed at the top of the report)."""

    date: str
    machine: str
    software: str
    backend: str
    budget_minutes: float | None
    smoke: bool
    load_start: str
    seconds: float = 0.0
    load_end: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def duration(seconds: float) -> str:
    """``50 s`` below a minute, ``1.9 min`` from one on."""
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def summary_rows(runs: Sequence[DemoRun]) -> list[list[str]]:
    """demo, metric, model, best baseline, verdict, time — one row per demo."""
    rows = []
    for r in runs:
        o = r.outcome
        if o is not None:
            base = "—" if o.baseline_name is None else f"{fmt(o.baseline)} ({o.baseline_name})"
            rows.append([r.demo.name, o.metric, fmt(o.model), base, o.verdict, duration(r.seconds)])
        else:
            what = {"failed": f"FAILED: {r.error}", "interrupted": "interrupted", "pending": "not run"}
            rows.append([r.demo.name, "—", "—", "—", what.get(r.status, r.status), duration(r.seconds)])
    return rows


HEADER = ["demo", "metric", "model", "best baseline", "verdict", "time"]


def summary_table(runs: Sequence[DemoRun], max_verdict: int = 60) -> str:
    """The summary as an aligned plain-text table for the terminal."""
    rows = [[c if i != 4 or len(c) <= max_verdict else c[: max_verdict - 1] + "…" for i, c in enumerate(row)]
            for row in summary_rows(runs)]  # fmt: skip
    return aligned_table(HEADER, rows)


def aligned_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, a rule of ─ under the header: a plain-text table."""
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["─" * w for w in widths]), *(line(r) for r in rows)])


def _overview(runs: Sequence[DemoRun], facts: TourFacts) -> list[Block]:
    """The introduction above the sections: smoke mode, when and where, how to read the numbers."""
    budget = f" (budget {facts.budget_minutes:g} min)" if facts.budget_minutes else ""
    blocks: list[Block] = []
    if facts.smoke:
        blocks.append(
            Text(
                "**Smoke mode:** tiny models trained for a few steps on small slices of the data. The "
                "numbers below are meaningless; this run only checks that every demo runs end to end "
                "and writes its outputs."
            )
        )
    blocks.append(
        Text(
            f"Run {facts.date} on {facts.machine}; {facts.software}; {facts.backend}. "
            f"Wall-clock time {duration(facts.seconds)}{budget}; load average {facts.load_start} at the "
            f"start, {facts.load_end or '…'} at the end."
        )
    )
    blocks.append(
        Text(
            "These are **short tour runs**: each model trains for a minute or three, so its numbers are "
            "weaker than those of the full-budget runs that the README reports (`rnnkit train --task "
            "NAME` with the task's defaults; each section names its command). Every metric stands beside "
            "baselines computed **in the same run, on the same split**; ↓ marks metrics where lower is "
            "better, ↑ where higher is."
        )
    )
    return blocks


def _summary(runs: Sequence[DemoRun]) -> Section:
    """The summary table and, said plainly, every demo that misses its baseline or floor, or failed."""
    blocks: list[Block] = [Table(HEADER, summary_rows(runs))]
    done = [r for r in runs if r.outcome is not None]
    misses = [f"**{r.demo.name}**: {r.outcome.statement}." for r in done if r.outcome.ok is False]  # type: ignore[union-attr]
    misses += [f"**{r.demo.name}** failed: `{r.error}`." for r in runs if r.status == "failed"]
    if misses:
        blocks += [
            Text("**Where a model does not beat its baseline (or its floor) in this run:**"),
            Bullets(misses),
        ]
    elif done:
        blocks.append(Text("Every model that ran beats its best baseline and meets its floor in this run."))
    return Section("Summary", "summary", blocks)


def build_document(runs: Sequence[DemoRun], facts: TourFacts) -> Document:
    """The report: the overview, the summary section, then one section per demo (anchored by its name)."""
    sections = [_summary(runs)]
    for r in runs:
        blocks: list[Block]
        if r.outcome is not None:
            blocks = list(r.outcome.blocks)
        elif r.status == "failed":
            blocks = [Text(f"**This demo failed** after {duration(r.seconds)}: `{r.error}`.")]
            if r.traceback:
                blocks.append(Code(r.traceback, "Traceback (last lines):"))
        elif r.status == "interrupted":
            blocks = [Text("Interrupted before it finished.")]
        else:
            blocks = [Text("Not run yet.")]
        sections.append(Section(r.demo.title, r.demo.name, blocks))
    title = "rnnkit tour" + (" (smoke mode)" if facts.smoke else "")
    return Document(title, _overview(runs, facts), sections)


def write_reports(out: Path, runs: Sequence[DemoRun], facts: TourFacts) -> tuple[Path, Path]:
    """Write ``report.md``, ``report.html`` and ``report.json`` into ``out``; returns the first two."""
    out = Path(out)
    doc = build_document(runs, facts)
    md, page = out / "report.md", out / "report.html"
    atomic_write_text(md, render_markdown(doc, out))
    atomic_write_text(page, render_html(doc, out))
    payload = {
        "facts": {k: v for k, v in vars(facts).items()},
        "demos": [
            {
                "demo": r.demo.name,
                "status": r.status,
                "seconds": round(r.seconds, 1),
                "train_minutes": r.train_minutes,
                "run_dir": None if r.run_dir is None else r.run_dir.name,
                "error": r.error,
                **(
                    {}
                    if r.outcome is None
                    else {
                        "metric": r.outcome.metric,
                        "model": r.outcome.model,
                        "best_baseline": r.outcome.baseline_name,
                        "baseline": r.outcome.baseline,
                        "verdict": r.outcome.verdict,
                        "ok": r.outcome.ok,
                        "statement": r.outcome.statement,
                    }
                ),
            }
            for r in runs
        ],
    }
    atomic_write_text(out / "report.json", json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return md, page
