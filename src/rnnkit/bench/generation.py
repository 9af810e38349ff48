"""Generation speed of a character model — embedding → 2-layer LSTM → logits, sampling token by token
with the state carried — stepping ``rnnkit.LSTM.step`` against calling ``torch.nn.LSTM`` on one step
from Python. Both share the embedding, the output layer, the weights and the sampling code; only the
recurrent step differs.

Shape legend: B = batch (sequences sampled together), V = vocabulary, E = embedding size,
H = hidden size, L = layers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..layers import LSTM
from .backends import ratio_stats
from .targets import generation_target
from .timing import time_interleaved

#: (V, E, H, L, B): a KJV-sized character vocabulary, a small and a large model, one sequence
MODELS: tuple[tuple[int, int, int, int, int], ...] = ((65, 64, 256, 2, 1), (65, 64, 512, 2, 1))


@dataclass
class GenerationRow:
    V: int
    E: int
    H: int
    L: int
    B: int
    tokens: int  # tokens sampled per timed call
    torch_tokens_per_s: float  # tokens of all B sequences per second
    rnnkit_tokens_per_s: float
    torch_us_per_token: float  # latency of one sampling step (one token per sequence), µs
    rnnkit_us_per_token: float
    ratio: float  # median per-round rnnkit/torch tokens per second
    ratio_min: float
    ratio_max: float
    target: float  # targets.generation_target(H)

    @property
    def meets_target(self) -> bool:
        return self.ratio >= self.target


def _sampler(
    step: Callable[[torch.Tensor, object], tuple[torch.Tensor, object]],
    embedding: nn.Embedding,
    head: nn.Linear,
    batch: int,
    tokens: int,
) -> Callable[[], torch.Tensor]:
    """A closure sampling ``tokens`` tokens per sequence from token 0 with the given recurrent step."""

    def run() -> torch.Tensor:
        g = torch.Generator().manual_seed(0)
        token = torch.zeros(batch, dtype=torch.long)
        state = None
        out = []
        with torch.no_grad():
            for _ in range(tokens):
                h, state = step(embedding(token), state)  # (B, H)
                probs = torch.softmax(head(h), dim=-1)  # (B, V)
                token = torch.multinomial(probs, 1, generator=g).squeeze(1)  # (B,)
                out.append(token)
        return torch.stack(out, 1)

    return run


def bench_generation(
    models: tuple[tuple[int, int, int, int, int], ...] = MODELS,
    tokens: int = 200,
    repeats: int = 5,
    backend: str = "cpu",
    progress: Callable[[str], None] | None = None,
) -> list[GenerationRow]:
    rows = []
    for V, E, H, L, B in models:
        if progress:
            progress(f"generation V={V} E={E} H={H} L={L} B={B}")
        torch.manual_seed(0)
        embedding, head = nn.Embedding(V, E), nn.Linear(H, V)
        theirs = nn.LSTM(E, H, num_layers=L).eval()
        ours = LSTM(E, H, num_layers=L, backend=backend).eval()
        ours.load_state_dict(theirs.state_dict())

        def torch_step(x: torch.Tensor, state: object, lstm: nn.LSTM = theirs) -> tuple[torch.Tensor, object]:
            out, state = lstm(x.unsqueeze(0), state)  # (1, B, H)
            return out[0], state

        run_theirs = _sampler(torch_step, embedding, head, B, tokens)
        run_ours = _sampler(ours.step, embedding, head, B, tokens)
        assert torch.equal(run_theirs(), run_ours()), "both models must sample the same tokens"
        m = time_interleaved({"torch": run_theirs, "rnnkit": run_ours}, repeats=repeats)
        ratio, lo, hi = ratio_stats(m["rnnkit"], m["torch"])
        rows.append(
            GenerationRow(
                V=V,
                E=E,
                H=H,
                L=L,
                B=B,
                tokens=tokens,
                torch_tokens_per_s=round(tokens * B / m["torch"].median, 1),
                rnnkit_tokens_per_s=round(tokens * B / m["rnnkit"].median, 1),
                torch_us_per_token=round(1e6 * m["torch"].median / tokens, 2),
                rnnkit_us_per_token=round(1e6 * m["rnnkit"].median / tokens, 2),
                ratio=round(ratio, 3),
                ratio_min=round(lo, 3),
                ratio_max=round(hi, 3),
                target=generation_target(H),
            )
        )
    return rows


def generation_table(rows: list[GenerationRow]) -> str:
    """Markdown table of the generation rows; ✗ marks a missed target."""
    lines = [
        "| char model (V, E, H, layers, batch) | nn.LSTM stepped from Python: tokens/s | µs/token | "
        "rnnkit step: tokens/s | µs/token | speed-up (min–max) | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mark = "" if r.meets_target else " ✗"
        lines.append(
            f"| {r.V}, {r.E}, {r.H}, {r.L}, {r.B} | "
            f"{r.torch_tokens_per_s:.0f} | {r.torch_us_per_token:.0f} | "
            f"{r.rnnkit_tokens_per_s:.0f} | {r.rnnkit_us_per_token:.0f} | "
            f"**{r.ratio:.2f}×**{mark} ({r.ratio_min:.2f}–{r.ratio_max:.2f}) | ≥ {r.target:.1f}× |"
        )
    return "\n".join(lines)
