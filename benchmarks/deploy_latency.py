"""Per-token latency of greedy generation with the text task's default character model (LSTM 512,
batch 1): PyTorch eager (the anchor), rnnkit's fused ``layer.step()``, the streaming
``Generator.generate``, the exported ``.pt2`` program and the exported ``.onnx`` step in onnxruntime,
measured in ONE run, interleaved round by round (see ``rnnkit.export.latency``).

    python benchmarks/deploy_latency.py [--tokens 200] [--repeats 7] [--threads 2] [--no-readme]

Writes benchmarks/results/deploy-latency.{json,md} and the README's table (generated from the JSON).
Run it on an otherwise quiet machine: the load average before and after goes into the table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rnnkit._io import atomic_write_text
from rnnkit.export.latency import latency_markdown, measure_deploy_latency, with_readme_block

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tokens", type=int, default=200, help="greedy tokens per timed call (default 200)")
    p.add_argument("--repeats", type=int, default=7, help="interleaved rounds (default 7)")
    p.add_argument("--threads", type=int, default=2, help="torch and onnxruntime threads (default 2)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="results folder")
    p.add_argument("--no-readme", action="store_true", help="do not rewrite the README's table")
    args = p.parse_args(argv)
    if args.tokens < 1 or args.repeats < 3 or args.threads < 1:
        p.error("--tokens and --threads must be >= 1 and --repeats >= 3")
    payload = measure_deploy_latency(
        args.tokens, args.repeats, args.threads, progress=lambda s: print(s, file=sys.stderr)
    )
    md = latency_markdown(payload)
    atomic_write_text(args.out / "deploy-latency.json", json.dumps(payload, indent=2) + "\n")
    atomic_write_text(args.out / "deploy-latency.md", md)
    if not args.no_readme:
        readme = ROOT / "README.md"
        atomic_write_text(readme, with_readme_block(readme.read_text(encoding="utf-8"), md))
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
