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

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from fractions import Fraction
from typing import Any, Protocol, runtime_checkable

import numpy as np

from pretrain.vocabulary import DEFAULT_VOCABULARY, NO_EVENT, NOTE_OFF, Vocabulary
from rewards.composition import NO_NOTE, BatchComposition, Composition
from rewards.keys import KeyTables, key_tables

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


@runtime_checkable
class RuleLike(Protocol):
    """What the environment needs from a rule (``reset``, ``update``, ``batch`` are optional)."""

    name: str

    def reward(self, composition: Composition, action: int) -> float: ...


class Rule:
    """Base class of the built-in rules: no-op ``reset`` / ``update``, no batched twin."""

    name: str = ""

    def reset(self, composition: Composition) -> None:
        """A new composition starts."""

    def reward(self, composition: Composition, action: int) -> float:
        """The term for playing ``action`` at ``composition.step`` (does not change state)."""
        raise NotImplementedError

    def update(self, composition: Composition, action: int) -> None:
        """``action`` was played (``composition`` does not hold it yet)."""

    def step(self, composition: Composition, action: int) -> float:
        """``reward`` then ``update`` in one call (what the environment calls; built-in rules
        override it to share work between the two)."""
        term = self.reward(composition, action)
        self.update(composition, action)
        return term

    def batch(self, num_envs: int) -> BatchRule | None:
        """A vectorised twin for ``num_envs`` compositions, or None (the vector env then keeps
        one copy of this rule per composition)."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class BatchRule:
    """Vectorised twin of a rule: the same API over a :class:`BatchComposition` and
    ``int64[N]`` actions, returning ``float64[N]`` terms equal to the scalar rule's."""

    name: str = ""

    def reset(self, composition: BatchComposition) -> None:
        """New compositions start (all of them: a fixed-length batch resets together)."""

    def reward(self, composition: BatchComposition, actions: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def update(self, composition: BatchComposition, actions: np.ndarray) -> None:
        """``actions`` were played (not yet appended to ``composition``)."""

    def step(self, composition: BatchComposition, actions: np.ndarray) -> np.ndarray:
        """``reward`` then ``update`` (override to share work)."""
        terms = self.reward(composition, actions)
        self.update(composition, actions)
        return terms


class FunctionRule(Rule):
    """A stateless rule made from a function ``f(composition, action) -> float``."""

    def __init__(self, function: Callable[[Composition, int], float], name: str | None = None):
        self.function = function
        self.name = name or getattr(function, "__name__", "")
        if not self.name or self.name == "<lambda>":
            raise ValueError("a rule made from a lambda needs a name: rule(f, name='...')")

    def reward(self, composition: Composition, action: int) -> float:
        return float(self.function(composition, action))


def rule(function: Callable[[Composition, int], float] | None = None, *, name: str | None = None):
    """Make a rule from a function (usable as ``@rule`` or ``@rule(name=...)``)."""
    if function is None:
        return lambda f: FunctionRule(f, name)
    return FunctionRule(function, name)


# --------------------------------------------------------------------------------------------
# key, tonic
# --------------------------------------------------------------------------------------------


class KeyRule(Rule):
    """``key``: ``penalty`` (-1) for a note outside the key (NOTE_OFF / NO_EVENT are in key)."""

    name = "key"

    def __init__(
        self,
        key: str | KeyTables = "C major",
        penalty: float = -1.0,
        *,
        vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    ) -> None:
        self.tables = key_tables(key, vocabulary)
        self.penalty = float(penalty)
        self.values = np.where(self.tables.in_key, 0.0, self.penalty)
        self._values = self.values.tolist()

    def reward(self, composition: Composition, action: int) -> float:
        return self._values[action]

    step = reward  # stateless: nothing to update

    def batch(self, num_envs: int) -> BatchRule:
        return _TableBatch(self.name, self.values)


class _TableBatch(BatchRule):
    def __init__(self, name: str, values: np.ndarray) -> None:
        self.name = name
        self.values = values

    def reward(self, composition: BatchComposition, actions: np.ndarray) -> np.ndarray:
        return self.values[actions]


class TonicRule(Rule):
    """``tonic``: ``amount`` (+3) for the tonic at step 0 and at step T - 4 (the first note of the
    last bar), for NO_EVENT at step T - 3, and for NO_EVENT or NOTE_OFF after step T - 3.

    The checks are an if/elif chain on the step, as in rl_tuner (at step 0 of a 4-step melody
    only the tonic counts). The tonic token is the tonic in octave 4 (C4 = 14 in C major).
    """

    name = "tonic"

    def __init__(
        self,
        key: str | KeyTables = "C major",
        amount: float = 3.0,
        *,
        vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    ) -> None:
        self.tables = key_tables(key, vocabulary)
        self.amount = float(amount)
        self.tonic = self.tables.tonic_token

    def reward(self, composition: Composition, action: int) -> float:
        step = len(composition.tokens)
        last_bar = composition.length - 4
        if step == 0 or step == last_bar:
            return self.amount if action == self.tonic else 0.0
        if step == last_bar + 1:
            return self.amount if action == NO_EVENT else 0.0
        if step > last_bar + 1:
            return self.amount if action == NO_EVENT or action == NOTE_OFF else 0.0
        return 0.0

    def values_at(self, step: int, length: int) -> np.ndarray:
        """The term of every action at ``step`` of a ``length``-step composition."""
        values = np.zeros(self.tables.vocabulary.size)
        last_bar = length - 4
        if step == 0 or step == last_bar:
            values[self.tonic] = self.amount
        elif step == last_bar + 1:
            values[NO_EVENT] = self.amount
        elif step > last_bar + 1:
            values[[NO_EVENT, NOTE_OFF]] = self.amount
        return values

    step = reward  # stateless: nothing to update

    def batch(self, num_envs: int) -> BatchRule:
        return _TonicBatch(self)


class _TonicBatch(BatchRule):
    def __init__(self, parent: TonicRule) -> None:
        self.name = parent.name
        self.parent = parent
        self._rows: dict[tuple[int, int], np.ndarray] = {}

    def reward(self, composition: BatchComposition, actions: np.ndarray) -> np.ndarray:
        index = (composition.step, composition.length)
        row = self._rows.get(index)
        if row is None:
            row = self._rows[index] = self.parent.values_at(*index)
        return row[actions]


# --------------------------------------------------------------------------------------------
# repetition
# --------------------------------------------------------------------------------------------


class RepetitionRule(Rule):
    """``repetition``: ``penalty`` (-100) when ``action`` repeats excessively (rl_tuner's
    ``detect_repeating_notes``).

    Walking back over the composition from its end, count tokens equal to ``action``, note
    NOTE_OFF (a break) and NO_EVENT (a hold) tokens, and stop at any other token. Excessive:
    ``action`` is NOTE_OFF and the count is > 1; or no holds and no breaks and the count is > 4;
    or holds or breaks and the count is > 6. (With ``action`` = NO_EVENT five held steps in a row
    already count.) Kept incrementally: the current run of one note with the holds and breaks
    inside it, and the NOTE_OFF / NO_EVENT counts since the last note.
    """

    name = "repetition"

    def __init__(
        self,
        penalty: float = -100.0,
        max_plain: int = 4,
        max_broken: int = 6,
        max_note_off: int = 1,
    ) -> None:
        self.penalty = float(penalty)
        self.max_plain = max_plain
        self.max_broken = max_broken
        self.max_note_off = max_note_off
        self.reset(None)

    def reset(self, composition: Composition | None) -> None:
        self.run_note = NO_NOTE  # the last note; the walk for it stops at any other note
        self.run_count = 0  # times it was played since that other note
        self.run_hold = False  # NO_EVENT anywhere since that other note
        self.run_break = False  # NOTE_OFF anywhere since that other note
        self.trail_holds = 0  # NO_EVENT since the last note
        self.trail_breaks = 0  # NOTE_OFF since the last note

    def excessive(self, action: int) -> bool:
        if action == NOTE_OFF:
            return self.trail_breaks > self.max_note_off
        if action == NO_EVENT:
            count, held, broken = self.trail_holds, False, self.trail_breaks > 0
        elif action == self.run_note:
            count, held, broken = self.run_count, self.run_hold, self.run_break
        else:
            return False
        if held or broken:
            return count > self.max_broken
        return count > self.max_plain

    def reward(self, composition: Composition, action: int) -> float:
        return self.penalty if self.excessive(action) else 0.0

    def step(self, composition: Composition, action: int) -> float:
        term = self.penalty if self.excessive(action) else 0.0
        self.update(composition, action)
        return term

    def update(self, composition: Composition, action: int) -> None:
        if action == NO_EVENT:
            self.trail_holds += 1
            self.run_hold = True
        elif action == NOTE_OFF:
            self.trail_breaks += 1
            self.run_break = True
        else:
            if action == self.run_note:
                self.run_count += 1
            else:
                self.run_note = action
                self.run_count = 1
                self.run_hold = self.trail_holds > 0
                self.run_break = self.trail_breaks > 0
            self.trail_holds = self.trail_breaks = 0

    def batch(self, num_envs: int) -> BatchRule:
        return _RepetitionBatch(self, num_envs)


class _RepetitionBatch(BatchRule):
    def __init__(self, parent: RepetitionRule, num_envs: int) -> None:
        self.name = parent.name
        self.parent = parent
        self.run_note = np.full(num_envs, NO_NOTE, dtype=np.int64)
        self.run_count = np.zeros(num_envs, dtype=np.int64)
        self.run_hold = np.zeros(num_envs, dtype=bool)
        self.run_break = np.zeros(num_envs, dtype=bool)
        self.trail_holds = np.zeros(num_envs, dtype=np.int64)
        self.trail_breaks = np.zeros(num_envs, dtype=np.int64)

    def reset(self, composition: BatchComposition) -> None:
        self.run_note.fill(NO_NOTE)
        for array in (
            self.run_count,
            self.run_hold,
            self.run_break,
            self.trail_holds,
            self.trail_breaks,
        ):
            array.fill(0)

    def reward(self, composition: BatchComposition, actions: np.ndarray) -> np.ndarray:
        p = self.parent
        is_hold = actions == NO_EVENT
        is_break = actions == NOTE_OFF
        same = actions == self.run_note
        count = np.where(is_hold, self.trail_holds, np.where(same, self.run_count, 0))
        relaxed = np.where(is_hold, self.trail_breaks > 0, self.run_hold | self.run_break)
        excessive = np.where(relaxed, count > p.max_broken, count > p.max_plain)
        excessive = np.where(is_break, self.trail_breaks > p.max_note_off, excessive)
        return np.where(excessive, p.penalty, 0.0)

    def update(self, composition: BatchComposition, actions: np.ndarray) -> None:
        is_hold = actions == NO_EVENT
        is_break = actions == NOTE_OFF
        is_note = ~(is_hold | is_break)
        same = is_note & (actions == self.run_note)
        new = is_note & ~same
        self.run_count += same
        self.run_count[new] = 1
        self.run_hold = np.where(new, self.trail_holds > 0, self.run_hold | is_hold)
        self.run_break = np.where(new, self.trail_breaks > 0, self.run_break | is_break)
        np.copyto(self.run_note, actions, where=new)
        self.trail_holds = np.where(is_note, 0, self.trail_holds + is_hold)
        self.trail_breaks = np.where(is_note, 0, self.trail_breaks + is_break)


# --------------------------------------------------------------------------------------------
# autocorrelation
# --------------------------------------------------------------------------------------------


class AutocorrelationRule(Rule):
    """``autocorrelation``: ``-weight * sum(|rho_lag|)`` over ``lags`` (1, 2, 3) where
    ``|rho_lag| > threshold`` (0.15), with rl_tuner's coefficient of the token numbers
    ``s`` = composition + [action] (length n, mean m)::

        rho_lag = sum_{i >= lag} (s_i - m)(s_{i-lag} - m) / n / var(s)      (undefined if var = 0)

    Kept as integer running sums (sum, sum of squares, lagged products; the first and last
    ``lags`` tokens are read from the composition), so each step is O(1) and the threshold test is exact: with
    ``D = n * sum(s^2) - sum(s)^2`` and ``Q = n^2 P - n S (A + B) + (n - lag) S^2``
    (``P`` the lagged product sum, ``A``/``B`` the sums of the overlapping windows),
    ``rho_lag = Q / (n D)``.
    """

    name = "autocorrelation"

    def __init__(
        self, weight: float = 3.0, lags: Sequence[int] = (1, 2, 3), threshold: float = 0.15
    ) -> None:
        self.weight = float(weight)
        self.lags = tuple(sorted({int(lag) for lag in lags}))
        if not self.lags or min(self.lags) < 1:
            raise ValueError(f"autocorrelation lags must be >= 1, got {lags}")
        self.threshold = float(threshold)
        # |rho| > threshold  <=>  |Q| * den > num * n * D, in integers
        fraction = Fraction(str(threshold))
        self._num, self._den = fraction.numerator, fraction.denominator
        self._max_lag = max(self.lags)
        self.reset(None)

    def reset(self, composition: Composition | None) -> None:
        self.total = 0
        self.squares = 0
        self.products = [0] * len(self.lags)  # sum_i s_i s_{i - lag}, per lag
        self.head_sums = [0] * len(self.lags)  # sum of the first `lag` tokens, per lag

    def _penalty(
        self, tokens: list[int], action: int, total: int, squares: int, commit: bool
    ) -> float:
        """The term for ``tokens + [action]``; with ``commit``, keeps the new running sums."""
        n = len(tokens) + 1
        spread = n * squares - total * total  # n^2 var
        n_spread = n * spread
        limit = self._num * n_spread
        n2, n_total, total2 = n * n, n * total, total * total
        penalty = 0.0
        products, head_sums = self.products, self.head_sums
        tail, covered = action, 0  # tail: sum of the last `lag` tokens of tokens + [action]
        for k, lag in enumerate(self.lags):
            if n <= lag:
                break  # lags ascend: no overlapping pairs from here on (rho = 0)
            product = products[k] + action * tokens[-lag]
            head = head_sums[k] if n > lag + 1 else sum(tokens[:lag])
            if commit:
                products[k] = product
                head_sums[k] = head
            if spread == 0:
                continue  # rl_tuner: nan coefficient, skipped
            while covered < lag - 1:
                covered += 1
                tail += tokens[-covered]
            # A = total - head, B = total - tail
            q = n2 * product - n_total * (2 * total - head - tail) + (n - lag) * total2
            if q < 0:
                q = -q
            if q * self._den > limit:
                penalty += q / n_spread
        return -self.weight * penalty if penalty else 0.0

    def reward(self, composition: Composition, action: int) -> float:
        return self._penalty(
            composition.tokens, action, self.total + action, self.squares + action * action, False
        )

    def update(self, composition: Composition, action: int) -> None:
        self.step(composition, action)

    def step(self, composition: Composition, action: int) -> float:
        self.total += action
        self.squares += action * action
        return self._penalty(composition.tokens, action, self.total, self.squares, True)

    def batch(self, num_envs: int) -> BatchRule:
        return _AutocorrelationBatch(self, num_envs)


class _AutocorrelationBatch(BatchRule):
    """All compositions share n, so the lagged, first and last tokens are columns of the token
    array, and all lags are computed together as ``[lags, N]`` arrays (few numpy calls)."""

    def __init__(self, parent: AutocorrelationRule, num_envs: int) -> None:
        self.name = parent.name
        self.parent = parent
        self.lags = np.array(parent.lags, dtype=np.int64)
        self.num_envs = num_envs
        self.reset(None)

    def reset(self, composition: BatchComposition | None) -> None:
        size = (len(self.lags), self.num_envs)
        self.total = np.zeros(self.num_envs, dtype=np.int64)
        self.squares = np.zeros(self.num_envs, dtype=np.int64)
        self.products = np.zeros(size, dtype=np.int64)  # sum_i s_i s_{i - lag}, per lag
        self.heads = np.zeros(size, dtype=np.int64)  # sum of the first `lag` tokens, per lag

    def _penalty(self, composition: BatchComposition, actions: np.ndarray, commit: bool):
        p = self.parent
        before = composition.tokens
        step = composition.step
        n = step + 1
        total = self.total + actions
        squares = self.squares + actions * actions
        if commit:
            self.total, self.squares = total, squares
        active = sum(1 for lag in p.lags if lag < n)  # lags with overlapping pairs
        if active == 0:
            return np.zeros(actions.shape)
        lags = self.lags[:active]
        product = self.products[:active] + actions * before[:, step - lags].T
        if step > p._max_lag:
            head = self.heads[:active]
        else:
            head = np.cumsum(before[:, :step], axis=1)[:, lags - 1].T
        # tail: sum of the last `lag` tokens of composition + [action]
        longest = int(lags[-1]) - 1
        if longest > 0:
            recent = np.zeros((self.num_envs, longest + 1), dtype=np.int64)
            np.cumsum(before[:, step - longest : step][:, ::-1], axis=1, out=recent[:, 1:])
            tail = actions + recent[:, lags - 1].T
        else:
            tail = actions[None, :]
        if commit:
            self.products[:active] = product
            self.heads[:active] = head
        n_spread = n * (n * squares - total * total)  # n^3 var; 0 means rho undefined
        q = n * n * product - (n * total) * (2 * total - head - tail)
        q += (n - lags)[:, None] * (total * total)
        np.abs(q, out=q)
        over = q * p._den > p._num * n_spread  # never true when the spread is 0 (then q = 0)
        penalty = np.divide(q, n_spread, where=over, out=np.zeros(q.shape)).sum(axis=0)
        return np.where(penalty > 0, -p.weight * penalty, 0.0)

    def reward(self, composition: BatchComposition, actions: np.ndarray) -> np.ndarray:
        return self._penalty(composition, actions, False)

    def update(self, composition: BatchComposition, actions: np.ndarray) -> None:
        self._penalty(composition, actions, True)

    def step(self, composition: BatchComposition, actions: np.ndarray) -> np.ndarray:
        return self._penalty(composition, actions, True)


# --------------------------------------------------------------------------------------------
# motifs
# --------------------------------------------------------------------------------------------


class MotifRule(Rule):
    """``motif``: ``amount + bonus * (distinct - 3)`` (3 + 0.3 per extra note) when the last
    ``bar_length`` (8) tokens of composition + [action] hold at least 3 distinct notes
    (NOTE_OFF / NO_EVENT do not count). Kept as note counts over the last ``bar_length - 1``
    tokens."""

    name = "motif"

    def __init__(
        self, bar_length: int = 8, amount: float = 3.0, bonus: float = 0.3, min_notes: int = 3
    ) -> None:
        if bar_length < 2:
            raise ValueError(f"bar_length must be >= 2, got {bar_length}")
        self.bar_length = int(bar_length)
        self.amount = float(amount)
        self.bonus = float(bonus)
        self.min_notes = int(min_notes)
        self.reset(None)

    def reset(self, composition: Composition | None) -> None:
        self.counts: dict[int, int] = {}  # note -> count in the last bar_length - 1 tokens

    def distinct(self, composition: Composition, action: int) -> int:
        """Distinct notes in the last ``bar_length`` tokens of composition + [action]."""
        return len(self.counts) + (action >= 2 and action not in self.counts)

    def value(self, distinct: int) -> float:
        return self.amount + max((distinct - self.min_notes) * self.bonus, 0)

    def reward(self, composition: Composition, action: int) -> float:
        if len(composition.tokens) + 1 < self.bar_length:
            return 0.0
        distinct = self.distinct(composition, action)
        return self.value(distinct) if distinct >= self.min_notes else 0.0

    def update(self, composition: Composition, action: int) -> None:
        self.step(composition, action)

    def step(self, composition: Composition, action: int) -> float:
        """Add ``action`` to the window (then it spans ``bar_length`` tokens: read the term),
        then drop the oldest token."""
        counts = self.counts
        if action >= 2:
            counts[action] = counts.get(action, 0) + 1
        tokens = composition.tokens
        leaving = len(tokens) + 1 - self.bar_length  # index that leaves the window
        term = 0.0
        if leaving >= 0:
            distinct = len(counts)
            if distinct >= self.min_notes:
                term = self.amount + max((distinct - self.min_notes) * self.bonus, 0)
            old = tokens[leaving]
            if old >= 2:
                if counts[old] == 1:
                    del counts[old]
                else:
                    counts[old] -= 1
        return term

    def batch(self, num_envs: int) -> BatchRule:
        return _MotifBatch(self, num_envs)


def _batch_distinct(composition: BatchComposition, actions: np.ndarray, bar_length: int):
    """Distinct notes over the last ``bar_length`` tokens of every composition + action
    (computed once per step: the motif rules share it)."""
    cached = composition.memo.get(("distinct", bar_length))
    if cached is not None:
        return cached
    step = composition.step
    window = np.empty((composition.num_envs, bar_length), dtype=np.int64)
    window[:, :-1] = composition.tokens[:, step - bar_length + 1 : step]
    window[:, -1] = actions
    window.sort(axis=1)
    new = np.empty(window.shape, dtype=bool)
    new[:, 0] = True
    np.not_equal(window[:, 1:], window[:, :-1], out=new[:, 1:])
    distinct = (new & (window >= 2)).sum(axis=1)
    composition.memo["distinct", bar_length] = distinct
    return distinct


class _MotifBatch(BatchRule):
    def __init__(self, parent: MotifRule, num_envs: int) -> None:
        self.name = parent.name
        self.parent = parent

    def reward(self, composition: BatchComposition, actions: np.ndarray) -> np.ndarray:
        p = self.parent
        if composition.step + 1 < p.bar_length:
            return np.zeros(actions.shape)
        distinct = _batch_distinct(composition, actions, p.bar_length)
        value = p.amount + np.maximum((distinct - p.min_notes) * p.bonus, 0)
        return np.where(distinct >= p.min_notes, value, 0.0)


class RepeatedMotifRule(Rule):
    """``repeated_motif``: ``amount + max(distinct - 3, 0)`` (4 + 1 per extra note) when the
    motif just played (see :class:`MotifRule`) occurs exactly, token for token, in the
    composition before its last ``bar_length - 1`` tokens (rl_tuner: ``composition[:-7]``).

    Each ``bar_length``-gram is kept as an integer (base V) in a set once it lies far enough
    back, so the test is one set look-up.
    """

    name = "repeated_motif"

    def __init__(
        self,
        bar_length: int = 8,
        amount: float = 4.0,
        min_notes: int = 3,
        *,
        vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    ) -> None:
        self.motif = MotifRule(bar_length, min_notes=min_notes)
        self.bar_length = int(bar_length)
        self.amount = float(amount)
        self.min_notes = int(min_notes)
        self.base = vocabulary.size
        self._drop = self.base ** (self.bar_length - 2)
        self.reset(None)

    def reset(self, composition: Composition | None) -> None:
        self.motif.reset(composition)
        self.prefix = 0  # the last bar_length - 1 tokens as a base-V number
        self.grams: list[int] = []  # grams[i]: tokens[i : i + bar_length] as a number
        self.earlier: set[int] = set()  # grams that end before the current window starts

    def value(self, distinct: int) -> float:
        return self.amount + max(distinct - self.min_notes, 0)

    def reward(self, composition: Composition, action: int) -> float:
        if len(composition.tokens) + 1 < self.bar_length:
            return 0.0
        distinct = self.motif.distinct(composition, action)
        if distinct < self.min_notes:
            return 0.0
        if self.prefix * self.base + action in self.earlier:
            return self.value(distinct)
        return 0.0

    def step(self, composition: Composition, action: int) -> float:
        gram = self.prefix * self.base + action
        term = 0.0
        if gram in self.earlier:  # rare: only then count the motif's notes
            distinct = self.motif.distinct(composition, action)
            if distinct >= self.min_notes:
                term = self.value(distinct)
        self.update(composition, action)
        return term

    def update(self, composition: Composition, action: int) -> None:
        self.motif.update(composition, action)
        length = len(composition.tokens) + 1
        if length >= self.bar_length:
            self.grams.append(self.prefix * self.base + action)
        self.prefix = (self.prefix % self._drop) * self.base + action
        # composition[:-(bar_length-1)] of the next step ends at length - bar_length + 1
        start = length - 2 * self.bar_length + 1
        if start >= 0:
            self.earlier.add(self.grams[start])

    def batch(self, num_envs: int) -> BatchRule:
        return _RepeatedMotifBatch(self, num_envs)


class _RepeatedMotifBatch(BatchRule):
    def __init__(self, parent: RepeatedMotifRule, num_envs: int) -> None:
        self.name = parent.name
        self.parent = parent
        self.prefix = np.zeros(num_envs, dtype=np.int64)
        self.grams = np.zeros((num_envs, 0), dtype=np.int64)

    def reset(self, composition: BatchComposition) -> None:
        self.prefix.fill(0)
        if self.grams.shape[1] != composition.length:
            self.grams = np.zeros((composition.num_envs, composition.length), dtype=np.int64)

    def reward(self, composition: BatchComposition, actions: np.ndarray) -> np.ndarray:
        p = self.parent
        step = composition.step
        earlier = step + 2 - 2 * p.bar_length  # grams[:, :earlier] lie before the window
        if step + 1 < p.bar_length or earlier <= 0:
            return np.zeros(actions.shape)
        distinct = _batch_distinct(composition, actions, p.bar_length)
        gram = self.prefix * p.base + actions
        repeated = (self.grams[:, :earlier] == gram[:, None]).any(axis=1)
        value = p.amount + np.maximum(distinct - p.min_notes, 0)
        return np.where(repeated & (distinct >= p.min_notes), value, 0.0)

    def update(self, composition: BatchComposition, actions: np.ndarray) -> None:
        p = self.parent
        step = composition.step
        if step + 1 >= p.bar_length:
            self.grams[:, step + 1 - p.bar_length] = self.prefix * p.base + actions
        self.prefix = (self.prefix % p._drop) * p.base + actions


# --------------------------------------------------------------------------------------------
# intervals and leaps
# --------------------------------------------------------------------------------------------

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


ASCENDING, DESCENDING = 1, -1


class LeapResolutionRule(Rule):
    """``leap_resolution``: rl_tuner's "leap up, leap back" (``detect_leap_up_back``).

    A leap is a move of ``leap_semitones`` (7) or more from the last note. The first leap sets a
    direction and remembers the note it left; a second leap the same way is doubled:
    ``penalty`` (-5); a leap back the other way resolves it, with ``bonus`` (+5) only if more than
    ``min_steps`` (6) steps passed since the last leap; a non-leap that returns to or past the
    note the leap left resolves it gradually: ``bonus``. NOTE_OFF / NO_EVENT count as steps.
    """

    name = "leap_resolution"

    def __init__(
        self, leap_semitones: int = 7, min_steps: int = 6, bonus: float = 5.0, penalty: float = -5.0
    ) -> None:
        self.leap_semitones = int(leap_semitones)
        self.min_steps = int(min_steps)
        self.bonus = float(bonus)
        self.penalty = float(penalty)
        self.reset(None)

    def reset(self, composition: Composition | None) -> None:
        self.direction = 0
        self.leapt_from = NO_NOTE
        self.steps_since_leap = 0

    def _outcome(self, composition: Composition, action: int) -> tuple[float, int, int, int]:
        """(term, direction, leapt_from, steps_since_leap) after playing ``action``."""
        direction, leapt_from, steps = self.direction, self.leapt_from, self.steps_since_leap
        if not composition.tokens:
            return 0.0, direction, leapt_from, steps
        if action < 2:
            return 0.0, direction, leapt_from, steps + 1
        previous = composition.last_note
        if previous != NO_NOTE and abs(action - previous) >= self.leap_semitones:
            leap = ASCENDING if action > previous else DESCENDING
            if direction == 0:
                return 0.0, leap, previous, 0
            if direction == leap:
                return self.penalty, direction, leapt_from, 0
            return (self.bonus if steps > self.min_steps else 0.0), 0, NO_NOTE, 0
        if (direction == ASCENDING and action <= leapt_from) or (
            direction == DESCENDING and action >= leapt_from
        ):
            return self.bonus, 0, NO_NOTE, steps + 1
        return 0.0, direction, leapt_from, steps + 1

    def reward(self, composition: Composition, action: int) -> float:
        return self._outcome(composition, action)[0]

    def update(self, composition: Composition, action: int) -> None:
        self.step(composition, action)

    def step(self, composition: Composition, action: int) -> float:
        term, self.direction, self.leapt_from, self.steps_since_leap = self._outcome(
            composition, action
        )
        return term

    def batch(self, num_envs: int) -> BatchRule:
        return _LeapBatch(self, num_envs)


class _LeapBatch(BatchRule):
    def __init__(self, parent: LeapResolutionRule, num_envs: int) -> None:
        self.name = parent.name
        self.parent = parent
        self.direction = np.zeros(num_envs, dtype=np.int64)
        self.leapt_from = np.full(num_envs, NO_NOTE, dtype=np.int64)
        self.steps = np.zeros(num_envs, dtype=np.int64)

    def reset(self, composition: BatchComposition) -> None:
        self.direction.fill(0)
        self.leapt_from.fill(NO_NOTE)
        self.steps.fill(0)

    def _outcome(self, composition: BatchComposition, actions: np.ndarray):
        p = self.parent
        direction, leapt_from, steps = self.direction, self.leapt_from, self.steps
        if composition.step == 0:
            return np.zeros(actions.shape), direction, leapt_from, steps
        previous = composition.last_note
        is_note = actions >= 2
        leap = is_note & (previous != NO_NOTE) & (np.abs(actions - previous) >= p.leap_semitones)
        leap_dir = np.where(actions > previous, ASCENDING, DESCENDING)
        first = leap & (direction == 0)
        doubled = leap & (direction != 0) & (direction == leap_dir)
        back = leap & (direction != 0) & (direction != leap_dir)
        gradual = (
            is_note
            & ~leap
            & (
                ((direction == ASCENDING) & (actions <= leapt_from))
                | ((direction == DESCENDING) & (actions >= leapt_from))
            )
        )
        term = np.where(doubled, p.penalty, 0.0)
        term = np.where((back & (steps > p.min_steps)) | gradual, p.bonus, term)
        cleared = back | gradual
        new_direction = np.where(first, leap_dir, np.where(cleared, 0, direction))
        new_from = np.where(first, previous, np.where(cleared, NO_NOTE, leapt_from))
        new_steps = np.where(leap, 0, steps + 1)
        return term, new_direction, new_from, new_steps

    def reward(self, composition: BatchComposition, actions: np.ndarray) -> np.ndarray:
        return self._outcome(composition, actions)[0]

    def update(self, composition: BatchComposition, actions: np.ndarray) -> None:
        self.step(composition, actions)

    def step(self, composition: BatchComposition, actions: np.ndarray) -> np.ndarray:
        terms, self.direction, self.leapt_from, self.steps = self._outcome(composition, actions)
        return terms


# --------------------------------------------------------------------------------------------
# high / low unique
# --------------------------------------------------------------------------------------------


class HighLowUniqueRule(Rule):
    """``high_low_unique``: at the last step, ``amount`` (+3) if the highest token of the
    composition occurs once and ``amount`` if the lowest note (NOTE_OFF / NO_EVENT excluded)
    occurs once. Kept as running maximum / minimum with their counts."""

    name = "high_low_unique"

    def __init__(self, amount: float = 3.0) -> None:
        self.amount = float(amount)
        self.reset(None)

    def reset(self, composition: Composition | None) -> None:
        self.high, self.high_count = -1, 0
        self.low, self.low_count = 1 << 30, 0  # lowest note so far (none: larger than any)

    def reward(self, composition: Composition, action: int) -> float:
        if len(composition.tokens) + 1 != composition.length:
            return 0.0
        term = 0.0
        if action > self.high or (action < self.high and self.high_count == 1):
            term += self.amount
        if action >= 2:
            if action < self.low or (action > self.low and self.low_count == 1):
                term += self.amount
        elif self.low_count == 1:
            term += self.amount
        return term

    def update(self, composition: Composition, action: int) -> None:
        if action > self.high:
            self.high, self.high_count = action, 1
        elif action == self.high:
            self.high_count += 1
        if action >= 2:
            if action < self.low:
                self.low, self.low_count = action, 1
            elif action == self.low:
                self.low_count += 1

    def batch(self, num_envs: int) -> BatchRule:
        return _HighLowBatch(self)


class _HighLowBatch(BatchRule):
    """Reads the whole composition once, at its last step (amortised O(1) per step)."""

    def __init__(self, parent: HighLowUniqueRule) -> None:
        self.name = parent.name
        self.amount = parent.amount

    def reward(self, composition: BatchComposition, actions: np.ndarray) -> np.ndarray:
        step = composition.step
        if step + 1 != composition.length:
            return np.zeros(actions.shape)
        tokens = np.concatenate([composition.tokens[:, :step], actions[:, None]], axis=1)
        high = tokens.max(axis=1)
        high_once = (tokens == high[:, None]).sum(axis=1) == 1
        notes = np.where(tokens >= 2, tokens, np.iinfo(np.int64).max)
        low = notes.min(axis=1)
        low_once = (tokens == low[:, None]).sum(axis=1) == 1  # never true without notes
        return self.amount * high_once + self.amount * low_once


# --------------------------------------------------------------------------------------------
# the default rule set
# --------------------------------------------------------------------------------------------

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
        raise ValueError(f"unknown rule {name!r} (expected one of {', '.join(DEFAULT_RULE_NAMES)})")
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
