"""Sample groups of whole compositions from the native vector env, one primer per group.

Each batch resets the N compositions of a :class:`~envs.SequenceTutorVectorEnv` (or any
Gymnasium vector env with the same observation and ``info["reward_terms"]``) with
``reset(options={"primers": ...})``: ``N / k`` random in-key primers, each repeated ``k`` times,
so the ``k`` compositions of a group share their primer (RLOO's and GRPO's baselines compare
them). The policy acts step by step with its recurrent state carried (one RNN step per env
step); training then re-reads each finished composition in one pass.

The theory part of the reward comes from the env: it reports ``note_rnn = w · log p(a | s)``
among the reward terms, and its reward is ``r = r_theory / c + w · log p(a | s)``, so

    r_theory / c = r − info["reward_terms"]["note_rnn"]

for any ``w`` (also ``w = 0``). The KL-regularised per-step reward of PPO-KL and RLOO is then
``r_theory / c − β (log π(a | s) − log p(a | s))``, which for ``β = w`` equals
``r − w · log π(a | s)``: the env reward plus an entropy bonus of weight ``w`` (DESIGN.md,
"One objective").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from agents.policy import sample_actions
from agents.policy_gradient.actor import NoteRNNActor
from envs.vector import step_info


@dataclass
class CompositionBatch:
    """``N`` finished compositions, grouped: rows ``g·k .. g·k + k − 1`` share a primer."""

    tokens: torch.Tensor  # [N, 1 + T] int64: the primer's last token, then the T actions
    theory: torch.Tensor  # [N, T] float64: r_theory / c of every step
    env_rewards: np.ndarray  # [N] float64: sum of the env's rewards per composition
    group_size: int
    term_sums: dict[str, float] = field(default_factory=dict)  # mean per-composition sum of terms

    @property
    def num_compositions(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def melody_length(self) -> int:
        return int(self.tokens.shape[1]) - 1

    @property
    def inputs(self) -> torch.Tensor:
        """``[N, T]``: position ``t`` holds ``s_t``'s newest token (one RNN pass gives all)."""
        return self.tokens[:, :-1]

    @property
    def actions(self) -> torch.Tensor:
        return self.tokens[:, 1:]


def primer_choices(env) -> np.ndarray | None:
    """The in-key notes a SequenceTutor env draws primers from (None for other envs)."""
    tables = getattr(getattr(env, "unwrapped", env), "tables", None)
    return None if tables is None else np.asarray(tables.in_key_notes, dtype=np.int64)


class GroupSampler:
    """Step a vector env through ``N`` compositions in groups of ``k`` sharing a primer.

    :param env: a Gymnasium vector env of ``N`` Sequence Tutor compositions.
    :param actor: the policy (its live weights are read at every batch).
    :param group_size: ``k``; ``N`` must be a multiple of it.
    :param rng: the generator of primers and actions (part of an agent's training state).
    """

    def __init__(self, env, actor: NoteRNNActor, group_size: int, rng: np.random.Generator) -> None:
        self.env = env
        self.actor = actor
        self.group_size = int(group_size)
        self.rng = rng
        self.num_envs = int(env.num_envs)
        self.melody_length = int(env.single_observation_space.shape[0]) - 1
        self.choices = primer_choices(env)

    def sample(self, on_step=None) -> CompositionBatch:
        """One batch of ``N`` compositions; ``on_step()`` is called after every env step."""
        n, k, length = self.num_envs, self.group_size, self.melody_length
        options = None
        if self.choices is not None:
            heads = self.rng.choice(self.choices, size=n // k)
            options = {"primers": [[int(p)] for p in np.repeat(heads, k)]}
        obs, _ = self.env.reset(options=options)
        tokens = np.zeros((n, 1 + length), dtype=np.int64)
        tokens[:, 0] = obs[:, 0]
        theory = np.zeros((n, length))
        env_rewards = np.zeros(n)
        sums: dict[str, np.ndarray] = {}
        stepper = self.actor.stepper()
        logits, state = stepper.step(tokens[:, 0], stepper.initial(n))
        for t in range(length):
            actions = sample_actions(np.asarray(logits, dtype=np.float64), self.rng)
            _, rewards, _, _, info = self.env.step(actions)
            terms = step_info(info)["reward_terms"]
            rewards = np.asarray(rewards, dtype=np.float64)
            theory[:, t] = rewards - np.asarray(terms["note_rnn"], dtype=np.float64)
            env_rewards += rewards
            for name, value in terms.items():
                if not name.startswith("_"):
                    sums[name] = sums.get(name, 0.0) + np.asarray(value, dtype=np.float64)
            tokens[:, 1 + t] = actions
            if on_step is not None:
                on_step()
            if t + 1 < length:
                logits, state = stepper.step(actions, state)
        return CompositionBatch(
            tokens=torch.from_numpy(tokens),
            theory=torch.from_numpy(theory),
            env_rewards=env_rewards,
            group_size=k,
            term_sums={name: float(v.mean()) for name, v in sums.items()},
        )


__all__ = ["CompositionBatch", "GroupSampler", "primer_choices"]
