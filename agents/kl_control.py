"""KL-control DQN: Q-, Ψ- and G-learning on top of Stable-Baselines3's DQN.

Jaques et al., *Sequence Tutor: Conservative Fine-Tuning of Sequence Generation Models with
KL-control*, ICML 2017 (https://arxiv.org/abs/1611.02796), Sec. 3. With the env reward
``r = r_theory / c + w · log p(a | s)`` (``p`` the frozen Note RNN):

* Q-learning  ``y = r + γ · max_a' Q_target(s', a')``
* Ψ-learning  ``y = r + γ · log Σ_a' exp Ψ_target(s', a')``,  ``π(a | s) ∝ exp Ψ(s, a)``
* G-learning  ``y = r_theory / c + γ · log Σ_a' exp(G_target(s', a') + log p(a' | s'))``,
  ``π(a | s) ∝ exp(G(s, a) + log p(a | s))``, where ``r_theory / c = r − w · log p(a | s)``.

Terminal states are not bootstrapped. The target network follows the online one by Polyak
averaging after *each optimiser step* (SB3's DQN does it per env step, which with
``train_freq=5`` multiplies the effective τ by five).
"""

from __future__ import annotations

import collections
import dataclasses
import os
import random
import warnings
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from stable_baselines3 import DQN
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.type_aliases import GymEnv, ReplayBufferSamples, Schedule
from stable_baselines3.common.utils import LinearSchedule, polyak_update

from agents.agent_file import (
    agent_paths,
    check_note_rnn_tensors,
    load_policy_tensors,
    read_agent_meta,
    read_tensors,
    save_agent,
)
from agents.config import PAPER_HYPERPARAMETERS, KLControlConfig, check_algo
from agents.episode_buffer import EpisodeBatch, EpisodeReplayBuffer
from agents.policy import (
    NoteRNNPolicy,
    NoteRNNSource,
    RecurrentActor,
    observation_prefix,
    sample_actions,
)
from agents.training_state import load_training_state
from pretrain.config import check_settings
from pretrain.errors import SequenceTutorError

_D = KLControlConfig()  # the defaults of the constructor below


def kl_control_targets(
    algo: str,
    rewards: torch.Tensor,
    next_values: torch.Tensor,
    dones: torch.Tensor,
    gamma: float,
    *,
    next_log_prior: torch.Tensor | None = None,
    action_log_prior: torch.Tensor | None = None,
    note_rnn_weight: float = 1.0,
) -> torch.Tensor:
    """TD targets ``y`` of Q-, Ψ- or G-learning (module docstring), for any batch shape ``[...]``.

    :param algo: ``"q"``, ``"psi"`` or ``"g"``.
    :param rewards: env rewards ``r`` ``[...]`` (theory / c + w · log p).
    :param next_values: target-network outputs at ``s'`` ``[..., V]``.
    :param dones: 1 where ``s'`` is terminal ``[...]``.
    :param gamma: discount γ.
    :param next_log_prior: ``log p(· | s')`` ``[..., V]`` (G only).
    :param action_log_prior: ``log p(a | s)`` of the taken action ``[...]`` (G only).
    :param note_rnn_weight: the reward's ``w`` (G only: removes ``w · log p(a | s)`` from ``r``).
    """
    check_algo(algo)
    if algo == "q":
        bootstrap = next_values.max(dim=-1).values
    elif algo == "psi":
        bootstrap = torch.logsumexp(next_values, dim=-1)
    else:  # g
        if next_log_prior is None or action_log_prior is None:
            raise ValueError("G-learning targets need next_log_prior and action_log_prior")
        bootstrap = torch.logsumexp(next_values + next_log_prior, dim=-1)
        rewards = rewards - note_rnn_weight * action_log_prior
    return rewards + gamma * (1.0 - dones) * bootstrap


