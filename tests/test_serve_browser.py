"""The page of ``rnnkit serve`` in a real browser: headless Chromium (Debian's, driven by Playwright) against
a real server on 127.0.0.1 with small untrained runs. Compose shows a grey suggestion that Tab accepts,
the Explorer colours every character by the chosen unit and gate (checked against the trace), Generate
streams, Music draws its piano roll; a view without its run says so; the page of ``rnnkit explore`` works
from disk. Each view is screenshotted into the test's folder.

Chromium must be installed (``apt-get install chromium``; ``.ci/run`` does it): without it these tests
fail, saying so, rather than skip. ``RNNKIT_CHROMIUM`` names another Chromium binary."""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright

from rnnkit import cli
from serve_runs import make_run

#: what Chromium needs here: no sandbox as root, and no calls home (this machine's network is closed)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PRIME = "And God said"


def chromium() -> str:
    found = os.environ.get("RNNKIT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("the browser tests need Chromium: apt-get install chromium (or set RNNKIT_CHROMIUM)")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    return {task: make_run(root, task) for task in ("text", "compose", "music")}


@pytest.fixture(scope="module")
def base(run_dirs):
    """A real ``rnnkit serve`` on a free loopback port, serving the three runs."""
    port = _free_port()
    argv = [sys.executable, "-m", "rnnkit", "serve", *map(str, run_dirs.values()), "--port", str(port)]
    server = subprocess.Popen(
        [*argv, "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).json()["status"] == "ok":
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stdout.read()
            assert time.monotonic() < deadline, "the server did not answer within 60 s"
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, base):
    """A fresh tab on the page, its runs read (any page error fails the test)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.goto(base + "/")
    tab.wait_for_selector("body[data-ready]", timeout=20_000)
    yield tab
    context.close()
    assert errors == [], errors


def show(page, view: str) -> None:
    page.click(f".tab[data-view={view}]")
    page.wait_for_selector(f"#view-{view}.active")


# -- Compose ---------------------------------------------------------------------------------------------
def test_compose_shows_the_best_completion_in_grey_and_tab_accepts_it(page, base, tmp_path):
    show(page, "compose")
    page.click("#view-compose textarea")
    page.keyboard.type(PRIME, delay=20)
    page.wait_for_function("document.querySelector('#view-compose').dataset.suggestion", timeout=20_000)
    want = httpx.post(f"{base}/api/compose", json={"prefix": PRIME, "num": 3}).json()["completions"]
    ghost = page.locator("#view-compose .ghost .suggestion")
    assert ghost.text_content() == want[0]["text"] != ""
    assert ghost.evaluate("e => getComputedStyle(e).color") == "rgb(152, 162, 179)"  # grey
    typed = page.locator("#view-compose .ghost").evaluate("e => getComputedStyle(e).color")
    assert typed == "rgba(0, 0, 0, 0)"  # the typed text itself is the textarea's, drawn over the ghost
    assert page.locator("#view-compose .completions li").count() == len(want)
    assert "latency: model" in page.locator("#view-compose [data-role=latency]").text_content()
    page.screenshot(path=tmp_path / "serve-compose.png")
    page.keyboard.press("Tab")
    assert page.input_value("#view-compose textarea") == PRIME + want[0]["text"]
    assert page.evaluate("document.activeElement.tagName") == "TEXTAREA"  # Tab did not move the focus


# -- Explorer --------------------------------------------------------------------------------------------
def expected_colour(value: float, diverging: bool, extent: float) -> str:
    """explorer.js's colour of a value: white to blue (47, 95, 208), or to red (214, 96, 77) below 0."""
    if diverging:
        t, to = min(1.0, abs(value) / extent), ((214, 96, 77) if value < 0 else (47, 95, 208))
    else:
        t, to = max(0.0, min(1.0, value / extent)), (47, 95, 208)
    c = [math.floor(255 + (b - 255) * t + 0.5) for b in to]
    return f"rgb({c[0]}, {c[1]}, {c[2]})"


def colours_of(page) -> list[str]:
    return page.eval_on_selector_all(
        "#view-explorer .trace-text .ch", "els => els.map(e => getComputedStyle(e).backgroundColor)"
    )


def check_colours(page, trace: dict, quantity: str, unit: int) -> list[str]:
    """The characters' computed colours are those of ``quantity``'s ``unit`` in the last layer."""
    matrix = trace["quantities"][quantity][-1]  # (T, H)
    flat = [v for row in matrix for v in row]
    diverging = min(flat) < -1e-6
    extent = max(1.0, max(abs(v) for v in flat) if diverging else max(flat))
    got = colours_of(page)
    assert got == [expected_colour(row[unit], diverging, extent) for row in matrix]
    return got


def test_explorer_colours_every_character_by_the_chosen_unit_and_gate(page, base, tmp_path):
    page.wait_for_selector("#view-explorer[data-traced]", timeout=20_000)
    text = page.input_value("#view-explorer [data-role=text]")
    passages = httpx.get(f"{base}/api/passages").json()["passages"]
    assert text == passages[0]  # the first passage of the run's validation text, traced at once
    trace = httpx.post(f"{base}/api/trace", json={"text": text, "top": 5}).json()
    chars = page.eval_on_selector_all("#view-explorer .trace-text .ch", "els => els.length")
    assert chars == len(text)
    unit = int(page.input_value("#view-explorer [data-role=unit]"))
    hidden = check_colours(page, trace, "hidden", unit)
    page.screenshot(path=tmp_path / "serve-explorer.png", full_page=True)

    other = (unit + 1) % trace["hidden_size"]
    page.fill("#view-explorer [data-role=unit]", str(other))
    page.dispatch_event("#view-explorer [data-role=unit]", "change")
    assert check_colours(page, trace, "hidden", other) != hidden

    gate = f"gate:{trace['gate_names'][1]}"  # lstm: forget
    page.select_option("#view-explorer [data-role=quantity]", gate)
    forget = check_colours(page, trace, gate, other)
    assert forget != hidden
    page.click(f"#view-explorer .unit-row[data-unit='{unit}']")  # a row of the unit list picks its unit
    assert check_colours(page, trace, gate, unit) != forget

    # sorted by memory timescale: -1/ln(lag-1 autocorrelation) of each unit over the text, longest first
    page.select_option("#view-explorer [data-role=sort]", "timescale")
    order = page.eval_on_selector_all("#view-explorer .unit-row", "els => els.map(e => +e.dataset.unit)")
    taus = timescales(trace["quantities"][gate][-1])
    assert order == sorted(range(len(taus)), key=lambda u: -taus[u])
    first = page.locator(f"#view-explorer .unit-row[data-unit='{order[0]}'] .score").text_content()
    assert first == f"τ {taus[order[0]]:.1f}"

    # hover: the model's next characters, with the probabilities the API gives
    page.hover("#view-explorer .trace-text .ch[data-i='3']")
    tip = page.locator(".tooltip")
    assert tip.is_visible()
    shown = [float(p.rstrip("%")) for p in tip.locator(".tt-row > span:last-child").all_text_contents()]
    assert shown == pytest.approx([100 * n["prob"] for n in trace["next"][3]], abs=0.051)

    # drag over a span: it is selected, and the units are ranked by how selectively they fire on it
    a, b = page.locator(".trace-text .ch[data-i='4']"), page.locator(".trace-text .ch[data-i='9']")
    page.mouse.move(*centre(a))
    page.mouse.down()
    page.mouse.move(*centre(b), steps=4)
    page.mouse.up()
    selected = page.eval_on_selector_all(".trace-text .ch.sel", "els => els.map(e => +e.dataset.i)")
    assert selected == list(range(4, 10))
    info = page.locator("#view-explorer [data-role=selection]").text_content()
    assert info.startswith(f"Span 4–9 {json.dumps(text[4:10])}")
    page.screenshot(path=tmp_path / "serve-explorer-select.png", full_page=True)


def timescales(matrix: list[list[float]]) -> list[float]:
    """Per unit of a (T, H) matrix: -1/ln(rho), rho its lag-1 autocorrelation (0 where rho <= 0)."""
    T, out = len(matrix), []
    for u in range(len(matrix[0])):
        x = [row[u] for row in matrix]
        mean = sum(x) / T
        den = sum((v - mean) ** 2 for v in x)
        num = sum((x[t] - mean) * (x[t - 1] - mean) for t in range(1, T))
        rho = num / den if den > 0 else 0.0
        out.append(0.0 if rho <= 0 else min(1000.0, -1 / math.log(min(rho, 0.999999))))
    return out


def centre(locator) -> tuple[float, float]:
    box = locator.bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


# -- Generate --------------------------------------------------------------------------------------------
def test_generate_streams_the_text_as_it_arrives(page, base, tmp_path):
    show(page, "generate")
    page.fill("#view-generate [data-role=steps]", "2000")
    page.fill("#view-generate [data-role=seed]", "5")
    page.evaluate(  # every length the output passes through while the answer streams
        """() => { window.lengths = [];
        new MutationObserver(() => window.lengths.push(
            document.querySelector('#view-generate [data-role=output]').textContent.length))
          .observe(document.querySelector('#view-generate [data-role=output]'),
                   {childList: true, subtree: true, characterData: true}); }"""
    )
    page.click("#view-generate [data-role=go]")
    page.wait_for_selector("#view-generate[data-state=done]", timeout=30_000)
    body = {"prime": PRIME, "steps": 2000, "seed": 5, "temperature": 0.8}
    done = json.loads(httpx.post(f"{base}/api/generate", json=body, timeout=30).text.splitlines()[-1])
    assert page.locator("#view-generate [data-role=output]").text_content() == done["text"]
    lengths = sorted(set(page.evaluate("window.lengths")))
    assert len([n for n in lengths if len(PRIME) < n < len(done["text"])]) >= 3, lengths  # arrived in parts
    assert "2000 characters in" in page.locator("#view-generate [data-role=stats]").text_content()
    page.screenshot(path=tmp_path / "serve-generate.png")


# -- Music -----------------------------------------------------------------------------------------------
def test_music_draws_the_piano_roll_and_offers_the_midi_file(page, base, tmp_path):
    show(page, "music")
    page.fill("#view-music [data-role=steps]", "24")
    page.fill("#view-music [data-role=seed]", "3")
    page.click("#view-music [data-role=go]")
    page.wait_for_selector("#view-music[data-state=done]", timeout=30_000)
    body = {"prime": "C4 E4 G4", "steps": 24, "seed": 3, "temperature": 0.9, "run": "music-run"}
    done = json.loads(httpx.post(f"{base}/api/generate", json=body, timeout=30).text.splitlines()[-1])
    pitched = [e for e in done["events"] if not e.startswith("rest")]
    canvas = page.locator("#view-music canvas.roll")
    assert canvas.get_attribute("data-notes") == str(len(pitched)) != "0"
    blue = canvas.evaluate(  # pixels in the generated notes' colour: the roll is drawn
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] === 47 && d[i + 1] === 95 && d[i + 2] === 208) n++;
        return n; }"""
    )
    generated = [e for e in done["events"][3:] if not e.startswith("rest")]
    assert (blue > 100) == bool(generated)
    assert page.locator("#view-music [data-role=events]").text_content().split() == done["events"]
    link = page.locator("#view-music [data-role=midi]")
    assert link.is_visible() and link.get_attribute("href").startswith("blob:")
    midi = page.evaluate(
        "fetch(document.querySelector('#view-music [data-role=midi]').href)"
        ".then(r => r.arrayBuffer()).then(b => Array.from(new Uint8Array(b).slice(0, 4)))"
    )
    assert bytes(midi) == b"MThd"
    page.click("#view-music [data-role=play]")  # WebAudio: the playhead moves, Stop ends it
    assert page.locator("#view-music [data-role=stop]").is_enabled()
    page.click("#view-music [data-role=stop]")
    assert page.locator("#view-music [data-role=stop]").is_disabled()
    page.screenshot(path=tmp_path / "serve-music.png")


# -- a view without its run, and the page of rnnkit explore ---------------------------------------------
def test_views_without_a_loaded_run_say_so(page, base):
    runs = httpx.get(f"{base}/api/runs").json()
    only_text = {**runs, "runs": [r for r in runs["runs"] if r["task"] == "text"]}
    page.route("**/api/runs", lambda route: route.fulfill(json=only_text))
    page.reload()
    page.wait_for_selector("body[data-ready]")
    for view, task in (("compose", "compose"), ("music", "music")):
        notice = page.locator(f"#view-{view} [data-role=no-run]")
        assert f"No {task} run is loaded" in notice.text_content()
        assert f"rnnkit train --task {task}" in notice.text_content()
    assert page.locator("#view-explorer [data-role=no-run]").count() == 0


def test_the_explore_page_works_from_disk_without_a_network(browser, run_dirs, tmp_path):
    text = "And the LORD spake unto Moses, saying,\nSpeak unto the children of Israel."
    (tmp_path / "verse.txt").write_text(text + "\n", encoding="utf-8")
    out = tmp_path / "explore.html"
    assert (
        cli.main(["explore", str(run_dirs["text"]), "--text", str(tmp_path / "verse.txt"), "--out", str(out)])
        == 0
    )
    context = browser.new_context()
    tab = context.new_page()
    requests: list[str] = []
    tab.on("request", lambda r: requests.append(r.url))
    tab.goto(out.as_uri())
    spans = tab.locator(".trace-text .ch")
    assert spans.count() == len(text)
    before = tab.eval_on_selector_all(
        ".trace-text .ch", "els => els.map(e => getComputedStyle(e).backgroundColor)"
    )
    tab.select_option("[data-role=quantity]", "cell")
    after = tab.eval_on_selector_all(
        ".trace-text .ch", "els => els.map(e => getComputedStyle(e).backgroundColor)"
    )
    assert before != after and len(set(after)) > 1
    assert requests == [out.as_uri()]  # nothing else fetched: the CSS, JavaScript and trace are inline
    tab.screenshot(path=tmp_path / "explore.png", full_page=True)
    context.close()
