"""A replay buffer of whole compositions.

In Sequence Tutor every observation is a prefix of the finished composition, so a complete
episode is stored as its final token row (``1 + T`` ints) and its ``T`` rewards: ≈ 70× less memory
than SB3's ``(obs, next_obs)`` pairs. Training then runs the Q-network once over a composition
and gets ``Q(s_t, ·)`` for every step ``t`` (a recurrent net computes all prefixes in one pass),
instead of re-reading a padded 33-token melody for each of 32 sampled transitions.

The class is an SB3 :class:`~stable_baselines3.common.buffers.ReplayBuffer`: ``add`` takes SB3's
per-step transitions (any number of envs) and ``sample`` still returns
:class:`~stable_baselines3.common.type_aliases.ReplayBufferSamples` of single transitions, so
generic SB3 code keeps working; :meth:`EpisodeReplayBuffer.sample_episodes` is the fast path.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.buffers import BaseBuffer, ReplayBuffer
from stable_baselines3.common.type_aliases import ReplayBufferSamples
from stable_baselines3.common.vec_env import VecNormalize

from agents.policy import pad_token


class EpisodeBatch(NamedTuple):
    """Whole compositions sampled from the buffer (``E`` episodes of up to ``T`` steps).

    ``tokens[e]`` is the primer's last token followed by the actions, with 0 past the episode's
    end (masked by ``mask``); ``actions = tokens[:, 1:]``.
    """

    tokens: torch.Tensor  # [E, T + 1] int64
    rewards: torch.Tensor  # [E, T] float32
    dones: torch.Tensor  # [E, T] float32: 1 where s_{t+1} is terminal (no bootstrap)
    mask: torch.Tensor  # [E, T] bool: step t exists

    @property
    def actions(self) -> torch.Tensor:
        return self.tokens[:, 1:]


class EpisodeReplayBuffer(ReplayBuffer):
    """SB3 replay buffer that stores complete Sequence Tutor compositions.

    :param buffer_size: capacity in transitions (rounded down to whole episodes of ``T`` steps).
    :param observation_space: the env's token observation space (MultiDiscrete, PAD = vocab size).
    :param action_space: Discrete(vocab_size).
    :param device: torch device of sampled batches.
    :param n_envs: number of parallel envs feeding ``add``.
    :param optimize_memory_usage: must be False (episodes are already compact).
    :param handle_timeout_termination: a truncated episode (``info["TimeLimit.truncated"]``)
        bootstraps from its last state instead of treating it as terminal.
    """

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: torch.device | str = "auto",
        n_envs: int = 1,
        optimize_memory_usage: bool = False,
        handle_timeout_termination: bool = True,
    ) -> None:
        if optimize_memory_usage:
            raise ValueError("EpisodeReplayBuffer is already compact: optimize_memory_usage=False")
        # Skip ReplayBuffer.__init__: it would allocate (obs, next_obs) arrays for every step.
        BaseBuffer.__init__(self, buffer_size, observation_space, action_space, device, n_envs)
        self.optimize_memory_usage = False
        self.handle_timeout_termination = handle_timeout_termination
        self.pad = pad_token(observation_space)
        self.melody_length = int(observation_space.shape[0]) - 1
        self.capacity = max(1, buffer_size // self.melody_length)
        self.tokens = np.zeros((self.capacity, self.melody_length + 1), dtype=np.int16)
        self.rewards = np.zeros((self.capacity, self.melody_length), dtype=np.float32)
        self.lengths = np.zeros(self.capacity, dtype=np.int64)
        self.terminal = np.zeros(self.capacity, dtype=bool)
        self.pos = 0  # next episode slot
        self.full = False
        self._pending: list[list[float]] = [[] for _ in range(n_envs)]
        self.dropped_episodes = 0

    # -- SB3 interface ------------------------------------------------------------------------
    def size(self) -> int:
        """Number of stored transitions."""
        return int(self.lengths[: self.num_episodes].sum())

    @property
    def num_episodes(self) -> int:
        return self.capacity if self.full else self.pos

    def reset(self) -> None:
        super().reset()
        self.lengths[:] = 0
        self._pending = [[] for _ in range(self.n_envs)]

    def add(
        self,
        obs: np.ndarray,
        next_obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        done: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        """Record one step of every env; an episode enters the buffer when it ends.

        ``next_obs`` of a finished episode must be its terminal observation (SB3's
        ``_store_transition`` substitutes it for the auto-reset one).
        """
        reward = np.asarray(reward, dtype=np.float32).reshape(self.n_envs)
        done = np.asarray(done).reshape(self.n_envs)
        next_obs = np.asarray(next_obs).reshape(self.n_envs, -1)
        for env in range(self.n_envs):
            self._pending[env].append(float(reward[env]))
            if done[env]:
                truncated = bool(infos[env].get("TimeLimit.truncated", False))
                terminal = not (self.handle_timeout_termination and truncated)
                self._store_episode(next_obs[env], self._pending[env], terminal)
                self._pending[env] = []

    def _store_episode(self, final_obs: np.ndarray, rewards: list[float], terminal: bool) -> None:
        length = int((final_obs != self.pad).sum()) - 1
        if length < 1 or length != len(rewards):
            # Joined mid-episode (e.g. just after loading a checkpoint): the prefix is unknown.
            self.dropped_episodes += 1
            return
        row = np.where(final_obs == self.pad, 0, final_obs)
        self.tokens[self.pos] = row
        self.rewards[self.pos] = 0.0
        self.rewards[self.pos, :length] = rewards
        self.lengths[self.pos] = length
        self.terminal[self.pos] = terminal
        self.pos += 1
        if self.pos == self.capacity:
            self.full, self.pos = True, 0

    def sample_episodes(self, num_episodes: int) -> EpisodeBatch | None:
        """``num_episodes`` compositions drawn uniformly with replacement (None if empty)."""
        stored = self.num_episodes
        if stored == 0:
            return None
        # SB3 seeds the global NumPy RNG (set_random_seed); sample with it as its buffers do.
        index = np.random.randint(0, stored, size=num_episodes)  # noqa: NPY002
        lengths = self.lengths[index]
        steps = np.arange(self.melody_length)
        mask = steps[None, :] < lengths[:, None]
        dones = (steps[None, :] == lengths[:, None] - 1) & self.terminal[index, None]
        return EpisodeBatch(
            tokens=torch.as_tensor(self.tokens[index].astype(np.int64), device=self.device),
            rewards=torch.as_tensor(self.rewards[index], device=self.device),
            dones=torch.as_tensor(dones, dtype=torch.float32, device=self.device),
            mask=torch.as_tensor(mask, device=self.device),
        )

    def sample(self, batch_size: int, env: VecNormalize | None = None) -> ReplayBufferSamples:
        """SB3-style single transitions, drawn uniformly over all stored steps."""
        stored = self.num_episodes
        if stored == 0:
            raise ValueError("the replay buffer holds no complete episode yet")
        lengths = self.lengths[:stored]
        flat = np.random.randint(0, int(lengths.sum()), size=batch_size)  # noqa: NPY002
        ends = np.cumsum(lengths)
        episode = np.searchsorted(ends, flat, side="right")
        step = flat - (ends[episode] - lengths[episode])
        return self.transitions(episode, step)

    def transitions(self, episode: np.ndarray, step: np.ndarray) -> ReplayBufferSamples:
        """Rebuild SB3 transitions ``(s_t, a_t, s_{t+1}, done, r_t)`` from stored episodes."""
        width = self.melody_length + 1
        columns = np.arange(width)[None, :]
        tokens = self.tokens[episode].astype(np.int64)
        obs = np.where(columns <= step[:, None], tokens, self.pad)
        next_obs = np.where(columns <= step[:, None] + 1, tokens, self.pad)
        actions = tokens[np.arange(len(step)), step + 1].reshape(-1, 1)
        dones = (step == self.lengths[episode] - 1) & self.terminal[episode]
        rewards = self.rewards[episode, step]
        data = (obs, actions, next_obs, dones.astype(np.float32)[:, None], rewards[:, None])
        return ReplayBufferSamples(*tuple(map(self.to_torch, data)))

    # -- checkpoints ---------------------------------------------------------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        """Stored episodes as plain arrays (for safetensors checkpoints)."""
        return {
            "tokens": self.tokens,
            "rewards": self.rewards,
            "lengths": self.lengths,
            "terminal": self.terminal.astype(np.uint8),
            "cursor": np.array([self.pos, int(self.full)], dtype=np.int64),
        }

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state_arrays` returned; episodes in progress are dropped."""
        if arrays["tokens"].shape != self.tokens.shape:
            raise ValueError(
                f"replay buffer of shape {tuple(arrays['tokens'].shape)} does not match "
                f"{tuple(self.tokens.shape)} (different buffer size or melody length)"
            )
        self.tokens[:] = arrays["tokens"]
        self.rewards[:] = arrays["rewards"]
        self.lengths[:] = arrays["lengths"]
        self.terminal[:] = arrays["terminal"].astype(bool)
        self.pos, full = (int(v) for v in arrays["cursor"])
        self.full = bool(full)
        self._pending = [[] for _ in range(self.n_envs)]


__all__ = ["EpisodeBatch", "EpisodeReplayBuffer"]
