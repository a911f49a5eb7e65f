"""Built-in benchmark agents and the plug-in protocol for a user's own agent.

Every agent the benchmark runs is something with ``learn(total_timesteps)`` and
``predict(obs, deterministic=False)``, built by a factory from the (wrapped) environment. A user's
agent plugs in as ``--agents package.module:make_agent`` where::

    def make_agent(env):               # optionally also a keyword argument ``seed``
        return PPO("MlpPolicy", env)   # anything with learn() and predict()

An agent may also define ``action_probabilities(obs)`` (``[B, 1 + T]`` observations in,
``[B, 38]`` probabilities out) for the exact KL and objective; the runner calls it once on reset
observations right after the factory returns, before training, and a bad answer fails the run.

Built-in baselines keep Stable-Baselines3's defaults except where a default cannot work on this
env at small budgets (replay buffer memory, rollout length above the budget); every change is
listed in ``BASELINE_OVERRIDES`` so the results table can be reproduced.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from agents.config import KL_CONTROL_ALGORITHMS, POLICY_GRADIENT_ALGORITHMS
from pretrain.errors import SequenceTutorError
from sequence_tutor.benchmark.spec import BUILTIN_AGENT_NAMES

__all__ = [
    "BASELINE_OVERRIDES",
    "POLICY_GRADIENT_AGENTS",
    "NoteRNNSampler",
    "RandomAgent",
    "build_agent",
    "check_agent",
    "composing_agent",
    "load_agent_factory",
    "trains",
]

# What the built-in SB3 baselines change from SB3's defaults, and why (see module docstring).
BASELINE_OVERRIDES: dict[str, dict[str, Any]] = {
    # 1M transitions of 33 int64 tokens (obs + next obs) would take 0.5 GB per run.
    "dqn-mlp": {"buffer_size": 100_000},
    "ppo": {},
    "maskable-ppo": {},
    # sb3-contrib's default (two LSTMs of 256 over a 1 287-wide one-hot, stepped one time step at a
    # time inside episodes) trains at a few env steps/s on a 2-core machine; one shared LSTM of 64
    # keeps it within the benchmark's budget.
    "recurrent-ppo": {
        "batch_size": 128,
        "policy_kwargs": {"lstm_hidden_size": 64, "shared_lstm": True, "enable_critic_lstm": False},
    },
}


class RandomAgent:
    """Uniform random actions; ``learn`` does nothing. The floor every agent should beat."""

    def __init__(self, env: Any, seed: int | None = None) -> None:
        self.action_space = env.action_space
        self.action_space.seed(seed)

    def learn(self, total_timesteps: int, **_: Any) -> RandomAgent:
        return self

    def action_probabilities(self, obs: np.ndarray) -> np.ndarray:
        """The uniform distribution ``float64[B, n]`` for a batch of observations."""
        batch = len(np.asarray(obs).reshape(-1, np.asarray(obs).shape[-1]))
        n = int(self.action_space.n)
        return np.full((batch, n), 1.0 / n)

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[Any, None]:
        obs = np.asarray(observation)
        if obs.ndim == 2:  # batched, SB3 style
            return np.array([self.action_space.sample() for _ in range(len(obs))]), None
        return self.action_space.sample(), None


class NoteRNNSampler:
    """The pretrained Note RNN sampled as is (no RL): ``a_t ~ p(· | primer, a_<t)``.

    Reads the observation layout of ``SequenceTutor-v0`` (primer token, actions so far, PAD after
    the current step). Within an episode it carries the Note RNN's recurrent state from one call
    to the next (one step per action); a prefix that does not extend the previous one (a new
    episode, or a batch) is read from the start. ``learn`` does nothing, so with
    ``deterministic=False`` this is the paper's "Note RNN" column.
    """

    def __init__(
        self, env: Any, seed: int | None = None, checkpoint: str | Path | None = None
    ) -> None:
        import torch

        from pretrain.checkpoint import default_checkpoint, load_note_rnn

        self._torch = torch
        self.model, _ = load_note_rnn(
            checkpoint if checkpoint is not None else default_checkpoint("lstm")
        )
        self.model.eval()
        self.pad = int(env.observation_space.nvec[0]) - 1
        self.generator = torch.Generator().manual_seed(int(seed or 0))
        self._prefix: list[int] = []
        self._state: Any = None
        self._logits: Any = None

    def learn(self, total_timesteps: int, **_: Any) -> NoteRNNSampler:
        return self

    def action_probabilities(self, obs: np.ndarray) -> np.ndarray:
        """``p(· | s)`` ``float64[B, V]`` for observations ``[B, 1 + T]``."""
        from sequence_tutor.evaluation.objective import NoteRNNDistribution

        return NoteRNNDistribution(self.model).action_probabilities(obs)

    def _next_logits(self, prefix: list[int]) -> Any:
        torch = self._torch
        if self._state is not None and prefix[:-1] == self._prefix and len(prefix) > 1:
            logits, state = self.model.step(torch.tensor([prefix[-1]]), self._state)
        elif prefix == self._prefix and self._logits is not None:
            return self._logits
        else:
            logits, state = self.model(torch.as_tensor([prefix]))
            logits = logits[:, -1]
        self._prefix, self._state, self._logits = prefix, state, logits[0]
        return self._logits

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[Any, None]:
        torch = self._torch
        obs = np.asarray(observation, dtype=np.int64)
        batched = obs.ndim == 2
        actions = []
        with torch.no_grad():
            for row in obs if batched else obs[None]:
                last = self._next_logits([int(t) for t in row[row != self.pad]])
                if deterministic:
                    actions.append(int(last.argmax()))
                else:
                    probs = torch.softmax(last.double(), dim=-1)
                    actions.append(int(torch.multinomial(probs, 1, generator=self.generator)))
        return (np.array(actions) if batched else actions[0]), None


def composing_agent(name: str, agent: Any) -> Any:
    """What composes the evaluation melodies for the agent called ``name``.

    Our Q/Ψ/G agents compose by sampling their Boltzmann policy (softmax of Q, Ψ or G + log p),
    as ``sequence-tutor sample``/``evaluate`` and the paper do; for Q that differs from
    ``predict``, which keeps DQN's ε-greedy. Every other agent composes with its own
    ``predict(obs, deterministic=False)``.
    """
    if name in KL_CONTROL_ALGORITHMS and hasattr(agent, "policy"):
        agent.policy.boltzmann = True
        agent.policy.set_training_mode(False)
        return agent.policy
    return agent


def trains(agent_name: str) -> bool:
    """Whether the built-in agent learns (random and note-rnn do not)."""
    return agent_name not in ("random", "note-rnn")


def load_agent_factory(path: str) -> Callable[..., Any]:
    """Import ``package.module:factory``; a one-line :class:`SequenceTutorError` if it cannot."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise SequenceTutorError(
            f"--agents: {path!r} is not an import path of the form 'package.module:make_agent'"
        )
    # Like `python -m`, find the user's modules in the current folder (the console script's
    # sys.path[0] is its bin folder); worker processes and local Ray inherit this path.
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's input
        raise SequenceTutorError(
            f"--agents: cannot import module {module_name!r} for agent {path!r} "
            f"({type(exc).__name__}: {exc})"
        ) from None
    factory = getattr(module, attr, None)
    if factory is None:
        raise SequenceTutorError(
            f"--agents: module {module_name!r} has no attribute {attr!r} (from {path!r})"
        )
    if not callable(factory):
        raise SequenceTutorError(
            f"--agents: {path!r} is a {type(factory).__name__}, not a callable make_agent(env)"
        )
    return factory


