"""Piano-roll figures of compositions (matplotlib, no display needed)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from pretrain.atomic_write import atomic_path
from pretrain.vocabulary import DEFAULT_VOCABULARY, NO_EVENT, Vocabulary


def roll(tokens: np.ndarray, vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> np.ndarray:
    """``[num_pitches, T]`` image: 1 at a note's onset, 0.6 while it is held, 0 elsewhere."""
    image = np.zeros((vocabulary.num_pitches, len(tokens)))
    current = -1
    for t, token in enumerate(tokens):
        if token >= 2:
            current = int(token) - 2
            image[current, t] = 1.0
        elif token == NO_EVENT and current >= 0:
            image[current, t] = 0.6
        else:
            current = -1
    return image


_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def pitch_name(midi: int) -> str:
    """Scientific pitch name of a MIDI number: 60 -> ``"C4"``, 61 -> ``"C#4"``."""
    return f"{_NAMES[midi % 12]}{midi // 12 - 1}"


def pitch_ticks(low: int, high: int) -> list[int]:
    """Whole MIDI numbers to label between ``low`` and ``high``: the Cs and Gs, or every
    pitch when the range holds fewer than two of them."""
    ticks = [p for p in range(low, high + 1) if p % 12 in (0, 7)]
    return ticks if len(ticks) >= 2 else list(range(low, high + 1))


def plot_piano_rolls(
    compositions: Mapping[str, np.ndarray],
    path: str | os.PathLike,
    *,
    per_agent: int = 4,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
) -> Path:
    """One row per agent, ``per_agent`` compositions each; written atomically as PNG."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    names = list(compositions)
    columns = max(1, min(per_agent, max(len(v) for v in compositions.values())))
    fig, axes = plt.subplots(
        len(names), columns, figsize=(3.2 * columns, 2.2 * len(names)), squeeze=False
    )
    for r, name in enumerate(names):
        rows = compositions[name]
        for c in range(columns):
            ax = axes[r][c]
            if c < len(rows):
                image = roll(np.asarray(rows[c]), vocabulary)
                used = np.flatnonzero(image.any(axis=1))
                low = max(0, (used.min() if used.size else 12) - 2)
                high = min(vocabulary.num_pitches, (used.max() if used.size else 24) + 3)
                ax.imshow(
                    image[low:high],
                    origin="lower",
                    aspect="auto",
                    cmap="Greys",
                    vmin=0,
                    vmax=1,
                    extent=(
                        -0.5,
                        image.shape[1] - 0.5,
                        vocabulary.min_pitch + low - 0.5,
                        vocabulary.min_pitch + high - 0.5,
                    ),
                )
                for beat in range(0, image.shape[1] + 1, 4):
                    ax.axvline(beat - 0.5, color="#ccc", lw=0.5)
                ticks = pitch_ticks(vocabulary.min_pitch + low, vocabulary.min_pitch + high - 1)
                ax.set_yticks(ticks, [pitch_name(p) for p in ticks])
            else:
                ax.axis("off")
            if c == 0:
                ax.set_ylabel(f"{name}\npitch")
            ax.tick_params(labelsize=7)
    fig.suptitle("Sampled compositions (sixteenth-note steps)")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return path


__all__ = ["pitch_name", "pitch_ticks", "plot_piano_rolls", "roll"]
