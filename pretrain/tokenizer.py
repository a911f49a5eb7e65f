"""Monophonic melodies <-> tokens on a sixteenth-note grid, and melody files (MIDI, MusicXML).

One token per grid step (``steps_per_quarter = 4``: a sixteenth note), in the vocabulary of
:mod:`pretrain.vocabulary`:

* a note-on token (``2 ..``) at the step where a note starts,
* ``NO_EVENT`` (1) on every later step while that note (or a rest) continues,
* ``NOTE_OFF`` (0) at the step where a rest starts after a note (or at step 0 if the
  melody starts with a rest).

Tied notes are one note; consecutive rests are one rest (``NOTE_OFF`` only where a note stops);
grace notes and chord symbols are dropped. A melody whose note onsets fall off the grid
(triplets, 32nds) is quantised to the nearest step; a note shorter than half a step can vanish in
that rounding, and a melody that would lose more than :data:`MAX_DROPPED_FRACTION` of its notes so
is refused as ``"off-grid"``.

Canonical token sequences
-------------------------
The same music can be written as several token sequences; :func:`canonical_tokens` picks one.
A sequence is canonical when ``NOTE_OFF`` occurs only at step 0 or where a note is sounding,
and it does not start with ``NO_EVENT``. Reading a melody back (:func:`tokens_to_stream` then
:func:`melody_to_tokens`, or :func:`write_melody` then :func:`read_melody`) returns the
canonical form: a leading ``NO_EVENT`` becomes ``NOTE_OFF`` (the melody starts with a rest),
a ``NOTE_OFF`` during a rest becomes ``NO_EVENT``. MIDI stores no rests: :func:`write_melody`
ends the note track where the music ends, so a trailing rest survives a round trip through
our own MIDI files (other MIDI files may end their track anywhere after the last note).
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from pretrain.errors import SequenceTutorError
from pretrain.vocabulary import DEFAULT_VOCABULARY, NO_EVENT, NOTE_OFF, NUM_SPECIAL, Vocabulary

__all__ = [
    "MAX_DROPPED_FRACTION",
    "MIDI_SUFFIXES",
    "MUSICXML_SUFFIXES",
    "Melody",
    "MelodyError",
    "NoteEvent",
    "build_melody",
    "canonical_tokens",
    "melody_from_stream",
    "melody_to_tokens",
    "melody_tokens",
    "read_file_melody",
    "read_melody",
    "tokens_to_stream",
    "write_melody",
]

MIDI_SUFFIXES = (".mid", ".midi")
MUSICXML_SUFFIXES = (".musicxml", ".xml", ".mxl")
MAX_DROPPED_FRACTION = 0.1
"""Largest share of a melody's notes that grid quantisation may swallow before it is refused."""
MAX_FILE_BYTES = 20_000_000
"""Melody files larger than this are refused unread (a guard against decompression/XML bombs)."""
MAX_MELODY_STEPS = 1_000_000
"""Longest melody in grid steps (~15 000 bars); longer ones are refused before tokens are allocated."""

_EPS = 1e-6


