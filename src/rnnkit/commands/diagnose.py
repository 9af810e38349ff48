"""``rnnkit diagnose``: make the vanishing gradient and the gates visible — for fresh cells, or for the
recurrent layer of trained runs next to the same model at initialisation."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

EPILOG = """\
writes into --out (default: RUN_DIR/diagnose for one run, else runs/diagnose-<timestamp>):
  gradient-distance.png        ‖∂L/∂h_t‖ of a loss at the last step against the distance T − t (log)
  gradient-distance-input.png  the same for the input x_t: how far back the loss still feels the input
  gates-<label>.png            every gate over time for the first input sequence (units sorted by memory)
  saturation-<label>.png       histograms of gate values; share < 0.05 or > 0.95 (|v| > 0.95 for tanh)
  timescales.png               memory timescale −1/ln f implied by each unit's retain gate
  exploding.png                tanh RNN with recurrent gain 2: exploding gradients, SGD with/without clipping
  summary.txt, summary.json    the numbers behind the figures

examples:
  rnnkit diagnose                                   # rnn, lstm, gru, urlstm at initialisation, T = 200
  rnnkit diagnose --cell lstm,urlstm --steps 500 --hidden 128
  rnnkit diagnose runs/adding-lstm runs/adding-urlstm   # trained vs initialised, on validation input
  rnnkit diagnose runs/text-20260101-120000 --input random --batch 8
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "diagnose",
        help="vanishing/exploding gradients, gate heatmaps, saturation, memory timescales (PNGs + summary)",
        description="Diagnose recurrent layers: fresh cells (--cell) or trained runs (RUN_DIR …, compared "
        "with the same model at initialisation). Figures and a text summary go to --out.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "runs", nargs="*", metavar="RUN_DIR", help="run directories (or checkpoint files) to diagnose"
    )
    p.add_argument(
        "--cell", help="comma-separated fresh cells (default when no RUN_DIR: rnn,lstm,gru,urlstm)"
    )
    p.add_argument(
        "--input",
        default=None,
        metavar="val|random|FILE",
        help="what the recurrent layer reads: the run's first validation batch (val, the default for runs), "
        "N(0,1) noise (random, the default for fresh cells), or a .pt/.npy/.csv file (T,), (T, I) or "
        "(B, T, I) fed to the layer",
    )
    p.add_argument("--steps", type=int, default=200, help="sequence length T of random input (default 200)")
    p.add_argument("--batch", type=int, default=16, help="sequences to average over (default 16)")
    p.add_argument("--hidden", type=int, default=64, help="hidden size of fresh cells (default 64)")
    p.add_argument("--input-size", type=int, default=1, help="input features of fresh cells (default 1)")
    p.add_argument("--layer", type=int, default=0, help="which layer of a stack to measure (default 0)")
    p.add_argument("--which", default="best", choices=("best", "last"), help="checkpoint of a run")
    p.add_argument("--no-exploding", action="store_true", help="skip the exploding-gradient/clipping demo")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--out", metavar="DIR", help="output folder")
    p.set_defaults(func=run)


def _positive(name: str, value: int) -> int:
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    from ._cli import cli_errors

    return cli_errors("diagnose")(_run)(args)


def _run(args: argparse.Namespace) -> int:
    import torch

    from ..cells.registry import get_cell
    from ..diagnose import diagnose, fresh_subjects, load_input, run_subjects
    from ._cli import check_out_dir

    if args.threads:
        torch.set_num_threads(_positive("--threads", args.threads))
    check_out_dir("--out", args.out)
    steps, batch = _positive("--steps", args.steps), _positive("--batch", args.batch)
    subjects = []
    for run_dir in args.runs:
        subjects += run_subjects(run_dir, which=args.which, input=args.input or "val", batch=batch)
    cells = args.cell.split(",") if args.cell else ([] if args.runs else ["rnn", "lstm", "gru", "urlstm"])
    if cells:
        for c in cells:
            get_cell(c)  # unknown names: a ValueError listing the registered cells
        if args.input in (None, "random"):
            x = None
        elif args.input == "val":
            raise ValueError("--input val needs a RUN_DIR (fresh cells have no task); use random or a file")
        else:
            x = load_input(args.input)
        subjects += fresh_subjects(
            cells,
            input_size=_positive("--input-size", args.input_size) if x is None else x.size(-1),
            hidden_size=_positive("--hidden", args.hidden),
            steps=steps,
            batch=batch,
            seed=args.seed,
            x=x,
        )
    if args.out:
        out = Path(args.out)
    elif len(args.runs) == 1 and Path(args.runs[0]).is_dir():
        out = Path(args.runs[0]) / "diagnose"
    else:
        out = Path("runs") / f"diagnose-{time.strftime('%Y%m%d-%H%M%S')}"
    print(f"diagnosing {len(subjects)} layer(s): {', '.join(s.label for s in subjects)}", file=sys.stderr)
    report = diagnose(subjects, out, exploding=not args.no_exploding, layer_index=args.layer, seed=args.seed)
    print(report.text)
    print(f"\nwrote {len(report.files)} files to {out}/")
    return 0
