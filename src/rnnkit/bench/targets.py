"""The fused backend's speed targets, one rule each, so that a run is judged the same way when it is
measured, when its report is written and when the README is generated from its file.

* Every (cell, shape, mode) row: at least ``SPEEDUP_TARGET`` × its torch.nn anchor.
* GRU: at least ``FAST_TARGETS["gru"]`` × nn.GRU where nn.GRU runs below ``GEMM_BOUND`` of the machine's
  peak measured in that row's rounds (where nn.GRU is bound by its GEMMs, no kernel can be 1.5× faster:
  the target falls back to ``SPEEDUP_TARGET``).
* At H ≥ ``PEAK_MIN_H``: rnnkit's GFLOP/s at least ``PEAK_TARGET`` of that peak.
* Generation: rnnkit's ``step()`` at least ``GENERATION_TARGETS[h]`` × nn.LSTM stepped from Python,
  for the largest listed ``h`` not above the model's H (the smallest listed below it).
"""

from __future__ import annotations

#: every row: rnnkit at least this many times its torch.nn anchor
SPEEDUP_TARGET = 1.0
#: cells with a higher target where the anchor leaves room for it
FAST_TARGETS: dict[str, float] = {"gru": 1.5}
#: ... that is, where the anchor runs below this share of the peak measured in the row's rounds
GEMM_BOUND = 0.8
#: training and inference must reach this share of the measured peak at H >= PEAK_MIN_H
PEAK_TARGET, PEAK_MIN_H = 0.85, 512
#: generation speed-up over nn.LSTM stepped from Python, by hidden size
GENERATION_TARGETS: dict[int, float] = {256: 3.0, 512: 4.0}


def speedup_target(cell: str, torch_gflops: float, peak_gflops: float) -> float:
    """The speed-up over the torch.nn anchor a row must reach.

    ``peak_gflops`` is the peak measured in the row's rounds; 0 (not measured) keeps a cell's higher
    target, since nothing shows the anchor to be bound by its GEMMs."""
    fast = FAST_TARGETS.get(cell)
    if fast is None:
        return SPEEDUP_TARGET
    if peak_gflops > 0 and torch_gflops >= GEMM_BOUND * peak_gflops:
        return SPEEDUP_TARGET
    return fast


def peak_target(H: int) -> float | None:
    """The share of peak a row of hidden size ``H`` must reach, or None where none is set."""
    return PEAK_TARGET if H >= PEAK_MIN_H else None


def generation_target(H: int) -> float:
    """The generation speed-up a model of hidden size ``H`` must reach."""
    sizes = sorted(GENERATION_TARGETS)
    below = [h for h in sizes if h <= H]
    return GENERATION_TARGETS[below[-1] if below else sizes[0]]


def as_dict() -> dict[str, object]:
    """Today's targets as a result file records them (to tell later whether they changed)."""
    return {
        "speedup": SPEEDUP_TARGET,
        "fast": dict(FAST_TARGETS),
        "gemm_bound": GEMM_BOUND,
        "peak_share": PEAK_TARGET,
        "peak_min_h": PEAK_MIN_H,
        "generation": {str(h): t for h, t in sorted(GENERATION_TARGETS.items())},
    }
