"""What ``sequence-tutor train`` needs of the policy-gradient agents: build or resume one by name,
periodic resumable checkpoints, and a sampler of a saved agent's policy.

A checkpoint ``step_N/`` holds ``agent`` (:meth:`save`) and ``training``
(:meth:`save_training_state`), written between batches (RLOO, GRPO) or rollouts (PPO-KL), where
resuming continues the run bit for bit; ``latest.json`` points at the newest, as for the DQN
family (:func:`agents.training_state.latest_checkpoint` reads both).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.callbacks import BaseCallback

from agents.agent_file import agent_paths, read_json
from agents.config import POLICY_GRADIENT_ALGORITHMS, check_algo
from agents.policy_gradient import checkpoint as ckpt
from agents.training_state import checkpoint_folder

PG_ALGORITHMS = POLICY_GRADIENT_ALGORITHMS  # the name this module always had

__all__ = [
    "PG_ALGORITHMS",
    "ActorSampler",
    "PolicyGradientCheckpointCallback",
    "agent_class",
    "config_class",
    "is_pg_agent_file",
    "load_pg_sampler",
    "write_pg_checkpoint",
]


def agent_class(algo: str) -> type:
    """The agent class of ``algo`` (one of :data:`~agents.config.POLICY_GRADIENT_ALGORITHMS`)."""
    from agents.policy_gradient import GRPO, PPOKL, RLOO  # noqa: PLC0415

    return {"rloo": RLOO, "grpo": GRPO, "ppo-kl": PPOKL}[algo]


def config_class(algo: str) -> type:
    """The hyper-parameter dataclass of ``algo``."""
    from agents.policy_gradient import GRPOConfig, PPOKLConfig, RLOOConfig  # noqa: PLC0415

    return {"rloo": RLOOConfig, "grpo": GRPOConfig, "ppo-kl": PPOKLConfig}[algo]


def write_pg_checkpoint(
    model: Any, folder: str | os.PathLike, *, metadata: dict | None = None, keep: int = 2
) -> Path:
    """Write ``folder/step_N/{agent,training}``, point ``latest.json`` at it, keep ``keep``
    (:func:`agents.training_state.checkpoint_folder`, the DQN family's protocol)."""

    def write(target: Path) -> None:
        model.save_training_state(target / "training")
        model.save(target / "agent", metadata=metadata)

    return checkpoint_folder(folder, int(model.num_timesteps), write, keep=keep)


class PolicyGradientCheckpointCallback(BaseCallback):
    """A checkpoint about every ``save_freq`` env steps, at the start of the next batch or
    rollout (the previous update done: an exact resume point), and at the end of ``learn``."""

    def __init__(self, folder: str | os.PathLike, save_freq: int, metadata: dict) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.save_freq = int(save_freq)
        self.metadata = metadata
        self._next = 0
        self.last_written: int | None = None

    def _on_training_start(self) -> None:
        self._next = (self.model.num_timesteps // self.save_freq + 1) * self.save_freq

    def _write(self) -> None:
        write_pg_checkpoint(self.model, self.folder, metadata=self.metadata)
        self.last_written = int(self.model.num_timesteps)
        self._next = (self.model.num_timesteps // self.save_freq + 1) * self.save_freq

    def _on_rollout_start(self) -> None:
        if self.model.num_timesteps >= self._next:
            self._write()

    def _on_step(self) -> bool:
        return True


def is_pg_agent_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` (a run folder, ``NAME`` or ``NAME.json``) is a policy-gradient agent."""
    _, config_path = agent_paths(path)
    if not config_path.is_file():  # a FIFO or a device would block the read or never end
        return False
    try:
        with open(config_path, encoding="utf-8") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return f'"format": "{ckpt.FORMAT}"' in head


class ActorSampler:
    """:func:`agents.sampling.sample`'s sampler protocol over a policy-gradient actor: π is the
    softmax of the actor's Note RNN logits."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor.eval()

    @torch.no_grad()
    def run(
        self, primers: torch.Tensor, length: int, generator: torch.Generator, *, full_primer: bool
    ) -> torch.Tensor:
        from agents.sampling import note_rnn_sampler  # noqa: PLC0415

        return note_rnn_sampler(self.actor.rnn).run(
            primers, length, generator, full_primer=full_primer
        )


def load_pg_sampler(path: str | os.PathLike) -> tuple[ActorSampler, dict]:
    """``(sampler, meta)`` of a saved policy-gradient agent (no env is built)."""
    from agents.policy_gradient.actor import NoteRNNActor  # noqa: PLC0415

    _, config_path = agent_paths(path)
    algo = read_json(config_path, ckpt.FORMAT, "policy-gradient agent").get("algo")
    check_algo(algo, allowed=POLICY_GRADIENT_ALGORITHMS, name=str(config_path))
    meta, tensors = ckpt.read_pg_agent(path, algo)
    pad = meta["note_rnn_config"].vocab_size  # the observation's PAD is the vocabulary size
    actor = NoteRNNActor(meta["note_rnn_config"], pad, value_head=algo == "ppo-kl")
    ckpt.load_network(actor, tensors, path)
    return ActorSampler(actor), meta
