"""Screenshots of the page of ``rnnkit serve`` for the README, from trained runs.

    python benchmarks/serve_screenshots.py                       # the latest text, compose and music runs
    python benchmarks/serve_screenshots.py runs/text-20261201-093000 runs/music-20261201-110000

Starts ``rnnkit serve`` on a free loopback port with the runs, drives each view in headless Chromium as a
person would (the Explorer traces a passage of the validation text and shows a character's next-character
guesses; Compose types a prefix until the grey suggestion shows; Generate streams a continuation; Music
generates a melody and draws its piano roll) and writes ``docs/images/serve-<view>.png``. A view whose
task has no run is left out, and said so. Needs Debian's ``chromium`` and the ``playwright`` package
(``pip install -e '.[dev]'``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: the view -> the task of the run it needs
VIEWS = {"explorer": "text", "compose": "compose", "generate": "text", "music": "music"}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="*", metavar="RUN_DIR", help="run directories (default: the latest of each)")
    p.add_argument("--out-dir", default="runs", metavar="DIR", help="where the latest runs are (runs)")
    p.add_argument(
        "--images",
        default=str(ROOT / "docs" / "images"),
        metavar="DIR",
        help="where the PNGs go (docs/images)",
    )
    p.add_argument("--chromium", metavar="PATH", help="the Chromium binary (default: chromium on PATH)")
    p.add_argument("--width", type=int, default=1280, help="window width in CSS pixels (1280)")
    p.add_argument("--height", type=int, default=820, help="window height in CSS pixels (820)")
    p.add_argument("--prefix", default="And God said", help="what Compose types and Generate continues")
    p.add_argument("--select", default="LORD", help="the word the Explorer selects, when its passage has it")
    p.add_argument("--notes", default="C4 E4 G4 C5", help="the Music view's prime notes")
    p.add_argument("--seed", type=int, default=1, help="the seed of the generations (1)")
    args = p.parse_args(argv)
    for flag in ("width", "height"):
        if not 320 <= getattr(args, flag) <= 4000:
            p.error(f"--{flag} must be in 320..4000, got {getattr(args, flag)}")
    return args


def pick_runs(args: argparse.Namespace) -> list[Path]:
    """The runs named, or the latest text, compose and music runs under ``--out-dir`` (those that exist)."""
    from rnnkit.tasks.runner import latest_run

    if args.runs:
        missing = [r for r in args.runs if not Path(r).is_dir()]
        if missing:
            raise SystemExit(f"serve_screenshots: no run directory {missing[0]!r}")
        return [Path(r) for r in args.runs]
    found = []
    for task in ("text", "compose", "music"):
        try:
            found.append(latest_run(args.out_dir, task))
        except FileNotFoundError:
            print(f"no {task} run under {args.out_dir}: its views are left out", file=sys.stderr)
    if not found:
        raise SystemExit(f"serve_screenshots: no text, compose or music run under {args.out_dir!r}")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(runs: list[Path]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "rnnkit", "serve", *map(str, runs), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as r:
                if r.status == 200:
                    return server, url
        except OSError:
            pass
        if server.poll() is not None:
            raise SystemExit(f"serve_screenshots: rnnkit serve stopped:\n{server.stdout.read()}")
        if time.monotonic() > deadline:
            server.terminate()
            raise SystemExit("serve_screenshots: rnnkit serve did not answer within 120 s")
        time.sleep(0.3)


def drag(page, first: int, last: int) -> None:
    """Select the characters ``first``..``last`` of the Explorer's text with the mouse."""

    def centre(i: int) -> tuple[float, float]:
        box = page.locator(f"#view-explorer .trace-text .ch[data-i='{i}']").bounding_box()
        return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    page.mouse.move(*centre(first))
    page.mouse.down()
    page.mouse.move(*centre(last), steps=5)
    page.mouse.up()


def shoot(page, view: str, args: argparse.Namespace, out: Path) -> None:
    """Drive ``view`` as a person would, then screenshot the window into ``out``."""
    page.click(f".tab[data-view={view}]")
    if view == "explorer":
        page.wait_for_selector("#view-explorer[data-traced]", timeout=60_000)
        text = page.input_value("#view-explorer [data-role=text]")
        word = args.select if args.select in text else text.split()[1]
        start = text.index(word)
        drag(page, start, start + len(word) - 1)  # LSTMVis's select: the units that fire on the word
        page.hover(f"#view-explorer .trace-text .ch[data-i='{min(len(text) - 1, 24)}']")
    elif view == "compose":
        page.click("#view-compose textarea")
        page.keyboard.type(args.prefix, delay=40)
        page.wait_for_function("document.querySelector('#view-compose').dataset.suggestion", timeout=60_000)
    elif view == "generate":
        page.fill("#view-generate [data-role=prime]", args.prefix)
        page.fill("#view-generate [data-role=steps]", "600")
        page.fill("#view-generate [data-role=seed]", str(args.seed))
        page.click("#view-generate [data-role=go]")
        page.wait_for_selector("#view-generate[data-state=done]", timeout=120_000)
    elif view == "music":
        page.fill("#view-music [data-role=prime]", args.notes)
        page.fill("#view-music [data-role=steps]", "40")
        page.fill("#view-music [data-role=seed]", str(args.seed))
        page.click("#view-music [data-role=go]")
        page.wait_for_selector("#view-music[data-state=done]", timeout=120_000)
    page.screenshot(path=str(out))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chromium = args.chromium or os.environ.get("RNNKIT_CHROMIUM") or shutil.which("chromium")
    if not chromium:
        raise SystemExit(
            "serve_screenshots: Chromium is needed: apt-get install chromium (or --chromium PATH)"
        )
    from playwright.sync_api import sync_playwright

    from rnnkit.run import load_run

    runs = pick_runs(args)
    tasks = {load_run(r).task for r in runs}
    images = Path(args.images)
    images.mkdir(parents=True, exist_ok=True)
    server, url = start_server(runs)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.goto(url + "/")
            page.wait_for_selector("body[data-ready]", timeout=60_000)
            for view, task in VIEWS.items():
                if task not in tasks:
                    print(f"{view}: no {task} run loaded, left out", file=sys.stderr)
                    continue
                out = images / f"serve-{view}.png"
                shoot(page, view, args, out)
                print(f"wrote {out}")
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
