"""Every agent measured the same way: the KL-regularised objective along its own compositions.

DESIGN.md, "One objective for every agent": with the env reward
``r = r_theory / c + w · log p(a | s)``, per composition of ``T`` steps,

    J(π) = E_π[Σ_t r_theory(s_t, a_t) / c]  −  w · E_π[Σ_t KL(π(· | s_t) ‖ p(· | s_t))].

:func:`measure_objective` composes ``n`` melodies with the agent on the native vector env (the
primers are :func:`agents.sampling.draw_primers`' for the seed, so every agent of a seed gets the
same ones), and reports over those compositions:

* ``theory``: mean ``Σ_t r_theory / c`` (the env's reward minus its ``note_rnn`` term);
* ``kl``: mean ``Σ_t KL(π(· | s_t) ‖ p(· | s_t))``, **exact**: the categorical KL over the 38
  actions between the agent's distribution at each step and the Note RNN's (the env's Reward
  RNN, re-run over primer + composition in one pass);
* ``J = theory − w · kl``; ``log_p``: mean ``log p(composition)`` under the Note RNN;
  ``log_pi``: mean ``log π(composition)`` under the agent.

The agent's action distribution comes from, in order: its ``action_probabilities(obs)`` (a batch
of observations ``[B, 1 + T]`` in, probabilities ``[B, 38]`` out: the policy-gradient agents and
any user agent that defines it), the Boltzmann policy of a KL-control DQN
(:class:`~agents.policy.NoteRNNPolicy`: softmax of Q, Ψ or G + log p, the distribution
``sequence-tutor sample`` draws from), or an SB3 actor-critic policy's categorical distribution
(PPO, A2C, and sb3-contrib's MaskablePPO and RecurrentPPO, whose LSTM state is carried along
each composition). With a distribution the compositions are sampled from it (so the KL is the one of
the compositions measured); without one (e.g. SB3's DQN, a user agent with ``predict`` only) they
come from ``predict(obs, deterministic=False)`` and ``kl``, ``J`` and ``log_pi`` are NaN ("not
available"). User-supplied probabilities are validated: wrong shape, NaN, negative entries or
rows not summing to 1 within 1e-4 raise a one-line :class:`SequenceTutorError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from agents.sampling import Samples, draw_primers
from envs.vector import step_info
from pretrain.errors import SequenceTutorError

PROBABILITY_TOLERANCE = 1e-4

Distribution = Callable[[np.ndarray], np.ndarray]


@dataclass
class ObjectiveEstimate:
    """The objective and its parts over ``compositions`` sampled compositions (means per
    composition; ``*_per_composition`` hold the values of each)."""

    name: str
    compositions: int
    J: float
    theory: float
    kl: float
    log_pi: float
    log_p: float
    note_rnn_weight: float
    reward_scale: float
    samples: Samples
    theory_per_composition: np.ndarray = field(repr=False)
    kl_per_composition: np.ndarray = field(repr=False)
    log_p_per_composition: np.ndarray = field(repr=False)

    @property
    def kl_available(self) -> bool:
        return not math.isnan(self.kl)

    def standard_error(self, key: str) -> float:
        """Standard error of the mean of ``"J"``, ``"theory"``, ``"kl"`` or ``"log_p"``."""
        if key == "J":
            values = self.theory_per_composition - self.note_rnn_weight * self.kl_per_composition
        else:
            values = getattr(self, f"{key}_per_composition")
        return (
            float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.nan
        )

    def as_dict(self) -> dict[str, float | int | str | None]:
        """JSON-ready numbers (NaN as None: not available)."""

        def clean(v: float) -> float | None:
            return None if math.isnan(v) else float(v)

        return {
            "name": self.name,
            "compositions": self.compositions,
            "J": clean(self.J),
            "theory": clean(self.theory),
            "kl": clean(self.kl),
            "log_pi": clean(self.log_pi),
            "log_p": clean(self.log_p),
            "note_rnn_weight": self.note_rnn_weight,
            "reward_scale": self.reward_scale,
        }


# -- the agent's distribution ----------------------------------------------------------------
def _note_rnn_policy(agent: Any):
    from agents.policy import NoteRNNPolicy  # noqa: PLC0415

    if isinstance(agent, NoteRNNPolicy):
        return agent
    policy = getattr(agent, "policy", None)
    return policy if isinstance(policy, NoteRNNPolicy) else None


def _sb3_policy(agent: Any):
    """The SB3 (or sb3-contrib) policy of ``agent`` (or ``agent`` itself), or None."""
    from stable_baselines3.common.policies import BasePolicy  # noqa: PLC0415

    policy = agent if isinstance(agent, BasePolicy) else getattr(agent, "policy", None)
    return policy if isinstance(policy, BasePolicy) else None


def _probabilities(distribution: Any) -> np.ndarray:
    probs = getattr(getattr(distribution, "distribution", None), "probs", None)
    if probs is None:
        raise SequenceTutorError("the SB3 policy's action distribution is not categorical")
    return probs.double().cpu().numpy()


def _recurrent_categorical(policy: Any) -> Distribution:
    """sb3-contrib's RecurrentPPO: its distribution depends on the LSTM state, carried here from
    call to call and reset where an observation holds no action yet (a new composition)."""
    pad = int(policy.observation_space.nvec[1]) - 1
    layers, _, hidden = policy.lstm_hidden_state_shape
    carried: dict[str, Any] = {"states": None}

    @torch.no_grad()
    def categorical(obs: np.ndarray) -> np.ndarray:
        tensor, _ = policy.obs_to_tensor(obs)
        count = len(obs)
        starts = np.asarray(obs)[:, 1] == pad  # nothing composed yet
        states = carried["states"]
        if states is None or states[0].shape[1] != count:
            zeros = torch.zeros((layers, count, hidden), device=policy.device)
            states = (zeros, zeros.clone())
        starts_tensor = torch.as_tensor(starts, dtype=torch.float32, device=policy.device)
        distribution, carried["states"] = policy.get_distribution(tensor, states, starts_tensor)
        return _probabilities(distribution)

    return categorical


def _sb3_categorical(agent: Any) -> Distribution | None:
    """The categorical distribution of an SB3 actor-critic policy (PPO, A2C), of sb3-contrib's
    MaskablePPO (every action of this env is legal) or RecurrentPPO; None for others."""
    from stable_baselines3.common.policies import ActorCriticPolicy  # noqa: PLC0415

    policy = _sb3_policy(agent)
    kind = type(policy).__mro__
    names = {f"{cls.__module__}.{cls.__qualname__}" for cls in kind}
    if "sb3_contrib.common.recurrent.policies.RecurrentActorCriticPolicy" in names:
        return _recurrent_categorical(policy)
    maskable = "sb3_contrib.common.maskable.policies.MaskableActorCriticPolicy" in names
    if not (maskable or isinstance(policy, ActorCriticPolicy)):
        return None

    @torch.no_grad()
    def categorical(obs: np.ndarray) -> np.ndarray:
        tensor, _ = policy.obs_to_tensor(obs)
        return _probabilities(policy.get_distribution(tensor))

    return categorical


def action_distribution(agent: Any) -> Distribution | None:
    """``obs [B, 1 + T] -> π(· | s) [B, V]`` for ``agent``, or None if it exposes none.

    A recurrent agent's distribution is stateful: call it once per step of lock-step
    compositions, from their first step."""
    if callable(getattr(agent, "action_probabilities", None)):
        return agent.action_probabilities
    policy = _note_rnn_policy(agent)
    if policy is not None:

        @torch.no_grad()
        def boltzmann(obs: np.ndarray) -> np.ndarray:
            logits = policy.observation_logits(torch.as_tensor(obs))
            return torch.softmax(logits.double(), dim=-1).numpy()

        return boltzmann
    return _sb3_categorical(agent)


def check_probabilities(probs: Any, batch: int, actions: int, name: str) -> np.ndarray:
    """``probs`` as ``float64[batch, actions]``, or a one-line error naming ``name``."""
    expected = (
        f"expected probabilities of shape ({batch}, {actions}): finite, non-negative, each row "
        f"summing to 1 within {PROBABILITY_TOLERANCE}"
    )
    try:
        array = np.asarray(probs, dtype=np.float64)
    except (TypeError, ValueError):
        raise SequenceTutorError(
            f"{name}.action_probabilities returned {type(probs).__name__}; {expected}"
        ) from None
    if array.shape != (batch, actions):
        raise SequenceTutorError(
            f"{name}.action_probabilities returned shape {array.shape}; {expected}"
        )
    if not np.isfinite(array).all():
        raise SequenceTutorError(f"{name}.action_probabilities returned NaN or inf; {expected}")
    if (array < 0).any():
        raise SequenceTutorError(
            f"{name}.action_probabilities returned a negative entry ({array.min():.3g}); {expected}"
        )
    worst = float(np.abs(array.sum(axis=1) - 1.0).max())
    if worst > PROBABILITY_TOLERANCE:
        raise SequenceTutorError(
            f"{name}.action_probabilities returned rows summing to 1 ± {worst:.3g}; {expected}"
        )
    return array


def _sample(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cdf[:, -1]
    return np.minimum((cdf < u[:, None]).sum(axis=1), probs.shape[1] - 1)


def _predict_actions(agent: Any, obs: np.ndarray, name: str) -> np.ndarray:
    actions, _ = agent.predict(obs, deterministic=False)
    actions = np.asarray(actions).reshape(-1)
    if actions.shape != (len(obs),):
        raise SequenceTutorError(
            f"{name}.predict returned {actions.shape[0]} actions for {len(obs)} observations"
        )
    return actions.astype(np.int64)


class NoteRNNDistribution:
    """The Note RNN as an agent for :func:`measure_objective`: ``action_probabilities(obs)`` is
    ``p(· | s)`` (its KL to the prior is 0), read from the observation's prefix."""

    def __init__(self, note_rnn: Any) -> None:
        self.note_rnn = note_rnn.eval()
        self.pad = int(note_rnn.vocab_size)

    @torch.no_grad()
    def action_probabilities(self, obs: np.ndarray) -> np.ndarray:
        """``p(· | s)`` ``float64[B, V]`` for observations ``[B, 1 + T]`` (one pass per length)."""
        rows = np.asarray(obs, dtype=np.int64)
        rows = rows[None] if rows.ndim == 1 else rows
        prefixes = [row[row != self.pad] for row in rows]
        result = np.zeros((len(rows), self.pad))
        by_length: dict[int, list[int]] = {}
        for index, prefix in enumerate(prefixes):
            by_length.setdefault(len(prefix), []).append(index)
        for indices in by_length.values():
            logits, _ = self.note_rnn(torch.as_tensor(np.stack([prefixes[i] for i in indices])))
            result[indices] = torch.softmax(logits[:, -1].double(), dim=-1).numpy()
        return result


