"""Music-theory rules and the Reward RNN reward (no Gymnasium or SB3 imports here).

``r = sum(rule terms) / c + w * log p_RewardRNN(a | s)`` (Jaques et al. 2017): the rules
(:mod:`rewards.rules`) are computed incrementally from key tables built once with music21
(:mod:`rewards.keys`); the Reward RNN (:mod:`rewards.reward_rnn`) is a frozen Note RNN.
"""

from rewards.composition import NO_NOTE, BatchComposition, Composition
from rewards.keys import KeyTables, UnknownKeyError, key_tables
from rewards.reward_rnn import RewardRNN
from rewards.rules import (
    DEFAULT_RULE_NAMES,
    INTERVAL_CLASSES,
    AutocorrelationRule,
    BatchRule,
    FunctionRule,
    HighLowUniqueRule,
    IntervalRule,
    KeyRule,
    LeapResolutionRule,
    MotifRule,
    RepeatedMotifRule,
    RepetitionRule,
    Rule,
    TonicRule,
    default_rules,
    interval_class,
    rule,
)
from rewards.theory import BatchTheoryReward, TheoryReward

__all__ = [
    "DEFAULT_RULE_NAMES",
    "INTERVAL_CLASSES",
    "NO_NOTE",
    "AutocorrelationRule",
    "BatchComposition",
    "BatchRule",
    "BatchTheoryReward",
    "Composition",
    "FunctionRule",
    "HighLowUniqueRule",
    "IntervalRule",
    "KeyRule",
    "KeyTables",
    "LeapResolutionRule",
    "MotifRule",
    "RepeatedMotifRule",
    "RepetitionRule",
    "RewardRNN",
    "Rule",
    "TheoryReward",
    "TonicRule",
    "UnknownKeyError",
    "default_rules",
    "interval_class",
    "key_tables",
    "rule",
]
