"""A bounded load test of ``rnnkit serve`` on loopback, with and without dynamic batching.

For each mode the script starts ``rnnkit serve TEXT_RUN COMPOSE_RUN`` (``--no-batching`` for the second),
then sends, at most ``--concurrency`` at a time, ``--requests`` compose requests (20-word prefixes of
verses from the validation books) and ``--requests`` generations of ``--steps`` characters (read to
their end), and stops. It reports requests/s, p50/p99 latency, the first token's p50 and the tokens/s.

    python benchmarks/serve_load.py [--text-run DIR] [--compose-run DIR] [--requests 400] [--concurrency 16]
                                    [--steps 200] [--threads 2] [--no-readme]

Default runs: the latest text and compose runs under runs/. Writes benchmarks/results/serve-load.{json,md}
and the README's table between <!-- serve:load --> and <!-- /serve:load -->. Run it on a quiet machine:
the load average before and after goes into the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from rnnkit._io import atomic_write_text
from rnnkit.bench.timing import machine_info
from rnnkit.readme import with_block
from rnnkit.serve.loadtest import render_load_markdown, run_load
from rnnkit.tasks.runner import latest_run

ROOT = Path(__file__).resolve().parent.parent
PRIMES = ("And God said", "In the beginning", "The LORD is my", "And it came to pass", "Blessed are the")


def prefixes(count: int = 200, words: int = 20) -> list[str]:
    """Prefixes of up to ``words`` words of verses from the validation books (what compose is scored on)."""
    from rnnkit.data import kjv

    held_out = set(kjv.split_books()[1])
    out = []
    for v in kjv.load_verses():
        if v.book in held_out and len(v.text.split()) > 6:
            out.append(" ".join(v.text.split()[: min(words, len(v.text.split()) - 3)]))
        if len(out) >= count:
            break
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(runs: list[Path], port: int, threads: int, batching: bool) -> subprocess.Popen:
    command = [sys.executable, "-m", "rnnkit", "serve", *map(str, runs), "--port", str(port)]
    command += ["--threads", str(threads)] + ([] if batching else ["--no-batching"])
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            raise RuntimeError(f"rnnkit serve exited: {server.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            server.kill()
            raise RuntimeError("rnnkit serve did not answer /health within 120 s")
        time.sleep(0.25)


async def measure(port: int, args: argparse.Namespace, texts: list[str], runs: dict[str, str]) -> list[dict]:
    base = f"http://127.0.0.1:{port}"
    limits = httpx.Limits(max_connections=args.concurrency + 4)
    async with httpx.AsyncClient(base_url=base, timeout=600, limits=limits) as client:
        for i in range(4):  # warm-up: first calls pack weights, fill caches
            await client.post("/api/compose", json={"prefix": texts[i], "run": runs["compose"]})
            await client.post("/api/generate", json={"prime": PRIMES[i], "steps": 20, "run": runs["text"]})
        compose = await run_load(
            client,
            "/api/compose",
            lambda i: {
                "prefix": texts[i % len(texts)],
                "num": 1,
                "beam": 3,
                "words": 5,
                "run": runs["compose"],
            },
            requests=args.requests,
            concurrency=args.concurrency,
        )
        generate = await run_load(
            client,
            "/api/generate",
            lambda i: {"prime": PRIMES[i % len(PRIMES)], "steps": args.steps, "seed": i, "run": runs["text"]},
            requests=args.requests,
            concurrency=args.concurrency,
            stream=True,
        )
    return [compose.to_dict(), generate.to_dict()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text-run", type=Path, help="a text run directory (default: the latest under runs/)")
    p.add_argument("--compose-run", type=Path, help="a compose run directory (default: the latest)")
    p.add_argument("--requests", type=int, default=400, help="requests per endpoint and mode (default 400)")
    p.add_argument("--concurrency", type=int, default=16, help="requests in flight at most (default 16)")
    p.add_argument("--steps", type=int, default=200, help="characters per generation (default 200)")
    p.add_argument("--threads", type=int, default=2, help="torch threads of the server (default 2)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="results folder")
    p.add_argument("--no-readme", action="store_true", help="do not rewrite the README's table")
    args = p.parse_args(argv)
    for name in ("requests", "concurrency", "steps", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    text_run = args.text_run or latest_run("runs", "text")
    compose_run = args.compose_run or latest_run("runs", "compose")
    runs = {"text": text_run.name, "compose": compose_run.name}
    texts = prefixes()
    load_before = os.getloadavg()[0]
    modes = []
    for batching in (True, False):
        port = free_port()
        print(f"batching {'on' if batching else 'off'}: serving on port {port} …", file=sys.stderr)
        server = start_server([text_run, compose_run], port, args.threads, batching)
        try:
            stats = asyncio.run(measure(port, args, texts, runs))
        finally:
            server.terminate()
            server.wait(30)
        for s in stats:
            print(
                f"  {s['endpoint']}: {s['requests_per_s']} req/s, p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms",
                file=sys.stderr,
            )
        modes.append({"batching": batching, "stats": stats})
    payload = {
        "machine": machine_info(),
        "threads": args.threads,
        "steps": args.steps,
        "runs": runs,
        "load_average": [load_before, os.getloadavg()[0]],
        "modes": modes,
    }
    md = render_load_markdown(payload)
    atomic_write_text(args.out / "serve-load.json", json.dumps(payload, indent=2) + "\n")
    atomic_write_text(args.out / "serve-load.md", md)
    if not args.no_readme:
        readme = ROOT / "README.md"
        atomic_write_text(readme, with_block(readme.read_text(encoding="utf-8"), "serve:load", md))
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
