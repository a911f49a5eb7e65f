"""The melody token vocabulary shared by every part of the project.

One token per sixteenth-note step:

=========  ==============================================================
token      meaning
=========  ==============================================================
0          ``NOTE_OFF``: the sounding note stops, a rest begins
1          ``NO_EVENT``: nothing new; the previous note (or rest) continues
2 .. 37    note-on of MIDI pitch ``min_pitch + (token - 2)`` (C3..B5)
=========  ==============================================================

The pitch range is a parameter (:class:`Vocabulary`); the default is the paper's
38 tokens. rl_tuner swapped NOTE_OFF/NO_EVENT and shifted pitches by two semitones
between its encoder and its rules; here one object owns the mapping both ways.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NOTE_OFF = 0
NO_EVENT = 1
NUM_SPECIAL = 2

DEFAULT_MIN_PITCH = 48  # C3
DEFAULT_NUM_PITCHES = 36  # C3..B5


@dataclass(frozen=True)
class Vocabulary:
    """Token <-> MIDI pitch mapping for a contiguous pitch range."""

    min_pitch: int = DEFAULT_MIN_PITCH
    num_pitches: int = DEFAULT_NUM_PITCHES

    def __post_init__(self) -> None:
        if not 0 <= self.min_pitch or self.num_pitches < 1 or self.max_pitch > 127:
            raise ValueError(
                f"pitch range {self.min_pitch}..{self.max_pitch} must lie inside MIDI 0..127"
            )

    @property
    def size(self) -> int:
        """Number of tokens (NOTE_OFF, NO_EVENT and one per pitch)."""
        return NUM_SPECIAL + self.num_pitches

    @property
    def max_pitch(self) -> int:
        return self.min_pitch + self.num_pitches - 1

    def is_note(self, token: int) -> bool:
        return NUM_SPECIAL <= token < self.size

    def token_to_pitch(self, token: int) -> int:
        """MIDI pitch of a note-on token."""
        if not self.is_note(token):
            raise ValueError(
                f"token {token} is not a note (expected {NUM_SPECIAL}..{self.size - 1})"
            )
        return self.min_pitch + token - NUM_SPECIAL

    def pitch_to_token(self, pitch: int) -> int:
        """Note-on token of a MIDI pitch inside the range."""
        if not self.min_pitch <= pitch <= self.max_pitch:
            raise ValueError(
                f"MIDI pitch {pitch} is outside the range {self.min_pitch}..{self.max_pitch}"
            )
        return pitch - self.min_pitch + NUM_SPECIAL

    def check_tokens(self, tokens: object, name: str = "tokens") -> np.ndarray:
        """Return ``tokens`` as an int64 array, or raise ``ValueError`` naming ``name``."""
        array = np.asarray(tokens)
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"{name} must be integers, got dtype {array.dtype}")
        array = array.astype(np.int64)
        bad = (array < 0) | (array >= self.size)
        if bad.any():
            raise ValueError(
                f"{name} contains {array[bad][0]}, outside the vocabulary 0..{self.size - 1}"
            )
        return array

    def to_dict(self) -> dict[str, int]:
        return {"min_pitch": self.min_pitch, "num_pitches": self.num_pitches, "size": self.size}

    @classmethod
    def from_dict(cls, data: dict) -> Vocabulary:
        vocabulary = cls(int(data["min_pitch"]), int(data["num_pitches"]))
        if "size" in data and int(data["size"]) != vocabulary.size:
            raise ValueError(f"vocabulary size {data['size']} does not match its pitch range")
        return vocabulary


DEFAULT_VOCABULARY = Vocabulary()
