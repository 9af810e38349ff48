"""Run ``rnnkit`` in a process that SIGKILLs itself at a chosen point, with a deterministic clock.

    python tests/kill_driver.py --tick 0.01 --kill step:7 -- train --task text …

``--kill step:K`` dies right after optimiser step K; ``partial:M`` in the M-th write of a
``last`` checkpoint with half of it in the temporary file; ``replace:M`` with all of it there, before
the rename. ``--tick S`` replaces the trainer's wall clock by one that advances S seconds per reading,
so a time budget's plan does not depend on how busy the machine is. Used by tests/test_kill_resume.py.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--tick", type=float, default=None)
    p.add_argument("--kill", default=None)
    p.add_argument("argv", nargs=argparse.REMAINDER)
    args = p.parse_args()
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv

    from rnnkit import _io as io
    from rnnkit import cli
    from rnnkit.train import trainer

    def die() -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    if args.tick is not None:
        init = trainer.Trainer.__init__

        def patched_init(self, *a, **kw):
            init(self, *a, **kw)
            now = [0.0]

            def clock() -> float:
                now[0] += args.tick
                return now[0]

            self.clock = clock

        trainer.Trainer.__init__ = patched_init

    if args.kill:
        kind, _, value = args.kill.partition(":")
        k = int(value)
        if kind == "step":
            step = trainer.Trainer._train_step

            def patched_step(self, *a, **kw):
                step(self, *a, **kw)
                if self.step == k:
                    die()

            trainer.Trainer._train_step = patched_step
        elif kind in ("partial", "replace"):
            from rnnkit.train import checkpoint

            seen = [0]
            write = checkpoint.atomic_write_bytes

            def patched_write(path, data):
                if not str(path).endswith("last.safetensors"):
                    return write(path, data)
                seen[0] += 1
                if seen[0] != k:
                    return write(path, data)
                with io.atomic_open(path, "wb") as f:  # the same temporary file a real write makes
                    f.write(data[: len(data) // 2] if kind == "partial" else data)
                    f.flush()
                    os.fsync(f.fileno())
                    die()  # before the rest is written (partial) / before the rename (replace)

            checkpoint.atomic_write_bytes = patched_write
        else:
            raise SystemExit(f"--kill must be step:K, partial:M or replace:M, got {args.kill!r}")
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
