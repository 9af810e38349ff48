"""Melody events, the chorale extraction rule, the vocabulary, the cache, MIDI in and out, the key
share."""

from __future__ import annotations

import json
import random

import mido
import pytest

from rnnkit.data import music
from rnnkit.data.midi import load_midi_folder, read_midi, write_midi
from rnnkit.data.music import Event, Melody, key_share, parse_event, parse_pitch, pitch_name, transpose
from rnnkit.data.music_vocab import BOS, UNK, EventVocab
from rnnkit.data.tunes import contour, split_melodies, tune_groups

C4, D4, E4, F4, G4, A4, B4 = 60, 62, 64, 65, 67, 69, 71
TUNE = [Event(C4, 1.0), Event(E4, 0.5), Event(G4, 0.5), Event(None, 1.0), Event(A4, 1 / 3), Event(G4, 2 / 3)]
TUNE = [Event(e.pitch, music.quantize(e.duration)) for e in TUNE] + [Event(C4 + 12, 0.25), Event(B4, 3.0)]


def test_pitch_names():
    assert [pitch_name(p) for p in (60, 61, 70, 21, 108)] == ["C4", "C#4", "Bb4", "A0", "C8"]
    assert [parse_pitch(n) for n in ("C4", "c#4", "Db4", "Bb3", "B#3", "69")] == [60, 61, 61, 58, 60, 69]
    assert parse_event("E4:0.5") == Event(64, 0.5) and parse_event("rest:2") == Event(None, 2.0)
    assert parse_event("G4") == Event(67, 1.0) and str(Event(70, 1.5)) == "Bb4:1.5"
    with pytest.raises(ValueError, match="pitch must be a note name like 'C4'"):
        parse_pitch("H4")
    with pytest.raises(ValueError, match="pitch must lie in the MIDI range 0–127, got 'C10' = 132"):
        parse_pitch("C10")


def test_transposition_keeps_durations_and_rests():
    up = transpose(TUNE, 5)
    assert [e.duration for e in up] == [e.duration for e in TUNE]
    assert [e.pitch for e in up] == [None if e.pitch is None else e.pitch + 5 for e in TUNE]
    assert transpose(up, -5) == TUNE
    with pytest.raises(ValueError, match="transposing by 60 leaves the MIDI range"):
        transpose(TUNE, 60)
    assert music.transpositions(TUNE, range(-3, 4), low=58, high=74) == [-2, -1, 0, 1, 2]


def test_key_share_by_hand():
    c_major = [Event(p, 1.0) for p in (C4, D4, E4, F4, G4, A4, B4)]
    assert key_share(c_major, C4) == 1.0
    assert key_share(c_major, G4) == pytest.approx(6 / 7)  # F is not in G major (nor G harmonic minor)
    # rests are ignored; C# is in neither C major nor C harmonic minor
    assert key_share([Event(C4, 1), Event(None, 1), Event(C4 + 1, 1)], C4) == 0.5
    a_minor = [Event(p, 1.0) for p in (A4, B4, C4, D4, E4, F4, G4 + 1)]  # harmonic minor: G#
    assert key_share(a_minor, A4 - 12) == 1.0  # any octave of the tonic
    assert key_share(a_minor, C4) == pytest.approx(6 / 7)  # C major wins for the primer C, G# is out
    with pytest.raises(ValueError, match="at least one note"):
        key_share([Event(None, 1.0)], C4)


def test_clean_events():
    raw = [
        Event(None, 1),
        Event(C4, 1),
        Event(None, 0.5),
        Event(None, 0.5),
        Event(D4, 0),
        Event(E4, 1),
        Event(None, 2),
    ]
    assert music.clean_events(raw) == [Event(C4, 1), Event(None, 1.0), Event(E4, 1)]


