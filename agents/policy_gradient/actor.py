"""The policy-gradient agents' network: a trainable copy of the Note RNN, a frozen prior, a critic.

``π_θ(· | s_t) = softmax(ℓ_θ(s_t))`` with ``ℓ_θ`` the logits of a copy of the Note RNN, so before
any update ``π_θ = p`` exactly; ``p`` is a second, frozen copy (the prior of the KL term, the same
network as the env's Reward RNN when both are the shipped Note RNN). The critic (PPO-KL) is a
linear value head on the hidden state the Note RNN feeds its output layer (detached: the value
loss trains the head only), zero-initialised so ``V ≡ 0`` before training.

Like :class:`~agents.policy.NoteRNNQNetwork` it reads raw tokens: whole compositions ``[B, L]``
in one recurrent pass (every prefix's distribution at once), or observations ``[B, 1 + T]`` with
PAD past the current step (:func:`~agents.policy.observation_prefix`).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from agents.policy import NoteRNNSource, observation_prefix, resolve_note_rnn, stepper_for
from pretrain.models import NoteRNN, NoteRNNConfig


class NoteRNNActor(nn.Module):
    """``π_θ`` (a Note RNN), the frozen prior ``p`` and an optional value head ``V(s_t)``.

    :param note_rnn: checkpoint path, model, config (weights loaded later) or None (shipped LSTM).
    :param pad: the observation's PAD token (= vocabulary size).
    :param value_head: add the critic (a linear layer on the Note RNN's hidden state, zero init).
    """

    def __init__(self, note_rnn: NoteRNNSource, pad: int, value_head: bool = False) -> None:
        super().__init__()
        base = resolve_note_rnn(note_rnn)
        self.pad = int(pad)
        self.rnn: NoteRNN = base
        self.prior: NoteRNN = copy.deepcopy(base).eval().requires_grad_(False)
        self.value: nn.Linear | None = None
        if value_head:
            self.value = nn.Linear(base.output.in_features, 1)
            nn.init.zeros_(self.value.weight)
            nn.init.zeros_(self.value.bias)
        self._hidden: torch.Tensor | None = None
        base.output.register_forward_hook(self._keep_hidden)
        self._steppers: dict[str, object] = {}

    def _keep_hidden(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        self._hidden = inputs[0]

    @property
    def note_rnn_config(self) -> NoteRNNConfig:
        return self.rnn.config

    def train(self, mode: bool = True) -> NoteRNNActor:
        # Dropout belongs to pretraining: π must be the distribution that sampled the actions.
        super().train(mode)
        self.rnn.train(False)
        self.prior.train(False)
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The policy's (and critic's) parameters; the prior is frozen."""
        params = list(self.rnn.parameters())
        if self.value is not None:
            params += list(self.value.parameters())
        return params

    def sequence_log_probs(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(log π(· | s_t) [B, L, V], V(s_t) [B, L] or None)`` for every prefix of ``tokens``."""
        logits, _ = self.rnn(tokens)
        values = None
        if self.value is not None:
            assert self._hidden is not None
            # The critic reads the hidden state without training the Note RNN: regressing
            # returns of size ~100 through the shared LSTM swamps the policy gradient.
            values = self.value(self._hidden.detach())[..., 0]
        self._hidden = None
        return F.log_softmax(logits, dim=-1), values

    @torch.no_grad()
    def prior_log_probs(self, tokens: torch.Tensor) -> torch.Tensor:
        """``log p(· | s_t)`` ``[B, L, V]`` under the frozen Note RNN for every prefix of ``tokens``."""
        logits, _ = self.prior(tokens)
        return F.log_softmax(logits, dim=-1)

    def observation_log_probs(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(log π(· | s) [B, V], V(s) [B] or None)`` for observations ``[B, 1 + T]``."""
        tokens, position = observation_prefix(torch.as_tensor(obs), self.pad)
        log_pi, values = self.sequence_log_probs(tokens)
        rows = torch.arange(tokens.shape[0])
        return log_pi[rows, position], None if values is None else values[rows, position]

    @torch.no_grad()
    def observation_prior_log_probs(self, obs: torch.Tensor) -> torch.Tensor:
        """``log p(· | s)`` ``[B, V]`` for observations ``[B, 1 + T]``."""
        tokens, position = observation_prefix(torch.as_tensor(obs), self.pad)
        return self.prior_log_probs(tokens)[torch.arange(tokens.shape[0]), position]

    @torch.no_grad()
    def action_probabilities(self, obs: np.ndarray | torch.Tensor) -> np.ndarray:
        """``π(· | s)`` ``float64[B, V]`` for observations ``[B, 1 + T]`` (or one ``[1 + T]``)."""
        obs = torch.as_tensor(np.asarray(obs))
        if obs.dim() == 1:
            obs = obs[None]
        log_pi, _ = self.observation_log_probs(obs)
        return log_pi.double().exp().numpy()

    def stepper(self):
        """A step-by-step runner of ``π_θ`` (NumPy for one-layer LSTMs) reading the live weights."""
        if "policy" not in self._steppers:
            self._steppers["policy"] = stepper_for(self.rnn)
        stepper = self._steppers["policy"]
        stepper.refresh()
        return stepper


__all__ = ["NoteRNNActor"]
