"""The melody being composed, as the reward rules see it.

A :class:`Composition` holds the T-step composition so far (the primer is not part of it) and the
few facts several rules need (the step, the most recent note). The environment owns one, shows it to
every rule before the action is appended, then appends the action. :class:`BatchComposition` is the
same for N compositions stepped in lock-step by the vector environment (every composition of a
fixed-length batch is at the same step).
"""

from __future__ import annotations

import numpy as np

from rewards.keys import KeyTables

__all__ = ["NO_NOTE", "BatchComposition", "Composition"]

NO_NOTE = -1
"""``last_note`` before the first note; as a row index it picks a table's last row ("no note")."""


class Composition:
    """One composition in progress.

    :param length: the number of steps T of a finished composition.
    :param key: the key tables the rules use (:func:`rewards.key_tables`).

    :ivar tokens: the actions so far (a Python list: rules read single items, which is faster on
        lists than on numpy arrays).
    :ivar last_note: the most recent note token in ``tokens``, or :data:`NO_NOTE`.
    """

    __slots__ = ("key", "last_note", "length", "tokens")

    def __init__(self, length: int, key: KeyTables) -> None:
        self.length = int(length)
        self.key = key
        self.tokens: list[int] = []
        self.last_note = NO_NOTE

    @property
    def step(self) -> int:
        """The composition step the next action fills (0 for the first action)."""
        return len(self.tokens)

    @property
    def vocabulary(self):
        return self.key.vocabulary

    def reset(self) -> None:
        self.tokens = []
        self.last_note = NO_NOTE

    def append(self, token: int) -> None:
        self.tokens.append(token)
        if token >= 2:  # a note-on (NOTE_OFF = 0, NO_EVENT = 1)
            self.last_note = token

    def __repr__(self) -> str:
        return f"Composition(step={self.step}/{self.length}, key={self.key.name!r})"


class BatchComposition:
    """N compositions of the same length, all at the same step.

    :ivar tokens: ``int64[N, T]``; columns ``>= step`` are undefined.
    :ivar step: the step the next actions fill (shared).
    :ivar last_note: ``int64[N]``, :data:`NO_NOTE` before the first note.
    """

    __slots__ = ("key", "last_note", "length", "memo", "num_envs", "step", "tokens")

    def __init__(self, num_envs: int, length: int, key: KeyTables) -> None:
        self.num_envs = int(num_envs)
        self.length = int(length)
        self.key = key
        self.tokens = np.zeros((self.num_envs, self.length), dtype=np.int64)
        self.step = 0
        self.last_note = np.full(self.num_envs, NO_NOTE, dtype=np.int64)
        self.memo: dict = {}  # values several batched rules share within one step

    @property
    def vocabulary(self):
        return self.key.vocabulary

    def reset(self) -> None:
        self.step = 0
        self.last_note.fill(NO_NOTE)
        self.memo.clear()

    def append(self, tokens: np.ndarray) -> None:
        self.tokens[:, self.step] = tokens
        self.step += 1
        self.memo.clear()
        np.copyto(self.last_note, tokens, where=tokens >= 2)
