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
        lstm = self.model.lstm
        hidden = lstm.hidden_size
        # torch orders the gates i, f, g, o; [i, f, o | g] with the sigmoid columns pre-scaled by
        # 1/2 lets one tanh give every gate: sigmoid(x) = (1 + tanh(x / 2)) / 2. The state keeps
        # h' = 2h = (1 + tanh(z_o / 2)) tanh(c), so every matrix that reads h is halved.
        order = np.concatenate(
            [
                np.arange(0, 2 * hidden),
                np.arange(3 * hidden, 4 * hidden),
                np.arange(2 * hidden, 3 * hidden),
            ]
        )
        scale = np.concatenate([np.full(3 * hidden, 0.5), np.ones(hidden)])
        self.hidden_size = hidden
        self.num_layers = lstm.num_layers
        self._input_table = np.zeros(0, np.float32)  # [V, 4H]: layer 0 input columns + biases
        self._recurrent: list[np.ndarray] = []  # layer l: [H, 4H] (l = 0) or [2H, 4H] (l > 0)
        self._bias: list[np.ndarray | None] = []
        for layer in range(lstm.num_layers):
            w_ih = getattr(lstm, f"weight_ih_l{layer}").detach().double().numpy()[order].T
            w_hh = getattr(lstm, f"weight_hh_l{layer}").detach().double().numpy()[order].T
            bias = getattr(lstm, f"bias_ih_l{layer}") + getattr(lstm, f"bias_hh_l{layer}")
            bias = bias.detach().double().numpy()[order]
            if layer == 0:
                self._input_table = _f32((w_ih + bias) * scale)
                self._recurrent.append(_f32(0.5 * w_hh * scale))
                self._bias.append(None)
            else:
                self._recurrent.append(_f32(0.5 * np.concatenate([w_ih, w_hh]) * scale))
                self._bias.append(_f32(bias * scale))
        output = self.model.output
        weight = output.weight.detach().double().numpy().T
        self._output = _f32(0.5 * weight)
        self._output_bias = _f32(output.bias.detach().double().numpy())
        self._bind_views()
        # |logit| <= sum |W| + |b| since |h| <= 1: decides whether exp() can overflow
        self._max_logit = float(np.abs(weight).sum(axis=0).max() + np.abs(self._output_bias).max())

    def _bind_views(self) -> None:
        # torch views of the numpy weights (for torch.mm); rebuilt after copy and pickle
        self._recurrent_torch = [torch.from_numpy(w) for w in self._recurrent]
        self._output_torch = torch.from_numpy(self._output)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_recurrent_torch", None)
        state.pop("_output_torch", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.backend == "numpy":
            self._bind_views()

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

    def scatter(self, state: Any, rows: np.ndarray, new: Any) -> Any:
        """A copy of ``state`` with compositions ``rows`` replaced by the batch ``new`` (one
        composition of ``new`` per row, in order)."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.backend == "numpy":
            parts = tuple(part.copy() for part in state)
            for part, value in zip(parts, new):
                part[:, rows] = value
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
        h_all, c_all = state
        hidden = self.hidden_size
        new_h = np.empty_like(h_all)
        new_c = np.empty_like(c_all)
        x = None
        for layer in range(self.num_layers):
            if layer == 0:
                z = _matmul(h_all[0], self._recurrent[0], self._recurrent_torch[0])
                z += self._input_table[tokens]  # the one-hot input: a gathered row
            else:
                inputs = np.concatenate([x, h_all[layer]], axis=1)
                z = _matmul(inputs, self._recurrent[layer], self._recurrent_torch[layer])
                z += self._bias[layer]
            np.tanh(z, out=z)
            gates = z[:, : 3 * hidden]
            gates += 1.0  # 2 * (input, forget, output) gates
            cell = new_c[layer]
            np.multiply(gates[:, hidden : 2 * hidden], c_all[layer], out=cell)
            candidate = z[:, 3 * hidden :]
            candidate *= gates[:, :hidden]
            cell += candidate
            cell *= 0.5
            out = new_h[layer]
            np.tanh(cell, out=out)
            out *= gates[:, 2 * hidden :]
            x = out
        logits = _matmul(x, self._output, self._output_torch)
        logits += self._output_bias
        logits -= logits.max(axis=1, keepdims=True)
        logits -= np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return logits, (new_h, new_c)

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


class _FusedStream(RewardRNNStream):
    """A one-layer LSTM scored and stepped in about ten numpy calls per token, no allocation.

    ``x = [h', one-hot(token), 1]`` (with ``h' = 2h``) lives in one buffer and a single
    mat-vec ``y = x @ W`` gives both the logits of the *previous* state (``log p(token)``) and
    the gate pre-activations of this token: ``W`` stacks ``[W_out / 2 | W_hh' / 2]`` over
    ``[0 | W_ih']`` over ``[b_out | b']``. The gates are laid out ``[o, i, f, g]`` and the cell
    state sits right after them, so ``[i, f] * [g, c]`` is one multiply. After the last action of
    an episode only ``log_prob`` is needed, which costs the mat-vec and a softmax sum.
    """

    def __init__(self, rnn: RewardRNN) -> None:
        super().__init__(rnn)
        lstm, output = rnn.model.lstm, rnn.model.output
        hidden, size = rnn.hidden_size, rnn.vocab_size
        blocks = [3, 0, 1, 2]  # torch's i, f, g, o -> o, i, f, g
        order = np.concatenate([np.arange(b * hidden, (b + 1) * hidden) for b in blocks])
        scale = np.concatenate([np.full(3 * hidden, 0.5), np.ones(hidden)])
        w_ih = lstm.weight_ih_l0.detach().double().numpy()[order].T * scale
        w_hh = lstm.weight_hh_l0.detach().double().numpy()[order].T * scale
        bias = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach().double().numpy()[order] * scale
        w_out = output.weight.detach().double().numpy().T
        weights = np.zeros((hidden + size + 1, size + 4 * hidden))
        weights[:hidden, :size] = 0.5 * w_out
        weights[:hidden, size:] = 0.5 * w_hh
        weights[hidden : hidden + size, size:] = w_ih
        weights[-1, :size] = output.bias.detach().double().numpy()
        weights[-1, size:] = bias
        self.weights = _f32(weights)
        self.hidden, self.size = hidden, size
        # exp() of float32 logits overflows past 88; |logits| <= rnn._max_logit
        self.exp_dtype = np.float32 if rnn._max_logit < 80 else np.float64
        self.x = np.zeros(hidden + size + 1, np.float32)
        self.x[-1] = 1.0
        self.y = np.zeros(size + 5 * hidden, np.float32)  # [logits | o, i, f, g | c]
        self.product = np.zeros(2 * hidden, np.float32)
        self.tanh_cell = np.zeros(hidden, np.float32)
        self._bind_views()
        self.token = -1  # one-hot index set in x (-1: none)
        self.projected = False  # y holds x @ W for the current x

    # the views below alias x, y and product; copy and pickle keep only the buffers and rebind
    # the views (a deep copy would otherwise turn every view into a separate array)
    _VIEWS = (
        "_projection",
        "_logits",
        "_gates",
        "_sigmoid_gates",
        "_output_gate",
        "_input_forget",
        "_candidate_cell",
        "_cell",
        "_h",
        "_product_a",
        "_product_b",
    )

    def _bind_views(self) -> None:
        hidden, size = self.hidden, self.size
        y, h4 = self.y, size + 4 * hidden
        self._projection = y[:h4]
        self._logits = y[:size]
        self._gates = y[size:h4]
        self._sigmoid_gates = y[size : size + 3 * hidden]
        self._output_gate = y[size : size + hidden]
        self._input_forget = y[size + hidden : size + 3 * hidden]
        self._candidate_cell = y[size + 3 * hidden :]
        self._cell = y[h4:]
        self._h = self.x[:hidden]
        self._product_a = self.product[:hidden]
        self._product_b = self.product[hidden:]

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in self._VIEWS}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._bind_views()

    def _project(self, token: int) -> None:
        x = self.x
        if self.token >= 0:
            x[self.hidden + self.token] = 0.0
        if token >= 0:
            x[self.hidden + token] = 1.0
        self.token = token
        np.matmul(x, self.weights, out=self._projection)
        self.projected = True

    def prime(self, primer: Sequence[int] | np.ndarray) -> None:
        self.x[:-1] = 0.0
        self.y.fill(0.0)
        self.token = -1
        self.projected = False
        for token in np.asarray(primer, dtype=np.int64).reshape(-1).tolist():
            self.feed(token)

    def log_prob(self, token: int) -> float:
        if not self.projected or self.token != token:
            self._project(token)
        exp_logits = np.exp(self._logits, dtype=self.exp_dtype)
        return math.log(float(exp_logits[token]) / float(exp_logits.sum()))

    def feed(self, token: int) -> None:
        if not self.projected or self.token != token:
            self._project(token)
        np.tanh(self._gates, out=self._gates)
        self._sigmoid_gates += 1.0  # 2 sigmoid(.) of the output, input, forget gates
        np.multiply(self._input_forget, self._candidate_cell, out=self.product)  # [2i g, 2f c]
        cell = self._cell
        np.add(self._product_a, self._product_b, out=cell)
        cell *= 0.5
        np.tanh(cell, out=self.tanh_cell)
        np.multiply(self.tanh_cell, self._output_gate, out=self._h)  # h' = 2 o tanh(c)
        self.projected = False

    def log_probs(self) -> np.ndarray:
        token = self.token
        self._project(-1)  # the one-hot only feeds the gates: logits need none
        logits = self._logits.astype(np.float64)
        result = logits - logits.max()
        result -= math.log(np.exp(result).sum())
        self._project(token)
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


class _FusedBatchStream(BatchRewardRNNStream):
    """:class:`_FusedStream` for N compositions: one GEMM ``[h, 1] @ [W_out | W_hh]`` gives
    the logits of the previous state and the recurrent part of the gates; the input part is a
    gathered row of ``W_ih`` per composition. Only ``log p`` of the chosen tokens is formed.

    The elementwise part is bound by transcendental functions on ``[N, 4H]``, so every gate is
    one in-place ``torch.sigmoid`` (the fastest of them here): the candidate's columns are
    doubled so that ``tanh(x) = 2 sigmoid(2x) - 1``, and ``i g = 2 i s_g - i``."""

    def __init__(self, rnn: RewardRNN, num_envs: int) -> None:
        super().__init__(rnn, num_envs)
        lstm, output = rnn.model.lstm, rnn.model.output
        hidden, size = rnn.hidden_size, rnn.vocab_size
        blocks = [3, 0, 1, 2]  # torch's i, f, g, o -> o, i, f, g
        order = np.concatenate([np.arange(b * hidden, (b + 1) * hidden) for b in blocks])
        scale = np.concatenate([np.ones(3 * hidden), np.full(hidden, 2.0)])
        weights = np.zeros((hidden + 1, size + 4 * hidden))
        weights[:hidden, :size] = output.weight.detach().double().numpy().T
        weights[:hidden, size:] = lstm.weight_hh_l0.detach().double().numpy()[order].T * scale
        weights[hidden, :size] = output.bias.detach().double().numpy()
        bias = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach().double().numpy()[order] * scale
        weights[hidden, size:] = bias
        self.weights = torch.from_numpy(_f32(weights))
        self.inputs = _f32(lstm.weight_ih_l0.detach().double().numpy()[order].T * scale)
        self.hidden, self.size = hidden, size
        self.small_logits = rnn._max_logit < 80
        self.x = np.zeros((num_envs, hidden + 1), np.float32)  # [h, 1]
        self.y = np.zeros((num_envs, size + 4 * hidden), np.float32)  # [logits | o, i, f, g]
        self.cell = np.zeros((num_envs, hidden), np.float32)
        self.scratch = np.zeros((num_envs, hidden), np.float32)
        self.gathered = np.zeros((num_envs, 4 * hidden), np.float32)
        self._bind_views()
        self.projected = False

    def _bind_views(self) -> None:
        # torch views of x and y (torch.mm writes into y); copy and pickle rebind them to the
        # copy's own buffers instead of giving it separate tensors
        self._x_torch, self._y_torch = torch.from_numpy(self.x), torch.from_numpy(self.y)
        self._gates_torch = self._y_torch[:, self.size :]

    def __getstate__(self) -> dict[str, Any]:
        views = ("_x_torch", "_y_torch", "_gates_torch")
        return {k: v for k, v in self.__dict__.items() if k not in views}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._bind_views()

    def _project(self) -> None:
        torch.mm(self._x_torch, self.weights, out=self._y_torch)
        self.projected = True

    def prime(
        self, primers: Sequence[Sequence[int] | np.ndarray], rows: np.ndarray | None = None
    ) -> None:
        if rows is not None:  # restart some rows: prime them apart, then copy their state in
            rows = _check_rows(rows, len(primers), self.num_envs)
            h, c = self._primed(primers)
            self.x[rows, : self.hidden] = h
            self.cell[rows] = c
            self.projected = False
            return
        if len(primers) != self.num_envs:
            raise ValueError(f"got {len(primers)} primers for {self.num_envs} compositions")
        self.x[:, : self.hidden] = 0.0
        self.x[:, self.hidden] = 1.0
        self.cell.fill(0.0)
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
        # unequal primers: feed each composition alone (rows are independent)
        self.x[:, : self.hidden], self.cell[:] = self._primed(primers)
        self.projected = False

    def _primed(self, primers: Sequence[Sequence[int] | np.ndarray]) -> tuple[np.ndarray, ...]:
        """``(h, c)`` of ``len(primers)`` compositions after their primers (scratch buffers)."""
        primers = [np.asarray(p, dtype=np.int64).reshape(-1) for p in primers]
        if len({p.size for p in primers}) > 1:
            parts = [self._primed([p]) for p in primers]
            return tuple(np.concatenate([part[i] for part in parts]) for i in range(2))
        scratch = self._scratch(len(primers))
        for column in np.stack(primers).T:
            scratch.feed(np.ascontiguousarray(column))
        return scratch.x[:, : self.hidden].copy(), scratch.cell.copy()

    def _scratch(self, num_envs: int) -> _FusedBatchStream:
        """A stream of ``num_envs`` fresh compositions sharing this one's weights."""
        scratch = _FusedBatchStream.__new__(_FusedBatchStream)
        scratch.__dict__.update(self.__dict__)
        scratch.num_envs = num_envs
        scratch._index = np.arange(num_envs)
        scratch.x = np.zeros((num_envs, self.hidden + 1), np.float32)
        scratch.x[:, self.hidden] = 1.0
        scratch.y = np.zeros((num_envs, self.y.shape[1]), np.float32)
        scratch.cell = np.zeros((num_envs, self.hidden), np.float32)
        scratch.scratch = np.zeros((num_envs, self.hidden), np.float32)
        scratch.gathered = np.zeros((num_envs, 4 * self.hidden), np.float32)
        scratch._bind_views()
        scratch.projected = False
        return scratch

    def log_prob(self, tokens: np.ndarray) -> np.ndarray:
        if not self.projected:
            self._project()
        logits = self.y[:, : self.size]
        rows = self._index[: len(tokens)]
        if self.small_logits:  # |logits| < 80: exp cannot overflow in float32, no max needed
            total = np.exp(logits).sum(axis=1, dtype=np.float64)
            return logits[rows, tokens].astype(np.float64) - np.log(total)
        logits = logits.astype(np.float64)
        top = logits.max(axis=1)
        total = np.exp(logits - top[:, None]).sum(axis=1)
        return logits[rows, tokens] - top - np.log(total)

    def feed(self, tokens: np.ndarray) -> None:
        if not self.projected:
            self._project()
        hidden, size = self.hidden, self.size
        y = self.y
        # the one-hot input: a gathered row per composition (into a kept buffer: a fresh
        # [N, 4H] array each step costs page faults)
        gathered = self.gathered if len(tokens) == self.num_envs else None
        y[:, size:] += np.take(self.inputs, tokens, axis=0, out=gathered)
        self._gates_torch.sigmoid_()
        output_gate = y[:, size : size + hidden]
        input_gate = y[:, size + hidden : size + 2 * hidden]
        forget_gate = y[:, size + 2 * hidden : size + 3 * hidden]
        candidate = y[:, size + 3 * hidden :]  # sigmoid(2 x): tanh(x) = 2 candidate - 1
        cell, scratch = self.cell, self.scratch
        np.multiply(input_gate, candidate, out=scratch)
        scratch *= 2.0
        scratch -= input_gate  # i tanh(x)
        cell *= forget_gate
        cell += scratch
        h = self.x[:, :hidden]
        np.tanh(cell, out=h)
        h *= output_gate
        self.projected = False


def _matmul(a: np.ndarray, b: np.ndarray, b_torch: torch.Tensor) -> np.ndarray:
    """``a @ b`` in float32. Batches go through torch, whose threads the user (or the
    environment's ``torch_threads``) controls: numpy's OpenBLAS starts its own threads for GEMMs,
    and on a busy two-core machine a [256, 100] x [100, 400] product then took 18 ms instead of
    0.6 ms."""
    if a.shape[0] < 8:
        return a @ b
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.float32)
    torch.mm(torch.from_numpy(np.ascontiguousarray(a)), b_torch, out=torch.from_numpy(out))
    return out


def _f32(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.float32)


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


def _scatter_torch_state(model: NoteRNN, state: Any, rows: np.ndarray, new: Any) -> Any:
    index = torch.as_tensor(rows)
    with torch.inference_mode():
        return tuple(
            part.clone().index_copy_(_batch_dim(model, part), index, value)
            for part, value in zip(state, new)
        )
