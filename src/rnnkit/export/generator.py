"""The exportable form of :class:`~rnnkit.models.Generator`: ONE generation step with the recurrent state
as inputs and outputs — ``Generator._step`` itself — so a runtime without Python loops token by token
and carries the state, exactly as ``Generator.generate`` does:

    (token (B,), h (L, B, H)[, c (L, B, H)]) -> (logits (B, V), h_next[, c_next])

A prime is fed one token at a time from the zero state (the same math as the model's forward over the
prime); the next token is then drawn from ``logits`` (argmax for temperature 0).

Shape legend: B = batch, L = layers, H = hidden size, V = vocabulary size.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..models import Generator
from .part import BATCH, ExportPart, example_batch


class _StepH(nn.Module):
    def __init__(self, model: Generator) -> None:
        super().__init__()
        self.model = model

    def forward(self, token: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        logits, state = self.model._step(token, h)  # (B, V), (L, B, H)
        return logits, state


class _StepHC(_StepH):
    def forward(self, token: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        logits, (h, c) = self.model._step(token, (h, c))  # (B, V), (L, B, H) each
        return logits, h, c


def state_shapes(model: Generator) -> dict[str, tuple[int, int]]:
    """State name -> (L, size) of each state tensor (the batch goes in between)."""
    rnn = model.rnn
    sizes = {"h": rnn.proj_size or rnn.hidden_size, "c": rnn.hidden_size}
    return {n: (rnn.num_layers, sizes[n]) for n in rnn.spec.state_names}


def generator_part(model: Generator) -> ExportPart:
    """The single-step part of a generator."""
    if not isinstance(model, Generator):
        raise TypeError(f"model must be a rnnkit.models.Generator, got {type(model).__name__}")
    names = model.rnn.spec.state_names
    if names not in (("h",), ("h", "c")):
        raise ValueError(f"the generator's cell must carry the state h or (h, c), got {names}")
    p = model.head.weight
    shapes = state_shapes(model)

    def make_inputs(batch: int, _steps: int | None, gen: torch.Generator) -> tuple[Tensor, ...]:
        token = torch.randint(0, model.vocab_size, (batch,), generator=gen).to(p.device)
        state = tuple(
            (0.5 * torch.randn(L, batch, size, generator=gen)).to(p.device, p.dtype)
            for L, size in shapes.values()
        )
        return (token, *state)

    docs = {
        "token": "the last token of each sequence, int64 in [0, V) (B,)",
        "logits": "next-token logits (B, V); argmax = temperature 0",
    }
    for n, (L, size) in shapes.items():
        docs[n] = f"{n} state after the previous tokens, zeros at the start (L={L}, B, {size})"
        docs[f"{n}_next"] = f"{n} state after reading token: feed it back as {n}"
    module = (_StepHC if len(names) == 2 else _StepH)(model)
    return ExportPart(
        name="step",
        module=module.eval(),
        inputs=("token", *names),
        outputs=("logits", *(f"{n}_next" for n in names)),
        example=make_inputs(example_batch(None), None, torch.Generator().manual_seed(0)),
        axes={"token": {0: BATCH}, **{n: {1: BATCH} for n in names}},
        docs=docs,
        make_inputs=make_inputs,
    )
