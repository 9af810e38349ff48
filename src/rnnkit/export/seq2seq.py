"""The exportable form of :class:`~rnnkit.models.Seq2Seq`: an encoder and ONE decoder step, the pieces
``greedy_decode`` and ``beam_search`` drive (``model.encode`` once, ``model.decode_step`` per token):

    encoder:       src (B, S)[, src_lengths (B,)] -> [memory (B, S, M), keys (B, S, A), mask (B, S),]
                   h (L, B, H)[, c (L, B, H)]                    (the decoder's initial state)
    decoder step:  token (B,), h[, c][, memory, keys, mask] -> logits (B, V), h_next[, c_next]

memory, keys and mask exist only with attention (without it the decoder reads the state alone). A
runtime decodes greedily by starting from ``token = BOS`` and feeding each step's argmax and new state
back (see :func:`rnnkit.export.runtime.onnx_greedy_decode`); a beam search reorders the batch rows of the
state between steps, as :func:`rnnkit.models.beam_search` does.

Shape legend: B = batch, S = source steps, M = memory size, A = attention size, L = layers,
H = hidden size, V = target vocabulary.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..models import Encoded, Seq2Seq
from ..models._common import as_tuple, like_state
from .part import BATCH, ExportPart, example_batch, random_lengths


class _Encoder(nn.Module):
    """``Seq2Seq.encode`` with its results as plain tensors; the mask is always given (all True without
    padding: the same attention weights as none)."""

    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model

    def _encode(self, src: Tensor, src_lengths: Tensor | None) -> tuple[Tensor, ...]:
        enc, state = self.model.encode(src, src_lengths)  # memory (B, S, M), state (L, B, H) each
        if enc.keys is None:
            return as_tuple(state)
        mask = torch.ones_like(src, dtype=torch.bool) if enc.mask is None else enc.mask  # (B, S)
        return (enc.memory, enc.keys, mask, *as_tuple(state))


class _EncoderSrc(_Encoder):
    def forward(self, src: Tensor) -> tuple[Tensor, ...]:
        return self._encode(src, None)


class _EncoderLengths(_Encoder):
    def forward(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, ...]:
        return self._encode(src, src_lengths)


class _Decoder(nn.Module):
    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model

    def _step(self, token: Tensor, state: tuple[Tensor, ...], enc: Encoded) -> tuple[Tensor, ...]:
        logits, new, _ = self.model.decode_step(token, like_state(state), enc)  # (B, V)
        return (logits, *as_tuple(new))


_NO_MEMORY = Encoded(torch.empty(0), None, None)  # never read without attention


class _DecoderH(_Decoder):
    def forward(self, token: Tensor, h: Tensor) -> tuple[Tensor, ...]:
        return self._step(token, (h,), _NO_MEMORY)


class _DecoderHC(_Decoder):
    def forward(self, token: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, ...]:
        return self._step(token, (h, c), _NO_MEMORY)


class _DecoderHAttn(_Decoder):
    def forward(
        self, token: Tensor, h: Tensor, memory: Tensor, keys: Tensor, mask: Tensor
    ) -> tuple[Tensor, ...]:
        return self._step(token, (h,), Encoded(memory, keys, mask))


class _DecoderHCAttn(_Decoder):
    def forward(
        self, token: Tensor, h: Tensor, c: Tensor, memory: Tensor, keys: Tensor, mask: Tensor
    ) -> tuple[Tensor, ...]:
        return self._step(token, (h, c), Encoded(memory, keys, mask))


def seq2seq_parts(model: Seq2Seq, *, steps: int, lengths: bool) -> list[ExportPart]:
    """The encoder and decoder-step parts of an encoder-decoder (``steps``: the example's S)."""
    names = model.encoder.spec.state_names
    if names not in (("h",), ("h", "c")):
        raise ValueError(f"the encoder-decoder's cell must carry the state h or (h, c), got {names}")
    attn = model.attention is not None
    enc_module = _EncoderLengths(model) if lengths else _EncoderSrc(model)
    memory_names = ("memory", "keys", "mask") if attn else ()
    device = model.out.weight.device

    def make_src(batch: int, s: int | None, gen: torch.Generator) -> tuple[Tensor, ...]:
        s = steps if s is None else s
        src = torch.randint(0, model.src_vocab, (batch, s), generator=gen).to(device)
        return (src, random_lengths(batch, s, gen).to(device)) if lengths else (src,)

    def make_step(batch: int, s: int | None, gen: torch.Generator) -> tuple[Tensor, ...]:
        """Decoder inputs from the PyTorch encoder on random sources (padding masked at random)."""
        src = make_src(batch, s, gen)
        with torch.no_grad():
            out = enc_module(*src)
            state = tuple(
                x + 0.1 * torch.randn(x.shape, generator=gen).to(x) for x in out[len(memory_names) :]
            )
            token = torch.randint(0, model.tgt_vocab, (batch,), generator=gen).to(device)
            if not attn:
                return (token, *state)
            mask = (
                torch.arange(src[0].size(1)).unsqueeze(0)
                < random_lengths(batch, src[0].size(1), gen)[:, None]
            )
            mask = mask.to(device)
            memory = out[0] * mask.unsqueeze(-1)  # (B, S, M): zero past each source's end, as encode gives
            return (token, *state, memory, model.attention.keys(memory), mask)

    B = example_batch(steps)
    docs = {
        "src": "source token ids, int64 in [0, V_src) (B, S)",
        "src_lengths": "valid tokens of each source, int64 in [1, S] (B,)",
        "memory": "encoder outputs, zero past each source's end (B, S, M)",
        "keys": "the attention's precomputed keys (B, S, A)",
        "mask": "True at valid source positions (B, S)",
        "token": "previous target token: BOS at the first step, then the last one chosen (B,)",
        "logits": "next-token logits (B, V); argmax = greedy decoding",
    }
    for n in names:
        docs[n] = f"decoder {n} state (L={model.num_layers}, B, H): the encoder's, then the last step's"
        docs[f"{n}_next"] = f"decoder {n} state after this step: feed it back as {n}"
    source_axes = {n: {0: BATCH, 1: "source"} for n in ("memory", "keys")} | {"mask": {0: BATCH, 1: "source"}}
    encoder = ExportPart(
        name="encoder",
        module=enc_module.eval(),
        inputs=("src", "src_lengths") if lengths else ("src",),
        outputs=(*memory_names, *names),
        example=make_src(B, steps, torch.Generator().manual_seed(0)),
        axes={"src": {0: BATCH, 1: "source"}, **({"src_lengths": {0: BATCH}} if lengths else {})},
        docs=docs,
        make_inputs=make_src,
    )
    dec_cls = {
        (1, False): _DecoderH,
        (2, False): _DecoderHC,
        (1, True): _DecoderHAttn,
        (2, True): _DecoderHCAttn,
    }
    decoder = ExportPart(
        name="decoder",
        module=dec_cls[(len(names), attn)](model).eval(),
        inputs=("token", *names, *memory_names),
        outputs=("logits", *(f"{n}_next" for n in names)),
        example=make_step(B, steps, torch.Generator().manual_seed(2)),
        axes={"token": {0: BATCH}, **{n: {1: BATCH} for n in names}, **(source_axes if attn else {})},
        docs=docs,
        make_inputs=make_step,
    )
    return [encoder, decoder]
