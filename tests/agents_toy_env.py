"""A tiny stand-in for SequenceTutor-v0 with the same observation layout (tests only)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

VOCAB = 38
PAD = VOCAB


class ToyMelodyEnv(gym.Env):
    """Observation: [primer, a_0, ..., a_{T-1}] with PAD past the current step; T steps.

    Reward: +1 for an even token, -1 for an odd one, reported as reward_terms
    {"even": ±1, "note_rnn": 0.0} (so the theory part is the whole reward).
    """

    metadata = {"render_modes": []}

    def __init__(self, melody_length: int = 4) -> None:
        self.melody_length = melody_length
        self.note_rnn_weight = 1.0
        self.observation_space = spaces.MultiDiscrete(np.full(1 + melody_length, VOCAB + 1))
        self.action_space = spaces.Discrete(VOCAB)
        self._obs = np.full(1 + melody_length, PAD, dtype=np.int64)
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._obs = np.full(1 + self.melody_length, PAD, dtype=np.int64)
        self._obs[0] = int(self.np_random.integers(2, VOCAB))
        self._t = 0
        return self._obs.copy(), {}

    def step(self, action):
        action = int(action)
        self._obs[1 + self._t] = action
        self._t += 1
        even = 1.0 if action % 2 == 0 else -1.0
        terminated = self._t == self.melody_length
        info = {"reward_terms": {"even": even, "note_rnn": 0.0}, "step": self._t - 1}
        return self._obs.copy(), even, terminated, False, info
