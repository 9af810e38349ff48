"""Aggregate the gating reproduction's runs into JSON, a markdown table and curve plots.

Reads every run directory written by ``gating_reproduction.py`` (``summary.json`` + ``metrics.jsonl``)
and reports, per experiment and cell, the test loss ÷ the baseline computed in the same run on the
same split (mean ± std over seeds), the step at which the validation loss first fell below half the
baseline, and the validation curves (mean and min–max band over seeds, log scale). Experiments with no
run under ``--work`` keep their runs from the previous ``gating.json`` in ``--out``.

    python benchmarks/gating_report.py [--work runs/gating] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

#: the baseline each task's ratio is taken against (its name in the run's summary)
BASELINE = {"adding": "predict 1", "copy": "memoryless", "seqdigits": "majority class"}
ESCAPE = 0.5  # "escaped the baseline": validation loss below half of it


def load_run(run_dir: Path) -> dict[str, Any] | None:
    """One finished run as a record, or None when it has no summary yet."""
    summary_path = run_dir / "summary.json"
    meta_path = run_dir / "gating.json"
    if not summary_path.is_file() or not meta_path.is_file():
        return None
    summary = json.loads(summary_path.read_text())
    meta = json.loads(meta_path.read_text())
    task = summary["task"]
    base = BASELINE[task]
    base_val = summary["baselines"]["val"][base]["loss"]
    base_test = summary["baselines"]["test"][base]["loss"]
    curve = []
    with (run_dir / "metrics.jsonl").open() as f:
        for line in f:
            row = json.loads(line)
            if row.get("split") == "val":
                curve.append((row["step"], row["loss"] / base_val))
    escape = next((step for step, r in curve if r < ESCAPE), None)
    test = summary["metrics"]["test"]
    return {
        **meta,
        "task": task,
        "baseline": base,
        "test_loss": test["loss"],
        "baseline_test_loss": base_test,
        "test_ratio": test["loss"] / base_test,
        "test_accuracy": test.get("accuracy", test.get("recall_accuracy")),
        "escape_step": escape,
        "steps": summary["steps"],
        "minutes": summary["minutes"],
        "curve": curve,
    }


def collect(work: Path) -> list[dict[str, Any]]:
    runs = [load_run(d) for d in sorted(work.glob("*")) if d.is_dir()]
    return [r for r in runs if r is not None]


def previous_runs(report: Path, keep_out: set[str]) -> list[dict[str, Any]]:
    """Runs recorded in an earlier ``gating.json`` for experiments other than ``keep_out``, so that
    re-running one experiment does not drop the others from the report."""
    if not report.is_file():
        return []
    return [r for r in json.loads(report.read_text())["runs"] if r["experiment"] not in keep_out]


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def aggregate(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (experiment, cell): mean ± std over seeds."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["experiment"], r["cell"]), []).append(r)
    rows = []
    for (exp, cell), rs in groups.items():
        ratio, ratio_sd = _mean_std([r["test_ratio"] for r in rs])
        accs = [r["test_accuracy"] for r in rs if r["test_accuracy"] is not None]
        acc, acc_sd = _mean_std(accs) if accs else (None, None)
        escapes = [r["escape_step"] for r in rs if r["escape_step"] is not None]
        rows.append(
            {
                "experiment": exp,
                "cell": cell,
                "seeds": sorted(r["seed"] for r in rs),
                "steps": rs[0]["steps"],
                "test_ratio_mean": ratio,
                "test_ratio_std": ratio_sd,
                "test_ratios": [r["test_ratio"] for r in sorted(rs, key=lambda r: r["seed"])],
                "test_accuracy_mean": acc,
                "test_accuracy_std": acc_sd,
                "escaped": f"{len(escapes)}/{len(rs)}",
                "escape_step_median": statistics.median(escapes) if escapes else None,
                "minutes_per_run": statistics.fmean(r["minutes"] for r in rs),
                "description": rs[0]["description"],
                "measured": "; ".join(sorted({r.get("measured", "") for r in rs} - {""})),
            }
        )
    return rows


def experiment_order(names: list[str]) -> list[str]:
    """adding, copy, digits, permuted digits — then anything else, each group sorted."""
    rank = {"adding": 0, "copy": 1, "seqdigits": 2, "pseqdigits": 3}
    key = lambda n: (next((v for k, v in rank.items() if n.startswith(k)), 9), n)  # noqa: E731
    return sorted(dict.fromkeys(names), key=key)


def markdown(rows: list[dict[str, Any]], cell_order: list[str], header: str) -> str:
    lines = [header, ""]
    for exp in experiment_order([r["experiment"] for r in rows]):
        rs = sorted((r for r in rows if r["experiment"] == exp), key=lambda r: cell_order.index(r["cell"]))
        first = rs[0]
        acc_name = (
            "test accuracy"
            if "digits" in exp
            else "recall accuracy"
            if exp.startswith("copy")
            else "share within 0.04"
        )
        lines += [
            f"**{exp}** — {first['description']}; {first['steps']:,} steps, seeds {first['seeds']}"
            + (f" (trained {first['measured']})" if first.get("measured") else ""),
            "",
            f"| cell | test loss ÷ baseline (mean ± std) | per seed | {acc_name} | escaped (< {ESCAPE}) "
            "| median escape step | min/run |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rs:
            acc = (
                "–"
                if r["test_accuracy_mean"] is None
                else f"{r['test_accuracy_mean']:.3f} ± {r['test_accuracy_std']:.3f}"
            )
            esc = "–" if r["escape_step_median"] is None else f"{r['escape_step_median']:,.0f}"
            per = ", ".join(f"{v:.3f}" for v in r["test_ratios"])
            lines.append(
                f"| {r['cell']} | {r['test_ratio_mean']:.3f} ± {r['test_ratio_std']:.3f} | {per} | {acc} "
                f"| {r['escaped']} | {esc} | {r['minutes_per_run']:.1f} |"
            )
        lines.append("")
    return "\n".join(lines)


def plot(runs: list[dict[str, Any]], exp: str, cell_order: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    colors = plt.get_cmap("tab10")
    for k, cell in enumerate(cell_order):
        rs = [r for r in runs if r["experiment"] == exp and r["cell"] == cell]
        if not rs:
            continue
        steps = sorted(set.intersection(*(set(s for s, _ in r["curve"]) for r in rs)))
        vals = [[dict(r["curve"])[s] for r in rs] for s in steps]
        mean = [statistics.fmean(v) for v in vals]
        ax.plot(steps, mean, color=colors(k), label=f"{cell} ({len(rs)} seeds)")
        ax.fill_between(steps, [min(v) for v in vals], [max(v) for v in vals], color=colors(k), alpha=0.15)
    ax.axhline(1.0, color="black", lw=0.8, ls="--", label="baseline")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("validation loss ÷ baseline")
    desc = next(r["description"] for r in runs if r["experiment"] == exp)
    ax.set_title(f"{exp}: {desc}", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_report(work: Path, out: Path, cell_order: list[str], header: str) -> str:
    """Collect the runs under ``work``; write gating.json, gating.md and gating-<experiment>.png."""
    runs = collect(work)
    if not runs:
        raise SystemExit(f"no finished runs under {work}")
    runs += previous_runs(out / "gating.json", {r["experiment"] for r in runs})
    out.mkdir(parents=True, exist_ok=True)
    cells = [c for c in cell_order if any(r["cell"] == c for r in runs)]
    rows = aggregate(runs)
    md = markdown(rows, cells, header)
    for exp in experiment_order([r["experiment"] for r in runs]):
        plot(runs, exp, cells, out / f"gating-{exp}.png")
    _atomic_write(
        out / "gating.json", json.dumps({"header": header, "rows": rows, "runs": runs}, indent=1) + "\n"
    )
    _atomic_write(out / "gating.md", md + "\n")
    return md


def main() -> None:
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default="runs/gating", help="folder of the runs")
    p.add_argument("--out", default=str(here / "results"))
    args = p.parse_args()
    sys.path.insert(0, str(here))
    from gating_reproduction import CELLS, report_header

    print(write_report(Path(args.work), Path(args.out), list(CELLS), report_header()))


if __name__ == "__main__":
    main()
