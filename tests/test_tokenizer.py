"""Tokenizer: melody <-> tokens on the sixteenth grid, and MIDI / MusicXML round trips."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from music21 import chord, harmony, note, stream, tie

from pretrain.errors import SequenceTutorError
from pretrain.tokenizer import (
    MelodyError,
    canonical_tokens,
    melody_to_tokens,
    read_melody,
    tokens_to_stream,
    write_melody,
)
from pretrain.vocabulary import DEFAULT_VOCABULARY, NO_EVENT, NOTE_OFF

C4 = DEFAULT_VOCABULARY.pitch_to_token(60)


def _part(*elements: note.GeneralNote) -> stream.Part:
    part = stream.Part()
    for element in elements:
        part.append(element)
    return part


def _note(name: str, quarter_length: float, tie_type: str | None = None) -> note.Note:
    n = note.Note(name, quarterLength=quarter_length)
    if tie_type:
        n.tie = tie.Tie(tie_type)
    return n


@st.composite
def canonical_melodies(draw, max_segments: int = 12) -> list[int]:
    """Canonical token sequences: notes and rests of 1..8 steps, never two rests in a row."""
    count = draw(st.integers(1, max_segments))
    tokens: list[int] = []
    previous_rest = False
    for index in range(count):
        rest = not previous_rest and draw(st.booleans())
        length = draw(st.integers(1, 8))
        if rest:
            tokens.append(NOTE_OFF)
        else:
            tokens.append(draw(st.integers(2, DEFAULT_VOCABULARY.size - 1)))
        tokens.extend([NO_EVENT] * (length - 1))
        previous_rest = rest
    if all(token < 2 for token in tokens):
        tokens.append(C4)
    return tokens


any_tokens = st.lists(st.integers(0, DEFAULT_VOCABULARY.size - 1), min_size=1, max_size=40).filter(
    lambda tokens: any(token >= 2 for token in tokens)
)


def test_vocabulary_convention_in_tokens():
    tokens = melody_to_tokens(
        _part(_note("C4", 1.0), note.Rest(quarterLength=0.5), _note("B5", 0.25))
    )
    assert tokens.tolist() == [14, 1, 1, 1, NOTE_OFF, NO_EVENT, 37]
    assert tokens.dtype == np.int64


@settings(max_examples=150, deadline=None)
@given(canonical_melodies())
def test_tokens_stream_tokens_round_trip(tokens):
    assert melody_to_tokens(tokens_to_stream(tokens)).tolist() == tokens


@settings(max_examples=100, deadline=None)
@given(any_tokens)
def test_any_tokens_read_back_in_canonical_form(tokens):
    canonical = canonical_tokens(tokens)
    assert melody_to_tokens(tokens_to_stream(tokens)).tolist() == canonical.tolist()
    assert canonical_tokens(canonical).tolist() == canonical.tolist()  # idempotent


def test_canonical_tokens_rules():
    assert canonical_tokens([1, 1, 14, 0, 0, 1, 15]).tolist() == [0, 1, 14, 0, 1, 1, 15]


@settings(max_examples=25, deadline=None)
@given(canonical_melodies(), st.sampled_from([".mid", ".midi"]))
def test_tokens_midi_tokens_round_trip(tokens, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = write_melody(tokens, Path(folder) / f"melody{suffix}")
        assert read_melody(path).tolist() == tokens


@settings(max_examples=15, deadline=None)
@given(canonical_melodies(max_segments=8), st.sampled_from([".musicxml", ".xml", ".mxl"]))
def test_tokens_musicxml_tokens_round_trip(tokens, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = write_melody(tokens, Path(folder) / f"melody{suffix}", key="A minor")
        assert read_melody(path).tolist() == tokens


def test_ties_merge_into_one_note():
    part = _part(_note("D4", 1.0, "start"), _note("D4", 0.5, "stop"), _note("D4", 0.25))
    d4 = DEFAULT_VOCABULARY.pitch_to_token(62)
    assert melody_to_tokens(part).tolist() == [d4, 1, 1, 1, 1, 1, d4]


def test_consecutive_rests_are_one_rest_and_leading_rest_kept():
    part = _part(note.Rest(quarterLength=0.25), _note("C4", 0.5))
    part.append([note.Rest(quarterLength=0.25), note.Rest(quarterLength=0.5), _note("E4", 0.25)])
    e4 = DEFAULT_VOCABULARY.pitch_to_token(64)
    assert melody_to_tokens(part).tolist() == [NOTE_OFF, C4, 1, NOTE_OFF, 1, 1, e4]


def test_grace_notes_and_chord_symbols_are_dropped():
    part = _part(_note("C4", 1.0))
    part.append(note.Note("D4").getGrace())
    part.append(harmony.ChordSymbol("G7"))  # a Chord subclass: must not count as polyphony
    part.append(_note("E4", 0.25))
    e4 = DEFAULT_VOCABULARY.pitch_to_token(64)
    assert melody_to_tokens(part).tolist() == [C4, 1, 1, 1, e4]


def test_chord_is_polyphonic_but_unison_chord_is_a_note():
    with pytest.raises(MelodyError) as error:
        melody_to_tokens(_part(chord.Chord(["C4", "E4"], quarterLength=1.0)))
    assert error.value.reason == "polyphonic"
    assert melody_to_tokens(_part(chord.Chord(["C4"], quarterLength=0.5))).tolist() == [C4, 1]


def test_overlapping_notes_and_two_parts_are_polyphonic():
    part = stream.Part()
    part.insert(0, _note("C4", 1.0))
    part.insert(0.5, _note("E4", 1.0))
    with pytest.raises(MelodyError) as error:
        melody_to_tokens(part)
    assert error.value.reason == "polyphonic"
    score = stream.Score([_part(_note("C4", 1.0)), _part(_note("E4", 1.0))])
    with pytest.raises(MelodyError) as error:
        melody_to_tokens(score)
    assert error.value.reason == "polyphonic"


def test_eighth_triplets_are_quantised_to_the_grid():
    part = stream.Part()
    for index, name in enumerate(["C4", "D4", "E4"]):
        part.insert(index / 3, _note(name, 1 / 3))
    part.insert(1.0, _note("F4", 1.0))
    d4, e4, f4 = (DEFAULT_VOCABULARY.pitch_to_token(p) for p in (62, 64, 65))
    # onsets 0, 4/3, 8/3 sixteenths round to 0, 1, 3
    assert melody_to_tokens(part).tolist() == [C4, d4, 1, e4, f4, 1, 1, 1]


def test_many_notes_between_grid_steps_are_off_grid():
    part = _part(*[_note("C4" if i % 2 else "D4", 0.125) for i in range(16)])
    with pytest.raises(MelodyError) as error:
        melody_to_tokens(part)
    assert error.value.reason == "off-grid"


def test_out_of_range_and_empty():
    with pytest.raises(MelodyError) as error:
        melody_to_tokens(_part(_note("C4", 1.0), _note("C1", 1.0)))
    assert error.value.reason == "out-of-range"
    with pytest.raises(MelodyError) as error:
        melody_to_tokens(_part(note.Rest(quarterLength=2.0)))
    assert error.value.reason == "empty"


def test_tokens_to_stream_keeps_key_and_tempo():
    score = tokens_to_stream([C4, 1, 0, 1], key="G major", bpm=90)
    part = score.parts[0]
    assert part.recurse().getElementsByClass("Key").first().sharps == 1
    assert part.recurse().getElementsByClass("MetronomeMark").first().number == 90
    assert float(part.highestTime) == 1.0


@pytest.mark.parametrize(
    "key, sharps, mode",
    [
        ("C major", 0, "major"),
        ("Bb major", -2, "major"),
        ("F# minor", 3, "minor"),
        ("a", 0, "minor"),
    ],
)
def test_key_names(key, sharps, mode):
    found = tokens_to_stream([C4], key=key).parts[0].recurse().getElementsByClass("Key").first()
    assert (found.sharps, found.mode) == (sharps, mode)


def test_bad_arguments_raise_clear_errors(tmp_path):
    with pytest.raises(SequenceTutorError, match=r"melody\.wav"):
        write_melody([C4], tmp_path / "melody.wav")
    assert not (tmp_path / "melody.wav").exists()
    with pytest.raises(SequenceTutorError, match="'H sharp'"):
        tokens_to_stream([C4], key="H sharp")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tokens_to_stream([C4, 99])


@pytest.mark.parametrize("suffix", [".mid", ".musicxml", ".mxl", ".abc"])
def test_corrupt_file_is_unreadable_and_named(tmp_path, suffix):
    path = tmp_path / f"broken{suffix}"
    path.write_bytes(b"MThd\x00\x00\x00\x06garbage<<not music" * 3)
    with pytest.raises(MelodyError) as error:
        read_melody(path)
    assert error.value.reason in ("unreadable", "empty")
    assert str(path) in str(error.value)


def test_xml_entity_bomb_is_refused_quickly(tmp_path):
    entities = ['<!ENTITY lol0 "lollollollollollollollollollol">']
    entities += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    bomb = tmp_path / "bomb.musicxml"
    bomb.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE score-partwise [\n'
        + "\n".join(entities)
        + "\n]>\n<score-partwise><work><work-title>&lol9;</work-title></work></score-partwise>\n"
    )
    start = time.perf_counter()
    with pytest.raises(MelodyError) as error:
        read_melody(bomb)
    assert time.perf_counter() - start < 5
    assert error.value.reason == "unreadable"
    assert str(bomb) in str(error.value)


def test_oversized_file_is_refused_unread(tmp_path, monkeypatch):
    import pretrain.tokenizer as tokenizer

    path = write_melody([C4, 1, 1], tmp_path / "melody.musicxml")
    monkeypatch.setattr(tokenizer, "MAX_FILE_BYTES", 100)
    with pytest.raises(MelodyError) as error:
        read_melody(path)
    assert error.value.reason == "too-large"


def test_read_kern_melody(tmp_path):
    path = tmp_path / "tune.krn"
    path.write_text("**kern\n*M4/4\n=1\n4c\n8d\n8e\n4r\n4f\n=2\n1g\n*-\n")
    d4, e4, f4, g4 = (DEFAULT_VOCABULARY.pitch_to_token(p) for p in (62, 64, 65, 67))
    expected = [C4, 1, 1, 1, d4, 1, e4, 1, NOTE_OFF, 1, 1, 1, f4, 1, 1, 1, g4] + [NO_EVENT] * 15
    assert read_melody(path).tolist() == expected
