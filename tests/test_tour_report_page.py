"""The tour's report page: the synthesiser renders MIDI to a WAV of the right length, pitch and level,
without clicks and byte for byte the same every time; the piano roll names its rows and explains its
colours; the report opens with a table of contents whose links all land, gives every figure a caption,
and plays the generated melody from an embedded WAV."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
import wave
from pathlib import Path
from types import SimpleNamespace

import mido
import numpy as np
import pytest
import torch

from rnnkit import cli
from rnnkit.data.midi import write_midi
from rnnkit.data.music import Event
from rnnkit.data.synth import PEAK, SAMPLE_RATE, Note, Voice, envelope, midi_to_wav, render, wav_bytes
from rnnkit.plots import pianoroll
from rnnkit.plots.pianoroll import pitch_ticks, plot_pianoroll
from rnnkit.tour.blocks import Document, Section, render_html, render_markdown
from rnnkit.tour.demos import DEMOS
from rnnkit.tour.report import DemoRun, TourFacts, write_reports
from rnnkit.tour.sections import describe

PNG = b"\x89PNG\r\n\x1a\n"
RELEASE = Voice().release


def read_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Samples in [-1, 1] and the rate of a mono 16-bit WAV."""
    with wave.open(io.BytesIO(data), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), "<i2") / 32767, w.getframerate()


def peak_hz(x: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[np.argmax(spectrum)])