def check_agent(agent: Any, source: str) -> Any:
    """Return ``agent`` if it has callable ``learn`` and ``predict``; otherwise a clear error."""
    missing = [name for name in ("learn", "predict") if not callable(getattr(agent, name, None))]
    if missing:
        raise SequenceTutorError(
            f"--agents: factory {source!r} returned {type(agent).__name__!s} without "
            f"{' and '.join(m + '()' for m in missing)}; expected an object with "
            "learn(total_timesteps) and predict(obs, deterministic=False)"
        )
    return agent


def build_agent(
    name: str,
    env: Any,
    *,
    seed: int,
    tensorboard_log: str | Path | None = None,
    hyperparams: dict[str, Any] | None = None,
    steps: int = 0,
    note_rnn: str | Path | None = None,
    env_kwargs: dict[str, Any] | None = None,
) -> Any:
    """Build the agent called ``name`` (built-in or import path) on ``env``, checked.

    ``note_rnn`` is the checkpoint of the env's Reward RNN (None: the shipped one); the Note RNN
    sampler and the KL-control agents start from it. The policy-gradient agents (``rloo``,
    ``grpo``, ``ppo-kl``) step vector envs of their own, built from ``env_kwargs``.
    """
    hyperparams = dict(hyperparams or {})
    tb = str(tensorboard_log) if tensorboard_log is not None else None
    if name not in BUILTIN_AGENT_NAMES:
        factory = load_agent_factory(name)
        kwargs: dict[str, Any] = {}
        if _accepts(factory, "seed"):
            kwargs["seed"] = seed
        return check_agent(factory(env, **kwargs), name)
    if name == "random":
        return RandomAgent(env, seed=seed)
    # Start from (and sample) the Note RNN the env's Reward RNN is, when the user chose one.
    if name == "note-rnn":
        hyperparams.setdefault("checkpoint", note_rnn)
        return NoteRNNSampler(env, seed=seed, **hyperparams)
    if name in KL_CONTROL_ALGORITHMS:
        if note_rnn is not None:
            hyperparams.setdefault("note_rnn", note_rnn)
        return _kl_control_agent(name, env, seed=seed, tensorboard_log=tb, hyperparams=hyperparams)
    if name in POLICY_GRADIENT_ALGORITHMS:
        return policy_gradient_agent(
            name,
            seed=seed,
            tensorboard_log=tb,
            hyperparams=hyperparams,
            note_rnn=note_rnn,
            env_kwargs=env_kwargs,
        )
    return _sb3_baseline(
        name, env, seed=seed, tensorboard_log=tb, hyperparams=hyperparams, steps=steps
    )


