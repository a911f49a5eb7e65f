"""The Reward RNN: a frozen Note RNN scoring each action, ``log p(a | s)``.

Sequence Tutor keeps a fixed copy of the pretrained Note RNN and adds ``w * log p(a | s)`` to the
reward so the tuned policy stays close to what was learned from data (Jaques et al. 2017, eq. 2).
The state ``s`` is the primer and the composition so far; the RNN carries its recurrent state from
step to step instead of re-reading the prefix.

Two paths give the same log-probabilities (tested to 1e-5):

* ``"numpy"`` (LSTMs, the default for them): the weights are re-laid out once so one step is a
  single fused float32 product over ``[h, one-hot(x), 1]``: ``z = h @ W_hh' + W_x'[x]``, where
  ``W_x'`` holds the input weights' columns plus both biases, gathered by token instead of
  multiplied by a one-hot vector, and the gates are reordered to ``[i, f, o | g]`` so one
  ``tanh`` gives all three sigmoids (``sigmoid(x) = (1 + tanh(x / 2)) / 2``). For N compositions
  this is one gathered-input GEMM per step and layer.
* ``"torch"``: the model's own ``step`` (any Note RNN, e.g. the RHN), one thread, no autograd.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pretrain.checkpoint import default_checkpoint, load_note_rnn
from pretrain.errors import SequenceTutorError
from pretrain.models import LSTMNoteRNN, NoteRNN
from pretrain.vocabulary import DEFAULT_VOCABULARY, Vocabulary

__all__ = ["BACKENDS", "RewardRNN", "load_reward_model"]

BACKENDS = ("auto", "numpy", "torch")


def load_reward_model(
    checkpoint: str | os.PathLike | NoteRNN | None, vocabulary: Vocabulary = DEFAULT_VOCABULARY
) -> tuple[NoteRNN, dict]:
    """The frozen Note RNN behind a Reward RNN: ``None`` = the shipped LSTM, a checkpoint path
    (``NAME``, ``NAME.json`` or ``NAME.safetensors``), or a model. Raises
    :class:`SequenceTutorError` naming the file when it is missing, corrupt or of another
    vocabulary."""
    if isinstance(checkpoint, NoteRNN):
        model, meta = checkpoint, {"config": checkpoint.config, "vocabulary": vocabulary}
        if model.vocab_size != vocabulary.size:
            raise SequenceTutorError(
                f"reward_rnn: the Note RNN has {model.vocab_size} tokens, the environment's "
                f"vocabulary {vocabulary.size}"
            )
    else:
        if checkpoint is None:
            checkpoint = default_checkpoint("lstm")
        elif not isinstance(checkpoint, (str, os.PathLike)):
            raise SequenceTutorError(
                f"reward_rnn must be a checkpoint path, a NoteRNN or None, got "
                f"{type(checkpoint).__name__}"
            )
        model, meta = load_note_rnn(Path(checkpoint), vocabulary=vocabulary)
    return model, meta


class RewardRNN:
    """A frozen Note RNN stepped one token at a time over one or N compositions.

    :param checkpoint: ``None`` (the shipped LSTM, :func:`pretrain.checkpoint.default_checkpoint`),
        a checkpoint path, or a :class:`~pretrain.models.NoteRNN` (used as is, not copied).
    :param vocabulary: the token vocabulary; the checkpoint must use the same one.
    :param backend: ``"numpy"`` (fused float32 LSTM step), ``"torch"`` (any Note RNN) or
        ``"auto"`` (numpy for LSTMs, torch otherwise).

    Usage (``state`` is opaque; ``log_probs[i, a] = log p(a | primer_i, tokens so far)``)::

        rnn = RewardRNN()
        log_probs, state = rnn.prime([[14], [21]])      # two compositions, one primer token each
        reward = log_probs[np.arange(2), actions]       # score the actions ...
        log_probs, state = rnn.step(actions, state)     # ... then feed them
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike | NoteRNN | None = None,
        *,
        vocabulary: Vocabulary = DEFAULT_VOCABULARY,
        backend: str = "auto",
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend {backend!r} is unknown (expected one of {BACKENDS})")
        self.model, self.meta = load_reward_model(checkpoint, vocabulary)
        self.model.eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self.vocabulary = vocabulary
        self.kind = self.model.config.kind
        is_lstm = isinstance(self.model, LSTMNoteRNN)
        if backend == "auto":
            backend = "numpy" if is_lstm else "torch"
        if backend == "numpy" and not is_lstm:
            raise ValueError(f"the numpy backend runs LSTMs only; use 'torch' for {self.kind!r}")
        self.backend = backend
        if backend == "numpy":
            self._load_numpy_weights()

    @property
    def vocab_size(self) -> int:
        return self.vocabulary.size

    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__.copy()

    def _load_numpy_weights(self) -> None:
        lstm = self.model.lstm
        hidden = lstm.hidden_size
        # torch orders the gates i, f, g, o; [i, f, o | g] lets one tanh do all three sigmoids
        order = np.concatenate(
            [
                np.arange(0, 2 * hidden),
                np.arange(3 * hidden, 4 * hidden),
                np.arange(2 * hidden, 3 * hidden),
            ]
        )
        self.hidden_size = hidden
        self.num_layers = lstm.num_layers
        self._input_table: np.ndarray | None = None  # [V, 4H]: layer 0 input columns + biases
        self._recurrent: list[np.ndarray] = []  # layer l: [H, 4H] (l = 0) or [2H, 4H] (l > 0)
        self._bias: list[np.ndarray | None] = []
        for layer in range(lstm.num_layers):
            w_ih = getattr(lstm, f"weight_ih_l{layer}").detach().double().numpy()[order]
            w_hh = getattr(lstm, f"weight_hh_l{layer}").detach().double().numpy()[order]
            bias = getattr(lstm, f"bias_ih_l{layer}") + getattr(lstm, f"bias_hh_l{layer}")
            bias = bias.detach().double().numpy()[order]
            if layer == 0:
                self._input_table = np.ascontiguousarray((w_ih.T + bias).astype(np.float32))
                self._recurrent.append(np.ascontiguousarray(w_hh.T.astype(np.float32)))
                self._bias.append(None)
            else:
                stacked = np.concatenate([w_ih.T, w_hh.T], axis=0)
                self._recurrent.append(np.ascontiguousarray(stacked.astype(np.float32)))
                self._bias.append(bias.astype(np.float32))
        output = self.model.output
        self._output = np.ascontiguousarray(output.weight.detach().numpy().T.astype(np.float32))
        self._output_bias = output.bias.detach().numpy().astype(np.float32)

    # ---------------------------------------------------------------------------------------
    # state and steps
    # ---------------------------------------------------------------------------------------

    def initial_state(self, batch_size: int = 1) -> Any:
        """The zero state of ``batch_size`` compositions."""
        if self.backend == "numpy":
            shape = (self.num_layers, batch_size, self.hidden_size)
            return (np.zeros(shape, np.float32), np.zeros(shape, np.float32))
        with torch.inference_mode():
            return self.model.initial_state(batch_size)

    def step(self, tokens: np.ndarray | Sequence[int] | int, state: Any) -> tuple[np.ndarray, Any]:
        """Feed one token per composition; return ``(log_probs[N, V] float32, new_state)``.

        ``log_probs`` scores the *next* token. The old ``state`` is left untouched.
        """
        if self.backend == "numpy":
            return self._numpy_step(np.asarray(tokens, dtype=np.int64).reshape(-1), state)
        return self._torch_step(tokens, state)

    def prime(self, primers: Sequence[Sequence[int]] | np.ndarray) -> tuple[np.ndarray, Any]:
        """Start one composition per primer (each a non-empty token list); return the
        log-probabilities of every composition's first action and the state after the primers.
        Primers of different lengths are fed in groups of equal length."""
        primers = [np.asarray(p, dtype=np.int64).reshape(-1) for p in primers]
        if not primers or any(p.size == 0 for p in primers):
            raise ValueError("every primer needs at least one token")
        lengths = {p.size for p in primers}
        if len(lengths) == 1:
            tokens = np.stack(primers)
            state = self.initial_state(len(primers))
            log_probs = None
            for column in tokens.T:
                log_probs, state = self.step(column, state)
            return log_probs, state
        parts = [self.prime([p]) for p in primers]
        log_probs = np.concatenate([lp for lp, _ in parts])
        return log_probs, self.concat_states([s for _, s in parts])

    def concat_states(self, states: Sequence[Any]) -> Any:
        """Join the states of several batches into one batch (in order)."""
        if self.backend == "numpy":
            return tuple(np.concatenate([s[i] for s in states], axis=1) for i in range(2))
        return _concat_torch_states(self.model, states)

    def select(self, state: Any, index: int) -> Any:
        """The state of one composition of a batch, as a batch of one."""
        if self.backend == "numpy":
            return tuple(part[:, index : index + 1].copy() for part in state)
        return _select_torch_state(self.model, state, index)

    def replace(self, state: Any, index: int, new: Any) -> Any:
        """``state`` with composition ``index`` replaced by the batch-of-one ``new``."""
        if self.backend == "numpy":
            for part, value in zip(state, new):
                part[:, index] = value[:, 0]
            return state
        return _replace_torch_state(self.model, state, index, new)

    def log_probs_of(self, sequences: np.ndarray) -> np.ndarray:
        """``log p(x_{t+1} | x_{<=t})`` of whole token sequences ``[B, T]`` (``[B, T - 1]``
        values), through the same step function the environment uses."""
        sequences = np.asarray(sequences, dtype=np.int64)
        log_probs, state = self.prime(sequences[:, :1])
        scores = []
        for t in range(1, sequences.shape[1]):
            scores.append(log_probs[np.arange(len(sequences)), sequences[:, t]])
            log_probs, state = self.step(sequences[:, t], state)
        return np.stack(scores, axis=1) if scores else np.zeros((len(sequences), 0), np.float32)

    def _numpy_step(self, tokens: np.ndarray, state: tuple[np.ndarray, np.ndarray]):
        h_all, c_all = state
        hidden = self.hidden_size
        new_h = np.empty_like(h_all)
        new_c = np.empty_like(c_all)
        x = None
        for layer in range(self.num_layers):
            h, c = h_all[layer], c_all[layer]
            if layer == 0:
                z = h @ self._recurrent[0]
                z += self._input_table[tokens]  # the one-hot input: a gathered column
            else:
                z = np.concatenate([x, h], axis=1) @ self._recurrent[layer]
                z += self._bias[layer]
            gates = z[:, : 3 * hidden]
            gates *= 0.5
            np.tanh(gates, out=gates)
            gates *= 0.5
            gates += 0.5
            candidate = np.tanh(z[:, 3 * hidden :])
            cell = new_c[layer]
            np.multiply(gates[:, hidden : 2 * hidden], c, out=cell)
            candidate *= gates[:, :hidden]
            cell += candidate
            out = new_h[layer]
            np.tanh(cell, out=out)
            out *= gates[:, 2 * hidden :]
            x = out
        logits = x @ self._output
        logits += self._output_bias
        logits -= logits.max(axis=1, keepdims=True)
        logits -= np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return logits, (new_h, new_c)

    def _torch_step(self, tokens: Any, state: Any):
        tokens = torch.as_tensor(np.asarray(tokens, dtype=np.int64).reshape(-1))
        with torch.inference_mode():
            logits, state = self.model.step(tokens, state)
            log_probs = torch.log_softmax(logits.float(), dim=-1)
        return log_probs.numpy(), state


def _batch_dim(model: NoteRNN, tensor: torch.Tensor) -> int:
    # LSTM states are [layers, B, H]; the RHN's (and other 2-D states) are [B, H]
    return 1 if tensor.dim() == 3 else 0


def _concat_torch_states(model: NoteRNN, states: Sequence[Any]) -> Any:
    return tuple(
        torch.cat([s[i] for s in states], dim=_batch_dim(model, states[0][i]))
        for i in range(len(states[0]))
    )


def _select_torch_state(model: NoteRNN, state: Any, index: int) -> Any:
    return tuple(part.narrow(_batch_dim(model, part), index, 1).clone() for part in state)


def _replace_torch_state(model: NoteRNN, state: Any, index: int, new: Any) -> Any:
    parts = []
    for part, value in zip(state, new):
        part = part.clone()
        part.narrow(_batch_dim(model, part), index, 1).copy_(value)
        parts.append(part)
    return tuple(parts)
