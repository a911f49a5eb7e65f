"""Unit tests of the music-theory rules (rewards.rules) and key tables (rewards.keys)."""

from __future__ import annotations

import numpy as np
import pytest

import rewards
from pretrain.errors import SequenceTutorError
from pretrain.vocabulary import DEFAULT_VOCABULARY, NO_EVENT, NOTE_OFF, Vocabulary
from rewards.rules import INTERVAL_CLASSES, interval_class, interval_class_table

# rl_tuner_ops' hard-coded C-major lists (its rule token numbering, which is ours)
RL_TUNER_C_MAJOR_KEY = [
    0,
    1,
    2,
    4,
    6,
    7,
    9,
    11,
    13,
    14,
    16,
    18,
    19,
    21,
    23,
    25,
    26,
    28,
    30,
    31,
    33,
    35,
    37,
]
C4, D4, E4, F4, G4, A4, B4, C5 = 14, 16, 18, 19, 21, 23, 25, 26


def play(rule_names, melody, length=32, key="C major"):
    """The terms of every step of ``melody`` under the named built-in rules."""
    theory = rewards.TheoryReward(rule_names, length, key)
    return [theory.step(token) for token in melody]


def last_term(name, melody, length=32, key="C major"):
    return play([name], melody, length, key)[-1][name]


# ------------------------------------------------------------------------------------------
# key tables
# ------------------------------------------------------------------------------------------


def test_c_major_tables_are_rl_tuners_lists():
    tables = rewards.key_tables("C major")
    assert np.flatnonzero(tables.in_key).tolist() == RL_TUNER_C_MAJOR_KEY
    assert tables.tonic_token == 14
    pitch_class = tables.pitch % 12
    assert np.flatnonzero(tables.is_note & (pitch_class == 0)).tolist() == [2, 14, 26]  # C
    assert np.flatnonzero(tables.is_note & (pitch_class == 4)).tolist() == [6, 18, 30]  # E
    assert np.flatnonzero(tables.is_note & (pitch_class == 7)).tolist() == [9, 21, 33]  # G
    assert (tables.in_key_third_semitones, tables.in_key_fifth_semitones) == (4, 7)


def test_token_mapping_matches_the_vocabulary_not_rl_tuners_encoder():
    # rl_tuner's encoder shifted pitches by two semitones and swapped NOTE_OFF / NO_EVENT against
    # its rules; here the rules' tonic token is the vocabulary's C4 and 0 / 1 mean rest / hold.
    tables = rewards.key_tables("C major")
    assert DEFAULT_VOCABULARY.token_to_pitch(tables.tonic_token) == 60
    assert tables.pitch[2] == 48 and tables.pitch[37] == 83
    assert (NOTE_OFF, NO_EVENT) == (0, 1)
    assert interval_class(tables, C4, NOTE_OFF).startswith("rest")
    assert interval_class(tables, C4, NO_EVENT).startswith("hold")


@pytest.mark.parametrize(
    ("name", "canonical", "tonic_token", "scale", "third", "fifth"),
    [
        ("A minor", "A minor", 23, {9, 11, 0, 2, 4, 5, 7}, 3, 7),  # rl_tuner's A_MINOR_TONIC
        ("a", "A minor", 23, {9, 11, 0, 2, 4, 5, 7}, 3, 7),
        ("F# dorian", "F# dorian", 20, {6, 8, 9, 11, 1, 3, 4}, 3, 7),
        ("Bb mixolydian", "Bb mixolydian", 24, {10, 0, 2, 3, 5, 7, 8}, 4, 7),
        ("E locrian", "E locrian", 18, {4, 5, 7, 9, 10, 0, 2}, 3, 6),
        ("G major", "G major", 21, {7, 9, 11, 0, 2, 4, 6}, 4, 7),
    ],
)
def test_other_keys_and_modes(name, canonical, tonic_token, scale, third, fifth):
    tables = rewards.key_tables(name)
    assert tables.name == canonical
    assert tables.tonic_token == tonic_token
    assert set(tables.scale_pitch_classes) == scale
    notes = tables.in_key_notes
    assert set((tables.pitch[notes] % 12).tolist()) == scale
    assert tables.in_key[NOTE_OFF] and tables.in_key[NO_EVENT]
    assert (tables.in_key_third_semitones, tables.in_key_fifth_semitones) == (third, fifth)