class MelodyError(SequenceTutorError):
    """A melody that cannot be tokenised; ``reason`` is a short code for the skip report.

    Codes: ``"empty"`` (no notes), ``"polyphonic"`` (chords, overlapping notes or several
    parts), ``"off-grid"`` (too many notes lost to the sixteenth grid), ``"out-of-range"``
    (a pitch outside the vocabulary), ``"unpitched"`` (percussion), ``"unreadable"``
    (the file cannot be parsed), ``"too-large"`` (file over :data:`MAX_FILE_BYTES`),
    ``"too-long"`` (more than :data:`MAX_MELODY_STEPS` grid steps).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class NoteEvent(NamedTuple):
    """One sounding note: onset and duration in quarter notes, MIDI pitch."""

    onset: float
    duration: float
    pitch: int


@dataclass
class Melody:
    """A monophonic melody before quantisation: notes in time order and the end of the music.

    Rests are the gaps between notes (and between the last note and ``end``).
    """

    notes: list[NoteEvent] = field(default_factory=list)
    end: float = 0.0

    def transposed(self, semitones: int) -> Melody:
        return Melody(
            [NoteEvent(n.onset, n.duration, n.pitch + semitones) for n in self.notes], self.end
        )

    def trimmed(self) -> Melody:
        """The melody from its first note to the end of its last note (outer rests removed)."""
        if not self.notes:
            return Melody([], 0.0)
        start = self.notes[0].onset
        last = self.notes[-1]
        return Melody(
            [NoteEvent(n.onset - start, n.duration, n.pitch) for n in self.notes],
            last.onset + last.duration - start,
        )


def build_melody(
    events: list[tuple[float, float, int, bool]], end: float, *, source: str = "melody"
) -> Melody:
    """Merge ties and check monophony.

    ``events`` are ``(onset, duration, midi_pitch, tied_to_previous)`` in time order (grace notes
    and rests already removed); ``end`` is where the music stops (the end of a trailing rest).
    """
    notes: list[NoteEvent] = []
    for onset, duration, pitch, tied in events:
        if notes:
            last = notes[-1]
            last_end = last.onset + last.duration
            if tied and last.pitch == pitch and abs(last_end - onset) < _EPS:
                notes[-1] = NoteEvent(last.onset, last.duration + duration, pitch)
                continue
            if onset < last_end - _EPS:
                raise MelodyError(
                    "polyphonic", f"{source}: a note at beat {onset:g} overlaps the one before"
                )
        notes.append(NoteEvent(onset, duration, pitch))
    if not notes:
        raise MelodyError("empty", f"{source}: no notes")
    last = notes[-1]
    return Melody(notes, max(end, last.onset + last.duration))


def melody_from_stream(stream, *, source: str = "melody") -> Melody:
    """Notes of a monophonic music21 stream (Score with one part, Part, or flat Stream).

    Chord symbols (``harmony.ChordSymbol`` is a ``Chord`` subclass) and grace notes are
    dropped before the polyphony check; a chord of one distinct pitch counts as that note.
    """
    from music21 import chord, harmony, note
    from music21 import stream as m21stream

    parts = list(stream.parts) if isinstance(stream, m21stream.Score) else [stream]
    flats = []
    for part in parts:
        flat = part.flatten()
        if any(not isinstance(n, harmony.Harmony) for n in flat.notes):
            flats.append(flat)
    if len(flats) > 1:
        raise MelodyError("polyphonic", f"{source}: {len(flats)} parts with notes")
    if not flats:
        raise MelodyError("empty", f"{source}: no notes")
    events: list[tuple[float, float, int, bool]] = []
    end = 0.0
    for element in flats[0].notesAndRests:
        if isinstance(element, harmony.Harmony):
            continue
        duration = float(element.quarterLength)
        if element.duration.isGrace or duration <= 0:
            continue
        onset = float(element.offset)
        end = max(end, onset + duration)
        if isinstance(element, note.Rest):
            continue
        if isinstance(element, chord.Chord):
            pitches = {p.midi for p in element.pitches}
            if len(pitches) != 1:
                raise MelodyError(
                    "polyphonic", f"{source}: a chord of {len(pitches)} notes at beat {onset:g}"
                )
            pitch = pitches.pop()
        elif isinstance(element, note.Note):
            pitch = element.pitch.midi
        else:
            raise MelodyError("unpitched", f"{source}: unpitched {type(element).__name__}")
        tie = element.tie
        tied = tie is not None and tie.type in ("stop", "continue")
        events.append((onset, duration, pitch, tied))
    events.sort(key=lambda event: event[0])
    return build_melody(events, end, source=source)


def melody_tokens(
    melody: Melody,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    steps_per_quarter: int = 4,
    *,
    source: str = "melody",
    stats: dict[str, int] | None = None,
) -> np.ndarray:
    """Tokens of a :class:`Melody` (no transposition; see the module docstring for the rules).

    If ``stats`` is given, it receives ``"moved"`` (notes whose onset or end was rounded to
    the grid) and ``"dropped"`` (notes that vanished in that rounding).
    """
    if not melody.notes:
        raise MelodyError("empty", f"{source}: no notes")
    spans: list[tuple[int, int, int]] = []
    dropped = moved = 0
    for n in melody.notes:
        # rounding is monotone and the notes do not overlap, so spans cannot overlap either
        exact_start = n.onset * steps_per_quarter
        exact_stop = (n.onset + n.duration) * steps_per_quarter
        start = math.floor(exact_start + 0.5)
        stop = math.floor(exact_stop + 0.5)
        if abs(exact_start - start) > _EPS or abs(exact_stop - stop) > _EPS:
            moved += 1
        if stop <= start:
            dropped += 1
            continue
        spans.append((start, stop, n.pitch))
    if stats is not None:
        stats["moved"] = moved
        stats["dropped"] = dropped
    if not spans:
        raise MelodyError("off-grid", f"{source}: every note is shorter than the grid step")
    if dropped > MAX_DROPPED_FRACTION * len(melody.notes):
        raise MelodyError(
            "off-grid",
            f"{source}: {dropped} of {len(melody.notes)} notes fall between sixteenth-grid steps",
        )
    low = min(span[2] for span in spans)
    high = max(span[2] for span in spans)
    if low < vocabulary.min_pitch or high > vocabulary.max_pitch:
        raise MelodyError(
            "out-of-range",
            f"{source}: pitches {low}..{high} outside {vocabulary.min_pitch}..{vocabulary.max_pitch}",
        )
    total = max(spans[-1][1], math.floor(melody.end * steps_per_quarter + 0.5))
    if total > MAX_MELODY_STEPS:  # a hostile file can declare a note of 10**9 beats
        raise MelodyError(
            "too-long", f"{source}: {total} grid steps, more than the {MAX_MELODY_STEPS} allowed"
        )
    tokens = np.full(total, NO_EVENT, dtype=np.int64)
    previous_stop = 0
    for start, stop, pitch in spans:
        if start > previous_stop:  # a rest (or the leading rest) begins where the last note stopped
            tokens[previous_stop] = NOTE_OFF
        tokens[start] = pitch - vocabulary.min_pitch + NUM_SPECIAL
        previous_stop = stop
    if total > previous_stop:
        tokens[previous_stop] = NOTE_OFF
    return tokens


def melody_to_tokens(
    part_or_stream,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    steps_per_quarter: int = 4,
) -> np.ndarray:
    """Tokens (int64) of a monophonic music21 stream, without transposition.

    Raises :class:`MelodyError` (with ``.reason``) if the stream is not a melody that fits the
    grid and the vocabulary's pitch range.
    """
    melody = melody_from_stream(part_or_stream)
    return melody_tokens(melody, vocabulary, steps_per_quarter)


def canonical_tokens(tokens: object, vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> np.ndarray:
    """The canonical spelling of a token sequence (module docstring): what reading it back gives."""
    array = vocabulary.check_tokens(tokens).copy()
    sounding = False
    for index, token in enumerate(array):
        if token == NOTE_OFF:
            if not sounding and index > 0:
                array[index] = NO_EVENT
            sounding = False
        elif token == NO_EVENT:
            if index == 0:
                array[index] = NOTE_OFF
        else:
            sounding = True
    return array


def _parse_key(key: str):
    """music21 Key of "C major", "Bb major", "F# minor", "a minor", or music21's "C" / "a"."""
    from music21 import key as m21key

    words = str(key).split()
    try:
        if len(words) == 2 and words[1].lower() in ("major", "minor"):
            tonic = words[0]
            # English flats ("Bb", "Ebb") in music21's spelling ("B-", "E--")
            accidentals = tonic[1:].replace("b", "-") if len(tonic) > 1 else ""
            tonic = tonic[0] + accidentals
            return m21key.Key(tonic.upper() if words[1].lower() == "major" else tonic.lower())
        if len(words) == 1:
            return m21key.Key(words[0])
    except Exception as error:
        raise SequenceTutorError(
            f"key {key!r} is not a key; expected e.g. 'C major' or 'A minor'"
        ) from error
    raise SequenceTutorError(f"key {key!r} is not a key; expected e.g. 'C major' or 'A minor'")


