"""Drop-in replacements for ``torch.nn.RNN``, ``torch.nn.LSTM`` and ``torch.nn.GRU``.

Same constructor, same forward signature and return shapes, same parameter names, shapes and init, so
``rnnkit.LSTM(...).load_state_dict(torch.nn.LSTM(...).state_dict())`` works both ways. On top of torch:
``lengths=`` on padded input, ``trace()`` for per-step gates, ``backend=`` for fused kernels, and keyword
options — the cell's (``forget_bias=1.0``, ``peephole=True``, ``layer_norm=True``, see ``cells/lstm.py``)
and the runner's (``zoneout=``, ``recurrent_dropout=``, ``input_dropout=``, ``recurrent_init=``, see
:class:`rnnkit.RecurrentLayer`); the defaults are exactly torch's.

Example::

    import torch, rnnkit
    lstm = rnnkit.LSTM(10, 20, num_layers=2, batch_first=True)
    out, (h_n, c_n) = lstm(torch.randn(3, 5, 10))       # (3, 5, 20), (2, 3, 20) each
    tr = lstm.trace(torch.randn(3, 5, 10))
    tr.gates["forget"].shape                              # (2, 5, 3, 20): layer, time, batch, hidden
"""

from __future__ import annotations

import torch

from .recurrent import RecurrentLayer


class RNN(RecurrentLayer):
    """Elman RNN, ``h_t = φ(W x_t + b_ih + U h_{t-1} + b_hh)``; drop-in for ``torch.nn.RNN``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        backend: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **options: object,
    ) -> None:
        super().__init__(
            "rnn",
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
            nonlinearity=nonlinearity,
            **options,
        )
        self.nonlinearity = nonlinearity
        self.mode = f"RNN_{nonlinearity.upper()}"


class LSTM(RecurrentLayer):
    """Long short-term memory; drop-in for ``torch.nn.LSTM`` (incl. ``proj_size``)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        *,
        backend: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **options: object,
    ) -> None:
        super().__init__(
            "lstm",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            backend=backend,
            device=device,
            dtype=dtype,
            **options,
        )


class GRU(RecurrentLayer):
    """Gated recurrent unit in torch's convention; drop-in for ``torch.nn.GRU``."""

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
        **options: object,
    ) -> None:
        super().__init__(
            "gru",
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
            **options,
        )
