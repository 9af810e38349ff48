"""One-to-many: a language model over any integer vocabulary (characters, words, musical events) that
generates by streaming, carrying the recurrent state from token to token.

Shape legend: B = batch, T = time steps, P = prime length, E = embedding size, H = hidden size,
L = layers, V = vocabulary size.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_dropout, check_int_range, check_positive_int, check_tokens
from ._common import StateLike, make_rnn, map_state
from .sampling import SamplingConfig, make_rng, sample_next

Prime = Sequence[int] | Sequence[Sequence[int]] | Tensor


class TokenStream:
    """An iterator over generated tokens (ints for one sample, (B,) tensors for a batch).

    Attributes:
        state: the recurrent state that has read everything BEFORE the last token yielded so far (None
            before the first). To continue later: ``model.generate([last_token], steps, state=stream.state)``.
        logits: the logits (B, V) the last token was drawn from.
    """

    def __init__(self, rollout: Iterator[tuple[Tensor, Tensor, StateLike]], batched: bool) -> None:
        self._rollout = rollout
        self._batched = batched
        self.state: StateLike | None = None
        self.logits: Tensor | None = None

    def __iter__(self) -> TokenStream:
        return self

    def __next__(self) -> int | Tensor:
        token, self.logits, self.state = next(self._rollout)
        return token if self._batched else int(token[0])

    def close(self) -> None:
        self._rollout.close()


class Generator(nn.Module):
    """Embedding → RNN → linear → next-token logits; streaming generation with carried state.

    Args:
        vocab_size: V, number of token ids (characters, words, MIDI/music events …).
        embed_dim: E, embedding size.
        hidden_size, num_layers, cell, backend: of the recurrent layer (any registered cell).
        dropout: on the embeddings, between recurrent layers and before the output layer.
        tie_weights: share the embedding matrix with the output layer (needs embed_dim == hidden_size).
        rnn_options: extra keyword arguments for the recurrent layer(s) (cell options, regularisers,
            init), e.g. ``{"nonlinearity": "relu"}`` with ``cell="rnn"``.

    Generation runs in the module's current mode: call ``model.eval()`` first to switch dropout off.

    Example::

        model = Generator(vocab_size=96, hidden_size=256).eval()
        logits, state = model(tokens)                           # tokens (B, T) -> (B, T, 96)
        for tok in model.generate([17, 4, 52], steps=200, temperature=0.8, seed=0):
            print(itos[tok], end="", flush=True)                # one token at a time
        batch = model.sample([17, 4, 52], steps=50, num_samples=4, top_p=0.9)   # (4, 50)
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 64,
        hidden_size: int = 256,
        num_layers: int = 2,
        cell: str = "lstm",
        dropout: float = 0.0,
        tie_weights: bool = False,
        backend: str = "auto",
        *,
        rnn_options: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__()
        self.vocab_size = check_positive_int("vocab_size", vocab_size)
        self.embed_dim = check_positive_int("embed_dim", embed_dim)
        if tie_weights and embed_dim != hidden_size:
            raise ValueError(
                f"tie_weights=True needs embed_dim == hidden_size, got embed_dim={embed_dim}, "
                f"hidden_size={hidden_size}"
            )
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.rnn = make_rnn(
            cell, embed_dim, hidden_size, num_layers, check_dropout(dropout), False, backend, rnn_options
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)
        if tie_weights:
            self.head.weight = self.embedding.weight
        self.tie_weights = bool(tie_weights)

    def init_state(self, batch: int) -> StateLike:
        """Zero state for ``batch`` sequences: ``h`` or ``(h, c)``, each (L, B, H)."""
        check_positive_int("batch", batch)
        w = self.head.bias
        shape = (self.rnn.num_layers, batch, self.rnn.hidden_size)
        parts = tuple(w.new_zeros(shape) for _ in self.rnn.spec.state_names)
        return parts[0] if len(parts) == 1 else parts

    def forward(
        self, tokens: Tensor, state: StateLike | None = None, lengths: object = None
    ) -> tuple[Tensor, StateLike]:
        """Logits (B, T, V) for token ids (B, T) and the state after each sequence's last valid step.

        Pass the returned state back in to continue a stream (truncated BPTT: detach it first).
        Logits past ``lengths[b]`` are the output layer's bias; mask them in the loss.
        """
        x = check_tokens("tokens", tokens, self.vocab_size, dims=(2,))
        emb = self.dropout(self.embedding(x))  # (B, T, E)
        out, state = self.rnn(emb, state, lengths=lengths)  # (B, T, H)
        return self.head(self.dropout(out)), state  # (B, T, V)

    def _step(self, token: Tensor, state: StateLike) -> tuple[Tensor, StateLike]:
        """One new token per sequence (B,) → logits (B, V) and the new state; nothing is recomputed.

        Generation calls this once per token, so without active dropout it skips the module calls
        (the same operations, microseconds less) and the recurrent step runs on the layer's
        step plan (``RecurrentLayer.step``: one native call on weights packed once)."""
        if self.training and self.dropout.p > 0:
            out, state = self.rnn.step(self.dropout(self.embedding(token)), state)  # (B, H)
            return self.head(self.dropout(out)), state  # (B, V)
        out, state = self.rnn.step(self.embedding(token), state)  # (B, H)
        return F.linear(out, self.head.weight, self.head.bias), state  # (B, V)

    # -- generation ----------------------------------------------------------------------------------
    def _prime_batch(self, prime: Prime, num_samples: int | None) -> tuple[Tensor, Tensor | None, bool]:
        """(B, P) long ids, their (B,) lengths (None if all equal), and whether the caller batched."""
        device = self.head.bias.device
        if isinstance(prime, Tensor):
            ids = check_tokens("prime", prime, self.vocab_size, dims=(1, 2)).to(device)
            lengths = None
        elif isinstance(prime, Sequence) and not isinstance(prime, str) and len(prime) > 0:
            nested = all(isinstance(p, Sequence) and not isinstance(p, str) for p in prime)
            rows = [list(p) for p in prime] if nested else [list(prime)]
            if any(len(r) == 0 for r in rows):
                raise ValueError("prime must not contain an empty sequence (every sample needs a token)")
            if not all(isinstance(v, int) and not isinstance(v, bool) for r in rows for v in r):
                raise TypeError(f"prime must hold int token ids, got {prime!r:.80}")
            P = max(len(r) for r in rows)
            lengths = torch.tensor([len(r) for r in rows])
            lengths = None if bool((lengths == P).all()) else lengths
            padded = torch.tensor([r + [0] * (P - len(r)) for r in rows], device=device)
            ids = check_tokens("prime", padded if nested else padded[0], self.vocab_size, dims=(1, 2))
        else:
            got = "an empty sequence" if isinstance(prime, Sequence) else type(prime).__name__
            raise TypeError(
                "prime must be a non-empty list of token ids, a list of such lists, or a 1-D/2-D integer "
                f"tensor, got {got}"
            )
        batched = ids.dim() == 2
        if num_samples is not None:
            check_positive_int("num_samples", num_samples)
            if batched:
                raise ValueError("num_samples needs a single prime (1-D); a batch of primes sets the batch")
            ids, batched = ids.unsqueeze(0).expand(num_samples, -1), True
        return (ids if ids.dim() == 2 else ids.unsqueeze(0)), lengths, batched

    def generate(
        self,
        prime: Prime,
        steps: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        *,
        num_samples: int | None = None,
        eos: int | None = None,
        state: StateLike | None = None,
    ) -> TokenStream:
        """Stream ``steps`` new tokens after ``prime``, one at a time (a :class:`TokenStream`).

        The prime is run once (one forward over it); every new token then advances the network by ONE
        step from the carried state (``RecurrentLayer.step``) — the prefix is never recomputed.

        Args:
            prime: token ids to start from: a list of ints or 1-D tensor (one sample; yields ints), or a
                list of lists (lengths may differ) or a 2-D tensor (a batch; yields (B,) tensors).
            steps: number of tokens to generate.
            temperature: 0 = argmax (deterministic); < 1 sharper, > 1 flatter.
            top_k, top_p: restrict sampling to the k most likely tokens / the nucleus of mass p.
            seed: seeds a private ``torch.Generator``: same seed, same tokens; the global RNG is untouched.
            num_samples: draw this many samples at once from a single prime (yields (num_samples,) tensors).
            eos: stop when every sample has produced this id (samples already done repeat it).
            state: state to continue from (e.g. returned by ``forward``); zeros when None.
        """
        config = SamplingConfig(temperature, top_k, top_p)
        check_int_range("steps", steps, 0)
        if eos is not None:
            check_int_range("eos", eos, 0, self.vocab_size)
        ids, lengths, batched = self._prime_batch(prime, num_samples)
        rng = make_rng(seed, ids.device)
        return TokenStream(self._rollout(ids, lengths, steps, config, rng, eos, state), batched)

    def sample(self, prime: Prime, steps: int, *args: object, **kwargs: object) -> list[int] | Tensor:
        """:meth:`generate` run to the end: a list of ints for one prime, else a (B, n) long tensor."""
        out = list(self.generate(prime, steps, *args, **kwargs))
        if not out or isinstance(out[0], int):
            return out
        return torch.stack(out, dim=1)  # (B, n)

    @torch.no_grad()
    def _rollout(
        self,
        ids: Tensor,
        lengths: Tensor | None,
        steps: int,
        config: SamplingConfig,
        rng: torch.Generator | None,
        eos: int | None,
        state: StateLike | None,
    ) -> Iterator[tuple[Tensor, Tensor, StateLike]]:
        """Yield, for each new step, the token (B,), the logits (B, V) it was drawn from and the state
        that produced those logits (it has not read the token yet)."""
        logits, state = self.forward(ids, state, lengths)  # (B, P, V)
        if lengths is None:
            last = logits[:, -1]  # (B, V)
        else:
            idx = (lengths - 1).to(logits.device).view(-1, 1, 1).expand(-1, 1, logits.size(-1))
            last = logits.gather(1, idx).squeeze(1)  # (B, V)
        done = torch.zeros(ids.size(0), dtype=torch.bool, device=ids.device)
        for i in range(steps):
            token = sample_next(last, config, rng)  # (B,)
            if eos is not None:
                token = token.masked_fill(done, eos)
                done = done | (token == eos)
            yield token, last, state
            if i == steps - 1 or bool(done.all()):
                return
            last, state = self._step(token, state)

    def detach_state(self, state: StateLike) -> StateLike:
        """The state cut from the graph (for truncated BPTT across chunks)."""
        return map_state(lambda s: s.detach(), state)
