"""Recorded tours: the README's tour figures come from these files, never from memory.

``python benchmarks/record_tour.py [runs/tour]`` copies a finished tour's ``report.json`` — the facts of
the run and one row per demo (metric, model, best baseline, verdict, time) — together with a description
of the machine into ``benchmarks/results/tours/<date>-<cpu family>.json``. :func:`render_tour_section`
builds the README's ``tour`` block from every record: the newest tour's summary table and, across all
recorded tours, each demo's range of values with the dates and machines, because a tour's figures vary
from run to run (the budget is time: a busier or slower machine trains less).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._io import write_new_json
from .report import HEADER, aligned_table, duration
from .sections import fmt

VERSION = 1


@dataclass
class TourRecord:
    """One recorded tour (a parsed record file)."""

    path: Path
    facts: dict[str, Any]  # the tour's own facts: date, machine, software, budget_minutes, seconds, loads
    machine: dict[str, Any]  # what the recorder measured: cpu, cpu_family, cores, torch_threads, …
    demos: list[dict[str, Any]]  # report.json's rows
    note: str | None = None  # provenance, when the record was not written by the recorder from a run

    @property
    def date(self) -> str:
        return str(self.facts.get("date", ""))

    @property
    def family(self) -> str:
        return str(self.machine.get("cpu_family") or self.machine.get("cpu") or "unknown CPU")

    @property
    def minutes(self) -> float:
        return float(self.facts.get("seconds", 0.0)) / 60


def record_tour(tour_dir: Path, folder: Path, machine: dict[str, Any] | None = None) -> Path:
    """Write a record of the tour in ``tour_dir`` (its ``report.json``) into ``folder``; returns its path.

    A smoke tour (tiny models, meaningless numbers) and an unfinished one are refused with a ValueError.
    ``machine`` defaults to this machine's description (``rnnkit.bench.timing.machine_info``): record on
    the machine that ran the tour."""
    report = Path(tour_dir) / "report.json"
    if not report.is_file():
        raise FileNotFoundError(f"{str(report)!r} does not exist: run `rnnkit tour` first (it writes it)")
    payload = json.loads(report.read_text(encoding="utf-8"))
    facts, demos = payload.get("facts"), payload.get("demos")
    if not isinstance(facts, dict) or not isinstance(demos, list) or not demos:
        raise ValueError(f"{str(report)!r} is not a tour report (expected 'facts' and 'demos')")
    if facts.get("smoke"):
        raise ValueError(
            f"{str(report)!r} is a --smoke tour: its numbers are meaningless, record a real tour"
        )
    pending = [d["demo"] for d in demos if d.get("status") in ("pending", "interrupted")]
    if pending:
        raise ValueError(f"the tour in {str(tour_dir)!r} did not finish ({', '.join(pending)} not run)")
    if machine is None:
        from ..bench.timing import machine_info

        machine = machine_info()
    record = {"version": VERSION, "machine": machine, "facts": facts, "demos": demos}
    stem = f"{str(facts.get('date', 'undated'))[:10]}-{machine.get('cpu_slug') or 'cpu'}"
    return write_new_json(folder, stem, record)


def read_records(folder: Path) -> list[TourRecord]:
    """Every record in ``folder``, newest first; ValueError naming a file that is not a record."""
    records = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != VERSION:
                raise ValueError(f"version {data.get('version')!r}, expected {VERSION}")
            records.append(TourRecord(path, data["facts"], data["machine"], data["demos"], data.get("note")))
        except (ValueError, KeyError, AttributeError) as e:
            raise ValueError(f"{str(path)!r} is not a tour record: {e}") from None
    return sorted(records, key=lambda r: (r.date, r.path.name), reverse=True)


def _row(d: dict[str, Any]) -> list[str]:
    if d.get("status") != "ok" or d.get("metric") is None:
        return [d["demo"], "—", "—", "—", f"FAILED: {d.get('error')}", duration(d.get("seconds", 0.0))]
    base = "—" if d.get("best_baseline") is None else f"{fmt(d.get('baseline'))} ({d['best_baseline']})"
    return [d["demo"], d["metric"], fmt(d.get("model")), base, d.get("verdict", ""), duration(d["seconds"])]


def _span(values: list[float], unit: str = "") -> str:
    lo, hi = min(values), max(values)
    return f"{fmt(lo)}{unit}" if fmt(lo) == fmt(hi) else f"{fmt(lo)}–{fmt(hi)}{unit}"


def _machine_text(r: TourRecord) -> str:
    m = r.machine
    cores = f", {m['cores']} cores" if m.get("cores") else ""
    threads = f", {m['torch_threads']} torch threads" if m.get("torch_threads") else ""
    return f"{m.get('cpu', 'unknown CPU')} ({r.family}{cores}{threads})"


def render_tour_section(folder: Path) -> str:
    """The README's tour block from the records in ``folder``."""
    records = read_records(folder)
    if not records:
        return "No tour has been recorded yet (`python benchmarks/record_tour.py runs/tour` after a tour).\n"
    new = records[0]
    f = new.facts
    budget = f" of a {f['budget_minutes']:g}-minute budget" if f.get("budget_minutes") else ""
    loads = ""
    if f.get("load_start"):
        loads = f"; load average {f['load_start']} at the start, {f.get('load_end') or '?'} at the end"
    lines = [
        f"The latest recorded tour ran {new.date} on {_machine_text(new)}, {f.get('software', '')}{loads}: "
        f"**{new.minutes:.1f} minutes** wall-clock{budget}.",
    ]
    if new.note:
        lines[-1] += f" {new.note[0].upper()}{new.note[1:]}."
    lines += ["", "```text", aligned_table(HEADER, [_row(d) for d in new.demos]), "```", ""]
    misses = [d for d in new.demos if d.get("status") == "ok" and d.get("ok") is False]
    if misses:
        lines.append("Where a model did not beat its baseline (or its floor) in that tour:")
        lines += [f"- **{d['demo']}**: {d.get('statement') or d.get('verdict')}." for d in misses]
    else:
        lines.append("Every model in that tour beat its best baseline and met its floor.")
    lines += ["", _ranges(records)]
    return "\n".join(lines) + "\n"


