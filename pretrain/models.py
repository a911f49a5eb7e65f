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

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from pretrain.vocabulary import DEFAULT_VOCABULARY

State = tuple[torch.Tensor, ...]

MODEL_KINDS = ("lstm", "rhn", "dtrnn")


@dataclass
class NoteRNNConfig:
    """Everything needed to rebuild a Note RNN's architecture (stored as JSON beside the weights).

    :param kind: ``"lstm"``, ``"rhn"`` or ``"dtrnn"`` (the RHN's deep transition without gates).
    :param vocab_size: number of tokens (38 by default).
    :param hidden_size: recurrent units (the paper's LSTM: 100).
    :param num_layers: stacked LSTM layers (LSTM only).
    :param depth: micro-layers per step (RHN and DT-RNN, the RHN paper's recurrence depth L).
    :param dropout: variational dropout on the recurrent input/state during training.
    :param transform_bias: initial transform-gate bias (RHN only), negative so it starts near identity.
    """

    kind: str = "lstm"
    vocab_size: int = DEFAULT_VOCABULARY.size
    hidden_size: int = 100
    num_layers: int = 1
    depth: int = 3
    dropout: float = 0.0
    transform_bias: float = -2.0
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"model kind {self.kind!r} is unknown (expected one of {MODEL_KINDS})")
        for name in ("vocab_size", "hidden_size", "num_layers", "depth"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> NoteRNNConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown Note RNN config keys: {sorted(unknown)}")
        return cls(**data)


class NoteRNN(nn.Module):
    """Base class of the Note RNNs: see the module docstring for the interface."""

    config: NoteRNNConfig

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    def initial_state(self, batch_size: int, device: torch.device | None = None) -> State:
        raise NotImplementedError

    def forward(
        self, tokens: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        raise NotImplementedError

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Advance one token: ``tokens`` is ``LongTensor[B]``; returns ``logits[B, V]``."""
        logits, state = self(tokens[:, None], state)
        return logits[:, 0], state

    def one_hot(self, tokens: torch.Tensor) -> torch.Tensor:
        return F.one_hot(tokens, self.vocab_size).to(self.output.weight.dtype)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class LSTMNoteRNN(NoteRNN):
    """The paper's Note RNN: one-hot tokens -> LSTM (1 x 100 by default) -> linear logits."""

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
    if config.kind == "lstm":
        return LSTMNoteRNN(config)
    # Imported here: the deep-transition modules import this one (and LSTM users never need them).
    if config.kind == "rhn":
        from pretrain.rhn import RHNNoteRNN  # noqa: PLC0415

        return RHNNoteRNN(config)
    from pretrain.dtrnn import DTRNNNoteRNN  # noqa: PLC0415

    return DTRNNNoteRNN(config)
