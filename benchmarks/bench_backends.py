"""The fused CPU backend against torch.nn: training (forward + backward) and inference at the issue's
(B, T, H) shapes for LSTM, GRU, Elman RNN and UR-LSTM (vs nn.LSTM), achieved GFLOP/s against the
machine's measured peak, and token-by-token generation of a character model.

    python benchmarks/bench_backends.py [--repeats 5] [--threads 2] [--cells lstm,gru] [--no-generation]

Same as ``rnnkit bench`` (all its options apply); writes benchmarks/results/backends-cpu.{json,md}.
"""

from __future__ import annotations

import os
import sys

from rnnkit.cli import main

if __name__ == "__main__":
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    sys.exit(main(["bench", "--out", out, *sys.argv[1:]]))