def test_key_tables_are_cached_and_read_only():
    assert rewards.key_tables("C major") is rewards.key_tables("C major")
    with pytest.raises(ValueError):
        rewards.key_tables("C major").in_key[3] = True


def test_small_vocabulary_moves_the_tonic_into_range():
    vocabulary = Vocabulary(min_pitch=72, num_pitches=12)  # C5..B5
    tables = rewards.key_tables("C major", vocabulary)
    assert vocabulary.token_to_pitch(tables.tonic_token) == 72


@pytest.mark.parametrize("name", ["H major", "C blues-ish", "", "C major minor", "X"])
def test_unknown_key_names_the_key(name):
    with pytest.raises(rewards.UnknownKeyError, match="key") as info:
        rewards.key_tables(name)
    assert isinstance(info.value, SequenceTutorError) and isinstance(info.value, ValueError)
    assert repr(name)[1:-1] in str(info.value) or name.split()[0] in str(info.value)


# ------------------------------------------------------------------------------------------
# the rules, by hand-made examples
# ------------------------------------------------------------------------------------------


def test_key_rule():
    terms = play(["key"], [C4, 15, NOTE_OFF, NO_EVENT, 37, 36])
    assert [t["key"] for t in terms] == [0.0, -1.0, 0.0, 0.0, 0.0, -1.0]
    assert last_term("key", [C4, 21], key="F# dorian") == -1.0  # G is not in F# dorian


def test_tonic_rule_follows_rl_tunes_step_chain():
    length = 32
    rule = rewards.TonicRule()
    composition = rewards.Composition(length, rewards.key_tables())

    def at(step, action):
        composition.tokens = [2] * step
        return rule.reward(composition, action)

    assert at(0, C4) == 3.0 and at(0, 2) == 0.0 and at(0, 26) == 0.0  # C4 only, not C3 / C5
    assert at(5, C4) == 0.0
    assert at(28, C4) == 3.0 and at(28, NO_EVENT) == 0.0
    assert at(29, NO_EVENT) == 3.0 and at(29, NOTE_OFF) == 0.0
    assert at(30, NOTE_OFF) == 3.0 and at(31, NO_EVENT) == 3.0 and at(31, C4) == 0.0
    assert last_term("tonic", [A4], key="A minor") == 3.0


def test_tonic_rule_short_melodies():
    # T = 4: step 0 is also the last bar's first note; T = 2: step 1 is "after T - 3"
    assert [t["tonic"] for t in play(["tonic"], [C4, NO_EVENT, NOTE_OFF, NO_EVENT], 4)] == [
        3.0,
        3.0,
        3.0,
        3.0,
    ]
    assert [t["tonic"] for t in play(["tonic"], [C4, NOTE_OFF], 2)] == [3.0, 3.0]
    assert [t["tonic"] for t in play(["tonic"], [C4], 1)] == [3.0]


@pytest.mark.parametrize(
    ("before", "action", "excessive"),
    [
        ([C4] * 4, C4, False),
        ([C4] * 5, C4, True),  # five in a row, no holds or breaks: count 5 > 4
        ([C4, NO_EVENT] * 6, C4, False),  # six with holds between: not > 6
        ([C4, NO_EVENT] * 7, C4, True),
        ([E4, C4, C4, C4, C4, C4], E4, False),  # the walk stops at the other note
        ([C4, NO_EVENT, NO_EVENT, NO_EVENT, NO_EVENT], NO_EVENT, False),
        ([C4, NO_EVENT, NO_EVENT, NO_EVENT, NO_EVENT, NO_EVENT], NO_EVENT, True),  # 5 holds
        ([C4, NOTE_OFF, NO_EVENT, NO_EVENT, NO_EVENT, NO_EVENT, NO_EVENT], NO_EVENT, False),
        ([C4, NOTE_OFF], NOTE_OFF, False),
        ([C4, NOTE_OFF, NOTE_OFF], NOTE_OFF, True),
        ([C4, NOTE_OFF, NO_EVENT, NOTE_OFF], NOTE_OFF, True),
        ([E4, NO_EVENT, C4, NO_EVENT, C4, C4, NO_EVENT, C4, C4, C4, C4], C4, True),  # 6 C4, held
    ],
)
def test_repetition_rule(before, action, excessive):
    assert last_term("repetition", [*before, action]) == (-100.0 if excessive else 0.0)


