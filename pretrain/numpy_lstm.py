"""The LSTM Note RNN stepped in float32 NumPy: one re-layout of torch's weights, one cell step.

The Reward RNN (``rewards.reward_rnn``) and the acting policies (``agents.policy``) feed an LSTM
Note RNN one token at a time, for one composition or N at once; a torch call per token costs
more than the arithmetic. This module is the one implementation they share:

* :class:`NumpyLSTM` re-lays out an :class:`~pretrain.models.LSTMNoteRNN`'s weights once;
* :func:`cell_step` is the LSTM cell update, in place, for one composition or a batch;
* :meth:`NumpyLSTM.step` feeds a token per composition through every layer (the functional
  form: any batch, any number of layers), and the Reward RNN's streams run the same pieces on
  buffers they keep (:meth:`NumpyLSTM.project` and :meth:`NumpyLSTM.feed`).

The layout, per layer (torch orders the gates ``i, f, g, o``):

* gates ``[o, i, f | g]``, the sigmoid gates' pre-activations halved, so one ``tanh`` gives all
  four: ``sigmoid(z) = (1 + tanh(z / 2)) / 2``;
* the state carries ``h' = 2 h = (1 + tanh(z_o / 2)) tanh(c)`` (a multiply fewer per step), so
  every matrix that reads ``h`` is halved;
* the biases are a last row, multiplied by a constant 1 at the end of the input ``[h', 1]``;
* layer 0's input is one-hot, so ``W_ih x`` is a row of :attr:`NumpyLSTM.table` gathered by
  token instead of a product;
* :attr:`NumpyLSTM.head` stacks ``[W_out, b_out]`` over ``[W_hh, b]``: for a one-layer LSTM one
  product ``head @ [h', 1]`` gives the logits of the current state and the recurrent part of
  the next token's gates;
* features first: a batch of N compositions is ``[features, N]`` (``x [H + 1, N]``), so every
  gate is a contiguous ``[H, N]`` block and the elementwise work runs on contiguous memory (on
  ``[N, 4H]`` rows the same ops took about twice as long); one composition is ``[features]``.

Results equal torch's ``nn.LSTM`` to float32 rounding (tested to 1e-5).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from pretrain.models import LSTMNoteRNN

__all__ = ["CellViews", "NumpyLSTM", "cell_step", "cell_views", "matmul"]

# batches at least this large multiply through torch (its threads are the caller's to set):
# numpy's OpenBLAS starts threads of its own for GEMMs, and on a busy two-core machine a
# [256, 100] x [100, 400] product then took 18 ms instead of 0.6 ms
_TORCH_BATCH = 8


class CellViews(NamedTuple):
    """Views of the buffers one :func:`cell_step` works in (made by :func:`cell_views`):
    ``z [5H, ...] = [o, i, f, g | c]`` (gate pre-activations, then the cell state) and
    ``product [2H, ...]``."""

    gates: np.ndarray
    sigmoid_gates: np.ndarray
    output_gate: np.ndarray
    input_forget: np.ndarray
    candidate_cell: np.ndarray
    cell: np.ndarray
    product: np.ndarray
    product_a: np.ndarray
    product_b: np.ndarray


def cell_views(z: np.ndarray, product: np.ndarray, hidden: int) -> CellViews:
    """The views :func:`cell_step` needs into ``z [5H, ...]`` and ``product [2H, ...]``."""
    h = hidden
    return CellViews(
        gates=z[: 4 * h],
        sigmoid_gates=z[: 3 * h],
        output_gate=z[:h],
        input_forget=z[h : 3 * h],
        candidate_cell=z[3 * h :],
        cell=z[4 * h :],
        product=product,
        product_a=product[:h],
        product_b=product[h:],
    )


def cell_step(views: CellViews, h: np.ndarray) -> None:
    """One LSTM cell update, in place: the gates' pre-activations (``z[:4H]``, in the layout of
    :class:`NumpyLSTM`) and the cell state (``z[4H:]``) in, the new cell state (into ``z[4H:]``)
    and ``h' = 2 h`` (into ``h``) out.

    ``c = sigmoid(f) c + sigmoid(i) tanh(g)``, ``h = sigmoid(o) tanh(c)`` (Hochreiter and
    Schmidhuber 1997, with a forget gate), as ``2 c = 2 sigmoid(f) c + 2 sigmoid(i) tanh(g)``.
    """
    gates, sigmoid_gates, output_gate, input_forget, candidate_cell, cell, product, a, b = views
    np.tanh(gates, out=gates)
    sigmoid_gates += 1.0  # 2 sigmoid(.) of the output, input and forget gates
    np.multiply(input_forget, candidate_cell, out=product)  # [2 i g, 2 f c]
    np.add(a, b, out=cell)
    cell *= 0.5
    np.tanh(cell, out=h)
    h *= output_gate  # h' = 2 sigmoid(o) tanh(c)


def matmul(a: np.ndarray, a_torch: torch.Tensor, x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = a @ x`` in float32 (``a_torch`` is a torch view of ``a``): batches
    (``x [K, N]``) go through torch, whose threads the caller controls, one column through
    numpy."""
    if x.ndim == 2 and x.shape[1] >= _TORCH_BATCH:
        torch.mm(a_torch, torch.from_numpy(x), out=torch.from_numpy(out))
    else:
        np.matmul(a, x, out=out)
    return out