# -- the measurement ---------------------------------------------------------------------------
def _batched_primers(n: int, batch: int, env: Any, seed: int) -> np.ndarray:
    """The primers of ``n`` compositions stepped ``batch`` at a time (whole batches, so
    ``ceil(n / batch) * batch`` of them): :func:`check_action_probabilities` and
    :func:`measure_objective` draw them here, so the check sees the measurement's first batch."""
    chunks = -(-n // batch)
    return draw_primers(chunks * batch, env.key, env.vocabulary, np.random.default_rng(seed))


def check_action_probabilities(
    agent: Any,
    n: int = 1000,
    *,
    seed: int = 0,
    name: str | None = None,
    env_kwargs: dict | None = None,
    batch_size: int = 500,
) -> None:
    """Call ``agent.action_probabilities`` once, on the first batch of reset observations that
    :func:`measure_objective` with the same arguments starts from, and validate the result
    (:func:`check_probabilities`); nothing to do for an agent without that method.

    Meant for a freshly built agent, before training, so a bad ``action_probabilities`` fails in
    seconds rather than after the training budget. An exception it raises becomes a one-line
    :class:`SequenceTutorError` naming ``name``.
    """
    from envs.vector import SequenceTutorVectorEnv  # noqa: PLC0415

    method = getattr(agent, "action_probabilities", None)
    if not callable(method):
        return
    name = name or type(agent).__name__
    batch = int(min(n, batch_size))
    env = SequenceTutorVectorEnv(num_envs=batch, **(env_kwargs or {}))
    try:
        primers = _batched_primers(int(n), batch, env, seed)[:batch]
        obs, _ = env.reset(options={"primers": [list(p) for p in primers]})
        vocab = env.single_action_space.n
    finally:
        env.close()
    try:
        probs = method(obs.copy())
    except Exception as exc:  # noqa: BLE001 - a user's code: any failure, one line
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise SequenceTutorError(
            f"{name}.action_probabilities failed on {batch} reset observations of shape "
            f"{obs.shape}, before training ({type(exc).__name__}: {text})"
        ) from None
    check_probabilities(probs, batch, vocab, name)


@torch.no_grad()
def prior_log_probs(note_rnn, tokens: np.ndarray, primers: list[list[int]]) -> np.ndarray:
    """``log p(· | s_t)`` ``float64[N, T, V]`` under the Note RNN, primed by each primer."""
    result = np.zeros((*tokens.shape, note_rnn.vocab_size))
    by_length: dict[int, list[int]] = {}
    for i, primer in enumerate(primers):
        by_length.setdefault(len(primer), []).append(i)
    for length, rows in by_length.items():
        sequence = np.concatenate([np.asarray([primers[i] for i in rows]), tokens[rows]], axis=1)
        logits, _ = note_rnn(torch.as_tensor(sequence[:, :-1], dtype=torch.long))
        result[rows] = torch.log_softmax(logits[:, length - 1 :].double(), dim=-1).numpy()
    return result


def measure_objective(
    agent: Any,
    n: int = 1000,
    *,
    seed: int = 0,
    name: str | None = None,
    env_kwargs: dict | None = None,
    batch_size: int = 500,
) -> ObjectiveEstimate:
    """``J``, its two parts, ``log π`` and ``log p`` over ``n`` compositions of ``agent``.

    :param agent: anything with ``action_probabilities(obs)`` or ``predict(obs, deterministic)``,
        a :class:`~agents.SequenceTutorDQN` or its :class:`~agents.policy.NoteRNNPolicy`, an SB3
        model (module docstring).
    :param n: compositions.
    :param seed: primers (:func:`agents.sampling.draw_primers`) and action sampling.
    :param name: the agent's name in messages and results.
    :param env_kwargs: ``SequenceTutor-v0`` arguments (key, melody_length, c, w, reward_rnn, ...).
    :param batch_size: compositions stepped at once.
    """
    from envs.vector import SequenceTutorVectorEnv  # noqa: PLC0415

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise SequenceTutorError(f"n (compositions) must be an integer >= 1, got {n!r}")
    name = name or type(agent).__name__
    distribution = action_distribution(agent)
    if distribution is None and not callable(getattr(agent, "predict", None)):
        raise SequenceTutorError(
            f"{name}: expected an agent with action_probabilities(obs) or predict(obs)"
        )
    batch = int(min(n, batch_size))
    env = SequenceTutorVectorEnv(num_envs=batch, **(env_kwargs or {}))
    length, vocab = env.melody_length, env.single_action_space.n
    chunks = -(-n // batch)
    primers = _batched_primers(n, batch, env, seed)
    action_rng = np.random.default_rng([seed, 1])
    tokens = np.zeros((chunks * batch, length), dtype=np.int64)
    theory = np.zeros((chunks * batch, length))
    env_log_p = np.zeros((chunks * batch, length))
    pi = np.zeros((chunks * batch, length, vocab)) if distribution is not None else None
    for c in range(chunks):
        rows = slice(c * batch, (c + 1) * batch)
        obs, _ = env.reset(options={"primers": [list(p) for p in primers[rows]]})
        for t in range(length):
            if distribution is not None:
                probs = check_probabilities(distribution(obs.copy()), batch, vocab, name)
                pi[rows, t] = probs
                actions = _sample(probs, action_rng)
            else:
                actions = _predict_actions(agent, obs.copy(), name)
            obs, rewards, _, _, info = env.step(actions)
            info = step_info(info)
            theory[rows, t] = rewards - info["reward_terms"]["note_rnn"]
            env_log_p[rows, t] = info["log_prob"]
            tokens[rows, t] = actions
    keep = slice(0, n)
    tokens, theory, env_log_p = tokens[keep], theory[keep], env_log_p[keep]
    primer_list = [list(map(int, p)) for p in primers[keep]]
    theory_sum = theory.sum(axis=1)
    log_p_sum = env_log_p.sum(axis=1)
    if pi is not None:
        pi = pi[keep]
        log_p_all = prior_log_probs(env.reward_rnn.model, tokens, primer_list)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_pi_all = np.log(pi)
            kl_steps = np.where(pi > 0, pi * (log_pi_all - log_p_all), 0.0).sum(axis=2)
        kl_sum = kl_steps.sum(axis=1)
        chosen = np.take_along_axis(log_pi_all, tokens[..., None], axis=2)[..., 0]
        kl, log_pi = float(kl_sum.mean()), float(chosen.sum(axis=1).mean())
    else:
        kl_sum = np.full(n, math.nan)
        kl = log_pi = math.nan
    w, c_scale = float(env.note_rnn_weight), float(env.reward_scale)
    samples = Samples(tokens, primer_list, key=env.key, agent=name, seeds=[int(seed)] * n)
    env.close()
    return ObjectiveEstimate(
        name=name,
        compositions=n,
        J=float(theory_sum.mean()) - w * kl if pi is not None else math.nan,
        theory=float(theory_sum.mean()),
        kl=kl,
        log_pi=log_pi,
        log_p=float(log_p_sum.mean()),
        note_rnn_weight=w,
        reward_scale=c_scale,
        samples=samples,
        theory_per_composition=theory_sum,
        kl_per_composition=kl_sum,
        log_p_per_composition=log_p_sum,
    )


__all__ = [
    "NoteRNNDistribution",
    "ObjectiveEstimate",
    "action_distribution",
    "check_action_probabilities",
    "check_probabilities",
    "measure_objective",
    "prior_log_probs",
]
