"""Which parts a model exports as, by its shape:

- :class:`~rnnkit.models.SequenceClassifier`, :class:`~rnnkit.models.SequenceTagger`,
  :class:`~rnnkit.models.Forecaster`: one part, ``"model"`` (the whole sequence at once);
- :class:`~rnnkit.models.Generator`: one part, ``"step"`` (one token, the state in and out);
- :class:`~rnnkit.models.Seq2Seq`: two parts, ``"encoder"`` and ``"decoder"`` (one decoder step).
"""

from __future__ import annotations

from torch import Tensor, nn

from .._checks import check_positive_int
from ..models import Forecaster, Generator, Seq2Seq, SequenceClassifier, SequenceTagger
from .generator import generator_part
from .part import ExportPart
from .seq2seq import seq2seq_parts
from .sequence import sequence_part

#: model class -> the kind written into the JSON sidecar
KINDS: dict[type, str] = {
    SequenceClassifier: "classifier",
    SequenceTagger: "tagger",
    Forecaster: "forecaster",
    Generator: "generator",
    Seq2Seq: "seq2seq",
}
#: the time length of a random example when none is given
DEFAULT_STEPS = 7


def model_kind(model: object) -> str:
    """``"classifier"``, ``"tagger"``, ``"forecaster"``, ``"generator"`` or ``"seq2seq"``."""
    for cls, kind in KINDS.items():
        if isinstance(model, cls):
            return kind
    names = ", ".join(c.__name__ for c in KINDS)
    raise TypeError(f"model must be one of rnnkit's model shapes ({names}), got {type(model).__name__}")


def takes_lengths(model: nn.Module) -> bool:
    """Whether the exported form of ``model`` can take per-sequence lengths (the generator's step has no
    time axis)."""
    return model_kind(model) != "generator"


def plan_parts(
    model: nn.Module, *, example: Tensor | None = None, steps: int | None = None, lengths: bool = False
) -> list[ExportPart]:
    """The parts ``model`` is exported as (see the module docstring).

    Args:
        example: a real input batch (B, T, ...) for a classifier/tagger/forecaster (required when it has a
            per-step encoder, e.g. a CNN on frames or a one-hot encoder on token ids).
        steps: the time length of a random example (sources for a seq2seq); default 7.
        lengths: add the (B,) lengths input (``lengths`` / ``src_lengths``).
    """
    kind = model_kind(model)
    if steps is not None:
        check_positive_int("steps", steps)
        if steps < 2:
            raise ValueError(f"steps must be >= 2 (an exporter fixes sizes 0 and 1), got {steps}")
    if lengths and not takes_lengths(model):
        raise ValueError(f"lengths must be False for a {kind}: its exported step has no time axis")
    if example is not None and kind in ("generator", "seq2seq"):
        raise ValueError(f"example must be None for a {kind} (its inputs are token ids drawn at random)")
    steps = DEFAULT_STEPS if steps is None else steps
    if kind == "generator":
        return [generator_part(model)]
    if kind == "seq2seq":
        return seq2seq_parts(model, steps=steps, lengths=lengths)
    return [sequence_part(model, example=example, steps=steps, lengths=lengths)]
