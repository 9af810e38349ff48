"""``rnnkit compose "And the LORD spake unto"``: Smart Compose — the best completions of a sentence by
beam search, from a trained ``compose`` run (the latest one by default)."""

from __future__ import annotations

import argparse
import sys
import textwrap

from ._cli import cli_errors


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compose",
        help="complete a sentence with a trained compose model (beam search)",
        description="Propose the next words of a sentence with the encoder-decoder of a `compose` run "
        "(word-level Seq2Seq with attention): the best continuations by beam search with their "
        "probabilities. Uses the latest compose run under --out-dir unless a run is given.",
        epilog='examples:\n  rnnkit compose "And the LORD spake unto"\n'
        '  rnnkit compose "Blessed are the" --num 5 --words 3\n'
        '  rnnkit compose --run runs/compose-20260101-120000 "In the beginning"\n'
        "  rnnkit compose                      # reads one prompt per line from standard input",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("prompt", nargs="*", help="the start of a sentence (words may be given unquoted)")
    p.add_argument("--run", help="run directory or checkpoint file (default: the latest compose run)")
    p.add_argument(
        "--checkpoint", choices=("best", "last"), default="best", help="which checkpoint (default best)"
    )
    p.add_argument("--num", type=int, default=3, help="completions to show (default 3)")
    p.add_argument(
        "--beam",
        type=int,
        default=5,
        help="beam width (default 5; at least --num, and widened while it finds fewer than --num)",
    )
    p.add_argument("--words", type=int, help="longest completion in tokens (default: the trained length)")
    p.add_argument(
        "--length-penalty",
        type=float,
        default=0.6,
        help="GNMT length normalisation alpha: 0 favours short completions (default 0.6)",
    )
    p.add_argument(
        "--out-dir",
        default="runs",
        help="where to look for the latest run: DIR/<run> and DIR/*/<run>, "
        "such as the tour's runs/tour/<run> (default runs)",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    p.set_defaults(func=run)


@cli_errors("compose")
def run(args: argparse.Namespace) -> int:
    from ..data.compose import Vocab
    from ..tasks.compose_report import LEGEND, format_completions
    from ..tasks.runner import choose_run, load_run

    for name in ("num", "beam", "words"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name} must be >= 1, got {value}")
    if args.prompt:
        prompts = [" ".join(args.prompt)]
    elif sys.stdin is not None and not sys.stdin.isatty():
        prompts = [line for line in sys.stdin if line.strip()]
    else:
        prompts = []
    if not prompts:
        raise ValueError('give the start of a sentence, e.g. rnnkit compose "And the LORD spake unto"')
    path = choose_run(args.run, args.out_dir, "compose", echo=lambda s: print(s, file=sys.stderr))
    loaded = load_run(path, args.checkpoint, args.device, tasks=["compose"])
    vocab = Vocab.from_json(loaded.state["vocab"])
    words = args.words or loaded.cfg.data.max_continuation
    for i, prompt in enumerate(prompts):
        shown = format_completions(
            loaded.model,
            vocab,
            prompt.strip(),
            loaded.state["max_prefix"],
            max(args.beam, args.num),
            args.num,
            words,
            args.length_penalty,
        )
        print(("\n" if i else "") + shown, flush=True)
    print("\n" + textwrap.fill(LEGEND, 100), file=sys.stderr)  # on stderr: stdout holds only completions
    return 0
