"""``repetition``: −100 for a note, hold or rest repeated excessively."""

from __future__ import annotations

import numpy as np

from pretrain.vocabulary import NO_EVENT, NOTE_OFF
from rewards.composition import NO_NOTE, BatchComposition, Composition
from rewards.rules.base import BatchRule, Rule


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
