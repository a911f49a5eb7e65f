"""A compact piano roll (matplotlib, PNG) sized to sit under a composition's score."""

from __future__ import annotations

import io

import numpy as np

from pretrain.vocabulary import NO_EVENT, Vocabulary

__all__ = ["note_spans", "piano_roll_png"]


def note_spans(tokens: np.ndarray, vocabulary: Vocabulary) -> list[tuple[int, int, int]]:
    """(start step, length in steps, MIDI pitch) of every note in ``tokens``."""
    spans = []
    index = 0
    while index < len(tokens):
        stop = index + 1
        while stop < len(tokens) and tokens[stop] == NO_EVENT:
            stop += 1
        token = int(tokens[index])
        if vocabulary.is_note(token):
            spans.append((index, stop - index, vocabulary.token_to_pitch(token)))
        index = stop
    return spans


def piano_roll_png(
    tokens: np.ndarray, vocabulary: Vocabulary, *, colour: str = "#2a6fb0", steps_per_bar: int = 16
) -> bytes:
    """PNG bytes: one bar per note, pitch upwards, bar lines every ``steps_per_bar`` steps."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    spans = note_spans(np.asarray(tokens), vocabulary)
    length = max(len(tokens), 1)
    if spans:
        low = min(p for _, _, p in spans) - 2
        high = max(p for _, _, p in spans) + 2
    else:
        low, high = 58, 70
    figure = Figure(figsize=(4.8, 1.7), dpi=110, layout="constrained")
    ax = figure.subplots()
    for pitch in range(low, high + 1):  # black keys shaded, like a piano roll editor
        if pitch % 12 in (1, 3, 6, 8, 10):
            ax.axhspan(pitch - 0.5, pitch + 0.5, color="#f0f2f5", linewidth=0)
    for start, steps, pitch in spans:
        ax.broken_barh([(start, steps - 0.1)], (pitch - 0.4, 0.8), facecolors=colour)
    for bar in range(0, length + 1, steps_per_bar):
        ax.axvline(bar, color="#9aa3b0", linewidth=0.8)
    for beat in range(0, length + 1, steps_per_bar // 4 or 1):
        ax.axvline(beat, color="#d5dae1", linewidth=0.5, zorder=0)
    c_pitches = [p for p in range(low, high + 1) if p % 12 == 0]
    ax.set_yticks(c_pitches, [f"C{p // 12 - 1}" for p in c_pitches], fontsize=7)
    ax.set_xticks(range(0, length + 1, steps_per_bar))
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlim(0, length)
    ax.set_ylim(low - 0.5, high + 0.5)
    ax.set_xlabel("sixteenth-note steps", fontsize=7)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
