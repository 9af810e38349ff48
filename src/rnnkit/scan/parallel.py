"""The runner for cells without a recurrent weight (minGRU, minLSTM): every layer and direction is ONE
parallel scan over time in log space, with the interface of :class:`rnnkit.RecurrentLayer`.

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
from torch.nn.utils.rnn import PackedSequence

from .._checks import check_layer_args
from .._pickle import PlainPickleMixin
from ..cells.base import State
from ..cells.min_rnn import MinRNNSpec, log_linear_scan
from ..cells.registry import get_cell
from .backends import check_backend_name
from .inputs import Prepared, finish_output, finish_state, prepare_input, reverse_time, time_mask
from .layer import RecurrentLayer, Trace
from .reference import ScanResult


class ParallelLayer(PlainPickleMixin, nn.Module):
    """Multi-layer network of a parallel-scan cell (``"mingru"``, ``"minlstm"``).

    Args:
        cell: a registered cell name or a :class:`rnnkit.cells.min_rnn.MinRNNSpec`.
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional: as torch.nn.GRU.
        backend: accepted for interface compatibility; these cells always run the log-space scan.
    """

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
        self.spec = cell if isinstance(cell, MinRNNSpec) else get_cell(cell).make_spec()
        if not isinstance(self.spec, MinRNNSpec):
            raise TypeError(f"cell must be a parallel-scan cell (minGRU, minLSTM), got {self.spec!r}")
        check_layer_args(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bool(bias), bool(batch_first), bool(bidirectional)
        self.dropout, self.proj_size = float(dropout), 0
        self.backend = check_backend_name(backend)
        self.mode = self.spec.name.upper()
        kw = {"device": device, "dtype": dtype}
        rows = self.spec.num_chunks * hidden_size
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size * self.num_directions
            for d in range(self.num_directions):
                sfx = f"_l{layer}{'_reverse' if d else ''}"
                self.register_parameter(f"weight_ih{sfx}", nn.Parameter(torch.empty(rows, layer_in, **kw)))
                bias_p = nn.Parameter(torch.empty(rows, **kw)) if bias else None
                self.register_parameter(f"bias_ih{sfx}", bias_p)
        self.reset_parameters()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def reset_parameters(self) -> None:
        """Every parameter uniform in ±1/√H, as torch's recurrent layers."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """No-op, for scripts written for ``torch.nn.GRU``."""

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s

    def weights(self, layer: int, direction: int) -> tuple[Tensor, Tensor | None]:
        sfx = f"_l{layer}{'_reverse' if direction else ''}"
        return getattr(self, f"weight_ih{sfx}"), getattr(self, f"bias_ih{sfx}")

    #: the recurrent layers' dtype rule: an input of another dtype than the weights is a TypeError naming
    #: both (under autocast a float16/bfloat16/float32 input is accepted), before any matrix product
    _check_dtype = RecurrentLayer._check_dtype

    def _prepare(self, input, hx, lengths) -> Prepared:
        self._check_dtype(input.data if isinstance(input, PackedSequence) else input)
        return prepare_input(
            input,
            hx,
            lengths,
            input_size=self.input_size,
            batch_first=self.batch_first,
            state_sizes=(self.hidden_size,),
            state_names=("h",),
            num_states=self.num_layers * self.num_directions,
        )

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

    def _run(self, prep: Prepared, record: bool) -> tuple[Tensor, State, list[ScanResult]]:
        x, lengths = prep.x, prep.lengths  # (T, B, I)
        mask = time_mask(lengths, x.size(0), x.device)  # (T, B, 1) or None
        finals, results, layer_input = [], [], x
        for layer in range(self.num_layers):
            outs = []
            for d in range(self.num_directions):
                w_ih, b_ih = self.weights(layer, d)
                xin = layer_input if d == 0 else reverse_time(layer_input, lengths)
                xg = F.linear(xin, w_ih, b_ih)  # (T, B, G*H)
                res = self._scan(xg, prep.state[0][layer * self.num_directions + d], mask, record)
                if d == 1:
                    res = ScanResult(
                        output=reverse_time(res.output, lengths),
                        state=res.state,
                        gates=None
                        if res.gates is None
                        else {n: reverse_time(v, lengths) for n, v in res.gates.items()},
                    )
                outs.append(res.output)  # (T, B, H)
                finals.append(res.state[0])
                results.append(res)
            layer_input = torch.cat(outs, dim=-1) if len(outs) > 1 else outs[0]  # (T, B, D*H)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        return layer_input, (torch.stack(finals),), results  # h_n: (L*D, B, H)

    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: Tensor | None = None,
        *,
        lengths: Tensor | list[int] | None = None,
    ):
        """Run the network with the parallel scan. Returns ``(output, h_n)`` with torch's shapes."""
        prep = self._prepare(input, hx, lengths)
        out, state, _ = self._run(prep, record=False)
        return finish_output(prep, out, self.batch_first), finish_state(prep, state)

    def step(self, input: Tensor, hx: Tensor | None = None):
        """Advance a unidirectional network by one step with the sequential form (generation);
        the same numbers as ``forward`` on a length-1 sequence."""
        if self.bidirectional:
            raise ValueError("step() needs a unidirectional network (bidirectional=True reads the future)")
        if isinstance(input, Tensor) and input.dim() in (1, 2):
            input = input.unsqueeze(-2)  # (1, I) or (B, 1, I): one step
            if not self.batch_first and input.dim() == 3:
                input = input.transpose(0, 1)  # (1, B, I)
        prep = self._prepare(input, hx, None)
        x, finals = prep.x[0], []  # (B, I)
        for layer in range(self.num_layers):
            w_ih, b_ih = self.weights(layer, 0)
            x = self.spec.step(F.linear(x, w_ih, b_ih), prep.state[0][layer])  # (B, H)
            finals.append(x)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        return (x if prep.batched else x.squeeze(0)), finish_state(prep, (torch.stack(finals),))

    def trace(
        self,
        input: Tensor | PackedSequence,
        hx: Tensor | None = None,
        *,
        lengths: Tensor | list[int] | None = None,
    ) -> Trace:
        """Every hidden state and gate at every step (see :class:`rnnkit.Trace`); ``cells`` is None."""
        prep = self._prepare(input, hx, lengths)
        out, state, results = self._run(prep, record=True)
        hiddens = torch.stack([r.output for r in results])  # (L*D, T, B, H)
        gates = {n: torch.stack([r.gates[n] for r in results]) for n in self.spec.gate_names}
        if not prep.batched:
            hiddens = hiddens.squeeze(2)
            gates = {n: v.squeeze(2) for n, v in gates.items()}
        return Trace(
            output=finish_output(prep, out, self.batch_first),
            state=finish_state(prep, state),
            hiddens=hiddens,
            cells=None,
            gates=gates,
            lengths=prep.lengths,
        )
