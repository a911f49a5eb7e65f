"""ABC tunes -> :class:`~pretrain.tokenizer.Melody`, fast.

music21 parses an ABC file in two stages: :class:`music21.abcFormat.ABCHandler` turns the text
into tokens that already carry pitch names (key signature and accidentals applied) and quarter
lengths, then ``abcFormat.translate`` builds measures, spanners, clefs and beams from them. The
second stage is most of the cost (``makeBeams`` alone is two thirds of it) and a monophonic
melody needs none of it, so :func:`abc_tune_melody` reads notes straight from the handler's
tokens, about ten times faster. :func:`abc_tune_stream` is the full music21 parse of the same
text (with beaming switched off), the reference the fast path is tested against.

Two pitfalls of music21's ABC reader are handled here:

* music21 takes the ABC version from the first 100 characters of the text only, and below
  version 2.0 it does not carry an accidental through the rest of its bar. Essen tunes rely on
  the ABC 2.1 rule (e.g. ``essenFolksong/ballad30.abc`` tune 158), so :func:`split_abc_tunes`
  prefixes *each* tune with ``%abc-2.1``.
* A file is split into tunes at ``X:`` lines so that one malformed tune cannot sink the file.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from functools import lru_cache

from pretrain.tokenizer import Melody, MelodyError, build_melody

__all__ = ["ABC_VERSION_LINE", "abc_tune_melody", "abc_tune_stream", "split_abc_tunes"]

ABC_VERSION_LINE = "%abc-2.1"
_TUNE_START = re.compile(r"^X:", re.MULTILINE)
_HEADER_FIELD = re.compile(r"^(?:[A-Za-z]:|%%).*$", re.MULTILINE)


def split_abc_tunes(text: str) -> list[str]:
    """The tunes of an ABC file, each starting with ``%abc-2.1`` and its ``X:`` line.

    Field lines of the file header (before the first ``X:``) apply to every tune, as in the
    ABC standard, so they are copied into each tune after its ``X:`` line.
    """
    starts = [match.start() for match in _TUNE_START.finditer(text)]
    if not starts:
        # a single tune written without its reference number is still a tune
        if re.search(r"^K:", text, re.MULTILINE):
            return [f"{ABC_VERSION_LINE}\nX:1\n{text.strip()}\n"]
        return []
    header = "\n".join(
        line
        for line in _HEADER_FIELD.findall(text[: starts[0]])
        if not line.startswith(("X:", "%abc"))
    )
    tunes = []
    for index, start in enumerate(starts):
        stop = starts[index + 1] if index + 1 < len(starts) else len(text)
        tune = text[start:stop].strip()
        if header:
            first_line, _, rest = tune.partition("\n")
            tune = f"{first_line}\n{header}\n{rest}"
        tunes.append(f"{ABC_VERSION_LINE}\n{tune}\n")
    return tunes


@lru_cache(maxsize=512)
def _midi_of(pitch_name: str) -> int:
    from music21 import pitch

    return pitch.Pitch(pitch_name).midi


def _note_midi(pitch_name: str, source: str) -> int:
    """The MIDI number of a pitch name from the file; music21 failing to read it (an
    ``AccidentalException`` on ``^#n``, say) makes the tune unreadable, like a failed parse."""
    try:
        return _midi_of(pitch_name)
    except Exception as error:  # music21 raises several types on a malformed pitch name
        raise MelodyError(
            "unreadable",
            f"{source}: pitch {pitch_name!r} not readable ({type(error).__name__}: {error})",
        ) from error


_SHARED_KEYS: dict = {}
_SHARED_METERS: dict = {}


@contextlib.contextmanager
def _shared_key_and_meter_objects() -> Iterator[None]:
    """Let music21's ABC tokenizer reuse one Key per (sharps, mode) and one TimeSignature per meter.

    ``ABCHandler.tokenProcess`` builds a ``key.Key`` (with its scale's interval network) and a
    ``meter.TimeSignature`` for every tune: 40 % of the token time. It only reads them, and so
    does the fast path, so sharing is safe here; the full parse (:func:`abc_tune_stream`) puts
    them into streams and must not share them, so the patch lives only inside this block.
    """
    from music21 import abcFormat, key

    original_as_key = key.KeySignature.asKey
    original_meter = abcFormat.ABCMetadata.getTimeSignatureObject

    def as_key(self, mode=None, tonic=None):
        if tonic is not None:
            return original_as_key(self, mode, tonic)
        cache_key = (self.sharps, mode)
        if cache_key not in _SHARED_KEYS:
            _SHARED_KEYS[cache_key] = original_as_key(self, mode)
        return _SHARED_KEYS[cache_key]

    def time_signature(self):
        if self.data not in _SHARED_METERS:
            _SHARED_METERS[self.data] = original_meter(self)
        return _SHARED_METERS[self.data]

    key.KeySignature.asKey = as_key  # type: ignore[method-assign]
    abcFormat.ABCMetadata.getTimeSignatureObject = time_signature  # type: ignore[method-assign]
    try:
        yield
    finally:
        key.KeySignature.asKey = original_as_key  # type: ignore[method-assign]
        abcFormat.ABCMetadata.getTimeSignatureObject = original_meter  # type: ignore[method-assign]


def _handler(text: str, source: str, *, share_objects: bool = False):
    from music21 import abcFormat

    handler = abcFormat.ABCHandler(abcVersion=(2, 1, 0))
    sharing = _shared_key_and_meter_objects() if share_objects else contextlib.nullcontext()
    try:
        with sharing:
            handler.process(text)
    except Exception as error:  # music21 raises several types on malformed ABC
        raise MelodyError(
            "unreadable", f"{source}: ABC not readable ({type(error).__name__}: {error})"
        ) from error
    return handler


def abc_tune_melody(text: str, *, source: str = "ABC tune") -> Melody:
    """The melody of one ABC tune, read from music21's ABC tokens (the fast path).

    Equivalent to ``melody_from_stream(abc_tune_stream(text))``: grace notes and chord
    symbols are dropped, ties merged, tuplets scaled; chords and several voices are polyphonic.
    """
    from music21 import abcFormat

    handler = _handler(text, source, share_objects=True)
    voices = set()
    events: list[tuple[float, float, int, bool]] = []
    offset = 0.0
    for token in handler.tokens:
        if isinstance(token, abcFormat.ABCMetadata):
            if token.isVoice():
                voices.add(token.data.split()[0] if token.data.split() else "")
                if len(voices) > 1:
                    raise MelodyError("polyphonic", f"{source}: several voices (V: fields)")
            continue
        if not isinstance(token, abcFormat.ABCNote) or token.inGrace:
            continue
        duration = float(token.quarterLength)
        if token.activeTuplet is not None:
            duration *= float(token.activeTuplet.tupletMultiplier())
        if isinstance(token, abcFormat.ABCChord):
            if not token.subTokens:
                continue
            pitches = {_note_midi(sub.pitchName, source) for sub in token.subTokens}
            if len(pitches) != 1:
                raise MelodyError(
                    "polyphonic", f"{source}: a chord of {len(pitches)} notes at beat {offset:g}"
                )
            if duration > 0:
                # music21's translator does not carry ties onto chords; neither do we
                events.append((offset, duration, pitches.pop(), False))
        elif not token.isRest and token.pitchName is not None and duration > 0:
            tied = token.tie in ("stop", "continue")
            events.append((offset, duration, _note_midi(token.pitchName, source), tied))
        offset += max(duration, 0.0)
    return build_melody(events, offset, source=source)


def abc_tune_stream(text: str, *, source: str = "ABC tune"):
    """The full music21 parse of one ABC tune (a Score), without beam layout.

    Slow (~10x :func:`abc_tune_melody`); the reference for tests and for ABC that the fast
    path does not cover.
    """
    from music21 import abcFormat, stream

    handler = _handler(text, source)
    original = stream.Stream.makeBeams
    # Beams are notation only; music21 calls makeBeams unconditionally and it costs 2/3 of the parse.
    stream.Stream.makeBeams = lambda self, *args, **kwargs: self  # type: ignore[method-assign]
    try:
        return abcFormat.translate.abcToStreamScore(handler)
    except Exception as error:
        raise MelodyError(
            "unreadable", f"{source}: ABC not readable ({type(error).__name__}: {error})"
        ) from error
    finally:
        stream.Stream.makeBeams = original  # type: ignore[method-assign]
