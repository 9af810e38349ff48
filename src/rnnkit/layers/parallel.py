"""The runner for cells without a recurrent weight (minGRU, minLSTM): every layer and direction is ONE
parallel scan over time in log space, with the interface of :class:`rnnkit.RecurrentLayer` (both share
:class:`~rnnkit.layers.base.LayerBase`: checks, layouts, the layer loop, ``forward`` and ``trace``).

``forward(x, hx, lengths=)``, ``step(x, hx)`` (sequential, for generation), ``trace(x)`` and torch's
shapes, layouts (batch_first, unbatched, PackedSequence), ``num_layers``, ``bidirectional`` and
``dropout`` between layers. Parameters per layer and direction: ``weight_ih_l{k}[_reverse]``
(G*H, in) and ``bias_ih_l{k}[_reverse]`` (G*H,).

Shape legend: T = time steps, B = batch, I = input size, H = hidden size, L = num_layers,
D = num_directions, G = row blocks of the cell's weights.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..cells.base import State
from ..cells.min_rnn import MinRNNSpec, log_linear_scan
from ..cells.registry import get_cell
from ..scan.inputs import finish_state
from ..scan.reference import ScanResult
from .base import DirectionFn, LayerBase


class ParallelLayer(LayerBase):
    """Multi-layer network of a parallel-scan cell (``"mingru"``, ``"minlstm"``).

    Args:
        cell: a registered cell name or a :class:`rnnkit.cells.min_rnn.MinRNNSpec`.
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional: as torch.nn.GRU.
        backend: accepted for interface compatibility; these cells always run the log-space scan.
    """

    uses_backend = False

    def __init__(
        self,
        cell: str | MinRNNSpec,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        backend: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        spec = cell if isinstance(cell, MinRNNSpec) else get_cell(cell).make_spec()
        if not isinstance(spec, MinRNNSpec):
            raise TypeError(f"cell must be a parallel-scan cell (minGRU, minLSTM), got {spec!r}")
        args = (input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)
        self._setup(lambda: spec, *args, 0, backend)
        kw = {"device": device, "dtype": dtype}
        rows = self.spec.num_chunks * hidden_size
        for _, _, sfx, layer_in in self.slots():
            self.register_parameter(f"weight_ih{sfx}", nn.Parameter(torch.empty(rows, layer_in, **kw)))
            self.register_parameter(f"bias_ih{sfx}", nn.Parameter(torch.empty(rows, **kw)) if bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter uniform in ±1/√H, as torch's recurrent layers."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -stdv, stdv)

    def weights(self, layer: int, direction: int) -> tuple[Tensor, Tensor | None]:
        """(weight_ih, bias_ih) of one layer and direction (these cells have no recurrent weight)."""
        sfx = self.suffix(layer, direction)
        return getattr(self, f"weight_ih{sfx}"), getattr(self, f"bias_ih{sfx}")

    def _scan(self, xg: Tensor, h0: Tensor, mask: Tensor | None, record: bool) -> ScanResult:
        """One direction: xg (T, B, G*H), h0 (B, H), mask (T, B, 1) or None."""
        log_a, log_b = self.spec.coefficients(xg)  # (T, B, H) each
        if mask is not None:  # padded steps: a = 1, b = 0, so h stays at its last valid value
            log_a = torch.where(mask, log_a, 0.0)
            log_b = torch.where(mask, log_b, float("-inf"))
        h = log_linear_scan(log_a, log_b, h0)  # (T, B, H)
        out = h if mask is None else torch.where(mask, h, 0.0)
        gates = None
        if record:
            gates = self.spec.gates(xg)
            if mask is not None:
                gates = {k: torch.where(mask, v, 0.0) for k, v in gates.items()}
        return ScanResult(output=out, state=(h[-1],), cells=None, gates=gates)

    def _direction(self, x: Tensor, mask: Tensor | None, record: bool) -> DirectionFn:
        def run(layer: int, d: int, xin: Tensor, state0: State) -> ScanResult:
            w_ih, b_ih = self.weights(layer, d)
            return self._scan(F.linear(xin, w_ih, b_ih), state0[0], mask, record)  # xg (T, B, G*H)

        return run

    def step(self, input: Tensor, hx: Tensor | None = None):
        """Advance a unidirectional network by one step with the sequential form (generation);
        the same numbers as ``forward`` on a length-1 sequence."""
        prep = self._prepare(self._step_input(input), hx, None)
        x, finals = prep.x[0], []  # (B, I)
        for layer in range(self.num_layers):
            w_ih, b_ih = self.weights(layer, 0)
            x = self.spec.step(F.linear(x, w_ih, b_ih), prep.state[0][layer])  # (B, H)
            finals.append(x)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        return (x if prep.batched else x.squeeze(0)), finish_state(prep, (torch.stack(finals),))
