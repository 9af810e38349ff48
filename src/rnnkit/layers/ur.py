"""Multi-layer UR-LSTM and UR-GRU (Gu et al., "Improving the Gating Mechanism of Recurrent Neural
Networks", ICML 2020) with ``torch.nn.LSTM``'s / ``torch.nn.GRU``'s constructor and call.

The cells' equations are in ``cells/ur_lstm.py`` and ``cells/ur_gru.py``. Parameters keep torch's names
(``weight_ih_l0``, ``bias_hh_l1_reverse`` …); each layer and direction also holds the uniform gate
initialisation as a buffer ``forget_bias_l{k}[_reverse]`` (H,), saved in the state_dict.

Example::

    import torch, rnnkit
    lstm = rnnkit.URLSTM(1, 128, batch_first=True)
    out, (h_n, c_n) = lstm(torch.randn(64, 200, 1))      # (64, 200, 128)
    tr = lstm.trace(torch.randn(2, 50, 1))
    tr.gates["effective_forget"].shape                     # (1, 50, 2, 128)
"""

from __future__ import annotations

import torch

from .recurrent import RecurrentLayer


class URLSTM(RecurrentLayer):
    """UR-LSTM layers: refine gate + UGI forget bias; ``torch.nn.LSTM``'s interface (incl. ``proj_size``).

    Extra keyword options (``zoneout=``, ``recurrent_dropout=`` …) are those of
    :class:`rnnkit.RecurrentLayer`.
    """

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
            "urlstm",
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


class URGRU(RecurrentLayer):
    """UR-GRU layers: the refine gate + UGI on the GRU's update gate; ``torch.nn.GRU``'s interface."""

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
            "urgru",
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
