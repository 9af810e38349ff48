"""The HTTP API of ``rnnkit serve`` (FastAPI; OpenAPI docs at ``/docs``).

=======================  ==================  ========================================================
endpoint                 runs                what it returns
=======================  ==================  ========================================================
``GET /``                —                   the page: Explorer, Compose, Generate, Music (``/static/``)
``GET /health``          —                   ``{"status": "ok", "runs": n}``
``GET /api/runs``        all                 what is loaded: id, task, cell, size, metrics, baselines
``GET /api/passages``    text                a few short passages of the run's validation text
``POST /api/compose``    compose             the best completions of a prefix, and the latency
``POST /api/generate``   text, music         the continuation, streamed as NDJSON lines as it comes
``POST /api/forecast``   stocks, series      the next values of the run's data or of a posted series
``POST /api/trace``      text                per step and layer: hidden, cell and every gate, and the
                                             most likely next characters
=======================  ==================  ========================================================

Every input has a limit (:class:`Limits`): a value past it is a 422 naming the field and the limit, a
body larger than ``max_body_bytes`` a 413. A request names runs by id, never a path. Concurrent
generations of a run are batched into one model step per token (:mod:`rnnkit.serve.batching`).
"""

import base64
import json
import math
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from ..models.sampling import SamplingConfig
from .batching import GenerationBatcher
from .page import STATIC_DIR
from .passages import run_passages
from .runs import ServedRun, pick


@dataclass(frozen=True)
class Limits:
    """The largest request the server takes (each a 422 naming it when exceeded; the body a 413)."""

    max_body_bytes: int = 1_000_000
    max_prime_chars: int = 1_000
    max_steps: int = 2_000
    max_prefix_chars: int = 1_000
    max_completions: int = 10
    max_words: int = 20
    max_beam: int = 16
    max_trace_chars: int = 500
    max_series_values: int = 20_000
    max_batch: int = 64  # requests generated together in one step


# -- request bodies --------------------------------------------------------------------------------------
def _models(limits: Limits) -> dict[str, type[BaseModel]]:
    """The request models, their bounds taken from ``limits``."""

    class ComposeRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not ignored

        prefix: str = Field(max_length=limits.max_prefix_chars, description="the text typed so far")
        num: int = Field(3, ge=1, le=limits.max_completions, description="completions to return")
        words: int | None = Field(None, ge=1, le=limits.max_words, description="longest completion (tokens)")
        beam: int = Field(5, ge=1, le=limits.max_beam, description="beam width")
        run: str | None = Field(None, description="a compose run's id (GET /api/runs); default: the first")

    class GenerateRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not ignored

        prime: str | None = Field(
            None,
            min_length=1,
            max_length=limits.max_prime_chars,
            description="text to continue (text runs) or notes such as 'C4:0.5 E4 G4' (music runs)",
        )
        steps: int = Field(200, ge=1, le=limits.max_steps, description="characters / events to generate")
        temperature: float = Field(0.8, ge=0, le=10, description="0 = always the most likely")
        top_k: int | None = Field(None, ge=1, description="sample among the k most likely")
        top_p: float | None = Field(None, gt=0, le=1, description="sample within the nucleus of mass p")
        seed: int | None = Field(None, description="the same seed gives the same continuation")
        run: str | None = Field(None, description="a text or music run's id; default: the first")

    class ForecastRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not ignored

        values: list[float] | None = Field(
            None,
            min_length=1,
            max_length=limits.max_series_values,
            description="series runs: the observations, oldest first (default: the run's own data)",
        )
        times: list[str] | None = Field(
            None,
            max_length=limits.max_series_values,
            description="series runs: the observations' times (ISO 8601), needed by runs trained with "
            "time-of-day features",
        )
        rows: list[dict[str, Any]] | None = Field(
            None,
            min_length=1,
            max_length=limits.max_series_values,
            description="stocks runs: daily bars {date, open, high, low, close, volume}, oldest first",
        )
        horizon: int | None = Field(None, ge=1, description="keep the forecasts up to this many steps ahead")
        run: str | None = Field(None, description="a stocks or series run's id; default: the first")

    class TraceRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not ignored

        text: str = Field(min_length=1, max_length=limits.max_trace_chars, description="the text to read")
        top: int = Field(5, ge=1, le=20, description="most likely next characters given per step")
        run: str | None = Field(None, description="a text run's id; default: the first")

    return {
        "compose": ComposeRequest,
        "generate": GenerateRequest,
        "forecast": ForecastRequest,
        "trace": TraceRequest,
    }


def _rounded(t: torch.Tensor, digits: int = 4) -> list:
    return torch.round(t.float(), decimals=digits).tolist()


