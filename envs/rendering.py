"""Pictures of a composition: note names on a step grid (``"ansi"``) and a piano roll (``"rgb_array"``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pretrain.vocabulary import NO_EVENT, NOTE_OFF, Vocabulary
from rewards.keys import KeyTables

__all__ = ["ansi_grid", "note_name", "piano_roll"]

_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
STEPS_PER_BEAT = 4  # one step is a sixteenth note
CELL_WIDTH = 5


def note_name(token: int, vocabulary: Vocabulary) -> str:
    """``"C4"`` for a note token, ``"-"`` for NO_EVENT (hold), ``"."`` for NOTE_OFF (rest)."""
    if token == NO_EVENT:
        return "-"
    if token == NOTE_OFF:
        return "."
    pitch = vocabulary.token_to_pitch(token)
    return f"{_NAMES[pitch % 12]}{pitch // 12 - 1}"


def ansi_grid(
    primer: Sequence[int],
    tokens: Sequence[int],
    length: int,
    tables: KeyTables,
    *,
    steps_per_bar: int = 16,
) -> str:
    """The composition as text: a header, then rows of one bar, a 4-character cell per step.

    ``-`` holds the previous note, ``.`` is a rest, ``*`` marks a note outside the key and
    ``_`` a step still to come::

        SequenceTutor-v0  C major  step 3/32  primer: G4
             |1               |2               |3               |4
          0  |C4  -   E4* _   _   _   _   _   _   _   _   _   _   _   _   _
    """
    vocabulary = tables.vocabulary
    lines = [
        f"SequenceTutor-v0  {tables.name}  step {len(tokens)}/{length}  primer: "
        + " ".join(note_name(int(t), vocabulary) for t in primer)
    ]
    beats = "".join(
        f"|{beat + 1:<{STEPS_PER_BEAT * CELL_WIDTH - 1}}"
        for beat in range(steps_per_bar // STEPS_PER_BEAT)
    )
    lines.append(" " * 5 + beats.rstrip())
    for start in range(0, length, steps_per_bar):
        cells = []
        for step in range(start, min(start + steps_per_bar, length)):
            if step < len(tokens):
                token = int(tokens[step])
                name = note_name(token, vocabulary) + ("" if tables.in_key[token] else "*")
            else:
                name = "_"
            cells.append(f"{name:<{CELL_WIDTH}}")
        lines.append(f"{start:>3}  |" + "".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def piano_roll(
    tokens: Sequence[int],
    length: int,
    tables: KeyTables,
    *,
    cell_width: int = 8,
    row_height: int = 4,
    primer: Sequence[int] = (),
) -> np.ndarray:
    """The composition as an ``uint8[H, W, 3]`` image: one row per pitch (high at the top),
    ``cell_width`` pixels per step; the primer's last note is drawn left of a divider.

    Notes are blue (red outside the key) from their note-on to the next note-on or NOTE_OFF,
    with a dark onset; rows of in-key pitches are tinted; a line marks each beat and bar.
    """
    vocabulary = tables.vocabulary
    rows = vocabulary.num_pitches
    columns = length + 2  # primer cell and a divider
    image = np.full((rows * row_height, columns * cell_width, 3), 255, dtype=np.uint8)
    pitches_in_key = tables.in_key[2:][::-1]  # row 0 = highest pitch
    for row in np.flatnonzero(pitches_in_key):
        image[row * row_height : (row + 1) * row_height] = (238, 242, 246)
    for step in range(0, length + 1, STEPS_PER_BEAT):
        shade = 150 if step % (4 * STEPS_PER_BEAT) == 0 else 215
        x = (step + 2) * cell_width
        image[:, min(x, image.shape[1] - 1)] = shade
    image[:, 2 * cell_width - 2 : 2 * cell_width] = 90  # divider after the primer

    def draw(row: int, first_cell: int, last_cell: int, colour, onset) -> None:
        y0, y1 = row * row_height + 1, (row + 1) * row_height - 1
        x0, x1 = first_cell * cell_width + 1, last_cell * cell_width - 1
        image[y0:y1, x0:x1] = colour
        image[y0:y1, x0 : x0 + 2] = onset

    if len(primer):
        token = int(primer[-1])
        if vocabulary.is_note(token):
            draw(vocabulary.num_pitches - 1 - (token - 2), 0, 1, (150, 150, 150), (90, 90, 90))
    step = 0
    tokens = [int(t) for t in tokens]
    while step < len(tokens):
        end = step + 1
        while end < len(tokens) and tokens[end] == NO_EVENT:
            end += 1
        token = tokens[step]
        if vocabulary.is_note(token):
            in_key = tables.in_key[token]
            colour = (66, 110, 200) if in_key else (210, 70, 60)
            onset = (20, 40, 110) if in_key else (120, 20, 20)
            draw(vocabulary.num_pitches - 1 - (token - 2), step + 2, end + 2, colour, onset)
        step = end
    return image
