"""Offline audio: MIDI rendered by FluidSynth with a General MIDI soundfont.

Debian/Ubuntu: ``apt-get install fluidsynth fluid-soundfont-gm`` (or the 6 MB
``timgm6mb-soundfont``). The ``fluidsynth`` binary is called with an argument list (never a
shell string) and a time limit. OGG Vorbis is written when FluidSynth's libsndfile supports it
(it does on Debian), WAV otherwise.

The lookup can be steered (or pointed at nothing, to test the no-audio path) with the
environment variables ``SEQUENCE_TUTOR_FLUIDSYNTH`` (the binary) and
``SEQUENCE_TUTOR_SOUNDFONT`` (an ``.sf2``/``.sf3`` file); an empty value means "none".
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pretrain.errors import SequenceTutorError

__all__ = ["SOUNDFONT_CANDIDATES", "Synthesizer", "find_synthesizer"]

SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",  # fluid-soundfont-gm (Debian, Ubuntu)
    "/usr/share/sounds/sf2/default-GM.sf2",  # Debian's alternatives link
    "/usr/share/sounds/sf3/default-GM.sf3",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",  # timgm6mb-soundfont
    "/usr/share/soundfonts/FluidR3_GM.sf2",  # Fedora, Arch
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/sounds/sf3/MuseScore_General.sf3",
    "/opt/homebrew/share/soundfonts/default.sf2",
    "/usr/local/share/soundfonts/default.sf2",
)
RENDER_TIMEOUT_S = 60
SAMPLE_RATE = 44100


@dataclass(frozen=True)
class Synthesizer:
    """A FluidSynth binary and the soundfont it plays."""

    binary: Path
    soundfont: Path

    def describe(self) -> str:
        return f"FluidSynth ({self.binary}) with {self.soundfont.name}"

    def render(self, midi: Path, out_stem: Path) -> tuple[Path, str]:
        """Render ``midi`` to ``out_stem``.ogg (or .wav); returns the file and its MIME type."""
        for suffix, file_type, mime in ((".ogg", "oga", "audio/ogg"), (".wav", "wav", "audio/wav")):
            target = out_stem.with_suffix(suffix)
            command = [
                str(self.binary),
                "-n",  # no MIDI input driver
                "-i",  # no interactive shell
                "-q",
                "-r",
                str(SAMPLE_RATE),
                "-g",
                "0.7",
                "-T",
                file_type,
                "-F",
                str(target),
                str(self.soundfont),
                str(midi),
            ]
            try:
                result = subprocess.run(
                    command, capture_output=True, timeout=RENDER_TIMEOUT_S, check=False
                )
            except (OSError, subprocess.TimeoutExpired) as error:
                raise SequenceTutorError(
                    f"{self.binary}: could not render {midi.name} ({error})"
                ) from error
            if result.returncode == 0 and target.is_file() and target.stat().st_size > 44:
                return target, mime
        message = (result.stderr or result.stdout).decode(errors="replace").strip().splitlines()
        raise SequenceTutorError(
            f"{self.binary}: rendering {midi.name} with {self.soundfont} failed"
            + (f" ({message[-1]})" if message else "")
        )


def _from_env(name: str) -> str | None:
    """The variable's value; '' when set empty (meaning: none); None when unset."""
    return os.environ.get(name)


def find_synthesizer(
    binary: str | os.PathLike | None = None, soundfont: str | os.PathLike | None = None
) -> Synthesizer | None:
    """FluidSynth and a GM soundfont if both are installed, else None.

    Explicit arguments win over ``SEQUENCE_TUTOR_FLUIDSYNTH`` / ``SEQUENCE_TUTOR_SOUNDFONT``,
    which win over ``PATH`` and the usual soundfont locations. An explicitly named soundfont that
    does not exist is an error (the user asked for it); a missing default is not.
    """
    if soundfont is not None and not Path(soundfont).is_file():
        raise SequenceTutorError(f"--soundfont {soundfont}: no such soundfont file (.sf2/.sf3)")
    binary_text = str(binary) if binary is not None else _from_env("SEQUENCE_TUTOR_FLUIDSYNTH")
    if binary_text is None:
        binary_text = shutil.which("fluidsynth") or ""
    elif binary_text and os.sep not in binary_text:
        binary_text = shutil.which(binary_text) or ""
    if not binary_text or not os.access(binary_text, os.X_OK) or Path(binary_text).is_dir():
        return None
    if soundfont is not None:
        return Synthesizer(Path(binary_text), Path(soundfont))
    font_text = _from_env("SEQUENCE_TUTOR_SOUNDFONT")
    candidates = (font_text,) if font_text is not None else SOUNDFONT_CANDIDATES
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Synthesizer(Path(binary_text), Path(candidate))
    return None