def _kl_control_agent(
    algo: str, env: Any, *, seed: int, tensorboard_log: str | None, hyperparams: dict[str, Any]
) -> Any:
    try:
        from agents import SequenceTutorDQN  # type: ignore[attr-defined]
    except ImportError:
        raise SequenceTutorError(
            f"--agents: {algo!r} needs agents.SequenceTutorDQN, which this installation lacks"
        ) from None
    return SequenceTutorDQN(
        "NoteRNNPolicy",
        env,
        algo=algo,
        seed=seed,
        tensorboard_log=tensorboard_log,
        verbose=0,
        **hyperparams,
    )


POLICY_GRADIENT_AGENTS = POLICY_GRADIENT_ALGORITHMS  # the name this module always had


def policy_gradient_config(name: str, hyperparams: dict[str, Any]) -> Any:
    """The config dataclass of the policy-gradient agent ``name`` with ``hyperparams`` set."""
    from agents.policy_gradient.training import config_class

    try:
        return config_class(name)(**hyperparams)
    except TypeError as exc:
        raise SequenceTutorError(f"--agents: {name!r} hyper-parameters: {exc}") from None


def policy_gradient_agent(
    name: str,
    *,
    seed: int,
    tensorboard_log: str | None,
    hyperparams: dict[str, Any],
    note_rnn: str | Path | None = None,
    env_kwargs: dict[str, Any] | None = None,
) -> Any:
    """RLOO, GRPO or PPO-KL from the Note RNN, on vector envs of ``SequenceTutor-v0`` it builds."""
    from agents.policy_gradient.training import agent_class

    return agent_class(name)(
        None,
        policy_gradient_config(name, hyperparams),
        note_rnn=note_rnn,
        seed=seed,
        tensorboard_log=tensorboard_log,
        verbose=0,
        env_kwargs=dict(env_kwargs or {}) or None,
    )


def _sb3_baseline(
    name: str,
    env: Any,
    *,
    seed: int,
    tensorboard_log: str | None,
    hyperparams: dict[str, Any],
    steps: int,
) -> Any:
    kwargs: dict[str, Any] = {**BASELINE_OVERRIDES[name], **hyperparams}
    common = {"seed": seed, "tensorboard_log": tensorboard_log, "verbose": 0, "device": "cpu"}
    if name == "dqn-mlp":
        from stable_baselines3 import DQN

        return DQN("MlpPolicy", env, **common, **kwargs)
    if name in ("ppo", "maskable-ppo", "recurrent-ppo"):
        # PPO collects whole rollouts, so a budget that is not a multiple of n_steps would train
        # up to n_steps - 1 extra env steps: split the budget into equal rollouts no longer
        # than the default instead.
        default_n_steps = 128 if name == "recurrent-ppo" else 2048
        n_steps = int(kwargs.pop("n_steps", default_n_steps))
        if steps > 0:
            rollouts = math.ceil(steps / n_steps)
            n_steps = max(2, math.ceil(steps / rollouts))
        kwargs.setdefault("batch_size", min(64, n_steps))
        if name == "ppo":
            from stable_baselines3 import PPO

            return PPO("MlpPolicy", env, n_steps=n_steps, **common, **kwargs)
        try:
            import sb3_contrib
        except ImportError:
            raise SequenceTutorError(
                f"--agents: {name!r} needs sb3-contrib; install it with: "
                "pip install 'sequence-tutor-gym[contrib]'"
            ) from None
        if name == "maskable-ppo":
            return sb3_contrib.MaskablePPO("MlpPolicy", env, n_steps=n_steps, **common, **kwargs)
        # SB3 sizes a MultiDiscrete one-hot as numpy.int64, which nn.LSTM rejects as input_size.
        policy_kwargs = {
            "features_extractor_class": _int_sized_flatten_extractor(),
            **kwargs.pop("policy_kwargs", {}),
        }
        return sb3_contrib.RecurrentPPO(
            "MlpLstmPolicy", env, n_steps=n_steps, policy_kwargs=policy_kwargs, **common, **kwargs
        )
    raise AssertionError(name)  # pragma: no cover - BUILTIN_AGENT_NAMES and this switch agree


@functools.cache
def _int_sized_flatten_extractor() -> type:
    from stable_baselines3.common.torch_layers import FlattenExtractor

    class IntSizedFlattenExtractor(FlattenExtractor):
        """SB3's FlattenExtractor with ``features_dim`` as a Python int."""

        def __init__(self, observation_space: Any) -> None:
            super().__init__(observation_space)
            self._features_dim = int(self._features_dim)

    return IntSizedFlattenExtractor


def _accepts(func: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
