"""Corpus: ABC fast path, key transposition, split by tune, cache, skip report, bad inputs."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from pretrain.abc_reader import abc_tune_melody, abc_tune_stream, split_abc_tunes
from pretrain.corpus import (
    DEFAULT_COLLECTIONS,
    _music21_corpus_root,
    find_key,
    load_corpus,
    normalise_melody,
)
from pretrain.errors import SequenceTutorError
from pretrain.tokenizer import (
    Melody,
    MelodyError,
    NoteEvent,
    melody_from_stream,
    melody_tokens,
    write_melody,
)
from pretrain.vocabulary import DEFAULT_VOCABULARY, Vocabulary

WIDE = Vocabulary(0, 128)  # no range check: compare pitches as written
C_MAJOR = {0, 2, 4, 5, 7, 9, 11}

G_MAJOR_TUNE = """X:1
T:Tune in G
M:4/4
L:1/8
K:G
GABc d2B2|c2A2 B2G2|ABcd e2d2|B2A2 G4|]
"""
D_MINOR_TUNE = """X:2
T:Tune in D minor
M:3/4
L:1/4
K:Dm
D F A|d2 c|B A G|F E ^C|D3|]
"""
CHORD_TUNE = """X:3
T:Chords
M:4/4
L:1/4
K:C
[CEG] c d e|]
"""
BROKEN_TUNE = """X:4
T:No default length
K:C
c/0 d e|]
"""
# music21 tokenizes ^=C but cannot read back the pitch name it gives it ('C#n4'): the file's fault
BAD_ACCIDENTAL_TUNE = """X:7
T:Sharp and natural
M:4/4
L:1/4
K:C
C D ^=E F|]
"""
EMPTY_TUNE = """X:5
T:Nothing
M:4/4
L:1/4
K:C
"""
# ties, a triplet, grace notes, a chord symbol, broken rhythm, an accidental carried in its bar
FEATURES_TUNE = """X:6
T:Features
M:6/8
L:1/8
K:D
"G"d2-d/c/ B2A|(3ABc {g}d2 F>G|^c2c d3-|d6|]
"""


def _corpus_root() -> Path:
    return _music21_corpus_root()


def _tunes_text(*tunes: str) -> str:
    return "\n".join(tunes)


def test_default_collections_exist_in_music21():
    root = _corpus_root()
    tunes = {
        collection: sum(
            path.read_text(encoding="latin-1").count("\nX:") + 1
            for path in (root / collection).glob("*.abc")
        )
        for collection in DEFAULT_COLLECTIONS
    }
    assert all(count > 100 for count in tunes.values()), tunes


def test_split_abc_tunes_prefixes_version_and_copies_file_header():
    text = "%%comment\nL:1/4\nsome prose\n\nX:1\nT:a\nK:C\nc d|\n\nX:2\nT:b\nK:C\ne f|\n"
    tunes = split_abc_tunes(text)
    assert len(tunes) == 2
    assert all(tune.startswith("%abc-2.1\nX:") for tune in tunes)
    assert all("L:1/4" in tune and "prose" not in tune for tune in tunes)
    assert [n.duration for n in abc_tune_melody(tunes[1]).notes] == [1.0, 1.0]
    # one tune without its X: line is still read; text without any tune is not
    lone = split_abc_tunes("T:lone\nL:1/4\nK:C\nc d e|\n")
    assert len(lone) == 1 and len(abc_tune_melody(lone[0]).notes) == 3
    assert split_abc_tunes("just prose\n") == []


def test_abc_version_fixes_carried_accidentals_in_essen_ballad30_tune_158():
    from music21 import abcFormat

    text = (_corpus_root() / "essenFolksong" / "ballad30.abc").read_text(encoding="latin-1")
    tune = next(t for t in split_abc_tunes(text) if "\nX:158\n" in t)
    # "_B2BA": the flat carries to the second B of the bar (ABC 2.1); music21's default
    # version 1.3 would read it as B natural
    assert abc_tune_melody(tune).notes[4].pitch == 70
    handler = abcFormat.ABCHandler()
    handler.process(tune.replace("%abc-2.1\n", ""))
    notes = [t for t in handler.tokens if isinstance(t, abcFormat.ABCNote) and not t.isRest]
    assert notes[4].pitchName == "B4"


def test_fast_abc_path_matches_full_music21_parse():
    root = _corpus_root()
    tunes = []
    for name in ("ballad10.abc", "kinder0.abc", "han1.abc", "erk10.abc"):
        tunes += split_abc_tunes((root / "essenFolksong" / name).read_text(encoding="latin-1"))[:4]
    tunes.append(split_abc_tunes(FEATURES_TUNE)[0])
    tunes.append(split_abc_tunes(G_MAJOR_TUNE)[0])
    for tune in tunes:
        fast = melody_tokens(abc_tune_melody(tune).trimmed(), WIDE)
        slow = melody_tokens(melody_from_stream(abc_tune_stream(tune)).trimmed(), WIDE)
        assert fast.tolist() == slow.tolist(), tune[:80]


def test_fast_abc_path_features():
    melody = abc_tune_melody(split_abc_tunes(FEATURES_TUNE)[0])
    onsets = [n.onset for n in melody.notes]
    pitches = [n.pitch for n in melody.notes]
    # d2-d/ tied into one note of 1.25 beats; the grace note {g} dropped; ^c carried in its bar
    assert melody.notes[0] == NoteEvent(0.0, 1.25, 74)
    assert 79 not in pitches
    assert pitches[-3:] == [73, 73, 74]
    assert melody.notes[-1].duration == pytest.approx(1.5 + 3.0)
    # the triplet (3ABc fills one beat
    assert onsets[4:8] == pytest.approx([3.0, 3 + 1 / 3, 3 + 2 / 3, 4.0])


def test_abc_skip_reasons():
    for tune, reason in [
        (CHORD_TUNE, "polyphonic"),
        (BROKEN_TUNE, "unreadable"),
        (BAD_ACCIDENTAL_TUNE, "unreadable"),
        (EMPTY_TUNE, "empty"),
    ]:
        with pytest.raises(MelodyError) as error:
            abc_tune_melody(split_abc_tunes(tune)[0])
        assert error.value.reason == reason


def test_key_finding_and_transposition_to_c_major_and_a_minor():
    g_major = abc_tune_melody(split_abc_tunes(G_MAJOR_TUNE)[0])
    assert find_key(g_major) == (7, "major")
    in_c = normalise_melody(g_major)
    assert {n.pitch % 12 for n in in_c.notes} <= C_MAJOR
    assert in_c.notes[-1].pitch % 12 == 0  # ends on the tonic

    d_minor = abc_tune_melody(split_abc_tunes(D_MINOR_TUNE)[0])
    assert find_key(d_minor) == (2, "minor")
    in_a = normalise_melody(d_minor)
    assert in_a.notes[0].pitch % 12 == 9 and in_a.notes[-1].pitch % 12 == 9
    assert in_a.notes[-2].pitch % 12 == 8  # the leading tone ^C became G#
    for melody in (in_c, in_a):
        pitches = [n.pitch for n in melody.notes]
        assert DEFAULT_VOCABULARY.min_pitch <= min(pitches)
        assert max(pitches) <= DEFAULT_VOCABULARY.max_pitch


def test_transposition_moves_by_octaves_into_range_or_refuses():
    high = Melody([NoteEvent(float(i), 1.0, p) for i, p in enumerate([96, 100, 103, 108])], 4.0)
    moved = normalise_melody(high)
    assert [n.pitch - moved.notes[0].pitch for n in moved.notes] == [0, 4, 7, 12]
    assert 48 <= moved.notes[0].pitch and moved.notes[-1].pitch <= 83
    wide = Melody([NoteEvent(0.0, 1.0, 40), NoteEvent(1.0, 1.0, 40 + 37)], 2.0)
    with pytest.raises(MelodyError) as error:
        normalise_melody(wide)
    assert error.value.reason == "out-of-range"


# --------------------------------------------------------------------------- load_corpus


def _tune(index: int, title: str, notes: str = "c d e f|g2 e2|f d B G|c4|]") -> str:
    return f"X:{index}\nT:{title}\nM:4/4\nL:1/8\nK:C\n{notes}\n"


@pytest.fixture()
def mixed_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "melodies"
    (folder / "sub").mkdir(parents=True)
    (folder / "tunes.abc").write_text(
        _tunes_text(G_MAJOR_TUNE, D_MINOR_TUNE, CHORD_TUNE, BROKEN_TUNE, EMPTY_TUNE, FEATURES_TUNE)
    )
    write_melody([14, 1, 16, 1, 18, 0, 1, 21, 1, 1, 1], folder / "sub" / "song.mid")
    write_melody([14, 1, 1, 1, 0, 1, 9, 1], folder / "sub" / "song.musicxml", key="A minor")
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01garbage")
    (folder / "broken.musicxml").write_text("<score-partwise><part>")
    (folder / "notes.txt").write_text("not a melody")
    (folder / ".hidden.abc").write_text(G_MAJOR_TUNE)
    return folder


def test_load_corpus_from_folder_counts_kept_and_skipped(mixed_folder, tmp_path):
    corpus = load_corpus(
        mixed_folder, cache_dir=tmp_path / "cache", progress=False, workers=1, off_grid="round"
    )
    report = corpus.report
    assert report.kept == 5
    assert report.skipped == {"empty": 1, "polyphonic": 1, "unreadable": 3}
    assert report.num_tunes == 10
    assert report.quantised == 1  # the triplet of FEATURES_TUNE
    names = sorted(corpus.train_names + corpus.valid_names)
    assert names == [
        "sub/song.mid",
        "sub/song.musicxml",
        "tunes.abc#0",
        "tunes.abc#1",
        "tunes.abc#5",
    ]
    assert "broken.mid" in report.examples["unreadable"]
    assert report.num_tokens == sum(len(t) for t in corpus.train + corpus.valid)
    for tune in corpus.train + corpus.valid:
        assert tune.dtype == np.int8
        assert tune[0] >= 2  # starts with a note: outer rests trimmed
        DEFAULT_VOCABULARY.check_tokens(tune)
    summary = corpus.summary()
    assert "5 of 10 tunes kept" in summary and "unreadable 3" in summary
    assert "1 kept tune had notes rounded" in summary
    assert len(corpus.hash) == 64


@pytest.mark.parametrize(
    "module, name",
    [
        ("pretrain.corpus", "normalise_melody"),
        ("pretrain.corpus", "melody_tokens"),
        ("pretrain.abc_reader", "build_melody"),  # the end of abc_tune_melody
        ("pretrain.abc_reader", "_note_midi"),  # inside abc_tune_melody's token loop
        ("pretrain.tokenizer", "build_melody"),  # the end of _midi_melody
        ("pretrain.tokenizer", "_midi_melody"),
        ("pretrain.tokenizer", "melody_from_stream"),  # MusicXML after music21's parse
    ],
)
def test_a_bug_in_our_own_code_fails_the_build_instead_of_counting_tunes_unreadable(
    module, name, mixed_folder, tmp_path, monkeypatch
):
    """Only the parse of a file may be counted unreadable: an exception from our own
    extraction code (the folder has ABC, MIDI and MusicXML, so every path runs) fails loudly."""
    import importlib

    def broken(*args, **kwargs):
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(importlib.import_module(module), name, broken)
    with pytest.raises(RuntimeError, match="a bug of ours"):
        load_corpus(mixed_folder, cache_dir=tmp_path / "cache", progress=False, workers=1)
    assert not list((tmp_path / "cache").glob("*.npz"))


def test_a_pitch_music21_cannot_read_counts_its_tune_unreadable(tmp_path):
    folder = tmp_path / "melodies"
    folder.mkdir()
    (folder / "tunes.abc").write_text(_tunes_text(G_MAJOR_TUNE, BAD_ACCIDENTAL_TUNE))
    corpus = load_corpus(folder, cache_dir=tmp_path / "cache", progress=False, workers=1)
    assert corpus.report.kept == 1 and corpus.report.skipped == {"unreadable": 1}


def test_cache_hit_is_identical_and_fast(mixed_folder, tmp_path):
    cache = tmp_path / "cache"
    first = load_corpus(mixed_folder, cache_dir=cache, progress=False, workers=1)
    assert not first.report.from_cache
    start = time.perf_counter()
    second = load_corpus(mixed_folder, cache_dir=cache, progress=False, workers=1)
    elapsed = time.perf_counter() - start
    assert second.report.from_cache and elapsed < 1.0
    assert second.hash == first.hash and second.report.skipped == first.report.skipped
    for a, b in zip(first.train + first.valid, second.train + second.valid, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert [p.name for p in cache.iterdir()] == [Path(first.report.cache_path).name]


def test_cache_bytes_are_deterministic_and_versioned_by_sources(mixed_folder, tmp_path):
    cache = tmp_path / "cache"
    corpus = load_corpus(mixed_folder, cache_dir=cache, progress=False, workers=1)
    path = Path(corpus.report.cache_path)
    before = path.read_bytes()
    time.sleep(1.1)  # a zip written with the current time would now differ
    rebuilt = load_corpus(mixed_folder, cache_dir=cache, progress=False, workers=1, rebuild=True)
    assert not rebuilt.report.from_cache
    assert path.read_bytes() == before
    # changing a source file gives a new cache file; the content hash changes too
    (mixed_folder / "tunes.abc").write_text(_tunes_text(G_MAJOR_TUNE, D_MINOR_TUNE))
    changed = load_corpus(mixed_folder, cache_dir=cache, progress=False, workers=1)
    assert not changed.report.from_cache
    assert changed.report.cache_path != corpus.report.cache_path
    assert changed.hash != corpus.hash
    assert changed.report.skipped == {"unreadable": 2}


def test_unwritable_cache_warns_and_still_returns_the_corpus(mixed_folder, tmp_path):
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("not a folder")
    with pytest.warns(UserWarning, match="could not write the corpus cache"):
        corpus = load_corpus(mixed_folder, cache_dir=blocker, progress=False, workers=1)
    assert corpus.report.kept == 5 and not corpus.report.from_cache


def test_damaged_cache_is_rebuilt(mixed_folder, tmp_path):
    corpus = load_corpus(mixed_folder, cache_dir=tmp_path / "cache", progress=False, workers=1)
    Path(corpus.report.cache_path).write_bytes(b"PK\x03\x04 truncated")
    again = load_corpus(mixed_folder, cache_dir=tmp_path / "cache", progress=False, workers=1)
    assert not again.report.from_cache and again.report.kept == corpus.report.kept


@pytest.fixture(scope="module")
def many_tunes(tmp_path_factory) -> Path:
    """80 tunes in 2 files; tunes 0..9 share a title in pairs (variants of one song)."""
    folder = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(1)
    letters = "CDEFGABcdefgab"
    for part in range(2):
        tunes = []
        for index in range(40):
            number = part * 40 + index
            notes = " ".join(
                letters[i] + ("2" if rng.random() < 0.3 else "") for i in rng.integers(0, 14, 12)
            )
            title = f"variant {number // 2}" if number < 10 else f"tune {number}"
            tunes.append(_tune(number + 1, title, notes + "|]"))
        (folder / f"book{part}.abc").write_text(_tunes_text(*tunes))
    return folder


def test_split_is_by_tune_deterministic_and_keeps_variants_together(many_tunes, tmp_path):
    cache = tmp_path / "cache"
    corpus = load_corpus(many_tunes, cache_dir=cache, progress=False, workers=1, seed=3)
    assert corpus.report.kept == 80
    assert not set(corpus.train_names) & set(corpus.valid_names)
    assert 6 <= len(corpus.valid) <= 10
    assert (corpus.report.train_tunes, corpus.report.valid_tunes) == (
        len(corpus.train),
        len(corpus.valid),
    )
    for pair in range(5):  # same-titled variants land on the same side
        members = {f"book0.abc#{2 * pair}", f"book0.abc#{2 * pair + 1}"}
        assert members <= set(corpus.train_names) or members <= set(corpus.valid_names)
    same = load_corpus(many_tunes, cache_dir=cache, progress=False, seed=3)
    assert same.valid_names == corpus.valid_names
    other = load_corpus(many_tunes, cache_dir=cache, progress=False, seed=4)
    assert other.valid_names != corpus.valid_names
    assert other.hash == corpus.hash  # the seed changes the split, not the tokens
    none = load_corpus(many_tunes, cache_dir=cache, progress=False, valid_fraction=0.0)
    assert none.valid == [] and len(none.train) == 80


def test_process_pool_gives_the_same_corpus_as_serial(many_tunes, tmp_path):
    serial = load_corpus(many_tunes, cache_dir=tmp_path / "a", progress=False, workers=1)
    pooled = load_corpus(many_tunes, cache_dir=tmp_path / "b", progress=False, workers=2)
    assert (
        Path(serial.report.cache_path).read_bytes() == Path(pooled.report.cache_path).read_bytes()
    )


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp: tmp / "missing", "does not exist"),
        (lambda tmp: _write(tmp / "file.abc", G_MAJOR_TUNE), "is not a folder"),
        (lambda tmp: _mkdir(tmp / "empty"), "contains no melody files"),
        (
            lambda tmp: _write(_mkdir(tmp / "text") / "a.txt", "x").parent,
            "contains no melody files",
        ),
    ],
)
def test_bad_data_folder_raises_naming_it(tmp_path, make, message):
    data = make(tmp_path)
    with pytest.raises(SequenceTutorError, match=message) as error:
        load_corpus(data, cache_dir=tmp_path / "cache", progress=False)
    assert str(data) in str(error.value)
    assert not (tmp_path / "cache").exists()


def test_every_file_failing_is_a_clear_error_and_writes_no_cache(tmp_path):
    folder = _mkdir(tmp_path / "bad")
    (folder / "a.mid").write_bytes(b"not midi")
    (folder / "b.abc").write_text(CHORD_TUNE)
    with pytest.raises(SequenceTutorError, match="no usable melody") as error:
        load_corpus(folder, cache_dir=tmp_path / "cache", progress=False)
    assert str(folder) in str(error.value) and "unreadable 1" in str(error.value)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_bad_options_raise(tmp_path):
    with pytest.raises(SequenceTutorError, match="valid_fraction"):
        load_corpus(tmp_path, valid_fraction=1.0)
    with pytest.raises(SequenceTutorError, match="workers"):
        load_corpus(tmp_path, workers=0)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


@pytest.mark.slow
def test_full_default_corpus_statistics(tmp_path):
    corpus = load_corpus(cache_dir=tmp_path, progress=False)
    report = corpus.report
    assert (
        report.num_tunes == 12_947
    )  # essen 8514, O'Neill's 2009, Ryan's 1059, Aird's 1180, misc 185
    # The build is deterministic: the exact counts (benchmarks/corpus.md), not a range.
    assert report.kept == 12_745
    assert report.num_tokens == 2_484_228
    assert dict(report.skipped) == {"polyphonic": 116, "off-grid": 71, "out-of-range": 15}
    assert (len(corpus.train), len(corpus.valid)) == (11_471, 1_274)
    assert 0.55 <= report.no_event_fraction <= 0.75
    assert 0.003 <= report.note_off_fraction <= 0.02
    assert set(report.skipped) <= {"off-grid", "out-of-range", "polyphonic", "unreadable", "empty"}
    assert not set(corpus.train_names) & set(corpus.valid_names)
    assert 0.08 <= len(corpus.valid) / report.kept <= 0.12
    notes = np.concatenate(corpus.train).astype(np.int64)
    notes = notes[notes >= 2] - 2 + DEFAULT_VOCABULARY.min_pitch
    in_key = np.isin(notes % 12, list(C_MAJOR)).mean()
    assert in_key > 0.97  # transposed to C major / A minor
    start = time.perf_counter()
    again = load_corpus(cache_dir=tmp_path, progress=False)
    assert again.report.from_cache and time.perf_counter() - start < 0.5


def test_off_grid_tunes_are_rounded_by_default_and_skipped_on_request(mixed_folder, tmp_path):
    rounded = load_corpus(mixed_folder, cache_dir=tmp_path / "cache", progress=False, workers=1)
    strict = load_corpus(
        mixed_folder, cache_dir=tmp_path / "cache", progress=False, workers=1, off_grid="skip"
    )
    # FEATURES_TUNE (#5) has a triplet: rounded by default, skipped and counted on request
    assert rounded.report.quantised == 1 and "off-grid" not in rounded.report.skipped
    assert strict.report.skipped["off-grid"] == 1 and strict.report.quantised == 0
    assert strict.report.kept == rounded.report.kept - 1
    assert "tunes.abc#5" not in strict.train_names + strict.valid_names
    assert "tunes.abc#5" in rounded.train_names + rounded.valid_names
    assert "--off-grid round" in strict.report.summary()
    assert "--off-grid" not in rounded.report.summary()
    # the two settings are cached side by side, not one over the other, with their own hash
    assert strict.report.cache_path != rounded.report.cache_path
    assert strict.hash != rounded.hash
    again = load_corpus(mixed_folder, cache_dir=tmp_path / "cache", progress=False)
    assert again.report.from_cache and again.hash == rounded.hash


def test_default_off_grid_setting_keeps_the_corpus_hash_of_earlier_versions():
    from pretrain.corpus import _settings

    # shipped checkpoints record the corpus hash; the default must not add a settings key
    assert "off_grid" not in _settings(DEFAULT_VOCABULARY)
    assert _settings(DEFAULT_VOCABULARY, "skip")["off_grid"] == "skip"


def test_off_grid_value_and_all_off_grid_folder_give_clear_errors(tmp_path):
    folder = tmp_path / "triplets"
    folder.mkdir()
    (folder / "t.abc").write_text(FEATURES_TUNE)
    with pytest.raises(SequenceTutorError, match="off_grid must be one of round, skip"):
        load_corpus(folder, cache_dir=tmp_path / "cache", off_grid="nearest")
    with pytest.raises(SequenceTutorError, match=r"off-grid 1\).*--off-grid round"):
        load_corpus(
            folder, cache_dir=tmp_path / "cache", progress=False, workers=1, off_grid="skip"
        )
    kept = load_corpus(
        folder, cache_dir=tmp_path / "cache", progress=False, workers=1, valid_fraction=0.0
    )
    assert kept.report.kept == 1 and kept.report.quantised == 1
