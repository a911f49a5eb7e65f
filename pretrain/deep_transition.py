"""What the deep-transition Note RNNs share: the RHN and its gate-less baseline, the DT-RNN.

Both run one recurrence step as ``L`` micro-layers (Zilly et al. 2017, "recurrence depth"),
the one-hot input ``x^{[t]}`` entering only the first::

    s_0 = s_L^{[t-1]},   s_l = f_l(x^{[t]} [l = 1], s_{l-1})  for l = 1..L,   state = s_L^{[t]}

and the logits are a linear layer ``output`` on ``s_L^{[t]}``. Each micro-layer is ``blocks``
blocks of ``H`` pre-activations (``tanh`` only for the DT-RNN; ``h`` and the transform gate ``t``
for the RHN), stored as ``input_weight`` ``[V, blocks H]``, ``recurrent_weight``
``[L, H, blocks H]`` and ``bias`` ``[L, blocks H]``. State: ``(s,)``, ``s`` of shape ``[B, H]``.

Variational dropout (training only, ``config.dropout > 0``): one mask per sequence, shared by
all time steps, on the input tokens, on the state entering each micro-layer's matrices and on
the output state.

:meth:`DeepTransitionNoteRNN.micro_layer_stats` measures what each micro-layer does (the RHN
paper's Fig. 4 question): the mean relative state change ``||s_l - s_{l-1}|| / ||s_{l-1}||`` and,
for the RHN, the mean transform gate ``t_l``.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from pretrain.note_rnn import NoteRNN, NoteRNNConfig, State


class DeepTransitionNoteRNN(NoteRNN):
    """Base class of the Note RNNs with a deep transition (``kind`` ``"rhn"`` and ``"dtrnn"``).

    Subclasses set :attr:`kind` and :attr:`blocks` and implement :meth:`_transition` (the
    recurrence over a sequence, training and inference) and :meth:`micro_layer_states` (every
    micro-layer's state, for analysis).
    """

    kind: ClassVar[str]
    blocks: ClassVar[int]  #: pre-activation blocks of H per micro-layer
    state_batch_dims = (0,)  # the state is ``(s,)``, ``[B, H]``

    def __init__(self, config: NoteRNNConfig) -> None:
        super().__init__()
        if config.kind != self.kind:
            raise ValueError(f"{type(self).__name__} needs kind {self.kind!r}, got {config.kind!r}")
        self.config = config
        vocab, hidden, depth = config.vocab_size, config.hidden_size, config.depth
        width = self.blocks * hidden
        self.input_weight = nn.Parameter(torch.empty(vocab, width))
        self.recurrent_weight = nn.Parameter(torch.empty(depth, hidden, width))
        self.bias = nn.Parameter(torch.empty(depth, width))
        self.output = nn.Linear(hidden, vocab)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform(-1/sqrt(H), 1/sqrt(H)) like torch's RNNs, zero biases."""
        bound = self.config.hidden_size**-0.5
        with torch.no_grad():
            self.input_weight.uniform_(-bound, bound)
            self.recurrent_weight.uniform_(-bound, bound)
            self.bias.zero_()
        self.output.reset_parameters()

    def initial_state(self, batch_size: int, device: torch.device | None = None) -> State:
        device = device if device is not None else self.output.weight.device
        return (
            torch.zeros(
                batch_size, self.config.hidden_size, device=device, dtype=self.output.weight.dtype
            ),
        )

    def _dropout_masks(self, batch: int, like: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        """``(token_mask [B, V], state_masks [L, B, H], output_mask [B, 1, H])`` or Nones."""
        p = self.config.dropout
        if not (self.training and p > 0):
            return None, None, None
        hidden, depth = self.config.hidden_size, self.config.depth
        keep = 1.0 - p
        token_mask = torch.bernoulli(like.new_full((batch, self.config.vocab_size), keep)) / keep
        state_masks = torch.bernoulli(like.new_full((depth, batch, hidden), keep)) / keep
        output_mask = torch.bernoulli(like.new_full((batch, 1, hidden), keep)) / keep
        return token_mask, state_masks, output_mask

    @staticmethod
    def _gather_inputs(
        tokens: torch.Tensor, weight: torch.Tensor, token_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """``W x`` of every step, ``[T, B, width]``: with one-hot inputs, one row gather."""
        xw = F.embedding(tokens.t(), weight)
        if token_mask is not None:
            xw = xw * token_mask.gather(1, tokens).t().unsqueeze(-1)
        return xw

    def _transition(
        self,
        tokens: torch.Tensor,
        s0: torch.Tensor,
        token_mask: torch.Tensor | None,
        state_masks: torch.Tensor | None,
    ) -> torch.Tensor:
        """States ``s_L`` after every step, ``[T, B, H]`` (differentiable)."""
        raise NotImplementedError

    def micro_layer_states(
        self, tokens: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(states, gates)`` without dropout: ``states[l, b, t]`` is ``s_l`` of step ``t``
        (``[L + 1, B, T, H]``, ``states[0]`` the state entering the step), ``gates[l - 1, b, t]``
        the transform gate ``t_l`` (``[L, B, T, H]``; ``None`` for a model without gates)."""
        raise NotImplementedError

    @torch.no_grad()
    def micro_layer_stats(
        self, tokens: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor | int]:
        """What each micro-layer does, averaged over the steps of ``tokens`` ``[B, T]``.

        Returns ``state_change`` ``[L]``: the mean over steps of
        ``||s_l - s_{l-1}|| / ||s_{l-1}||`` (norms over the ``H`` units); ``transform_gate``
        ``[L]`` (gated models only): the mean of ``t_l`` over steps and units; ``steps``: how many
        steps were averaged. Every sequence starts from the zero state, so its first step is left
        out (``s_0 = 0`` there); with ``lengths`` ``[B]``, steps past each sequence's length too.
        """
        states, gates = self.micro_layer_states(tokens)
        steps = tokens.shape[1]
        position = torch.arange(steps, device=tokens.device)
        valid = position[None, :] >= 1
        if lengths is not None:
            valid = valid & (position[None, :] < lengths.to(tokens.device)[:, None])
        count = int(valid.sum())
        change = (states[1:] - states[:-1]).norm(dim=-1) / states[:-1].norm(dim=-1)
        stats: dict[str, torch.Tensor | int] = {
            "state_change": torch.where(valid, change, 0.0).sum(dim=(1, 2)) / max(count, 1),
            "steps": count,
        }
        if gates is not None:
            gate = torch.where(valid, gates.mean(dim=-1), 0.0)
            stats["transform_gate"] = gate.sum(dim=(1, 2)) / max(count, 1)
        return stats

    def forward(
        self, tokens: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        if tokens.dim() != 2:
            raise ValueError(f"tokens must be [batch, time], got shape {tuple(tokens.shape)}")
        batch = tokens.shape[0]
        if state is None:
            state = self.initial_state(batch, tokens.device)
        (s0,) = state
        token_mask, state_masks, output_mask = self._dropout_masks(batch, self.input_weight)
        states = self._transition(tokens, s0, token_mask, state_masks)
        hidden_seq = states.transpose(0, 1)
        if output_mask is not None:
            hidden_seq = hidden_seq * output_mask
        return self.output(hidden_seq), (states[-1],)
