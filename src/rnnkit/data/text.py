"""Character-level text: a vocabulary, a user's text file with a held-out tail, and char-rnn batching.

:class:`CharStream` lays the corpus out as B parallel streams (stream b reads the b-th contiguous
slice) and yields consecutive chunks of T characters from all of them, so the recurrent state at the
end of one chunk is the right start for the next one (truncated back-propagation through time, as in
Karpathy's char-rnn). Each training epoch starts at a random offset in [0, T) drawn from
``(seed, epoch)``, so chunk boundaries move between epochs while the order stays reproducible.

Shape legend: B = streams (batch), T = characters per chunk, N = characters in the corpus.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import Tensor

from .._batches import epoch_seed
from .files import read_text


class CharVocab:
    """Characters <-> ids (sorted by code point)."""

    def __init__(self, chars: Sequence[str]) -> None:
        chars = list(chars)
        if not chars or any(not isinstance(c, str) or len(c) != 1 for c in chars):
            raise ValueError("chars must be a non-empty list of single characters")
        if len(set(chars)) != len(chars):
            raise ValueError("chars must not repeat")
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, *texts: str) -> CharVocab:
        return cls(sorted(set().union(*map(set, texts))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str, name: str = "text") -> Tensor:
        """(N,) int64 ids; characters outside the vocabulary are an error that names them."""
        try:
            return torch.tensor([self.index[c] for c in text], dtype=torch.long)
        except KeyError:
            unknown = sorted({c for c in text if c not in self.index})
            raise ValueError(
                f"{name} contains characters the model never saw: {''.join(unknown)!r}; "
                f"it knows: {''.join(self.chars)!r}"
            ) from None

    def decode(self, ids: Sequence[int] | Tensor) -> str:
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        return "".join(self.chars[i] for i in ids)


def read_text_file(path: str | Path) -> str:
    """A UTF-8 text file (clear errors for a missing, binary or empty file)."""
    path = Path(path)
    text = read_text(path, "text file")
    if not text.strip():
        raise ValueError(f"text file {str(path)!r} is empty")
    return text


def split_tail(text: str, fraction: float) -> tuple[str, str]:
    """(head, tail): the last ``fraction`` of the characters held out for validation."""
    if not 0 < fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {fraction}")
    cut = len(text) - max(1, round(len(text) * fraction))
    return text[:cut], text[cut:]


class CharStream:
    """char-rnn batches over one token sequence; a resumable batch source (``epoch(epoch, start)``).

    Args:
        ids: (N,) token ids.
        batch_size: B parallel streams.
        seq_len: T characters per chunk.
        train: random epoch offset and full chunks only (True), or offset 0 and a shorter last chunk so
            every character is scored once (False, for evaluation).
        seed: with the epoch, sets the offsets.
    Yields ``(x, y)``, each (B, T) int64, y = x shifted by one character.
    """

    def __init__(
        self, ids: Tensor, batch_size: int, seq_len: int, *, train: bool = True, seed: int = 0
    ) -> None:
        if not isinstance(ids, Tensor) or ids.dim() != 1:
            raise TypeError("ids must be a 1-D tensor of token ids")
        self.ids, self.B, self.T, self.train, self.seed = ids.long(), batch_size, seq_len, train, seed
        need = batch_size * (seq_len + 1) + (seq_len if train else 0)
        if len(ids) < need:
            raise ValueError(
                f"the text is too short for batch_size={batch_size} × seq_len={seq_len}: it has {len(ids):,} "
                f"characters, needs at least {need:,}; lower data.batch_size or data.seq_len"
            )

    def _layout(self, epoch: int) -> tuple[Tensor, Tensor]:
        offset = 0
        if self.train:
            g = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
            offset = int(torch.randint(0, self.T, (1,), generator=g))
        data = self.ids[offset:]
        L = (len(data) - 1) // self.B  # characters per stream
        x = data[: self.B * L].view(self.B, L)  # (B, L)
        y = data[1 : self.B * L + 1].view(self.B, L)  # (B, L)
        return x, y

    def _chunks(self, L: int) -> int:
        return L // self.T if self.train else -(-L // self.T)

    def __len__(self) -> int:
        return self._chunks((len(self.ids) - 1) // self.B)

    @property
    def scored(self) -> int:
        """Characters scored in one evaluation pass (B·⌊(N−1)/B⌋)."""
        return self.B * ((len(self.ids) - 1) // self.B)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
        x, y = self._layout(epoch)
        for j in range(start, self._chunks(x.size(1))):
            sl = slice(j * self.T, (j + 1) * self.T)
            yield x[:, sl], y[:, sl]  # (B, T) each
