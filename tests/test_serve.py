"""``rnnkit serve``: every endpoint answers what the library answers, within its limits, with clear errors;
concurrent generations are batched into one model step per token and give what each would alone; a
real server streams over HTTP."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import threading
import time

import httpx
import pandas as pd
import pytest
import torch
from fastapi.testclient import TestClient

from rnnkit import cli
from rnnkit.models.sampling import SamplingConfig
from rnnkit.serve import Limits, create_app, load_runs
from rnnkit.serve.batching import GenerationBatcher
from serve_runs import make_run

TASKS = ("text", "music", "compose", "series", "stocks")
LIMITS = Limits(max_prefix_chars=40, max_steps=300, max_trace_chars=30, max_series_values=500)


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {task: make_run(root, task) for task in TASKS}


@pytest.fixture(scope="module")
def served(run_dirs):
    return load_runs([run_dirs[t] for t in TASKS])


@pytest.fixture(scope="module")
def client(served):
    with TestClient(create_app(served, LIMITS)) as c:
        yield c


def by_task(served, task):
    return next(s for s in served if s.run.task == task)


def lines(response) -> list[dict]:
    return [json.loads(line) for line in response.text.splitlines() if line]


# -- the endpoints ---------------------------------------------------------------------------------------
def test_health_and_runs(client, served):
    assert client.get("/health").json() == {"status": "ok", "runs": len(TASKS)}
    listed = client.get("/api/runs").json()
    assert [r["task"] for r in listed["runs"]] == list(TASKS)
    text = listed["runs"][0]
    assert text["id"] == "text-run" and text["cell"] == "lstm" and text["metrics"] == {"val": {"loss": 1.5}}
    assert text["parameters"] == sum(p.numel() for p in by_task(served, "text").run.model.parameters())
    assert listed["limits"]["max_prefix_chars"] == 40
    assert "/api/compose" in client.get("/openapi.json").json()["paths"]


def test_compose_equals_the_library_and_reports_latency(client, served):
    run = by_task(served, "compose").run
    got = client.post("/api/compose", json={"prefix": "And God said", "num": 3, "words": 4}).json()
    want = run.compose("And God said", num=3, words=4)
    assert [c["text"] for c in got["completions"]] == [c.text for c in want]
    assert [c["prob"] for c in got["completions"]] == pytest.approx([c.prob for c in want])
    assert got["run"] == "compose-run" and got["latency_ms"] > 0


def test_generate_text_streams_what_run_generate_returns(client, served):
    run = by_task(served, "text").run
    body = {"prime": "And God", "steps": 60, "temperature": 0.8, "seed": 7}
    with client.stream("POST", "/api/generate", json=body) as r:
        assert r.headers["content-type"].startswith("application/x-ndjson")
        got = [json.loads(line) for line in r.iter_lines() if line]
    assert got[0] == {"type": "prime", "run": "text-run", "text": "And God"}
    tokens = [g["text"] for g in got if g["type"] == "token"]
    assert len(tokens) == 60 and got[-1]["type"] == "done" and got[-1]["tokens"] == 60
    want = run.generate("And God", steps=60, temperature=0.8, seed=7)
    assert got[-1]["text"] == "And God" + "".join(tokens) == want


def test_generate_music_streams_events_and_a_midi_file(client, served):
    run = by_task(served, "music").run
    body = {"prime": "C4 E4", "steps": 12, "seed": 3, "temperature": 0.9, "run": "music-run"}
    got = lines(client.post("/api/generate", json=body))
    assert got[0] == {"type": "prime", "run": "music-run", "events": ["C4:1", "E4:1"], "notes": []}
    events = [g["event"] for g in got if g["type"] == "event"]
    done = got[-1]
    assert done["type"] == "done" and done["events"][len(got[0]["events"]) :] == events
    want = run.generate("C4 E4", steps=12, temperature=0.9, seed=3)
    assert done["events"] == [str(e) for e in want]
    assert base64.b64decode(done["midi_base64"])[:4] == b"MThd"


def test_forecast_a_posted_series_equals_the_library(client, served):
    run = by_task(served, "series").run
    values = [float(v) for v in (torch.sin(torch.arange(200) / 5) * 10 + 100).tolist()]
    times = pd.date_range("2026-01-01", periods=200, freq="5min")
    body = {"values": values, "times": [t.isoformat() for t in times], "horizon": 2}
    got = client.post("/api/forecast", json=body).json()
    want = run.forecast(pd.Series(values, index=times), 2)
    assert [r["forecast"] for r in got["forecasts"]] == pytest.approx(want["forecast"].tolist())
    assert got["task"] == "series" and len(got["forecasts"]) == 2
    # without times the run's time-of-day features cannot be made: the library's message, as a 422
    r = client.post("/api/forecast", json={"values": values})
    assert r.status_code == 422 and "time-of-day features need the series' times" in r.json()["detail"]


def test_forecast_the_stocks_runs_own_data(client, served):
    got = client.post("/api/forecast", json={"run": "stocks-run"}).json()
    want = by_task(served, "stocks").run.forecast()
    assert [r["forecast"] for r in got["forecasts"]] == pytest.approx(want["forecast"].tolist())
    assert {r["ticker"] for r in got["forecasts"]} == {"AAPL", "MSFT"}


def test_trace_gives_every_gate_state_and_the_next_characters(client, served):
    run = by_task(served, "text").run
    got = client.post("/api/trace", json={"text": "In the", "top": 3}).json()
    tr = run.trace("In the")
    assert got["chars"] == list("In the") and got["gate_names"] == list(tr.gates)
    assert set(got["quantities"]) == {"hidden", "cell", *(f"gate:{g}" for g in tr.gates)}
    for name, t in [
        ("hidden", tr.hiddens),
        ("cell", tr.cells),
        *((f"gate:{g}", v) for g, v in tr.gates.items()),
    ]:
        torch.testing.assert_close(torch.tensor(got["quantities"][name]), t.float(), atol=6e-5, rtol=0)
    assert len(got["next"]) == 6 and all(len(n) == 3 for n in got["next"])
    probs = [n["prob"] for n in got["next"][0]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1


# -- limits and errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("/api/compose", {"prefix": "x" * 41}, "prefix: String should have at most 40 characters"),
        ("/api/compose", {"prefix": "In", "num": 11}, "num: Input should be less than or equal to 10"),
        ("/api/generate", {"prime": "And", "steps": 301}, "steps: Input should be less than or equal to 300"),
        ("/api/generate", {"prime": ""}, "prime: String should have at least 1 character"),
        ("/api/generate", {"prime": "And", "top_p": 0}, "top_p: Input should be greater than 0"),
        ("/api/trace", {"text": "y" * 31}, "text: String should have at most 30 characters"),
        ("/api/forecast", {"values": [1.0] * 501}, "values: List should have at most 500 items"),
        ("/api/compose", {"prefix": "In", "path": "/etc/passwd"}, "path: Extra inputs are not permitted"),
    ],
)
def test_limits_are_422_naming_the_field_and_the_limit(client, path, body, named):
    r = client.post(path, json=body)
    assert r.status_code == 422 and named in r.json()["detail"], r.json()


def test_bad_values_the_library_refuses_are_422_with_its_message(client):
    r = client.post("/api/generate", json={"prime": "And \u2603", "steps": 5})
    assert r.status_code == 422 and "prime" in r.json()["detail"]
    r = client.post("/api/forecast", json={"run": "stocks-run", "values": [1.0, 2.0]})
    assert r.status_code == 422 and "stocks run takes rows" in r.json()["detail"]
    nan = '{"values": [1.0, NaN, 2.0]}'  # JSON has no NaN; Python's parser reads it
    r = client.post("/api/forecast", content=nan, headers={"content-type": "application/json"})
    assert r.status_code == 422 and "values must be finite numbers" in r.json()["detail"]


def test_unknown_or_wrong_runs_are_404_naming_what_is_loaded(client):
    r = client.post("/api/compose", json={"prefix": "In", "run": "nope"})
    assert r.status_code == 404 and "no run 'nope' is loaded" in r.json()["detail"]
    assert "compose-run (compose)" in r.json()["detail"]
    r = client.post("/api/trace", json={"text": "In", "run": "compose-run"})
    assert (
        r.status_code == 404 and "serves text runs; run 'compose-run' is a compose run" in r.json()["detail"]
    )


def test_a_body_over_the_limit_is_413(served):
    with TestClient(create_app(served, Limits(max_body_bytes=100))) as c:
        r = c.post(
            "/api/compose",
            content=json.dumps({"prefix": "x" * 200}),
            headers={"content-type": "application/json"},
        )
    assert r.status_code == 413 and "limit is 100" in r.json()["detail"]


def test_an_endpoint_without_a_run_of_its_task_is_404(run_dirs):
    only_text = load_runs([run_dirs["text"]])
    with TestClient(create_app(only_text)) as c:
        r = c.post("/api/compose", json={"prefix": "In"})
    assert r.status_code == 404 and "needs a compose run; none is loaded (loaded: text-run (text))" in r.text


# -- dynamic batching ------------------------------------------------------------------------------------
@pytest.mark.parametrize("temperature", [0.0, 0.9])
def test_concurrent_generations_share_steps_and_each_equals_its_own_run(served, temperature):
    """Four requests at once: the batcher advances them together (one step per token for all), and each
    gets exactly what the model generates for it alone (float64 model, so batched and single-row
    arithmetic round alike)."""
    model = by_task(served, "text").run.model
    import copy

    model = copy.deepcopy(model).double()
    batcher = GenerationBatcher(model)
    primes = [[5, 6, 7], [8], [9, 10], [11, 12, 13, 14]]
    results: list[list[int] | None] = [None] * 4
    go = threading.Barrier(4)

    def worker(i):
        go.wait()
        results[i] = list(batcher.generate(primes[i], 150, SamplingConfig(temperature), seed=i))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    batcher.close()
    for i, prime in enumerate(primes):
        assert results[i] == model.sample(prime, 150, temperature, seed=i), f"request {i}"
    assert batcher.stats.largest_batch >= 2 and batcher.stats.tokens >= 4 * 149 - 3
    assert batcher.stats.ticks < batcher.stats.tokens  # fewer steps than tokens: they were shared


def test_a_cancelled_request_leaves_the_others_running(served):
    batcher = GenerationBatcher(by_task(served, "text").run.model)
    stream = batcher.generate([5], 1000, SamplingConfig(0.0))
    assert len([next(stream) for _ in range(3)]) == 3
    stream.close()  # the client went away
    assert len(list(batcher.generate([6], 20, SamplingConfig(0.0)))) == 20
    batcher.close()


# -- the command and a real server -----------------------------------------------------------------------
def test_serve_help_and_bad_arguments(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        cli.main(["serve", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "POST /api/generate" in out and "127.0.0.1" in out
    assert cli.main(["serve", "--port", "0", str(tmp_path)]) == 2
    assert "--port must be in 1..65535, got 0" in capsys.readouterr().err
    assert cli.main(["serve", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["serve", "--out-dir", str(tmp_path)]) == 2
    assert "no trained run under" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_real_server_streams_tokens_as_they_come(run_dirs):
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rnnkit",
            "serve",
            str(run_dirs["text"]),
            "--port",
            str(port),
            "--threads",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).json()["status"] == "ok":
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stdout.read()
            assert time.monotonic() < deadline, "the server did not answer within 60 s"
            time.sleep(0.2)
        arrivals, start = [], time.perf_counter()
        body = {"prime": "And", "steps": 2000, "seed": 1}
        with httpx.stream("POST", f"{base}/api/generate", json=body, timeout=60) as r:
            for line in r.iter_lines():
                if line:
                    arrivals.append((time.perf_counter() - start, json.loads(line)))
        kinds = [a[1]["type"] for a in arrivals]
        assert kinds[0] == "prime" and kinds[-1] == "done" and kinds.count("token") == 2000
        first, last = arrivals[1][0], arrivals[-1][0]
        assert first < 0.5 * last, f"first token at {first:.3f} s, the end at {last:.3f} s: not streamed"
        assert httpx.get(f"{base}/docs", timeout=5).status_code == 200
    finally:
        server.terminate()
        server.wait(10)


# -- the load test ---------------------------------------------------------------------------------------
def test_load_test_sends_what_it_says_and_stops(served):
    """In process (ASGI transport): every request answered, the numbers consistent, and batching on
    for generations shares steps."""
    import asyncio

    from rnnkit.serve.loadtest import render_load_markdown, run_load

    app = create_app(served, LIMITS)

    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            compose = await run_load(
                client,
                "/api/compose",
                lambda i: {"prefix": f"And {i}", "words": 3},
                requests=12,
                concurrency=4,
            )
            gen = await run_load(
                client,
                "/api/generate",
                lambda i: {"prime": "And", "steps": 30, "seed": i},
                requests=8,
                concurrency=4,
                stream=True,
            )
            bad = await run_load(
                client, "/api/compose", lambda i: {"prefix": "x" * 99}, requests=3, concurrency=2
            )
        return compose, gen, bad

    compose, gen, bad = asyncio.run(go())
    assert (compose.requests, compose.failed, gen.failed, bad.failed) == (12, 0, 0, 3)
    assert 0 < compose.p50_ms <= compose.p99_ms and compose.first_token_p50_ms is None
    assert gen.tokens_per_s == pytest.approx(8 * 30 / gen.seconds, rel=0.02)
    assert 0 < gen.first_token_p50_ms <= gen.p50_ms
    with pytest.raises(ValueError, match="requests and concurrency must be >= 1"):
        asyncio.run(run_load(None, "/x", dict, requests=0, concurrency=1))
    payload = {
        "machine": {"date": "2026-12-06", "cpu": "CPU", "cpu_family": "F", "simd": ["avx2"], "torch": "2"},
        "threads": 2,
        "steps": 30,
        "runs": {"text": "t", "compose": "c"},
        "load_average": [0.5, 1.0],
        "modes": [
            {"batching": True, "stats": [compose.to_dict(), gen.to_dict()]},
            {
                "batching": False,
                "stats": [compose.to_dict(), {**gen.to_dict(), "tokens_per_s": gen.tokens_per_s / 2}],
            },
        ],
    }
    md = render_load_markdown(payload)
    assert md.count("\n| /api/") == 4 and "/api/generate (30 tokens) | on | 8 (4)" in md
    assert "Dynamic batching generates 2.0x the tokens per second" in md