# -- the synthesiser ---------------------------------------------------------------------------------------
def test_a4_renders_to_a_wav_at_440_hz_of_the_midis_duration(tmp_path):
    midi = write_midi([Event(69, 2.0), Event(None, 0.5)], tmp_path / "a4.mid", tempo_bpm=120.0)  # 1.25 s
    wav = midi_to_wav(midi)
    assert wav == tmp_path / "a4.wav"
    x, rate = read_wav(wav.read_bytes())
    length = mido.MidiFile(midi).length
    assert rate == SAMPLE_RATE and length == pytest.approx(1.25)
    assert length <= x.size / rate <= length + RELEASE + 2 / rate
    assert 0.5 < np.abs(x).max() <= 1.0 and np.abs(x).max() == pytest.approx(PEAK, abs=1e-4)
    assert np.sqrt(np.mean(x[: rate // 2] ** 2)) > 0.1  # sounding, not silence
    assert abs(peak_hz(x) - 440.0) < 3.0
    assert np.abs(x[int(1.0 * rate) + round(RELEASE * rate) + 2 :]).max() == 0  # the trailing rest is silent


def test_a_wav_is_byte_for_byte_the_same_every_time(tmp_path):
    events = [Event(60, 1.0), Event(64, 0.5), Event(None, 0.5), Event(67, 1.5), Event(72, 0.25)]
    midi = write_midi(events, tmp_path / "m.mid")
    first = midi_to_wav(midi, tmp_path / "one.wav").read_bytes()
    assert midi_to_wav(midi, tmp_path / "two.wav").read_bytes() == first
    x, _ = read_wav(first)
    seconds = sum(e.duration for e in events) * 60 / 90.0  # write_midi's default tempo
    assert seconds <= x.size / SAMPLE_RATE <= seconds + RELEASE + 2 / SAMPLE_RATE


def test_notes_sound_at_their_own_pitch_and_time():
    x = render([Note(0.0, 0.5, 60), Note(0.5, 0.5, 64)])  # C4 then E4
    half = int(0.5 * SAMPLE_RATE)
    assert abs(peak_hz(x[:half]) - 261.63) < 4.0
    assert abs(peak_hz(x[half + 4000 : 2 * half]) - 329.63) < 4.0  # past C4's release


def test_notes_start_and_end_without_a_click():
    gain = envelope(0.3)
    step = 1 / (Voice().attack * SAMPLE_RATE)
    assert gain[0] == 0 and gain[-1] == 0 and np.abs(np.diff(gain)).max() <= step + 1e-12
    assert gain.size == round(0.3 * SAMPLE_RATE) + round(RELEASE * SAMPLE_RATE)

    def above_4khz(voice: Voice) -> float:  # the voice's partials of A4 stop at 2.2 kHz: the rest is clicks
        x = render([Note(0.1, 0.5, 69)], voice=voice)
        power = np.abs(np.fft.rfft(x)) ** 2
        return float(power[np.fft.rfftfreq(x.size, 1 / SAMPLE_RATE) > 4000].sum() / power.sum())

    assert above_4khz(Voice()) < 1e-8
    assert above_4khz(Voice(attack=1e-6)) > 1e-6  # a hard onset: the same measure does see a click


def test_synthesiser_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="attack must be a duration in seconds > 0, got 0"):
        Voice(attack=0)
    with pytest.raises(ValueError, match=r"sustain must be a level in \(0, 1\], got 1.5"):
        Voice(sustain=1.5)
    with pytest.raises(ValueError, match="notes must hold at least one note"):
        render([])
    with pytest.raises(ValueError, match="pitch 0–127"):
        render([Note(0.0, 1.0, 130)])
    with pytest.raises(ValueError, match=r"samples must be finite and within \[-1, 1\], got peak 2.0"):
        wav_bytes(np.array([0.0, 2.0]))
    drums = mido.MidiFile(type=0)
    hit = [
        mido.Message("note_on", channel=9, note=38, velocity=90, time=0),
        mido.Message("note_off", channel=9, note=38, time=480),
    ]
    drums.tracks.append(mido.MidiTrack(hit))
    drums.save(tmp_path / "drums.mid")
    with pytest.raises(ValueError, match="has no notes to render"):
        midi_to_wav(tmp_path / "drums.mid")


# -- the piano roll ----------------------------------------------------------------------------------------
def test_pitch_ticks_name_every_c_and_every_used_pitch():
    assert pitch_ticks(45, 62, [50, 51, 61, 99]) == ([48, 50, 51, 60, 61], ["C3", "D3", "Eb3", "C4", "C#4"])
    assert pitch_ticks(61, 70, [69]) == ([69], ["A4"])
    with pytest.raises(ValueError, match="low must be <= high, got low=70, high=60"):
        pitch_ticks(70, 60)
    with pytest.raises(ValueError, match=r"high must be a MIDI pitch \(int in 0–127\), got 128"):
        pitch_ticks(60, 128)


def test_pianoroll_names_its_rows_and_explains_its_colours(tmp_path, monkeypatch):
    events = [Event(60, 1.0), Event(None, 0.5), Event(63, 0.5), Event(67, 2.0), Event(74, 1.0)]
    figures = []
    save = pianoroll.save_png
    monkeypatch.setattr(pianoroll, "save_png", lambda fig, path: figures.append(fig) or save(fig, path))
    path = plot_pianoroll(events, tmp_path / "roll.png", prime_count=1, tonic=60, tempo_bpm=90.0)
    assert path.read_bytes().startswith(PNG)
    ax = figures[0].axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["C4", "Eb4", "G4", "C5", "D5"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "primer (given)",
        "generated",
        "rows in C major",
    ]
    assert "beats" in ax.get_xlabel()
    assert any("seconds at 90 bpm" in a.get_xlabel() for a in ax.child_axes)
    plot_pianoroll(events[1:], tmp_path / "r.png")  # no primer, no key: the legend names only what is drawn
    assert [t.get_text() for t in figures[1].axes[0].get_legend().get_texts()] == ["generated"]
    with pytest.raises(ValueError, match="tempo_bpm must be > 0"):
        plot_pianoroll(events, tmp_path / "r.png", tempo_bpm=0)


# -- the report --------------------------------------------------------------------------------------------
def check_page(md: str, page: str) -> None:
    """Contents first, every link of them landing on an anchor; one caption per figure."""
    toc = page.split('<nav class="toc"', 1)[1].split("</nav>", 1)[0]
    links = re.findall(r'href="#([^"]+)"', toc)
    assert links and links[0] == "summary"
    ids = re.findall(r' id="([^"]+)"', page)
    assert len(ids) == len(set(ids)) and set(links) == set(ids)
    assert page.index('<nav class="toc"') < page.index("<h2")
    md_links = re.findall(r"^\d+\. \[[^\n]*\]\(#([^)]+)\)$", md.split("\n\n<a id=")[0], re.M)
    assert md_links == links and all(f'<a id="{a}"></a>' in md for a in links)
    figures = re.findall(r"<figure\b.*?</figure>", page, re.S)
    assert figures and len(figures) == page.count("<figure")
    for f in figures:
        assert f.count("<figcaption>") == 1
        caption = re.sub(r"<[^>]+>", "", f.split("<figcaption>")[1])
        assert len(caption.split()) >= 15 and caption.count(".") >= 2, caption  # a title and a sentence
    assert len(figures) == page.count("<img ") + page.count("<audio ")


@pytest.fixture(scope="module")
def music_tour(tmp_path_factory):
    """A smoke tour of the music demo alone (seconds)."""
    out = tmp_path_factory.mktemp("tour")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(["tour", "--smoke", "--no-progress", "--only", "music", "--out", str(out)])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    return out


def test_music_tour_page_has_contents_captions_and_a_playable_melody(music_tour):
    md, page = (music_tour / "report.md").read_text(), (music_tour / "report.html").read_text()
    check_page(md, page)
    audio = re.findall(r'<audio controls[^>]* src="data:audio/wav;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(audio) == 1
    wav = re.findall(r"\]\(([^)]+\.wav)\)", md)
    assert len(wav) == 1 and wav[0].endswith("/sample.wav")
    run_md = (music_tour / wav[0]).with_name("music.md").read_text()
    assert ", sample.wav and sample.png;" in run_md  # the task wrote the WAV beside the MIDI itself
    data = base64.b64decode(audio[0])
    assert data == (music_tour / wav[0]).read_bytes()
    x, rate = read_wav(data)
    length = mido.MidiFile(music_tour / wav[0].replace(".wav", ".mid")).length
    assert length <= x.size / rate <= length + RELEASE + 2 / rate and 0.1 < np.abs(x).max() <= 1.0
    assert "<script" not in page and "http://" not in page and "https://" not in page


def fake_summary(demo, run_dir: Path) -> SimpleNamespace:
    """What ``describe`` reads of a finished run, with small stand-ins for the task's files."""
    run_dir.mkdir()
    plots = {
        "stocks": ["forecast-AAPL.png"],
        "series": ["forecast.png", "horizon.png"],
        "jump": ["jump_probability.png", "jump_saliency.png"],
        "music": ["sample.png"],
    }
    for name in ["curves.png", *plots.get(demo.name, [])]:
        (run_dir / name).write_bytes(PNG + b"\0" * 16)
    artifacts = {
        "text": {"sample": "And God said"},
        "stocks": {"rmse_vs_persistence": 1.01, "plots": plots["stocks"]},
        "series": {"mae_vs_best_naive": 0.8, "floor_met": True, "plots": plots["series"]},
        "music": {"lower_than_bigram": True, "key_share": {"network": 0.9}, "midi": "sample.mid"},
        "jump": {"floor_met": True, "order_matters": True, "shuffled_accuracy": 0.5, "verdict": "a; b",
                 "probability_plot": plots["jump"][0], "saliency_plot": plots["jump"][1]},
        "compose": {"floor_met": True},
    }[demo.name]  # fmt: skip
    if demo.name == "music":  # a run without its WAV: the report renders it from the MIDI file
        write_midi([Event(60, 1.0), Event(64, 1.0)], run_dir / "sample.mid")
    metrics = {"bpc": 2.5, "rmse_1d": 1.2, "mae": 3.0, "ppl": 9.0, "accuracy": 0.97, "top1": 0.3}
    base = {"bpc": 3.0, "rmse_1d": 1.1, "mae": 4.0, "ppl": 12.0, "accuracy": 0.5, "top1": 0.2}
    return SimpleNamespace(
        run_dir=run_dir,
        metrics={demo.split: {demo.headline: metrics[demo.headline]}},
        baselines={demo.split: {"bigram": {demo.headline: base[demo.headline]}}},
        artifacts=artifacts,
        info={"series": "glucose"} if demo.name == "series" else {},
        fit=SimpleNamespace(steps=10, elapsed=6.0, stop_reason="max_steps"),
    )


def test_every_demos_figures_get_captions_and_the_contents_lists_every_section(tmp_path):
    runs = []
    for demo in DEMOS:
        summary = fake_summary(demo, tmp_path / demo.name)
        runs.append(DemoRun(demo, "ok", 6.0, 0.1, summary.run_dir, describe(demo, summary, 6.0, tmp_path)))
    again = SimpleNamespace(name="again", title="text, again")
    runs.append(DemoRun(again, "failed", 1.0, error="boom"))  # type: ignore[arg-type]  # no figures
    facts = TourFacts("2026-01-01", "here", "rnnkit", "cpu", None, False, "0.1")
    md_path, page_path = write_reports(tmp_path, runs, facts)
    md, page = md_path.read_text(), page_path.read_text()
    check_page(md, page)
    assert re.findall(r'href="#([^"]+)"', page.split("</nav>")[0]) == [
        "summary",
        *(d.name for d in DEMOS),
        "again",
    ]
    assert page.count("<img ") == 6 + 1 + 2 + 1 + 2  # curves per demo, stocks, series, music, jump plots
    assert page.count("<audio ") == 1 and (tmp_path / "music" / "sample.wav").is_file()
    assert "[▶ Listen: the melody generated from C4 (sample.wav)](music/sample.wav)" in md
    assert json.loads((tmp_path / "report.json").read_text())["demos"][-1]["status"] == "failed"


def test_section_anchors_must_be_plain_and_unique(tmp_path):
    for anchors, message in (
        (["a", "a"], "section anchors must be unique, got 'a' twice"),
        (["a b"], "section anchor must be a letter then letters, digits, '-' or '_', got 'a b'"),
    ):
        doc = Document("t", [], [Section(a, a) for a in anchors])
        for write in (render_markdown, render_html):
            with pytest.raises(ValueError, match=re.escape(message)):
                write(doc, tmp_path)
