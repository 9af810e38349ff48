"""Reproduce Gu et al., "Improving the Gating Mechanism of Recurrent Neural Networks" (ICML 2020) on a
CPU: LSTM, LSTM with forget-gate bias 1, GRU, UR-LSTM and UR-GRU on the adding problem, the copy task
and sequential (and permuted) digits — equal step budgets, several seeds, test loss ÷ the baseline
computed in the same run, and validation curves.

    python benchmarks/gating_reproduction.py                          # everything (hours on 2 cores)
    python benchmarks/gating_reproduction.py --experiments adding200 --seeds 0,1,2 --jobs 2
    python benchmarks/gating_report.py                                # re-draw the report from the runs

Every run is an ordinary ``rnnkit train`` run directory under ``--work`` (default ``runs/gating/``):
finished runs are reused, interrupted ones resumed exactly from their last checkpoint, so the script
can be stopped and started again at will. The report goes to ``benchmarks/results/gating.{json,md}``
and ``gating-<experiment>.png``. Settings as Gu et al.'s synthetic tasks: one layer of H = 128,
batch 64, Adam at a constant 1e-3, gradient norm clipped at 1.0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

#: the compared models: name -> model overrides
CELLS: dict[str, dict[str, Any]] = {
    "lstm": {"model.cell": "lstm"},
    "lstm_fb1": {"model.cell": "lstm", "model.forget_bias": "1.0"},
    "gru": {"model.cell": "gru"},
    "urlstm": {"model.cell": "urlstm"},
    "urgru": {"model.cell": "urgru"},
}


@dataclass(frozen=True)
class Experiment:
    task: str
    description: str
    steps: int
    eval_every: int
    overrides: dict[str, Any] = field(default_factory=dict)


def experiments(
    copy_lag: int, copy_steps: int, adding_steps: int, digits_steps: int
) -> dict[str, Experiment]:
    return {
        "adding200": Experiment("adding", "adding problem, T = 200", adding_steps, 100, {"data.length": 200}),
        f"copy{copy_lag}": Experiment(
            "copy",
            f"copy task, lag L = {copy_lag} (T = {copy_lag + 20})",
            copy_steps,
            250,
            {"data.lag": copy_lag},
        ),
        "seqdigits": Experiment("seqdigits", "8×8 digits pixel by pixel, T = 64", digits_steps, 100),
        "pseqdigits": Experiment(
            "seqdigits",
            "8×8 digits, pixels in a fixed random order, T = 64",
            digits_steps,
            100,
            {"data.permuted": True},
        ),
    }


def report_header(command: str | None = None) -> str:
    import torch

    from rnnkit.bench.timing import machine_info

    m = machine_info()
    cmd = command or "python benchmarks/gating_reproduction.py"
    return (
        f"Report of {m['date']}; each experiment names when and on what CPU its runs were trained (1 torch "
        f"thread per run, runs in parallel processes, torch {torch.__version__}). "
        "One layer, H = 128, batch 64, Adam lr 1e-3 constant, clip 1.0. "
        "Ratio = test loss ÷ the baseline's test loss in the same run (adding: always predict 1, MSE ≈ 1/6; "
        "copy: the memoryless 10·ln 8/(L+20); digits: the majority class). Command: `" + cmd + "`."
    )


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """Train one (experiment, cell, seed) into ``job["dir"]``; resumes or skips as needed."""
    import torch

    torch.set_num_threads(job["threads"])
    from rnnkit.tasks import resolve_config
    from rnnkit.tasks import train as train_task

    run_dir = Path(job["dir"])
    if (run_dir / "summary.json").is_file():
        return {"name": run_dir.name, "status": "reused"}
    run_dir.mkdir(parents=True, exist_ok=True)
    from rnnkit.bench.timing import machine_info

    m = machine_info()
    meta = {k: job[k] for k in ("experiment", "cell", "seed", "description")}
    meta["measured"] = f"{m['date']}, {m['cpu']}"
    tmp = run_dir / "gating.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1) + "\n")
    os.replace(tmp, run_dir / "gating.json")
    cfg = resolve_config(job["task"], overrides=job["overrides"])
    resume = run_dir if (run_dir / "checkpoints" / "last.safetensors").is_file() else None
    t0 = time.time()
    with (run_dir / "log.txt").open("a") as log:
        summary = train_task(cfg, resume=resume, echo=lambda s: print(s, file=log, flush=True))
    status = "interrupted" if summary.fit.stop_reason == "interrupted" else "trained"
    return {"name": run_dir.name, "status": status, "minutes": (time.time() - t0) / 60}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--experiments", default="adding200,copy,seqdigits,pseqdigits", help="comma-separated")
    p.add_argument("--cells", default=",".join(CELLS), help=f"comma-separated, from {', '.join(CELLS)}")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--copy-lag", type=int, default=100, help="blank lag L of the copy task")
    p.add_argument("--copy-steps", type=int, default=8000)
    p.add_argument("--adding-steps", type=int, default=2000)
    p.add_argument("--digits-steps", type=int, default=1500)
    p.add_argument("--jobs", type=int, default=2, help="runs in parallel (one torch thread each)")
    p.add_argument("--work", default="runs/gating", help="folder of the run directories")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    p.add_argument("--report-only", action="store_true", help="only redraw the report from finished runs")
    args = p.parse_args()

    exps = experiments(args.copy_lag, args.copy_steps, args.adding_steps, args.digits_steps)
    names = [f"copy{args.copy_lag}" if e == "copy" else e for e in args.experiments.split(",")]
    cells, seeds = args.cells.split(","), [int(s) for s in args.seeds.split(",")]
    for bad, known, what in ((names, exps, "experiment"), (cells, CELLS, "cell")):
        unknown = [n for n in bad if n not in known]
        if unknown:
            raise SystemExit(f"unknown {what}(s) {unknown}; known: {', '.join(known)}")
    jobs = []
    for name in names:
        e = exps[name]
        for cell in cells:
            for seed in seeds:
                overrides = {
                    **e.overrides,
                    **CELLS[cell],
                    "optim.max_steps": e.steps,
                    "run.seed": seed,
                    "run.eval_every": e.eval_every,
                    "run.checkpoint_every": 250,
                    "run.out_dir": args.work,
                    "run.name": f"{name}-{cell}-s{seed}",
                    "run.progress": False,
                }
                jobs.append(
                    {
                        "experiment": name,
                        "cell": cell,
                        "seed": seed,
                        "description": e.description,
                        "task": e.task,
                        "overrides": overrides,
                        "threads": 1,
                        "dir": str(Path(args.work) / f"{name}-{cell}-s{seed}"),
                    }
                )
    if not args.report_only:
        from tqdm import tqdm

        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(run_one, j): j for j in jobs}
            with tqdm(total=len(jobs), desc="gating runs", unit="run") as bar:
                for fut in as_completed(futures):
                    res = fut.result()
                    bar.set_postfix_str(f"{res['name']} {res['status']}")
                    bar.update()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from gating_report import write_report

    command = "python benchmarks/gating_reproduction.py " + " ".join(sys.argv[1:])
    print(write_report(Path(args.work), Path(args.out), list(CELLS), report_header(command.strip())))


if __name__ == "__main__":
    main()
