"""Honest baselines that every demo reports next to its model's figure."""

from .ngram import NGramModel

__all__ = ["NGramModel"]
