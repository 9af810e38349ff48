"""The README's prose figures about the gating reproduction and the adding-problem diagnosis, checked
against the committed result files they come from (``gating.json``, ``diagnose-adding/summary.json``),
and its counts of the project's own checks (the bad-input catalogue, the property tests' examples):
the tables are generated (``test_readme_sync.py``); the numbers quoted in the discussion around them are
recomputed here, so that a new result file that changes them fails CI until the text is updated."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
RESULTS = ROOT / "benchmarks" / "results"
GATING = {(r["experiment"], r["cell"]): r for r in json.loads((RESULTS / "gating.json").read_text())["rows"]}
DIAGNOSIS = json.loads((RESULTS / "diagnose-adding" / "summary.json").read_text())


def prose(text: str) -> str:
    """The README with its line breaks folded (a quoted phrase may wrap)."""
    return re.sub(r"\s+", " ", text)


def exponent(x: float) -> int:
    """The power of ten of x in scientific notation (5.98e-41 -> -41)."""
    return int(f"{x:.0e}".split("e")[1])


def superscript(n: int) -> str:
    return str(n).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


def facts() -> list[tuple[str, str]]:
    """(what, the phrase the README must contain), built from the result files."""
    g = GATING
    ur_escape = sorted(g[("adding200", c)]["escape_step_median"] for c in ("urlstm", "urgru"))
    below = sorted(1 / g[("adding200", c)]["test_ratio_mean"] for c in ("urlstm", "urgru"))
    gru_later = g[("adding200", "gru")]["escape_step_median"] - ur_escape[-1]
    recalls = [
        g[("copy100", c)]["test_accuracy_mean"] for c in ("lstm", "lstm_fb1", "gru", "urlstm", "urgru")
    ]
    lstm_init = DIAGNOSIS["lstm init (adding200-lstm-s0)"]
    ur_trained = DIAGNOSIS["urlstm trained (adding200-urlstm-s1)"]
    exploding = DIAGNOSIS["exploding"]
    plain, clipped = exploding["runs"]
    digits = (
        g[("seqdigits", "urgru")]["test_accuracy_mean"],
        g[("pseqdigits", "urgru")]["test_accuracy_mean"],
    )
    slow = 100 * ur_trained["saturation"]["effective_forget"]["high"]
    return [
        ("UR cells leave the adding baseline",
         f"leave it at steps {ur_escape[0]:,}–{ur_escape[1]:,} (median)"),
        ("how far below", f"end {below[0]:.0f}–{below[1]:.0f}× below it"),
        ("the GRU solves adding later", f"some {gru_later:,} steps later"),
        ("copy recall", f"recall {min(recalls):.2f}–{max(recalls):.2f}"),
        ("UR-LSTM level with LSTM on copy",
         f"the UR-LSTM ({g[('copy100', 'urlstm')]['test_ratio_mean']:.2f}) is level with the LSTM "
         f"({g[('copy100', 'lstm')]['test_ratio_mean']:.2f})"),
        ("UR-GRU's best copy seed", f"one seed of three ({min(g[('copy100', 'urgru')]['test_ratios']):.2f})"),
        ("UR-GRU on digits", f"({digits[0]:.3f}, {digits[1]:.3f})"),
        ("LSTM gradient after 199 steps",
         f"10{superscript(exponent(lstm_init['h_norm_at_distance']['199']))} after 199 steps"),
        ("UR-LSTM's slow units", f"({slow:.0f}% of its effective forget gate values > 0.95 after training)"),
        ("exploding growth", f"×{exploding['factor_per_step']:.2f} per step"),
        ("plain SGD diverges", f"diverges to NaN at step {plain['diverged_at_step']} (largest finite loss "
                               f"1e{exponent(plain['max_finite_loss'])})"),
        ("clipped SGD trains", f"(final loss {clipped['final_loss']:.2f})"),
    ]  # fmt: skip


def count_facts() -> list[tuple[str, str]]:
    """The README's counts of the project's own tests: the bad-input catalogue and the property tests'
    example budget."""
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    from bad_input import all_cases

    cases = all_cases()
    cli = sum(c.argv is not None for c in cases)
    source = (ROOT / "tests" / "test_properties.py").read_text(encoding="utf-8")
    examples = sum(int(n) for n in re.findall(r"^@budget\((\d+)\)", source, flags=re.M))
    return [
        ("bad-input catalogue", f"A catalogue of {len(cases)} mistakes ({cli} through the command line, "
                                f"{len(cases) - cli} through the library"),
        ("property-test examples", f"`tests/test_properties.py`, {examples:,} derandomized examples"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("what", "phrase"), facts() + count_facts(), ids=[w for w, _ in facts() + count_facts()]
)
def test_readme_quotes_the_result_files(what, phrase):
    assert phrase in prose(README), f"{what}: the README should say {phrase!r} (from the result files)"
