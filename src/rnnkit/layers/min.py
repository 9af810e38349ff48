"""Multi-layer minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?") with
``torch.nn.GRU``'s constructor and call: training runs one parallel log-space scan per layer and
direction, ``step()`` the sequential form for generation. Equations in ``cells/min_rnn.py``.

Example::

    import torch, rnnkit
    gru = rnnkit.MinGRU(1, 128, num_layers=2, batch_first=True)
    out, h_n = gru(torch.randn(64, 1000, 1))               # (64, 1000, 128), (2, 64, 128)
    y, h = gru.step(torch.randn(64, 1), h_n)                # one more step, sequentially
"""

from __future__ import annotations

import torch

from .parallel import ParallelLayer


class MinGRU(ParallelLayer):
    """minGRU layers: h_t = (1 − z_t)⊙h_{t-1} + z_t⊙g(h̃_t) with z_t, h̃_t from x_t alone."""

    def __init__(
        self,
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
        super().__init__(
            "mingru",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            backend=backend,
            device=device,
            dtype=dtype,
        )


class MinLSTM(ParallelLayer):
    """minLSTM layers: h_t = f'_t⊙h_{t-1} + i'_t⊙g(h̃_t) with f', i' normalised to sum to 1."""

    def __init__(
        self,
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
        super().__init__(
            "minlstm",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            backend=backend,
            device=device,
            dtype=dtype,
        )
