"""Our vectorised MusPy metrics against ``muspy`` itself, composition by composition."""

from __future__ import annotations

import math

import muspy
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pretrain.vocabulary import DEFAULT_VOCABULARY, NO_EVENT, NOTE_OFF
from sequence_tutor.evaluation.table1 import muspy_metrics

STEPS_PER_BEAT = 4  # sixteenth-note steps; muspy's resolution is time steps per quarter note


def to_music(tokens) -> muspy.Music:
    """A muspy Music of a composition, read straight from the token vocabulary (DESIGN.md)."""
    notes, start, pitch = [], None, None
    for step, token in enumerate([*map(int, tokens), NOTE_OFF]):
        if token == NO_EVENT:
            continue
        if start is not None:
            notes.append(muspy.Note(time=start, pitch=pitch, duration=step - start))
            start = None
        if token != NOTE_OFF:
            start, pitch = step, DEFAULT_VOCABULARY.min_pitch + token - 2
    return muspy.Music(resolution=STEPS_PER_BEAT, tracks=[muspy.Track(notes=notes)])


def reference(tokens) -> dict[str, float]:
    music = to_music(tokens)
    return {
        "pitch_class_entropy": muspy.pitch_class_entropy(music),
        "scale_consistency": muspy.scale_consistency(music),
        "empty_beat_rate": muspy.empty_beat_rate(music),
    }


def assert_same(ours: dict[str, float], theirs: dict[str, float]) -> None:
    assert ours.keys() == theirs.keys()
    for name, value in theirs.items():
        if math.isnan(value):
            assert math.isnan(ours[name]), name
        else:
            assert ours[name] == pytest.approx(value, abs=1e-12), name


def random_compositions(n: int, seed: int, hold: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = np.r_[0.05, hold, np.full(36, (0.95 - hold) / 36)]
    return rng.choice(DEFAULT_VOCABULARY.size, size=(n, 32), p=p)


@pytest.mark.parametrize("hold", [0.3, 0.65, 0.9])
def test_equal_to_muspy_on_a_few_hundred_compositions(hold):
    for row in random_compositions(100, seed=int(hold * 100), hold=hold):
        assert_same(muspy_metrics(row[None], DEFAULT_VOCABULARY), reference(row))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, DEFAULT_VOCABULARY.size - 1), min_size=1, max_size=48))
def test_equal_to_muspy_on_any_token_sequence(tokens):
    assert_same(muspy_metrics(np.array([tokens]), DEFAULT_VOCABULARY), reference(tokens))


def test_the_corpus_value_is_the_mean_over_compositions_with_notes():
    rows = random_compositions(50, seed=3, hold=0.65)
    rows[0] = NOTE_OFF  # no note: MusPy gives NaN, left out of the means
    per_row = [reference(row) for row in rows]
    ours = muspy_metrics(rows, DEFAULT_VOCABULARY)
    for name in ours:
        assert ours[name] == pytest.approx(np.nanmean([r[name] for r in per_row]), abs=1e-12)
