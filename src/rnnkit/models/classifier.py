"""Many-to-one: a whole sequence in, one label out ("does the dog jump in these frames?").

Shape legend: B = batch, T = time steps, E = per-step features, H = hidden size, D = directions,
C = classes.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from .._checks import check_choice, check_dropout, check_positive_int
from ._common import top_hidden
from .backbone import BackboneOutput, SequenceBackbone

POOLINGS = ("last", "mean", "max")


class SequenceClassifier(nn.Module):
    """Optional per-step encoder → RNN → pooling over time → linear → class logits.

    Pooling:
        ``"last"``: the top layer's hidden state at each sequence's last VALID step (respecting
        ``lengths``); bidirectional: the forward direction's last valid step concatenated with the
        backward direction's state at step 0 (which has read the whole sequence).
        ``"mean"`` / ``"max"``: mean / max of the top layer's outputs over the valid steps only.

    Args:
        input_size: features per step reaching the RNN (the encoder's output size when ``encoder`` is set).
        num_classes: number of classes C.
        hidden_size, num_layers, cell, bidirectional, backend: of the recurrent layer (any registered
            cell: ``"lstm"``, ``"gru"``, ``"rnn"``, …).
        dropout: between recurrent layers and on the pooled features before the linear layer.
        pooling: ``"last"``, ``"mean"`` or ``"max"``.
        encoder: module applied to every step, e.g. a small CNN on each video frame: x (B, T, C, H, W)
            → encoder on (B*T, C, H, W) → (B*T, input_size) → (B, T, input_size).
        rnn_options: extra keyword arguments for the recurrent layer(s) (cell options, regularisers,
            init), e.g. ``{"nonlinearity": "relu"}`` with ``cell="rnn"``.

    Example::

        cnn = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        model = SequenceClassifier(8, num_classes=2, hidden_size=32, encoder=cnn)
        frames = torch.randn(4, 16, 1, 28, 28)                  # 4 clips of 16 frames
        logits = model(frames, lengths=[16, 12, 9, 16])          # (4, 2)
        probs = model.per_step_logits(frames).softmax(-1)        # (4, 16, 2): after each frame
    """

    def __init__(
        self,
        input_size: int,
        num_classes: int,
        hidden_size: int = 128,
        num_layers: int = 1,
        cell: str = "lstm",
        bidirectional: bool = False,
        dropout: float = 0.0,
        pooling: str = "last",
        encoder: nn.Module | None = None,
        backend: str = "auto",
        *,
        rnn_options: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__()
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.pooling = check_choice("pooling", pooling, POOLINGS)
        self.backbone = SequenceBackbone(
            input_size, hidden_size, num_layers, cell, bidirectional, dropout, encoder, backend, rnn_options
        )
        self.dropout = nn.Dropout(check_dropout(dropout))
        self.head = nn.Linear(self.backbone.output_size, num_classes)

    @property
    def rnn(self):
        return self.backbone.rnn

    def features(self, x: Tensor, lengths: object = None) -> Tensor:
        """The pooled sequence representation fed to the linear layer: (B, D*H)."""
        run = self.backbone(x, lengths)
        return self._pool(run)

    def _pool(self, run: BackboneOutput) -> Tensor:
        if self.pooling == "last":
            return top_hidden(run.state, self.backbone.num_directions)  # (B, D*H)
        out, mask = run.output, run.mask  # (B, T, D*H), (B, T) | None
        if self.pooling == "mean":
            if mask is None:
                return out.mean(dim=1)
            count = mask.sum(dim=1, keepdim=True).to(out.dtype)  # (B, 1)
            return out.sum(dim=1) / count  # padded outputs are zero
        if mask is not None:
            out = out.masked_fill(~mask.unsqueeze(-1), float("-inf"))
        return out.amax(dim=1)  # (B, D*H)

    def forward(self, x: Tensor, lengths: object = None) -> Tensor:
        """Class logits (B, C) for batch-first input x (B, T, ...) with optional (B,) ``lengths``."""
        return self.head(self.dropout(self.features(x, lengths)))

    def per_step_logits(self, x: Tensor, lengths: object = None) -> Tensor:
        """Logits after every step, (B, T, C): entry t is what ``forward`` gives for the prefix
        ``x[:, : t + 1]`` (the running last state / running mean / running max of the outputs).

        Meant for plots of the class probability over time (e.g. per video frame). Needs a causal
        (unidirectional) model. Steps past ``lengths[b]`` repeat the logits of the last valid step.
        """
        if self.backbone.num_directions != 1:
            raise ValueError(
                "per_step_logits needs a unidirectional model (bidirectional=True reads the future)"
            )
        run = self.backbone(x, lengths)
        out = run.output  # (B, T, H)
        B, T = out.shape[:2]
        if run.lengths is not None:  # hold the last valid output over the padding
            last = (run.lengths - 1).to(out.device)  # (B,)
            idx = torch.minimum(torch.arange(T, device=out.device).unsqueeze(0), last.unsqueeze(1))
            out = out.gather(1, idx.unsqueeze(-1).expand_as(out))  # (B, T, H)
        if self.pooling == "mean":
            steps = torch.arange(1, T + 1, device=out.device, dtype=out.dtype).view(1, T, 1)
            feats = out.cumsum(dim=1) / steps
            if run.lengths is not None:  # past the end: the mean over the valid steps
                valid = run.mask.unsqueeze(-1)  # (B, T, 1)
                n = run.lengths.to(out.device, out.dtype).view(B, 1, 1)
                total = (out * valid).sum(dim=1, keepdim=True) / n  # (B, 1, H)
                feats = torch.where(valid, feats, total)
        elif self.pooling == "max":
            feats = out.cummax(dim=1).values  # (B, T, H)
        else:
            feats = out
        return self.head(self.dropout(feats))  # (B, T, C)

    def predict_proba(self, x: Tensor, lengths: object = None) -> Tensor:
        """Class probabilities (B, C)."""
        return self.forward(x, lengths).softmax(dim=-1)
