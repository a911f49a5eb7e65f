"""The one NumPy LSTM step (pretrain.numpy_lstm) shared by the Reward RNN and the acting policy."""

import copy
import pickle

import numpy as np
import pytest
import torch

from agents.policy import fused_adam_runs_on_cpu, stepper_for
from pretrain.models import LSTMNoteRNN, NoteRNNConfig, build_note_rnn
from pretrain.numpy_lstm import NumpyLSTM, cell_views
from rewards.reward_rnn import RewardRNN


def _model(layers=1, hidden=12, seed=0):
    torch.manual_seed(seed)
    model = LSTMNoteRNN(NoteRNNConfig(hidden_size=hidden, num_layers=layers)).eval()
    with torch.no_grad():  # biases away from zero, so a wrong bias row would show
        for name, parameter in model.named_parameters():
            if "bias" in name:
                parameter.uniform_(-1.0, 1.0)
    return model


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("batch", [1, 3, 20])  # 20: the products go through torch
def test_step_equals_the_torch_model(layers, batch):
    model = _model(layers)
    kernel = NumpyLSTM(model)
    tokens = np.random.default_rng(1).integers(0, 38, (batch, 10))
    with torch.no_grad():
        expected, (h, c) = model(torch.as_tensor(tokens))
    state = kernel.initial_state(batch)
    for t in range(tokens.shape[1]):
        logits, state = kernel.step(tokens[:, t], state)
        np.testing.assert_allclose(logits, expected[:, t].numpy(), atol=1e-5)
    # features first: [L, H, N]; h' = 2h
    np.testing.assert_allclose(state[0], 2 * h.numpy().transpose(0, 2, 1), atol=1e-5)
    np.testing.assert_allclose(state[1], c.numpy().transpose(0, 2, 1), atol=1e-5)


def test_step_by_hand_one_unit():
    """One LSTM unit, one token, weights set by hand: the cell equations computed directly."""
    model = LSTMNoteRNN(NoteRNNConfig(vocab_size=2, hidden_size=1)).eval()
    w_i, w_f, w_g, w_o = 0.5, -1.0, 2.0, 1.5  # input weights of token 1, torch order i, f, g, o
    with torch.no_grad():
        model.lstm.weight_ih_l0.copy_(
            torch.tensor([[0.0, w_i], [0.0, w_f], [0.0, w_g], [0.0, w_o]])
        )
        model.lstm.weight_hh_l0.fill_(0.25)
        model.lstm.bias_ih_l0.copy_(torch.tensor([0.1, 0.2, 0.3, 0.4]))
        model.lstm.bias_hh_l0.zero_()
        model.output.weight.copy_(torch.tensor([[1.0], [-2.0]]))
        model.output.bias.copy_(torch.tensor([0.5, 0.0]))
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    c = sigmoid(w_i + 0.1) * np.tanh(w_g + 0.3)  # c_0 = 0, h_0 = 0
    h = sigmoid(w_o + 0.4) * np.tanh(c)
    logits, (h2, c2) = NumpyLSTM(model).step(np.array([1]), NumpyLSTM(model).initial_state(1))
    np.testing.assert_allclose(c2.ravel(), [c], rtol=1e-6)
    np.testing.assert_allclose(h2.ravel(), [2 * h], rtol=1e-6)
    np.testing.assert_allclose(logits.ravel(), [h + 0.5, -2 * h], rtol=1e-6)


@pytest.mark.parametrize("batch", [None, 2, 16])
def test_project_then_feed_equals_step(batch):
    """The buffered form the Reward RNN streams use is the same step as the functional one."""
    model = _model()
    kernel = NumpyLSTM(model)
    hidden, size = kernel.hidden, kernel.size
    shape = () if batch is None else (batch,)  # features first: [features, N]
    x = np.zeros((hidden + 1, *shape), np.float32)
    x[hidden] = 1.0
    buffer = np.zeros((size + 5 * hidden, *shape), np.float32)  # [logits | gates | c]
    views = cell_views(buffer[size:], np.zeros((2 * hidden, *shape), np.float32), hidden)
    state = kernel.initial_state(batch or 1)
    rng = np.random.default_rng(2)
    for _ in range(6):
        tokens = rng.integers(0, 38, batch or 1)
        kernel.project(x, buffer[: size + 4 * hidden])
        kernel.feed(tokens if batch else int(tokens[0]), views, x[:hidden])
        logits, state = kernel.step(tokens, state)
        kernel.project(x, buffer[: size + 4 * hidden])
        np.testing.assert_allclose(buffer[:size].reshape(size, -1).T, logits, atol=1e-6)
        np.testing.assert_allclose(x[:hidden].reshape(hidden, -1), state[0][0], atol=1e-6)


def test_refresh_follows_changed_weights_and_copies_are_independent():
    model = _model()
    kernel = NumpyLSTM(model)
    copied = pickle.loads(pickle.dumps(copy.deepcopy(kernel)))
    tokens = np.array([3, 7])
    before, _ = kernel.step(tokens, kernel.initial_state(2))
    with torch.no_grad():
        model.output.bias.add_(1.0)
    unchanged, _ = kernel.step(tokens, kernel.initial_state(2))
    np.testing.assert_array_equal(unchanged, before)  # a copy of the weights ...
    kernel.refresh()
    after, _ = kernel.step(tokens, kernel.initial_state(2))
    np.testing.assert_allclose(after, before + 1.0, atol=1e-6)  # ... re-read on refresh
    again, _ = copied.step(tokens, copied.initial_state(2))
    np.testing.assert_array_equal(again, before)


def test_the_reward_rnn_and_the_acting_policy_share_the_kernel():
    model = _model()
    assert isinstance(RewardRNN(model, backend="numpy").kernel, NumpyLSTM)
    stepper = stepper_for(model)
    assert isinstance(stepper.kernel, NumpyLSTM)
    # the acting stepper re-reads the weights after an in-place update (an optimiser step)
    tokens = np.array([5])
    before, _ = stepper.step(tokens, stepper.initial(1))
    with torch.no_grad():
        model.output.bias.add_(0.5)
    after, _ = stepper.step(tokens, stepper.initial(1))
    np.testing.assert_allclose(after, before + 0.5, atol=1e-6)


@pytest.mark.parametrize("kind", ["lstm", "rhn", "dtrnn"])
def test_note_rnns_declare_their_state_layout(kind):
    model = build_note_rnn(NoteRNNConfig(kind=kind, hidden_size=4, depth=2))
    one, three = model.initial_state(1), model.initial_state(3)
    assert len(model.state_batch_dims) == len(one)
    for a, b, dim in zip(one, three, model.state_batch_dims):
        assert a.shape[dim] == 1 and b.shape[dim] == 3
        assert [n for d, n in enumerate(a.shape) if d != dim] == [
            n for d, n in enumerate(b.shape) if d != dim
        ]


def test_the_acting_policy_follows_a_fused_adam_step_after_refresh():
    """A fused Adam step updates the parameters without bumping their version counters: the
    agents call refresh() after their optimiser steps (a missed one broke exact resume)."""
    model = _model()
    stepper = stepper_for(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1, fused=fused_adam_runs_on_cpu())
    logits, _ = model(torch.as_tensor([[3, 4]]))
    logits.sum().backward()
    optimizer.step()
    stepper.refresh()
    tokens = np.array([3])
    got, _ = stepper.step(tokens, stepper.initial(1))
    with torch.no_grad():
        expected, _ = model(torch.as_tensor([[3]]))
    np.testing.assert_allclose(got, expected[:, 0].numpy(), atol=1e-5)
