"""The settings of ``SequenceTutor-v0`` a user chooses, in one dataclass (defaults: the paper's).

:class:`~envs.sequence_tutor.SequenceTutorEnv` and the vector env take their defaults from
:class:`EnvConfig`; ``sequence-tutor train`` derives its environment flags and help from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pretrain.config import setting

MAX_MELODY_LENGTH = 10_000  # keeps the autocorrelation rule's integer sums inside int64


@dataclass(frozen=True)
class EnvConfig:
    """What a composition is and how it is rewarded: ``r = r_theory / c + w · log p(a | s)``.

    The paper's setting: 32 sixteenth-note steps (two bars of 4/4) in C major, c = 0.5, w = 1.
    """

    key: str = setting("C major", "key (and mode) of the compositions, e.g. 'A minor'")
    melody_length: int = setting(
        32, "steps per composition (sixteenth notes)", minimum=1, maximum=MAX_MELODY_LENGTH
    )
    reward_scale: float = setting(0.5, "c: the theory rules' reward is divided by c", above=0)
    note_rnn_weight: float = setting(1.0, "w: weight of the Reward RNN's log p(a | s)")


__all__ = ["MAX_MELODY_LENGTH", "EnvConfig"]
