"""The built-in rule set by name, and the validation of a user's rule list."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from pretrain.errors import SequenceTutorError
from pretrain.vocabulary import DEFAULT_VOCABULARY, Vocabulary
from rewards.keys import KeyTables, key_tables
from rewards.rules.autocorrelation import AutocorrelationRule
from rewards.rules.base import FunctionRule, Rule, RuleLike
from rewards.rules.high_low_unique import HighLowUniqueRule
from rewards.rules.interval import IntervalRule
from rewards.rules.key import KeyRule
from rewards.rules.leap_resolution import LeapResolutionRule
from rewards.rules.motif import MotifRule, RepeatedMotifRule
from rewards.rules.repetition import RepetitionRule
from rewards.rules.tonic import TonicRule

DEFAULT_RULE_NAMES = (
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
"""The rules of DESIGN.md's table, in rl_tuner's order (``reward_music_theory``)."""


def _build(name: str, tables: KeyTables) -> Rule:
    vocabulary = tables.vocabulary
    builders: dict[str, Callable[[], Rule]] = {
        "key": lambda: KeyRule(tables, vocabulary=vocabulary),
        "tonic": lambda: TonicRule(tables, vocabulary=vocabulary),
        "repetition": RepetitionRule,
        "autocorrelation": AutocorrelationRule,
        "motif": MotifRule,
        "repeated_motif": lambda: RepeatedMotifRule(vocabulary=vocabulary),
        "interval": lambda: IntervalRule(tables, vocabulary=vocabulary),
        "leap_resolution": LeapResolutionRule,
        "high_low_unique": HighLowUniqueRule,
    }
    if name not in builders:
        raise SequenceTutorError(
            f"unknown rule {name!r} (expected one of {', '.join(DEFAULT_RULE_NAMES)})"
        )
    return builders[name]()


def default_rules(
    key: str | KeyTables = "C major",
    melody_length: int = 32,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    *,
    names: Iterable[str] = DEFAULT_RULE_NAMES,
) -> list[Rule]:
    """Fresh instances of the built-in rules (all of DESIGN.md's table by default).

    :param key: any music21 key name (``"C major"``, ``"A minor"``, ``"F# dorian"``) or tables.
    :param melody_length: accepted for symmetry with the environment; the rules read T from the
        :class:`Composition` they are given, so one rule list works for any length.
    :param vocabulary: the token vocabulary.
    :param names: a subset of :data:`DEFAULT_RULE_NAMES`.
    """
    tables = key_tables(key, vocabulary)
    return [_build(name, tables) for name in names]


def check_rules(
    rules: Iterable[Any] | None, key: str | KeyTables, vocabulary: Vocabulary
) -> list[RuleLike]:
    """Validate a rule list (``None``: the defaults; strings name built-in rules); copies
    user objects so two environments never share rule state."""
    tables = key_tables(key, vocabulary)
    if rules is None:
        return default_rules(tables, vocabulary=vocabulary)
    if isinstance(rules, (str, bytes)) or not isinstance(rules, Iterable):
        raise TypeError(f"rules must be a list of rules or rule names, got {type(rules).__name__}")
    checked: list[RuleLike] = []
    for item in rules:
        if isinstance(item, str):
            checked.append(_build(item, tables))
        elif callable(item) and not hasattr(item, "reward"):
            checked.append(FunctionRule(item))
        elif isinstance(getattr(item, "name", None), str) and callable(
            getattr(item, "reward", None)
        ):
            checked.append(copy.deepcopy(item))
        else:
            raise TypeError(
                f"rule {item!r} is not a rule: expected an object with a 'name' string and a "
                "'reward(composition, action)' method, a function, or a built-in rule name"
            )
    names = [r.name for r in checked]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"rule names must be unique, got {duplicates} more than once")
    if "note_rnn" in names:
        raise ValueError("'note_rnn' is the Reward RNN term's name; give the rule another name")
    return checked
