"""Piano rolls for the report: the environment's own ``rgb_array`` rendering, as PNG.

:func:`envs.rendering.piano_roll` is what ``env.render()`` shows (rows tinted for the key, notes
outside it in red, the primer's last note left of a divider), so the report and the env agree.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from pretrain.vocabulary import Vocabulary

__all__ = ["piano_roll_png"]

IMAGE_WIDTH = 340
"""Target width in pixels: every roll gets about the same shape whatever the melody's length."""
ROW_HEIGHT = 4


def piano_roll_png(
    tokens: np.ndarray, vocabulary: Vocabulary, *, key: str = "C major", primer: Sequence[int] = ()
) -> bytes:
    """PNG bytes of the composition's piano roll (all pitches of the vocabulary, high at top)."""
    from PIL import Image

    from envs.rendering import piano_roll
    from rewards.keys import key_tables

    image = piano_roll(
        [int(t) for t in tokens],
        len(tokens),
        key_tables(key, vocabulary),
        cell_width=max(2, IMAGE_WIDTH // (len(tokens) + 2)),  # + primer cell and divider
        row_height=ROW_HEIGHT,
        primer=list(primer),
    )
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()
