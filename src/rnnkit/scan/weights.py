"""The weights of one layer and direction, as one named structure that every backend takes.

Shape legend: I = layer input size, H = hidden size, P = output size (proj_size or H), G = row blocks
of the cell's weights (LSTM 4, GRU 3, Elman 1).
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


class LayerWeights(NamedTuple):
    """One layer and direction's tensors under torch's names (``RecurrentLayer.weights(layer, d)``).

    A named tuple, so ``w_ih, b_ih, w_hh, b_hh, w_hr, extras = layer.weights(0, 0)`` still unpacks.
    ``weight_ih``/``bias_ih`` are None when a backend is handed the input projection ``xg`` already
    computed (``LayerWeights.recurrent()``).
    """

    weight_ih: Tensor | None  # (G*H, I)
    bias_ih: Tensor | None  # (G*H,)
    weight_hh: Tensor  # (G*H, P)
    bias_hh: Tensor | None  # (G*H,)
    weight_hr: Tensor | None  # (P, H): the projection of an LSTM with proj_size
    extras: dict[str, Tensor]  # the cell's own tensors (peepholes, LayerNorm, UR-LSTM's …)

    def recurrent(self) -> LayerWeights:
        """The same weights without the input side (for a scan over a precomputed ``xg``)."""
        return self._replace(weight_ih=None, bias_ih=None)
