"""The bad-input catalogue (``tests/bad_input/``): one parametrized test over every case.

A CLI case must exit with its code (2 for bad input), print no traceback, name its culprit in the
message, and leave its folder exactly as it was; a library case must raise its exception type with the
culprit named in the message."""

from __future__ import annotations

import fnmatch

import pytest
import torch

from bad_input import Case, all_cases, cleanup_runs, snapshot
from rnnkit import cli

CASES = all_cases()


@pytest.fixture(scope="module", autouse=True)
def _trained_runs():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    cleanup_runs()


def _changed(before: dict[str, str], after: dict[str, str], allowed: tuple[str, ...]) -> list[str]:
    keys = set(before) | set(after)
    diff = sorted(k for k in keys if before.get(k) != after.get(k))
    return [k for k in diff if not any(fnmatch.fnmatch(k, pat) for pat in allowed)]


def test_catalogue_is_large_enough():
    assert len(CASES) >= 60, f"the catalogue has {len(CASES)} cases; the reliability promise is ≥ 60"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    if case.setup is not None:
        case.setup(tmp_path)
    before = snapshot(tmp_path)
    if case.call is not None:
        with pytest.raises(case.error) as e:
            case.call(tmp_path)
        message = str(e.value)
    else:
        try:
            code = cli.main([str(a) for a in case.argv])
        except SystemExit as e:  # argparse's own errors
            code = e.code
        out, err = capsys.readouterr()
        message = err
        assert code == case.code, f"exit status {code}, expected {case.code}\nstdout:\n{out}\nstderr:\n{err}"
        assert "Traceback" not in out + err, out + err
        lines = [line for line in err.strip().splitlines() if "error" in line.lower()]
        assert lines, f"no error line on stderr:\n{err}"
    low = message.lower()
    missing = [n for n in case.names if n.lower() not in low]
    assert not missing, f"the message does not name {missing}:\n{message}"
    changed = _changed(before, snapshot(tmp_path), tuple(case.may_change))
    assert not changed, f"the case changed {changed}"
