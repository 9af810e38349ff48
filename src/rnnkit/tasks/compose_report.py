"""What the ``compose`` task writes after training: ``compose.md`` / ``compose.json`` with the test
metrics next to the n-gram baselines and the floor verdict (top-1 above the bigram), and
``compose_samples.txt``: beam-search completions of a few prompts and held-out sentence starts."""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from torch import nn

from .._io import atomic_write_text
from ..data.compose import UNK, Vocab, detokenize, tokenize
from ..train.config import Config

#: what the numbers and marks of :func:`format_completions` mean (printed once beside them)
LEGEND = (
    "Each completion follows the prompt's last word (…word completion). p: the model's probability of the "
    "whole completion (the end of the sentence included where ⏎ is shown); per word: the geometric mean "
    "of the probabilities of its words and punctuation marks (⏎ counting as one), comparable across "
    "lengths, where p favours short completions. ⏎: the model ends the sentence there (for the King James "
    "Bible: the verse). Ranked by the beam search's length-normalised score."
)


def chance(p: float) -> str:
    """A probability for people: ``12%``, ``0.31%``; ``1 in 34,000`` below 0.1%; ``2.7e-09`` below one
    in a million."""
    if not math.isfinite(p) or p <= 0:
        return "0"
    if p >= 0.1:
        return f"{100 * p:.0f}%"
    if p >= 1e-3:
        return f"{100 * p:.2g}%"
    if p >= 1e-6:
        n = 1 / p
        return f"1 in {round(n, 2 - len(str(int(n)))):,.0f}"  # two significant digits
    return f"{p:.1e}"


def format_completions(
    model: nn.Module,
    vocab: Vocab,
    prompt: str,
    max_prefix: int,
    beam_size: int = 5,
    n: int = 3,
    max_tokens: int = 5,
    length_penalty: float = 0.6,
) -> str:
    """The prompt, then its ``n`` best completions one per line, each written after the prompt's last
    word with the probabilities :data:`LEGEND` explains; a line says so when fewer exist."""
    from .compose_data import complete

    model.eval()
    found, unknown = complete(
        model,
        vocab,
        prompt,
        max_prefix=max_prefix,
        beam_size=beam_size,
        n=n,
        max_tokens=max_tokens,
        length_penalty=length_penalty,
    )
    words = tokenize(prompt)
    last = words[-1] if words else ""
    lines = [prompt.rstrip() + " …"]
    if unknown:
        lines.append(f"  (not in the vocabulary, read as <unk>: {', '.join(unknown)})")
    shown = [f"…{last}{c.text}" + (" ⏎" if c.ends_sentence else "") for c in found]
    width = max((len(t) for t in shown), default=0)
    for i, (c, text) in enumerate(zip(found, shown, strict=True), 1):
        lines.append(f"  {i}. {text:<{width}}   p = {chance(c.prob):<12}  per word {chance(c.per_token)}")
    if not found:
        lines.append("  (no completion without unknown words)")
    elif len(found) < n:
        lines.append(f"  (only {len(found)} distinct completions of up to {max_tokens} tokens exist)")
    return "\n".join(lines)


def verdict(metrics: dict[str, float], baselines: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Floor: next-token top-1 accuracy above the bigram's (and how the other metrics compare)."""
    bigram = baselines["bigram"]
    above = metrics["top1"] > bigram["top1"]
    text = (
        f"next-token top-1 {metrics['top1']:.3f} vs bigram {bigram['top1']:.3f} "
        f"(floor: above the bigram: {'MET' if above else 'NOT MET'}); top-3 {metrics['top3']:.3f} vs "
        f"{bigram['top3']:.3f}; 3-token exact match {metrics['exact3']:.3f} vs {bigram['exact3']:.3f}"
    )
    if "trigram" in baselines:
        tri = baselines["trigram"]
        text += f"; trigram: {tri['top1']:.3f} / {tri['top3']:.3f} / {tri['exact3']:.3f}"
    return {"floor_met": above, "verdict": text}


def write_report(
    model: nn.Module, cfg: Config, data: Any, run_dir: Path, prompts: Sequence[str]
) -> dict[str, Any]:
    from ..plots import plot_confidence_curve
    from .compose_data import confidence_curve, model_confidence, model_metrics
    from .registry import get_task

    model.eval()
    corpus = data.train.corpus
    metrics = model_metrics(model, data.test)
    base = get_task("compose").baselines(cfg, data, "test")
    v = verdict(metrics, base)
    curve = confidence_curve(*model_confidence(model, data.test))
    plot_confidence_curve(
        run_dir / "compose_confidence.png",
        curve,
        {name: b["exact3"] for name, b in base.items()},
        title="Suggest only when confident (test split)",
    )
    curve_table = (
        "| prefixes shown a suggestion | confidence at least | exactly right (3 words) |\n|---:|---:|---:|\n"
    )
    curve_table += "\n".join(
        f"| {100 * p.coverage:g}% ({p.shown:,}) | {p.threshold:.3g} | {100 * p.exact3:.1f}% |" for p in curve
    )
    held_out = [c for c in data.val.pairs.context if UNK not in c and len(c) >= 4]
    prompts = [
        *prompts,
        *(detokenize(corpus.vocab.decode(c)) for c in held_out[:: max(1, len(held_out) // 3)][:3]),
    ]
    samples = [
        format_completions(model, corpus.vocab, p, cfg.data.max_prefix, cfg.data.beam_size, 3)
        for p in prompts
    ]
    legend = textwrap.fill(LEGEND, 100)
    atomic_write_text(run_dir / "compose_samples.txt", "\n\n".join(samples) + f"\n\n{legend}\n")
    names = ["model", *base]
    rows = [metrics, *base.values()]
    table = "| metric | " + " | ".join(names) + " |\n" + "|---" * (len(names) + 1) + "|\n"
    table += "\n".join(
        f"| {k} | " + " | ".join(f"{r[k]:.4f}" for r in rows) + " |" for k in ("top1", "top3", "exact3")
    )
    text = (
        f"# compose: Smart Compose (test split, {len(data.test.pairs):,} pairs)\n\n{table}\n\n"
        f"{v['verdict']}.\n\n## Suggest only when confident\n\nGmail's design choice: show a suggestion "
        "only when the model's probability of its 3-word greedy continuation is high enough. Fewer "
        "prefixes get one, and more of those are right (compose_confidence.png):\n\n"
        f"{curve_table}\n\n## Completions (beam search)\n\n{LEGEND}\n\n```\n"
        + "\n\n".join(samples)
        + "\n```\n"
    )
    atomic_write_text(run_dir / "compose.md", text)
    payload = {**v, "metrics": metrics, "baselines": base, "samples": samples, "legend": LEGEND}
    payload["confidence_curve"] = [asdict(p) for p in curve]
    atomic_write_text(run_dir / "compose.json", json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    print(f"\n{v['verdict']}\n\n{samples[0] if samples else ''}")
    return {
        **v,
        "samples": "compose_samples.txt",
        "report": "compose.md",
        "confidence_plot": "compose_confidence.png",
        "example": samples[0] if samples else "",
    }
