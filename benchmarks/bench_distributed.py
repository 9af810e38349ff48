"""Data-parallel training on this machine, measured: 1 process x 2 threads against 2 processes x 1 thread,
and the all-reduce's share of a step — the numbers behind the README's "Scaling out" section.

    python benchmarks/bench_distributed.py [--rounds 3] [--steps 40] [--skip 10]
    python benchmarks/bench_distributed.py --readme     # only regenerate the README section (and the .md)

One run measures, in interleaved rounds (every run once per round, then the all-reduces, so that all see
the same conditions):

- the ``text`` task's default model (LSTM, hidden 512, seq_len 100, batch 32) trained by ``rnnkit train
  --task text`` with 1 process x 2 threads (``--threads 2``) and with 2 processes x 1 thread (``--nproc 2
  --threads 1 --set data.batch_size=16``: the same global batch of 32), and with 1 x 2 at twice the batch;
  short runs (``--steps 40 --set optim.max_minutes=none``, a 2,000-character validation split, no
  periodic evaluation), step times and tokens/s read from rank 0's ``metrics.jsonl`` after the first
  ``--skip`` steps;
- the ``compose`` task's default model (batch 64) and twice its batch, 1 process x 2 threads: the
  training loop of ``rnnkit train --task compose`` (the task's data, model, loss and trainer) without the
  baselines and the final evaluation, which would take most of a minute per run;
- ``torch.distributed.all_reduce`` (gloo, 2 processes on loopback, started by torchrun) of one float (the
  latency) and of each model's float32 gradient in the buckets DistributedDataParallel makes of it (read
  from DDP after its bucket rebuild, once, at the start).

It writes benchmarks/results/distributed-<cpu family>.{json,md} (every round's numbers, the machine, the
load average at the start and the end) and rewrites the README's section between ``<!-- scaling -->``
and ``<!-- /scaling -->`` with ``--readme`` (the cost model's predictions are computed from the file:
``rnnkit.bench.scaling``). Progress goes to stderr; about 4 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
#: DistributedDataParallel's default bucket caps, MiB: the first bucket (after the rebuild), the others
FIRST_BUCKET_MIB, BUCKET_CAP_MIB = 1, 25
#: a short run: a small validation split evaluated once at the end, no periodic evaluation or plots
TEXT_SETTINGS = {
    "optim.max_minutes": "none",
    "data.val_chars": "2000",
    "data.train_chars": "500000",
    "run.eval_every": "1000000",
    "run.checkpoint_every": "1000000",
    "run.plot": "false",
}


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _env() -> dict[str, str]:
    """This environment without a torchrun group's variables (each run starts its own)."""
    group = (
        "RANK",
        "WORLD_SIZE",
        "LOCAL_RANK",
        "LOCAL_WORLD_SIZE",
        "MASTER_ADDR",
        "MASTER_PORT",
        "GROUP_RANK",
    )
    return {k: v for k, v in os.environ.items() if k not in group and not k.startswith("TORCHELASTIC_")}


