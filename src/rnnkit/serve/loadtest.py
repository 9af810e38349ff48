"""A bounded load test of ``rnnkit serve`` on loopback: N requests, at most C in flight, then it stops.

:func:`run_load` fires the requests of one endpoint (a compose prefix, or a generation streamed to its
end) with ``httpx.AsyncClient`` and returns :class:`LoadStats`: requests/s over the whole burst and the
latency percentiles of single requests (for a generation: to its last line, and to its first token).
``benchmarks/serve_load.py`` runs it against a server with and without dynamic batching and renders the
README table with :func:`render_load_markdown`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import httpx
import numpy as np


@dataclass
class LoadStats:
    """One endpoint under load: what was sent, how long it took, how fast it answered."""

    endpoint: str
    requests: int
    concurrency: int
    failed: int
    seconds: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    first_token_p50_ms: float | None = None  # generation: until the first generated token arrived
    tokens_per_s: float | None = None  # generation: generated tokens over the burst

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


async def _one(client: httpx.AsyncClient, path: str, body: dict[str, Any], stream: bool) -> tuple:
    """(seconds to the end, seconds to the first token or None, tokens, ok) of one request."""
    start = time.perf_counter()
    if not stream:
        r = await client.post(path, json=body)
        return time.perf_counter() - start, None, 0, r.status_code == 200
    first, tokens, ok = None, 0, False
    async with client.stream("POST", path, json=body) as r:
        if r.status_code != 200:
            await r.aread()
            return time.perf_counter() - start, None, 0, False
        async for line in r.aiter_lines():
            if not line:
                continue
            kind = json.loads(line)["type"]
            if kind in ("token", "event"):
                tokens += 1
                if first is None:
                    first = time.perf_counter() - start
            ok = ok or kind == "done"
    return time.perf_counter() - start, first, tokens, ok


async def run_load(
    client: httpx.AsyncClient,
    path: str,
    body: Callable[[int], dict[str, Any]],
    *,
    requests: int,
    concurrency: int,
    stream: bool = False,
) -> LoadStats:
    """Send ``requests`` requests ``body(i)`` to ``path``, at most ``concurrency`` at a time (a stream
    is read to its last line); then stop and return the statistics."""
    if requests < 1 or concurrency < 1:
        raise ValueError(f"requests and concurrency must be >= 1, got {requests} and {concurrency}")
    gate = asyncio.Semaphore(concurrency)

    async def limited(i: int) -> tuple:
        async with gate:
            return await _one(client, path, body(i), stream)

    start = time.perf_counter()
    results = await asyncio.gather(*(limited(i) for i in range(requests)))
    seconds = time.perf_counter() - start
    done = [r for r in results if r[3]]
    latencies = np.array([r[0] for r in done]) * 1e3 if done else np.array([float("nan")])
    firsts = [r[1] * 1e3 for r in done if r[1] is not None]
    tokens = sum(r[2] for r in done)
    return LoadStats(
        endpoint=path,
        requests=requests,
        concurrency=concurrency,
        failed=requests - len(done),
        seconds=round(seconds, 3),
        requests_per_s=round(len(done) / seconds, 2),
        p50_ms=round(float(np.percentile(latencies, 50)), 2),
        p99_ms=round(float(np.percentile(latencies, 99)), 2),
        first_token_p50_ms=round(float(np.median(firsts)), 2) if firsts else None,
        tokens_per_s=round(tokens / seconds, 1) if stream else None,
    )


def render_load_markdown(payload: dict[str, Any]) -> str:
    """The README table of a ``serve-load.json`` payload (written by ``benchmarks/serve_load.py``)."""
    m = payload["machine"]
    rows = [
        "| endpoint | batching | requests (in flight) | requests/s | p50 ms | p99 ms | first token p50 ms "
        "| tokens/s |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for mode in payload["modes"]:
        for s in mode["stats"]:
            first = "—" if s["first_token_p50_ms"] is None else f"{s['first_token_p50_ms']:.1f}"
            tps = "—" if s["tokens_per_s"] is None else f"{s['tokens_per_s']:,.0f}"
            what = s["endpoint"] + (f" ({payload['steps']} tokens)" if s["tokens_per_s"] is not None else "")
            rows.append(
                f"| {what} | {'on' if mode['batching'] else 'off'} | {s['requests']} ({s['concurrency']}) "
                f"| {s['requests_per_s']:.1f} | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} | {first} | {tps} |"
            )
    gen = {
        mode["batching"]: next(s for s in mode["stats"] if s["tokens_per_s"] is not None)
        for mode in payload["modes"]
    }
    gain = ""
    if True in gen and False in gen and gen[False]["tokens_per_s"]:
        gain = (
            f" Dynamic batching generates {gen[True]['tokens_per_s'] / gen[False]['tokens_per_s']:.1f}x the "
            "tokens per second of one step per request."
        )
    runs = ", ".join(f"{k}: {v}" for k, v in payload["runs"].items())
    simd = ", ".join(m["simd"]) or "no SIMD flags"
    return (
        f"Measured {m['date']} on {m['cpu']} ({m['cpu_family']}, {simd}), "
        f"{payload['threads']} torch thread(s) in the server, torch {m['torch']}, load average "
        f"{payload['load_average'][0]:.2f} before / {payload['load_average'][1]:.2f} after; runs {runs}; "
        f"client and server on the same machine (loopback).{gain}\n\n" + "\n".join(rows) + "\n"
    )
