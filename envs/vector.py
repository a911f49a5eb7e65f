"""``SequenceTutorVectorEnv``: N compositions stepped at once (numpy rules, one batched Reward RNN)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.config import EnvConfig
from envs.rendering import ansi_grid, piano_roll
from envs.sequence_tutor import build_reward_rnn, check_config, check_primer
from pretrain.errors import SequenceTutorError
from pretrain.models import NoteRNN
from pretrain.vocabulary import DEFAULT_VOCABULARY, Vocabulary
from rewards.keys import KeyTables, key_tables
from rewards.reward_rnn import RewardRNN, TorchThreads
from rewards.theory import BatchTheoryReward

__all__ = ["SequenceTutorVectorEnv", "check_autoreset_mode", "check_reset_mask"]

_ALL = slice(None)  # a group's rows when it holds every composition (no fancy indexing)


def check_autoreset_mode(mode: Any) -> AutoresetMode:
    """An :class:`~gymnasium.vector.AutoresetMode` from the enum or its value (``"NextStep"``,
    ``"SameStep"``, ``"Disabled"``), as ``SyncVectorEnv`` accepts it, or a
    :class:`SequenceTutorError` (a ``ValueError``)."""
    if isinstance(mode, AutoresetMode):
        return mode
    try:
        return AutoresetMode(mode)
    except (ValueError, TypeError):
        expected = [m.value for m in AutoresetMode]
        raise SequenceTutorError(
            f"autoreset_mode {mode!r} is unknown (expected an AutoresetMode or one of {expected})"
        ) from None


def check_reset_mask(mask: Any, num_envs: int) -> np.ndarray:
    """``options["reset_mask"]`` checked as ``SyncVectorEnv`` checks it (same errors)."""
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"`options['reset_mask']` must be a numpy array, got {type(mask)}")
    if mask.shape != (num_envs,):
        raise ValueError(
            f"`options['reset_mask']` must have shape `({num_envs},)`, got {mask.shape}"
        )
    if mask.dtype != np.bool_:
        raise TypeError(f"`options['reset_mask']` must have `dtype=np.bool_`, got {mask.dtype}")
    if not mask.any():
        raise ValueError(
            "`options['reset_mask']` must contain a boolean array with at least one True value, "
            f"got reset_mask={mask}"
        )
    return mask.copy()


def _check_max_episode_steps(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise SequenceTutorError(
            f"max_episode_steps must be None or an integer >= 1, got {value!r}"
        )
    return int(value)


_DEFAULTS = EnvConfig()  # the defaults of the constructor below


class _Group:
    """Compositions at the same step, whose rules run as one batch (all N in normal use; a
    partial ``reset_mask`` splits them)."""

    __slots__ = ("ended", "index", "mask", "step", "theory")

    def __init__(self, mask: np.ndarray, theory: BatchTheoryReward) -> None:
        self.mask = mask  # bool[N]
        self.index = _ALL if mask.all() else np.flatnonzero(mask)
        self.theory = theory
        self.step = 0
        self.ended = False


def step_info(info: dict[str, Any]) -> dict[str, Any]:
    """The info of the step just taken by compositions that run in lock step.

    On the step that finishes them (same-step autoreset) that info sits under
    ``info["final_info"]``, as with Gymnasium's ``SyncVectorEnv``; the top level then describes
    the compositions that have just begun."""
    return info["final_info"] if "final_info" in info else info


class SequenceTutorVectorEnv(VectorEnv):
    """N ``SequenceTutor-v0`` compositions stepped together.

    ``gym.make_vec("SequenceTutor-v0", num_envs=N, vectorization_mode="vector_entry_point",
    **kwargs)`` takes the single environment's arguments (:class:`SequenceTutorEnv`) and two of
    Gymnasium's vector conventions, ``autoreset_mode`` and ``max_episode_steps``. The rules run
    vectorised over N (rules without a ``batch`` twin are stepped per composition) and the
    Reward RNN makes one batched call per step (one gathered-input GEMM for an LSTM).

    Observations, terminations, truncations and the rules' terms equal those of N single
    environments (``SyncVectorEnv``) seeded ``seed, seed + 1, ...`` in the same autoreset mode;
    the Reward RNN term equals theirs to 5e-5 per step (its float32 GEMM sums in another order
    than the single environment's mat-vec; measured <= 8e-6 at N = 256, T = 32). Each composition has its own RNG for its primers.

    * Observations ``int64[N, 1 + T]``, actions ``int64[N]``, rewards ``float64[N]``.
    * ``autoreset_mode`` (``metadata["autoreset_mode"]`` of the instance):

      * ``AutoresetMode.SAME_STEP`` (default): the step that ends an episode returns the first
        observation of the next one, with ``info["final_obs"]`` (object array) and
        ``info["final_info"]`` (that step's info) for the compositions that ended; they have no
        top-level info on that step (``SyncVectorEnv``'s layout). No step is wasted.
      * ``AutoresetMode.NEXT_STEP``: the step after the end resets (its action is ignored, its
        reward is 0, its info empty for those compositions); every ``gymnasium.wrappers.vector``
        wrapper accepts this mode. One call in ``T + 1`` is a reset.
      * ``AutoresetMode.DISABLED``: the caller resets ended compositions with
        ``reset(options={"reset_mask": ...})``; stepping one raises ``ResetNeeded``.

    * ``max_episode_steps``: truncate each episode after this many steps, as
      ``gym.make(..., max_episode_steps=k)`` does with ``TimeLimit`` (``truncated`` is True from
      step ``k`` on, also on a terminating step). None (default): episodes end only at ``T``.
    * ``info`` holds the stepped compositions' ``"reward_terms"`` (``{name: float64[N]}``),
      ``"step"`` and ``"log_prob"``, with Gymnasium's ``"_name"`` masks.
    * ``reset(options={"primer": p})`` primes every composition with ``p``;
      ``options={"primers": [p_0, ..., p_{N-1}]}`` gives one primer each;
      ``options={"reset_mask": bool[N]}`` resets only those compositions (the others go on).
      Compositions in lock-step share one batched rule call; a partial reset splits them into
      groups at different steps (one batched rule call per group).
    * ``copy.deepcopy``, ``pickle``, ``cloudpickle`` and ``dill`` give an environment that
      continues bit-identically (observations, rewards, infos).
    * ``torch_threads`` (default 1): torch threads for its own torch work (the Reward RNN's
      GEMM and gates), set around it and restored, so the process's setting is never changed;
      None uses the process's setting (at 2 threads on 2 busy cores the N = 256 step took 6x
      longer).
    """

    metadata = {
        "render_modes": ["ansi", "rgb_array"],
        "render_fps": 8,
        "autoreset_mode": AutoresetMode.SAME_STEP,
    }

    def __init__(
        self,
        num_envs: int = 1,
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
        autoreset_mode: str | AutoresetMode = AutoresetMode.SAME_STEP,
        max_episode_steps: int | None = None,
    ) -> None:
        if (
            isinstance(num_envs, bool)
            or not isinstance(num_envs, (int, np.integer))
            or num_envs < 1
        ):
            raise SequenceTutorError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        self.num_envs = int(num_envs)
        self.melody_length, self.reward_scale, self.note_rnn_weight = check_config(
            melody_length,
            reward_scale,
            note_rnn_weight,
            render_mode,
            self.metadata["render_modes"],
        )
        self.autoreset_mode = check_autoreset_mode(autoreset_mode)
        # per instance: Gymnasium's vector wrappers read env.metadata["autoreset_mode"]
        self.metadata = {**type(self).metadata, "autoreset_mode": self.autoreset_mode}
        self.max_episode_steps = _check_max_episode_steps(max_episode_steps)
        self.render_mode = render_mode
        # torch runs only inside this (construction, reset, step): see TorchThreads
        self.torch_threads = TorchThreads(torch_threads)
        self.vocabulary = vocabulary
        self.tables = key_tables(key, vocabulary)
        self.key = self.tables.name
        self.theory = BatchTheoryReward(
            self.num_envs, rules, self.melody_length, self.tables, vocabulary
        )
        with self.torch_threads:  # building the model and the stream runs torch too
            self.reward_rnn = build_reward_rnn(reward_rnn, vocabulary, reward_rnn_backend)
            self._scorer = self.reward_rnn.batch_stream(self.num_envs)
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
        empty = np.zeros(0, dtype=np.int64)
        self._primers: list[np.ndarray] = [empty] * self.num_envs
        self._final: list[np.ndarray | None] = [None] * self.num_envs  # last finished tokens
        self._steps = np.zeros(self.num_envs, dtype=np.int64)  # each composition's step
        self._started = np.zeros(self.num_envs, dtype=bool)  # reset at least once
        self._groups: list[_Group] = []

    # -----------------------------------------------------------------------------------------
    # reset
    # -----------------------------------------------------------------------------------------

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=int(seed) if isinstance(seed, (int, np.integer)) else None)
        options = options or {}
        mask = options.get("reset_mask")
        mask = (
            np.ones(self.num_envs, bool) if mask is None else check_reset_mask(mask, self.num_envs)
        )
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} environments")
        for i in np.flatnonzero(mask).tolist():
            if seeds[i] is not None or self._rngs[i] is None:
                self._rngs[i], _ = seeding.np_random(seeds[i])
        primers: list[np.ndarray] | None = None
        if "primers" in options:
            primers = [check_primer(p, self.vocabulary) for p in options["primers"]]
            if len(primers) != self.num_envs:
                raise ValueError(f"got {len(primers)} primers for {self.num_envs} environments")
            primers = [primers[i] for i in np.flatnonzero(mask).tolist()]
        elif options.get("primer") is not None:
            primer = check_primer(options["primer"], self.vocabulary)
            primers = [primer] * int(mask.sum())
        self._restart(mask, primers)
        return self._observations.copy(), {}

    def _restart(self, mask: np.ndarray, primers: list[np.ndarray] | None = None) -> None:
        """Start new episodes in the compositions of ``mask`` (primers from their RNGs unless
        given, one per composition of the mask, in order)."""
        rows = np.flatnonzero(mask)
        if primers is None:  # one in-key note per composition, each from its own RNG
            choices = self._primer_choices
            count = len(choices)
            draws = np.fromiter(
                (self._rngs[i].integers(count) for i in rows.tolist()), np.int64, rows.size
            )
            primers = list(choices[draws][:, None])
        for i, primer in zip(rows.tolist(), primers):
            self._primers[i] = primer
        self._regroup(mask)
        self._observations[rows] = self.pad
        self._observations[rows, 0] = [p[-1] for p in primers]
        self._steps[rows] = 0
        self._started[rows] = True
        with self.torch_threads:
            if rows.size == self.num_envs:
                lengths = {p.size for p in primers}
                self._scorer.prime(np.stack(primers) if len(lengths) == 1 else primers)
            else:
                self._scorer.prime(primers, rows=rows)

    def _regroup(self, mask: np.ndarray) -> None:
        """Put the compositions of ``mask`` into one new group at step 0; split any group that
        keeps some of its compositions (their rules' state is rebuilt by replaying their
        tokens, which is exact: a rule's state is a function of the tokens played)."""
        if mask.all():
            self.theory.reset()
            self._groups = [_Group(mask, self.theory)]
            return
        groups, reused = [], None
        for group in self._groups:
            keep = group.mask & ~mask
            if not keep.any():  # wholly restarted: its rules can serve the new group
                if np.array_equal(group.mask, mask):
                    reused = group.theory
                continue
            if keep.sum() < group.mask.sum():
                group = self._replayed(keep, group.step, group.ended)
            groups.append(group)
        theory = reused if reused is not None else self._batch_theory(int(mask.sum()))
        theory.reset()
        groups.append(_Group(mask, theory))
        self._groups = groups

    def _batch_theory(self, count: int) -> BatchTheoryReward:
        if count == self.num_envs:
            return self.theory
        return BatchTheoryReward(
            count, self.theory.rules, self.melody_length, self.tables, self.vocabulary
        )

    def _replayed(self, mask: np.ndarray, step: int, ended: bool) -> _Group:
        group = _Group(mask, self._batch_theory(int(mask.sum())))
        group.ended = ended
        group.theory.reset()
        tokens = self._observations[group.index, 1 : 1 + step]
        for column in tokens.T:
            group.theory.step(np.ascontiguousarray(column))
        group.step = step
        return group

    # -----------------------------------------------------------------------------------------
    # step
    # -----------------------------------------------------------------------------------------

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if not self._started.all():
            waiting = np.flatnonzero(~self._started).tolist()
            raise ResetNeeded(
                f"SequenceTutorVectorEnv: call reset() before step() (compositions {waiting} "
                "were never reset)"
            )
        actions = self._check_actions(actions)
        for group in self._groups:
            if group.ended and self.autoreset_mode is AutoresetMode.DISABLED:
                ended = np.flatnonzero(group.mask).tolist()
                raise ResetNeeded(
                    f"SequenceTutorVectorEnv: compositions {ended} ended; with autoreset_mode "
                    "DISABLED reset them with reset(options={'reset_mask': mask}) before step()"
                )
        if len(self._groups) == 1 and not self._groups[0].ended:
            group = self._groups[0]
            if group.index is _ALL:
                return self._step_together(actions, group)
        return self._step_groups(actions)

    def _step_together(
        self, actions: np.ndarray, group: _Group
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Every composition at the same step (normal use): one batched call of each rule."""
        num_envs = self.num_envs
        terms = group.theory.step(actions)
        theory = np.zeros(num_envs)
        for value in terms.values():
            theory += value  # in rule order, as the single environment sums them
        step = group.step
        self._observations[:, 1 + step] = actions
        group.step = step + 1
        self._steps.fill(group.step)
        done = group.step == self.melody_length
        limit = self.max_episode_steps is not None and group.step >= self.max_episode_steps
        with self.torch_threads:
            log_prob = self._scorer.log_prob(actions)
            if not (done or limit):  # the last action of an episode needs no next state
                self._scorer.feed(actions)
        note_rnn = self.note_rnn_weight * log_prob
        terms["note_rnn"] = note_rnn
        rewards = theory / self.reward_scale + note_rnn
        terminated, truncated = np.full(num_envs, done), np.full(num_envs, limit)
        step_info = {
            "reward_terms": terms,
            "step": np.full(num_envs, step, dtype=np.int64),
            "log_prob": log_prob,
        }
        if not (done or limit):
            return (
                self._observations.copy(),
                rewards,
                terminated,
                truncated,
                _all_info(step_info, num_envs),
            )
        self._final = list(self._observations[:, 1 : 1 + group.step].copy())
        if self.autoreset_mode is not AutoresetMode.SAME_STEP:
            group.ended = True  # NEXT_STEP resets on the next call, DISABLED waits for reset()
            return (
                self._observations.copy(),
                rewards,
                terminated,
                truncated,
                _all_info(step_info, num_envs),
            )
        final_obs = np.empty(num_envs, dtype=object)
        final_obs[:] = list(self._observations.copy())
        everyone = np.ones(num_envs, dtype=bool)
        info = {
            "final_obs": final_obs,
            "_final_obs": everyone,
            "final_info": _all_info(step_info, num_envs),
            "_final_info": everyone.copy(),
        }
        self._restart(everyone)
        return self._observations.copy(), rewards, terminated, truncated, info

    def _step_groups(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Compositions at different steps (after a partial reset), or NEXT_STEP resets due."""
        num_envs = self.num_envs
        restart = np.zeros(num_envs, dtype=bool)  # NEXT_STEP: reset now, action ignored
        for group in self._groups:
            if group.ended:
                restart |= group.mask
        stepping = [group for group in self._groups if not group.ended]
        terms = {name: np.zeros(num_envs) for name in self.theory.names}
        for group in stepping:
            part = group.theory.step(np.ascontiguousarray(actions[group.index]))
            for name, value in part.items():
                terms[name][group.index] = value
        theory = np.zeros(num_envs)
        for value in terms.values():
            theory += value  # in rule order, as the single environment sums them
        rows = np.arange(num_envs)
        step = self._steps.copy()
        stepped = ~restart
        self._observations[rows[stepped], 1 + step[stepped]] = actions[stepped]
        self._steps[stepped] += 1
        terminated = stepped & (self._steps == self.melody_length)
        truncated = np.zeros(num_envs, dtype=bool)
        if self.max_episode_steps is not None:
            truncated = stepped & (self._steps >= self.max_episode_steps)
        ended = terminated | truncated
        for group in stepping:
            group.step += 1
            group.ended = bool(ended[group.mask][0])
        log_prob = np.zeros(num_envs)
        if stepped.any():  # (a NEXT_STEP call that only resets needs no Reward RNN)
            with self.torch_threads:
                log_prob = self._scorer.log_prob(actions)
                if (stepped & ~ended).any():  # the last action of an episode needs no next state
                    self._scorer.feed(actions)
        note_rnn = self.note_rnn_weight * log_prob
        terms["note_rnn"] = note_rnn
        rewards = theory / self.reward_scale + note_rnn
        rewards[restart] = 0.0
        step_info = {"reward_terms": terms, "step": step, "log_prob": log_prob}
        same_step = self.autoreset_mode is AutoresetMode.SAME_STEP
        info = _masked_info(step_info, stepped & ~ended if same_step else stepped)
        for i in np.flatnonzero(ended).tolist():
            self._final[i] = self._observations[i, 1 : 1 + self._steps[i]].copy()
        if same_step and ended.any():
            final_obs = np.full(num_envs, None, dtype=object)
            for i in np.flatnonzero(ended).tolist():
                final_obs[i] = self._observations[i].copy()
            info["final_obs"], info["_final_obs"] = final_obs, ended.copy()
            info["final_info"], info["_final_info"] = _masked_info(step_info, ended), ended.copy()
            self._restart(ended)
        if restart.any():
            self._restart(restart)
        return self._observations.copy(), rewards, terminated, truncated, info

    def _check_actions(self, actions: Any) -> np.ndarray:
        array = np.asarray(actions)
        if array.ndim == 0:
            raise TypeError(
                f"actions must be {self.num_envs} integer tokens (shape ({self.num_envs},)), "
                f"got the scalar {actions!r}"
            )
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
    # the compositions
    # -----------------------------------------------------------------------------------------

    def composition(self, index: int) -> np.ndarray:
        """The tokens composed so far in composition ``index`` (the primer excluded)."""
        return self._observations[index, 1 : 1 + self._steps[index]].copy()

    def final_composition(self, index: int) -> np.ndarray | None:
        """Composition ``index``'s last finished episode (None before one has ended)."""
        final = self._final[index]
        return None if final is None else final.copy()

    @property
    def compositions(self) -> np.ndarray:
        """``int64[N, step]``: the tokens composed so far in every composition (all at the same
        step; after a partial reset use :meth:`composition`)."""
        return _rectangle([self.composition(i) for i in range(self.num_envs)], "composition")

    @property
    def final_compositions(self) -> np.ndarray | None:
        """``int64[N, T]``: the compositions finished by the last autoreset (None before);
        after a partial reset use :meth:`final_composition`."""
        if any(final is None for final in self._final):
            return None
        return _rectangle(list(self._final), "final_composition")

    @property
    def primers(self) -> list[np.ndarray]:
        """The primer of every composition of the current episodes."""
        return [np.array(p) for p in self._primers]

    def render(self) -> tuple[Any, ...] | None:
        """One frame per composition (as ``SyncVectorEnv`` returns them)."""
        if self.render_mode is None:
            gym.logger.warn("SequenceTutorVectorEnv: render() without a render_mode")
            return None
        frames = []
        for i, primer in enumerate(self._primers):
            tokens = self.composition(i)
            if self.render_mode == "ansi":
                frames.append(ansi_grid(primer, tokens, self.melody_length, self.tables))
            else:
                frames.append(piano_roll(tokens, self.melody_length, self.tables, primer=primer))
        return tuple(frames)

    def action_masks(self) -> np.ndarray:
        """``bool[N, V]``, all legal (for MaskablePPO-style agents)."""
        return np.ones((self.num_envs, self.pad), dtype=bool)

    def export(self, index: int, path: str | os.PathLike) -> Path:
        """Write composition ``index`` (so far, or its last finished episode when the current
        one is empty) as MIDI or MusicXML; see :meth:`SequenceTutorEnv.export`."""
        from pretrain.tokenizer import write_melody  # noqa: PLC0415

        tokens = self.composition(index)
        if tokens.size == 0 and self._final[index] is not None:
            tokens = self._final[index]
        if tokens.size == 0:
            raise ValueError("nothing to export: the composition is empty (step the env first)")
        return write_melody(tokens, path, vocabulary=self.vocabulary, key=self.tables.signature_key)


def _all_info(step_info: dict[str, Any], num_envs: int) -> dict[str, Any]:
    """``step_info`` of every composition, laid out as ``SyncVectorEnv`` merges sub-env infos
    (the values are this step's fresh arrays; every ``"_key"`` mask is its own array)."""
    return _with_masks(step_info, np.ones(num_envs, dtype=bool))


def _with_masks(step_info: dict[str, Any], everyone: np.ndarray) -> dict[str, Any]:
    info: dict[str, Any] = {}
    for key, value in step_info.items():
        info[key] = _with_masks(value, everyone) if isinstance(value, dict) else value
        info[f"_{key}"] = everyone.copy()
    return info


def _masked_info(step_info: dict[str, Any], mask: np.ndarray) -> dict[str, Any]:
    """The per-composition ``step_info`` of the compositions in ``mask``, laid out as
    ``SyncVectorEnv`` merges sub-environment infos: values of the others are 0, every key has
    its own ``"_key"`` mask, and nothing at all when the mask is empty."""
    if not mask.any():
        return {}
    everyone = mask.all()
    info: dict[str, Any] = {}
    for key, value in step_info.items():
        if isinstance(value, dict):
            info[key] = _masked_info(value, mask)
        else:
            info[key] = value.copy() if everyone else np.where(mask, value, 0).astype(value.dtype)
        info[f"_{key}"] = mask.copy()
    return info


def _rectangle(rows: list[np.ndarray], method: str) -> np.ndarray:
    lengths = {row.size for row in rows}
    if len(lengths) > 1:
        raise ValueError(
            f"the compositions are at different steps (after a partial reset); use {method}(i)"
        )
    return np.stack(rows) if rows else np.zeros((0, 0), np.int64)
