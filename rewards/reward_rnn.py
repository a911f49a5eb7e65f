"""The Reward RNN: a frozen Note RNN scoring each action, ``log p(a | s)``.

Sequence Tutor keeps a fixed copy of the pretrained Note RNN and adds ``w * log p(a | s)`` to the
reward so the tuned policy stays close to what was learned from data (Jaques et al. 2017, eq. 2).
The state ``s`` is the primer and the composition so far; the RNN carries its recurrent state from
step to step instead of re-reading the prefix.

Two paths give the same log-probabilities (tested to 1e-5):

* ``"numpy"`` (LSTMs, the default for them): the shared float32 NumPy LSTM of
  :mod:`pretrain.numpy_lstm` (the acting policies step the same one): the weights re-laid out
  once, one product per step for the logits and the recurrent gates, the one-hot input a
  gathered row, one ``tanh`` for every gate. For N compositions that is one GEMM per step.
* ``"torch"``: the model's own ``step`` (any Note RNN, e.g. the RHN), one thread, no autograd.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pretrain.checkpoint import default_checkpoint, load_note_rnn
from pretrain.errors import SequenceTutorError
from pretrain.models import LSTMNoteRNN, NoteRNN
from pretrain.numpy_lstm import NumpyLSTM, cell_views
from pretrain.vocabulary import DEFAULT_VOCABULARY, Vocabulary

__all__ = [
    "BACKENDS",
    "BatchRewardRNNStream",
    "RewardRNN",
    "RewardRNNStream",
    "TorchThreads",
    "load_reward_model",
]

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


class TorchThreads:
    """A reusable context: torch runs ``threads`` intra-op threads inside it and the process's
    own setting is restored on leaving (``None``: a no-op, torch is left as it is).

    The environments wrap their own Reward RNN calls in one, so ``torch_threads=1`` pins only
    their work and never the agent's training that runs next to them."""

    __slots__ = ("_saved", "threads")

    def __init__(self, threads: int | None = None) -> None:
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1
        ):
            raise ValueError(f"torch_threads must be None or an integer >= 1, got {threads!r}")
        self.threads = None if threads is None else int(threads)
        self._saved: int | None = None

    def __enter__(self) -> TorchThreads:
        self._saved = None
        if self.threads is not None:
            saved = torch.get_num_threads()
            if saved != self.threads:
                torch.set_num_threads(self.threads)
                self._saved = saved
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            torch.set_num_threads(self._saved)
            self._saved = None

    def __repr__(self) -> str:
        return f"TorchThreads({self.threads!r})"


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

    def _load_numpy_weights(self) -> None:
        # the shared NumPy LSTM (pretrain.numpy_lstm): one re-layout, one cell step
        self.kernel = NumpyLSTM(self.model)
        self.hidden_size = self.kernel.hidden
        self.num_layers = self.kernel.num_layers

    # ---------------------------------------------------------------------------------------
    # state and steps
    # ---------------------------------------------------------------------------------------

    def initial_state(self, batch_size: int = 1) -> Any:
        """The zero state of ``batch_size`` compositions."""
        if self.backend == "numpy":
            return self.kernel.initial_state(batch_size)
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
        if self.backend == "numpy":  # NumpyLSTM states: features first, the batch in dim 2
            return tuple(np.concatenate([s[i] for s in states], axis=2) for i in range(2))
        return _concat_torch_states(self.model, states)

    def select(self, state: Any, index: int) -> Any:
        """The state of one composition of a batch, as a batch of one."""
        if self.backend == "numpy":
            return tuple(part[:, :, index : index + 1].copy() for part in state)
        return _select_torch_state(self.model, state, index)

    def replace(self, state: Any, index: int, new: Any) -> Any:
        """``state`` with composition ``index`` replaced by the batch-of-one ``new``."""
        if self.backend == "numpy":
            for part, value in zip(state, new):
                part[:, :, index] = value[:, :, 0]
            return state
        return _replace_torch_state(self.model, state, index, new)

    def scatter(self, state: Any, rows: np.ndarray, new: Any) -> Any:
        """A copy of ``state`` with compositions ``rows`` replaced by the batch ``new`` (one
        composition of ``new`` per row, in order)."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.backend == "numpy":
            parts = tuple(part.copy() for part in state)
            for part, value in zip(parts, new):
                part[:, :, rows] = value
            return parts
        return _scatter_torch_state(self.model, state, rows, new)

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
        logits, state = self.kernel.step(tokens, state)
        logits -= logits.max(axis=1, keepdims=True)
        logits -= np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return logits, state

    def stream(self) -> RewardRNNStream:
        """A stateful scorer of one composition (what the single environment uses)."""
        if self.backend == "numpy" and self.num_layers == 1:
            return _FusedStream(self)
        return RewardRNNStream(self)

    def batch_stream(self, num_envs: int) -> BatchRewardRNNStream:
        """A stateful scorer of ``num_envs`` compositions (what the vector environment uses)."""
        if self.backend == "numpy" and self.num_layers == 1:
            return _FusedBatchStream(self, num_envs)
        return BatchRewardRNNStream(self, num_envs)

    def _torch_step(self, tokens: Any, state: Any):
        tokens = torch.as_tensor(np.asarray(tokens, dtype=np.int64).reshape(-1))
        with torch.inference_mode():
            logits, state = self.model.step(tokens, state)
            log_probs = torch.log_softmax(logits.float(), dim=-1)
        return log_probs.numpy(), state


class RewardRNNStream:
    """One composition scored token by token: ``prime(primer)``, then per step
    ``log_prob(action)`` and ``feed(action)``. Works with every backend.

    :ivar runs_torch: whether its steps call torch (the numpy backend steps one composition in
        numpy alone), so the environment only sets torch's threads around steps that need it.
    """

    def __init__(self, rnn: RewardRNN) -> None:
        self.rnn = rnn
        self.runs_torch = rnn.backend == "torch"
        self._log_probs: np.ndarray | None = None
        self._state: Any = None

    def prime(self, primer: Sequence[int] | np.ndarray) -> None:
        """Start over from the zero state and feed ``primer`` (at least one token)."""
        self._log_probs, self._state = self.rnn.prime([primer])

    def feed(self, token: int) -> None:
        self._log_probs, self._state = self.rnn.step(token, self._state)

    def log_prob(self, token: int) -> float:
        """``log p(token | everything fed so far)``."""
        return float(self._log_probs[0, token])

    def log_probs(self) -> np.ndarray:
        """``float32[V]``: the log-probabilities of every next token."""
        return self._log_probs[0].copy()


class _KernelBuffers:
    """The buffers a stream keeps for the shared NumPy LSTM (:mod:`pretrain.numpy_lstm`), for
    one composition (``batch = ()``) or N (``batch = (N,)``, features first):
    ``x = [h', 1]``, ``buffer = [logits | gates | c]`` (the product ``head @ x`` is written
    straight into its first ``V + 4H`` rows) and the cell step's ``product``, plus views of them.
    Copy and pickle keep only the buffers and rebind the views (a deep copy would otherwise turn
    every view into a separate array, and the copy would step the wrong state)."""

    _VIEWS = ("_views", "_h", "_y", "_logits")
    kernel: NumpyLSTM
    hidden: int
    size: int

    def _allocate(self, *batch: int) -> None:
        hidden, size = self.hidden, self.size
        self.x = np.zeros((hidden + 1, *batch), np.float32)
        self.x[hidden] = 1.0
        self.buffer = np.zeros((size + 5 * hidden, *batch), np.float32)
        self.product = np.zeros((2 * hidden, *batch), np.float32)
        self._bind_views()
        self.projected = False  # the buffer holds head @ x for the current x

    def _bind_views(self) -> None:
        size = self.size
        self._views = cell_views(self.buffer[size:], self.product, self.hidden)
        self._h = self.x[: self.hidden]
        self._y = self.buffer[: size + 4 * self.hidden]
        self._logits = self.buffer[:size]

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in self._VIEWS}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._bind_views()

    def _project(self) -> None:
        self.kernel.project(self.x, self._y)
        self.projected = True


class _FusedStream(_KernelBuffers, RewardRNNStream):
    """A one-layer LSTM scored and stepped in about ten numpy calls per token, no allocation,
    through the shared NumPy LSTM (:mod:`pretrain.numpy_lstm`).

    One mat-vec ``head @ [h', 1]`` gives both the logits of the current state
    (``log p(token)``) and the recurrent part of the next gates; ``feed`` adds the token's input
    row and runs the cell step, which writes the new ``h'`` into ``x``. After the last action of
    an episode only ``log_prob`` is needed: the mat-vec and a softmax sum.
    """

    def __init__(self, rnn: RewardRNN) -> None:
        super().__init__(rnn)
        self.kernel = rnn.kernel
        self.hidden, self.size = rnn.hidden_size, rnn.vocab_size
        # exp() of float32 logits overflows past 88; |logits| <= the kernel's max_logit
        self.exp_dtype = np.float32 if self.kernel.max_logit < 80 else np.float64
        self._allocate()

    def prime(self, primer: Sequence[int] | np.ndarray) -> None:
        self.x[:-1] = 0.0
        self.buffer.fill(0.0)
        self.projected = False
        for token in np.asarray(primer, dtype=np.int64).reshape(-1).tolist():
            self.feed(token)

    def log_prob(self, token: int) -> float:
        if not self.projected:
            self._project()
        exp_logits = np.exp(self._logits, dtype=self.exp_dtype)
        return math.log(float(exp_logits[token]) / float(exp_logits.sum()))

    def feed(self, token: int) -> None:
        if not self.projected:
            self._project()
        self.kernel.feed(token, self._views, self._h)
        self.projected = False

    def log_probs(self) -> np.ndarray:
        if not self.projected:
            self._project()
        logits = self._logits.astype(np.float64)
        result = logits - logits.max()
        result -= math.log(np.exp(result).sum())
        return result.astype(np.float32)


class BatchRewardRNNStream:
    """N compositions scored token by token: ``prime(primers)``, then per step
    ``log_prob(actions) -> float64[N]`` and ``feed(actions)``. Works with every backend.

    ``prime(primers, rows=...)`` restarts only some compositions (the others keep their state):
    rows are independent, so every composition's log-probabilities depend on its own tokens only.
    """

    def __init__(self, rnn: RewardRNN, num_envs: int) -> None:
        self.rnn = rnn
        self.num_envs = num_envs
        self._index = np.arange(num_envs)
        self._log_probs: np.ndarray | None = None
        self._state: Any = None

    def prime(
        self, primers: Sequence[Sequence[int] | np.ndarray], rows: np.ndarray | None = None
    ) -> None:
        """Start compositions ``rows`` (default: all) over, each from its primer."""
        if rows is None:
            if len(primers) != self.num_envs:
                raise ValueError(f"got {len(primers)} primers for {self.num_envs} compositions")
            self._log_probs, self._state = self.rnn.prime(primers)
            return
        rows = _check_rows(rows, len(primers), self.num_envs)
        log_probs, state = self.rnn.prime(primers)
        if self._state is None:  # nothing primed yet: start every other row from a zero state
            self._log_probs = np.zeros((self.num_envs, self.rnn.vocab_size), np.float32)
            self._state = self.rnn.initial_state(self.num_envs)
        self._log_probs = self._log_probs.copy()
        self._log_probs[rows] = log_probs
        self._state = self.rnn.scatter(self._state, rows, state)

    def log_prob(self, tokens: np.ndarray) -> np.ndarray:
        return self._log_probs[self._index, tokens].astype(np.float64)

    def feed(self, tokens: np.ndarray) -> None:
        self._log_probs, self._state = self.rnn.step(tokens, self._state)


def _check_rows(rows: Any, count: int, num_envs: int) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    if rows.size != count:
        raise ValueError(f"got {count} primers for {rows.size} rows")
    if rows.size and (rows.min() < 0 or rows.max() >= num_envs):
        raise ValueError(f"rows must lie in 0..{num_envs - 1}, got {rows.tolist()}")
    return rows


class _FusedBatchStream(_KernelBuffers, BatchRewardRNNStream):
    """:class:`_FusedStream` for N compositions, features first (:mod:`pretrain.numpy_lstm`):
    one GEMM ``head @ [h', 1]`` (``[H + 1, N]``) gives the logits of the current states and the
    recurrent part of the gates; the input part is a gathered column per composition; every
    gate is a contiguous ``[H, N]`` block. Only ``log p`` of the chosen tokens is formed."""

    def __init__(self, rnn: RewardRNN, num_envs: int) -> None:
        super().__init__(rnn, num_envs)
        self.kernel = rnn.kernel
        self.hidden, self.size = rnn.hidden_size, rnn.vocab_size
        self.small_logits = self.kernel.max_logit < 80
        self._allocate(num_envs)

    def prime(
        self, primers: Sequence[Sequence[int] | np.ndarray], rows: np.ndarray | None = None
    ) -> None:
        if rows is not None:  # restart some rows: prime them apart, then copy their state in
            rows = _check_rows(rows, len(primers), self.num_envs)
            h, c = self._primed(primers)
            self._h[:, rows] = h
            self._views.cell[:, rows] = c
            self.projected = False
            return
        if len(primers) != self.num_envs:
            raise ValueError(f"got {len(primers)} primers for {self.num_envs} compositions")
        self._h.fill(0.0)
        self.buffer.fill(0.0)
        self.projected = False
        if isinstance(primers, np.ndarray) and primers.ndim == 2:  # equal lengths, as an array
            for column in primers.T:
                self.feed(np.ascontiguousarray(column, dtype=np.int64))
            return
        primers = [np.asarray(p, dtype=np.int64).reshape(-1) for p in primers]
        longest = max(p.size for p in primers)
        if all(p.size == longest for p in primers):
            for column in np.stack(primers).T:
                self.feed(column)
            return
        # unequal primers: feed each composition alone (compositions are independent)
        self._h[:], self._views.cell[:] = self._primed(primers)
        self.projected = False

    def _primed(self, primers: Sequence[Sequence[int] | np.ndarray]) -> tuple[np.ndarray, ...]:
        """``(h' [H, n], c [H, n])`` of ``n = len(primers)`` compositions after their primers
        (scratch buffers)."""
        primers = [np.asarray(p, dtype=np.int64).reshape(-1) for p in primers]
        if len({p.size for p in primers}) > 1:
            parts = [self._primed([p]) for p in primers]
            return tuple(np.concatenate([part[i] for part in parts], axis=1) for i in range(2))
        scratch = self._scratch(len(primers))
        for column in np.stack(primers).T:
            scratch.feed(np.ascontiguousarray(column))
        return scratch._h.copy(), scratch._views.cell.copy()

    def _scratch(self, num_envs: int) -> _FusedBatchStream:
        """A stream of ``num_envs`` fresh compositions sharing this one's weights."""
        scratch = _FusedBatchStream.__new__(_FusedBatchStream)
        scratch.__dict__.update(self.__dict__)
        scratch.num_envs = num_envs
        scratch._index = np.arange(num_envs)
        scratch._allocate(num_envs)
        return scratch

    def log_prob(self, tokens: np.ndarray) -> np.ndarray:
        if not self.projected:
            self._project()
        logits = self._logits
        rows = self._index[: len(tokens)]
        if self.small_logits:  # |logits| < 80: exp cannot overflow in float32, no max needed
            total = np.exp(logits).sum(axis=0, dtype=np.float64)
            return logits[tokens, rows].astype(np.float64) - np.log(total)
        logits = logits.astype(np.float64)
        top = logits.max(axis=0)
        total = np.exp(logits - top).sum(axis=0)
        return logits[tokens, rows] - top - np.log(total)

    def feed(self, tokens: np.ndarray) -> None:
        if not self.projected:
            self._project()
        self.kernel.feed(tokens, self._views, self._h)
        self.projected = False


def _concat_torch_states(model: NoteRNN, states: Sequence[Any]) -> Any:
    return tuple(
        torch.cat([s[i] for s in states], dim=model.state_batch_dims[i])
        for i in range(len(states[0]))
    )


def _select_torch_state(model: NoteRNN, state: Any, index: int) -> Any:
    return tuple(
        part.narrow(dim, index, 1).clone() for part, dim in zip(state, model.state_batch_dims)
    )


def _replace_torch_state(model: NoteRNN, state: Any, index: int, new: Any) -> Any:
    parts = []
    for part, value, dim in zip(state, new, model.state_batch_dims):
        part = part.clone()
        part.narrow(dim, index, 1).copy_(value)
        parts.append(part)
    return tuple(parts)


def _scatter_torch_state(model: NoteRNN, state: Any, rows: np.ndarray, new: Any) -> Any:
    index = torch.as_tensor(rows)
    with torch.inference_mode():
        return tuple(
            part.clone().index_copy_(dim, index, value)
            for part, value, dim in zip(state, new, model.state_batch_dims)
        )