def rl_tuner_autocorrelation(signal, lag):
    n = len(signal)
    x = np.asarray(signal, dtype=float) - np.mean(signal)
    return (x[lag:] * x[: n - lag]).sum() / n / np.var(signal)


@pytest.mark.parametrize("seed", range(5))
def test_autocorrelation_rule_matches_rl_tuners_formula(seed):
    melody = np.random.default_rng(seed).choice([C4, E4, G4, NO_EVENT, NOTE_OFF], 24).tolist()
    terms = play(["autocorrelation"], melody)
    for t in range(1, len(melody)):
        prefix = melody[: t + 1]
        expected = 0.0
        if np.var(prefix) > 0:
            for lag in (1, 2, 3):
                rho = rl_tuner_autocorrelation(prefix, lag)
                if abs(rho) > 0.15:
                    expected -= 3 * abs(rho)
        assert terms[t]["autocorrelation"] == pytest.approx(expected, abs=1e-12)
    assert terms[0]["autocorrelation"] == 0.0  # one token: zero variance, rho undefined


def test_autocorrelation_of_constant_melody_is_skipped():
    assert all(t["autocorrelation"] == 0.0 for t in play(["autocorrelation"], [C4] * 10))


def test_motif_rule():
    melody = [C4, D4, E4, NO_EVENT, NO_EVENT, NO_EVENT, NO_EVENT, NO_EVENT]
    terms = play(["motif"], melody)
    assert [t["motif"] for t in terms] == [0.0] * 7 + [3.0]
    assert last_term("motif", [C4, D4, E4, F4, G4, NO_EVENT, NOTE_OFF, NO_EVENT]) == pytest.approx(
        3.6
    )
    assert last_term("motif", [C4, D4, NO_EVENT, C4, D4, NOTE_OFF, C4, D4]) == 0.0  # 2 notes
    # only the last 8 tokens count
    assert last_term("motif", [C4, D4, E4, *[NO_EVENT] * 6]) == 0.0


def test_repeated_motif_rule():
    motif = [C4, D4, E4, F4, NO_EVENT, NO_EVENT, NO_EVENT, NO_EVENT]
    filler = [NOTE_OFF] * 7
    terms = play(["repeated_motif"], motif + filler + motif)
    values = [t["repeated_motif"] for t in terms]
    assert values[-1] == 5.0  # 4 + (4 distinct notes - 3)
    assert values[:-1] == [0.0] * (len(values) - 1)
    assert last_term("repeated_motif", motif + motif) == 5.0  # right after the first one
    # an occurrence overlapping the motif itself does not count (rl_tuner: composition[:-7])
    periodic = [C4, D4, E4] * 5
    assert periodic[4:12] == periodic[7:15]
    assert last_term("repeated_motif", periodic) == 0.0
    assert last_term("repeated_motif", [C4, D4, E4] * 8) == 4.0
    # no motif (fewer than 3 notes): no repeated motif either
    dull = [C4, D4, *[NO_EVENT] * 6]
    assert last_term("repeated_motif", dull + filler + dull) == 0.0


