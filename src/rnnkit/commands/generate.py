"""``rnnkit generate``: sample from a trained run, streamed to the terminal as it is produced."""

from __future__ import annotations

import argparse
import sys

from ._cli import check_out_file, cli_errors


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..tasks.registry import list_tasks

    p = sub.add_parser(
        "generate",
        help="sample from a trained model (text streams to the terminal)",
        description="Load a run's checkpoint and generate from a prime, one token at a time, carrying "
        "the recurrent state (the prefix is never recomputed). Defaults depend on the task "
        "(text: --steps 500 --temperature 0.8, prime 'And God said' for the KJV).",
        epilog='examples:\n  rnnkit generate --prime "And God said" --temperature 0.8 --steps 500\n'
        "  rnnkit generate runs/text-20260101-120000 --seed 1 --top-p 0.9 --out sample.txt",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "run", nargs="?", help="run directory or checkpoint file (default: the latest run of --task)"
    )
    p.add_argument(
        "--task", choices=list_tasks(), default="text", help="pick the latest run of this task (default text)"
    )
    p.add_argument(
        "--checkpoint", choices=("best", "last"), default="best", help="which checkpoint (default best)"
    )
    p.add_argument("--prime", help="what to start from (text: characters; default: the task's)")
    p.add_argument("--steps", type=int, help="tokens to generate (task default)")
    p.add_argument("--temperature", type=float, help="0 = always the most likely token; <1 safer, >1 wilder")
    p.add_argument("--top-k", type=int, help="sample only among the k most likely tokens")
    p.add_argument("--top-p", type=float, help="sample only from the smallest set with probability >= p")
    p.add_argument("--seed", type=int, help="fixes the sample (default: a different one each time)")
    p.add_argument(
        "--out",
        metavar="FILE",
        help="also write the result to FILE (music: the .mid file, with its .wav audio and .png piano roll; "
        "by default song.mid in the current folder, or song-2.mid … when taken; never into the run "
        "directory)",
    )
    p.add_argument(
        "--out-dir",
        default="runs",
        help="where to look for the latest run: DIR/<run> and DIR/*/<run>, "
        "such as the tour's runs/tour/<run> (default runs)",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    p.set_defaults(func=run)


def check_sampling(args: argparse.Namespace) -> None:
    """Refuse a bad --steps, --temperature, --top-k or --top-p before anything is loaded or printed
    (a sample must not start streaming and then fail on its own options)."""
    import math

    if args.steps is not None and args.steps < 0:
        raise ValueError(f"--steps must be >= 0, got {args.steps}")
    t = args.temperature
    if t is not None and not (math.isfinite(t) and t >= 0):
        raise ValueError(f"--temperature must be a finite number >= 0 (0 = always the most likely), got {t}")
    if args.top_k is not None and args.top_k < 1:
        raise ValueError(f"--top-k must be >= 1, got {args.top_k}")
    p = args.top_p
    if p is not None and not 0 < p <= 1:
        raise ValueError(f"--top-p must be in (0, 1], got {p}")


@cli_errors("generate")
def run(args: argparse.Namespace) -> int:
    from ..tasks.runner import choose_run, load_run

    check_sampling(args)
    check_out_file("--out", args.out)
    path = choose_run(args.run, args.out_dir, args.task, echo=lambda s: print(s, file=sys.stderr))
    loaded = load_run(path, args.checkpoint, args.device)
    try:
        return loaded.task.generate(loaded, args)
    except NotImplementedError as e:
        raise ValueError(str(e)) from None
