"""The music-theory reward: a list of rules stepped over one composition (or N in lock-step).

``r_theory(s, a) = sum_rules term_rule(s, a)``; the environment adds the Reward RNN and scales:
``r = r_theory / c + w * log p(a | s)`` (Jaques et al. 2017, eq. 2 with ``1/c`` on the rules).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable
from typing import Any

import numpy as np

from pretrain.vocabulary import DEFAULT_VOCABULARY, Vocabulary
from rewards.composition import BatchComposition, Composition
from rewards.keys import KeyTables, key_tables
from rewards.rules import FunctionRule, RuleLike, check_rules

__all__ = ["BatchTheoryReward", "TheoryReward"]


def _method(rule: Any, name: str):
    """The rule's bound method, or None when missing or the no-op of the base class."""
    method = getattr(rule, name, None)
    if method is None:
        return None
    from rewards.rules import Rule  # noqa: PLC0415

    if isinstance(rule, Rule) and getattr(type(rule), name) is getattr(Rule, name):
        return None
    return method


def _stepper(rule: Any):
    """A ``step(composition, action) -> float`` for any rule: the built-ins' own, else
    ``reward`` then ``update`` (user rules' values converted to Python floats).

    Module-level functions bound with :func:`functools.partial` (never closures), so a
    :class:`TheoryReward` pickles and ``copy.deepcopy`` rebinds the copy's own rules."""
    from rewards.rules import Rule  # noqa: PLC0415

    if isinstance(rule, Rule) and not isinstance(rule, FunctionRule):
        return rule.step
    reward, update = rule.reward, getattr(rule, "update", None)
    if callable(getattr(rule, "step", None)):
        return functools.partial(_as_float, rule.step)
    if update is None:
        return functools.partial(_as_float, reward)
    return functools.partial(_reward_then_update, reward, update)


def _as_float(function: Any, composition: Any, action: int) -> float:
    return float(function(composition, action))


def _reward_then_update(reward: Any, update: Any, composition: Any, action: int) -> float:
    term = float(reward(composition, action))
    update(composition, action)
    return term


class TheoryReward:
    """Steps a list of rules over one composition.

    :param rules: rule objects or built-in rule names (``None``: all of DESIGN.md's table).
    :param melody_length: T.
    :param key: any music21 key name, or :class:`~rewards.keys.KeyTables`.
    :param vocabulary: the token vocabulary.

    :ivar composition: the :class:`Composition` so far.
    """

    def __init__(
        self,
        rules: Iterable[Any] | None = None,
        melody_length: int = 32,
        key: str | KeyTables = "C major",
        vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    ) -> None:
        self.tables = key_tables(key, vocabulary)
        self.rules: list[RuleLike] = check_rules(rules, self.tables, vocabulary)
        self.names = tuple(rule.name for rule in self.rules)
        self.composition = Composition(melody_length, self.tables)
        self._rewards = [
            (rule.name, functools.partial(_as_float, rule.reward)) for rule in self.rules
        ]
        self._steps = [(rule.name, _stepper(rule)) for rule in self.rules]
        self._resets = [m for m in (_method(r, "reset") for r in self.rules) if m is not None]
        self.reset()

    def reset(self) -> None:
        self.composition.reset()
        for reset in self._resets:
            reset(self.composition)

    def terms(self, action: int) -> dict[str, float]:
        """Each rule's term for playing ``action`` now (no state change)."""
        composition = self.composition
        return {name: reward(composition, action) for name, reward in self._rewards}

    def step(self, action: int) -> dict[str, float]:
        """The terms of ``action``, then play it (update the rules, append it)."""
        return self.step_total(action)[0]

    def step_total(self, action: int) -> tuple[dict[str, float], float]:
        """``(terms, sum of the terms in rule order)`` of ``action``, then play it."""
        composition = self.composition
        terms = {}
        total = 0.0
        for name, step in self._steps:
            terms[name] = term = step(composition, action)
            total += term
        composition.tokens.append(action)
        if action >= 2:
            composition.last_note = action
        return terms, total


class BatchTheoryReward:
    """The same rules over N compositions stepped together (the vector environment).

    Rules with a ``batch(num_envs)`` twin run vectorised over N; any other rule is copied N times
    and stepped per composition. Terms equal those of N :class:`TheoryReward` objects.
    """

    def __init__(
        self,
        num_envs: int,
        rules: Iterable[Any] | None = None,
        melody_length: int = 32,
        key: str | KeyTables = "C major",
        vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    ) -> None:
        self.num_envs = int(num_envs)
        self.tables = key_tables(key, vocabulary)
        self.rules = check_rules(rules, self.tables, vocabulary)
        self.names = tuple(rule.name for rule in self.rules)
        self.composition = BatchComposition(self.num_envs, melody_length, self.tables)
        self._parts: list[tuple[str, Any, list[Any] | None]] = []
        self._copies: dict[str, list[Any]] = {}
        for rule in self.rules:
            batch = rule.batch(self.num_envs) if callable(getattr(rule, "batch", None)) else None
            if batch is not None:
                self._parts.append((rule.name, batch, None))
            else:
                copies = [copy.deepcopy(rule) for _ in range(self.num_envs)]
                self._copies[rule.name] = copies
                self._parts.append((rule.name, None, [_stepper(c) for c in copies]))
        self._singles: list[Composition] | None = None
        if any(copies is not None for _, _, copies in self._parts):
            self._singles = [Composition(melody_length, self.tables) for _ in range(self.num_envs)]
        self.reset()

    def reset(self) -> None:
        self.composition.reset()
        if self._singles is not None:
            for single in self._singles:
                single.reset()
        for name, batch, _ in self._parts:
            if batch is not None:
                batch.reset(self.composition)
            else:
                for rule, single in zip(self._copies[name], self._singles):
                    reset = _method(rule, "reset")
                    if reset is not None:
                        reset(single)

    def step(self, actions: np.ndarray) -> dict[str, np.ndarray]:
        """``{name: float64[N]}`` terms of ``actions`` (``int64[N]``), then play them."""
        composition = self.composition
        terms: dict[str, np.ndarray] = {}
        for name, batch, steppers in self._parts:
            if batch is not None:
                terms[name] = np.asarray(batch.step(composition, actions), dtype=np.float64)
            else:
                terms[name] = np.array(
                    [
                        step(single, a)
                        for step, single, a in zip(steppers, self._singles, actions.tolist())
                    ],
                    dtype=np.float64,
                )
        if self._singles is not None:
            for single, a in zip(self._singles, actions.tolist()):
                single.append(a)
        composition.append(actions)
        return terms
