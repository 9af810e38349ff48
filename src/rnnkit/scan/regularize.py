"""Regularisers that act inside the recurrence, for any cell: zoneout and variational dropout.

- **Zoneout** (Krueger et al. 2017): each unit of each state keeps its previous value with probability
  p at every step, ``s_t = d_t⊙s_{t-1} + (1 − d_t)⊙s̃_t``, d_t ~ Bernoulli(p) drawn per step, unit and
  sequence in training; in evaluation the expectation ``s_t = p s_{t-1} + (1 − p) s̃_t`` (as the paper,
  and haste, do). ``zoneout=p`` applies to every state; an LSTM-like cell takes ``(p_h, p_c)``.
- **Variational dropout** (Gal & Ghahramani 2016): ONE dropout mask per sequence, reused at every step.
  ``recurrent_dropout=p`` drops units of h_{t-1} where they enter U h_{t-1}; ``input_dropout=p`` drops
  features of each layer's input x_t before W x_t. Inverted scaling 1/(1 − p), so evaluation is the
  identity. (``dropout=`` stays torch's: between layers, fresh per element and step.)

The runner (``scan/layer.py``) draws the masks per layer and direction with :class:`Regularization`
and hands them to the reference scan; fused backends are used only when no option changes the
recurrence in the current mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .._checks import check_probability
from .._pickle import register_plain


@dataclass(frozen=True)
class Regularization:
    """Validated zoneout / variational-dropout settings of a layer.

    Attributes:
        zoneout: keep-probability per state component, in ``state_names`` order (h, c).
        recurrent_dropout: drop probability of h_{t-1} units in U h_{t-1}, one mask per sequence.
        input_dropout: drop probability of input features x_t, one mask per sequence.
    """

    zoneout: tuple[float, ...]
    recurrent_dropout: float = 0.0
    input_dropout: float = 0.0

    @classmethod
    def make(
        cls,
        zoneout: float | tuple[float, ...] | list[float],
        recurrent_dropout: float,
        input_dropout: float,
        state_names: tuple[str, ...],
    ) -> Regularization:
        n = len(state_names)
        if isinstance(zoneout, tuple | list):
            if len(zoneout) != n:
                raise ValueError(
                    f"zoneout must be one number or {n} ({', '.join(state_names)}), got {tuple(zoneout)!r}"
                )
            zo = tuple(check_probability("zoneout", z) for z in zoneout)
        else:
            zo = (check_probability("zoneout", zoneout),) * n
        return cls(
            zo,
            check_probability("recurrent_dropout", recurrent_dropout),
            check_probability("input_dropout", input_dropout),
        )

    @property
    def active(self) -> bool:
        return any(self.zoneout) or bool(self.recurrent_dropout or self.input_dropout)

    def changes_recurrence(self, training: bool) -> bool:
        """Whether the scan itself differs from the plain cell's (then only the reference runs it)."""
        return any(self.zoneout) or (training and self.recurrent_dropout > 0)

    def options(self) -> dict[str, object]:
        """The non-default settings, for ``repr``."""
        opts: dict[str, object] = {}
        if any(self.zoneout):
            opts["zoneout"] = self.zoneout[0] if len(set(self.zoneout)) == 1 else self.zoneout
        if self.recurrent_dropout:
            opts["recurrent_dropout"] = self.recurrent_dropout
        if self.input_dropout:
            opts["input_dropout"] = self.input_dropout
        return opts

    # -- masks -----------------------------------------------------------------------------------------
    def input_mask(self, x: Tensor, training: bool) -> Tensor | None:
        """x (T, B, I) -> a (1, B, I) scaled keep-mask constant over time, or None."""
        if not (training and self.input_dropout):
            return None
        return _keep_mask(x.new_empty(1, *x.shape[1:]), self.input_dropout)

    def hidden_mask(self, h: Tensor, training: bool) -> Tensor | None:
        """h (B, P) -> a (B, P) scaled keep-mask for h_{t-1} in U h_{t-1}, constant over time, or None."""
        if not (training and self.recurrent_dropout):
            return None
        return _keep_mask(torch.empty_like(h), self.recurrent_dropout)

    def zoneout_masks(
        self, steps: int, state: tuple[Tensor, ...], training: bool
    ) -> tuple[Tensor, ...] | None:
        """Per state component the share of the OLD value kept: (T, B, ·) Bernoulli(p) draws in training,
        a (1, 1, 1) tensor holding p in evaluation; None when zoneout is off."""
        if not any(self.zoneout):
            return None
        if training:
            return tuple(
                torch.bernoulli(s.new_full((steps, *s.shape), p)) if p else s.new_zeros(1, 1, 1)
                for s, p in zip(state, self.zoneout, strict=True)
            )
        return tuple(s.new_full((1, 1, 1), p) for s, p in zip(state, self.zoneout, strict=True))

    def scan_kwargs(self, steps: int, state0: tuple[Tensor, ...], training: bool) -> dict[str, object]:
        """The ``h_mask``/``zoneout`` arguments of the reference scan for one layer and direction."""
        kwargs: dict[str, object] = {}
        h_mask = self.hidden_mask(state0[0], training)
        if h_mask is not None:
            kwargs["h_mask"] = h_mask
        keep = self.zoneout_masks(steps, state0, training)
        if keep is not None:
            kwargs["zoneout"] = keep
        return kwargs


def _keep_mask(template: Tensor, p: float) -> Tensor:
    return torch.bernoulli(torch.full_like(template, 1 - p)) / (1 - p)


def apply_zoneout(new: tuple[Tensor, ...], old: tuple[Tensor, ...], keep: tuple[Tensor, ...], t: int):
    """``s_t = d⊙s_{t-1} + (1 − d)⊙s̃_t`` per state component at step t (keep: see ``zoneout_masks``)."""
    out = []
    for n, o, k in zip(new, old, keep, strict=True):
        d = k[t] if k.size(0) > 1 else k[0]
        out.append(torch.lerp(n, o, d))  # n + d (o − n)
    return tuple(out)


register_plain(
    "regularization",
    Regularization,
    encode=lambda r: {
        "zoneout": tuple(r.zoneout),
        "recurrent_dropout": r.recurrent_dropout,
        "input_dropout": r.input_dropout,
    },
    decode=lambda data: Regularization(**data),
)
