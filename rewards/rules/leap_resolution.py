"""``leap_resolution``: a leap (≥ 7 semitones) resolved by a step back, or doubled."""

from __future__ import annotations

import numpy as np

from rewards.composition import NO_NOTE, BatchComposition, Composition
from rewards.rules.base import BatchRule, Rule

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
