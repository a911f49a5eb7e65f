"""``key``: −1 for a note outside the key."""

from __future__ import annotations

import numpy as np

from pretrain.vocabulary import DEFAULT_VOCABULARY, Vocabulary
from rewards.composition import BatchComposition, Composition
from rewards.keys import KeyTables, key_tables
from rewards.rules.base import BatchRule, Rule


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
