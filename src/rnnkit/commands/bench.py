"""``rnnkit bench``: the fused backend against torch.nn on this machine (training, inference, generation).

rnnkit bench                                  # everything, 2 threads, median of 5 interleaved rounds
rnnkit bench --cells lstm --modes train --shapes 16x200x512 --no-generation

Results are kept per CPU family: <out>/backends-<backend>-<cpu family>.{json,md}, by default in a
scratch folder (runs/bench/backends-cpu-amd-zen4.json); the committed results in benchmarks/results are
replaced only when asked for with ``--out benchmarks/results`` (``python benchmarks/bench_backends.py``
does so).
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

from ..bench.backends import ANCHORS, SHAPES
from ..bench.generation import MODELS

#: where results go unless ``--out`` says otherwise: a scratch folder, never the committed results
DEFAULT_OUT = os.path.join("runs", "bench")


def _shape(text: str) -> tuple[int, int, int]:
    try:
        B, T, H = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a shape is BxTxH, e.g. 32x100x128; got {text!r}") from None
    if min(B, T, H) < 1:
        raise argparse.ArgumentTypeError(f"B, T and H must be positive, got {text!r}")
    return B, T, H


def _names(allowed: tuple[str, ...], what: str):
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(n.strip() for n in text.split(",") if n.strip())
        bad = [n for n in names if n not in allowed]
        if bad or not names:
            raise argparse.ArgumentTypeError(
                f"{what} must be a comma list of {', '.join(allowed)}; got {text!r}"
            )
        return names

    return parse


def default_name(backend: str) -> str:
    """The result files' stem: one pair per backend and CPU family (``backends-cpu-amd-zen4``)."""
    from ..scan.cpu.machine import cpu_info

    return f"backends-{backend}-{cpu_info().slug}"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="benchmark the fused CPU backend against torch.nn",
        description="Time rnnkit's fused backend against torch.nn on this machine, in the same run: "
        "training (forward + backward) and no_grad inference per (batch, time, hidden) shape, achieved "
        "GFLOP/s and the share of the machine's measured peak, and token-by-token generation of a "
        "character model. Candidates are interleaved round by round; the median of the per-round ratios "
        "is reported with its range. Writes <out>/<name>.json and .md, by default one pair per CPU family "
        "(backends-<backend>-<family>, e.g. backends-cpu-amd-zen4) in runs/bench; the committed results "
        "are replaced only with --out benchmarks/results.",
    )
    shapes = " ".join(f"{B}x{T}x{H}" for B, T, H in SHAPES)
    p.add_argument("--cells", type=_names(tuple(ANCHORS), "--cells"), default=",".join(ANCHORS),
                   metavar="LIST", help=f"cells to time, each against its torch.nn anchor (default: "
                   f"{','.join(ANCHORS)}; urlstm runs against nn.LSTM)")  # fmt: skip
    p.add_argument("--modes", type=_names(("train", "infer"), "--modes"), default="train,infer",
                   metavar="LIST", help="train (forward + backward) and/or infer (no_grad forward) "
                   "(default: train,infer)")  # fmt: skip
    p.add_argument("--shapes", type=_shape, nargs="+", default=None, metavar="BxTxH",
                   help=f"batch x time x hidden, input size = hidden (default: {shapes})")  # fmt: skip
    p.add_argument(
        "--repeats", type=int, default=5, help="interleaved rounds per measurement, >= 3 (default: 5)"
    )
    p.add_argument("--threads", type=int, default=2, help="torch and kernel threads (default: 2)")
    p.add_argument(
        "--tokens", type=int, default=200, help="tokens sampled per generation round (default: 200)"
    )
    p.add_argument("--no-generation", dest="generation", action="store_false",
                   help="skip the generation benchmark")  # fmt: skip
    p.add_argument("--peak-size", type=int, default=2048,
                   help="n of the n×n×n float32 GEMM that measures the peak (default: 2048)")  # fmt: skip
    p.add_argument("--backend", default="cpu", help="the rnnkit backend to time (default: cpu)")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"output folder (default: {DEFAULT_OUT}; --out benchmarks/results replaces the "
                   "committed results of this CPU family)")  # fmt: skip
    p.add_argument("--name", default=None,
                   help="file name stem (default: backends-<backend>-<cpu family>, "
                   "e.g. backends-cpu-amd-zen4)")  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..bench.report import run_benchmark, write_run
    from ..scan.backends import backend_status
    from ._cli import check_out_dir

    try:
        check_out_dir("--out", args.out)  # before minutes of timing, not after
    except ValueError as e:
        raise SystemExit(f"rnnkit bench: {e}") from None
    if args.repeats < 3:
        raise SystemExit(f"rnnkit bench: --repeats must be >= 3, got {args.repeats}")
    if min(args.threads, args.tokens, args.peak_size) < 1:
        raise SystemExit("rnnkit bench: --threads, --tokens and --peak-size must be positive")
    status = backend_status()
    if status.get(args.backend) != "available":
        raise SystemExit(
            f"rnnkit bench: backend {args.backend!r} is not usable here: {status.get(args.backend)}"
        )
    shapes = args.shapes or list(SHAPES)
    torch.set_num_threads(args.threads)
    from tqdm import tqdm

    total = len(args.cells) * len(shapes) * len(args.modes) + 1 + (len(MODELS) if args.generation else 0)
    with tqdm(total=total, desc="bench", unit="case", file=sys.stderr, leave=False) as bar:
        started = []

        def progress(label: str) -> None:  # called as each case starts: count the previous one done
            if started:
                bar.update(1)
            started.append(label)
            bar.set_postfix_str(label)

        result = run_benchmark(
            args.cells,
            shapes,
            args.modes,
            args.repeats,
            args.generation,
            tokens=args.tokens,
            peak_size=args.peak_size,
            backend=args.backend,
            progress=progress,
        )
        bar.update(1)
    stem = os.path.join(args.out, args.name or default_name(args.backend))
    print(write_run(result, stem + ".json", stem + ".md"))
    print(f"wrote {stem}.json and {stem}.md", file=sys.stderr)
    return 0
