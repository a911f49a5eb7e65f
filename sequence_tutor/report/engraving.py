"""Scores engraved from MusicXML by Verovio (https://www.verovio.org), as SVG.

Verovio is a real music engraver (the one behind RISM and many digital editions), installed from
PyPI: ``pip install "sequence-tutor-gym[report]"`` (or ``pip install verovio``). Without it a
report still renders, with a notice in place of the scores.
"""

from __future__ import annotations

from pathlib import Path

from pretrain.errors import SequenceTutorError
from pretrain.vocabulary import Vocabulary

__all__ = ["Engraver", "find_engraver", "write_score_musicxml"]

# Every score gets the same page width (justified), so all are drawn at the same scale.
_OPTIONS = {
    "pageWidth": 1500,
    "adjustPageHeight": True,
    "scale": 40,
    "svgViewBox": True,  # lets CSS scale the score to its column
    "svgFormatRaw": True,
    "minLastJustification": 0,  # a two-bar melody is one (last) system: justify it anyway
    "header": "none",
    "footer": "none",
    "pageMarginTop": 30,
    "pageMarginBottom": 10,
    "pageMarginLeft": 10,
    "pageMarginRight": 10,
    "breaks": "auto",
}


class Engraver:
    """Engraves MusicXML files with one Verovio toolkit (reused: creating one loads fonts)."""

    def __init__(self) -> None:
        import verovio

        verovio.enableLog(verovio.LOG_OFF)
        self._toolkit = verovio.toolkit()
        self._toolkit.setOptions(_OPTIONS)
        self.version = self._toolkit.getVersion()

    def describe(self) -> str:
        return f"Verovio {self.version}"

    def engrave(self, musicxml: Path) -> str:
        """The first page of ``musicxml`` as a standalone SVG document (text)."""
        if not self._toolkit.loadFile(str(musicxml)):
            raise SequenceTutorError(f"{musicxml}: Verovio could not read this MusicXML file")
        pages = [
            self._toolkit.renderToSVG(page) for page in range(1, self._toolkit.getPageCount() + 1)
        ]
        if not pages or "<svg" not in pages[0]:
            raise SequenceTutorError(f"{musicxml}: Verovio produced no score")
        # Each page is its own <svg>; ids carry a per-render suffix, so several can share a page.
        return "\n".join(pages)


def write_score_musicxml(
    tokens: object, path: Path, vocabulary: Vocabulary, key: str = "C major"
) -> Path:
    """MusicXML of ``tokens`` for engraving, written atomically.

    Like :func:`pretrain.tokenizer.write_melody`, but without the explicit natural signs that
    music21 attaches to every white-key note built from a MIDI number (an engraver would print
    them all); music21 adds back the naturals a bar needs when it writes the file.
    """
    from pretrain.atomic_write import atomic_path
    from pretrain.tokenizer import tokens_to_stream

    score = tokens_to_stream(tokens, vocabulary, key)
    for element in score.recurse().notes:
        for pitch in element.pitches:
            if pitch.accidental is not None and pitch.accidental.name == "natural":
                pitch.accidental = None
    with atomic_path(path) as tmp:
        written = Path(score.write("musicxml", fp=tmp.with_suffix(".musicxml")))
        written.replace(tmp)
    return path


def find_engraver() -> Engraver | None:
    """An :class:`Engraver` when verovio is installed, else None."""
    try:
        return Engraver()
    except ImportError:
        return None
