"""The DT-RNN Note RNN: hand-computed step, hand-written backward, dropout, micro-layer stats
(the tests shared with the RHN run on both)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pretrain.dtrnn import DTRNNNoteRNN, _DTRNNSequence, dtrnn_reference
from pretrain.models import NoteRNNConfig, build_note_rnn
from pretrain.rhn import RHNNoteRNN, rhn_reference
from pretrain.training import micro_layer_statistics


def _tiny(depth=3, hidden=4, dropout=0.0, dtype=torch.float64) -> DTRNNNoteRNN:
    torch.manual_seed(0)
    model = build_note_rnn(
        NoteRNNConfig(kind="dtrnn", hidden_size=hidden, depth=depth, dropout=dropout)
    )
    with torch.no_grad():  # non-zero biases, so every term of the equation matters
        model.bias.add_(torch.randn_like(model.bias) * 0.5)
    return model.to(dtype)


def _numpy_layers(model: DTRNNNoteRNN, token: int, s: np.ndarray) -> list[np.ndarray]:
    """One DT-RNN step from the equations: s_l = tanh(W x [l = 1] + R_l s_{l-1} + b_l).

    Returns ``[s_0, s_1, ..., s_L]``; torch stores the transposed matrices (``s @ R``)."""
    w = model.input_weight.detach().numpy()  # [V, H] = W^T
    r = model.recurrent_weight.detach().numpy()  # [L, H, H] = R_l^T
    b = model.bias.detach().numpy()
    x = np.zeros(model.config.vocab_size)
    x[token] = 1.0
    states = [s]
    for layer in range(model.config.depth):
        s = np.tanh(r[layer].T @ s + b[layer] + (w.T @ x if layer == 0 else 0.0))
        states.append(s)
    return states


def test_step_matches_numpy_hand_computation():
    model = _tiny(depth=3, hidden=4).eval()
    out_w = model.output.weight.detach().numpy()
    out_b = model.output.bias.detach().numpy()
    s = np.zeros(4)
    state = model.initial_state(1)
    for token in [5, 1, 0, 14, 37]:
        s = _numpy_layers(model, token, s)[-1]
        logits, state = model.step(torch.tensor([token]), state)
        np.testing.assert_allclose(state[0][0].detach().numpy(), s, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(logits[0].detach().numpy(), out_w @ s + out_b, atol=1e-12)


def test_float32_step_matches_numpy_to_1e6():
    model = _tiny(depth=2, hidden=6, dtype=torch.float32).eval()
    s = np.zeros(6)
    state = model.initial_state(1)
    for token in [3, 9, 1, 1, 20]:
        s = _numpy_layers(model, token, s.astype(np.float32))[-1]
        _, state = model.step(torch.tensor([token]), state)
        np.testing.assert_allclose(state[0][0].detach().numpy(), s, atol=1e-6)


@pytest.mark.parametrize("depth", [1, 2, 5])
def test_forward_equals_step_by_step_and_carries_state(depth):
    model = _tiny(depth=depth, hidden=8, dtype=torch.float32).eval()
    tokens = torch.randint(0, 38, (4, 11))
    with torch.no_grad():
        full, (final,) = model(tokens)
        state = model.initial_state(4)
        for t in range(tokens.shape[1]):
            logits, state = model.step(tokens[:, t], state)
            torch.testing.assert_close(logits, full[:, t], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(state[0], final)
        first, middle = model(tokens[:, :4])
        second, _ = model(tokens[:, 4:], middle)
        torch.testing.assert_close(torch.cat([first, second], 1), full)


@pytest.mark.parametrize("with_masks", [False, True])
@pytest.mark.parametrize("depth", [1, 3])
def test_hand_written_backward_passes_gradcheck(with_masks, depth):
    torch.manual_seed(1)
    steps, batch, hidden = 4, 3, 3
    d = torch.float64
    xw = torch.randn(steps, batch, hidden, dtype=d, requires_grad=True)
    recurrent = torch.randn(depth, hidden, hidden, dtype=d, requires_grad=True)
    bias = torch.randn(depth, hidden, dtype=d, requires_grad=True)
    s0 = torch.rand(batch, hidden, dtype=d, requires_grad=True)
    masks = (torch.rand(depth, batch, hidden, dtype=d) > 0.3).to(d) / 0.7 if with_masks else None
    assert torch.autograd.gradcheck(
        lambda *a: _DTRNNSequence.apply(*a, masks), (xw, recurrent, bias, s0)
    )


@pytest.mark.parametrize("kind", ["dtrnn", "rhn"])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_gradients_equal_plain_autograd(kind, dropout):
    """The fused sequences (reparametrised for the RHN; forward and hand-written backward)
    against the equations in plain autograd ops, dropout masks included."""
    torch.manual_seed(0)
    model = build_note_rnn(NoteRNNConfig(kind=kind, hidden_size=5, depth=3, dropout=dropout))
    model = model.double().train()
    with torch.no_grad():
        model.bias.add_(torch.randn_like(model.bias) * 0.5)
    reference = {"dtrnn": dtrnn_reference, "rhn": rhn_reference}[kind]
    tokens = torch.randint(0, 38, (4, 7))
    torch.manual_seed(3)
    logits, _ = model(tokens)
    torch.manual_seed(3)
    token_mask, state_masks, output_mask = model._dropout_masks(4, model.input_weight)
    xw = F.embedding(tokens.t(), model.input_weight)
    if token_mask is not None:
        xw = xw * token_mask.gather(1, tokens).t().unsqueeze(-1)
    states = reference(
        xw + model.bias[0],
        model.recurrent_weight,
        model.bias,
        torch.zeros(4, 5, dtype=xw.dtype),
        state_masks,
    ).transpose(0, 1)
    if output_mask is not None:
        states = states * output_mask
    expected = model.output(states)
    torch.testing.assert_close(logits, expected, rtol=1e-12, atol=1e-12)
    weights = torch.randn_like(logits)
    params = list(model.parameters())
    fast = torch.autograd.grad(logits, params, weights)
    slow = torch.autograd.grad(expected, params, weights)
    for a, b in zip(fast, slow):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["dtrnn", "rhn"])
def test_dropout_is_per_sequence_and_off_in_eval(kind):
    torch.manual_seed(0)
    model = build_note_rnn(NoteRNNConfig(kind=kind, hidden_size=8, depth=2, dropout=0.5))
    tokens = torch.randint(0, 38, (3, 6))
    model.eval()
    torch.testing.assert_close(model(tokens)[0], model(tokens)[0])
    model.train()
    torch.manual_seed(0)
    c, _ = model(tokens)
    torch.manual_seed(1)
    d, _ = model(tokens)
    assert not torch.allclose(c, d)
    token_mask, state_masks, output_mask = model._dropout_masks(3, model.input_weight)
    # One mask per sequence (and micro-layer), shared by every time step.
    assert (
        token_mask.shape == (3, 38)
        and state_masks.shape == (2, 3, 8)
        and output_mask.shape == (3, 1, 8)
    )
    assert set(torch.unique(state_masks).tolist()) <= {0.0, 2.0}


def test_parameters_and_no_gates():
    model = build_note_rnn(NoteRNNConfig(kind="dtrnn", hidden_size=10, depth=4))
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == {
        "input_weight": (38, 10),
        "recurrent_weight": (4, 10, 10),
        "bias": (4, 10),
        "output.weight": (38, 10),
        "output.bias": (38,),
    }
    assert not hasattr(model, "gate_activity")


def test_micro_layer_states_and_stats_match_numpy():
    model = _tiny(depth=3, hidden=4).eval()
    tune = [5, 1, 14, 1, 0]
    states, gates = model.micro_layer_states(torch.tensor([tune]))
    assert gates is None and states.shape == (4, 1, 5, 4)
    s = np.zeros(4)
    expected_change = np.zeros(3)
    for t, token in enumerate(tune):
        layers = _numpy_layers(model, token, s)
        for layer, value in enumerate(layers):
            np.testing.assert_allclose(states[layer, 0, t].numpy(), value, atol=1e-12)
        if t >= 1:  # the first step starts from the zero state: no relative change
            for layer in range(3):
                expected_change[layer] += np.linalg.norm(
                    layers[layer + 1] - layers[layer]
                ) / np.linalg.norm(layers[layer])
        s = layers[-1]
    stats = model.micro_layer_stats(torch.tensor([tune]))
    assert stats["steps"] == 4 and "transform_gate" not in stats
    np.testing.assert_allclose(stats["state_change"].numpy(), expected_change / 4, rtol=1e-12)


def test_rhn_micro_layer_stats_match_numpy():
    torch.manual_seed(0)
    model = RHNNoteRNN(NoteRNNConfig(kind="rhn", hidden_size=3, depth=2)).double().eval()
    with torch.no_grad():
        model.bias.add_(torch.randn_like(model.bias))
    w, r, b = (p.detach().numpy() for p in (model.input_weight, model.recurrent_weight, model.bias))
    tune = [7, 1, 1, 20]
    s = np.zeros(3)
    change, gate = np.zeros(2), np.zeros(2)
    for t, token in enumerate(tune):
        for layer in range(2):
            pre = s @ r[layer] + b[layer] + (w[token] if layer == 0 else 0.0)
            g = 1.0 / (1.0 + np.exp(-pre[3:]))
            new = np.tanh(pre[:3]) * g + s * (1.0 - g)
            if t >= 1:
                change[layer] += np.linalg.norm(new - s) / np.linalg.norm(s)
                gate[layer] += g.mean()
            s = new
    stats = model.micro_layer_stats(torch.tensor([tune]))
    assert stats["steps"] == 3
    np.testing.assert_allclose(stats["state_change"].numpy(), change / 3, rtol=1e-10)
    np.testing.assert_allclose(stats["transform_gate"].numpy(), gate / 3, rtol=1e-10)


@pytest.mark.parametrize("kind", ["dtrnn", "rhn"])
def test_micro_layer_statistics_over_tunes_ignore_padding_and_batching(kind):
    torch.manual_seed(0)
    model = build_note_rnn(NoteRNNConfig(kind=kind, hidden_size=6, depth=3)).double().eval()
    rng = np.random.default_rng(0)
    tunes = [rng.integers(0, 38, size=n) for n in (3, 9, 17, 5, 2)]
    together = micro_layer_statistics(model, tunes, max_batch_tokens=10_000)
    one_by_one = micro_layer_statistics(model, tunes, max_batch_tokens=1)
    assert together["steps"] == one_by_one["steps"] == sum(len(t) - 1 for t in tunes)
    for key in ("state_change", *(["transform_gate"] if kind == "rhn" else [])):
        np.testing.assert_allclose(together[key], one_by_one[key], rtol=1e-10)
        assert len(together[key]) == 3
    assert micro_layer_statistics(build_note_rnn(NoteRNNConfig(hidden_size=4)), tunes) is None