def tokens_to_stream(
    tokens: object,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    key: str = "C major",
    steps_per_quarter: int = 4,
    bpm: float = 120,
):
    """A one-part music21 Score (4/4, ``key`` signature, tempo ``bpm``) playing ``tokens``.

    A note lasts from its note-on to the next note-on or ``NOTE_OFF``; a rest from a
    ``NOTE_OFF`` (or a leading ``NO_EVENT``) to the next note-on.
    """
    from music21 import meter, note, stream, tempo

    array = vocabulary.check_tokens(tokens)
    if array.ndim != 1:
        raise ValueError(f"tokens must be one-dimensional, got shape {array.shape}")
    if steps_per_quarter < 1:
        raise ValueError(f"steps_per_quarter must be >= 1, got {steps_per_quarter}")
    part = stream.Part()
    part.insert(0, meter.TimeSignature("4/4"))
    part.insert(0, _parse_key(key))
    part.insert(0, tempo.MetronomeMark(number=bpm))
    step = 1.0 / steps_per_quarter
    index = 0
    while index < len(array):
        stop = index + 1
        while stop < len(array) and array[stop] == NO_EVENT:
            stop += 1
        token = int(array[index])
        if vocabulary.is_note(token):
            element = note.Note(vocabulary.token_to_pitch(token))
        else:
            element = note.Rest()
        element.quarterLength = (stop - index) * step
        part.insert(index * step, element)
        index = stop
    score = stream.Score()
    score.insert(0, part)
    return score


