"""The token vocabulary of melody events: every distinct (pitch | rest, duration) pair of the training
melodies in every training transposition, plus two special tokens.

Token 0 ``<s>`` starts every melody (a model predicts the first event from it); token 1 ``<unk>``
stands for an event never seen in training (counted and reported; it should be rare). The events
follow in a fixed order (rests first, then by pitch, then duration), so the same melodies always give
the same ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .music import Event, Melody, transpose, transpositions

SPECIALS = ("<s>", "<unk>")
BOS, UNK = 0, 1


def _order(e: Event) -> tuple[int, float]:
    return (-1 if e.pitch is None else e.pitch, e.duration)


class EventVocab:
    """Event ↔ token id.

    Example::

        vocab = EventVocab.build(train_melodies, shifts=range(-6, 6))
        ids = vocab.encode(melody.events)        # [0, id(e1), id(e2), …]
        vocab.decode(ids[1:]) == list(melody.events)
    """

    def __init__(self, events: Iterable[Event]) -> None:
        self.events: list[Event] = sorted(set(events), key=_order)
        self._index = {e: i + len(SPECIALS) for i, e in enumerate(self.events)}

    @classmethod
    def build(
        cls, melodies: Sequence[Melody], shifts: Iterable[int] = (0,), low: int = 0, high: int = 127
    ) -> EventVocab:
        """Every event of ``melodies`` under every shift in ``shifts`` that keeps the melody inside
        [low, high]."""
        shifts = list(shifts)
        found: set[Event] = set()
        for m in melodies:
            for s in transpositions(m.events, shifts, low, high):
                found.update(transpose(m.events, s))
        if not found:
            raise ValueError("EventVocab.build needs at least one melody with events, got none")
        return cls(found)

    def __len__(self) -> int:
        return len(SPECIALS) + len(self.events)

    def __contains__(self, event: object) -> bool:
        return event in self._index

    def id(self, event: Event) -> int:
        """The token id of ``event`` (``UNK`` when it was never seen)."""
        return self._index.get(event, UNK)

    def encode(self, events: Sequence[Event], bos: bool = True) -> list[int]:
        return ([BOS] if bos else []) + [self._index.get(e, UNK) for e in events]

    def decode(self, ids: Iterable[int]) -> list[Event]:
        """Token ids → events; the special tokens are skipped."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self):
                raise ValueError(f"token ids must lie in [0, {len(self)}), got {i}")
            if i >= len(SPECIALS):
                out.append(self.events[i - len(SPECIALS)])
        return out

    def unknown(self, events: Sequence[Event]) -> int:
        """How many of ``events`` are not in the vocabulary."""
        return sum(e not in self._index for e in events)

    def to_json(self) -> list[list]:
        return [[e.pitch, e.duration] for e in self.events]

    @classmethod
    def from_json(cls, rows: Sequence[Sequence]) -> EventVocab:
        return cls(Event(None if p is None else int(p), float(d)) for p, d in rows)

    def nearest(self, event: Event) -> Event:
        """The vocabulary event closest to ``event``: same pitch (or rest) with the nearest duration,
        else the nearest pitch."""
        if event in self._index:
            return event

        def cost(e: Event) -> tuple[float, float]:
            if event.pitch is None or e.pitch is None:
                dp = 0.0 if event.pitch is e.pitch else 1e9
            else:
                dp = abs(e.pitch - event.pitch)
            return (dp, abs(e.duration - event.duration))

        return min(self.events, key=cost)
