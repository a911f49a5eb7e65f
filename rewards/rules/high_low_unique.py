"""``high_low_unique``: +3 each for a highest and a lowest note played once."""

from __future__ import annotations

import numpy as np

from rewards.composition import BatchComposition, Composition
from rewards.rules.base import BatchRule, Rule


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
