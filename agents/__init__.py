"""KL-control agents (Q, Psi, G-learning on SB3 DQN) and KL-regularised policy gradient (RLOO,
GRPO, PPO-KL), all from the Note RNN: policies, replay, agent files, sampling.

Public names are imported lazily so that ``sequence-tutor --help`` does not load torch and SB3::

    from agents import SequenceTutorDQN
    model = SequenceTutorDQN("NoteRNNPolicy", env, algo="psi")
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "SequenceTutorDQN": "agents.kl_control",
    "kl_control_targets": "agents.kl_control",
    "PAPER_HYPERPARAMETERS": "agents.kl_control",
    "NoteRNNPolicy": "agents.policy",
    "NoteRNNQNetwork": "agents.policy",
    "EpisodeReplayBuffer": "agents.episode_buffer",
    "load_agent": "agents.kl_control",
    "save_agent": "agents.agent_file",
    "load_agent_policy": "agents.agent_file",
    "shipped_agent": "agents.agent_file",
    "CheckpointCallback": "agents.callbacks",
    "RLOO": "agents.policy_gradient.rloo",
    "RLOOConfig": "agents.policy_gradient.rloo",
    "GRPO": "agents.policy_gradient.grpo",
    "GRPOConfig": "agents.policy_gradient.grpo",
    "PPOKL": "agents.policy_gradient.ppo_kl",
    "PPOKLConfig": "agents.policy_gradient.ppo_kl",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agents' has no attribute {name!r}")
