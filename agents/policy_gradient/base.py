"""What RLOO and GRPO share: groups of whole compositions, the learn loop, logging, persistence.

One iteration samples ``N = k · num_primers`` compositions from the vector env (``k`` per primer,
:class:`~agents.policy_gradient.rollout.GroupSampler`), re-reads them in one pass of the policy
and of the frozen prior (every step's ``log π(· | s_t)`` and ``log p(· | s_t)``), and takes the
algorithm's update. The per-composition return with the KL in the reward is

    R = Σ_t r_theory(s_t, a_t) / c  −  β Σ_t (log π(a_t | s_t) − log p(a_t | s_t)),

whose expectation is the objective ``J`` of DESIGN.md for ``β = w`` (the env's ``note_rnn_weight``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.callbacks import (
    BaseCallback,
    CallbackList,
    ConvertCallback,
    ProgressBarCallback,
)
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.utils import configure_logger

from agents.policy import NoteRNNSource, pad_token
from agents.policy_gradient import checkpoint as ckpt
from agents.policy_gradient.actor import NoteRNNActor
from agents.policy_gradient.kl import categorical_kl, check_positive, kl_controller
from agents.policy_gradient.rollout import CompositionBatch, GroupSampler
from pretrain.config import setting
from pretrain.errors import SequenceTutorError

TRL_INIT_KL_COEF = 0.2


@dataclasses.dataclass
class GroupConfig:
    """Hyper-parameters shared by the group-sampling policy gradients (RLOO, GRPO)."""

    learning_rate: float = setting(
        3e-4,
        "Adam learning rate (fine-tuning a pretrained model: 1e-4 .. 3e-4)",
        flag="--lr",
        above=0,
    )
    group_size: int = setting(
        4,
        "k: compositions sampled per primer (>= 2: the baseline needs the others)",
        flag="--k",
        minimum=2,
    )
    num_primers: int = setting(
        8, "primers (groups) per batch; a batch is k * num_primers compositions", minimum=1
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
    max_grad_norm: float = setting(1.0, "gradient-norm clip", above=0)

    def __post_init__(self) -> None:
        check_positive("learning_rate", self.learning_rate)
        for name in ("group_size", "num_primers", "kl_horizon"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise SequenceTutorError(f"{name} must be an integer, got {value!r}")
        if self.group_size < 2:
            raise SequenceTutorError(
                f"group_size (k) must be >= 2 (the baseline compares a composition with the "
                f"other k - 1 of its primer), got {self.group_size}"
            )
        if self.num_primers < 1:
            raise SequenceTutorError(f"num_primers must be >= 1, got {self.num_primers}")
        if self.beta is not None:
            check_positive("beta", self.beta)
        check_positive("kl_target", self.kl_target)
        check_positive("kl_horizon", self.kl_horizon)
        check_positive("max_grad_norm", self.max_grad_norm)

    @property
    def num_envs(self) -> int:
        return self.group_size * self.num_primers

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GroupConfig:
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise SequenceTutorError(f"unknown {cls.__name__} fields {unknown}")
        return cls(**data)


def gather_actions(log_probs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``log_probs[..., actions]``: ``[B, T, V]`` and ``[B, T]`` -> ``[B, T]``."""
    return log_probs.gather(-1, actions[..., None])[..., 0]


@dataclasses.dataclass
class BatchTerms:
    """One pass over a batch: the policy's and the prior's log-probabilities, and the KL."""

    log_pi: torch.Tensor  # [N, T] log π(a_t | s_t), with gradient
    log_p: torch.Tensor  # [N, T] log p(a_t | s_t)
    log_pi_all: torch.Tensor  # [N, T, V] with gradient
    kl: torch.Tensor  # [N] exact Σ_t KL(π(· | s_t) ‖ p(· | s_t)), no gradient
    theory: torch.Tensor  # [N] Σ_t r_theory / c


