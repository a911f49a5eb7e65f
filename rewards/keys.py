"""Key tables: what the music-theory rules need to know about a key, computed once with music21.

music21 objects cost 10 µs to 3 ms each, far too slow for a reward computed every step, so the
rules never touch music21 while an episode runs. Instead :func:`key_tables` asks music21 once
per ``(key, vocabulary)`` and process for the scale's pitch classes, the tonic, third and fifth
degrees and the interval sizes, and turns them into small integer tables indexed by token.

For C major and the default vocabulary the tables are rl_tuner's hard-coded lists::

    in_key tokens  0, 1, 2, 4, 6, 7, 9, 11, 13, 14, 16, ...   (NOTE_OFF, NO_EVENT, C3, D3, E3, ...)
    tonic token    14                                         (C4)
    C / E / G      2, 14, 26 / 6, 18, 30 / 9, 21, 33

Other keys and modes generalise them: the tonic token is the tonic in octave 4 (C4..B4, rl_tuner's
A-minor tonic is A4 = token 23); the "in-key third" and "in-key fifth" intervals are the distances
from the tonic to the third and fifth scale degrees (4 and 7 semitones in major, 3 and 7 in minor).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from pretrain.errors import SequenceTutorError
from pretrain.vocabulary import DEFAULT_VOCABULARY, NO_EVENT, NOTE_OFF, NUM_SPECIAL, Vocabulary

__all__ = ["KeyTables", "UnknownKeyError", "key_tables", "parse_key_name"]

TONIC_OCTAVE = 4  # rl_tuner's tonic tokens are C4 (14) and A4 (23)


class UnknownKeyError(SequenceTutorError, ValueError):
    """A key name music21 cannot read (also a ``ValueError``, as Gymnasium arguments expect)."""


@dataclass(frozen=True, eq=False)
class KeyTables:
    """Integer tables of one key over one vocabulary (read-only numpy arrays, indexed by token).

    :ivar name: canonical key name, e.g. ``"C major"``, ``"F# dorian"``.
    :ivar vocabulary: the token vocabulary the tables index.
    :ivar scale_pitch_classes: pitch classes of the scale, tonic first (C major: 0 2 4 5 7 9 11).
    :ivar tonic_pitch_class, third_pitch_class, fifth_pitch_class: of scale degrees 1, 3 and 5.
    :ivar tonic_token: the tonic note the ``tonic`` rule asks for (tonic in octave 4, C4 = 14).
    :ivar in_key: ``bool[V]``: NOTE_OFF, NO_EVENT and notes whose pitch class is in the scale.
    :ivar is_note: ``bool[V]``: note-on tokens.
    :ivar degree: ``int8[V]``: scale degree 1..7 of a note, 0 for specials and notes outside the key.
    :ivar pitch: ``int64[V]``: MIDI pitch of each note token, -1 for NOTE_OFF / NO_EVENT.
    :ivar in_key_third_semitones: tonic-to-third distance (4 in major, 3 in minor).
    :ivar in_key_fifth_semitones: tonic-to-fifth distance (7, except 6 in locrian).
    :ivar signature_key: a major or minor key with the same key signature (for notation:
        ``"E major"`` for F# dorian; the key itself for major and minor keys).
    """

    name: str
    vocabulary: Vocabulary
    scale_pitch_classes: tuple[int, ...]
    tonic_pitch_class: int
    third_pitch_class: int
    fifth_pitch_class: int
    tonic_token: int
    in_key: np.ndarray
    is_note: np.ndarray
    degree: np.ndarray
    pitch: np.ndarray
    in_key_third_semitones: int
    in_key_fifth_semitones: int
    signature_key: str

    def __repr__(self) -> str:
        return f"KeyTables({self.name!r}, tonic_token={self.tonic_token})"

    def __reduce__(self):
        # Rebuilt from the process cache after pickling (SubprocVecEnv sends envs to workers).
        return (key_tables, (self.name, self.vocabulary))

    @property
    def in_key_notes(self) -> np.ndarray:
        """Note tokens (no NOTE_OFF / NO_EVENT) inside the key, ascending."""
        return np.flatnonzero(self.in_key & self.is_note)


def parse_key_name(key: str) -> tuple[str, str]:
    """Split ``"F# dorian"`` into ``("F#", "dorian")``; a bare tonic means major (``"a"``: minor,
    music21's lower-case convention). Flats may be written ``b`` or ``-`` (``"Bb"``, ``"B-"``)."""
    if not isinstance(key, str) or not key.strip():
        raise UnknownKeyError(f"key {key!r} is not a key name (expected e.g. 'C major', 'A minor')")
    parts = key.replace(":", " ").replace("_", " ").split()
    if len(parts) > 2:
        raise UnknownKeyError(
            f"key {key!r} is not a key name (expected '<tonic> <mode>', e.g. 'F# dorian')"
        )
    tonic = parts[0]
    mode = parts[1].lower() if len(parts) == 2 else ("minor" if tonic[0].islower() else "major")
    if len(tonic) > 1 and tonic[1:].strip("b") == "" and tonic[0].isalpha():
        tonic = tonic[0] + "-" * (len(tonic) - 1)  # music21 spells flats '-'
    return tonic[0].upper() + tonic[1:], mode


@functools.lru_cache(maxsize=64)
def _cached_key_tables(tonic: str, mode: str, vocabulary: Vocabulary) -> KeyTables:
    from music21 import interval, key, pitch  # noqa: PLC0415 (heavy; only at construction)

    try:
        music21_key = key.Key(tonic, mode)
        scale_pitches = music21_key.getScale().getPitches()
    except Exception as exc:  # music21 raises several unrelated exception types here
        raise UnknownKeyError(
            f"key '{tonic} {mode}' is unknown to music21 ({exc}); expected a tonic A-G with an "
            "optional #/b and a mode such as major, minor, dorian, phrygian, lydian, "
            "mixolydian, aeolian or locrian"
        ) from None
    tonic_pitch = music21_key.tonic
    third = music21_key.pitchFromDegree(3)
    fifth = music21_key.pitchFromDegree(5)
    scale_pcs = tuple(dict.fromkeys(p.pitchClass for p in scale_pitches))
    in_key_third = interval.Interval(tonic_pitch, third).semitones % 12
    in_key_fifth = interval.Interval(tonic_pitch, fifth).semitones % 12

    size = vocabulary.size
    is_note = np.zeros(size, dtype=bool)
    is_note[NUM_SPECIAL:] = True
    pitches = np.full(size, -1, dtype=np.int64)
    pitches[NUM_SPECIAL:] = vocabulary.min_pitch + np.arange(vocabulary.num_pitches)
    degree = np.zeros(size, dtype=np.int8)
    for d, pc in enumerate(scale_pcs, start=1):
        degree[NUM_SPECIAL:][pitches[NUM_SPECIAL:] % 12 == pc] = d
    in_key = degree > 0
    in_key[NOTE_OFF] = in_key[NO_EVENT] = True

    tonic_midi = pitch.Pitch(tonic_pitch.name, octave=TONIC_OCTAVE).midi
    if not vocabulary.min_pitch <= tonic_midi <= vocabulary.max_pitch:
        # Small or shifted vocabularies: the tonic closest to the middle of the range.
        tonics = pitches[is_note & (pitches % 12 == tonic_pitch.pitchClass)]
        if tonics.size == 0:
            raise UnknownKeyError(
                f"key '{tonic} {mode}': its tonic {tonic_pitch.name} is not in the vocabulary's "
                f"pitch range {vocabulary.min_pitch}..{vocabulary.max_pitch}"
            )
        middle = (vocabulary.min_pitch + vocabulary.max_pitch) / 2
        tonic_midi = int(tonics[np.argmin(np.abs(tonics - middle))])
    if music21_key.mode in ("major", "minor"):
        signature = music21_key
    else:
        signature = key.KeySignature(music21_key.sharps).asKey("major")
    signature_key = f"{signature.tonic.name.replace('-', 'b')} {signature.mode}"
    for array in (is_note, pitches, degree, in_key):
        array.flags.writeable = False
    return KeyTables(
        name=f"{tonic_pitch.name.replace('-', 'b')} {music21_key.mode}",
        vocabulary=vocabulary,
        scale_pitch_classes=scale_pcs,
        tonic_pitch_class=tonic_pitch.pitchClass,
        third_pitch_class=third.pitchClass,
        fifth_pitch_class=fifth.pitchClass,
        tonic_token=vocabulary.pitch_to_token(tonic_midi),
        in_key=in_key,
        is_note=is_note,
        degree=degree,
        pitch=pitches,
        in_key_third_semitones=in_key_third,
        in_key_fifth_semitones=in_key_fifth,
        signature_key=signature_key,
    )


def key_tables(
    key: str | KeyTables = "C major", vocabulary: Vocabulary = DEFAULT_VOCABULARY
) -> KeyTables:
    """The :class:`KeyTables` of ``key`` (any music21 key, e.g. ``"A minor"``, ``"F# dorian"``).

    Cached per process: building them asks music21 and takes a fraction of a second once.
    Raises :class:`UnknownKeyError` naming the key when music21 cannot read it.
    """
    if isinstance(key, KeyTables):
        if key.vocabulary != vocabulary:
            return key_tables(key.name, vocabulary)
        return key
    tonic, mode = parse_key_name(key)
    return _cached_key_tables(tonic, mode, vocabulary)
