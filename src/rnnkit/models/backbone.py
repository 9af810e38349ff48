"""The part every sequence model shares: an optional per-step encoder, then a recurrent layer of any
registered cell, padding-aware through ``lengths``.

Shape legend: B = batch, T = time steps, E = per-step feature size (``input_size``), H = hidden size,
D = directions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .._checks import check_dropout, check_float_tensor, check_positive_int
from ._common import StateLike, batch_lengths, make_rnn, step_mask


@dataclass
class BackboneOutput:
    """What :class:`SequenceBackbone` computed.

    Attributes:
        output: top-layer hidden state at every step, (B, T, D*H); zero at padded steps.
        state: final state of every layer and direction, ``h`` or ``(h, c)``, each (L*D, B, H), taken at
            each sequence's own last valid step.
        lengths: (B,) CPU int64 lengths, or None when every sequence has T steps.
        mask: (B, T) bool on the output's device, True at valid steps; None without lengths.
    """

    output: Tensor
    state: StateLike
    lengths: Tensor | None
    mask: Tensor | None


class SequenceBackbone(nn.Module):
    """Optional per-step ``encoder`` → recurrent layer (batch-first).

    Args:
        input_size: features per step that reach the recurrent layer (the encoder's output size when
            an encoder is given).
        hidden_size, num_layers, cell, bidirectional, backend: of the recurrent layer.
        dropout: between recurrent layers (only when ``num_layers > 1``).
        encoder: module applied to every step on its own: the input (B, T, *step_shape) is reshaped to
            (B*T, *step_shape), encoded to (B*T, input_size) and reshaped back to (B, T, input_size).
            Without an encoder the input must be float (B, T, input_size).
        rnn_options: extra keyword arguments of the recurrent layer (cell options, regularisers, init).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        cell: str = "lstm",
        bidirectional: bool = False,
        dropout: float = 0.0,
        encoder: nn.Module | None = None,
        backend: str = "auto",
        rnn_options: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__()
        self.input_size = check_positive_int("input_size", input_size)
        if encoder is not None and not isinstance(encoder, nn.Module):
            raise TypeError(f"encoder must be a torch.nn.Module or None, got {type(encoder).__name__}")
        self.encoder = encoder
        self.rnn = make_rnn(
            cell,
            input_size,
            hidden_size,
            num_layers,
            check_dropout(dropout),
            bidirectional,
            backend,
            rnn_options,
        )
        self.num_directions = 2 if bidirectional else 1
        self.output_size = self.num_directions * hidden_size

    def encode_steps(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Apply the per-step encoder (if any) and check the result: (B, T, ...) -> (B, T, E).

        With a (B, T) ``mask`` the encoder sees only the valid steps (no wasted work on padding, and
        no padding in a BatchNorm's statistics); padded steps get zero features."""
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if self.encoder is None:
            check_float_tensor("x", x)
            if x.dim() != 3 or x.size(-1) != self.input_size:
                raise ValueError(
                    f"x must have shape (batch, time, input_size={self.input_size}), got {tuple(x.shape)}"
                )
            return x
        B, T = x.shape[:2]
        if mask is not None and torch.compiler.is_compiling():
            return self._encode_all_steps(x, mask)
        steps = x.reshape(B * T, *x.shape[2:]) if mask is None else x[mask.to(x.device)]  # (N, ...)
        feats = self._encoded(steps)  # (N, E)
        if mask is None:
            return feats.view(B, T, self.input_size)  # (B, T, E)
        out = feats.new_zeros(B, T, self.input_size)
        out[mask.to(out.device)] = feats
        return out  # (B, T, E)

    def _encoded(self, steps: Tensor) -> Tensor:
        """The encoder on (N, ...) steps, checked to give (N, E)."""
        feats = self.encoder(steps)  # (N, E)
        if not isinstance(feats, Tensor) or feats.dim() != 2 or feats.size(-1) != self.input_size:
            got = tuple(feats.shape) if isinstance(feats, Tensor) else type(feats).__name__
            raise ValueError(
                f"encoder must map each step to a vector of input_size={self.input_size} features, "
                f"i.e. (steps, {self.input_size}) = ({steps.size(0)}, {self.input_size}), got {got}"
            )
        return feats

    def _encode_all_steps(self, x: Tensor, mask: Tensor) -> Tensor:
        """Under ``torch.compile``: picking the valid steps (``x[mask]``) has a data-dependent size and
        would break the graph, so the encoder sees all T steps, each padded one replaced by the
        sequence's first step (valid: lengths >= 1; padding may hold anything — an out-of-range token
        id, NaN — that must reach neither the encoder nor the gradients), and their features are zeroed
        after. The same numbers for an encoder that treats each step on its own — any but one with batch
        statistics in training (BatchNorm), whose statistics would change: that raises."""
        batch_stats = [
            type(m).__name__
            for m in self.encoder.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training
        ]
        if batch_stats:
            raise ValueError(
                f"encoder has batch statistics in training mode ({batch_stats[0]}): under torch.compile it "
                "would see the padded steps with lengths; compile it in eval mode, or without lengths"
            )
        B, T = x.shape[:2]
        valid = mask.to(x.device).view(B, T, *([1] * (x.dim() - 2)))  # (B, T, 1, …)
        x = torch.where(valid, x, x[:, :1])  # (B, T, ...): padded steps hold step 0
        feats = self._encoded(x.reshape(B * T, *x.shape[2:])).view(B, T, self.input_size)  # (B, T, E)
        return torch.where(mask.to(feats.device).unsqueeze(-1), feats, 0.0)  # (B, T, E)

    def forward(self, x: Tensor, lengths: object = None, hx: StateLike | None = None) -> BackboneOutput:
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() < 2:
            raise ValueError(f"x must be (batch, time, ...), got shape {tuple(x.shape)}")
        B, T = x.shape[:2]
        lens = batch_lengths(lengths, B, T)  # None when nothing is padded
        mask = step_mask(lens, T, x.device)  # (B, T) | None
        feats = self.encode_steps(x, mask)  # (B, T, E)
        out, state = self.rnn(feats, hx, lengths=lens)  # (B, T, D*H)
        return BackboneOutput(out, state, lens, None if mask is None else mask.to(out.device))
