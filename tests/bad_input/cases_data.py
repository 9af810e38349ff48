"""Bad data files and folders: series and stock CSVs (missing values, inf, text, bad dates, empty, binary,
too short, missing columns, a directory), forecasting a file shorter than the run's window, text files,
jump clip folders with a corrupt frame image, and a file where a data folder belongs."""

from __future__ import annotations

import io
import math
from pathlib import Path

from . import Case, chain, trained_run, write

SMOKE = ["--preset", "smoke", "--no-progress", "--out-dir", "runs"]
SERIES_CSV = ["train", "--task", "series", *SMOKE, "--csv", "series.csv", "--column", "load"]
STOCKS_CSV = ["train", "--task", "stocks", *SMOKE, "--csv", "prices.csv"]
COLUMNS = ["--column", "load", "--date-column", "time"]
SERIES_RUN = trained_run("series", "s")
STOCKS_RUN = trained_run("stocks", "k")


def series_csv(n: int = 2000, *, nan_every: int = 0, cells: dict[int, str] | None = None) -> str:
    """An hourly series ``time,load`` of ``n`` rows; every ``nan_every``-th value empty (0: none) and data
    row k replaced by ``cells[k]`` (a raw cell text)."""
    cells = cells or {}
    lines = ["time,load"]
    for k in range(n):
        day, hour = divmod(k, 24)
        value = f"{50 + 10 * math.sin(k / 24 * 2 * math.pi) + (k % 7) * 0.3:.3f}"
        if nan_every and k % nan_every == 1:
            value = ""
        stamp = f"2020-{1 + day // 28:02d}-{1 + day % 28:02d} {hour:02d}:00:00"
        lines.append(f"{stamp},{cells.get(k, value)}")
    return "\n".join(lines) + "\n"


def prices_csv(n: int = 300, *, cells: dict[tuple[int, str], str] | None = None) -> str:
    """Daily bars ``date,open,high,low,close,volume`` of ``n`` weekdays; ``cells[(row, column)]`` replaces
    one cell's text."""
    cells = cells or {}
    cols = ("date", "open", "high", "low", "close", "volume")
    lines = [",".join(cols)]
    k = day = 0
    while k < n:
        day += 1
        if day % 7 in (5, 6):
            continue
        price = 100 * math.exp(0.02 * math.sin(k / 9) + 0.001 * k)
        y, rest = divmod(day, 336)
        row = {
            "date": f"{2010 + y}-{1 + rest // 28:02d}-{1 + rest % 28:02d}",
            "open": f"{price:.3f}",
            "high": f"{price * 1.01:.3f}",
            "low": f"{price * 0.99:.3f}",
            "close": f"{price * 1.002:.3f}",
            "volume": "100000",
        }
        lines.append(",".join(cells.get((k, c), row[c]) for c in cols))
        k += 1
    return "\n".join(lines) + "\n"


def _mkdir(name: str):
    def setup(root: Path) -> None:
        (root / name).mkdir(parents=True)

    return setup


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (16, 16), 128).save(buf, "PNG")
    return buf.getvalue()


