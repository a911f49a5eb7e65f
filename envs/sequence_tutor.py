"""``SequenceTutor-v0``: compose a melody one sixteenth-note token at a time."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded

from envs.config import MAX_MELODY_LENGTH, EnvConfig
from envs.rendering import ansi_grid, piano_roll
from pretrain.errors import SequenceTutorError
from pretrain.models import NoteRNN
from pretrain.vocabulary import DEFAULT_VOCABULARY, Vocabulary
from rewards.keys import KeyTables, key_tables
from rewards.reward_rnn import RewardRNN, TorchThreads
from rewards.theory import TheoryReward

__all__ = ["MAX_MELODY_LENGTH", "SequenceTutorEnv", "check_config", "check_primer"]

_DEFAULTS = EnvConfig()  # the defaults of the constructor below


def check_config(
    melody_length: Any,
    reward_scale: Any,
    note_rnn_weight: Any,
    render_mode: Any,
    render_modes: Sequence[str],
) -> tuple[int, float, float]:
    """Validate the numeric arguments shared by the single and the vector environment."""
    if isinstance(melody_length, bool) or not isinstance(melody_length, (int, np.integer)):
        raise SequenceTutorError(f"melody_length must be an integer >= 1, got {melody_length!r}")
    if not 1 <= melody_length <= MAX_MELODY_LENGTH:
        raise SequenceTutorError(
            f"melody_length must be in 1..{MAX_MELODY_LENGTH}, got {melody_length}"
        )
    try:
        reward_scale = float(reward_scale)
        note_rnn_weight = float(note_rnn_weight)
    except (TypeError, ValueError):
        raise SequenceTutorError(
            f"reward_scale and note_rnn_weight must be numbers, got {reward_scale!r} and "
            f"{note_rnn_weight!r}"
        ) from None
    if not (math.isfinite(reward_scale) and reward_scale > 0):
        raise SequenceTutorError(
            f"reward_scale (c) must be a finite number > 0, got {reward_scale}"
        )
    if not math.isfinite(note_rnn_weight):
        raise SequenceTutorError(f"note_rnn_weight (w) must be finite, got {note_rnn_weight}")
    if render_mode is not None and render_mode not in render_modes:
        raise SequenceTutorError(
            f"render_mode {render_mode!r} is unknown (expected None or one of {list(render_modes)})"
        )
    return int(melody_length), reward_scale, note_rnn_weight


def check_primer(primer: Any, vocabulary: Vocabulary) -> np.ndarray:
    """A primer (a token or a non-empty token list) as an int64 array, or a ``ValueError``."""
    try:
        array = np.asarray(primer)
    except (TypeError, ValueError):
        array = np.asarray([], dtype=object)
    if array.dtype == object or (array.size and not np.issubdtype(array.dtype, np.integer)):
        raise SequenceTutorError(
            f"primer {primer!r} is not a token or a list of tokens (expected integers in "
            f"0..{vocabulary.size - 1})"
        )
    array = array.reshape(-1).astype(np.int64)
    if array.size == 0:
        raise SequenceTutorError("primer is empty (expected at least one token)")
    bad = (array < 0) | (array >= vocabulary.size)
    if bad.any():
        raise SequenceTutorError(
            f"primer token {array[bad][0]} is outside the vocabulary (expected 0..{vocabulary.size - 1})"
        )
    return array


def build_reward_rnn(
    reward_rnn: str | os.PathLike | NoteRNN | RewardRNN | None, vocabulary: Vocabulary, backend: str
) -> RewardRNN:
    if isinstance(reward_rnn, RewardRNN):
        if reward_rnn.vocabulary != vocabulary:
            raise SequenceTutorError("reward_rnn uses another vocabulary than the environment")
        return reward_rnn
    return RewardRNN(reward_rnn, vocabulary=vocabulary, backend=backend)


class SequenceTutorEnv(gym.Env[np.ndarray, np.int64]):
    """Compose a melody, one sixteenth-note step per action, rewarded by music theory and by a
    Note RNN trained on real melodies.

    ## Description

    Sequence Tutor (Jaques et al., 2017) fine-tunes a melody model with reinforcement learning:
    the agent writes a ``T``-step melody (default 32 steps, two bars of 4/4) one token per step
    and is rewarded for following rules of music theory while staying likely under a frozen copy
    of a Note RNN pretrained on folk melodies (the *Reward RNN*). A random in-key note (or a
    primer you give) primes the Reward RNN, as in Magenta's ``rl_tuner``; it is shown in the
    observation but is not part of the composition.

    ## Action Space

    ``Discrete(38)``: the next token. ``0`` NOTE_OFF (a rest starts), ``1`` NO_EVENT (hold the
    previous note or rest), ``2..37`` note-on of MIDI pitch ``48 + (a - 2)`` (C3..B5). Every
    action is legal; :meth:`action_masks` (all True) serves ``sb3_contrib.MaskablePPO``.

    ## Observation Space

    ``MultiDiscrete([39] * (1 + T))``, int64: index 0 is the primer's last token, index
    ``1 + t`` the action of composition step ``t``, and ``38`` (PAD) marks steps still to come.
    The current step is the number of non-PAD entries minus one.

    ## Starting State

    Index 0 holds the primer's last token, all other entries are PAD. The primer is a random
    note of the key drawn from the environment's RNG, or ``reset(options={"primer": p})`` with a
    token or a list of tokens (a primer melody; all of it primes the Reward RNN).

    ## Rewards

    ``r = sum(rule terms) / c + w * log p_RewardRNN(a | s)`` with ``c = reward_scale`` (0.5) and
    ``w = note_rnn_weight`` (1). The rules are those of rl_tuner (:mod:`rewards.rules`): ``key``,
    ``tonic``, ``repetition``, ``autocorrelation``, ``motif``, ``repeated_motif``, ``interval``,
    ``leap_resolution``, ``high_low_unique``. ``info["reward_terms"]`` gives every rule's raw
    term (before ``1 / c``) and ``"note_rnn"`` (``w * log p``) so that
    ``reward == sum(rule terms) / c + info["reward_terms"]["note_rnn"]`` exactly (summed in
    order). ``info["log_prob"]`` is ``log p(a | s)`` and ``info["step"]`` the step of the action.

    ## Episode End

    The episode terminates after ``T`` actions (``terminated=True``); ``truncated`` is always
    False (no time limit is registered: the length is part of the task). Stepping on raises
    ``ResetNeeded``. The last step is a true terminal state: Q-learning targets must not
    bootstrap past it (rl_tuner's targets ignored episode ends).

    ## Arguments

    ```python
    import envs, gymnasium as gym
    env = gym.make("SequenceTutor-v0", melody_length=32, key="C major", reward_scale=0.5,
                   note_rnn_weight=1.0, reward_rnn=None, rules=None, render_mode=None)
    ```

    * ``melody_length``: T, the number of composition steps (1..10 000).
    * ``key``: any music21 key, e.g. ``"C major"``, ``"A minor"``, ``"F# dorian"``.
    * ``reward_scale``: c; the rule terms are divided by it.
    * ``note_rnn_weight``: w; 0 turns the Reward RNN term off (``log_prob`` is still reported).
    * ``reward_rnn``: the Reward RNN: None (the shipped LSTM), a checkpoint path (an LSTM, an
      RHN or a DT-RNN), a :class:`~pretrain.models.NoteRNN`, or a :class:`~rewards.RewardRNN` to share.
    * ``rules``: None (all rules) or a list of rules, rule names or functions
      (see :mod:`rewards.rules` for writing your own); ``[]`` leaves only the Reward RNN.
    * ``render_mode``: None, ``"ansi"`` (note names on a step grid) or ``"rgb_array"``
      (piano roll).
    * ``vocabulary``: the token vocabulary (default 38 tokens, C3..B5).
    * ``reward_rnn_backend``: ``"auto"``, ``"numpy"`` (fused LSTM step) or ``"torch"``.
    * ``torch_threads``: torch threads for the env's own torch work (building the Reward RNN,
      and its steps on the torch backend): 1 (default) or any count, set around that work and
      restored after it, so the process's setting is never changed; None runs it at the
      process's setting. One thread because several stall on busy small machines (the vector
      env's GEMM ran 6x slower at 2 threads on 2 busy cores) and because a process whose torch
      never ran multi-threaded can fork safely (``AsyncVectorEnv``'s default).

    Vector environment: ``gym.make_vec("SequenceTutor-v0", num_envs=N,
    vectorization_mode="vector_entry_point")`` steps N compositions at once
    (:class:`envs.SequenceTutorVectorEnv`; ``autoreset_mode`` SAME_STEP, NEXT_STEP or DISABLED,
    ``max_episode_steps``, ``reset(options={"reset_mask": ...})``). ``SyncVectorEnv``,
    ``AsyncVectorEnv`` and SB3's vec envs take the single environment.

    Copies: ``copy.deepcopy``, ``pickle``, ``cloudpickle`` and ``dill`` give an environment
    that continues bit-identically from the same state (same observations and rewards on every
    step), for both Reward RNN backends and for the vector environment.

    ## References

    * Jaques, Gu, Turner, Eck. *Sequence Tutor: Conservative Fine-Tuning of Sequence Generation
      Models with KL-control*. ICML 2017. https://arxiv.org/abs/1611.02796
    * Magenta ``rl_tuner`` (archived): the rules and the reward composition.

    ## Version History

    * v0: initial version (rl_tuner's rules for any music21 key, LSTM or RHN Reward RNN,
      fixed-length episodes, ansi / rgb_array render, MIDI / MusicXML export).
    * v0, later fixes (observations and rewards of a fresh env unchanged, bit for bit): copies
      and pickles are exact (a deep copy of the numpy Reward RNN used to score from stale
      buffers, and the env did not pickle); the env no longer sets torch's thread count for
      the whole process (``torch_threads`` now scopes its own torch work); the vector env gained
      ``autoreset_mode`` (NEXT_STEP, DISABLED), ``max_episode_steps`` and ``reset_mask``, and
      its info on a finishing step has ``SyncVectorEnv``'s layout (the step's terms under
      ``final_info`` only, not repeated at the top level).
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 8}

    def __init__(
        self,
        melody_length: int = _DEFAULTS.melody_length,
        key: str | KeyTables = _DEFAULTS.key,
        reward_scale: float = _DEFAULTS.reward_scale,
        note_rnn_weight: float = _DEFAULTS.note_rnn_weight,
        reward_rnn: str | os.PathLike | NoteRNN | RewardRNN | None = None,
        rules: Iterable[Any] | None = None,
        render_mode: str | None = None,
        *,
        vocabulary: Vocabulary = DEFAULT_VOCABULARY,
        reward_rnn_backend: str = "auto",
        torch_threads: int | None = 1,
    ) -> None:
        self.melody_length, self.reward_scale, self.note_rnn_weight = check_config(
            melody_length,
            reward_scale,
            note_rnn_weight,
            render_mode,
            self.metadata["render_modes"],
        )
        self.render_mode = render_mode
        # Per instance: wrappers write into it (Gymnasium 1.1's SyncVectorEnv adds its
        # autoreset_mode), and the class dict is shared by every env.
        self.metadata = dict(type(self).metadata)
        # torch runs only inside this (construction, reset, step): see TorchThreads
        self.torch_threads = TorchThreads(torch_threads)
        self.vocabulary = vocabulary
        self.tables = key_tables(key, vocabulary)
        self.key = self.tables.name
        self.theory = TheoryReward(rules, self.melody_length, self.tables, vocabulary)
        with self.torch_threads:  # building the model and the stream runs torch too
            self.reward_rnn = build_reward_rnn(reward_rnn, vocabulary, reward_rnn_backend)
            self._scorer = self.reward_rnn.stream()
        # the numpy backend steps one composition without torch: no thread switch per step
        self._step_threads = self.torch_threads if self._scorer.runs_torch else TorchThreads(None)
        self.pad = vocabulary.size
        self.action_space = spaces.Discrete(vocabulary.size)
        self.observation_space = spaces.MultiDiscrete(
            np.full(1 + self.melody_length, vocabulary.size + 1, dtype=np.int64), dtype=np.int64
        )
        self._primer_choices = self.tables.in_key_notes
        self._observation = np.full(1 + self.melody_length, self.pad, dtype=np.int64)
        self._primer = np.zeros(0, dtype=np.int64)
        self._step = 0
        self._needs_reset = True

    # -----------------------------------------------------------------------------------------
    # Gymnasium API
    # -----------------------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        primer = (options or {}).get("primer")
        if primer is None:
            primer = np.array(
                [self._primer_choices[self.np_random.integers(len(self._primer_choices))]]
            )
        else:
            primer = check_primer(primer, self.vocabulary)
        self._primer = primer
        self.theory.reset()
        with self._step_threads:
            self._scorer.prime(primer)
        self._observation.fill(self.pad)
        self._observation[0] = primer[-1]
        self._step = 0
        self._needs_reset = False
        return self._observation.copy(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._needs_reset:
            if self._step == 0:
                raise ResetNeeded("SequenceTutor-v0: call reset() before step()")
            raise ResetNeeded(
                f"SequenceTutor-v0: the episode ended after {self.melody_length} steps; "
                "call reset() before step()"
            )
        if type(action) is not int:
            action = self._check_action(action)
        if not 0 <= action < self.pad:
            raise ValueError(
                f"action {action} is outside the action space Discrete({self.pad}) "
                f"(expected a token 0..{self.pad - 1})"
            )
        step = self._step
        terms, theory = self.theory.step_total(action)
        self._observation[1 + step] = action
        self._step = step + 1
        terminated = self._step == self.melody_length
        with self._step_threads:
            log_prob = self._scorer.log_prob(action)
            if terminated:
                self._needs_reset = True  # the last action needs no next-token distribution
            else:
                self._scorer.feed(action)
        note_rnn = self.note_rnn_weight * log_prob
        terms["note_rnn"] = note_rnn
        reward = theory / self.reward_scale + note_rnn
        info = {"reward_terms": terms, "step": step, "log_prob": log_prob}
        return self._observation.copy(), reward, terminated, False, info

    def render(self) -> str | np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn(
                "SequenceTutor-v0: render() without a render_mode; pass render_mode='ansi' or "
                "'rgb_array' to gym.make"
            )
            return None
        tokens = self.composition
        if self.render_mode == "ansi":
            return ansi_grid(self._primer, tokens, self.melody_length, self.tables)
        return piano_roll(tokens, self.melody_length, self.tables, primer=self._primer)

    def action_masks(self) -> np.ndarray:
        """Legal actions (all of them), for ``sb3_contrib.MaskablePPO``."""
        return np.ones(self.pad, dtype=bool)

    # -----------------------------------------------------------------------------------------
    # the composition
    # -----------------------------------------------------------------------------------------

    @property
    def composition(self) -> np.ndarray:
        """The tokens composed so far (the primer excluded), int64."""
        return self._observation[1 : 1 + self._step].copy()

    @property
    def primer(self) -> np.ndarray:
        """The primer of the current episode (its last token is observation index 0)."""
        return self._primer.copy()

    def export(self, path: str | os.PathLike, *, include_primer: bool = False) -> Path:
        """Write the composition as MIDI (``.mid``) or MusicXML (``.musicxml``, ``.xml``,
        ``.mxl``) with music21 (:func:`pretrain.tokenizer.write_melody`); returns the path."""
        from pretrain.tokenizer import write_melody  # noqa: PLC0415 (music21 on demand)

        tokens = self.composition
        if include_primer:
            tokens = np.concatenate([self._primer, tokens])
        if tokens.size == 0:
            raise ValueError("nothing to export: the composition is empty (step the env first)")
        return write_melody(tokens, path, vocabulary=self.vocabulary, key=self.tables.signature_key)

    def _check_action(self, action: Any) -> int:
        if isinstance(action, (np.integer, int)) and not isinstance(action, (bool, np.bool_)):
            return int(action)
        if (
            isinstance(action, np.ndarray)
            and action.size == 1
            and np.issubdtype(action.dtype, np.integer)
        ):
            return int(action.reshape(()))
        raise ValueError(
            f"action {action!r} is not in the action space Discrete({self.pad}) "
            f"(expected an integer token 0..{self.pad - 1})"
        )
