"""KL-regularised policy gradient from the Note RNN: RLOO, GRPO and PPO-KL.

Every agent starts with ``π = p`` (a trainable copy of the Note RNN; a frozen copy is the prior)
and maximises the objective of DESIGN.md, ``J = E[Σ_t r_theory / c] − w · E[Σ_t KL(π ‖ p)]``::

    from agents.policy_gradient import RLOO, RLOOConfig
    model = RLOO(None, RLOOConfig(group_size=4, num_primers=8))  # builds SequenceTutor-v0 x 32
    model.learn(100_000)

Public names are imported lazily (torch and SB3 load on first use).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "RLOO": "agents.policy_gradient.rloo",
    "RLOOConfig": "agents.policy_gradient.rloo",
    "rloo_advantages": "agents.policy_gradient.rloo",
    "GRPO": "agents.policy_gradient.grpo",
    "GRPOConfig": "agents.policy_gradient.grpo",
    "group_advantages": "agents.policy_gradient.grpo",
    "PPOKL": "agents.policy_gradient.ppo_kl",
    "PPOKLConfig": "agents.policy_gradient.ppo_kl",
    "NoteRNNActorCriticPolicy": "agents.policy_gradient.ppo_kl",
    "NoteRNNActor": "agents.policy_gradient.actor",
    "AdaptiveKLController": "agents.policy_gradient.kl",
    "FixedKLController": "agents.policy_gradient.kl",
    "categorical_kl": "agents.policy_gradient.kl",
    "k3_kl": "agents.policy_gradient.kl",
    "GroupSampler": "agents.policy_gradient.rollout",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agents.policy_gradient' has no attribute {name!r}")
