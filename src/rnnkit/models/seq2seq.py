"""Encoder-decoder (sequence to sequence): the Smart Compose shape — read a source sequence, write a
target sequence, optionally attending to the source at every output step.

Shape legend: B = batch, S = source steps, T = target steps, E = embedding size, H = hidden size,
L = layers, M = memory size (D_enc * H), V = target vocabulary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_choice, check_dropout, check_positive_int, check_tokens
from ._common import StateLike, as_tuple, batch_lengths, like_state, make_rnn, step_mask
from .attention import BahdanauAttention, LuongAttention
from .beam import Hypothesis, beam_search
from .decoding import check_decoding, greedy_decode, prefix_tensor

ATTENTIONS = (None, "luong", "bahdanau")


@dataclass
class Encoded:
    """The encoder's result, what every decoder step reads.

    Attributes:
        memory: encoder outputs (B, S, M), zero at padded steps.
        keys: the attention's precomputed keys (B, S, ·), or None without attention.
        mask: (B, S) bool, True at valid source steps; None when none is padded.
    """

    memory: Tensor
    keys: Tensor | None
    mask: Tensor | None

    def index_select(self, index: Tensor) -> Encoded:
        """Pick / repeat batch entries (beam expansion and reordering)."""
        pick = lambda t: None if t is None else t.index_select(0, index)  # noqa: E731
        return Encoded(pick(self.memory), pick(self.keys), pick(self.mask))


class TiedReadout(nn.Module):
    """Output layer sharing the weights of an embedding: logits = E (W_p x) + b (E: (V, E) embedding,
    W_p: (E, H) projection, b: (V,)). ``weight`` is the embedding's matrix."""

    def __init__(self, embedding: nn.Embedding, in_features: int) -> None:
        super().__init__()
        self.embedding = embedding
        self.proj = nn.Linear(in_features, embedding.embedding_dim)
        self.bias = nn.Parameter(torch.zeros(embedding.num_embeddings))

    @property
    def weight(self) -> Tensor:
        return self.embedding.weight

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(self.proj(x), self.embedding.weight, self.bias)  # (…, V)


