"""A deliberately simple, slow reference of the music-theory rules (for tests and the benchmark).

Independent of :mod:`rewards`: every step it looks at the *whole* melody again, asks music21 for
the scale, every pitch, degree and interval (``key.Key.getScale().getPitches()``,
``pitch.Pitch``, ``key.Key.pitchFromDegree``, ``interval.Interval``), replays rl_tuner's stateful leap detector from the first note (:meth:`ReferenceRules.terms`) and
computes autocorrelations with exact fractions. Nothing is incremental, so it is obviously right
and hundreds of times slower.

Conventions shared with the fast rules (DESIGN.md): tokens 0 = NOTE_OFF, 1 = NO_EVENT,
2 + k = MIDI ``min_pitch + k``; the tonic token is the tonic in octave 4; the in-key third and
fifth are the tonic-to-third and tonic-to-fifth sizes, from the tonic/third or tonic/fifth.
"""

from __future__ import annotations

from fractions import Fraction

from music21 import interval, key, pitch

NOTE_OFF, NO_EVENT = 0, 1
MIN_PITCH = 48
RULE_NAMES = (
    "key",
    "tonic",
    "repetition",
    "autocorrelation",
    "motif",
    "repeated_motif",
    "interval",
    "leap_resolution",
    "high_low_unique",
)
INTERVAL_VALUES = {  # rl_tuner's reward_preferred_intervals, before its x5
    "rest": 0.05,
    "hold": 0.075,
    "rest_after_tonic_or_fifth": 0.15,
    "hold_after_tonic_or_fifth": 0.3,
    "in_key_fifth": 0.1,
    "in_key_third": 0.15,
    "third": 0.09,
    "second": 0.08,
    "fourth": 0.07,
    "sixth": 0.05,
    "fifth": 0.02,
    "seventh": -0.3,
    "beyond_octave": -1.0,
}


def is_note(token: int) -> bool:
    return token >= 2