# -- the app ---------------------------------------------------------------------------------------------
def create_app(runs: Sequence[ServedRun], limits: Limits | None = None, *, batching: bool = True) -> FastAPI:
    """The FastAPI application serving ``runs`` (see the module docstring); ``batching=False`` runs every
    generation request on its own (the comparison the load test makes)."""
    limits = limits or Limits()
    runs = list(runs)
    models = _models(limits)
    ComposeRequest, GenerateRequest = models["compose"], models["generate"]
    ForecastRequest, TraceRequest = models["forecast"], models["trace"]
    batchers = {
        s.id: GenerationBatcher(s.run.model, enabled=batching, max_batch=limits.max_batch)
        for s in runs
        if s.run.task in ("text", "music")
    }
    app = FastAPI(
        title="rnnkit serve",
        description="Smart Compose, streaming generation, forecasts and gate traces of trained runs.",
        version="1",
    )
    app.state.runs, app.state.limits, app.state.batchers = runs, limits, batchers
    # one lock per model: compose and trace take it, and generation steps too when not batched
    locks = {s.id: batchers[s.id].lock if s.id in batchers else threading.Lock() for s in runs}

    @app.middleware("http")
    async def body_limit(request: Request, call_next):
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > limits.max_body_bytes:
            return JSONResponse(
                status_code=413,
                content={
                    "detail": f"the request body has {int(size):,} bytes; the limit is "
                    f"{limits.max_body_bytes:,} (max_body_bytes)"
                },
            )
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        lines = [f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in errors]
        return JSONResponse(
            status_code=422,
            content={"detail": "; ".join(lines), "errors": json.loads(json.dumps(errors, default=str))},
        )

    def chosen(tasks: tuple[str, ...], run_id: str | None, endpoint: str) -> ServedRun:
        try:
            return pick(runs, tasks, run_id, endpoint)
        except LookupError as e:
            raise HTTPException(status_code=404, detail=str(e)) from None

    def bad(e: Exception) -> HTTPException:
        return HTTPException(status_code=422, detail=str(e))

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "runs": len(runs)}

    @app.get("/api/runs")
    def list_runs() -> dict[str, Any]:
        return {"runs": [s.describe() for s in runs], "limits": limits.__dict__}

    passages: dict[str, dict[str, Any]] = {}  # run id -> its passages, read once

    @app.get("/api/passages")
    def list_passages(run: str | None = None) -> dict[str, Any]:
        s = chosen(("text",), run, "GET /api/passages")
        if s.id not in passages:
            try:
                found = run_passages(s.run, max_chars=min(300, limits.max_trace_chars))
            except (OSError, ValueError) as e:
                raise HTTPException(
                    status_code=404, detail=f"run {s.id!r}: its validation text cannot be read: {e}"
                ) from None
            passages[s.id] = {"run": s.id, **found}
        return passages[s.id]

    @app.post("/api/compose")
    def compose(body: ComposeRequest) -> dict[str, Any]:  # type: ignore[valid-type]
        s = chosen(("compose",), body.run, "POST /api/compose")
        start = time.perf_counter()
        try:
            with locks[s.id]:
                found = s.run.compose(
                    body.prefix, num=body.num, words=body.words, beam=max(body.beam, body.num)
                )
        except (ValueError, TypeError) as e:
            raise bad(e) from None
        return {
            "run": s.id,
            "prefix": body.prefix,
            "completions": [
                {
                    "text": c.text,
                    "tokens": c.tokens,
                    "prob": c.prob,
                    "per_token": c.per_token,
                    "ends_sentence": c.ends_sentence,
                }
                for c in found
            ],
            "latency_ms": round((time.perf_counter() - start) * 1e3, 2),
        }

    @app.post("/api/generate")
    def generate(body: GenerateRequest) -> StreamingResponse:  # type: ignore[valid-type]
        s = chosen(("text", "music"), body.run, "POST /api/generate")
        try:
            config = SamplingConfig(body.temperature, body.top_k, body.top_p)
            lines = (_text_lines if s.run.task == "text" else _music_lines)(s, body, config, batchers[s.id])
            first = next(lines)  # the prime is checked here: a bad one is a 422, not a broken stream
        except (ValueError, TypeError) as e:
            raise bad(e) from None

        def stream() -> Iterator[bytes]:
            yield (json.dumps(first) + "\n").encode()
            for line in lines:
                yield (json.dumps(line) + "\n").encode()

        return StreamingResponse(stream(), media_type="application/x-ndjson")

    @app.post("/api/forecast")
    def forecast(body: ForecastRequest) -> dict[str, Any]:  # type: ignore[valid-type]
        s = chosen(("stocks", "series"), body.run, "POST /api/forecast")
        try:
            frame = _forecast(s, body)
        except (ValueError, TypeError, KeyError) as e:
            raise bad(e) from None
        rows = json.loads(frame.to_json(orient="records", date_format="iso"))
        return {"run": s.id, "task": s.run.task, "forecasts": rows}

    @app.post("/api/trace")
    def trace(body: TraceRequest) -> dict[str, Any]:  # type: ignore[valid-type]
        s = chosen(("text",), body.run, "POST /api/trace")
        try:
            with locks[s.id]:
                return _trace(s, body.text, body.top)
        except (ValueError, TypeError) as e:
            raise bad(e) from None

    return app