def batch_terms(actor: NoteRNNActor, batch: CompositionBatch) -> BatchTerms:
    """Every step's log-probabilities in one pass of the policy and one of the frozen prior."""
    log_pi_all, _ = actor.sequence_log_probs(batch.inputs)
    log_p_all = actor.prior_log_probs(batch.inputs)
    actions = batch.actions
    kl = categorical_kl(log_pi_all.detach(), log_p_all).sum(dim=1)
    return BatchTerms(
        log_pi=gather_actions(log_pi_all, actions),
        log_p=gather_actions(log_p_all, actions),
        log_pi_all=log_pi_all,
        kl=kl,
        theory=batch.theory.sum(dim=1).float(),
    )


def make_vector_env(env: Any, num_envs: int, env_kwargs: dict | None) -> Any:
    """The env as given, or ``gym.make_vec(env or "SequenceTutor-v0", num_envs, ...)``."""
    if env is None or isinstance(env, str):
        import envs  # noqa: F401, PLC0415 (registers SequenceTutor-v0)

        return gym.make_vec(
            env or "SequenceTutor-v0",
            num_envs=num_envs,
            vectorization_mode="vector_entry_point",
            **(env_kwargs or {}),
        )
    if env_kwargs:
        raise SequenceTutorError("env_kwargs are for an env built here (env=None or an env id)")
    return env


