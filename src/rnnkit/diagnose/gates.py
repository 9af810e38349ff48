"""Gate activity from ``layer.trace(x)``: saturation of each gate and the memory timescale that the
forget (retain) gate implies.

- **Saturation**: a σ-gate near 0 or 1 passes almost no gradient (σ' = σ(1 − σ) → 0); the share of
  values < 0.05 or > 0.95 tells how much of a layer is "stuck". tanh-valued gates (the candidate)
  count |v| > 0.95, and so does a tanh RNN's activation. Unbounded values (an Elman RNN's
  pre-activation, minGRU's positive candidate) have no saturation share.
- **Timescale**: with a retain gate f (the share of the old state kept per step), a unit forgets a
  value in about τ = −1/ln f steps (f^τ = 1/e). The retain gate is the LSTM's "forget", the GRU's
  "update" z, the UR cells' "effective_forget", minGRU's 1 − z and minLSTM's normalised "forget".

Example::

    tr = lstm.trace(x)
    saturation(tr.gates, lstm.spec)            # {"forget": {"low": 0.01, "high": 0.20, …}, …}
    tau = timescales(lstm.spec, tr.gates)      # (H,) per unit of layer 0, forward direction
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..cells.base import CellSpec

LOW, HIGH = 0.05, 0.95


def gate_range(values: Tensor) -> str | None:
    """``"sigmoid"`` for values within [0, 1], ``"tanh"`` within [−1, 1], else None."""
    lo, hi = float(values.min()), float(values.max())
    if lo >= 0.0 and hi <= 1.0:
        return "sigmoid"
    if lo >= -1.0 and hi <= 1.0:
        return "tanh"
    return None


#: gates that are σ(·) in every cell that has them
SIGMOID_GATES = frozenset({"input", "forget", "output", "reset", "update", "refine", "effective_forget"})


def gate_kind(spec: CellSpec | None, name: str, values: Tensor) -> str | None:
    """``"sigmoid"``, ``"tanh"`` or None (unbounded) for gate ``name`` of ``spec``'s cell; from the
    values' range when the cell is unknown."""
    if spec is None:
        return gate_range(values)
    if name in SIGMOID_GATES:
        return "sigmoid"
    if name == "tanh(preactivation)" or (name == "candidate" and not getattr(spec, "parallel", False)):
        return "tanh"
    return None


def saturation(
    gates: dict[str, Tensor], spec: CellSpec | None = None, mask: Tensor | None = None
) -> dict[str, dict[str, float | str]]:
    """Per gate: its range kind and the shares of values below 0.05 / above 0.95 (σ-gates) or with
    |v| > 0.95 (tanh gates). ``mask`` (same shape as a gate, bool) keeps only valid steps."""
    out: dict[str, dict[str, float | str]] = {}
    for name, g in gates.items():
        v = g.detach().float()
        v = v[mask] if mask is not None else v.reshape(-1)
        kind = gate_kind(spec, name, v)
        if kind == "sigmoid":
            low, high = float((v < LOW).float().mean()), float((v > HIGH).float().mean())
            out[name] = {"range": kind, "low": low, "high": high, "saturated": low + high}
        elif kind == "tanh":
            out[name] = {"range": kind, "saturated": float((v.abs() > HIGH).float().mean())}
        else:
            out[name] = {"range": "unbounded"}
    return out


def retain_gate(spec: CellSpec, gates: dict[str, Tensor]) -> tuple[str, Tensor] | None:
    """(name, the share of the old state kept per step) for cells that have one, else None."""
    names = spec.gate_names
    if "effective_forget" in names:
        return "effective_forget", gates["effective_forget"]
    if spec.name == "mingru":
        return "1 − update", 1 - gates["update"]
    if "forget" in names:
        return "forget", gates["forget"]
    if "update" in names:
        return "update", gates["update"]
    return None


def timescales(spec: CellSpec, gates: dict[str, Tensor], index: int = 0) -> tuple[str, Tensor] | None:
    """Per unit of layer/direction ``index``: τ = −1/ln f̄ with f̄ its retain gate averaged over steps
    and sequences; (H,) in steps (inf where f̄ rounds to 1). None for cells without a retain gate."""
    found = retain_gate(spec, gates)
    if found is None:
        return None
    name, f = found
    f_mean = f[index].detach().double().mean(dim=(0, 1)).clamp(1e-12, 1.0)  # (H,)
    tau = -1.0 / torch.log(f_mean)
    return name, torch.where(f_mean >= 1.0, torch.full_like(tau, math.inf), tau)


def summarize_timescales(tau: Tensor) -> dict[str, float]:
    """Median τ and the shares of units remembering > 10 and > 100 steps."""
    finite = tau[torch.isfinite(tau)]
    return {
        "median": float(tau.median()),
        "max_finite": float(finite.max()) if finite.numel() else math.inf,
        "share_over_10": float((tau > 10).double().mean()),
        "share_over_100": float((tau > 100).double().mean()),
    }