class ReferenceRules:
    """``terms(melody, length)`` gives every rule's term for the *last* token of ``melody``."""

    def __init__(self, key_name: str = "C major", min_pitch: int = MIN_PITCH) -> None:
        tonic, mode = key_name.split()
        self.key = key.Key(tonic, mode)
        self.min_pitch = min_pitch

    def pitch(self, token: int) -> pitch.Pitch:
        return pitch.Pitch(midi=self.min_pitch + token - 2)

    def token(self, p: pitch.Pitch) -> int:
        return p.midi - self.min_pitch + 2

    def scale_pitch_classes(self) -> set[int]:
        return {p.pitchClass for p in self.key.getScale().getPitches()}

    def degree_pitch_class(self, degree: int) -> int:
        return self.key.pitchFromDegree(degree).pitchClass

    def tonic_token(self) -> int:
        return self.token(pitch.Pitch(self.key.tonic.name + "4"))

    def degree_size(self, degree: int) -> int:
        return interval.Interval(self.key.tonic, self.key.pitchFromDegree(degree)).semitones % 12

    # -----------------------------------------------------------------------------------------

    def terms(self, melody: list[int], length: int, *, leap: bool = True) -> dict[str, float]:
        melody = [int(t) for t in melody]
        before, action = melody[:-1], melody[-1]
        terms = {
            "key": self.key_term(action),
            "tonic": self.tonic_term(len(before), action, length),
            "repetition": self.repetition_term(before, action),
            "autocorrelation": self.autocorrelation_term(melody),
            "motif": self.motif_term(melody),
            "repeated_motif": self.repeated_motif_term(melody),
            "interval": 5.0 * INTERVAL_VALUES.get(self.interval_name(before, action), 0.0),
            "leap_resolution": self.leap_term(melody) if leap else 0.0,
            "high_low_unique": self.high_low_term(melody, length),
        }
        return terms

    def key_term(self, action: int) -> float:
        if is_note(action) and self.pitch(action).pitchClass not in self.scale_pitch_classes():
            return -1.0
        return 0.0

    def tonic_term(self, beat: int, action: int, length: int) -> float:
        last_bar = length - 4
        if beat == 0 or beat == last_bar:
            return 3.0 if action == self.tonic_token() else 0.0
        if beat == last_bar + 1:
            return 3.0 if action == NO_EVENT else 0.0
        if beat > last_bar + 1:
            return 3.0 if action in (NO_EVENT, NOTE_OFF) else 0.0
        return 0.0

    def repetition_term(self, before: list[int], action: int) -> float:
        repeated, held, broken = 0, False, False
        for token in reversed(before):
            if token == action:
                repeated += 1
            elif token == NOTE_OFF:
                broken = True
            elif token == NO_EVENT:
                held = True
            else:
                break
        if action == NOTE_OFF and repeated > 1:
            return -100.0
        if not held and not broken:
            return -100.0 if repeated > 4 else 0.0
        return -100.0 if repeated > 6 else 0.0

    def autocorrelation_term(self, melody: list[int]) -> float:
        n = len(melody)
        mean = Fraction(sum(melody), n)
        variance = sum((Fraction(s) - mean) ** 2 for s in melody) / n
        penalty = Fraction(0)
        if variance == 0:
            return 0.0
        for lag in (1, 2, 3):
            pairs = sum((melody[i] - mean) * (melody[i - lag] - mean) for i in range(lag, n))
            rho = Fraction(pairs) / n / variance
            if abs(rho) > Fraction(15, 100):
                penalty += abs(rho)
        return -3.0 * float(penalty) if penalty else 0.0

    @staticmethod
    def distinct_notes(tokens: list[int]) -> int:
        return len({t for t in tokens if is_note(t)})

    def motif_term(self, melody: list[int]) -> float:
        if len(melody) < 8:
            return 0.0
        distinct = self.distinct_notes(melody[-8:])
        return 3.0 + max((distinct - 3) * 0.3, 0) if distinct >= 3 else 0.0

    def repeated_motif_term(self, melody: list[int]) -> float:
        if len(melody) < 8 or self.distinct_notes(melody[-8:]) < 3:
            return 0.0
        motif = melody[-8:]
        earlier = melody[:-1][:-7]
        for start in range(len(earlier) - 7):
            if earlier[start : start + 8] == motif:
                return 4.0 + max(self.distinct_notes(motif) - 3, 0)
        return 0.0

    def previous_note(self, before: list[int]) -> int | None:
        for token in reversed(before):
            if is_note(token):
                return token
        return None

    def interval_name(self, before: list[int], action: int) -> str:
        previous = self.previous_note(before)
        if previous is None:
            return "none"
        previous_pc = self.pitch(previous).pitchClass
        tonic_pc, third_pc, fifth_pc = (self.degree_pitch_class(d) for d in (1, 3, 5))
        after_strong = previous_pc in (tonic_pc, fifth_pc)
        if action == NO_EVENT:
            return "hold_after_tonic_or_fifth" if after_strong else "hold"
        if action == NOTE_OFF:
            return "rest_after_tonic_or_fifth" if after_strong else "rest"
        size = abs(interval.Interval(self.pitch(previous), self.pitch(action)).semitones)
        if size == self.degree_size(5) and after_strong:
            return "in_key_fifth"
        if size == self.degree_size(3) and previous_pc in (tonic_pc, third_pc):
            return "in_key_third"
        if size > interval.Interval("P8").semitones:
            return "beyond_octave"
        for name, spec in (
            ("second", "M2"),
            ("third", "M3"),
            ("fourth", "P4"),
            ("fifth", "P5"),
            ("sixth", "M6"),
            ("seventh", "M7"),
        ):
            if size == interval.Interval(spec).semitones:
                return name
        return "none"

    def leap_term(self, melody: list[int]) -> float:
        """rl_tuner's detect_leap_up_back, replayed over the whole melody; the last outcome."""
        return self.leap_outcomes(melody)[-1]

    def leap_outcomes(self, melody: list[int]) -> list[float]:
        """rl_tuner's stateful leap detector run once over the melody: every step's outcome."""
        direction, leapt_from, steps = 0, None, 0
        outcomes = []
        for t, action in enumerate(melody):
            outcome = 0.0
            outcomes.append(outcome)
            before = melody[:t]
            if not before:
                continue
            if not is_note(action):
                steps += 1
                continue
            previous = self.previous_note(before)
            move = None
            if previous is not None:
                move = interval.Interval(self.pitch(previous), self.pitch(action))
            if move is not None and abs(move.semitones) >= 7:
                leap = 1 if move.semitones > 0 else -1
                if direction != 0:
                    if direction != leap:
                        if steps > 6:
                            outcome = 5.0
                        direction, leapt_from = 0, None
                    else:
                        outcome = -5.0
                else:
                    direction, leapt_from = leap, previous
                steps = 0
            else:
                steps += 1
                if (direction == 1 and action <= leapt_from) or (
                    direction == -1 and action >= leapt_from
                ):
                    outcome = 5.0
                    direction, leapt_from = 0, None
            outcomes[-1] = outcome
        return outcomes

    def high_low_term(self, melody: list[int], length: int) -> float:
        if len(melody) != length:
            return 0.0
        term = 0.0
        if melody.count(max(melody)) == 1:
            term += 3.0
        notes = [t for t in melody if is_note(t)]
        if notes and melody.count(min(notes)) == 1:
            term += 3.0
        return term

    def melody_terms(self, melody: list[int], length: int) -> list[dict[str, float]]:
        """The terms of every step of ``melody`` (each step sees only its prefix; the stateful
        leap detector runs once over the melody, as rl_tuner runs it)."""
        melody = [int(t) for t in melody]
        leaps = self.leap_outcomes(melody)
        result = []
        for t in range(len(melody)):
            terms = self.terms(melody[: t + 1], length, leap=False)
            terms["leap_resolution"] = leaps[t]
            result.append(terms)
        return result