@pytest.mark.parametrize(
    ("previous", "action", "name", "value"),
    [
        (C4, E4, "in_key_third", 0.75),
        (E4, C4, "in_key_third", 0.75),
        (E4, 22, "in_key_third", 0.75),  # rl_tuner: 4 semitones from C or E (G#4 too)
        (E4, G4, "none", 0.0),  # a minor third has no preference in rl_tuner
        (D4, 20, "third", 0.45),
        (C4, G4, "in_key_fifth", 0.5),
        (G4, 28, "in_key_fifth", 0.5),  # G4 -> D5
        (D4, A4, "fifth", 0.1),
        (C4, D4, "second", 0.4),
        (C4, F4, "fourth", 0.07 * 5),
        (C4, A4, "sixth", 0.25),
        (C4, B4, "seventh", -1.5),
        (C4, C5, "none", 0.0),  # octave
        (2, C4 + 2, "beyond_octave", -5.0),
        (C4, C4, "none", 0.0),
        (C4, NO_EVENT, "hold_after_tonic_or_fifth", 1.5),
        (G4, NOTE_OFF, "rest_after_tonic_or_fifth", 0.75),
        (D4, NO_EVENT, "hold", 0.375),
        (D4, NOTE_OFF, "rest", 0.25),
    ],
)
def test_interval_rule(previous, action, name, value):
    tables = rewards.key_tables("C major")
    assert interval_class(tables, previous, action) == name
    assert last_term("interval", [previous, NO_EVENT, NOTE_OFF, action]) == pytest.approx(value)


def test_interval_rule_without_a_previous_note():
    assert [t["interval"] for t in play(["interval"], [E4])] == [0.0]
    assert [t["interval"] for t in play(["interval"], [NOTE_OFF, NO_EVENT, E4])] == [0.0] * 3


def test_in_key_thirds_are_counted_rl_tuner_or_bug():
    # rl_tuner's statistics wrote `interval == THIRD or IN_KEY_THIRD` (always the first test), so
    # in-key thirds were never counted. Here they are a class of their own, and countable.
    tables = rewards.key_tables("C major")
    table = interval_class_table(tables)
    melody = [C4, E4, C4, E4, D4, 20]
    codes = [table[a, b] for a, b in zip(melody, melody[1:])]
    names = [INTERVAL_CLASSES[c] for c in codes]
    assert names.count("in_key_third") == 3
    assert names.count("third") == 1  # D4 -> F#4


def test_interval_rule_in_a_minor_key():
    tables = rewards.key_tables("A minor")
    assert interval_class(tables, A4, C5) == "in_key_third"  # A -> C is 3 semitones in minor
    assert interval_class(tables, A4, 27) == "third"  # A -> C# (4 semitones)
    assert interval_class(tables, 30, 37) == "in_key_fifth"  # E5 -> B5 from the fifth degree


def test_leap_resolution_rule():
    def outcomes(melody):
        return [t["leap_resolution"] for t in play(["leap_resolution"], melody)]

    assert outcomes([C4, G4, 28]) == [0.0, 0.0, -5.0]  # two leaps up: doubled
    assert outcomes([C4, G4, F4, E4, D4, C4]) == [0.0] * 5 + [5.0]  # gradual return
    assert outcomes([C4, G4, F4, E4, D4, 13]) == [0.0] * 5 + [5.0]  # past the note left
    # a leap back after more than 6 steps resolves (+5); sooner, it only clears the leap
    assert outcomes([C4, G4, *[NO_EVENT] * 7, 12])[-1] == 5.0
    assert outcomes([C4, G4, *[NO_EVENT] * 6, 12])[-1] == 0.0
    assert outcomes([C4, G4, *[NO_EVENT] * 6, 12, 5])[-1] == 0.0  # cleared: a new first leap


def test_high_low_unique_rule():
    assert [t["high_low_unique"] for t in play(["high_low_unique"], [C4, D4, E4, F4], 4)] == [
        0.0,
        0.0,
        0.0,
        6.0,
    ]
    assert last_term("high_low_unique", [C4, F4, E4, F4], 4) == 3.0  # only the low is unique
    assert last_term("high_low_unique", [C4, C4, NO_EVENT, F4], 4) == 3.0  # only the high
    assert last_term("high_low_unique", [NO_EVENT, NOTE_OFF, NO_EVENT, NOTE_OFF], 4) == 0.0