class NumpyLSTM:
    """An :class:`~pretrain.models.LSTMNoteRNN`'s weights, re-laid out for stepping in NumPy.

    The layout is in the module docstring. A state is ``(h' [L, H, N], c [L, H, N])`` float32,
    ``h' = 2 h``, features first (:attr:`state_batch_dims`); :meth:`initial_state` gives the
    zero state.

    :param model: the Note RNN (one or more layers). The arrays are copies: after the model's
        parameters change (an optimiser step), call :meth:`refresh`.
    """

    #: the dimension of each state array that holds the batch
    state_batch_dims = (2, 2)

    def __init__(self, model: LSTMNoteRNN) -> None:
        self.model = model
        lstm = model.lstm
        if not lstm.bias or lstm.proj_size:
            raise ValueError("NumpyLSTM runs the Note RNN's LSTM (biases, no projections)")
        self.hidden, self.size = lstm.hidden_size, model.vocab_size
        self.num_layers = lstm.num_layers
        h = self.hidden
        self._order = np.concatenate([np.arange(b * h, (b + 1) * h) for b in (3, 0, 1, 2)])
        self._scale = np.concatenate([np.full(3 * h, 0.5), np.ones(h)])[:, None]
        self.refresh()

    def refresh(self) -> None:
        """Re-read the model's current weights."""
        lstm, output = self.model.lstm, self.model.output
        order, scale = self._order, self._scale

        def gate_rows(weight: torch.Tensor) -> np.ndarray:  # [4H, K], laid out
            return weight.detach().double().cpu().numpy()[order] * scale

        table = gate_rows(lstm.weight_ih_l0)
        #: ``[V, 4H]``: layer 0's input weights, one row per token (one composition)
        self.table = _f32(table.T)
        #: ``[4H, V]``: the same, one column per token (batches: features first)
        self.table_columns = _f32(table)
        #: per layer, ``[4H, K]`` over the input ``[h'_0, 1]`` (layer 0) or
        #: ``[h'_{l - 1}, h'_l, 1]`` (layer l)
        self.layers: list[np.ndarray] = []
        for layer in range(self.num_layers):
            bias = getattr(lstm, f"bias_ih_l{layer}") + getattr(lstm, f"bias_hh_l{layer}")
            columns = [0.5 * gate_rows(getattr(lstm, f"weight_hh_l{layer}"))]
            if layer > 0:
                columns.insert(0, 0.5 * gate_rows(getattr(lstm, f"weight_ih_l{layer}")))
            columns.append(gate_rows(bias[:, None]))
            self.layers.append(_f32(np.concatenate(columns, axis=1)))
        w_out = output.weight.detach().double().cpu().numpy()
        b_out = output.bias.detach().double().cpu().numpy()
        #: ``[V, H + 1]`` over ``[h'_top, 1]``: the logits
        self.output = _f32(np.concatenate([0.5 * w_out, b_out[:, None]], axis=1))
        #: ``[V + 4H, H + 1]``: logits and layer 0's recurrent gates in one product (one layer)
        self.head = (
            _f32(np.concatenate([self.output, self.layers[0]])) if self.num_layers == 1 else None
        )
        # its transpose, for one composition: ``x @ head.T`` beats ``head @ x`` as a mat-vec
        self._head_rows = None if self.head is None else _f32(self.head.T)
        #: an upper bound of ``|logit|`` (``|h| <= 1``): whether ``exp`` can overflow float32
        self.max_logit = float(np.abs(w_out).sum(axis=1).max() + np.abs(b_out).max())
        self._bind_views()

    def _bind_views(self) -> None:
        # torch views of the arrays, for torch.mm and index_select; copy and pickle rebuild them
        self._layers_torch = [torch.from_numpy(w) for w in self.layers]
        self._output_torch = torch.from_numpy(self.output)
        self._head_torch = None if self.head is None else torch.from_numpy(self.head)
        self._table_columns_torch = torch.from_numpy(self.table_columns)

    def __getstate__(self) -> dict[str, Any]:
        views = ("_layers_torch", "_output_torch", "_head_torch", "_table_columns_torch")
        return {k: v for k, v in self.__dict__.items() if k not in views}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._bind_views()

    # -------------------------------------------------------------------------------------
    # the functional step: any batch, any number of layers
    # -------------------------------------------------------------------------------------

    def initial_state(self, batch_size: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The zero state ``(h', c)`` of ``batch_size`` compositions."""
        shape = (self.num_layers, self.hidden, batch_size)
        return np.zeros(shape, np.float32), np.zeros(shape, np.float32)

    def step(
        self, tokens: np.ndarray, state: tuple[np.ndarray, np.ndarray]
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """Feed one token per composition: ``(logits [N, V] float32, new state)``, the logits
        scoring the *next* token (unnormalised). ``state`` is left untouched."""
        tokens = np.asarray(tokens, dtype=np.int64).reshape(-1)
        h_all, c_all = state
        count, hidden = len(tokens), self.hidden
        new_h, new_c = np.empty_like(h_all), np.empty_like(c_all)
        views = cell_views(
            np.empty((5 * hidden, count), np.float32),
            np.empty((2 * hidden, count), np.float32),
            hidden,
        )
        ones = np.ones((1, count), np.float32)
        below = None
        for layer in range(self.num_layers):
            parts = [h_all[layer]] if layer == 0 else [below, h_all[layer]]
            x = np.concatenate([*parts, ones])
            matmul(self.layers[layer], self._layers_torch[layer], x, out=views.gates)
            if layer == 0:
                gates = views.gates
                gates += self.table[tokens].T  # the one-hot input: a gathered row
            views.cell[...] = c_all[layer]
            cell_step(views, new_h[layer])
            new_c[layer] = views.cell
            below = new_h[layer]
        logits = np.empty((self.size, count), np.float32)
        matmul(self.output, self._output_torch, np.concatenate([below, ones]), out=logits)
        return np.ascontiguousarray(logits.T), (new_h, new_c)

    # -------------------------------------------------------------------------------------
    # the same step on buffers the caller keeps (one layer): project, then feed
    # -------------------------------------------------------------------------------------

    def project(self, x: np.ndarray, y: np.ndarray) -> None:
        """``y = head @ x``: with ``x = [h', 1]`` (``[H + 1]`` or ``[H + 1, N]``), the logits
        of the current state in ``y[:V]`` and the recurrent part of the next gates in ``y[V:]``
        (one layer only)."""
        if x.ndim == 1:
            np.matmul(x, self._head_rows, out=y)
        else:
            matmul(self.head, self._head_torch, x, out=y)

    def feed(self, tokens: np.ndarray | int, views: CellViews, h: np.ndarray) -> None:
        """Feed ``tokens`` after :meth:`project` wrote the recurrent part of the gates into
        ``views.gates``: add the tokens' input rows, then :func:`cell_step` updates the cell and
        writes ``h'`` into ``h`` (the first ``H`` entries of the next ``x``). A batch gathers its
        input columns in two halves through ``views.product`` (free until the cell step), which
        keeps the step's buffers smaller."""
        gates = views.gates
        if gates.ndim == 1:  # one composition, one token
            gates += self.table[tokens]
        elif len(tokens) != gates.shape[1]:
            raise ValueError(f"got {len(tokens)} tokens for {gates.shape[1]} compositions")
        else:
            index = torch.from_numpy(np.asarray(tokens, dtype=np.int64))
            half = 2 * self.hidden
            product = views.product
            product_torch = torch.from_numpy(product)
            for start in (0, half):
                torch.index_select(
                    self._table_columns_torch[start : start + half], 1, index, out=product_torch
                )
                block = gates[start : start + half]
                block += product
        cell_step(views, h)


def _f32(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.float32)
