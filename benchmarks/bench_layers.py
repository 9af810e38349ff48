"""Training fwd+bwd time of rnnkit.LSTM/GRU against torch.nn.LSTM/GRU in the same run.

    python benchmarks/bench_layers.py [--backend reference] [--repeats 5] [--infer]

Writes benchmarks/results/layers-<backend>.json and .md and prints the ratio table.
"""

from __future__ import annotations

import argparse
import os

import torch

from rnnkit.bench import bench_layers, write_report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", default="reference")
    p.add_argument("--cells", default="lstm,gru")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--infer", action="store_true", help="also time no_grad inference")
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    modes = ("train", "infer") if args.infer else ("train",)
    rows = bench_layers(
        args.cells.split(","),
        args.backend,
        modes=modes,
        repeats=args.repeats,
        progress=lambda s: print("..", s, flush=True),
    )
    base = os.path.join(args.out, f"layers-{args.backend}")
    print(write_report(rows, base + ".json", base + ".md"))


if __name__ == "__main__":
    main()
