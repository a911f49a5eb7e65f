"""Note RNNs: next-token models over the melody vocabulary.

Every Note RNN has one interface, used by pretraining (whole batches), by the
environment's Reward RNN and by the agents' Q-networks (one step at a time):

* ``model(tokens, state=None) -> (logits, state)`` with ``tokens`` a ``LongTensor[B, T]``
  and ``logits`` a ``FloatTensor[B, T, V]``: the logits at position ``t`` predict token ``t + 1``.
* ``model.initial_state(batch_size) -> state``: a tuple of tensors, each with the batch in dim 1
  for the LSTM (``(h, c)``, ``[num_layers, B, H]``) or dim 0 for the deep-transition models,
  RHN and DT-RNN (``(s,)``, ``[B, H]``).
* ``model.step(tokens, state) -> (logits, state)`` with ``tokens`` a ``LongTensor[B]``.

Running ``forward`` over a sequence and ``step`` token by token give the same logits.
Inputs are one-hot vectors over the vocabulary, as in rl_tuner.
"""

from __future__ import annotations

import torch
from torch import nn

from pretrain.dtrnn import DTRNNNoteRNN
from pretrain.note_rnn import MODEL_KINDS, NoteRNN, NoteRNNConfig, State
from pretrain.rhn import RHNNoteRNN

__all__ = [
    "MODEL_KINDS",
    "DTRNNNoteRNN",
    "LSTMNoteRNN",
    "NoteRNN",
    "NoteRNNConfig",
    "RHNNoteRNN",
    "State",
    "build_note_rnn",
]


class LSTMNoteRNN(NoteRNN):
    """The paper's Note RNN: one-hot tokens -> LSTM (1 x 100 by default) -> linear logits.

    Its state is ``(h, c)``, each ``[num_layers, B, H]``."""

    state_batch_dims = (1, 1)

    def __init__(self, config: NoteRNNConfig) -> None:
        super().__init__()
        if config.kind != "lstm":
            raise ValueError(f"LSTMNoteRNN needs kind 'lstm', got {config.kind!r}")
        self.config = config
        self.lstm = nn.LSTM(
            config.vocab_size, config.hidden_size, config.num_layers, batch_first=True
        )
        self.output = nn.Linear(config.hidden_size, config.vocab_size)

    def initial_state(self, batch_size: int, device: torch.device | None = None) -> State:
        shape = (self.config.num_layers, batch_size, self.config.hidden_size)
        device = device if device is not None else self.output.weight.device
        zeros = torch.zeros(shape, device=device, dtype=self.output.weight.dtype)
        return (zeros, zeros.clone())

    def forward(
        self, tokens: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        if state is None:
            state = self.initial_state(tokens.shape[0], tokens.device)
        hidden, (h, c) = self.lstm(self.one_hot(tokens), state)
        return self.output(hidden), (h, c)


def build_note_rnn(config: NoteRNNConfig) -> NoteRNN:
    """Build an untrained Note RNN of the kind named in ``config``."""
    kinds = {"lstm": LSTMNoteRNN, "rhn": RHNNoteRNN, "dtrnn": DTRNNNoteRNN}
    return kinds[config.kind](config)
