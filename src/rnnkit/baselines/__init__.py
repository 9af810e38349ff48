"""Honest baselines that every demo reports next to its model's figure."""

from .forecast import ForecastScore, LinearAR
from .ngram import NGramModel

__all__ = ["ForecastScore", "LinearAR", "NGramModel"]
