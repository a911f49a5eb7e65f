"""The algorithm names of every agent, and the KL-control agents' hyper-parameters, in one
dataclass (defaults: the paper's).

``sequence-tutor train`` derives its hyper-parameter flags and their help from
:class:`KLControlConfig`, :class:`~agents.kl_control.SequenceTutorDQN` takes its defaults from
it, and agent files store the fields by name.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pretrain.config import setting
from pretrain.errors import SequenceTutorError

#: The one list of every ``algo`` name: the KL-control DQN family, then the policy gradients.
KL_CONTROL_ALGORITHMS = ("q", "psi", "g")
POLICY_GRADIENT_ALGORITHMS = ("rloo", "grpo", "ppo-kl")
ALL_ALGORITHMS = (*KL_CONTROL_ALGORITHMS, *POLICY_GRADIENT_ALGORITHMS)
#: The algorithms of :class:`~agents.kl_control.SequenceTutorDQN` (the name it always had).
ALGORITHMS = KL_CONTROL_ALGORITHMS
LOSSES = ("mse", "huber")
EXPLORATIONS = ("boltzmann", "egreedy")
MAX_BUFFER_SIZE = 100_000_000  # a bound for files: a config may not make us allocate more


def check_algo(
    algo: Any, *, allowed: tuple[str, ...] = KL_CONTROL_ALGORITHMS, name: str = "algo"
) -> str:
    """``algo`` if it is one of ``allowed`` (default: the KL-control DQN's), else a one-line
    :class:`SequenceTutorError` naming ``name`` (a flag, a file, a field) and the choices.

    The one check of an ``algo`` value, wherever it comes from: ``train --algo``
    (``allowed=ALL_ALGORITHMS``), ``run.json``, an agent file, a policy-gradient agent file
    (``allowed=POLICY_GRADIENT_ALGORITHMS``), the DQN and its policy.
    """
    if algo not in allowed:
        raise SequenceTutorError(
            f"{name}: unknown algorithm {algo!r} (expected one of {', '.join(allowed)})"
        )
    return algo


@dataclass(frozen=True)
class KLControlConfig:
    """Hyper-parameters of :class:`~agents.kl_control.SequenceTutorDQN`.

    The defaults are the paper's and rl_tuner's (Jaques et al. 2017): Adam 1e-3, replay of 100k
    transitions, batch 32, soft target updates with τ = 0.01, γ = 0.5, a training step every 5
    env steps, gradient clip 5. SB3's DQN defaults differ on every one of them.
    """

    learning_rate: float = setting(1e-3, "Adam learning rate", flag="--lr", minimum=0)
    buffer_size: int = setting(
        100_000, "replay capacity in transitions", minimum=1, maximum=MAX_BUFFER_SIZE
    )
    learning_starts: int = setting(1_000, "env steps collected before learning", minimum=0)
    batch_size: int = setting(
        32,
        "transitions per gradient step (32 = one composition)",
        minimum=1,
        maximum=MAX_BUFFER_SIZE,
    )
    tau: float = setting(0.01, "Polyak coefficient after each optimiser step", minimum=0, maximum=1)
    gamma: float = setting(0.5, "discount", minimum=0, maximum=1)
    train_freq: int = setting(5, "env steps between training rounds", minimum=1)
    gradient_steps: int = setting(1, "optimiser steps per training round", minimum=1)
    loss: str = setting("mse", "TD loss (mse as rl_tuner, or huber)", choices=LOSSES)
    exploration: str | None = setting(
        None,
        "exploration: egreedy (Q-learning's default) or boltzmann; Psi and G always sample "
        "their Boltzmann policy",
        choices=EXPLORATIONS,
    )
    exploration_fraction: float = setting(
        0.1, "egreedy: fraction of training over which epsilon decays", minimum=0, maximum=1
    )
    exploration_initial_eps: float = setting(1.0, "egreedy: initial epsilon", minimum=0, maximum=1)
    exploration_final_eps: float = setting(0.05, "egreedy: final epsilon", minimum=0, maximum=1)
    temperature: float = setting(1.0, "Boltzmann temperature", above=0)
    note_rnn_weight: float | None = setting(
        None, "the reward's w (G-learning removes w log p from r); default: the env's"
    )
    max_grad_norm: float = setting(5.0, "gradient-norm clip", above=0)

    def check(self, algo: str) -> None:
        """Raise :class:`SequenceTutorError` for a combination that does not fit ``algo``."""
        if self.exploration == "egreedy" and algo != "q":
            raise SequenceTutorError(
                f"{algo}-learning acts by sampling its Boltzmann policy; ε-greedy is for Q only"
            )

    def replace(self, **changes: Any) -> KLControlConfig:
        """A copy with ``changes`` (None values are left out: "not given")."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


#: The defaults as a dict, e.g. for a table of the paper's settings.
PAPER_HYPERPARAMETERS: dict[str, Any] = dataclasses.asdict(KLControlConfig())

__all__ = [
    "ALGORITHMS",
    "ALL_ALGORITHMS",
    "EXPLORATIONS",
    "KL_CONTROL_ALGORITHMS",
    "LOSSES",
    "POLICY_GRADIENT_ALGORITHMS",
    "PAPER_HYPERPARAMETERS",
    "KLControlConfig",
    "check_algo",
]