# ------------------------------------------------------------------------------------------
# the rule protocol
# ------------------------------------------------------------------------------------------


def test_default_rules_are_the_design_table_in_order():
    rules = rewards.default_rules()
    assert [r.name for r in rules] == list(rewards.DEFAULT_RULE_NAMES)
    assert rewards.DEFAULT_RULE_NAMES == (
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
    assert all(r.__doc__ for r in rules)


def test_reward_is_pure_and_step_equals_reward_then_update():
    theory = rewards.TheoryReward()
    for token in [C4, D4, E4, NO_EVENT, C4, G4, NOTE_OFF, C4]:
        before = theory.terms(token)
        assert theory.terms(token) == before  # no state change
        assert theory.step(token) == before


def test_user_rules_function_and_object():
    @rewards.rule
    def ends_on_tonic(composition, action):
        last = composition.step == composition.length - 1
        return 1 if last and action == composition.key.tonic_token else 0

    class NotesSoFar:
        name = "notes_so_far"

        def reset(self, composition):
            self.count = 0

        def reward(self, composition, action):
            return self.count

        def update(self, composition, action):
            self.count += action >= 2

    theory = rewards.TheoryReward([ends_on_tonic, NotesSoFar(), "key"], melody_length=3)
    terms = [theory.step(t) for t in [C4, NO_EVENT, C4]]
    assert [t["ends_on_tonic"] for t in terms] == [0.0, 0.0, 1.0]
    assert [t["notes_so_far"] for t in terms] == [0.0, 1.0, 1.0]
    assert all(type(v) is float for t in terms for v in t.values())
    theory.reset()
    assert theory.step(C4)["notes_so_far"] == 0.0


def test_user_rule_objects_are_copied_per_reward():
    class Counter:
        name = "counter"
        count = 0

        def reward(self, composition, action):
            return float(self.count)

        def update(self, composition, action):
            self.count += 1

    shared = Counter()
    first = rewards.TheoryReward([shared])
    second = rewards.TheoryReward([shared])
    first.step(C4)
    first.step(C4)
    assert second.step(C4)["counter"] == 0.0
    assert shared.count == 0


@pytest.mark.parametrize(
    ("rules", "error", "match"),
    [
        ([object()], TypeError, "not a rule"),
        (["key", "key"], ValueError, "unique"),
        (["kye"], ValueError, "unknown rule 'kye'"),
        ([rewards.FunctionRule(lambda c, a: 0.0, name="note_rnn")], ValueError, "note_rnn"),
        ("key", TypeError, "list"),
    ],
)
def test_bad_rule_lists(rules, error, match):
    with pytest.raises(error, match=match):
        rewards.TheoryReward(rules)


def test_lambda_rule_needs_a_name():
    with pytest.raises(ValueError, match="name"):
        rewards.rule(lambda c, a: 0.0)
    assert rewards.rule(lambda c, a: 0.0, name="zero").name == "zero"


def test_batched_rules_equal_scalar_rules():
    rng = np.random.default_rng(0)
    n = 6

    @rewards.rule
    def high_notes(composition, action):
        return float(action > 30)

    rules = [*rewards.default_rules("A minor"), high_notes]
    batch = rewards.BatchTheoryReward(n, rules, 32, "A minor")
    singles = [rewards.TheoryReward(rules, 32, "A minor") for _ in range(n)]
    for episode in range(4):
        batch.reset()
        for single in singles:
            single.reset()
        pool = rng.choice(38, 5)
        actions = rng.choice(pool, (32, n)) if episode % 2 else rng.integers(0, 38, (32, n))
        for row in actions:
            terms = batch.step(row)
            expected = [single.step(int(a)) for single, a in zip(singles, row)]
            for name, values in terms.items():
                np.testing.assert_array_equal(values, [e[name] for e in expected])
