"""The page of ``rnnkit serve`` as the server sends it (``/``, ``/static/…``, ``GET /api/passages``), the
passages it offers, and ``rnnkit explore``: one self-contained HTML file holding the trace the API gives.
(The page in a real browser: ``test_serve_browser.py``.)"""

from __future__ import annotations

import json
import re

import pytest
import torch
from fastapi.testclient import TestClient

from rnnkit import cli
from rnnkit.commands.explore import MAX_CHARS
from rnnkit.serve import Limits, create_app, load_runs
from rnnkit.serve.page import STATIC_DIR, _script_json, explorer_page
from rnnkit.serve.passages import pick_passages
from rnnkit.tasks.text import load_texts
from serve_runs import make_run

ASSETS = ("index.html", "rnnkit.css", "explorer.js", "app.js")


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {task: make_run(root, task) for task in ("text", "compose")}


@pytest.fixture(scope="module")
def served(run_dirs):
    return load_runs([run_dirs["text"], run_dirs["compose"]])


@pytest.fixture(scope="module")
def client(served):
    with TestClient(create_app(served, Limits(max_trace_chars=120))) as c:
        yield c


# -- the page the server sends ---------------------------------------------------------------------------
def test_the_page_and_its_assets_are_served_from_the_package(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    linked = re.findall(r'(?:src|href)="(/static/[^"]+)"', r.text)
    assert sorted(linked) == ["/static/app.js", "/static/explorer.js", "/static/rnnkit.css"]
    for path in linked:
        asset = client.get(path)
        assert asset.status_code == 200 and asset.text == (STATIC_DIR / path.split("/")[-1]).read_text()
    assert client.get("/static/nope.js").status_code == 404
    assert "/" not in client.get("/openapi.json").json()["paths"]  # the page is not part of the API


@pytest.mark.parametrize("name", ASSETS)
def test_the_assets_fetch_nothing_from_elsewhere(name):
    text = (STATIC_DIR / name).read_text(encoding="utf-8")
    assert not re.search(r"https?://", text), f"{name} names an address outside the server"
    assert "@import" not in text and "cdn" not in text.lower()


def test_the_assets_ship_with_the_package():
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text(encoding="utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["rnnkit.serve"]
    shipped = {p.name for g in globs for p in STATIC_DIR.parent.glob(g)}
    assert set(ASSETS) <= shipped


# -- passages --------------------------------------------------------------------------------------------
def test_passages_are_lines_of_the_runs_validation_text(client, served):
    got = client.get("/api/passages").json()
    run = served[0].run
    _, val, source = load_texts(run.config)
    assert got["run"] == "text-run" and got["source"] == source
    assert 1 <= len(got["passages"]) <= 6
    for p in got["passages"]:
        assert p in val and 20 <= len(p) <= 120 and set(p) <= set(run.vocab.chars)
    assert client.get("/api/passages", params={"run": "text-run"}).json() == got


def test_passages_of_a_run_that_is_not_text_are_404(client):
    r = client.get("/api/passages", params={"run": "compose-run"})
    assert (
        r.status_code == 404 and "serves text runs; run 'compose-run' is a compose run" in r.json()["detail"]
    )


def test_pick_passages_joins_lines_that_fit_and_skips_unknown_characters():
    text = "\n".join(
        ["first line here, quite short", "second line", "x" * 50 + " tail " + "y" * 50, "é" * 30]
    )
    known = set(text) - {"é"}
    got = pick_passages(text, known, count=10, max_chars=60)
    assert got[0] == "first line here, quite short\nsecond line"
    assert "x" * 50 + " tail" in got  # a line too long is cut at its last space that fits
    assert all(len(p) <= 60 and "é" not in p for p in got)
    with pytest.raises(ValueError, match="count must be at least 1, got 0"):
        pick_passages(text, known, count=0)
    with pytest.raises(ValueError, match="max_chars must be at least 20, got 5"):
        pick_passages(text, known, max_chars=5)
    assert pick_passages("\n\n", known) == []


# -- rnnkit explore --------------------------------------------------------------------------------------
def embedded(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="rnnkit-trace">(.*?)</script>', page, flags=re.S)
    assert m is not None, "no embedded trace"
    return json.loads(m.group(1))


def test_explore_writes_one_page_with_the_trace_embedded(run_dirs, served, client, tmp_path, capsys):
    text = "In the beginning God created the heaven and the earth."
    (tmp_path / "in.txt").write_text(text + "\n", encoding="utf-8")
    out = tmp_path / "page.html"
    argv = [
        "explore",
        str(run_dirs["text"]),
        "--text",
        str(tmp_path / "in.txt"),
        "--out",
        str(out),
        "--top",
        "3",
    ]
    assert cli.main(argv) == 0
    assert f"wrote {out}" in capsys.readouterr().err
    page = out.read_text(encoding="utf-8")
    trace = embedded(page)
    assert trace == client.post("/api/trace", json={"text": text, "top": 3}).json()  # the API's answer
    tr = served[0].run.trace(text)
    torch.testing.assert_close(
        torch.tensor(trace["quantities"]["gate:forget"]), tr.gates["forget"], atol=6e-5, rtol=0
    )
    # self-contained: the page's own CSS and JavaScript inline, nothing loaded from anywhere
    assert (STATIC_DIR / "explorer.js").read_text() in page and (
        STATIC_DIR / "rnnkit.css"
    ).read_text() in page
    assert not re.search(r'(?:src|href)="(?!data:)', page)
    assert {p.name for p in tmp_path.iterdir()} == {"in.txt", "page.html"}  # atomic: no temporary file left


def test_explore_refuses_what_it_cannot_show(run_dirs, tmp_path, capsys):
    def error(*argv: str) -> str:
        assert cli.main(["explore", *argv, "--out", str(tmp_path / "o.html")]) == 2
        return capsys.readouterr().err

    ok = tmp_path / "ok.txt"
    ok.write_text("And God said", encoding="utf-8")
    assert "is a 'compose' run, not 'text'" in error(str(run_dirs["compose"]), "--text", str(ok))
    assert "does not exist" in error(str(run_dirs["text"]), "--text", str(tmp_path / "missing.txt"))
    (tmp_path / "empty.txt").write_text("\n", encoding="utf-8")
    assert "is empty" in error(str(run_dirs["text"]), "--text", str(tmp_path / "empty.txt"))
    (tmp_path / "long.txt").write_text("a" * (MAX_CHARS + 1), encoding="utf-8")
    msg = error(str(run_dirs["text"]), "--text", str(tmp_path / "long.txt"))
    assert f"has {MAX_CHARS + 1:,} characters; rnnkit explore takes at most {MAX_CHARS:,}" in msg
    (tmp_path / "snow.txt").write_text("And \u2603", encoding="utf-8")
    msg = error(str(run_dirs["text"]), "--text", str(tmp_path / "snow.txt"))
    assert "snow.txt' contains characters the model never saw: '\u2603'" in msg
    assert "--top must be in 1..20, got 0" in error(str(run_dirs["text"]), "--text", str(ok), "--top", "0")
    assert cli.main(["explore", str(run_dirs["text"]), "--text", str(ok), "--out", str(tmp_path)]) == 2
    assert "is a directory, expected a file to write" in capsys.readouterr().err
    assert not (tmp_path / "o.html").exists()


def test_explorer_page_checks_its_trace_and_escapes_the_json():
    with pytest.raises(ValueError, match="it has no 'quantities'"):
        explorer_page({"chars": [], "layers": 1, "hidden_size": 1, "gate_names": [], "next": []}, title="t")
    data = {"text": "</script><!-- & -->"}
    escaped = _script_json(data)
    assert "<" not in escaped and ">" not in escaped and "&" not in escaped
    assert json.loads(escaped) == data
