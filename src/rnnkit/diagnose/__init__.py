"""Diagnostics that make the vanishing gradient and the gates visible: gradient vs distance, gate
heatmaps, saturation, memory timescales, exploding gradients and clipping (``rnnkit diagnose``)."""

from .gates import retain_gate, saturation, summarize_timescales, timescales
from .gradients import ClippingRun, GradientProfile, clipping_demo, gradient_vs_distance
from .report import Report, Subject, diagnose, find_recurrent, fresh_subjects, load_input, run_subjects

__all__ = [
    "ClippingRun",
    "GradientProfile",
    "Report",
    "Subject",
    "clipping_demo",
    "diagnose",
    "find_recurrent",
    "fresh_subjects",
    "gradient_vs_distance",
    "load_input",
    "retain_gate",
    "run_subjects",
    "saturation",
    "summarize_timescales",
    "timescales",
]