class SequenceTutorDQN(DQN):
    """KL-control DQN for Sequence Tutor: SB3's DQN with Q-, Ψ- or G-learning targets.

    Paper: Jaques et al. 2017, https://arxiv.org/abs/1611.02796 (equations in the module
    docstring). Keeps SB3's ``learn()`` loop, callbacks, logger (TensorBoard, progress bar) and
    VecEnvs; differs from :class:`~stable_baselines3.DQN` in:

    * the policy, :class:`~agents.policy.NoteRNNPolicy`: Q-network and target start as the Note RNN;
    * the replay buffer, :class:`~agents.episode_buffer.EpisodeReplayBuffer`: each gradient step
      trains on whole compositions (``batch_size`` transitions rounded to whole episodes, at least
      one), so one RNN pass gives every ``Q(s_t, ·)``; any other SB3 buffer also works
      (transition by transition, slower);
    * soft target updates after every optimiser step (``tau``), not per env step;
    * acting: Boltzmann sampling from the first step (no uniform warm-up during
      ``learning_starts``); Q-learning may use ε-greedy instead; the recurrent state is carried
      across env steps (:class:`~agents.policy.RecurrentActor`);
    * the mean of each reward term (``info["reward_terms"]``, summed per composition) is logged
      as ``reward/<name>``.

    :param policy: ``"NoteRNNPolicy"`` (or the class).
    :param env: a ``SequenceTutor-v0`` env, VecEnv or env id.
    :param algo: ``"q"``, ``"psi"`` (default) or ``"g"``.
    :param note_rnn: Note RNN checkpoint, model or config for the Q-network (None: shipped LSTM).
    :param learning_rate: Adam learning rate (1e-3).
    :param buffer_size: replay capacity in transitions (100k).
    :param learning_starts: env steps collected before the first gradient step.
    :param batch_size: transitions per gradient step (32 = one composition of 32 steps).
    :param tau: Polyak coefficient applied after each optimiser step (0.01).
    :param gamma: discount (0.5).
    :param train_freq: train every ``train_freq`` env steps (5).
    :param gradient_steps: optimiser steps per training round.
    :param loss: ``"mse"`` (rl_tuner) or ``"huber"``.
    :param exploration: Q-learning only: ``"egreedy"`` (default for Q) or ``"boltzmann"``;
        Ψ and G always sample from their Boltzmann policy (ε = 0).
    :param exploration_fraction: ε-greedy: fraction of training over which ε decays.
    :param exploration_initial_eps: ε-greedy: initial ε.
    :param exploration_final_eps: ε-greedy: final ε.
    :param temperature: Boltzmann temperature.
    :param note_rnn_weight: the reward's ``w`` (G-learning removes ``w · log p`` from ``r``);
        None reads ``note_rnn_weight`` from the env, else 1.
    :param max_grad_norm: gradient-norm clip (5).
    :param replay_buffer_class: replay buffer (default :class:`EpisodeReplayBuffer`).
    :param replay_buffer_kwargs: its keyword arguments.
    :param stats_window_size: episodes averaged in the rollout logs.
    :param tensorboard_log: TensorBoard folder (None: no TensorBoard).
    :param policy_kwargs: extra policy arguments.
    :param verbose: SB3 verbosity.
    :param seed: random seed.
    :param device: torch device (``"cpu"``; recurrent nets this small are faster there).
    :param _init_setup_model: build the networks now.
    """

    policy_aliases: ClassVar[dict[str, type]] = {"NoteRNNPolicy": NoteRNNPolicy}
    policy: NoteRNNPolicy

    def __init__(
        self,
        policy: str | type[NoteRNNPolicy] = "NoteRNNPolicy",
        env: GymEnv | str | None = None,
        algo: str = "psi",
        note_rnn: NoteRNNSource = None,
        learning_rate: float | Schedule = _D.learning_rate,
        buffer_size: int = _D.buffer_size,
        learning_starts: int = _D.learning_starts,
        batch_size: int = _D.batch_size,
        tau: float = _D.tau,
        gamma: float = _D.gamma,
        train_freq: int | tuple[int, str] = _D.train_freq,
        gradient_steps: int = _D.gradient_steps,
        loss: str = _D.loss,
        exploration: str | None = _D.exploration,
        exploration_fraction: float = _D.exploration_fraction,
        exploration_initial_eps: float = _D.exploration_initial_eps,
        exploration_final_eps: float = _D.exploration_final_eps,
        temperature: float = _D.temperature,
        note_rnn_weight: float | None = _D.note_rnn_weight,
        max_grad_norm: float = _D.max_grad_norm,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: torch.device | str = "cpu",
        _init_setup_model: bool = True,
    ) -> None:
        check_algo(algo)
        config = KLControlConfig(
            learning_rate=learning_rate if not callable(learning_rate) else _D.learning_rate,
            buffer_size=buffer_size,
            learning_starts=learning_starts,
            batch_size=batch_size,
            tau=tau,
            gamma=gamma,
            train_freq=train_freq if isinstance(train_freq, int) else int(train_freq[0]),
            gradient_steps=gradient_steps,
            loss=loss,
            exploration=exploration,
            exploration_fraction=exploration_fraction,
            exploration_initial_eps=exploration_initial_eps,
            exploration_final_eps=exploration_final_eps,
            temperature=temperature,
            note_rnn_weight=note_rnn_weight,
            max_grad_norm=max_grad_norm,
        )
        check_settings(config)
        config.check(algo)
        exploration = exploration or ("egreedy" if algo == "q" else "boltzmann")
        self.algo = algo
        self.loss_name = loss
        self.exploration = exploration
        self.note_rnn_weight = note_rnn_weight
        policy_kwargs = dict(policy_kwargs or {})
        policy_kwargs.setdefault("note_rnn", note_rnn)
        policy_kwargs.setdefault("algo", algo)
        policy_kwargs.setdefault("boltzmann", exploration == "boltzmann")
        policy_kwargs.setdefault("temperature", temperature)
        if exploration != "egreedy":
            exploration_initial_eps = exploration_final_eps = 0.0
        with warnings.catch_warnings():
            # target_update_interval is unused (Polyak after each optimiser step in train());
            # SB3 warns when it is smaller than the number of envs.
            warnings.filterwarnings("ignore", message="The number of environments used")
            super().__init__(
                policy,
                env,  # type: ignore[arg-type]
                learning_rate=learning_rate,
                buffer_size=buffer_size,
                learning_starts=learning_starts,
                batch_size=batch_size,
                tau=tau,
                gamma=gamma,
                train_freq=train_freq,
                gradient_steps=gradient_steps,
                replay_buffer_class=replay_buffer_class or EpisodeReplayBuffer,
                replay_buffer_kwargs=replay_buffer_kwargs,
                target_update_interval=1,
                exploration_fraction=exploration_fraction,
                exploration_initial_eps=exploration_initial_eps,
                exploration_final_eps=exploration_final_eps,
                max_grad_norm=max_grad_norm,
                stats_window_size=stats_window_size,
                tensorboard_log=tensorboard_log,
                policy_kwargs=policy_kwargs,
                verbose=verbose,
                seed=seed,
                device=device,
                _init_setup_model=_init_setup_model,
            )

    # -- set-up ---------------------------------------------------------------------------------
    def _setup_model(self) -> None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The number of environments used")
            super()._setup_model()
        self.exploration_schedule = LinearSchedule(
            self.exploration_initial_eps, self.exploration_final_eps, self.exploration_fraction
        )
        self.actor = RecurrentActor(self.policy)
        self._online_parameters = list(self.q_net.parameters())
        self._target_parameters = list(self.q_net_target.parameters())
        self._episode_terms: list[dict[str, float]] = [{} for _ in range(self.n_envs)]
        self.reward_terms_buffer: collections.deque = collections.deque(
            maxlen=self._stats_window_size
        )
        if self.note_rnn_weight is None:
            self.note_rnn_weight = self._env_note_rnn_weight()

    def _env_note_rnn_weight(self) -> float:
        if self.env is not None:
            try:
                return float(self.env.get_attr("note_rnn_weight")[0])
            except (AttributeError, TypeError, ValueError):
                pass
        return 1.0

    @property
    def melody_length(self) -> int:
        return int(self.observation_space.shape[0]) - 1

    @property
    def episodes_per_batch(self) -> int:
        return max(1, round(self.batch_size / self.melody_length))

    def _setup_learn(self, total_timesteps: int, *args: Any, **kwargs: Any) -> Any:
        result = super()._setup_learn(total_timesteps, *args, **kwargs)
        # learn() may have reset the env: carried RNN states and partial episodes are stale.
        self.actor.reset()
        if isinstance(self.replay_buffer, EpisodeReplayBuffer):
            self.replay_buffer._pending = [[] for _ in range(self.n_envs)]
        self._episode_terms = [{} for _ in range(self.n_envs)]
        return result

    # -- acting -------------------------------------------------------------------------------
    def _sample_action(
        self,
        learning_starts: int,
        action_noise: ActionNoise | None = None,
        n_envs: int = 1,
    ) -> tuple[np.ndarray, np.ndarray]:
        # Act with the policy from the first step: it starts as the Note RNN, whereas SB3's
        # uniform warm-up would fill the buffer with noise the agent never plays.
        assert self._last_obs is not None, "self._last_obs was not set"
        logits = self.actor.logits(self._last_obs)  # type: ignore[arg-type]
        if self.policy.boltzmann:
            actions = sample_actions(logits)
        else:
            actions = logits.argmax(axis=1)
        if self.exploration_rate > 0:
            # The global NumPy RNG, seeded by SB3, as DQN.predict uses it.
            explore = np.random.rand(n_envs) < self.exploration_rate  # noqa: NPY002
            if explore.any():
                uniform = np.random.randint(0, self.action_space.n, size=n_envs)  # noqa: NPY002
                actions = np.where(explore, uniform, actions)
        return actions, actions

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Action for ``observation``: the Boltzmann policy (or ε-greedy for Q), or the argmax."""
        if self.exploration == "egreedy":
            return super().predict(observation, state, episode_start, deterministic)
        return self.policy.predict(observation, state, episode_start, deterministic)

    def _on_step(self) -> None:
        # No target update here: train() applies Polyak after each optimiser step.
        self._n_calls += 1
        self.exploration_rate = self.exploration_schedule(self._current_progress_remaining)
        self.logger.record("rollout/exploration_rate", self.exploration_rate)

    # -- reward-term logging ------------------------------------------------------------------
    def _store_transition(
        self,
        replay_buffer: ReplayBuffer,
        buffer_action: np.ndarray,
        new_obs: np.ndarray | dict[str, np.ndarray],
        reward: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        for env, info in enumerate(infos):
            terms = info.get("reward_terms")
            if terms:
                sums = self._episode_terms[env]
                for name, value in terms.items():
                    sums[name] = sums.get(name, 0.0) + float(value)
            if dones[env]:
                if self._episode_terms[env]:
                    self.reward_terms_buffer.append(self._episode_terms[env])
                self._episode_terms[env] = {}
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward, dones, infos)

    def dump_logs(self) -> None:
        """SB3's rollout logs plus ``reward/<term>``: each term's mean sum per composition."""
        if self.reward_terms_buffer:
            names = sorted({name for terms in self.reward_terms_buffer for name in terms})
            for name in names:
                values = [terms.get(name, 0.0) for terms in self.reward_terms_buffer]
                self.logger.record(f"reward/{name}", float(np.mean(values)))
        super().dump_logs()

    # -- learning -------------------------------------------------------------------------------
    def train(self, gradient_steps: int, batch_size: int = 32) -> None:
        """``gradient_steps`` optimiser steps on replayed compositions, Polyak after each."""
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        losses, values = [], []
        for _ in range(gradient_steps):
            if isinstance(self.replay_buffer, EpisodeReplayBuffer):
                batch = self.replay_buffer.sample_episodes(self.episodes_per_batch)
                if batch is None:
                    break
                current, target, mask = self._episode_td(batch)
            else:
                replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
                current, target = self._transition_td(replay_data)
                mask = None
            loss = self._loss(current, target, mask)
            self.policy.optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self._online_parameters, self.max_grad_norm)
            self.policy.optimizer.step()
            polyak_update(self._online_parameters, self._target_parameters, self.tau)
            self._n_updates += 1
            losses.append(loss.item())
            values.append(float(current.detach().mean()))
        if losses:
            self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
            self.logger.record("train/loss", float(np.mean(losses)))
            self.logger.record("train/q_taken_mean", float(np.mean(values)))
            self.actor.refresh()

    def _loss(
        self, current: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        if self.loss_name == "mse":
            errors = F.mse_loss(current, target, reduction="none")
        else:
            errors = F.smooth_l1_loss(current, target, reduction="none")
        if mask is None:
            return errors.mean()
        return (errors * mask).sum() / mask.sum().clamp_min(1)

    def _episode_td(self, batch: EpisodeBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(Q(s_t, a_t), y_t, mask)`` for every step of whole compositions: one RNN pass each."""
        tokens = batch.tokens
        actions = batch.actions
        with torch.no_grad():
            # Position t + 1 of a pass over the whole row is s_{t+1}.
            next_values = self.q_net_target.sequence_values(tokens)[:, 1:]
            next_log_prior = action_log_prior = None
            if self.algo == "g":
                log_prior = self.policy.prior_sequence_log_probs(tokens)
                next_log_prior = log_prior[:, 1:]
                action_log_prior = log_prior[:, :-1].gather(-1, actions[..., None])[..., 0]
            target = kl_control_targets(
                self.algo,
                batch.rewards,
                next_values,
                batch.dones,
                self.gamma,
                next_log_prior=next_log_prior,
                action_log_prior=action_log_prior,
                note_rnn_weight=float(self.note_rnn_weight or 1.0),
            )
        values = self.q_net.sequence_values(tokens[:, :-1])
        current = values.gather(-1, actions[..., None])[..., 0]
        return current, target, batch.mask.float()

    def _transition_td(self, data: ReplayBufferSamples) -> tuple[torch.Tensor, torch.Tensor]:
        """``(Q(s, a), y)`` for SB3 transitions (re-reads each padded melody; reference path)."""
        actions = data.actions.long()
        with torch.no_grad():
            next_values = self.q_net_target(data.next_observations)
            next_log_prior = action_log_prior = None
            if self.algo == "g":
                next_log_prior = self._prior_log_probs(data.next_observations)
                action_log_prior = self._prior_log_probs(data.observations).gather(1, actions)[:, 0]
            target = kl_control_targets(
                self.algo,
                data.rewards[:, 0],
                next_values,
                data.dones[:, 0],
                self.gamma,
                next_log_prior=next_log_prior,
                action_log_prior=action_log_prior,
                note_rnn_weight=float(self.note_rnn_weight or 1.0),
            )
        current = self.q_net(data.observations).gather(1, actions)[:, 0]
        return current, target

    def _prior_log_probs(self, obs: torch.Tensor) -> torch.Tensor:
        tokens, position = observation_prefix(obs, self.q_net.pad)
        log_probs = self.policy.prior_sequence_log_probs(tokens)
        return log_probs[torch.arange(len(position)), position]

    # -- what a checkpoint holds (named here, where the state lives; written by agents.agent_file
    # and agents.training_state, which never import this class) ----------------------------------
    def hyperparameters(self) -> dict[str, Any]:
        """The :class:`~agents.config.KLControlConfig` fields that rebuild this agent (stored in
        the agent file; ``train_freq`` as SB3's ``[frequency, unit]``)."""
        values = {f.name: getattr(self, f.name, None) for f in dataclasses.fields(KLControlConfig)}
        values["loss"] = self.loss_name
        values["learning_rate"] = float(self.lr_schedule(1.0))
        values["train_freq"] = [int(self.train_freq.frequency), self.train_freq.unit.value]
        values["temperature"] = self.policy.temperature
        return values

    def at_composition_starts(self) -> bool:
        """Whether every env has just started a composition (its observation holds only the
        primer), so no episode is in progress and no recurrent state is carried."""
        obs = self._last_obs
        if not isinstance(obs, np.ndarray) or obs.ndim != 2 or self.env is None:
            return False
        return bool(((obs != self.policy.q_net.pad).sum(axis=1) == 1).all())

    def training_state(
        self, *, exact_resume: bool = True
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """``(tensors, json)`` that ``--resume`` needs beyond the weights: Adam's state, the
        replay buffer's episodes, the global RNGs and SB3's counters; with ``exact_resume`` and
        every env at the start of a composition, also the envs' observations and generators."""
        optimizer = self.policy.optimizer.state_dict()
        tensors: dict[str, torch.Tensor] = {}
        for index, state in optimizer["state"].items():
            for key, value in state.items():
                tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value).detach().cpu().clone()
        if isinstance(self.replay_buffer, EpisodeReplayBuffer):
            for key, value in self.replay_buffer.state_arrays().items():
                tensors[f"replay.{key}"] = torch.from_numpy(np.ascontiguousarray(value))
        tensors["rng.torch"] = torch.get_rng_state()
        exact = self._exact_resume_state() if exact_resume else None
        numpy_state = np.random.get_state()  # noqa: NPY002 (SB3 seeds the global RNG)
        tensors["rng.numpy"] = torch.from_numpy(np.asarray(numpy_state[1], dtype=np.int64))
        version, internal, gauss = random.getstate()
        meta: dict[str, Any] = {
            "param_groups": optimizer["param_groups"],
            "counters": {
                "num_timesteps": int(self.num_timesteps),
                "n_updates": int(self._n_updates),
                "episode_num": int(self._episode_num),
                "n_calls": int(self._n_calls),
            },
            "rng_numpy": [numpy_state[0], int(numpy_state[2]), int(numpy_state[3]), numpy_state[4]],
            "rng_python": [version, list(internal), gauss],
        }
        if exact is not None:
            meta["exact_resume"] = exact
        return tensors, meta

    def restore_training_state(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        """Restore what :meth:`training_state` returned (raises ``KeyError``/``ValueError``/...
        when it does not fit this agent)."""
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("optimizer."):
                _, index, name = key.split(".", 2)
                state.setdefault(int(index), {})[name] = value
        self.policy.optimizer.load_state_dict(
            {"state": state, "param_groups": meta["param_groups"]}
        )
        replay = {
            k[len("replay.") :]: v.numpy() for k, v in tensors.items() if k.startswith("replay.")
        }
        if replay and isinstance(self.replay_buffer, EpisodeReplayBuffer):
            self.replay_buffer.load_state_arrays(replay)
        counters = meta["counters"]
        self.num_timesteps = int(counters["num_timesteps"])
        self._n_updates = int(counters["n_updates"])
        self._episode_num = int(counters["episode_num"])
        self._n_calls = int(counters["n_calls"])
        torch.set_rng_state(tensors["rng.torch"])
        name, pos, has_gauss, cached = meta["rng_numpy"]
        keys = tensors["rng.numpy"].numpy().astype(np.uint32)
        np.random.set_state((name, keys, int(pos), int(has_gauss), float(cached)))  # noqa: NPY002
        if "rng_python" in meta:  # absent from checkpoints written before exact resume
            version, internal, gauss = meta["rng_python"]
            random.setstate((int(version), tuple(int(v) for v in internal), gauss))
        if isinstance(meta.get("exact_resume"), dict):
            self._restore_exact_resume(meta["exact_resume"])

    def _exact_resume_state(self) -> dict | None:
        """What a bit-identical resume needs beyond the counters, weights and global RNGs: the
        envs' current observations (fresh primers) and generators, and ε. None mid-episode."""
        if not self.at_composition_starts():
            return None
        generators = self.env.get_attr("np_random")  # type: ignore[union-attr]
        return {
            "last_obs": np.asarray(self._last_obs).astype(np.int64).tolist(),
            "env_rng": [g.bit_generator.state for g in generators],
            "exploration_rate": float(self.exploration_rate),
        }

    def _restore_exact_resume(self, exact: dict) -> bool:
        """Put every env back at the stored primer with its stored generator and hand SB3 the
        stored observation (so ``learn`` does not reset the envs). False (and nothing changed) if
        the env cannot be reset to a given primer (``reset(options={"primer": ...})``)."""
        env = self.env
        last_obs = np.asarray(exact["last_obs"], dtype=np.int64)
        states = exact["env_rng"]
        if env is None or last_obs.shape != (env.num_envs, *self.observation_space.shape):
            raise ValueError(f"stored observations of shape {last_obs.shape} do not fit the env")
        if len(states) != env.num_envs:
            raise ValueError(f"{len(states)} env generator states for {env.num_envs} envs")
        generators = []
        for state in states:
            if not isinstance(state, dict) or state.get("bit_generator") not in (
                "PCG64",
                "PCG64DXSM",
            ):
                raise ValueError("env generator state is not a NumPy PCG64 state")
            generator = np.random.Generator(getattr(np.random, state["bit_generator"])())
            generator.bit_generator.state = state
            generators.append(generator)
        for index in range(env.num_envs):
            primer = [int(last_obs[index, 0])]
            obs, _ = env.env_method("reset", options={"primer": primer}, indices=[index])[0]
            if not np.array_equal(np.asarray(obs), last_obs[index]):
                return False
        for index, generator in enumerate(generators):
            env.set_attr("np_random", generator, indices=[index])
        self._last_obs = last_obs.copy()  # type: ignore[assignment]
        self.exploration_rate = float(exact["exploration_rate"])
        return True

    # -- safe persistence (SB3's zip format pickles; these never do) --------------------------------
    def save(self, path, exclude=None, include=None) -> None:  # type: ignore[override]
        """Write ``path.safetensors`` + ``path.json`` (see :mod:`agents.agent_file`)."""
        save_agent(self, path)

    @classmethod
    def load(  # type: ignore[override]
        cls,
        path: str | os.PathLike,
        env: GymEnv | None = None,
        device: torch.device | str = "cpu",
        *,
        training_state: str | os.PathLike | None = None,
        **overrides: Any,
    ) -> SequenceTutorDQN:
        """Build the agent on ``env`` from ``path.json`` and load ``path.safetensors``; never
        unpickles. SB3 zip files (``DQN.save``) are refused: unpickling a foreign file can run
        its code.

        :param training_state: a training state (``training``) to resume from as well.
        :param overrides: constructor arguments replacing the stored hyper-parameters.
        """
        if str(path).endswith(".zip"):
            raise SequenceTutorError(
                f"{path}: SB3 zip archives are pickles and are not loaded; save agents with "
                "SequenceTutorDQN.save (safetensors + JSON)"
            )
        if env is None:
            raise SequenceTutorError("SequenceTutorDQN.load needs the env to build the agent on")
        for sb3_only in ("custom_objects", "print_system_info", "force_reset"):
            overrides.pop(sb3_only, None)
        weights_path, _ = agent_paths(path)
        meta = read_agent_meta(path)
        tensors = read_tensors(weights_path, "agent")
        check_note_rnn_tensors(meta, tensors, weights_path)
        hyper = dict(meta.get("hyperparameters", {}))
        if "train_freq" in hyper:
            hyper["train_freq"] = tuple(hyper["train_freq"])
        hyper.update(overrides)
        try:
            model = cls(
                "NoteRNNPolicy",
                env,
                algo=meta["algo"],
                note_rnn=meta["note_rnn_config"],
                device=device,
                **hyper,
            )
        except TypeError as exc:
            raise SequenceTutorError(f"{path}: invalid agent hyper-parameters ({exc})") from None
        if model.melody_length != meta["melody_length"]:
            raise SequenceTutorError(
                f"{weights_path}: agent trained on melodies of {meta['melody_length']} steps, "
                f"the env has {model.melody_length}"
            )
        load_policy_tensors(model.policy, tensors, weights_path)
        model.num_timesteps = int(meta.get("num_timesteps", 0))
        if training_state is not None:
            load_training_state(model, training_state)
        return model

    def _excluded_save_params(self) -> list[str]:
        return [
            *super()._excluded_save_params(),
            "actor",
            "_online_parameters",
            "_target_parameters",
        ]


def load_agent(
    path: str | os.PathLike,
    env: GymEnv,
    *,
    training_state: str | os.PathLike | None = None,
    **overrides: Any,
) -> SequenceTutorDQN:
    """:meth:`SequenceTutorDQN.load`: build the agent in ``path`` on ``env``."""
    return SequenceTutorDQN.load(path, env, training_state=training_state, **overrides)


__all__ = ["PAPER_HYPERPARAMETERS", "SequenceTutorDQN", "kl_control_targets", "load_agent"]
