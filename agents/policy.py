"""A Stable-Baselines3 DQN policy whose Q-network is a Note RNN.

The observation of ``SequenceTutor-v0`` is the melody so far as raw tokens: index 0 holds the
primer's last token, index ``1 + t`` the action of composition step ``t``, and ``PAD``
(= ``vocab_size``) fills the steps not played yet. :class:`NoteRNNQNetwork` reads these integers
directly (SB3's default preprocessing would one-hot all 33 dimensions), runs the Note RNN over the
prefix and takes the logits at the current position as ``Q(s, ·)``.

Three ways to evaluate it, all giving the same numbers:

* :meth:`NoteRNNQNetwork.forward` on observations ``[B, 1 + T]`` (SB3's interface);
* :meth:`NoteRNNQNetwork.sequence_values` on whole episodes ``[B, L]``: one pass gives
  ``Q(s_t, ·)`` for every prefix (the replay buffer trains on whole compositions this way);
* :class:`RecurrentActor`, which carries the recurrent state from one env step to the next.
"""

from __future__ import annotations

import copy
import functools
import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import Schedule
from stable_baselines3.dqn.policies import DQNPolicy

from agents.config import ALGORITHMS, check_algo
from pretrain.errors import SequenceTutorError
from pretrain.models import LSTMNoteRNN, NoteRNN, NoteRNNConfig, build_note_rnn
from pretrain.numpy_lstm import NumpyLSTM

NoteRNNSource = str | os.PathLike | NoteRNN | NoteRNNConfig | None


def resolve_note_rnn(note_rnn: NoteRNNSource) -> NoteRNN:
    """A fresh Note RNN (eval mode, float32, on the CPU) from a checkpoint path, a model or a config.

    ``None`` loads the shipped LSTM; a :class:`NoteRNNConfig` builds an untrained model of that
    architecture (its weights are expected to be loaded afterwards, e.g. from an agent checkpoint).
    """
    if isinstance(note_rnn, NoteRNN):
        model = copy.deepcopy(note_rnn)
    elif isinstance(note_rnn, NoteRNNConfig):
        model = build_note_rnn(note_rnn)
    else:
        from pretrain.checkpoint import default_checkpoint, load_note_rnn  # noqa: PLC0415

        model, _ = load_note_rnn(note_rnn if note_rnn is not None else default_checkpoint("lstm"))
    return model.float().cpu().eval()


@functools.cache
def fused_adam_runs_on_cpu() -> bool:
    """Whether this torch has a fused Adam for CPU tensors (2.4 and later)."""
    try:
        torch.optim.Adam([torch.zeros(1, requires_grad=True)], fused=True)
    except RuntimeError:
        return False
    return True


def pad_token(observation_space: spaces.Space) -> int:
    """PAD of a Sequence Tutor observation space (= the vocabulary size); raises if it is not one."""
    if not isinstance(observation_space, spaces.MultiDiscrete) or observation_space.nvec.ndim != 1:
        raise SequenceTutorError(
            f"the Note RNN policy needs a 1-D MultiDiscrete token observation, got {observation_space}"
        )
    nvec = observation_space.nvec
    if not np.all(nvec == nvec[0]) or len(nvec) < 2:
        raise SequenceTutorError(
            f"the Note RNN policy needs equal token ranges (vocab_size + 1), got nvec={nvec.tolist()}"
        )
    return int(nvec[0]) - 1


