"""``interval``: rl_tuner's interval classes and their rewards, from music21 intervals."""

from __future__ import annotations

import numpy as np

from pretrain.vocabulary import DEFAULT_VOCABULARY, NO_EVENT, NOTE_OFF, Vocabulary
from rewards.composition import BatchComposition, Composition
from rewards.keys import KeyTables, key_tables
from rewards.rules.base import BatchRule, Rule

INTERVAL_CLASSES = (
    "none",  # first step, no note before, or an interval without a preference (unison, m2, ...)
    "rest",
    "hold",
    "rest_after_tonic_or_fifth",
    "hold_after_tonic_or_fifth",
    "in_key_fifth",
    "in_key_third",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "beyond_octave",
)
"""Interval classes of :func:`interval_class`, in the order of :func:`interval_class_table` codes."""

INTERVAL_REWARDS = {
    "none": 0.0,
    "rest": 0.05,
    "hold": 0.075,
    "rest_after_tonic_or_fifth": 0.15,
    "hold_after_tonic_or_fifth": 0.3,
    "in_key_fifth": 0.1,
    "in_key_third": 0.15,
    "second": 0.08,
    "third": 0.09,
    "fourth": 0.07,
    "fifth": 0.02,
    "sixth": 0.05,
    "seventh": -0.3,
    "beyond_octave": -1.0,
}
"""rl_tuner's ``reward_preferred_intervals`` values, before its x5 scale."""


def _interval_semitones() -> dict[str, int]:
    from music21 import interval  # noqa: PLC0415 (heavy; construction only)

    names = {
        "second": "M2",
        "third": "M3",
        "fourth": "P4",
        "fifth": "P5",
        "sixth": "M6",
        "seventh": "M7",
        "octave": "P8",
    }
    return {name: interval.Interval(spec).semitones for name, spec in names.items()}


def interval_class(tables: KeyTables, previous_note: int, action: int) -> str:
    """The class of moving from ``previous_note`` (:data:`NO_NOTE` if none) to ``action``.

    rl_tuner's ``detect_sequential_interval``, for any key: an action after no note is
    ``"none"``; NOTE_OFF / NO_EVENT are rests / holds, "after tonic or fifth" when the previous
    note is the tonic or fifth degree; between notes the size in semitones decides, the key's
    tonic-to-fifth (to-third) size from the tonic or fifth (tonic or third) being an in-key fifth
    (third). Sizes are rl_tuner's: second = 2, third = 4, fourth = 5, fifth = 7, sixth = 9,
    seventh = 11 semitones, more than an octave; other sizes (unison, 1, 3, 6, 8, 10, 12) are
    ``"none"``. Unlike rl_tuner's statistics, in-key thirds are their own class, so counting
    them works (rl_tuner wrote ``interval == THIRD or IN_KEY_THIRD`` inside a comparison).
    """
    return INTERVAL_CLASSES[interval_class_table(tables)[previous_note, action]]


_INTERVAL_TABLES: dict[int, np.ndarray] = {}


def interval_class_table(tables: KeyTables) -> np.ndarray:
    """``int8[V + 1, V]`` codes into :data:`INTERVAL_CLASSES`; row ``previous_note`` (the last row
    is "no previous note", so ``table[NO_NOTE]`` works)."""
    cached = _INTERVAL_TABLES.get(id(tables))
    if cached is not None:
        return cached
    size = tables.vocabulary.size
    semitones = _interval_semitones()
    code = {name: i for i, name in enumerate(INTERVAL_CLASSES)}
    table = np.zeros((size + 1, size), dtype=np.int8)
    pitch_class = tables.pitch % 12
    for prev in range(2, size):
        after_strong = pitch_class[prev] in (tables.tonic_pitch_class, tables.fifth_pitch_class)
        table[prev, NOTE_OFF] = code["rest_after_tonic_or_fifth" if after_strong else "rest"]
        table[prev, NO_EVENT] = code["hold_after_tonic_or_fifth" if after_strong else "hold"]
        for action in range(2, size):
            size_ = abs(int(tables.pitch[action] - tables.pitch[prev]))
            if size_ == tables.in_key_fifth_semitones and after_strong:
                name = "in_key_fifth"
            elif size_ == tables.in_key_third_semitones and pitch_class[prev] in (
                tables.tonic_pitch_class,
                tables.third_pitch_class,
            ):
                name = "in_key_third"
            elif size_ > semitones["octave"]:
                name = "beyond_octave"
            else:
                name = next(
                    (
                        k
                        for k in ("second", "third", "fourth", "fifth", "sixth", "seventh")
                        if semitones[k] == size_
                    ),
                    "none",
                )
            table[prev, action] = code[name]
    table.flags.writeable = False
    _INTERVAL_TABLES[id(tables)] = table
    return table


class IntervalRule(Rule):
    """``interval``: ``scale`` (5) times rl_tuner's preferred-interval value of moving from the
    last note to ``action`` (:data:`INTERVAL_REWARDS`, classes of :func:`interval_class`):
    in-key fifth .1, in-key third .15, third .09, second .08, fourth .07, sixth .05, fifth .02,
    seventh -.3, beyond an octave -1; NOTE_OFF .05 (.15 after the tonic or fifth), NO_EVENT
    .075 (.3 after the tonic or fifth); 0 otherwise. One look-up in a ``[V + 1, V]`` table."""

    name = "interval"

    def __init__(
        self,
        key: str | KeyTables = "C major",
        scale: float = 5.0,
        *,
        vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    ) -> None:
        self.tables = key_tables(key, vocabulary)
        self.scale = float(scale)
        per_class = np.array([INTERVAL_REWARDS[c] * self.scale for c in INTERVAL_CLASSES])
        self.values = per_class[interval_class_table(self.tables)]
        self._values = self.values.tolist()

    def reward(self, composition: Composition, action: int) -> float:
        return self._values[composition.last_note][action]

    step = reward  # stateless: nothing to update

    def batch(self, num_envs: int) -> BatchRule:
        return _IntervalBatch(self)


class _IntervalBatch(BatchRule):
    def __init__(self, parent: IntervalRule) -> None:
        self.name = parent.name
        self.values = parent.values

    def reward(self, composition: BatchComposition, actions: np.ndarray) -> np.ndarray:
        return self.values[composition.last_note, actions]
