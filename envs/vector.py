"""``SequenceTutorVectorEnv``: N compositions stepped at once (numpy rules, one batched Reward RNN)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.error import ResetNeeded
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.rendering import ansi_grid, piano_roll
from envs.sequence_tutor import build_reward_rnn, check_config, check_primer
from pretrain.models import NoteRNN
from pretrain.vocabulary import DEFAULT_VOCABULARY, Vocabulary
from rewards.keys import KeyTables, key_tables
from rewards.reward_rnn import RewardRNN
from rewards.theory import BatchTheoryReward

__all__ = ["SequenceTutorVectorEnv"]


class SequenceTutorVectorEnv(VectorEnv):
    """N ``SequenceTutor-v0`` compositions stepped together.

    ``gym.make_vec("SequenceTutor-v0", num_envs=N, vectorization_mode="vector_entry_point",
    **kwargs)`` takes the single environment's arguments (:class:`SequenceTutorEnv`). The rules
    run vectorised over N (rules without a ``batch`` twin are stepped per composition) and the
    Reward RNN makes one batched call per step (one gathered-input GEMM for an LSTM).

    Rewards equal those of N single environments seeded ``seed, seed + 1, ...`` (as
    ``SyncVectorEnv`` seeds them): each composition has its own RNG for its primer.

    * Observations ``int64[N, 1 + T]``, actions ``int64[N]``, rewards ``float64[N]``.
    * Autoreset: ``AutoresetMode.SAME_STEP``. All compositions have the same length, so they end
      together; the step that ends them returns the first observation of the next episodes, with
      ``info["final_obs"]`` (object array of the last observations) and ``info["final_info"]``.
    * ``info`` holds every composition's ``"reward_terms"`` (``{name: float64[N]}``), ``"step"``
      and ``"log_prob"`` on every step, with Gymnasium's ``"_name"`` masks.
    * ``reset(options={"primer": p})`` primes every composition with ``p``;
      ``options={"primers": [p_0, ..., p_{N-1}]}`` gives one primer each.
    """

    metadata = {
        "render_modes": ["ansi", "rgb_array"],
        "render_fps": 8,
        "autoreset_mode": AutoresetMode.SAME_STEP,
    }

    def __init__(
        self,
        num_envs: int = 1,
        melody_length: int = 32,
        key: str | KeyTables = "C major",
        reward_scale: float = 0.5,
        note_rnn_weight: float = 1.0,
        reward_rnn: str | os.PathLike | NoteRNN | RewardRNN | None = None,
        rules: Iterable[Any] | None = None,
        render_mode: str | None = None,
        *,
        vocabulary: Vocabulary = DEFAULT_VOCABULARY,
        reward_rnn_backend: str = "auto",
        torch_threads: int | None = 1,
    ) -> None:
        if (
            isinstance(num_envs, bool)
            or not isinstance(num_envs, (int, np.integer))
            or num_envs < 1
        ):
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        self.num_envs = int(num_envs)
        self.melody_length, self.reward_scale, self.note_rnn_weight = check_config(
            melody_length,
            reward_scale,
            note_rnn_weight,
            render_mode,
            self.metadata["render_modes"],
        )
        self.render_mode = render_mode
        if torch_threads is not None and torch.get_num_threads() != torch_threads:
            torch.set_num_threads(torch_threads)
        self.vocabulary = vocabulary
        self.tables = key_tables(key, vocabulary)
        self.key = self.tables.name
        self.theory = BatchTheoryReward(
            self.num_envs, rules, self.melody_length, self.tables, vocabulary
        )
        self.reward_rnn = build_reward_rnn(reward_rnn, vocabulary, reward_rnn_backend)
        self.pad = vocabulary.size
        self.single_action_space = spaces.Discrete(vocabulary.size)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.single_observation_space = spaces.MultiDiscrete(
            np.full(1 + self.melody_length, vocabulary.size + 1, dtype=np.int64), dtype=np.int64
        )
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._primer_choices = self.tables.in_key_notes
        self._rngs: list[np.random.Generator | None] = [None] * self.num_envs
        self._observations = np.full((self.num_envs, 1 + self.melody_length), self.pad, np.int64)
        self._primers: list[np.ndarray] = []
        self._scorer = self.reward_rnn.batch_stream(self.num_envs)
        self._index = np.arange(self.num_envs)
        self._step = 0
        self._needs_reset = True

    # -----------------------------------------------------------------------------------------

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed if isinstance(seed, int) else None)
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} environments")
        for i, s in enumerate(seeds):
            if s is not None or self._rngs[i] is None:
                self._rngs[i], _ = seeding.np_random(s)
        options = options or {}
        if "primers" in options:
            primers = [check_primer(p, self.vocabulary) for p in options["primers"]]
            if len(primers) != self.num_envs:
                raise ValueError(f"got {len(primers)} primers for {self.num_envs} environments")
        elif options.get("primer") is not None:
            primer = check_primer(options["primer"], self.vocabulary)
            primers = [primer] * self.num_envs
        else:
            primers = None
        self._start(primers)
        return self._observations.copy(), {}

    def _start(self, primers: list[np.ndarray] | np.ndarray | None) -> None:
        if primers is None:  # one in-key note per composition, each from its own RNG
            choices = self._primer_choices
            count = len(choices)
            draws = np.fromiter(
                (rng.integers(count) for rng in self._rngs), np.int64, self.num_envs
            )
            primers = choices[draws][:, None]
        self._primers = primers
        self.theory.reset()
        self._scorer.prime(primers)
        self._observations.fill(self.pad)
        if isinstance(primers, np.ndarray):
            self._observations[:, 0] = primers[:, -1]
        else:
            self._observations[:, 0] = [p[-1] for p in primers]
        self._step = 0
        self._needs_reset = False

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self._needs_reset:
            raise ResetNeeded("SequenceTutorVectorEnv: call reset() before step()")
        actions = self._check_actions(actions)
        step = self._step
        terms = self.theory.step(actions)
        theory = np.zeros(self.num_envs)
        for value in terms.values():
            theory += value
        log_prob = self._scorer.log_prob(actions)
        note_rnn = self.note_rnn_weight * log_prob
        terms["note_rnn"] = note_rnn
        rewards = theory / self.reward_scale + note_rnn
        self._observations[:, 1 + step] = actions
        self._step = step + 1
        done = self._step == self.melody_length
        everyone = np.ones(self.num_envs, dtype=bool)
        info: dict[str, Any] = {
            "reward_terms": {**terms, **{f"_{name}": everyone for name in terms}},
            "_reward_terms": everyone,
            "step": np.full(self.num_envs, step, dtype=np.int64),
            "_step": everyone,
            "log_prob": log_prob,
            "_log_prob": everyone,
        }
        terminations = np.full(self.num_envs, done)
        if done:
            final_obs = np.empty(self.num_envs, dtype=object)
            for i, row in enumerate(self._observations.copy()):
                final_obs[i] = row
            self._final_compositions = self._observations[:, 1:].copy()
            self._final_primers = self._primers
            info = {
                **info,
                "final_obs": final_obs,
                "_final_obs": everyone,
                "final_info": dict(info),
                "_final_info": everyone,
            }
            self._start(None)
        else:
            self._scorer.feed(actions)
        return (
            self._observations.copy(),
            rewards,
            terminations,
            np.zeros(self.num_envs, dtype=bool),
            info,
        )

    def _check_actions(self, actions: Any) -> np.ndarray:
        array = np.asarray(actions)
        if array.shape != (self.num_envs,) or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(
                f"actions must be {self.num_envs} integer tokens (shape ({self.num_envs},)), got "
                f"{array.dtype} array of shape {array.shape}"
            )
        if array.min() < 0 or array.max() >= self.pad:
            bad = array[(array < 0) | (array >= self.pad)][0]
            raise ValueError(
                f"action {bad} is outside the action space Discrete({self.pad}) "
                f"(expected tokens 0..{self.pad - 1})"
            )
        return array.astype(np.int64, copy=False)

    # -----------------------------------------------------------------------------------------

    @property
    def compositions(self) -> np.ndarray:
        """``int64[N, step]``: the tokens composed so far in every composition."""
        return self._observations[:, 1 : 1 + self._step].copy()

    @property
    def final_compositions(self) -> np.ndarray | None:
        """``int64[N, T]``: the compositions finished by the last autoreset (None before)."""
        return getattr(self, "_final_compositions", None)

    @property
    def primers(self) -> list[np.ndarray]:
        """The primer of every composition of the current episodes."""
        return [np.array(p) for p in self._primers]

    def render(self) -> tuple[Any, ...] | None:
        """One frame per composition (as ``SyncVectorEnv`` returns them)."""
        if self.render_mode is None:
            gym.logger.warn("SequenceTutorVectorEnv: render() without a render_mode")
            return None
        tokens = self.compositions
        if self.render_mode == "ansi":
            return tuple(
                ansi_grid(p, t, self.melody_length, self.tables)
                for p, t in zip(self._primers, tokens)
            )
        return tuple(
            piano_roll(t, self.melody_length, self.tables, primer=p)
            for p, t in zip(self._primers, tokens)
        )

    def action_masks(self) -> np.ndarray:
        """``bool[N, V]``, all legal (for MaskablePPO-style agents)."""
        return np.ones((self.num_envs, self.pad), dtype=bool)

    def export(self, index: int, path: str | os.PathLike) -> Path:
        """Write composition ``index`` (so far) as MIDI or MusicXML; see
        :meth:`SequenceTutorEnv.export`."""
        from pretrain.tokenizer import write_melody  # noqa: PLC0415

        tokens = self.compositions[index]
        if tokens.size == 0 and self.final_compositions is not None:
            tokens = self.final_compositions[index]
        if tokens.size == 0:
            raise ValueError("nothing to export: the composition is empty (step the env first)")
        return write_melody(tokens, path, vocabulary=self.vocabulary, key=self.tables.signature_key)
