"""``motif`` and ``repeated_motif``: the last bar holds ≥ 3 distinct notes; it occurred before."""

from __future__ import annotations

import numpy as np

from pretrain.errors import SequenceTutorError
from pretrain.vocabulary import DEFAULT_VOCABULARY, Vocabulary
from rewards.composition import BatchComposition, Composition
from rewards.rules.base import BatchRule, Rule


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
            raise SequenceTutorError(f"bar_length must be >= 2, got {bar_length}")
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