def _clips(broken: str, content: bytes | None) -> object:
    """A jump data folder ``clips/<a|b>/clip<k>/f<j>.png`` (2 classes × 3 clips × 4 frames) with frame
    ``broken`` replaced by ``content`` (None: the first half of the image, a truncated file)."""

    def setup(root: Path) -> None:
        png = _png()
        for cls in "ab":
            for k in range(3):
                folder = root / "clips" / cls / f"clip{k}"
                folder.mkdir(parents=True)
                for j in range(4):
                    (folder / f"f{j}.png").write_bytes(png)
        (root / broken).write_bytes(png[: len(png) // 2] if content is None else content)

    return setup


BINARY = bytes(range(256)) * 8

CASES = [
    # -- series CSV: values -----------------------------------------------------------------------------
    Case(
        "data-series-csv-mostly-missing",
        argv=SERIES_CSV,
        setup=write("series.csv", series_csv(2000, nan_every=3)),
        names=["series.csv", "'load'", "667 missing", "10%"],
    ),
    Case(
        "data-series-csv-inf",
        argv=[*SERIES_CSV, "--date-column", "time"],
        setup=write("series.csv", series_csv(500, cells={100: "inf"})),
        names=["series.csv", "'load'", "line 102", "infinite"],
    ),
    Case(
        "data-series-csv-minus-inf",
        argv=SERIES_CSV,
        setup=write("series.csv", series_csv(500, cells={7: "-inf", 8: "-inf"})),
        names=["series.csv", "'load'", "lines 9, 10", "infinite"],
    ),
    Case(
        "data-series-csv-text-value",
        argv=SERIES_CSV,
        setup=write("series.csv", series_csv(500, cells={41: "n/a?"})),
        names=["series.csv", "'load'", "line 43", "must hold numbers", "n/a?"],
    ),
    Case(
        "data-series-csv-bad-dates",
        argv=[*SERIES_CSV, "--date-column", "time"],
        setup=write("series.csv", series_csv(500).replace("2020-01-03 05:00:00", "yesterday")),
        names=["series.csv", "'time'", "line 55", "dates"],
    ),
    Case(
        "data-series-csv-too-short",
        argv=SERIES_CSV,
        setup=write("series.csv", series_csv(12)),
        names=["series.csv", "12 steps", "data.window", "data.horizon"],
    ),
    Case(
        "data-series-csv-misnamed-column",
        argv=[*SERIES_CSV[:-1], "Load"],
        setup=write("series.csv", series_csv(500)),
        names=["series.csv", "'Load'", "'time'", "'load'"],
    ),
    Case(
        "data-series-csv-misnamed-date-column",
        argv=[*SERIES_CSV, "--date-column", "timestamp"],
        setup=write("series.csv", series_csv(500)),
        names=["series.csv", "date_column", "'timestamp'", "'time'"],
    ),
    Case(
        "data-series-csv-without-column",
        argv=["train", "--task", "series", *SMOKE, "--csv", "series.csv"],
        setup=write("series.csv", series_csv(500)),
        names=["series.csv", "data.column", "--column"],
    ),
    Case(
        "data-series-validation-share-too-small",
        argv=["train", "--task", "series", *SMOKE, "--set", "data.val_frac=0.0001"],
        names=["validation period", "data.val_frac=0.0001", "no complete window"],
    ),
    Case(
        "data-stocks-validation-share-too-small",
        argv=["train", "--task", "stocks", *SMOKE, "--set", "data.val_frac=0.0001"],
        names=["validation period", "data.val_frac"],
    ),
    # -- series CSV: the file itself ----------------------------------------------------------------------
    Case(
        "data-series-csv-empty", argv=SERIES_CSV, setup=write("series.csv", ""), names=["series.csv", "empty"]
    ),
    Case(
        "data-series-csv-header-only",
        argv=SERIES_CSV,
        setup=write("series.csv", "time,load\n"),
        names=["series.csv", "no data rows"],
    ),
    Case(
        "data-series-csv-binary",
        argv=SERIES_CSV,
        setup=write("series.csv", BINARY),
        names=["series.csv", "not UTF-8"],
    ),
    Case(
        "data-series-csv-ragged",
        argv=SERIES_CSV,
        setup=write("series.csv", "time,load\n1,2\n3,4,5,6\n7,8\n"),
        names=["series.csv", "not a readable CSV"],
    ),
    Case(
        "data-series-csv-is-a-directory",
        argv=SERIES_CSV,
        setup=_mkdir("series.csv"),
        names=["series.csv", "is a directory"],
    ),
    Case(
        "data-series-csv-missing",
        argv=SERIES_CSV,
        names=["series.csv", "does not exist"],
    ),
    # -- forecasting a file shorter than the run's window -------------------------------------------------
    Case(
        "data-forecast-series-csv-shorter-than-window",
        argv=["forecast", "runs/s", "--task", "series", "--csv", "short.csv", *COLUMNS],
        setup=chain(SERIES_RUN, write("short.csv", series_csv(10))),
        names=["short.csv", "10 steps", "data.window", "at least"],
    ),
    Case(
        "data-forecast-stocks-csv-shorter-than-window",
        argv=["forecast", "runs/k", "--task", "stocks", "--csv", "prices.csv"],
        setup=chain(STOCKS_RUN, write("prices.csv", prices_csv(6))),
        names=["prices.csv", "6 trading days", "data.window", "at least"],
    ),
    Case(
        "data-forecast-series-csv-inf",
        argv=["forecast", "runs/s", "--task", "series", "--csv", "series.csv", "--column", "load"],
        setup=chain(SERIES_RUN, write("series.csv", series_csv(200, cells={150: "inf"}))),
        names=["series.csv", "'load'", "line 152", "infinite"],
    ),
    # -- stock prices CSV ---------------------------------------------------------------------------------
    Case(
        "data-stocks-csv-bad-dates",
        argv=STOCKS_CSV,
        setup=write("prices.csv", prices_csv(cells={(5, "date"): "notadate", (9, "date"): "2015-13-45"})),
        names=["prices.csv", "'date'", "lines 7, 11", "dates"],
    ),
    Case(
        "data-stocks-csv-missing-columns",
        argv=STOCKS_CSV,
        setup=write("prices.csv", series_csv(300)),
        names=["prices.csv", "open", "high", "low", "close", "volume", "missing"],
    ),
    Case(
        "data-stocks-csv-negative-price",
        argv=STOCKS_CSV,
        setup=write("prices.csv", prices_csv(cells={(20, "close"): "-3"})),
        names=["prices.csv", "'close'", "line 22", "positive"],
    ),
    Case(
        "data-stocks-csv-empty-price",
        argv=STOCKS_CSV,
        setup=write("prices.csv", prices_csv(cells={(30, "high"): ""})),
        names=["prices.csv", "'high'", "line 32"],
    ),
    Case(
        "data-stocks-csv-too-short",
        argv=STOCKS_CSV,
        setup=write("prices.csv", prices_csv(8)),
        names=["prices.csv", "8 trading days", "data.window"],
    ),
    Case(
        "data-stocks-csv-binary",
        argv=STOCKS_CSV,
        setup=write("prices.csv", BINARY),
        names=["prices.csv", "not UTF-8"],
    ),
    # -- text files and data folders ------------------------------------------------------------------------
    Case(
        "data-text-file-is-a-directory",
        argv=["train", "--task", "text", *SMOKE, "--text", "notes"],
        setup=_mkdir("notes"),
        names=["notes", "is a directory"],
    ),
    Case(
        "data-text-file-binary",
        argv=["train", "--task", "text", *SMOKE, "--text", "notes.txt"],
        setup=write("notes.txt", BINARY),
        names=["notes.txt", "not UTF-8"],
    ),
    Case(
        "data-compose-text-file-binary",
        argv=["train", "--task", "compose", *SMOKE, "--text", "notes.txt"],
        setup=write("notes.txt", BINARY),
        names=["notes.txt", "not UTF-8"],
    ),
    Case(
        "data-jump-corrupt-frame-image",
        argv=["train", "--task", "jump", *SMOKE, "--data", "clips"],
        setup=_clips("clips/a/clip1/f2.png", b"not an image at all"),
        names=["f2.png", "cannot be read"],
    ),
    Case(
        "data-jump-truncated-frame-image",
        argv=["train", "--task", "jump", *SMOKE, "--data", "clips"],
        setup=_clips("clips/b/clip2/f1.png", None),
        names=["f1.png", "cannot be read"],
    ),
    Case(
        "data-jump-folder-is-a-file",
        argv=["train", "--task", "jump", *SMOKE, "--data", "clips.txt"],
        setup=write("clips.txt", "not a folder\n"),
        names=["clips.txt", "is a file"],
    ),
    Case(
        "data-music-midi-folder-is-a-file",
        argv=["train", "--task", "music", *SMOKE, "--midi", "song.mid"],
        setup=write("song.mid", b"MThd\x00\x00\x00\x06"),
        names=["song.mid", "is a file"],
    ),
]