class GroupPolicyGradient:
    """Base class of RLOO and GRPO (module docstring); subclasses implement :meth:`update`.

    :param env: a Gymnasium vector env of Sequence Tutor compositions (``N`` a multiple of ``k``),
        an env id, or None (``SequenceTutor-v0`` with ``N = k · num_primers``).
    :param config: the algorithm's hyper-parameters (its dataclass).
    :param note_rnn: the Note RNN the policy and the prior copy (None: the shipped LSTM).
    :param seed: seeds the agent's generator (primers, actions) and torch.
    :param tensorboard_log: TensorBoard folder (None: none).
    :param verbose: 1 prints SB3-style logs.
    :param env_kwargs: arguments of the env built here.
    """

    algo: ClassVar[str] = ""
    config_class: ClassVar[type[GroupConfig]] = GroupConfig

    def __init__(
        self,
        env: Any = None,
        config: GroupConfig | None = None,
        *,
        note_rnn: NoteRNNSource = None,
        seed: int = 0,
        tensorboard_log: str | None = None,
        verbose: int = 0,
        env_kwargs: dict | None = None,
    ) -> None:
        config = config if config is not None else self.config_class()
        if not isinstance(config, self.config_class):
            raise SequenceTutorError(
                f"{self.algo}: config must be a {self.config_class.__name__}, got "
                f"{type(config).__name__}"
            )
        self.config = config
        self.env = make_vector_env(env, config.num_envs, env_kwargs)
        num_envs = int(getattr(self.env, "num_envs", 0))
        if num_envs < config.group_size or num_envs % config.group_size:
            raise SequenceTutorError(
                f"{self.algo}: the env steps {num_envs} compositions; expected a multiple of "
                f"group_size k = {config.group_size}"
            )
        self.observation_space = self.env.single_observation_space
        self.action_space = self.env.single_action_space
        self.melody_length = int(self.observation_space.shape[0]) - 1
        self.note_rnn_weight = float(getattr(self.env.unwrapped, "note_rnn_weight", 1.0))
        torch.manual_seed(seed)
        self.seed = int(seed)
        self.rng = np.random.default_rng(seed)
        self.actor = NoteRNNActor(note_rnn, pad_token(self.observation_space))
        self.policy = self.actor
        self.optimizer = torch.optim.Adam(
            self.actor.trainable_parameters(), lr=config.learning_rate
        )
        if config.beta is not None:
            beta = config.beta
        elif config.adaptive_kl:
            beta = TRL_INIT_KL_COEF
        else:
            beta = self.note_rnn_weight
        self.kl_ctl = kl_controller(beta, config.adaptive_kl, config.kl_target, config.kl_horizon)
        self.sampler = GroupSampler(self.env, self.actor, config.group_size, self.rng)
        self.num_timesteps = 0
        self._n_updates = 0
        self.tensorboard_log = tensorboard_log
        self.verbose = int(verbose)
        self._logger: Logger | None = None
        self._custom_logger = False
        self.last_stats: dict[str, float] = {}  # what the last update logged

    # -- SB3-like surface ---------------------------------------------------------------------
    @property
    def logger(self) -> Logger:
        if self._logger is None:
            self._logger = configure_logger(self.verbose, None, "", True)
        return self._logger

    def set_logger(self, logger: Logger) -> None:
        """Log there instead of the folder ``learn`` would configure (as SB3's ``set_logger``)."""
        self._logger = logger
        self._custom_logger = True

    def get_env(self) -> Any:
        return self.env

    @property
    def beta(self) -> float:
        return float(self.kl_ctl.value)

    def action_probabilities(self, obs: np.ndarray) -> np.ndarray:
        """``π(· | s)`` ``float64[B, 38]`` for observations ``[B, 1 + T]``."""
        return self.actor.action_probabilities(obs)

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, None]:
        """A sampled action per observation (torch's RNG), or the most likely one."""
        obs = np.asarray(observation)
        probs = torch.from_numpy(self.action_probabilities(obs))
        if deterministic:
            actions = probs.argmax(dim=1)
        else:
            actions = torch.multinomial(probs, 1)[:, 0]
        actions = actions.numpy()
        return (actions[0] if obs.ndim == 1 else actions), None

    # -- learning -----------------------------------------------------------------------------
    def update(self, batch: CompositionBatch) -> dict[str, float]:
        """One algorithm update on a batch; returns what to log (``train/...``, ``objective/...``)."""
        raise NotImplementedError

    def _step(self, loss: torch.Tensor) -> float:
        self.optimizer.zero_grad()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(
            self.actor.trainable_parameters(), self.config.max_grad_norm
        )
        self.optimizer.step()
        return float(norm)

    def _init_callback(self, callback: Any, progress_bar: bool) -> BaseCallback:
        if isinstance(callback, list):
            callback = CallbackList(callback)
        if not isinstance(callback, BaseCallback):
            callback = ConvertCallback(callback)
        if progress_bar:
            callback = CallbackList([callback, ProgressBarCallback()])
        callback.init_callback(self)  # type: ignore[arg-type]
        return callback

    def learn(
        self,
        total_timesteps: int,
        callback: BaseCallback | list[BaseCallback] | Callable | None = None,
        log_interval: int = 1,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> GroupPolicyGradient:
        """Train for ``total_timesteps`` env steps (whole batches of compositions), SB3-style.

        :param callback: SB3 callback(s); ``on_step`` runs after every vector-env step.
        :param log_interval: dump the logs every ``log_interval`` updates.
        :param reset_num_timesteps: False continues the step count (and its TensorBoard run).
        """
        if reset_num_timesteps:
            self.num_timesteps = 0
        else:
            total_timesteps += self.num_timesteps
        if not self._custom_logger:
            self._logger = configure_logger(
                self.verbose,
                self.tensorboard_log,
                tb_log_name or self.algo.upper(),
                reset_num_timesteps,
            )
        callback = self._init_callback(callback, progress_bar)
        callback.on_training_start(locals(), globals())
        n = self.sampler.num_envs
        stop = False

        def on_step() -> None:
            nonlocal stop
            self.num_timesteps += n
            if not callback.on_step():
                stop = True

        start, start_steps, iteration = time.perf_counter(), self.num_timesteps, 0
        while self.num_timesteps < total_timesteps and not stop:
            callback.on_rollout_start()
            with torch.no_grad():
                batch = self.sampler.sample(on_step)
            callback.on_rollout_end()
            if stop:
                break
            self.actor.train(True)
            stats = self.update(batch)
            self.last_stats = stats
            self._n_updates += 1
            iteration += 1
            elapsed = max(time.perf_counter() - start, 1e-9)
            self._record(batch, stats, (self.num_timesteps - start_steps) / elapsed)
            if log_interval and iteration % log_interval == 0:
                self.logger.dump(step=self.num_timesteps)
        callback.on_training_end()
        return self

    def _record(self, batch: CompositionBatch, stats: dict[str, float], fps: float) -> None:
        log = self.logger
        log.record("rollout/ep_rew_mean", float(batch.env_rewards.mean()))
        for name, value in sorted(batch.term_sums.items()):
            log.record(f"reward/{name}", value)
        for key, value in stats.items():
            log.record(key, value)
        log.record("train/beta", self.beta)
        log.record("train/n_updates", self._n_updates, exclude="tensorboard")
        log.record("time/fps", int(fps))
        log.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")

    def _objective_stats(self, terms: BatchTerms) -> dict[str, float]:
        """Sample estimates of the objective's parts on this batch (exact KL per composition)."""
        kl = float(terms.kl.mean())
        theory = float(terms.theory.mean())
        return {
            "objective/theory": theory,
            "objective/kl": kl,
            "objective/J": theory - self.note_rnn_weight * kl,
            "objective/log_p": float(terms.log_p.sum(dim=1).mean()),
        }

    # -- persistence ----------------------------------------------------------------------------
    def save(self, path: str | Path, metadata: dict | None = None) -> tuple[Path, Path]:
        """Write ``path.safetensors`` + ``path.json`` (:mod:`agents.policy_gradient.checkpoint`)."""
        return ckpt.save_pg_agent(
            path,
            algo=self.algo,
            network=self.actor,
            config=self.config.to_dict(),
            note_rnn_config=self.actor.note_rnn_config,
            melody_length=self.melody_length,
            num_timesteps=self.num_timesteps,
            kl_controller=self.kl_ctl.state(),
            metadata=metadata,
        )

    @classmethod
    def load(cls, path: str | Path, env: Any = None, **kwargs: Any) -> GroupPolicyGradient:
        """Build the agent from ``path.json`` on ``env`` and load ``path.safetensors``."""
        meta, tensors = ckpt.read_pg_agent(path, cls.algo)
        config = cls.config_class.from_dict(meta["config"])
        model = cls(env, config, note_rnn=meta["note_rnn_config"], **kwargs)
        if model.melody_length != meta["melody_length"]:
            raise SequenceTutorError(
                f"{path}: agent trained on melodies of {meta['melody_length']} steps, the env "
                f"has {model.melody_length}"
            )
        ckpt.load_network(model.actor, tensors, path)
        model.num_timesteps = int(meta.get("num_timesteps", 0))
        try:
            model.kl_ctl.load_state(meta["kl_controller"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SequenceTutorError(f"{path}: invalid kl_controller ({exc})") from None
        return model

    def save_training_state(self, path: str | Path) -> tuple[Path, Path]:
        """Optimiser, generator, RNG and counters: with :meth:`save`, an exact resume point."""
        return ckpt.save_training_state(
            path,
            optimizer=self.optimizer,
            rng=self.rng,
            counters={"num_timesteps": self.num_timesteps, "n_updates": self._n_updates},
            extra={"kl_controller": self.kl_ctl.state()},
        )

    def load_training_state(self, path: str | Path) -> None:
        """Restore :meth:`save_training_state`'s file into an agent loaded with :meth:`load`."""
        state = ckpt.load_training_state(path, self.optimizer, self.rng)
        self.num_timesteps = state["counters"]["num_timesteps"]
        self._n_updates = state["counters"]["n_updates"]
        if "kl_controller" in state["extra"]:
            self.kl_ctl.load_state(state["extra"]["kl_controller"])


def finite_mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan


__all__ = ["BatchTerms", "GroupConfig", "GroupPolicyGradient", "batch_terms", "gather_actions"]
