"""The Note RNN interface and configuration, shared by every kind (LSTM, RHN, DT-RNN).

The kinds live in their own modules (``models``: LSTM, ``rhn``, ``dtrnn``), which all import
this one; :func:`pretrain.models.build_note_rnn` builds any of them from a config.
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
    #: the dimension of each state tensor that holds the batch (the layout of ``initial_state``)
    state_batch_dims: tuple[int, ...] = ()

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
