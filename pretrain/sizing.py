"""How big a Note RNN is: parameter counts, and the width that fits a parameter budget.

The RHN study sizes every model to the paper's LSTM (1 x 100 units, 59 838 parameters with the
38-token vocabulary); ``sequence-tutor pretrain --parameters N`` uses the same arithmetic.
"""

from __future__ import annotations

import math

LSTM_REFERENCE_HIDDEN = 100  # the paper's Note RNN: 1 x 100
MIN_HIDDEN = 8  # narrower deep-transition models are too small to be worth training
TRANSITION_BLOCKS = {"rhn": 2, "dtrnn": 1}  # pre-activation blocks of H per micro-layer


def transition_parameters(kind: str, hidden: int, depth: int, vocab_size: int) -> int:
    """Parameter count of an RHN or DT-RNN Note RNN (``g`` = 2 blocks for the RHN, 1 for the DT-RNN).

    Input ``V * gH``, recurrent ``L * H * gH``, biases ``L * gH``, output ``H V + V``.
    """
    g = TRANSITION_BLOCKS[kind]
    return (
        g * depth * hidden * hidden
        + (g * vocab_size + g * depth + vocab_size) * hidden
        + vocab_size
    )


def hidden_for_parameters(kind: str, target: int, depth: int, vocab_size: int) -> int:
    """Largest RHN or DT-RNN width whose parameter count does not exceed ``target`` (at least 1)."""
    g = TRANSITION_BLOCKS[kind]
    a = g * depth
    b = g * vocab_size + g * depth + vocab_size
    c = vocab_size - target
    hidden = max(1, int((-b + math.sqrt(max(b * b - 4 * a * c, 0.0))) / (2 * a)))
    while hidden > 1 and transition_parameters(kind, hidden, depth, vocab_size) > target:
        hidden -= 1  # floating-point rounding at the boundary
    while transition_parameters(kind, hidden + 1, depth, vocab_size) <= target:
        hidden += 1
    return hidden


def lstm_parameters(hidden: int, vocab_size: int, layers: int = 1) -> int:
    """Parameter count of an LSTM Note RNN of ``layers`` x ``hidden`` units."""
    total = 0
    inputs = vocab_size
    for _ in range(layers):
        total += 4 * hidden * (inputs + hidden) + 8 * hidden
        inputs = hidden
    return total + hidden * vocab_size + vocab_size


__all__ = [
    "LSTM_REFERENCE_HIDDEN",
    "MIN_HIDDEN",
    "TRANSITION_BLOCKS",
    "hidden_for_parameters",
    "lstm_parameters",
    "transition_parameters",
]
