"""Many-to-many, aligned: one output per input step (a tag per word, a label per frame or time step).

Shape legend: B = batch, T = time steps, H = hidden size, D = directions, K = number of tags.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_dropout, check_positive_int, check_values
from .backbone import SequenceBackbone

#: the tag written at padded steps by :meth:`SequenceTagger.predict` (and ignored by :meth:`loss`)
IGNORE_INDEX = -100


class SequenceTagger(nn.Module):
    """Optional per-step encoder → RNN (often bidirectional) → linear at every step → tag logits.

    Padding-aware: with ``lengths`` the RNN never reads padded steps (a bidirectional layer starts its
    backward pass at each sequence's own last step), the logits at padded steps are zero and
    :meth:`loss` ignores them.

    Args:
        input_size: features per step reaching the RNN (the encoder's output size when ``encoder`` is
            set; e.g. ``encoder=nn.Embedding(vocab, 32)`` with ``input_size=32`` for token ids).
        num_tags: number of tags K.
        hidden_size, num_layers, cell, bidirectional, backend: of the recurrent layer.
        dropout: between recurrent layers and on the features before the linear layer.
        encoder: module applied to every step on its own (see :class:`SequenceBackbone`).
        rnn_options: extra keyword arguments for the recurrent layer(s) (cell options, regularisers,
            init), e.g. ``{"nonlinearity": "relu"}`` with ``cell="rnn"``.

    Example::

        model = SequenceTagger(32, num_tags=5, encoder=nn.Embedding(1000, 32), bidirectional=True)
        words = torch.randint(0, 1000, (8, 20))                 # 8 sentences, padded to 20
        lengths = torch.randint(5, 21, (8,))
        logits = model(words, lengths)                          # (8, 20, 5)
        loss = model.loss(words, gold_tags, lengths)            # mean over valid steps only
        tags = model.predict(words, lengths)                    # (8, 20), -100 at padding
    """

    def __init__(
        self,
        input_size: int,
        num_tags: int,
        hidden_size: int = 128,
        num_layers: int = 1,
        cell: str = "lstm",
        bidirectional: bool = False,
        dropout: float = 0.0,
        encoder: nn.Module | None = None,
        backend: str = "auto",
        *,
        rnn_options: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__()
        self.num_tags = check_positive_int("num_tags", num_tags)
        self.backbone = SequenceBackbone(
            input_size, hidden_size, num_layers, cell, bidirectional, dropout, encoder, backend, rnn_options
        )
        self.dropout = nn.Dropout(check_dropout(dropout))
        self.head = nn.Linear(self.backbone.output_size, num_tags)

    @property
    def rnn(self):
        return self.backbone.rnn

    def _logits(self, x: Tensor, lengths: object) -> tuple[Tensor, Tensor | None]:
        run = self.backbone(x, lengths)
        logits = self.head(self.dropout(run.output))  # (B, T, K)
        if run.mask is not None:
            logits = logits.masked_fill(~run.mask.unsqueeze(-1), 0.0)
        return logits, run.mask

    def forward(self, x: Tensor, lengths: object = None) -> Tensor:
        """Tag logits (B, T, K); zero at steps past ``lengths[b]``."""
        return self._logits(x, lengths)[0]

    def loss(self, x: Tensor, tags: Tensor, lengths: object = None) -> Tensor:
        """Mean cross-entropy over the valid steps. ``tags`` (B, T) integer; entries equal to -100 are
        ignored as well, so tags padded with -100 work with or without ``lengths``."""
        logits, mask = self._logits(x, lengths)  # (B, T, K), (B, T) | None
        if not isinstance(tags, Tensor):
            raise TypeError(f"tags must be a torch.Tensor of tag ids, got {type(tags).__name__}")
        if tags.is_floating_point() or tags.dtype == torch.bool:
            raise TypeError(f"tags must hold integer tag ids, got dtype {tags.dtype}")
        if tags.shape != logits.shape[:2]:
            raise ValueError(
                f"tags must have shape (batch, time) = {tuple(logits.shape[:2])}, got {tuple(tags.shape)}"
            )
        target = tags.long().to(logits.device)
        if mask is not None:
            target = target.masked_fill(~mask, IGNORE_INDEX)
        flat = target.reshape(-1)
        ok = (flat == IGNORE_INDEX) | ((flat >= 0) & (flat < self.num_tags))
        message = f"tags must be in [0, {self.num_tags}) or -100"
        check_values(ok, message, lambda: f", got {int(flat[~ok][0])}")
        return F.cross_entropy(logits.reshape(-1, self.num_tags), flat, ignore_index=IGNORE_INDEX)

    @torch.no_grad()
    def predict(self, x: Tensor, lengths: object = None) -> Tensor:
        """Most likely tag at every step, (B, T) long; -100 at padded steps."""
        logits, mask = self._logits(x, lengths)
        tags = logits.argmax(dim=-1)  # (B, T)
        return tags if mask is None else tags.masked_fill(~mask, IGNORE_INDEX)