def write_melody(
    tokens: object,
    path: str | os.PathLike,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    key: str = "C major",
    *,
    steps_per_quarter: int = 4,
    bpm: float = 120,
) -> Path:
    """Write ``tokens`` as MIDI (``.mid``/``.midi``) or MusicXML (``.musicxml``/``.xml``/``.mxl``).

    The file is written atomically; returns its path.
    """
    from pretrain.atomic_write import atomic_path

    target = Path(path)
    suffix = target.suffix.lower()
    if suffix in MIDI_SUFFIXES:
        fmt = "midi"
    elif suffix in MUSICXML_SUFFIXES:
        fmt = "mxl" if suffix == ".mxl" else "musicxml"
    else:
        raise SequenceTutorError(
            f"{target}: unknown melody file type {suffix!r}; expected one of "
            f"{', '.join(MIDI_SUFFIXES + MUSICXML_SUFFIXES)}"
        )
    score = tokens_to_stream(tokens, vocabulary, key, steps_per_quarter, bpm)
    with atomic_path(target) as tmp:
        if fmt == "midi":
            _write_midi(score, tmp)
        else:
            written = Path(score.write(fmt, fp=tmp.with_suffix(suffix)))
            os.replace(written, tmp)
    return target


def _write_midi(score, path: Path) -> None:
    """MIDI via music21, with each track's end set to the end of the music.

    MIDI has no rests; ending the note track exactly where the last token ends is what lets
    :func:`read_melody` recover a trailing rest (music21 would end it one beat after the last note).
    """
    from music21 import midi

    midi_file = midi.translate.streamToMidiFile(score)
    end_ticks = round(float(score.highestTime) * midi_file.ticksPerQuarterNote)
    for track in midi_file.tracks:
        ticks = 0
        for index, event in enumerate(track.events):
            if isinstance(event, midi.DeltaTime):
                following = track.events[index + 1] if index + 1 < len(track.events) else None
                if following is not None and following.type == midi.MetaEvents.END_OF_TRACK:
                    event.time = max(end_ticks - ticks, 0)
                ticks += event.time
    midi_file.open(str(path), "wb")
    try:
        midi_file.write()
    finally:
        midi_file.close()


