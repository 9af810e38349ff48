"""The four ways to wire an RNN's outputs, as ready models that work with any registered cell.

- :class:`SequenceClassifier` — many-to-one: a label per sequence (last valid step or mean/max pooling).
- :class:`SequenceTagger` — many-to-many, aligned: a label per step.
- :class:`Forecaster` — many-to-one/many: the next ``horizon`` values of one or several series, with
  the scaling (:class:`Scaler`) saved in the model.
- :class:`Generator` — one-to-many: a language model that streams tokens with carried state.
- :class:`Seq2Seq` — encoder-decoder with optional Luong/Bahdanau attention, greedy and beam search.
"""

from .attention import BahdanauAttention, LuongAttention
from .backbone import SequenceBackbone
from .beam import Hypothesis, beam_search, gnmt_length_penalty
from .classifier import SequenceClassifier
from .decoding import greedy_decode
from .forecaster import Forecaster, make_windows
from .generator import Generator, TokenStream
from .sampling import SamplingConfig, filter_logits, sample_next
from .scaler import Scaler
from .seq2seq import Encoded, Seq2Seq
from .tagger import SequenceTagger

__all__ = [
    "BahdanauAttention",
    "Encoded",
    "Forecaster",
    "Generator",
    "Hypothesis",
    "LuongAttention",
    "SamplingConfig",
    "Scaler",
    "Seq2Seq",
    "SequenceBackbone",
    "SequenceClassifier",
    "SequenceTagger",
    "TokenStream",
    "beam_search",
    "filter_logits",
    "gnmt_length_penalty",
    "greedy_decode",
    "make_windows",
    "sample_next",
]
