"""Latency of one Smart Compose suggestion: beam 3, up to 5 words, from a 20-word prefix, on ONE core.

A suggestion must appear while the user types: the target is at most 50 ms. The script loads a compose
run (default: the latest under runs/), sets torch to one thread, warms up, then times ``run.compose``
(the code behind ``rnnkit compose`` and ``POST /api/compose``) on prefixes of 20 words taken from the
held-out books' verses, and reports the median, p90 and p99 over them.

    python benchmarks/compose_latency.py [--run DIR] [--prefixes 200] [--beam 3] [--words 5] [--no-readme]

Writes benchmarks/results/compose-latency.{json,md} and the README's table between
<!-- compose:latency --> and <!-- /compose:latency -->.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from rnnkit._io import atomic_write_text
from rnnkit.bench.timing import machine_info
from rnnkit.readme import with_block

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 50.0


def prefixes(count: int, words: int = 20) -> list[str]:
    """``count`` prefixes of exactly ``words`` words from the held-out books' verses (longer verses)."""
    from rnnkit.data import kjv

    held_out = set(kjv.split_books()[1])
    out = [
        " ".join(v.text.split()[:words])
        for v in kjv.load_verses()
        if v.book in held_out and len(v.text.split()) >= words + 3
    ]
    return out[:: max(1, len(out) // count)][:count]


def render(payload: dict) -> str:
    m, s = payload["machine"], payload["latency_ms"]
    verdict = "meets" if s["p99"] <= payload["target_ms"] else "misses"  # 99 suggestions in 100 in time
    return (
        f"Measured {m['date']} on {m['cpu']} ({m['cpu_family']}), one torch thread, torch {m['torch']}, "
        f"run {payload['run']} ({payload['parameters']:,} parameters), load average "
        f"{payload['load_average'][0]:.2f} before / {payload['load_average'][1]:.2f} after.\n\n"
        "| suggestion | prefixes | p50 ms | p90 ms | p99 ms | max ms | target |\n"
        "|---|---:|---:|---:|---:|---:|---|\n"
        f"| beam {payload['beam']}, up to {payload['words']} words, {payload['prefix_words']}-word prefix "
        f"| {payload['prefixes']} | {s['p50']:.1f} | {s['p90']:.1f} | {s['p99']:.1f} | {s['max']:.1f} "
        f"| p99 ≤ {payload['target_ms']:g} ms: {verdict} it |\n"
    )


def main(argv: list[str] | None = None) -> int:
    import rnnkit

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, help="a compose run directory (default: the latest under runs/)")
    p.add_argument("--prefixes", type=int, default=200, help="timed prefixes (default 200)")
    p.add_argument("--beam", type=int, default=3, help="beam width (default 3)")
    p.add_argument("--words", type=int, default=5, help="longest suggestion in tokens (default 5)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="results folder")
    p.add_argument("--no-readme", action="store_true", help="do not rewrite the README's table")
    args = p.parse_args(argv)
    for name in ("prefixes", "beam", "words"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    torch.set_num_threads(1)
    run = rnnkit.load_run(args.run, task="compose")
    texts = prefixes(args.prefixes)
    load_before = os.getloadavg()[0]
    for text in texts[:10]:  # warm-up: packed weights, allocator
        run.compose(text, num=1, beam=args.beam, words=args.words)
    times = []
    for text in texts:
        start = time.perf_counter()
        run.compose(text, num=1, beam=args.beam, words=args.words)
        times.append((time.perf_counter() - start) * 1e3)
    t = np.array(times)
    payload = {
        "machine": machine_info(),
        "run": run.dir.name,
        "parameters": sum(x.numel() for x in run.model.parameters()),
        "beam": args.beam,
        "words": args.words,
        "prefix_words": 20,
        "prefixes": len(texts),
        "target_ms": TARGET_MS,
        "latency_ms": {
            "p50": float(np.percentile(t, 50)),
            "p90": float(np.percentile(t, 90)),
            "p99": float(np.percentile(t, 99)),
            "max": float(t.max()),
        },
        "load_average": [load_before, os.getloadavg()[0]],
    }
    md = render(payload)
    atomic_write_text(args.out / "compose-latency.json", json.dumps(payload, indent=2) + "\n")
    atomic_write_text(args.out / "compose-latency.md", md)
    if not args.no_readme:
        readme = ROOT / "README.md"
        atomic_write_text(readme, with_block(readme.read_text(encoding="utf-8"), "compose:latency", md))
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