# -- endpoint bodies ------------------------------------------------------------------------------------
def _text_lines(
    s: ServedRun, body: Any, config: SamplingConfig, batcher: GenerationBatcher
) -> Iterator[dict]:
    run = s.run
    prime = run.state["default_prime"] if body.prime is None else body.prime
    ids = run.vocab.encode(prime, "prime").tolist()
    yield {"type": "prime", "run": s.id, "text": prime}
    start, pieces = time.perf_counter(), []
    for token in batcher.generate(ids, body.steps, config, body.seed):
        pieces.append(run.vocab.chars[token])
        yield {"type": "token", "text": pieces[-1]}
    seconds = time.perf_counter() - start
    yield {
        "type": "done",
        "text": prime + "".join(pieces),
        "tokens": len(pieces),
        "seconds": round(seconds, 4),
        "tokens_per_s": round(len(pieces) / seconds, 1) if seconds > 0 else None,
    }


def _music_lines(
    s: ServedRun, body: Any, config: SamplingConfig, batcher: GenerationBatcher
) -> Iterator[dict]:
    from ..data.music_vocab import BOS, SPECIALS
    from ..tasks.music_report import GENERATE_PRIME, parse_primer, write_song

    run = s.run
    prime = body.prime or GENERATE_PRIME
    primed, notes = parse_primer(prime, run.vocab)
    yield {"type": "prime", "run": s.id, "events": [str(e) for e in primed], "notes": notes}
    ids = [BOS, *(run.vocab.id(e) for e in primed)]
    generated = []
    start = time.perf_counter()
    for token in batcher.generate(ids, body.steps, config, body.seed):
        if token < len(SPECIALS):
            continue  # <s>/<unk> are never training targets; skipped if ever drawn
        generated.append(run.vocab.events[token - len(SPECIALS)])
        yield {"type": "event", "event": str(generated[-1])}
    seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:  # the server's own scratch folder, never a requested path
        out = Path(tmp) / "song.mid"
        write_song(primed, generated, out, prime)
        midi = base64.b64encode(out.read_bytes()).decode("ascii")
    yield {
        "type": "done",
        "events": [str(e) for e in primed + generated],
        "generated": len(generated),
        "seconds": round(seconds, 4),
        "midi_base64": midi,
    }


def _forecast(s: ServedRun, body: Any):
    import pandas as pd

    run = s.run
    if run.task == "series":
        if body.rows is not None:
            raise ValueError("rows are daily bars for a stocks run; a series run takes values")
        if body.values is None:
            if body.times is not None:
                raise ValueError("times go with values")
            return run.forecast(None, body.horizon)
        if not all(math.isfinite(v) for v in body.values):
            raise ValueError("values must be finite numbers")
        index = None
        if body.times is not None:
            if len(body.times) != len(body.values):
                raise ValueError(
                    f"times must match values: {len(body.times)} times, {len(body.values)} values"
                )
            try:
                index = pd.DatetimeIndex(pd.to_datetime(body.times))
            except (ValueError, TypeError) as e:
                raise ValueError(f"times must be ISO 8601 dates/times: {e}") from None
        return run.forecast(pd.Series(body.values, index=index, dtype="float64"), body.horizon)
    if body.values is not None:
        raise ValueError("values are a series run's observations; a stocks run takes rows (daily bars)")
    if body.rows is None:
        return run.forecast(None, body.horizon)
    with tempfile.TemporaryDirectory() as tmp:  # the server's own scratch file, never a requested path
        path = Path(tmp) / "posted.csv"
        pd.DataFrame(body.rows).to_csv(path, index=False)
        return run.forecast(str(path), body.horizon)


def _trace(s: ServedRun, text: str, top: int) -> dict[str, Any]:
    run = s.run
    tr = run.trace(text)  # unbatched: gates[name] (L, T, H), hiddens (L, T, H), cells (L, T, H) | None
    ids = run.vocab.encode(text, "text")
    with torch.no_grad():
        logits, _ = run.model(ids.unsqueeze(0))  # (1, T, V)
    probs = logits[0].float().softmax(-1)  # (T, V)
    p, idx = probs.topk(min(top, probs.size(-1)), dim=-1)  # (T, k)
    quantities = {"hidden": tr.hiddens}
    if tr.cells is not None:
        quantities["cell"] = tr.cells
    quantities |= {f"gate:{name}": g for name, g in tr.gates.items()}
    return {
        "run": s.id,
        "chars": list(text),
        "layers": int(tr.hiddens.shape[0]),
        "hidden_size": int(tr.hiddens.shape[-1]),
        "gate_names": list(tr.gates),
        "quantities": {name: _rounded(q) for name, q in quantities.items()},  # each (L, T, H)
        "next": [
            [
                {"char": run.vocab.chars[int(i)], "prob": round(float(q), 5)}
                for q, i in zip(pr, ix, strict=True)
            ]
            for pr, ix in zip(p, idx, strict=True)
        ],
    }