def test_vocabulary_round_trip_and_unknowns():
    melodies = [Melody("a", tuple(TUNE)), Melody("b", (Event(D4, 1.0), Event(E4, 2.0)))]
    vocab = EventVocab.build(melodies, shifts=range(-2, 3), low=C4 - 1, high=C4 + 12)
    ids = vocab.encode(TUNE)
    assert ids[0] == BOS and UNK not in ids and vocab.decode(ids) == TUNE
    # TUNE spans C4..C5 inside [B3, C5]: only shifts -1 and 0 fit; b (D4, E4) takes all five
    assert Event(C4 + 12 - 1, 0.25) in vocab
    assert Event(C4 + 12 - 2, 0.25) not in vocab and Event(C4 + 12 + 1, 0.25) not in vocab
    assert Event(D4 - 2, 1.0) in vocab and Event(E4 + 2, 2.0) in vocab
    assert vocab.encode([Event(100, 1.0)], bos=False) == [UNK] and vocab.unknown([Event(100, 1.0)]) == 1
    again = EventVocab.from_json(json.loads(json.dumps(vocab.to_json())))
    assert again.encode(TUNE) == ids and len(again) == len(vocab)
    assert vocab.nearest(Event(C4, 0.9)) == Event(C4, 1.0)
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, "):
        vocab.decode([len(vocab)])


def test_split_is_deterministic_and_disjoint():
    melodies = [Melody(f"m{i}", tuple(Event(60 + (i * k) % 12, 1.0) for k in range(12))) for i in range(50)]
    train, val, test = split_melodies(melodies, val_frac=0.1, test_frac=0.1, seed=0, by_tune=False)
    assert (len(train), len(val), len(test)) == (40, 5, 5)
    names = [{m.name for m in part} for part in (train, val, test)]
    assert not (names[0] & names[1]) and not (names[0] & names[2]) and not (names[1] & names[2])
    assert split_melodies(melodies, 0.1, 0.1, seed=0, by_tune=False) == (train, val, test)
    assert split_melodies(melodies, 0.1, 0.1, seed=1, by_tune=False)[2] != test