def _ranges(records: list[TourRecord]) -> str:
    """Each demo's figures across all recorded tours (ranges, verdict counts), with dates and machines."""
    where = "; ".join(f"{r.date[:10]} on {r.family}" for r in records)
    n = len(records)
    minutes = [r.minutes for r in records]
    if n == 1:
        return (
            f"One tour is recorded ({where}); ranges over the recorded tours appear here once there are more."
        )
    lines = [
        f"Across the {n} recorded tours ({where}): {min(minutes):.1f}–{max(minutes):.1f} minutes wall-clock.",
        "",
        "| demo | metric | model | best baseline | beat it and met its floor | time |",
        "|---|---|---|---|---|---|",
    ]
    order = [d["demo"] for d in records[0].demos]
    for name in order + sorted({d["demo"] for r in records for d in r.demos} - set(order)):
        rows = [d for r in records for d in r.demos if d["demo"] == name and d.get("status") == "ok"]
        runs = sum(1 for r in records for d in r.demos if d["demo"] == name)
        if not rows:
            lines.append(f"| {name} | — | — | — | failed in {runs} of {runs} | — |")
            continue
        models = [d["model"] for d in rows if d.get("model") is not None]
        bases = [d["baseline"] for d in rows if d.get("baseline") is not None]
        names = sorted({d["best_baseline"] for d in rows if d.get("best_baseline")})
        base = f"{_span(bases)} ({', '.join(names)})" if bases else "—"
        beat = sum(1 for d in rows if d.get("ok") is True)
        secs = [d["seconds"] for d in rows]
        lo, hi = duration(min(secs)), duration(max(secs))
        span_t = lo if lo == hi else f"{lo}–{hi}"
        metrics = sorted({d["metric"] for d in rows})
        lines.append(
            f"| {name} | {' / '.join(metrics)} | {_span(models) if models else '—'} | {base} | "
            f"{beat} of {runs} | {span_t} |"
        )
    return "\n".join(lines)
