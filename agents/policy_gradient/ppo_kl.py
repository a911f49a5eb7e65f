"""PPO-KL: Stable-Baselines3's PPO on a Note RNN actor-critic, with the KL to the prior in the reward.

As RLHF fine-tunes a pretrained model (Ziegler et al. 2019, https://arxiv.org/abs/1909.08593; TRL):
the actor is a copy of the Note RNN (``π = p`` before training), the critic a value head on its
hidden state, and PPO (Schulman et al. 2017, https://arxiv.org/abs/1707.06347) maximises the
return of the per-step reward

    r'_t = r_theory(s_t, a_t) / c − β (log π_old(a_t | s_t) − log p(a_t | s_t)),

``r_theory / c = r − info["reward_terms"]["note_rnn"]`` (:mod:`agents.policy_gradient.rollout`),
``β = w`` fixed, or TRL's adaptive controller (:mod:`agents.policy_gradient.kl`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.distributions import CategoricalDistribution
from stable_baselines3.common.policies import ActorCriticPolicy, BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, Schedule
from stable_baselines3.common.utils import explained_variance, obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv

from agents.policy import NoteRNNSource, pad_token
from agents.policy_gradient import checkpoint as ckpt
from agents.policy_gradient.actor import NoteRNNActor
from agents.policy_gradient.base import gather_actions
from agents.policy_gradient.kl import (
    categorical_kl,
    check_positive,
    kl_controller,
    kl_shaped_rewards,
)
from pretrain.config import setting
from pretrain.errors import SequenceTutorError
from pretrain.models import NoteRNNConfig

TRL_INIT_KL_COEF = 0.2


@dataclasses.dataclass
class PPOKLConfig:
    """PPO-KL's hyper-parameters (the PPO ones are passed to SB3's :class:`~stable_baselines3.PPO`)."""

    learning_rate: float = setting(
        3e-4,
        "Adam learning rate (fine-tuning a pretrained model: 1e-4 .. 3e-4)",
        flag="--lr",
        above=0,
    )
    n_envs: int = setting(8, "envs built when env is None or an id (make_vec_env)", minimum=1)
    n_steps: int = setting(
        128,
        "env steps per env per rollout; a multiple of T (32) keeps compositions whole",
        minimum=1,
    )
    batch_size: int = setting(
        256,
        "transitions per minibatch (whole compositions: rounded to a multiple of T)",
        minimum=1,
    )
    n_epochs: int = setting(4, "passes over each rollout", minimum=1)
    gamma: float = setting(
        1.0, "discount; 1 optimises the undiscounted objective J", above=0, maximum=1
    )
    gae_lambda: float = setting(0.95, "GAE lambda", minimum=0, maximum=1)
    clip_range: float = setting(0.2, "PPO's ratio clip epsilon", above=0)
    vf_coef: float = setting(0.5, "weight of the value loss", minimum=0)
    ent_coef: float = setting(0.0, "entropy bonus (the KL term keeps pi stochastic)", minimum=0)
    max_grad_norm: float = setting(1.0, "gradient-norm clip", above=0)
    normalize_advantage: bool = setting(True, "normalise advantages per minibatch (SB3's default)")
    target_kl: float | None = setting(
        None,
        "SB3's early stop of an epoch when the approximate KL(pi_old || pi) exceeds 1.5x this",
        above=0,
    )
    beta: float | None = setting(
        None,
        "KL coefficient beta (> 0); default: the env's note_rnn_weight w (the objective's)",
        above=0,
    )
    adaptive_kl: bool = setting(
        False, "adapt beta with TRL's controller (from --beta, or TRL's 0.2 without it)"
    )
    kl_target: float = setting(6.0, "adaptive beta: KL per composition to track (nats)", above=0)
    kl_horizon: int = setting(
        10_000, "adaptive beta: the controller's horizon in compositions", minimum=1
    )

    def __post_init__(self) -> None:
        for name in ("n_envs", "n_steps", "batch_size", "n_epochs", "kl_horizon"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise SequenceTutorError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("learning_rate", "clip_range", "max_grad_norm", "kl_target", "kl_horizon"):
            check_positive(name, getattr(self, name))
        for name in ("vf_coef", "ent_coef"):
            check_positive(name, getattr(self, name), allow_zero=True)
        if not 0 < self.gamma <= 1 or not 0 <= self.gae_lambda <= 1:
            raise SequenceTutorError(
                f"gamma must be in (0, 1] and gae_lambda in [0, 1], got {self.gamma}, "
                f"{self.gae_lambda}"
            )
        if self.beta is not None:
            check_positive("beta", self.beta)
        if self.target_kl is not None:
            check_positive("target_kl", self.target_kl)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PPOKLConfig:
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise SequenceTutorError(f"unknown PPOKLConfig fields {unknown}")
        return cls(**data)

    def ppo_kwargs(self) -> dict[str, Any]:
        names = ("learning_rate", "n_steps", "n_epochs", "gamma", "gae_lambda", "clip_range")
        names += ("vf_coef", "ent_coef", "max_grad_norm", "normalize_advantage", "target_kl")
        kwargs = {name: getattr(self, name) for name in names}
        kwargs["batch_size"] = self.batch_size
        return kwargs


class NoteRNNActorCriticPolicy(ActorCriticPolicy):
    """SB3 actor-critic policy whose actor is a Note RNN and critic a value head on its state.

    Reads raw int tokens (``[B, 1 + T]``, PAD past the current step) like
    :class:`~agents.policy.NoteRNNQNetwork`; ``π(· | s) = softmax(Note RNN logits)`` equals the
    Note RNN before training and ``V(s) = 0`` (zero-initialised head). The network, with the
    frozen prior, is :attr:`net` (:class:`~agents.policy_gradient.actor.NoteRNNActor`).

    :param observation_space: the env's token observation space.
    :param action_space: Discrete(vocab_size).
    :param lr_schedule: learning-rate schedule (SB3).
    :param note_rnn: checkpoint, model, config (weights loaded later) or None (shipped LSTM).
    :param optimizer_class: optimiser (Adam).
    :param optimizer_kwargs: its extra arguments.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        note_rnn: NoteRNNSource = None,
        optimizer_class: type[torch.optim.Optimizer] = torch.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        use_sde: bool = False,
    ) -> None:
        if use_sde:
            raise SequenceTutorError(
                "gSDE is for continuous actions; the Note RNN policy is discrete"
            )
        # Skip ActorCriticPolicy.__init__: it builds MLP extractors we do not use.
        BasePolicy.__init__(
            self,
            observation_space,
            action_space,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs or {},
            normalize_images=False,
        )
        self.use_sde = False
        self.share_features_extractor = True
        self.action_dist = CategoricalDistribution(int(action_space.n))
        self.net = NoteRNNActor(note_rnn, pad_token(observation_space), value_head=True)
        if self.net.rnn.vocab_size != int(action_space.n):
            raise SequenceTutorError(
                f"Note RNN of {self.net.rnn.vocab_size} tokens does not fit an env with "
                f"{action_space.n} actions"
            )
        self.optimizer = self.optimizer_class(  # type: ignore[call-arg]
            self.net.trainable_parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    @property
    def note_rnn_config(self) -> NoteRNNConfig:
        return self.net.note_rnn_config

    def set_training_mode(self, mode: bool) -> None:
        self.net.train(mode)
        self.training = mode

    def _distribution(self, obs: torch.Tensor) -> tuple[CategoricalDistribution, torch.Tensor]:
        log_pi, values = self.net.observation_log_probs(obs)
        return self.action_dist.proba_distribution(action_logits=log_pi), values

    def forward(
        self, obs: torch.Tensor, deterministic: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        distribution, values = self._distribution(obs)
        actions = distribution.get_actions(deterministic=deterministic)
        return actions, values[:, None], distribution.log_prob(actions)

    def evaluate_actions(
        self, obs: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        distribution, values = self._distribution(obs)
        actions = actions.long().reshape(-1)
        return values[:, None], distribution.log_prob(actions), distribution.entropy()

    def get_distribution(self, obs: torch.Tensor) -> CategoricalDistribution:
        return self._distribution(obs)[0]

    def predict_values(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net.observation_log_probs(obs)[1][:, None]

    def _predict(self, observation: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        return self.get_distribution(observation).get_actions(deterministic=deterministic)

    def action_probabilities(self, obs: np.ndarray) -> np.ndarray:
        """``π(· | s)`` ``float64[B, V]`` for observations ``[B, 1 + T]``."""
        return self.net.action_probabilities(obs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = BasePolicy._get_constructor_parameters(self)
        data.update(
            lr_schedule=self._dummy_schedule,
            note_rnn=self.note_rnn_config,
            optimizer_class=self.optimizer_class,
            optimizer_kwargs=self.optimizer_kwargs,
        )
        return data


def _composition_layout(obs: np.ndarray, pad: int, length: int) -> bool:
    """Whether a rollout ``[n_steps, n_envs, 1 + T]`` is whole compositions, all in step."""
    n_steps = obs.shape[0]
    if n_steps % length:
        return False
    played = (obs != pad).sum(axis=2)
    return bool((played == (np.arange(n_steps) % length + 1)[:, None]).all())


class PPOKL(PPO):
    """PPO with a KL penalty to the frozen Note RNN in the reward (module docstring).

    SB3's :class:`~stable_baselines3.PPO` (its ``learn`` loop, callbacks, logger, rollout buffer
    and GAE) with:

    * the policy :class:`NoteRNNActorCriticPolicy` (π = p at the start, V = 0);
    * ``collect_rollouts`` storing the shaped reward ``r'_t`` (``r_theory / c`` from the env's
      reward terms, ``log p`` from one pass of the frozen prior over each composition);
    * ``train`` on whole compositions when the rollout is made of them (``n_steps`` a multiple of
      T, envs in step, as they are after a reset): one RNN pass gives ``log π`` and ``V`` for
      every step of a minibatch of compositions; otherwise SB3's per-transition path;
    * ``β`` from a fixed or TRL's adaptive controller, updated after each rollout with the exact
      KL per composition; logged as ``train/beta`` with ``objective/{theory,kl,J,log_p}``;
    * safetensors + JSON persistence (:meth:`save`, :meth:`load`, :meth:`save_training_state`).

    Sequence Tutor compositions end by termination, never truncation, so no timeout bootstrap.

    :param env: an SB3 VecEnv (or a Gymnasium env) of ``SequenceTutor-v0``, an env id, or None
        (``make_vec_env("SequenceTutor-v0", n_envs)``).
    :param config: :class:`PPOKLConfig`.
    :param note_rnn: the Note RNN the actor and the prior copy (None: the shipped LSTM).
    :param seed: SB3's seed (torch, NumPy, envs).
    :param tensorboard_log: TensorBoard folder.
    :param verbose: SB3 verbosity.
    :param env_kwargs: arguments of the envs built here.
    """

    algo: ClassVar[str] = "ppo-kl"
    policy_aliases: ClassVar[dict[str, type]] = {
        "NoteRNNActorCriticPolicy": NoteRNNActorCriticPolicy
    }
    policy: NoteRNNActorCriticPolicy

    def __init__(
        self,
        env: GymEnv | str | None = None,
        config: PPOKLConfig | None = None,
        *,
        note_rnn: NoteRNNSource = None,
        seed: int | None = 0,
        tensorboard_log: str | None = None,
        verbose: int = 0,
        env_kwargs: dict | None = None,
        _init_setup_model: bool = True,
    ) -> None:
        config = config if config is not None else PPOKLConfig()
        if not isinstance(config, PPOKLConfig):
            raise SequenceTutorError(
                f"ppo-kl: config must be a PPOKLConfig, got {type(config).__name__}"
            )
        self.config = config
        if env is None or isinstance(env, str):
            from stable_baselines3.common.env_util import make_vec_env  # noqa: PLC0415

            import envs  # noqa: F401, PLC0415 (registers SequenceTutor-v0)

            env = make_vec_env(
                env or "SequenceTutor-v0", n_envs=config.n_envs, seed=seed, env_kwargs=env_kwargs
            )
        elif env_kwargs:
            raise SequenceTutorError("env_kwargs are for envs built here (env=None or an env id)")
        super().__init__(
            NoteRNNActorCriticPolicy,
            env,
            policy_kwargs={"note_rnn": note_rnn},
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            seed=seed,
            device="cpu",
            _init_setup_model=_init_setup_model,
            **config.ppo_kwargs(),
        )

    def _setup_model(self) -> None:
        super()._setup_model()
        self.pad = pad_token(self.observation_space)
        self.melody_length = int(self.observation_space.shape[0]) - 1
        self.note_rnn_weight = self._env_note_rnn_weight()
        config = self.config
        if config.beta is not None:
            beta = config.beta
        elif config.adaptive_kl:
            beta = TRL_INIT_KL_COEF
        else:
            beta = self.note_rnn_weight
        self.kl_ctl = kl_controller(beta, config.adaptive_kl, config.kl_target, config.kl_horizon)
        self._compositions: dict[str, torch.Tensor] | None = None
        self.last_stats: dict[str, float] = {}

    def _env_note_rnn_weight(self) -> float:
        if self.env is not None:
            try:
                return float(self.env.get_attr("note_rnn_weight")[0])
            except (AttributeError, TypeError, ValueError):
                pass
        return 1.0

    @property
    def actor(self) -> NoteRNNActor:
        return self.policy.net

    @property
    def beta(self) -> float:
        return float(self.kl_ctl.value)

    def action_probabilities(self, obs: np.ndarray) -> np.ndarray:
        """``π(· | s)`` ``float64[B, V]`` for observations ``[B, 1 + T]``."""
        return self.policy.action_probabilities(obs)

    # -- rollouts ----------------------------------------------------------------------------
    def collect_rollouts(
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: RolloutBuffer,
        n_rollout_steps: int,
    ) -> bool:
        """SB3's rollout loop (discrete actions, no timeouts) storing the shaped reward ``r'``."""
        assert self._last_obs is not None, "No previous observation was provided"
        self.policy.set_training_mode(False)
        rollout_buffer.reset()
        callback.on_rollout_start()
        theory = np.zeros((n_rollout_steps, env.num_envs), dtype=np.float32)
        env_rewards = np.zeros((n_rollout_steps, env.num_envs), dtype=np.float32)
        for n_steps in range(n_rollout_steps):
            with torch.no_grad():
                actions, values, log_probs = self.policy(obs_as_tensor(self._last_obs, self.device))
            actions = actions.numpy()
            new_obs, rewards, dones, infos = env.step(actions)
            self.num_timesteps += env.num_envs
            callback.update_locals(locals())
            if not callback.on_step():
                return False
            self._update_info_buffer(infos, dones)
            env_rewards[n_steps] = rewards
            theory[n_steps] = [
                r - float(info["reward_terms"]["note_rnn"]) for r, info in zip(rewards, infos)
            ]
            rollout_buffer.add(
                self._last_obs,  # type: ignore[arg-type]
                actions.reshape(-1, 1),
                theory[n_steps],
                self._last_episode_starts,  # type: ignore[arg-type]
                values,
                log_probs,
            )
            self._last_obs = new_obs  # type: ignore[assignment]
            self._last_episode_starts = dones
        stats = self._shape_rewards(rollout_buffer, theory)
        stats["rollout/env_reward_per_step"] = float(env_rewards.mean())
        with torch.no_grad():
            values = self.policy.predict_values(obs_as_tensor(new_obs, self.device))
        rollout_buffer.compute_returns_and_advantage(last_values=values, dones=dones)
        for key, value in stats.items():
            self.logger.record(key, value)
        self.last_stats = stats
        callback.update_locals(locals())
        callback.on_rollout_end()
        return True

    @torch.no_grad()
    def _shape_rewards(self, buffer: RolloutBuffer, theory: np.ndarray) -> dict[str, float]:
        """``rewards ← r_theory / c − β (log π_old − log p)``; whole-composition tensors for train."""
        obs = buffer.observations.astype(np.int64)
        actions = buffer.actions[..., 0].astype(np.int64)
        n_steps, n_envs = actions.shape
        length = self.melody_length
        self._compositions = None
        if _composition_layout(obs, self.pad, length):
            blocks = n_steps // length
            # composition (block b, env e): its last observation plus its last action
            last = obs[length - 1 :: length]  # [blocks, n_envs, 1 + T]
            tokens = np.concatenate([last[..., :length], actions[length - 1 :: length, :, None]], 2)
            tokens = torch.from_numpy(tokens.reshape(blocks * n_envs, 1 + length))
            inputs, chosen = tokens[:, :-1], tokens[:, 1:]
            log_p_all = self.actor.prior_log_probs(inputs)
            log_pi_all, _ = self.actor.sequence_log_probs(inputs)
            kl = categorical_kl(log_pi_all, log_p_all).sum(dim=1)
            log_p = self._to_buffer(gather_actions(log_p_all, chosen), blocks, n_envs)
            self._compositions = {"tokens": tokens, "blocks": torch.tensor(blocks)}
            kl_per_composition = float(kl.mean())
            compositions = blocks * n_envs
        else:
            flat = torch.from_numpy(obs.reshape(n_steps * n_envs, -1))
            log_p_all = self.actor.observation_prior_log_probs(flat)
            log_pi_all, _ = self.actor.observation_log_probs(flat)
            kl_steps = categorical_kl(log_pi_all, log_p_all).reshape(n_steps, n_envs)
            log_p = log_p_all.gather(1, torch.from_numpy(actions.reshape(-1, 1)))[:, 0]
            log_p = log_p.reshape(n_steps, n_envs).numpy()
            kl_per_composition = float(kl_steps.mean()) * length
            compositions = max(1, n_steps * n_envs // length)
        buffer.rewards[:] = kl_shaped_rewards(theory, buffer.log_probs, log_p, self.beta)
        stats = {
            "objective/theory": float(theory.mean()) * length,
            "objective/kl": kl_per_composition,
            "objective/J": (
                float(theory.mean()) - self.note_rnn_weight * kl_per_composition / length
            )
            * length,
            "objective/log_p": float(log_p.mean()) * length,
            "train/beta": self.beta,
        }
        self.kl_ctl.update(kl_per_composition, compositions)
        return stats

    @staticmethod
    def _to_buffer(per_composition: torch.Tensor, blocks: int, n_envs: int) -> np.ndarray:
        """``[blocks · n_envs, T]`` (composition-major) -> the buffer's ``[n_steps, n_envs]``."""
        length = per_composition.shape[1]
        grid = per_composition.reshape(blocks, n_envs, length).permute(0, 2, 1)
        return grid.reshape(blocks * length, n_envs).numpy()

    # -- training ----------------------------------------------------------------------------
    def train(self) -> None:
        """PPO's update; on whole compositions (one RNN pass per minibatch) when possible."""
        if self._compositions is None:
            super().train()
            return
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        clip_range = float(self.clip_range(self._current_progress_remaining))  # type: ignore[operator]
        buffer = self.rollout_buffer
        tokens = self._compositions["tokens"]
        blocks = int(self._compositions["blocks"])
        n_envs, length = buffer.n_envs, self.melody_length
        to_comp = self._from_buffer
        advantages_all = to_comp(buffer.advantages, blocks, n_envs)
        returns_all = to_comp(buffer.returns, blocks, n_envs)
        old_log_prob_all = to_comp(buffer.log_probs, blocks, n_envs)
        count = tokens.shape[0]
        per_batch = max(1, self.batch_size // length)
        pg_losses, value_losses, entropy_losses, clip_fractions = [], [], [], []
        approx_kl_divs: list[float] = []
        continue_training = True
        loss = torch.zeros(())
        for _epoch in range(self.n_epochs):
            approx_kl_divs = []
            order = torch.from_numpy(np.random.permutation(count))  # noqa: NPY002 (SB3's RNG)
            for start in range(0, count, per_batch):
                rows = order[start : start + per_batch]
                log_pi_all, values = self.actor.sequence_log_probs(tokens[rows, :-1])
                log_prob = gather_actions(log_pi_all, tokens[rows, 1:])
                entropy = -(log_pi_all.exp() * log_pi_all).sum(dim=-1)
                advantages = advantages_all[rows]
                if self.normalize_advantage and advantages.numel() > 1:
                    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
                old_log_prob = old_log_prob_all[rows]
                ratio = torch.exp(log_prob - old_log_prob)
                policy_loss = -torch.min(
                    advantages * ratio, advantages * ratio.clamp(1 - clip_range, 1 + clip_range)
                ).mean()
                value_loss = F.mse_loss(returns_all[rows], values)
                entropy_loss = -entropy.mean()
                loss = policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss
                pg_losses.append(policy_loss.item())
                value_losses.append(value_loss.item())
                entropy_losses.append(entropy_loss.item())
                clip_fractions.append(((ratio - 1).abs() > clip_range).float().mean().item())
                with torch.no_grad():
                    log_ratio = log_prob - old_log_prob
                    approx_kl_divs.append(float(((log_ratio.exp() - 1) - log_ratio).mean()))
                if self.target_kl is not None and approx_kl_divs[-1] > 1.5 * self.target_kl:
                    continue_training = False
                    break
                self.policy.optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(
                    self.actor.trainable_parameters(), self.max_grad_norm
                )
                self.policy.optimizer.step()
            self._n_updates += 1
            if not continue_training:
                break
        explained = explained_variance(buffer.values.flatten(), buffer.returns.flatten())
        log = self.logger.record
        log("train/entropy_loss", float(np.mean(entropy_losses)))
        log("train/policy_gradient_loss", float(np.mean(pg_losses)))
        log("train/value_loss", float(np.mean(value_losses)))
        log("train/approx_kl", float(np.mean(approx_kl_divs)) if approx_kl_divs else 0.0)
        log("train/clip_fraction", float(np.mean(clip_fractions)))
        log("train/loss", loss.item())
        log("train/explained_variance", float(explained))
        log("train/n_updates", self._n_updates, exclude="tensorboard")
        log("train/clip_range", clip_range)

    @staticmethod
    def _from_buffer(array: np.ndarray, blocks: int, n_envs: int) -> torch.Tensor:
        """The buffer's ``[n_steps, n_envs]`` -> ``[blocks · n_envs, T]`` (composition-major)."""
        length = array.shape[0] // blocks
        grid = torch.as_tensor(array, dtype=torch.float32).reshape(blocks, length, n_envs)
        return grid.permute(0, 2, 1).reshape(blocks * n_envs, length)

    # -- persistence (never pickle) ----------------------------------------------------------------
    def save(self, path, exclude=None, include=None, metadata: dict | None = None) -> None:  # type: ignore[override]
        """Write ``path.safetensors`` + ``path.json`` (:mod:`agents.policy_gradient.checkpoint`);
        ``metadata`` is stored as is (the train command's env settings and seed)."""
        ckpt.save_pg_agent(
            path,
            algo=self.algo,
            network=self.actor,
            config=self.config.to_dict(),
            note_rnn_config=self.policy.note_rnn_config,
            melody_length=self.melody_length,
            num_timesteps=self.num_timesteps,
            kl_controller=self.kl_ctl.state(),
            metadata=metadata,
        )

    @classmethod
    def load(cls, path, env=None, device="cpu", **kwargs):  # type: ignore[override]
        """Build the agent from ``path.json`` on ``env`` and load ``path.safetensors``; SB3 zip
        files (pickles) are refused."""
        if str(path).endswith(".zip"):
            raise SequenceTutorError(
                f"{path}: SB3 zip archives are pickles and are not loaded; save with PPOKL.save"
            )
        meta, tensors = ckpt.read_pg_agent(path, cls.algo)
        config = PPOKLConfig.from_dict(meta["config"])
        model = cls(env, config, note_rnn=meta["note_rnn_config"], **kwargs)
        if model.melody_length != meta["melody_length"]:
            raise SequenceTutorError(
                f"{path}: agent trained on melodies of {meta['melody_length']} steps, the env "
                f"has {model.melody_length}"
            )
        ckpt.load_network(model.actor, tensors, path)
        model.num_timesteps = int(meta.get("num_timesteps", 0))
        model.kl_ctl.load_state(meta["kl_controller"])
        return model

    def save_training_state(self, path: str | Path) -> None:
        """Optimiser, RNGs, counters, β and (between rollouts, envs at composition starts) the
        envs' observations and generators: with :meth:`save`, an exact resume point."""
        extra: dict[str, Any] = {"kl_controller": self.kl_ctl.state()}
        obs = self._last_obs
        if isinstance(obs, np.ndarray) and self.env is not None:
            if bool(((obs != self.pad).sum(axis=1) == 1).all()):
                extra["last_obs"] = obs.astype(np.int64).tolist()
                extra["env_rng"] = [g.bit_generator.state for g in self.env.get_attr("np_random")]
        ckpt.save_training_state(
            path,
            optimizer=self.policy.optimizer,
            rng=None,
            counters={
                "num_timesteps": self.num_timesteps,
                "n_updates": self._n_updates,
                "episode_num": self._episode_num,
            },
            extra=json.loads(json.dumps(extra)),
        )

    def load_training_state(self, path: str | Path) -> None:
        """Restore :meth:`save_training_state`'s file into an agent loaded with :meth:`load`."""
        state = ckpt.load_training_state(path, self.policy.optimizer, None)
        counters, extra = state["counters"], state["extra"]
        self.num_timesteps = counters["num_timesteps"]
        self._n_updates = counters["n_updates"]
        self._episode_num = counters["episode_num"]
        self.kl_ctl.load_state(extra["kl_controller"])
        if "last_obs" in extra and self.env is not None:
            self._restore_envs(np.asarray(extra["last_obs"], dtype=np.int64), extra["env_rng"])

    def _restore_envs(self, last_obs: np.ndarray, states: list[dict]) -> None:
        env = self.env
        assert env is not None
        if (
            last_obs.shape != (env.num_envs, *self.observation_space.shape)
            or len(states) != env.num_envs
        ):
            raise SequenceTutorError("training state: stored observations do not fit the env")
        for index in range(env.num_envs):
            env.env_method("reset", options={"primer": [int(last_obs[index, 0])]}, indices=[index])
            generator = np.random.Generator(np.random.PCG64())
            generator.bit_generator.state = states[index]
            env.set_attr("np_random", generator, indices=[index])
        self._last_obs = last_obs.copy()  # type: ignore[assignment]
        self._last_episode_starts = np.ones(env.num_envs, dtype=bool)


__all__ = ["NoteRNNActorCriticPolicy", "PPOKL", "PPOKLConfig"]