def test_one_tune_never_straddles_the_split():
    rng = random.Random(0)
    tunes = [[rng.randrange(55, 75) for _ in range(30)] for _ in range(12)]
    melodies = []
    for t, pitches in enumerate(tunes):
        for copy in range(3):  # three settings of each tune: transposed, re-rhythmed, one note changed
            varied = list(pitches)
            varied[5 + copy] += copy
            events = transpose(
                [Event(p, 0.5 + 0.5 * (k % 2 == copy % 2)) for k, p in enumerate(varied)], copy
            )
            melodies.append(Melody(f"tune{t}-{copy}", tuple(events)))
    groups = tune_groups(melodies)
    assert groups == [k // 3 for k in range(36)]  # copies found, distinct tunes kept apart
    assert contour([Event(60, 1), Event(60, 2), Event(None, 1), Event(64, 1), Event(62, 1)]) == [4, -2]
    train, val, test = split_melodies(melodies, 0.2, 0.2, seed=3)
    tune_of = {m.name: m.name.split("-")[0] for m in melodies}
    held = {tune_of[m.name] for m in val + test}
    assert held and not held & {tune_of[m.name] for m in train}
    assert len(test) >= 8 and len(val) >= 8 and len(train) + len(val) + len(test) == 36


def test_chorale_melody_is_the_soprano():
    from music21 import corpus

    score = corpus.parse("bach/bwv1.6")  # part 0 is a horn; the soprano is part 1
    melody = music.chorale_melody(score)
    soprano = next(p for p in score.parts if p.partName == "Soprano")
    first = soprano.flatten().notes[0]
    assert melody[0] == Event(first.pitch.midi, music.quantize(first.quarterLength))
    assert all(e.duration > 0 for e in melody) and not melody[0].is_rest and not melody[-1].is_rest
    # tied notes are merged: the melody has no more events than the part has notes and rests
    assert len(melody) <= len(soprano.flatten().notesAndRests)


def test_corpus_is_parsed_once_then_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    calls = []
    fake = [Melody("bach/x", tuple(TUNE)), Melody("bach/short", (Event(C4, 1.0),))]

    def parse(source, progress):
        calls.append(source)
        return fake

    monkeypatch.setattr(music, "_parse_source", parse)
    first = music.load_corpus("chorales", progress=False)
    second = music.load_corpus("chorales", progress=False)
    assert calls == ["chorales"] and first == second == [fake[0]]  # too-short melodies are dropped
    cached = list(tmp_path.glob("music-chorales-*.json"))
    assert len(cached) == 1
    cached[0].write_text("{ not json")  # a corrupt cache is parsed again, not trusted
    assert music.load_corpus("chorales", progress=False) == first and len(calls) == 2
    with pytest.raises(ValueError, match=r"source must be one of \['chorales', 'essen'\], got 'jazz'"):
        music.load_corpus("jazz")


def test_midi_round_trip(tmp_path):
    path = write_midi(TUNE, tmp_path / "tune.mid", tempo_bpm=72, program=19)
    mid = mido.MidiFile(path)
    assert mid.ticks_per_beat == 480
    msgs = list(mid.tracks[0])
    assert msgs[0].type == "set_tempo" and mido.tempo2bpm(msgs[0].tempo) == pytest.approx(72)
    assert msgs[1].type == "program_change" and msgs[1].program == 19
    assert sum(m.type == "note_on" for m in msgs) == sum(not e.is_rest for e in TUNE)
    assert read_midi(path) == TUNE
    assert mid.length == pytest.approx(sum(e.duration for e in TUNE) * 60 / 72)


def _track(notes, channel=0):
    """notes: (start beat, end beat, pitch) → a track (480 ticks per beat)."""
    events = []
    for s, e, p in notes:
        events += [(round(s * 480), "note_on", p, 90), (round(e * 480), "note_off", p, 0)]
    events.sort(key=lambda x: (x[0], x[1] == "note_on"))
    track, now = mido.MidiTrack(), 0
    for tick, kind, pitch, vel in events:
        track.append(mido.Message(kind, note=pitch, velocity=vel, channel=channel, time=tick - now))
        now = tick
    return track


def test_read_midi_takes_the_highest_note(tmp_path):
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    mid.tracks.append(_track([(0, 1, C4), (1, 2, D4), (3, 4, E4)]))  # melody with a rest at beat 2
    mid.tracks.append(_track([(0, 2, C4 - 12), (1.5, 2, G4)]))  # bass, then a higher note cuts in
    mid.tracks.append(_track([(0, 4, 100)], channel=9))  # drums: ignored
    mid.save(tmp_path / "poly.mid")
    assert read_midi(tmp_path / "poly.mid") == [
        Event(C4, 1.0),
        Event(D4, 0.5),
        Event(G4, 0.5),
        Event(None, 1.0),
        Event(E4, 1.0),
    ]


def test_user_midi_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    write_midi(TUNE, tmp_path / "b.mid")
    write_midi(transpose(TUNE, 2), tmp_path / "sub" / "a.MIDI")
    write_midi(TUNE[:2], tmp_path / "short.mid")
    (tmp_path / "broken.mid").write_bytes(b"not a midi file")
    (tmp_path / "notes.txt").write_text("ignored")
    with pytest.warns(UserWarning, match="skipped 2 MIDI file"):
        melodies = load_midi_folder(tmp_path)
    assert [m.name for m in melodies] == ["b.mid", "sub/a.MIDI"]
    assert list(melodies[1].events) == transpose(TUNE, 2)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"must hold \.mid or \.midi files, found none"):
        load_midi_folder(empty)
    with pytest.raises(FileNotFoundError, match="midi folder not found"):
        load_midi_folder(tmp_path / "nowhere")


def test_folk_song_opus_gives_one_melody_per_tune():
    from music21 import converter

    abc = (
        "X:1\nT:first\nM:2/4\nL:1/8\nK:G\nG2 AB | c2 B2 | A4 ||\n"
        "X:2\nT:second\nM:3/4\nL:1/4\nK:C\nC D E | z2 G | (G2 A) | C3 |]\n"
    )
    opus = converter.parse(abc, format="abc")
    first, second = music.melodies_of(opus, "essen/test", "essen")
    assert first.name == "essen/test#0" and second.name == "essen/test#1"
    assert [e.pitch for e in first.events] == [67, 69, 71, 72, 71, 69]
    assert [e.duration for e in first.events] == [1.0, 0.5, 0.5, 1.0, 1.0, 2.0]
    # a rest inside the tune is kept; a slur (G2 A) is not a tie, so the repeated G stays two notes
    assert [e.pitch for e in second.events] == [60, 62, 64, None, 67, 67, 69, 60]
    assert second.events[3] == Event(None, 2.0) and second.events[-1] == Event(60, 3.0)
