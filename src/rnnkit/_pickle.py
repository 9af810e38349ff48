"""Pickling rnnkit modules like torch.nn's: only module classes in the pickle.

``torch.save(model)`` pickles every object a module holds. A ``torch.nn.LSTM`` holds tensors, ints,
strings and lists, so ``torch.load(f)`` (``weights_only=True``, torch's default) needs nothing but the
module classes on its allow-list (``torch.serialization.add_safe_globals([nn.LSTM])``). rnnkit modules
also hold small helper objects — the cell's :class:`~rnnkit.cells.base.CellSpec` (``.spec``) and the
layer's :class:`~rnnkit.scan.regularize.Regularization` (``.regularization``) — which would each need
allow-listing too.

:class:`PlainPickleMixin` stores those helpers as plain data instead and rebuilds them on load:

- a spec of a REGISTERED cell as its registry name and its ``options()`` (``("lstm", {"peephole":
  True})``); on load the registry builds it again. A spec is stored this way only when the rebuilt spec
  equals it attribute for attribute, checked at save time.
- a ``Regularization`` as its fields.

So loading a pickled rnnkit layer needs only the layer class allow-listed, exactly as for torch.nn::

    torch.save(rnnkit.LSTM(8, 16), "lstm.pt")
    with torch.serialization.safe_globals([rnnkit.LSTM]):
        lstm = torch.load("lstm.pt")

A model needs its module classes allow-listed (rnnkit's and torch.nn's), nothing else. A spec the
registry cannot rebuild — a user's own ``CellSpec`` subclass or instance that is not registered —
stays pickled as an object; its class must then be allow-listed as well (or loaded with
``weights_only=False`` from a trusted file). ``copy.deepcopy`` goes through the same path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: the key of the state dict under which the helpers' plain forms are stored
PLAIN_KEY = "_rnnkit_plain"


@dataclass(frozen=True)
class PlainCodec:
    """How one helper type travels as plain data: ``encode`` gives its plain form (or None: keep the
    object pickled as it is), ``decode`` rebuilds it."""

    cls: type
    encode: Callable[[Any], Any | None]
    decode: Callable[[Any], object]


#: kind → codec; each helper's own module registers it (this module imports nothing of rnnkit)
_CODECS: dict[str, PlainCodec] = {}


def register_plain(
    kind: str, cls: type, encode: Callable[[Any], Any | None], decode: Callable[[Any], object]
) -> None:
    """Store instances of ``cls`` found among a module's attributes as ``(kind, encode(value))``."""
    _CODECS[kind] = PlainCodec(cls, encode, decode)


def _encode(value: object) -> tuple[str, Any] | None:
    """The plain form of a helper object, or None when it stays pickled as it is."""
    for kind, codec in _CODECS.items():
        if isinstance(value, codec.cls):
            data = codec.encode(value)
            return None if data is None else (kind, data)
    return None


def _decode(kind: str, data: Any) -> object:
    codec = _CODECS.get(kind)
    if codec is None:
        raise ValueError(f"unknown plain-data kind {kind!r} in a pickled rnnkit module")
    return codec.decode(data)


class PlainPickleMixin:
    """Mixin for ``nn.Module`` subclasses (put it BEFORE ``nn.Module`` in the bases): rnnkit's helper
    objects among the module's attributes are pickled as plain data and rebuilt on load."""

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()  # type: ignore[misc]
        plain: dict[str, tuple[str, Any]] = {}
        for attr, value in list(state.items()):
            encoded = _encode(value)
            if encoded is not None:
                plain[attr] = encoded
                del state[attr]
        if plain:
            state[PLAIN_KEY] = plain
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        plain = state.pop(PLAIN_KEY, {})
        super().__setstate__(state)  # type: ignore[misc]
        for attr, (kind, data) in plain.items():
            self.__dict__[attr] = _decode(kind, data)