class Seq2Seq(nn.Module):
    """Embedding → encoder RNN → decoder RNN (initialised from the encoder's final state) → logits.

    Decoder step t (y = previous target token, s = decoder state, m = encoder outputs):

        no attention:  h_t = RNN(emb(y), s);                               logits = W_o h_t
        "luong":       h_t = RNN(emb(y), s);  c_t = attn(h_t, m);          logits = W_o tanh(W_c [h_t; c_t])
        "bahdanau":    c_t = attn(s_top, m);  h_t = RNN([emb(y); c_t], s);  logits = W_o tanh(W_c [h_t; c_t])

    Source padding is handled with ``src_lengths``: the encoder stops at each sentence's own end (its
    final state is taken there) and attention gives padded positions zero weight. With a bidirectional
    encoder, the two directions' final states are joined per layer by a learned bridge
    (h: tanh(W [h_fwd; h_bwd]); c: linear).

    Args:
        src_vocab, tgt_vocab: vocabulary sizes.
        embed_dim, hidden_size, num_layers, cell, backend: shared by encoder and decoder (any cell).
        attention: None, ``"luong"`` or ``"bahdanau"``.
        dropout: on embeddings, between layers and before the output layer.
        luong_score: ``"general"`` (qᵀ W_a m) or ``"dot"`` (qᵀ m).
        bidirectional_encoder: read the source in both directions.
        share_embeddings: one embedding for source and target (needs src_vocab == tgt_vocab).
        tie_embeddings: the output layer reuses the target embedding (logits = E W_p feat + b, with W_p
            projecting the hidden size to the embedding size): fewer weights, a cheaper output layer.
        rnn_options: extra keyword arguments for the recurrent layer(s) (cell options, regularisers,
            init), e.g. ``{"nonlinearity": "relu"}`` with ``cell="rnn"``.

    Example::

        model = Seq2Seq(src_vocab=5000, tgt_vocab=5000, embed_dim=64, hidden_size=128, attention="luong")
        logits = model(src, src_lengths, tgt_in)                 # (B, T, 5000); tgt_in starts with BOS
        loss = F.cross_entropy(logits.transpose(1, 2), tgt_out, ignore_index=PAD)
        model.greedy(src, src_lengths, max_len=20, bos=1, eos=2)            # [[ids…], …]
        model.beam_search(src, src_lengths, beam_size=4, max_len=20, bos=1, eos=2)[0][0].tokens
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        embed_dim: int = 64,
        hidden_size: int = 128,
        num_layers: int = 1,
        cell: str = "lstm",
        attention: str | None = None,
        dropout: float = 0.0,
        *,
        luong_score: str = "general",
        bidirectional_encoder: bool = False,
        share_embeddings: bool = False,
        tie_embeddings: bool = False,
        backend: str = "auto",
        rnn_options: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__()
        self.src_vocab = check_positive_int("src_vocab", src_vocab)
        self.tgt_vocab = check_positive_int("tgt_vocab", tgt_vocab)
        check_positive_int("embed_dim", embed_dim)
        self.attention_kind = check_choice("attention", attention, ATTENTIONS)
        dropout = check_dropout(dropout)
        if share_embeddings and src_vocab != tgt_vocab:
            raise ValueError(
                f"share_embeddings=True needs src_vocab == tgt_vocab, got {src_vocab} and {tgt_vocab}"
            )
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.src_embedding = nn.Embedding(src_vocab, embed_dim)
        self.tgt_embedding = self.src_embedding if share_embeddings else nn.Embedding(tgt_vocab, embed_dim)
        self.encoder = make_rnn(
            cell, embed_dim, hidden_size, num_layers, dropout, bidirectional_encoder, backend
        )
        D = 2 if bidirectional_encoder else 1
        M = D * hidden_size
        self.memory_size = M
        n_states = len(self.encoder.spec.state_names)
        self.bridge = (
            nn.ModuleList(nn.Linear(2 * hidden_size, hidden_size) for _ in range(n_states))
            if D == 2
            else None
        )
        if attention == "luong":
            self.attention = LuongAttention(hidden_size, M, luong_score)
        elif attention == "bahdanau":
            self.attention = BahdanauAttention(hidden_size, M)
        else:
            self.attention = None
        dec_in = embed_dim + (M if attention == "bahdanau" else 0)
        self.decoder = make_rnn(cell, dec_in, hidden_size, num_layers, dropout, False, backend, rnn_options)
        self.combine = nn.Linear(hidden_size + M, hidden_size) if attention else None
        self.dropout = nn.Dropout(dropout)
        if not isinstance(tie_embeddings, bool):
            raise ValueError(f"tie_embeddings must be True or False, got {tie_embeddings!r}")
        self.out = (
            TiedReadout(self.tgt_embedding, hidden_size)
            if tie_embeddings
            else nn.Linear(hidden_size, tgt_vocab)
        )

    # -- encoder -----------------------------------------------------------------------------------
    def encode(self, src: Tensor, src_lengths: object = None) -> tuple[Encoded, StateLike]:
        """Source ids (B, S) → what the decoder reads, and the decoder's initial state (L, B, H)."""
        src = check_tokens("src", src, self.src_vocab, dims=(2,)).to(self.out.weight.device)
        B, S = src.shape
        lens = batch_lengths(src_lengths, B, S)  # None when nothing is padded
        memory, state = self.encoder(self.dropout(self.src_embedding(src)), lengths=lens)  # (B, S, M)
        if self.bridge is not None:
            L, H = self.num_layers, self.encoder.hidden_size
            parts = []
            for k, (part, proj) in enumerate(zip(as_tuple(state), self.bridge, strict=True)):
                both = part.view(L, 2, B, H).transpose(1, 2).reshape(L, B, 2 * H)  # (L, B, 2H)
                parts.append(torch.tanh(proj(both)) if k == 0 else proj(both))  # (L, B, H)
            state = like_state(parts)
        keys = None if self.attention is None else self.attention.keys(memory)
        return Encoded(memory, keys, step_mask(lens, S, memory.device)), state

    # -- decoder -----------------------------------------------------------------------------------
    def _readout(self, h: Tensor, context: Tensor | None) -> Tensor:
        feat = h if context is None else torch.tanh(self.combine(torch.cat([h, context], dim=-1)))
        return self.out(self.dropout(feat))  # (…, V)

    def decode_step(
        self, token: Tensor, state: StateLike, enc: Encoded
    ) -> tuple[Tensor, StateLike, Tensor | None]:
        """One decoder step from the carried state: previous tokens (B,) → logits (B, V), the new state,
        and the attention weights (B, S) (None without attention)."""
        emb = self.dropout(self.tgt_embedding(token))  # (B, E)
        weights = context = None
        if self.attention_kind == "bahdanau":
            query = as_tuple(state)[0][-1]  # top layer's previous hidden state (B, H)
            context, weights = self.attention(query, enc.keys, enc.memory, enc.mask)  # (B, M), (B, S)
            h, state = self.decoder.step(torch.cat([emb, context], dim=-1), state)  # (B, H)
        else:
            h, state = self.decoder.step(emb, state)  # (B, H)
            if self.attention is not None:
                context, weights = self.attention(h, enc.keys, enc.memory, enc.mask)
        return self._readout(h, context), state, weights

    def forward(
        self,
        src: Tensor,
        src_lengths: object,
        tgt_in: Tensor,
        teacher_forcing_ratio: float = 1.0,
        *,
        return_attention: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor | None]:
        """Logits (B, T, V) for the decoder inputs ``tgt_in`` (B, T) (BOS followed by the target but its
        last token). With ``teacher_forcing_ratio`` < 1 each step after the first feeds, per sentence and
        with that probability, the gold token, else the model's own previous argmax. With
        ``return_attention`` also the weights (B, T, S) (None without attention)."""
        r = teacher_forcing_ratio
        if isinstance(r, bool) or not isinstance(r, int | float) or not 0 <= r <= 1:
            raise ValueError(f"teacher_forcing_ratio must be a number in [0, 1], got {r!r}")
        tgt = check_tokens("tgt_in", tgt_in, self.tgt_vocab, dims=(2,))
        enc, state = self.encode(src, src_lengths)
        tgt = tgt.to(enc.memory.device)
        if tgt.size(0) != enc.memory.size(0):
            raise ValueError(f"tgt_in must have batch size {enc.memory.size(0)} (as src), got {tgt.size(0)}")
        if r == 1 and self.attention_kind != "bahdanau":  # all steps at once: one scan + batched attention
            h, _ = self.decoder(self.dropout(self.tgt_embedding(tgt)), state)  # (B, T, H)
            context = weights = None
            if self.attention is not None:
                context, weights = self.attention(h, enc.keys, enc.memory, enc.mask)  # (B, T, M), (B, T, S)
            logits = self._readout(h, context)
            return (logits, weights) if return_attention else logits
        return self._forward_stepwise(tgt, enc, state, r, return_attention)

    def _forward_stepwise(
        self, tgt: Tensor, enc: Encoded, state: StateLike, ratio: float, return_attention: bool
    ):
        logits, weights = [], []
        token = tgt[:, 0]  # (B,)
        for t in range(tgt.size(1)):
            if t > 0 and ratio < 1:
                gold = torch.rand(tgt.size(0), device=tgt.device) < ratio
                token = torch.where(gold, tgt[:, t], logits[-1].detach().argmax(-1))
            elif t > 0:
                token = tgt[:, t]
            step_logits, state, w = self.decode_step(token, state, enc)
            logits.append(step_logits)
            weights.append(w)
        out = torch.stack(logits, dim=1)  # (B, T, V)
        if not return_attention:
            return out
        return out, (None if self.attention is None else torch.stack(weights, dim=1))

    # -- decoding (carried state, see decoding.py and beam.py) ------------------------------------
    def greedy(
        self,
        src: Tensor,
        src_lengths: object,
        max_len: int,
        bos: int,
        eos: int,
        prefix: list[list[int]] | None = None,
    ) -> list[list[int]]:
        """Argmax decoding, batched, carrying the decoder state. Returns each sentence's generated ids
        (BOS excluded; ends with EOS unless ``max_len`` was reached first).

        ``prefix``: per sentence, tokens the output must start with (what the user typed so far, for
        Smart-Compose-style completion); they are included in the returned ids and count in ``max_len``.
        """
        return greedy_decode(self, src, src_lengths, max_len, bos, eos, prefix)

    def beam_search(
        self,
        src: Tensor,
        src_lengths: object,
        beam_size: int,
        max_len: int,
        bos: int,
        eos: int,
        length_penalty: float = 0.6,
        n_best: int | None = None,
        early_stopping: bool = True,
        prefix: list[list[int]] | None = None,
    ) -> list[list[Hypothesis]]:
        """Beam search with GNMT length normalisation; see :func:`rnnkit.models.beam.beam_search`.
        ``prefix`` as in :meth:`greedy`."""
        check_decoding(max_len, bos, eos, self.tgt_vocab)
        src = check_tokens("src", src, self.src_vocab, dims=(2,))
        forced = prefix_tensor(prefix, src.size(0), max_len, self.tgt_vocab, self.out.weight.device)
        return beam_search(
            self,
            src,
            src_lengths,
            beam_size,
            max_len,
            bos,
            eos,
            length_penalty,
            n_best,
            early_stopping,
            forced,
        )

    def sequence_log_prob(self, src: Tensor, src_lengths: object, tgt: list[list[int]], bos: int) -> Tensor:
        """Sum of log p(token) of each target sentence (ids after BOS), teacher forced: (B,)."""
        if not isinstance(tgt, list) or not tgt or any(not isinstance(t, list) or not t for t in tgt):
            raise TypeError("tgt must be a non-empty list of non-empty lists of token ids")
        B = len(tgt)
        T = max(len(t) for t in tgt)
        device = self.out.weight.device
        tgt_in = torch.full((B, T), bos, dtype=torch.long, device=device)
        tgt_out = torch.full((B, T), -100, dtype=torch.long, device=device)
        for b, row in enumerate(tgt):
            tgt_in[b, 1 : len(row)] = torch.tensor(row[:-1], dtype=torch.long)
            tgt_out[b, : len(row)] = torch.tensor(row, dtype=torch.long)
        logits = self.forward(src, src_lengths, tgt_in)  # (B, T, V)
        nll = F.cross_entropy(logits.transpose(1, 2), tgt_out, ignore_index=-100, reduction="none")
        return -nll.sum(dim=1)
