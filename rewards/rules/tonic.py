"""``tonic``: +3 for the tonic at step 0 and T − 4, and for holding or resting at the end."""

from __future__ import annotations

import numpy as np

from pretrain.vocabulary import DEFAULT_VOCABULARY, NO_EVENT, NOTE_OFF, Vocabulary
from rewards.composition import BatchComposition, Composition
from rewards.keys import KeyTables, key_tables
from rewards.rules.base import BatchRule, Rule


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
