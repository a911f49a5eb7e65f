"""The music-theory rules of Sequence Tutor (rl_tuner's, as its code computes them).

Each rule is a small object with a ``name`` (its key in ``info["reward_terms"]``) and an
incremental API, O(1) per step, that never touches music21 (the key is read once into
:class:`~rewards.keys.KeyTables`)::

    rule.reset(composition)            # a new composition starts
    rule.reward(composition, action)   # the term for playing ``action`` now (pure: no state change)
    rule.update(composition, action)   # ``action`` was played; called before it is appended
    rule.step(composition, action)     # reward then update, in one call (optional, faster)

``composition`` is the :class:`~rewards.composition.Composition` *before* the action. Values are
those of the table in DESIGN.md, before the ``1 / c`` scale the environment applies.

**Your own rule.** Anything with a ``name`` and a ``reward(composition, action) -> float`` method
is a rule; ``reset`` and ``update`` are optional (keep per-composition state there), and so is
``batch(num_envs)`` returning a vectorised twin (:class:`BatchRule`) for the vector environment,
which otherwise keeps one copy of the rule per composition. A plain function becomes a rule with
:func:`rule`::

    @rewards.rule
    def ends_on_tonic(composition, action):
        last = composition.step == composition.length - 1
        return 1.0 if last and action == composition.key.tonic_token else 0.0

    env = gym.make("SequenceTutor-v0", rules=[*rewards.default_rules(), ends_on_tonic])

Differences from rl_tuner, on purpose: the tables follow any music21 key (rl_tuner's interval
rule only knew C major); tokens are those of :mod:`pretrain.vocabulary` (rl_tuner's encoder and
rules disagreed on NOTE_OFF / NO_EVENT and on a 2-semitone offset); the in-key third is a class of
its own in :func:`interval_class` (rl_tuner's statistics never counted it because of an ``or``
inside a comparison). The autocorrelation threshold is tested in exact integer arithmetic.
"""

from rewards.rules.autocorrelation import AutocorrelationRule
from rewards.rules.base import BatchRule, FunctionRule, Rule, RuleLike, rule
from rewards.rules.defaults import DEFAULT_RULE_NAMES, check_rules, default_rules
from rewards.rules.high_low_unique import HighLowUniqueRule
from rewards.rules.interval import (
    INTERVAL_CLASSES,
    INTERVAL_REWARDS,
    IntervalRule,
    interval_class,
    interval_class_table,
)
from rewards.rules.key import KeyRule
from rewards.rules.leap_resolution import LeapResolutionRule
from rewards.rules.motif import MotifRule, RepeatedMotifRule
from rewards.rules.repetition import RepetitionRule
from rewards.rules.tonic import TonicRule

__all__ = [
    "DEFAULT_RULE_NAMES",
    "INTERVAL_CLASSES",
    "INTERVAL_REWARDS",
    "AutocorrelationRule",
    "BatchRule",
    "FunctionRule",
    "HighLowUniqueRule",
    "IntervalRule",
    "KeyRule",
    "LeapResolutionRule",
    "MotifRule",
    "RepeatedMotifRule",
    "RepetitionRule",
    "Rule",
    "RuleLike",
    "TonicRule",
    "check_rules",
    "default_rules",
    "interval_class",
    "interval_class_table",
    "rule",
]
