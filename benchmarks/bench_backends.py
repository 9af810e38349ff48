"""The fused CPU backend against torch.nn: training (forward + backward) and inference at the issue's
(B, T, H) shapes for LSTM, GRU, Elman RNN and UR-LSTM (vs nn.LSTM), achieved GFLOP/s against the
machine's measured peak (the faster of torch.mm and rnnkit's GEMM, timed in the rounds of every row),
and token-by-token generation of a character model.

    python benchmarks/bench_backends.py [--repeats 5] [--threads 2] [--cells lstm,gru] [--no-generation]
    python benchmarks/bench_backends.py --readme     # only regenerate the README section from the results

The first is ``rnnkit bench`` (all its options apply): it writes
benchmarks/results/backends-cpu-<cpu family>.{json,md} (e.g. backends-cpu-amd-zen4), one pair per CPU
family, since the same code runs at different speeds on AMD Zen 3, Zen 4 and Intel Xeon. The second
rewrites the README's section between ``<!-- bench:cpu -->`` and ``<!-- /bench:cpu -->`` from every
benchmarks/results/backends-cpu-*.json (newest first); run it after a benchmark run, and commit the
result file with the README.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rnnkit._io import atomic_write_text
from rnnkit.bench.readme import render_cpu_section, with_cpu_section
from rnnkit.cli import main

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def write_readme(readme: Path = ROOT / "README.md", results: Path = RESULTS) -> bool:
    """Rewrite the README's bench:cpu section from the result files; True when it changed."""
    text = readme.read_text(encoding="utf-8")
    new = with_cpu_section(text, render_cpu_section(results))
    if new != text:
        atomic_write_text(readme, new)
    return new != text


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--readme" in args:
        if args != ["--readme"]:
            sys.exit("bench_backends.py: --readme takes no other option (it runs no benchmark)")
        changed = write_readme()
        print("README.md: bench:cpu section " + ("regenerated" if changed else "already up to date"))
        sys.exit(0)
    sys.exit(main(["bench", "--out", str(RESULTS), *args]))
