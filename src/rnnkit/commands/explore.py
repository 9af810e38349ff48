"""``rnnkit explore``: the Explorer of ``rnnkit serve`` for one text, as one self-contained HTML file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._cli import check_out_file, cli_errors

#: the longest text the page takes: it embeds every unit's value at every character (hidden, cell and
#: every gate), some 6 × characters × hidden_size numbers per layer
MAX_CHARS = 1_000


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "explore",
        help="one HTML page showing a text run's states and gates on your text (no server needed)",
        description="Trace a text run over the characters of FILE and write the Explorer of `rnnkit "
        "serve` as one self-contained HTML file: every character coloured by a unit of the hidden "
        "state, the cell state or any gate, the units sorted by activity or by selectivity for a span "
        "you select, and the model's next characters on hover. The trace is computed now and embedded; "
        "the page's CSS and JavaScript are inlined, so it opens offline, from disk.",
        epilog="examples:\n  rnnkit explore runs/text-20261201-093000 --text verse.txt --out verse.html\n"
        "  rnnkit explore --text notes.txt                 # the latest text run; writes explore.html",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "run", nargs="?", metavar="RUN_DIR", help="a text run's directory (default: the latest text run)"
    )
    p.add_argument(
        "--text",
        required=True,
        metavar="FILE",
        help=f"the UTF-8 text to read (at most {MAX_CHARS:,} characters; a final line break is dropped)",
    )
    p.add_argument("--out", default="explore.html", metavar="FILE", help="the page to write (explore.html)")
    p.add_argument("--top", type=int, default=5, help="next characters shown per character (default 5)")
    p.add_argument(
        "--checkpoint", choices=("best", "last"), default="best", help="which checkpoint (default best)"
    )
    p.add_argument("--out-dir", default="runs", metavar="DIR", help="where to find the latest run (runs)")
    p.set_defaults(func=run)


def read_explore_text(path: str) -> str:
    """The text of ``--text FILE``: UTF-8, not empty, at most :data:`MAX_CHARS` characters (a final line
    break dropped); a ``ValueError`` or ``FileNotFoundError`` naming the file otherwise."""
    from ..data.files import read_text

    text = read_text(path, "--text file").removesuffix("\n").removesuffix("\r")
    if not text.strip():
        raise ValueError(f"--text file {path!r} is empty: give the text to explore")
    if len(text) > MAX_CHARS:
        raise ValueError(
            f"--text file {path!r} has {len(text):,} characters; rnnkit explore takes at most "
            f"{MAX_CHARS:,} (the page embeds every unit's value at every character): cut it shorter"
        )
    return text


@cli_errors("explore")
def run(args: argparse.Namespace) -> int:
    from .._io import atomic_write_text
    from ..run import load_run
    from ..serve.app import _trace
    from ..serve.page import explorer_page
    from ..serve.runs import ServedRun

    if not 1 <= args.top <= 20:
        raise ValueError(f"--top must be in 1..20, got {args.top}")
    check_out_file("--out", args.out)
    text = read_explore_text(args.text)
    loaded = load_run(args.run, task="text", which=args.checkpoint, out_dir=args.out_dir)
    loaded.vocab.encode(text, f"--text file {args.text!r}")  # an unknown character: named, with the file
    served = ServedRun(loaded.dir.name, loaded)
    trace = _trace(served, text, args.top)
    m = loaded.config.model
    title = f"{served.id} ({m.cell}, {m.num_layers}×{m.hidden_size})"
    page = explorer_page(trace, title=title, source=f"{len(text):,} characters of {Path(args.text).name}")
    atomic_write_text(args.out, page)
    print(
        f"wrote {args.out} ({len(page.encode('utf-8')) / 1e6:.1f} MB): {len(text):,} characters traced by "
        f"{served.id}",
        file=sys.stderr,
    )
    return 0
