"""The fast incremental rules against the slow music21 reference (tests/reference_rules.py)."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rewards
from tests.reference_rules import RULE_NAMES, ReferenceRules

# music21 spelling (reference) -> our key name (fast rules); modes music21 knows
KEYS = {
    "C major": "C major",
    "A minor": "A minor",
    "F# dorian": "F# dorian",
    "B- mixolydian": "Bb mixolydian",
    "E locrian": "E locrian",
    "G lydian": "G lydian",
    "D phrygian": "D phrygian",
    "E- minor": "Eb minor",
    "C# major": "C# major",
    "A aeolian": "A aeolian",
}
_REFERENCES: dict[str, ReferenceRules] = {}


def reference(key: str) -> ReferenceRules:
    if key not in _REFERENCES:
        _REFERENCES[key] = ReferenceRules(key)
    return _REFERENCES[key]


@st.composite
def melodies(draw, max_length: int = 40):
    """Random melodies that hit the rules: sometimes uniform tokens, sometimes a small pool
    (repetitions, motifs, repeated motifs), sometimes a walk (steps and leaps)."""
    length = draw(st.integers(1, max_length))
    style = draw(st.sampled_from(["uniform", "pool", "walk"]))
    if style == "uniform":
        tokens = draw(st.lists(st.integers(0, 37), min_size=length, max_size=length))
    elif style == "pool":
        pool = draw(st.lists(st.integers(0, 37), min_size=1, max_size=5))
        tokens = draw(st.lists(st.sampled_from(pool), min_size=length, max_size=length))
    else:
        tokens, note = [], draw(st.integers(2, 37))
        for _ in range(length):
            kind = draw(st.sampled_from(["note", "note", "hold", "rest"]))
            if kind == "note":
                note = min(37, max(2, note + draw(st.integers(-9, 9))))
                tokens.append(note)
            else:
                tokens.append(1 if kind == "hold" else 0)
    extra = draw(st.integers(0, 3))  # melody_length may exceed what is played
    return tokens, length + extra


def check_against_reference(key: str, melody: list[int], length: int) -> None:
    fast = rewards.TheoryReward(None, length, KEYS[key])
    slow = reference(key).melody_terms(melody, length)
    for step, (token, expected) in enumerate(zip(melody, slow)):
        terms = fast.step(token)
        assert tuple(terms) == RULE_NAMES
        for name in RULE_NAMES:
            assert math.isclose(terms[name], expected[name], rel_tol=1e-9, abs_tol=1e-12), (
                f"{name} differs at step {step} of {melody} in {key} (T={length}): "
                f"fast {terms[name]}, reference {expected[name]}"
            )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(sorted(KEYS)), case=melodies())
def test_rules_equal_the_reference(key, case):
    melody, length = case
    check_against_reference(key, melody, length)


@pytest.mark.slow
@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(sorted(KEYS)), case=melodies(max_length=36))
def test_rules_equal_the_reference_thousands(key, case):
    melody, length = case
    check_against_reference(key, melody, length)


def test_reference_single_step_replays_the_leap_detector():
    # terms() (used by the benchmark) and melody_terms() agree, including the stateful rule
    melody = [14, 21, 19, 17, 16, 14, 0, 1, 26, 28, 14, 1]
    ref = reference("C major")
    whole = ref.melody_terms(melody, 16)
    for t in range(len(melody)):
        assert ref.terms(melody[: t + 1], 16) == whole[t]
