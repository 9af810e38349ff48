"""Plots of the demos (matplotlib, Agg backend, no display needed), written atomically as PNG."""

from .confidence import plot_confidence_curve
from .forecast import plot_forecast, plot_horizon_errors
from .pianoroll import plot_pianoroll
from .video import plot_frame_probabilities, plot_saliency

__all__ = [
    "plot_confidence_curve",
    "plot_forecast",
    "plot_frame_probabilities",
    "plot_horizon_errors",
    "plot_pianoroll",
    "plot_saliency",
]