class NoteRNNQNetwork(BasePolicy):
    """Q-network that is a Note RNN reading the observation's raw tokens.

    ``Q(s_t, ·)`` is the Note RNN's output at position ``t``, the position of the last played token
    (``t`` = number of non-PAD entries − 1). Positions after it are PAD; they are fed as token 0
    because a recurrent net never looks ahead, so they cannot change the output at ``t``.

    :param observation_space: MultiDiscrete of ``1 + T`` tokens, each in ``0 .. vocab_size``.
    :param action_space: Discrete(``vocab_size``).
    :param rnn: the Note RNN (owned by this network and trained with it).
    """

    def __init__(
        self, observation_space: spaces.Space, action_space: spaces.Discrete, rnn: NoteRNN
    ) -> None:
        super().__init__(observation_space, action_space, normalize_images=False)
        self.pad = pad_token(observation_space)
        if rnn.vocab_size != self.pad or int(action_space.n) != self.pad:
            raise SequenceTutorError(
                f"Note RNN of {rnn.vocab_size} tokens does not fit an env with "
                f"{action_space.n} actions and observation tokens 0..{self.pad}"
            )
        self.rnn = rnn

    def train(self, mode: bool = True) -> NoteRNNQNetwork:
        # Dropout belongs to pretraining: TD targets assume a deterministic Q, so the Note RNN
        # stays in eval mode even while SB3 switches the policy to training mode.
        super().train(mode)
        self.rnn.train(False)
        return self

    def sequence_values(self, tokens: torch.Tensor) -> torch.Tensor:
        """``Q(s_t, ·)`` for every prefix of ``tokens`` (``[B, L]``, no PAD): ``[B, L, V]``."""
        values, _ = self.rnn(tokens)
        return values

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """``Q(s, ·)`` for a batch of observations ``[B, 1 + T]``: ``[B, V]``."""
        tokens, position = observation_prefix(obs, self.pad)
        values = self.sequence_values(tokens)
        return values[torch.arange(values.shape[0], device=values.device), position]

    def _predict(self, observation: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        return self(observation).argmax(dim=1).reshape(-1)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(rnn=self.rnn)
        return data


def observation_prefix(obs: torch.Tensor, pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut a batch of observations to its longest prefix: ``(tokens [B, L], position [B])``.

    PAD entries inside the cut become token 0 (they lie after each row's position).
    """
    obs = obs.long()
    if obs.dim() == 1:
        obs = obs[None]
    played = obs != pad
    position = played.sum(dim=1) - 1
    if bool((position < 0).any()):
        raise ValueError("an observation holds no token (all PAD); expected at least the primer")
    length = int(position.max()) + 1
    tokens = obs[:, :length].masked_fill(~played[:, :length], 0)
    return tokens, position


class NoteRNNPolicy(DQNPolicy):
    """SB3 DQN policy for Sequence Tutor: online and target Q-networks are Note RNNs.

    Both start as copies of the Note RNN (Jaques et al. 2017, Sec. 3). For Q- and Ψ-learning the
    output layer is the Note RNN's, so before training ``softmax(Ψ(s, ·)) = p(· | s)``; for
    G-learning it starts at zero, so ``softmax(G(s, ·) + log p(· | s)) = p(· | s)`` (copying the
    head would give ``p²``). G-learning also keeps a frozen copy of the Note RNN, :attr:`prior`,
    for ``log p(· | s)``.

    The policy acts by sampling ``π(a | s) ∝ exp(ℓ(s, a) / temperature)`` with
    ``ℓ = Ψ`` (psi), ``G + log p`` (g) or ``Q`` (q with Boltzmann exploration); ``deterministic``
    (and Q with ε-greedy exploration, as in SB3) takes the argmax.

    :param observation_space: the env's token observation space.
    :param action_space: Discrete(vocab_size).
    :param lr_schedule: learning-rate schedule (SB3).
    :param note_rnn: checkpoint path, :class:`~pretrain.models.NoteRNN`, config (untrained, for
        loading weights later) or ``None`` for the shipped LSTM.
    :param algo: ``"q"``, ``"psi"`` or ``"g"``.
    :param boltzmann: sample actions (True) or take the argmax (False) when not deterministic.
    :param temperature: Boltzmann temperature.
    :param optimizer_class: optimiser of the online Q-network (Adam).
    :param optimizer_kwargs: extra optimiser arguments.
    """

    q_net: NoteRNNQNetwork
    q_net_target: NoteRNNQNetwork

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        note_rnn: NoteRNNSource = None,
        algo: str = "psi",
        boltzmann: bool = True,
        temperature: float = 1.0,
        optimizer_class: type[torch.optim.Optimizer] = torch.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        check_algo(algo)
        if not temperature > 0:
            raise SequenceTutorError(f"temperature must be > 0, got {temperature}")
        if optimizer_kwargs is None and optimizer_class is torch.optim.Adam:
            # One fused kernel instead of ~10 small ops per tensor: ~1 ms less per update on CPU
            # (torch >= 2.4; torch 2.3's fused Adam runs on CUDA only).
            optimizer_kwargs = {"fused": True} if fused_adam_runs_on_cpu() else {}
        # Skip DQNPolicy.__init__: it builds an MLP features extractor we do not use.
        BasePolicy.__init__(
            self,
            observation_space,
            action_space,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            normalize_images=False,
        )
        self.algo = algo
        self.boltzmann = bool(boltzmann)
        self.temperature = float(temperature)
        self.net_args = {}
        self._build(lr_schedule, resolve_note_rnn(note_rnn))

    @property
    def note_rnn_config(self) -> NoteRNNConfig:
        return self.q_net.rnn.config

    def _build(self, lr_schedule: Schedule, base: NoteRNN | None = None) -> None:  # type: ignore[override]
        # q_net, q_net_target and prior each own a copy of ``base``.
        base = base if base is not None else self.q_net.rnn
        self.q_net = self.make_q_net(base)
        if self.algo == "g":
            with torch.no_grad():
                self.q_net.rnn.output.weight.zero_()
                self.q_net.rnn.output.bias.zero_()
        self.q_net_target = self.make_q_net(base)
        self.q_net_target.load_state_dict(self.q_net.state_dict())
        self.q_net_target.set_training_mode(False)
        self.q_net_target.requires_grad_(False)
        self.prior: NoteRNN | None = None
        if self.algo == "g":
            self.prior = copy.deepcopy(base).eval().requires_grad_(False)
        self.optimizer = self.optimizer_class(  # type: ignore[call-arg]
            self.q_net.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def make_q_net(self, base: NoteRNN | None = None) -> NoteRNNQNetwork:  # type: ignore[override]
        rnn = copy.deepcopy(base if base is not None else self.q_net.rnn)
        return NoteRNNQNetwork(self.observation_space, self.action_space, rnn).to(self.device)

    def set_training_mode(self, mode: bool) -> None:
        # SB3 calls this every rollout and training round; nn.Module.train walks every submodule.
        if self.training == mode and self.q_net.training == mode:
            return
        self.q_net.set_training_mode(mode)
        self.training = mode

    def action_logits(
        self, values: torch.Tensor, prior_logits: torch.Tensor | None
    ) -> torch.Tensor:
        """Unnormalised log π from the Q-network output (and, for G, the prior's logits)."""
        if self.algo == "g":
            assert prior_logits is not None
            values = values + F.log_softmax(prior_logits, dim=-1)
        return values / self.temperature

    def prior_sequence_log_probs(self, tokens: torch.Tensor) -> torch.Tensor:
        """``log p(· | s_t)`` under the frozen Note RNN for every prefix of ``tokens``."""
        assert self.prior is not None, "only G-learning keeps the prior"
        logits, _ = self.prior(tokens)
        return F.log_softmax(logits, dim=-1)

    def observation_logits(self, obs: torch.Tensor) -> torch.Tensor:
        """``log π(· | s)`` up to a constant, for observations ``[B, 1 + T]``."""
        tokens, position = observation_prefix(obs, self.q_net.pad)
        rows = torch.arange(tokens.shape[0], device=tokens.device)
        values = self.q_net.sequence_values(tokens)[rows, position]
        prior = None
        if self.prior is not None:
            prior = self.prior(tokens)[0][rows, position]
        return self.action_logits(values, prior)

    def forward(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        return self._predict(obs, deterministic=deterministic)

    def _predict(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        logits = self.observation_logits(obs)
        if deterministic or not self.boltzmann:
            return logits.argmax(dim=1).reshape(-1)
        return torch.multinomial(torch.softmax(logits, dim=1), 1).reshape(-1)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = BasePolicy._get_constructor_parameters(self)
        data.update(
            lr_schedule=self._dummy_schedule,
            note_rnn=self.note_rnn_config,
            algo=self.algo,
            boltzmann=self.boltzmann,
            temperature=self.temperature,
            optimizer_class=self.optimizer_class,
            optimizer_kwargs=self.optimizer_kwargs,
        )
        return data


class _TorchStepper:
    """Steps any Note RNN through its ``step`` method (states stay torch tensors)."""

    def __init__(self, net: NoteRNN) -> None:
        self.net = net
        self.batch_dims = net.state_batch_dims

    def refresh(self) -> None:
        pass

    def initial(self, n: int) -> tuple:
        return self.net.initial_state(n)

    def select(self, reset: np.ndarray, state: tuple, initial: tuple) -> tuple:
        mask = torch.as_tensor(reset)
        return tuple(
            torch.where(_expand(mask, s, d), s0, s)
            for s, s0, d in zip(state, initial, self.batch_dims)
        )

    def concat(self, states: list[tuple]) -> tuple:
        return tuple(torch.cat(parts, dim=d) for parts, d in zip(zip(*states), self.batch_dims))

    @torch.no_grad()
    def step(self, tokens: np.ndarray, state: tuple) -> tuple[np.ndarray, tuple]:
        logits, state = self.net.step(torch.as_tensor(tokens), state)
        return logits.numpy(), state

    @torch.no_grad()
    def run(self, tokens: np.ndarray) -> tuple[np.ndarray, tuple]:
        logits, state = self.net(torch.as_tensor(tokens)[None])
        return logits[:, -1].numpy(), state


class _NumpyLSTMStepper:
    """Steps an LSTM Note RNN through the shared NumPy LSTM (:mod:`pretrain.numpy_lstm`, the
    Reward RNN's too): a few float32 NumPy calls per token, ≈ 10× less overhead than torch.

    The weights are a re-laid-out copy. :meth:`refresh` re-reads them (the agents call it after
    their optimiser steps: a fused Adam updates parameters without bumping their version
    counters); a step also re-reads them when a parameter's version counter moved or its storage
    changed (``load_state_dict``, ``copy_``, a replaced tensor), so loading weights needs no
    call.
    """

    def __init__(self, net: LSTMNoteRNN) -> None:
        self.net = net
        self.kernel = NumpyLSTM(net)
        self.batch_dims = self.kernel.state_batch_dims
        self._seen = self._fingerprint()

    def _fingerprint(self) -> tuple:
        return tuple((id(p), p.data_ptr(), p._version) for p in self.net.parameters())

    def refresh(self) -> None:
        self.kernel.refresh()
        self._seen = self._fingerprint()

    def initial(self, n: int) -> tuple:
        return self.kernel.initial_state(n)

    def select(self, reset: np.ndarray, state: tuple, initial: tuple) -> tuple:
        return tuple(
            np.where(np.expand_dims(reset, [d for d in range(s.ndim) if d != dim]), s0, s)
            for s, s0, dim in zip(state, initial, self.batch_dims)
        )

    def concat(self, states: list[tuple]) -> tuple:
        return tuple(
            np.concatenate(parts, axis=dim) for parts, dim in zip(zip(*states), self.batch_dims)
        )

    def step(self, tokens: np.ndarray, state: tuple) -> tuple[np.ndarray, tuple]:
        if self._fingerprint() != self._seen:
            self.refresh()
        return self.kernel.step(tokens, state)

    def run(self, tokens: np.ndarray) -> tuple[np.ndarray, tuple]:
        state = self.initial(1)
        logits = None
        for token in tokens:
            logits, state = self.step(np.array([token]), state)
        return logits, state


def stepper_for(net: NoteRNN) -> _TorchStepper | _NumpyLSTMStepper:
    """The fastest step-by-step runner of ``net``: NumPy for LSTMs, its own ``step`` else."""
    if isinstance(net, LSTMNoteRNN):
        return _NumpyLSTMStepper(net)
    return _TorchStepper(net)


class RecurrentActor:
    """Acts step by step, carrying the Q-network's (and prior's) recurrent state between calls.

    Re-reading the padded melody on every env step costs a 33-step RNN pass; carrying the state
    costs one step. Each call compares the observation with what was fed before: a continuing
    episode feeds only its newest token, a new episode (one token: the primer) restarts from the
    initial state, anything else (e.g. observations from elsewhere) is recomputed from scratch.

    Each step uses the current weights, but a carried state was computed with the weights current
    when its tokens were fed: while training, acting follows a Q whose recurrent state is a few
    optimiser steps stale within a composition. This only changes the behaviour policy of an
    off-policy learner, never its targets.
    """

    def __init__(self, policy: NoteRNNPolicy) -> None:
        self.policy = policy
        self.steppers = [stepper_for(policy.q_net.rnn)]
        if policy.prior is not None:
            self.steppers.append(stepper_for(policy.prior))
        self.reset()

    def reset(self) -> None:
        """Forget all carried state (call when the env was reset from outside)."""
        self.fed: np.ndarray | None = None  # tokens fed per env
        self.last: np.ndarray | None = None  # last token fed per env
        self.states: list[tuple] = []

    def refresh(self) -> None:
        """Re-read the online weights (after an optimiser step)."""
        self.steppers[0].refresh()

    def logits(self, obs: np.ndarray) -> np.ndarray:
        """Unnormalised ``log π(· | s)`` for a batch of observations ``[N, 1 + T]``."""
        obs = np.asarray(obs)
        if obs.ndim == 1:
            obs = obs[None]
        pad = self.policy.q_net.pad
        count = (obs != pad).sum(axis=1)
        rows = np.arange(len(obs))
        newest = obs[rows, count - 1].astype(np.int64)
        new_episode = count == 1
        if self.fed is None or len(self.fed) != len(obs):
            if not new_episode.all():
                return self._recompute(obs, count)
            continuing = np.zeros_like(new_episode)
        else:
            previous = obs[rows, np.maximum(count - 2, 0)]
            continuing = (count == self.fed + 1) & (previous == self.last)
            if not np.all(new_episode | continuing):
                return self._recompute(obs, count)
        outputs = []
        for i, stepper in enumerate(self.steppers):
            if not self.states or not continuing.any():
                state = stepper.initial(len(obs))
            elif new_episode.any():
                state = stepper.select(new_episode, self.states[i], stepper.initial(len(obs)))
            else:
                state = self.states[i]
            out, state = stepper.step(newest, state)
            outputs.append(out)
            if i < len(self.states):
                self.states[i] = state
            else:
                self.states.append(state)
        self.fed, self.last = count, newest
        return self._action_logits(outputs)

    def _recompute(self, obs: np.ndarray, count: np.ndarray) -> np.ndarray:
        outputs, states = [], []
        for stepper in self.steppers:
            runs = [stepper.run(row[:n].astype(np.int64)) for row, n in zip(obs, count)]
            outputs.append(np.concatenate([logits for logits, _ in runs], axis=0))
            states.append(stepper.concat([state for _, state in runs]))
        self.states = states
        self.fed = count
        self.last = obs[np.arange(len(obs)), count - 1].astype(np.int64)
        return self._action_logits(outputs)

    def _action_logits(self, outputs: list[np.ndarray]) -> np.ndarray:
        values = outputs[0]
        if self.policy.algo == "g":
            prior = outputs[1]
            prior = prior - prior.max(axis=1, keepdims=True)
            values = values + prior - np.log(np.exp(prior).sum(axis=1, keepdims=True))
        return values / self.policy.temperature


def _expand(mask: torch.Tensor, like: torch.Tensor, batch_dim: int) -> torch.Tensor:
    shape = [1] * like.dim()
    shape[batch_dim] = -1
    return mask.view(shape)


def sample_actions(logits: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """One action per row drawn from ``softmax(logits)`` (inverse CDF; the global NumPy RNG,
    which SB3 seeds, when ``rng`` is None)."""
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    cdf = np.cumsum(z, axis=1)
    u = rng.random(len(z)) if rng is not None else np.random.rand(len(z))  # noqa: NPY002
    actions = (cdf < (u * cdf[:, -1])[:, None]).sum(axis=1)
    return np.minimum(actions, z.shape[1] - 1)


__all__ = [
    "ALGORITHMS",
    "NoteRNNPolicy",
    "NoteRNNQNetwork",
    "RecurrentActor",
    "observation_prefix",
    "resolve_note_rnn",
    "sample_actions",
]
