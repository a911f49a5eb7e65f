"""The RHN Note RNN: hand-computed step, hand-written backward, gates, dropout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pretrain.models import NoteRNNConfig, build_note_rnn
from pretrain.rhn import RHNNoteRNN, _RHNSequence


def _tiny(depth=2, hidden=3, dropout=0.0, dtype=torch.float64) -> RHNNoteRNN:
    torch.manual_seed(0)
    model = RHNNoteRNN(NoteRNNConfig(kind="rhn", hidden_size=hidden, depth=depth, dropout=dropout))
    with torch.no_grad():  # move the biases off their init so every term matters
        model.bias.add_(torch.randn_like(model.bias) * 0.5)
    return model.to(dtype)


def _numpy_step(model: RHNNoteRNN, token: int, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One RHN step written out from the paper's equations, in numpy."""
    hidden = model.config.hidden_size
    w = model.input_weight.detach().numpy()  # [V, 2H]: columns W_H | W_T
    r = model.recurrent_weight.detach().numpy()  # [L, H, 2H]: R_H | R_T
    b = model.bias.detach().numpy()  # [L, 2H]
    x = np.zeros(model.config.vocab_size)
    x[token] = 1.0
    for layer in range(model.config.depth):
        pre = s @ r[layer] + b[layer] + (x @ w if layer == 0 else 0.0)
        h = np.tanh(pre[:, :hidden])
        t = 1.0 / (1.0 + np.exp(-pre[:, hidden:]))
        s = h * t + s * (1.0 - t)
    logits = s @ model.output.weight.detach().numpy().T + model.output.bias.detach().numpy()
    return logits, s


def test_step_matches_numpy_hand_computation():
    model = _tiny(depth=2, hidden=3).eval()
    tokens = [5, 1, 0, 14]
    s = np.zeros((1, 3))
    state = model.initial_state(1)
    for token in tokens:
        expected_logits, s = _numpy_step(model, token, s)
        logits, state = model.step(torch.tensor([token]), state)
        np.testing.assert_allclose(logits.detach().numpy(), expected_logits, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(state[0].detach().numpy(), s, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("depth", [1, 3])
def test_forward_equals_step_by_step(depth):
    model = _tiny(depth=depth, hidden=8, dtype=torch.float32).eval()
    tokens = torch.randint(0, 38, (4, 11))
    full, (final,) = model(tokens)
    state = model.initial_state(4)
    for t in range(tokens.shape[1]):
        logits, state = model.step(tokens[:, t], state)
        torch.testing.assert_close(
            F.log_softmax(logits, -1), F.log_softmax(full[:, t], -1), rtol=1e-5, atol=1e-5
        )
    torch.testing.assert_close(state[0], final)


def test_forward_carries_state_across_calls():
    model = _tiny(hidden=6, dtype=torch.float32).eval()
    tokens = torch.randint(0, 38, (2, 10))
    whole, _ = model(tokens)
    first, state = model(tokens[:, :4])
    second, _ = model(tokens[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)


@pytest.mark.parametrize("with_masks", [False, True])
@pytest.mark.parametrize("per_sequence_bias", [False, True])
def test_hand_written_backward_passes_gradcheck(with_masks, per_sequence_bias):
    torch.manual_seed(1)
    steps, batch, hidden, depth = 4, 3, 3, 2
    d = torch.float64
    xw = torch.randn(steps, batch, 2 * hidden, dtype=d, requires_grad=True)
    recurrent = torch.randn(depth, hidden, 2 * hidden, dtype=d, requires_grad=True)
    shape = (depth, batch, 2 * hidden) if per_sequence_bias else (depth, 2 * hidden)
    bias = torch.randn(*shape, dtype=d, requires_grad=True)
    u0 = torch.rand(batch, hidden, dtype=d, requires_grad=True)
    masks = (torch.rand(depth, batch, hidden, dtype=d) > 0.3).to(d) / 0.7 if with_masks else None
    assert torch.autograd.gradcheck(
        lambda *a: _RHNSequence.apply(*a, masks), (xw, recurrent, bias, u0)
    )


def test_transform_bias_initialisation_and_gate_activity():
    model = build_note_rnn(NoteRNNConfig(kind="rhn", hidden_size=16, depth=4, transform_bias=-3.0))
    assert torch.all(model.bias[:, 16:] == -3.0) and torch.all(model.bias[:, :16] == 0.0)
    assert model.gate_activity() is None
    model(torch.randint(0, 38, (2, 5)))
    activity = model.gate_activity()
    assert len(activity) == 4
    # Near sigmoid(-3) = 0.047 at initialisation: each micro-layer starts close to the identity.
    assert all(0.01 < a < 0.12 for a in activity)
    with torch.no_grad():
        model(torch.randint(0, 38, (2, 5)))
    assert len(model.gate_activity()) == 4


def test_output_layer_is_named_output():
    model = build_note_rnn(NoteRNNConfig(kind="rhn", hidden_size=10))
    assert isinstance(model.output, torch.nn.Linear)
    assert model.output.out_features == 38
    logits, _ = model(torch.zeros(1, 1, dtype=torch.long))
    assert logits.shape == (1, 1, 38)


def test_transform_gates_match_the_equations():
    model = _tiny(depth=2, hidden=3).eval()
    tokens = torch.tensor([[5, 1, 14]])
    gates = model.transform_gates(tokens)
    assert gates.shape == (2, 1, 3, 3)
    w, r, b = (p.detach().numpy() for p in (model.input_weight, model.recurrent_weight, model.bias))
    s = np.zeros((1, 3))
    for t, token in enumerate(tokens[0].tolist()):
        for layer in range(2):
            pre = s @ r[layer] + b[layer] + (w[token] if layer == 0 else 0.0)
            gate = 1.0 / (1.0 + np.exp(-pre[:, 3:]))
            np.testing.assert_allclose(gates[layer, :, t].numpy(), gate, rtol=1e-12)
            s = np.tanh(pre[:, :3]) * gate + s * (1.0 - gate)
    model(tokens)
    np.testing.assert_allclose(model.gate_activity(), gates.mean(dim=(1, 2, 3)).numpy(), rtol=1e-12)