def _midi_melody(path: Path) -> Melody:
    """Notes of a MIDI file read event by event (exact times, no music21 notation pass).

    A note track that ends after its last note ends with a rest; several tracks with notes,
    or overlapping notes in one, are polyphonic; channel 10 is percussion.
    """
    from music21 import midi

    midi_file = midi.MidiFile()
    try:
        midi_file.open(str(path))
        try:
            midi_file.read()
        finally:
            midi_file.close()
    except Exception as error:
        raise MelodyError(
            "unreadable", f"{path}: not a readable MIDI file ({type(error).__name__}: {error})"
        ) from error
    ticks_per_quarter = midi_file.ticksPerQuarterNote
    if not isinstance(ticks_per_quarter, int) or ticks_per_quarter <= 0:
        raise MelodyError("unreadable", f"{path}: MIDI file without ticks per quarter note")
    note_tracks = []
    for track in midi_file.tracks:
        ticks = 0
        sounding: dict[tuple[int, int], list[int]] = {}
        notes: list[tuple[int, int, int]] = []
        for event in track.events:
            if isinstance(event, midi.DeltaTime):
                ticks += event.time
                continue
            channel_pitch = (event.channel, event.pitch)
            if event.type == midi.ChannelVoiceMessages.NOTE_ON and event.velocity > 0:
                if event.channel == 10:
                    raise MelodyError("unpitched", f"{path}: percussion notes on channel 10")
                sounding.setdefault(channel_pitch, []).append(ticks)
            elif event.type in (
                midi.ChannelVoiceMessages.NOTE_OFF,
                midi.ChannelVoiceMessages.NOTE_ON,
            ) and sounding.get(channel_pitch):
                start = sounding[channel_pitch].pop(0)
                if ticks > start:
                    notes.append((start, ticks, event.pitch))
        if notes:
            note_tracks.append((notes, ticks))
    if len(note_tracks) > 1:
        raise MelodyError("polyphonic", f"{path}: {len(note_tracks)} MIDI tracks with notes")
    if not note_tracks:
        raise MelodyError("empty", f"{path}: no notes")
    notes, end_ticks = note_tracks[0]
    notes.sort()
    events = [
        (start / ticks_per_quarter, (stop - start) / ticks_per_quarter, pitch, False)
        for start, stop, pitch in notes
    ]
    return build_melody(events, end_ticks / ticks_per_quarter, source=str(path))


def parse_melody_file(path: str | os.PathLike):
    """Parse a melody file with music21 (size-guarded); raises :class:`MelodyError`."""
    from music21 import converter

    source = Path(path)
    _check_size(source)
    if source.suffix.lower() == ".mxl":
        _check_archive(source)
    try:
        return converter.parse(source, forceSource=True, storePickle=False)
    except Exception as error:  # music21 raises many types for corrupt files
        detail = " ".join(str(error).split())[:200]  # one line, however music21 words it
        raise MelodyError(
            "unreadable", f"{source}: not a readable melody file ({type(error).__name__}: {detail})"
        ) from error


def _check_archive(source: Path) -> None:
    """Refuse a compressed MusicXML whose members inflate past the size limit (a zip bomb)."""
    import zipfile

    try:
        with zipfile.ZipFile(source) as archive:
            inflated = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as error:
        raise MelodyError(
            "unreadable", f"{source}: not a readable .mxl archive ({error})"
        ) from None
    # zipfile stops each member at its declared size, so the declared sizes bound the memory
    if inflated > MAX_FILE_BYTES:
        raise MelodyError(
            "too-large",
            f"{source}: inflates to {inflated} bytes, more than the {MAX_FILE_BYTES} allowed",
        )


def _check_size(source: Path) -> None:
    try:
        info = source.stat()
    except OSError as error:
        raise MelodyError("unreadable", f"{source}: cannot read ({error.strerror})") from error
    if not stat.S_ISREG(info.st_mode):  # a FIFO blocks forever, /dev/zero never ends
        raise MelodyError("unreadable", f"{source}: not a regular file")
    size = info.st_size
    if size > MAX_FILE_BYTES:
        raise MelodyError(
            "too-large", f"{source}: {size} bytes, more than the {MAX_FILE_BYTES} allowed"
        )


def read_file_melody(path: str | os.PathLike) -> Melody:
    """The :class:`Melody` of a MIDI / MusicXML / ABC / kern file; raises :class:`MelodyError`."""
    source = Path(path)
    _check_size(source)
    if source.suffix.lower() in MIDI_SUFFIXES:
        return _midi_melody(source)
    score = parse_melody_file(source)
    return melody_from_stream(score, source=str(source))


def read_melody(
    path: str | os.PathLike,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    steps_per_quarter: int = 4,
) -> np.ndarray:
    """Tokens of a monophonic MIDI / MusicXML / ABC / kern file, pitches as written.

    Raises :class:`MelodyError` naming the file. See the module docstring for normalisation.
    """
    source = Path(path)
    melody = read_file_melody(source)
    return melody_tokens(melody, vocabulary, steps_per_quarter, source=str(source))