def _call(command: list[str], what: str) -> None:
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(
            f"{what} failed (exit status {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        )


def _metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        raise RuntimeError(f"the run wrote no {path.name} in {run_dir}")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# -- the runs -----------------------------------------------------------------------------------------
def run_specs() -> dict[str, dict[str, Any]]:
    """The measured runs, from the tasks' default batches."""
    from rnnkit.bench import scaling_report as R
    from rnnkit.tasks.runner import resolve_config

    text, compose = resolve_config("text").data.batch_size, resolve_config("compose").data.batch_size
    if text % 2:
        raise ValueError(
            f"the text task's default batch ({text}) is odd: it cannot be split over 2 processes"
        )
    spec = {
        R.ONE: ("text", 1, 2, text),
        R.TWO: ("text", 2, 1, text // 2),
        R.ONE_2B: ("text", 1, 2, 2 * text),
        R.COMPOSE: ("compose", 1, 2, compose),
        R.COMPOSE_2B: ("compose", 1, 2, 2 * compose),
    }
    return {
        k: {"task": task, "processes": p, "threads": t, "batch_per_process": b}
        for k, (task, p, t, b) in spec.items()
    }


def _text_command(spec: dict[str, Any], steps: int, out_dir: Path, name: str) -> list[str]:
    command = [sys.executable, "-m", "rnnkit", "train", "--task", "text", "--steps", str(steps)]
    command += ["--threads", str(spec["threads"]), "--no-progress", "--out-dir", str(out_dir), "--name", name]
    for key, value in {**TEXT_SETTINGS, "data.batch_size": str(spec["batch_per_process"])}.items():
        command += ["--set", f"{key}={value}"]
    if spec["processes"] > 1:
        command += ["--nproc", str(spec["processes"])]
    return command


def _compose_command(spec: dict[str, Any], steps: int, run_dir: Path) -> list[str]:
    return [
        sys.executable, __file__, "--worker", "compose", "--steps", str(steps),
        "--threads", str(spec["threads"]), "--batch", str(spec["batch_per_process"]),
        "--run-dir", str(run_dir),
    ]  # fmt: skip


def describe(spec: dict[str, Any], steps: int) -> str:
    """How a run is started, as the result file records it."""
    if spec["task"] == "text":
        shown = _text_command(spec, steps, Path("OUT"), "NAME")[2:]
        return "rnnkit " + " ".join(a for a in shown[1:] if a not in ("--out-dir", "OUT", "--name", "NAME"))
    return (
        f"the training loop of rnnkit train --task compose --steps {steps} --threads {spec['threads']} "
        f"--set data.batch_size={spec['batch_per_process']} (task data, model, loss and Trainer; no "
        "baselines or evaluation)"
    )


def measure_run(key: str, spec: dict[str, Any], steps: int, skip: int, work: Path, round_no: int) -> dict:
    from rnnkit.bench.scaling_report import step_stats

    name = f"{key}-{round_no}"
    if spec["task"] == "text":
        _call(_text_command(spec, steps, work, name), f"rnnkit train ({key})")
    else:
        _call(_compose_command(spec, steps, work / name), f"the compose run ({key})")
    return step_stats(_metrics(work / name), skip)


def measure_buckets(work: Path) -> dict[str, Any]:
    """Each model's parameters, gradient bytes and DDP's buckets (a torchrun group of 2, once)."""
    out = work / "buckets.json"
    _call([*TORCHRUN, __file__, "--worker", "buckets", "--result", str(out)], "the DDP bucket probe")
    return json.loads(out.read_text(encoding="utf-8"))


def measure_allreduce(
    gradients: dict[str, Any], work: Path, inner: int, round_no: int
) -> dict[str, list[float]]:
    plan = {"small": [4]} | {m: g["buckets_bytes"] for m, g in gradients.items()}
    plan_file, out = work / f"allreduce-plan-{round_no}.json", work / f"allreduce-{round_no}.json"
    plan_file.write_text(json.dumps({"messages": plan, "inner": inner}), encoding="utf-8")
    _call(
        [*TORCHRUN, __file__, "--worker", "allreduce", "--plan", str(plan_file), "--result", str(out)],
        "all-reduce",
    )
    return json.loads(out.read_text(encoding="utf-8"))


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def benchmark(rounds: int, steps: int, skip: int, inner: int) -> dict[str, Any]:
    """Every round's numbers, the machine and its load: the result file's content."""
    from rnnkit.bench.scaling_report import FORMAT, RUNS
    from rnnkit.bench.timing import machine_info

    started, load_start = time.perf_counter(), _loadavg()
    machine = machine_info()
    machine.pop("torch_threads", None)  # each run sets its own (configs)
    specs = run_specs()
    for spec in specs.values():
        spec["command"] = describe(spec, steps)
    result: dict[str, Any] = {"format": FORMAT, "machine": machine, "load_average_start": load_start}
    with tempfile.TemporaryDirectory(prefix="rnnkit-bench-distributed-") as tmp:
        work = Path(tmp)
        _say("DDP buckets and gradient sizes (torchrun, 2 processes) …")
        gradients = measure_buckets(work)
        for m, g in gradients.items():
            _say(
                f"  {m}: {g['parameters']:,} parameters, {g['bytes']:,} bytes in buckets {g['buckets_bytes']}"
            )
        all_rounds = []
        for r in range(1, rounds + 1):
            runs = {}
            for key in RUNS:
                t0 = time.perf_counter()
                runs[key] = measure_run(key, specs[key], steps, skip, work, r)
                _say(
                    f"round {r}/{rounds}: {key}: {1e3 * runs[key]['step_s']:.1f} ms/step, "
                    f"{runs[key]['tokens_per_s']:,.0f} tokens/s ({time.perf_counter() - t0:.0f} s)"
                )
            t0 = time.perf_counter()
            ar = measure_allreduce(gradients, work, inner, r)
            shown = ", ".join(f"{k} {1e3 * statistics.median(v):.2f} ms" for k, v in ar.items())
            _say(f"round {r}/{rounds}: all-reduce {shown} ({time.perf_counter() - t0:.0f} s)")
            all_rounds.append({"round": r, "order": [*RUNS, "allreduce"], "runs": runs, "allreduce_s": ar})
    load_end = _loadavg()
    cores = machine.get("cores") or 1
    notes = []
    if load_start and load_start[0] >= 0.5 * float(cores):  # type: ignore[arg-type]
        notes.append(
            f"The machine was busy with other work when the run started (load average {load_start[0]:.1f} "
            f"on {cores} cores): absolute speeds are lower than on an idle machine, the interleaved ratios "
            "less so."
        )
    if load_end and load_end[0] >= 1.5 * float(cores):  # type: ignore[arg-type]
        notes.append(
            f"The load average at the end ({load_end[0]:.1f}) shows other work beside the benchmark."
        )
    result |= {
        "load_average_end": load_end,
        "notes": notes,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "settings": {
            "rounds": rounds,
            "steps": steps,
            "skip": skip,
            "allreduce_inner_rounds": inner,
            "first_bucket_mib": FIRST_BUCKET_MIB,
            "bucket_cap_mib": BUCKET_CAP_MIB,
            "text_settings": TEXT_SETTINGS,
        },
        "configs": specs,
        "gradients": gradients,
        "rounds": all_rounds,
    }
    return result


def write_result(result: dict[str, Any], out: Path) -> tuple[Path, Path]:
    from rnnkit._io import atomic_write_text
    from rnnkit.bench.scaling_report import markdown

    slug = result["machine"].get("cpu_slug") or "unknown"
    json_path, md_path = out / f"distributed-{slug}.json", out / f"distributed-{slug}.md"
    try:
        text = markdown(result)  # a result that cannot be rendered does not go into the results folder
    except ValueError as e:
        kept = Path(tempfile.gettempdir()) / f"distributed-{slug}-not-rendered.json"
        atomic_write_text(kept, json.dumps(result, indent=2) + "\n")
        raise ValueError(f"{e} (the measurements are kept in {kept})") from None
    atomic_write_text(json_path, json.dumps(result, indent=2) + "\n")
    atomic_write_text(md_path, text)
    return json_path, md_path


def write_readme(readme: Path = README, results: Path = RESULTS) -> bool:
    """Rewrite the README's scaling section (and each result's markdown) from the result files; True when
    the README changed."""
    from rnnkit._blocks import with_block
    from rnnkit._io import atomic_write_text
    from rnnkit.bench.scaling_report import PATTERN, load_result, markdown, render_scaling_section

    for path in sorted(results.glob(PATTERN)):
        md = path.with_suffix(".md")
        new_md = markdown(load_result(path))
        if not md.exists() or md.read_text(encoding="utf-8") != new_md:
            atomic_write_text(md, new_md)
    text = readme.read_text(encoding="utf-8")
    new = with_block(text, "scaling", render_scaling_section(results))
    if new != text:
        atomic_write_text(readme, new)
    return new != text


# -- the workers (run by the commands above) ---------------------------------------------------------------
def worker_compose(args: argparse.Namespace) -> None:
    """The training loop of ``rnnkit train --task compose`` at a batch, writing ``metrics.jsonl``."""
    import torch

    from rnnkit.tasks.registry import get_task
    from rnnkit.tasks.runner import resolve_config
    from rnnkit.train.checkpoint import seed_everything
    from rnnkit.train.trainer import Trainer

    overrides = {
        "optim.max_steps": args.steps, "optim.max_minutes": None, "data.batch_size": args.batch,
        "run.threads": args.threads, "run.progress": False, "run.plot": False, "run.checkpoint_every": 10**6,
    }  # fmt: skip
    cfg = resolve_config("compose", overrides=overrides)
    torch.set_num_threads(args.threads)
    seed_everything(cfg.run.seed)
    task = get_task("compose")
    data = task.build_data(cfg)
    model = task.build_model(cfg, data.state)
    Path(args.run_dir).mkdir(parents=True)
    trainer = Trainer(
        model, task.loss, data.train, None, optim=cfg.optim, run=cfg.run, run_dir=args.run_dir,
        tbptt=task.tbptt, item_name=task.item_name,
    )  # fmt: skip
    trainer.fit()


def _ddp_buckets(name: str, rank: int) -> dict[str, Any]:
    from torch.nn.parallel import DistributedDataParallel

    from rnnkit.tasks.registry import get_task
    from rnnkit.tasks.runner import resolve_config
    from rnnkit.train import distributed as D
    from rnnkit.train.checkpoint import seed_everything
    from rnnkit.train.trainer import _LossModule, as_source

    cfg = resolve_config(name)
    seed_everything(cfg.run.seed)
    task = get_task(name)
    data = task.build_data(cfg)
    model = task.build_model(cfg, data.state)
    params = [p for p in model.parameters() if p.requires_grad]
    ddp = DistributedDataParallel(_LossModule(model, task.loss))  # the trainer's: DDP's default buckets
    batch = D.shard(next(iter(as_source(data.train, cfg.run.seed).epoch(0))), rank, 2)
    for _ in range(3):  # DDP rebuilds its buckets in the order the gradients became ready, after step 1
        ddp.zero_grad()
        ddp(batch, None).loss.backward()
    logged = ddp._get_ddp_logging_data()
    sizes = str(logged.get("rebuilt_bucket_sizes") or logged["bucket_sizes"])
    n = sum(p.numel() for p in params)
    buckets = [int(s) for s in sizes.replace(" ", "").split(",") if s]
    if sum(buckets) != 4 * n:
        raise RuntimeError(f"{name}: DDP's buckets hold {sum(buckets):,} bytes, the gradient {4 * n:,}")
    return {"parameters": n, "bytes": 4 * n, "buckets_bytes": buckets}


def worker_buckets(args: argparse.Namespace) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    found = {name: _ddp_buckets(name, rank) for name in ("text", "compose")}
    if rank == 0:
        Path(args.result).write_text(json.dumps(found), encoding="utf-8")
    dist.destroy_process_group()


def worker_allreduce(args: argparse.Namespace) -> None:
    """Time each message's all-reduce (its buckets one after the other), interleaved over inner rounds;
    per round the mean per call of the slower process."""
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    plan = json.loads(Path(args.plan).read_text(encoding="utf-8"))
    messages = {name: [torch.ones(max(1, b // 4)) for b in sizes] for name, sizes in plan["messages"].items()}
    calls = {name: (200 if name == "small" else 10) for name in messages}
    for bufs in messages.values():  # warm-up: connections, allocations
        for _ in range(3):
            for buf in bufs:
                dist.all_reduce(buf)
    times: dict[str, list[float]] = {name: [] for name in messages}
    for _ in range(plan["inner"]):
        for name, bufs in messages.items():
            dist.barrier()
            t0 = time.perf_counter()
            for _ in range(calls[name]):
                for buf in bufs:
                    dist.all_reduce(buf)
            per_call = torch.tensor([(time.perf_counter() - t0) / calls[name]], dtype=torch.float64)
            dist.all_reduce(per_call, op=dist.ReduceOp.MAX)
            times[name].append(round(float(per_call), 7))
    if dist.get_rank() == 0:
        Path(args.result).write_text(json.dumps(times), encoding="utf-8")
    dist.destroy_process_group()


# -- the command line ------------------------------------------------------------------------------------
def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench_distributed.py",
        description="Measure data-parallel training on this machine (1 process x 2 threads vs 2 processes x "
        "1 thread, the all-reduce's share of a step) and write benchmarks/results/distributed-<cpu family>"
        ".{json,md}; --readme regenerates the README's scaling section from the result files.",
    )
    p.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds: every run once each (default 3)"
    )
    p.add_argument("--steps", type=int, default=40, help="optimiser steps of each training run (default 40)")
    p.add_argument(
        "--skip", type=int, default=10, help="warm-up steps left out of each run's medians (default 10)"
    )
    p.add_argument(
        "--allreduce-rounds", type=int, default=7, metavar="N",
        help="inner rounds of the all-reduce timing in each round (default 7)",
    )  # fmt: skip
    p.add_argument(
        "--out", type=Path, default=RESULTS, metavar="DIR", help="results folder (benchmarks/results)"
    )
    p.add_argument(
        "--readme", action="store_true", help="only regenerate the README section from the results"
    )
    p.add_argument("--worker", choices=("compose", "buckets", "allreduce"), help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=2, help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    p.add_argument("--run-dir", help=argparse.SUPPRESS)
    p.add_argument("--plan", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for name in ("rounds", "steps", "allreduce_rounds"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.skip < 0:
        p.error(f"--skip must be at least 0, got {args.skip}")
    if args.skip >= args.steps:
        p.error(
            f"--skip ({args.skip}) must be below --steps ({args.steps}): no step would be left to measure"
        )
    if args.readme and [a for a in argv if a != "--readme"]:
        p.error("--readme takes no other option (it runs no benchmark)")
    if args.out.exists() and not args.out.is_dir():
        p.error(f"--out {str(args.out)!r} is a file, expected a folder")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.worker:
        {"compose": worker_compose, "buckets": worker_buckets, "allreduce": worker_allreduce}[args.worker](
            args
        )
        return 0
    if args.readme:
        changed = write_readme()
        print("README.md: scaling section " + ("regenerated" if changed else "already up to date"))
        return 0
    result = benchmark(args.rounds, args.steps, args.skip, args.allreduce_rounds)
    try:
        json_path, md_path = write_result(result, args.out)
    except ValueError as e:
        print(f"bench_distributed.py: error: {e}", file=sys.stderr)
        return 1
    print(
        f"wrote {json_path} and {md_path}; regenerate the README with: python {Path(__file__).name} --readme"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
