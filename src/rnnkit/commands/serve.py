"""``rnnkit serve``: trained runs behind a local HTTP API (JSON; OpenAPI docs at /docs)."""

from __future__ import annotations

import argparse
import sys

from ._cli import cli_errors

EPILOG = """\
the page at http://HOST:PORT/ : Explorer (gates and states per character), Compose, Generate, Music

endpoints (OpenAPI docs at http://HOST:PORT/docs):
  GET  /health            liveness
  GET  /api/runs          the loaded runs: task, cell, size, metrics
  GET  /api/passages      a few passages of a text run's validation text (for the Explorer)
  POST /api/compose       {"prefix": "And God said"}            -> completions (compose runs)
  POST /api/generate      {"prime": "And", "steps": 200}         -> NDJSON stream (text, music runs)
  POST /api/forecast      {"values": [...]} or {"rows": [...]}   -> forecasts (series, stocks runs)
  POST /api/trace         {"text": "In the beginning"}           -> hidden, cell, gates per step (text)

examples:
  rnnkit serve                                   # the latest run of each task under runs/
  rnnkit serve runs/compose-20261201-101500 --port 8080
  curl -s localhost:8000/api/compose -H 'content-type: application/json' -d '{"prefix": "In the"}'
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve trained runs over HTTP: compose, streaming generation, forecasts, gate traces",
        description="Serve trained runs over a local HTTP API. Listens on 127.0.0.1 (this machine only) "
        "unless --host is given. Concurrent generation requests share one model step per token.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "runs", nargs="*", metavar="RUN_DIR", help="run directories (default: latest of each task)"
    )
    p.add_argument("--out-dir", default="runs", metavar="DIR", help="where to find the latest runs (runs)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--no-batching",
        action="store_true",
        help="generate every request on its own instead of batching concurrent ones (for comparison)",
    )
    p.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (default: torch's)")
    p.set_defaults(func=run)


@cli_errors("serve")
def run(args: argparse.Namespace) -> int:
    import torch
    import uvicorn

    from ..serve import create_app, load_runs

    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be in 1..65535, got {args.port}")
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    served = load_runs(args.runs, args.out_dir)
    for s in served:
        print(f"serving {s.id} ({s.run.task}, {s.run.checkpoint})", file=sys.stderr)
    app = create_app(served, batching=not args.no_batching)
    print(
        f"page: http://{args.host}:{args.port}/  API docs: http://{args.host}:{args.port}/docs",
        file=sys.stderr,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
