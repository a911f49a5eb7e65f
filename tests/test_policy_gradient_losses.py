"""RLOO's and GRPO's losses recomputed by hand (NumPy) on a tiny batch with π ≠ p, and PPO-KL's
whole-composition ``train`` against SB3's own ``PPO.train`` on the same rollout and weights.

The hand batch is read by a Note RNN whose next-token distribution is a known function of the
newest token (a bigram, built from an LSTM by fixing its gates), so every ``log p(a_t | s_t)`` is
a NumPy expression; the policy is that network with its output bias moved by a known vector, so
``log π`` and ``log p`` differ by known amounts and every number of the losses is computed here
without the agents' code.
"""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from agents.policy_gradient.grpo import GRPO, GRPOConfig
from agents.policy_gradient.ppo_kl import PPOKL, PPOKLConfig
from agents.policy_gradient.rloo import RLOO, RLOOConfig
from agents.policy_gradient.rollout import CompositionBatch
from pretrain.models import NoteRNNConfig, build_note_rnn
from tests.agents_toy_env import VOCAB, ToyMelodyEnv

torch.set_num_threads(1)

# -- the hand batch: 2 primers x k = 3 compositions of 3 steps ----------------------------------
K = 3
TOKENS = np.array(
    [
        [14, 14, 16, 18],
        [14, 2, 2, 2],
        [14, 21, 19, 14],
        [9, 9, 1, 0],
        [9, 20, 21, 22],
        [9, 11, 9, 7],
    ]
)
THEORY = np.array(  # r_theory / c of every step
    [
        [1.0, 0.0, 2.0],
        [-3.0, 0.5, 0.0],
        [0.5, 0.5, 0.5],
        [4.0, 0.0, -1.0],
        [0.0, 1.5, 1.0],
        [-2.0, 0.0, 3.0],
    ]
)
INPUTS, ACTIONS = TOKENS[:, :-1], TOKENS[:, 1:]

# -- the bigram Note RNN: logits(s_t) = W tanh(tanh(G[:, x_t])) + B, x_t the newest token -------
HIDDEN = 3
_rng = np.random.default_rng(15)
G = _rng.normal(0.0, 1.5, (HIDDEN, VOCAB))
W = _rng.normal(0.0, 1.0, (VOCAB, HIDDEN))
B = _rng.normal(0.0, 0.5, VOCAB)
DELTA = np.linspace(-1.5, 1.5, VOCAB)  # the policy's output bias minus the prior's
STEP = 0.6 * np.cos(np.arange(VOCAB))  # what each (fake) optimiser step adds to the policy's bias


def bigram_note_rnn():
    """An LSTM Note RNN with input and output gates open (sigmoid(40) = 1 in float32) and the
    forget gate shut: ``h_t = tanh(tanh(G x_t))``, so the logits depend on the newest token only."""
    rnn = build_note_rnn(NoteRNNConfig(hidden_size=HIDDEN))
    h = HIDDEN
    with torch.no_grad():
        for parameter in rnn.parameters():
            parameter.zero_()
        rnn.lstm.weight_ih_l0[2 * h : 3 * h] = torch.tensor(G, dtype=torch.float32)
        rnn.lstm.bias_ih_l0[:h] = 40.0  # input gate
        rnn.lstm.bias_ih_l0[h : 2 * h] = -40.0  # forget gate
        rnn.lstm.bias_ih_l0[3 * h :] = 40.0  # output gate
        rnn.output.weight.copy_(torch.tensor(W, dtype=torch.float32))
        rnn.output.bias.copy_(torch.tensor(B, dtype=torch.float32))
    return rnn


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def prior_logits() -> np.ndarray:
    """``[N, T, V]`` logits of the prior at every step of the hand batch."""
    return np.tanh(np.tanh(G[:, INPUTS])).transpose(1, 2, 0) @ W.T + B


def at_actions(log_probs: np.ndarray) -> np.ndarray:
    return np.take_along_axis(log_probs, ACTIONS[..., None], axis=-1)[..., 0]


def hand_log_p() -> np.ndarray:
    return at_actions(log_softmax(prior_logits()))


def hand_log_pi(bias_shift: np.ndarray) -> np.ndarray:
    """``log π(a_t | s_t)`` ``[N, T]`` for the policy whose output bias is the prior's + shift."""
    return at_actions(log_softmax(prior_logits() + bias_shift))


def hand_batch() -> CompositionBatch:
    theory = torch.tensor(THEORY, dtype=torch.float64)
    return CompositionBatch(torch.tensor(TOKENS), theory, THEORY.sum(1), K)


def toy_vector_env(n: int):
    return gym.vector.SyncVectorEnv([lambda: ToyMelodyEnv(3) for _ in range(n)])


def agent(cls, config):
    """The agent on the bigram Note RNN, its policy's output bias moved by DELTA (π ≠ p)."""
    model = cls(toy_vector_env(config.num_envs), config, note_rnn=bigram_note_rnn(), seed=0)
    with torch.no_grad():
        model.actor.rnn.output.bias.add_(torch.tensor(DELTA, dtype=torch.float32))
    # the hand model is the network: prior and policy along the hand batch
    inputs = torch.tensor(INPUTS)
    prior = model.actor.prior_log_probs(inputs).double().numpy()
    policy = model.actor.sequence_log_probs(inputs)[0].detach().double().numpy()
    assert np.abs(prior - log_softmax(prior_logits())).max() < 1e-5
    assert np.abs(policy - log_softmax(prior_logits() + DELTA)).max() < 1e-5
    assert np.abs(at_actions(policy) - at_actions(prior)).min() > 0.05  # π ≠ p at every step
    return model


# -- RLOO -------------------------------------------------------------------------------------
def test_rloo_loss_and_gradient_by_hand(monkeypatch):
    beta = 0.5
    model = agent(RLOO, RLOOConfig(group_size=K, num_primers=2, beta=beta))
    seen = {}

    def fake_step(loss):
        bias = model.actor.rnn.output.bias
        seen["loss"] = loss.item()
        seen["grad"] = torch.autograd.grad(loss, bias, retain_graph=True)[0].double().numpy()
        return 0.0

    monkeypatch.setattr(model, "_step", fake_step)
    stats = model.update(hand_batch())

    log_pi, log_p = hand_log_pi(DELTA), hand_log_p()
    returns = THEORY.sum(1) - beta * (log_pi - log_p).sum(1)  # KL-regularised return
    groups = returns.reshape(-1, K)
    baseline = (groups.sum(1, keepdims=True) - groups) / (K - 1)  # mean of the other k - 1
    advantages = (groups - baseline).reshape(-1)
    loss = -(advantages[:, None] * log_pi).mean()
    # d log π(a | s) / d bias_v = 1[a = v] - π(v | s); the return's log π carries no gradient
    pi_all = np.exp(log_softmax(prior_logits() + DELTA))  # [N, T, V]
    score = np.eye(VOCAB)[ACTIONS] - pi_all
    grad = -(advantages[:, None, None] * score).mean(axis=(0, 1))

    assert stats["train/return_mean"] == pytest.approx(returns.mean(), rel=1e-5)
    assert seen["loss"] == pytest.approx(loss, rel=1e-5, abs=1e-6)
    assert np.abs(seen["grad"] - grad).max() < 1e-5 * max(1.0, np.abs(grad).max())
    # not vacuous: the KL part of the return and the baseline both move the loss
    theory_only = THEORY.sum(1).reshape(-1, K)
    advantages_no_kl = (
        theory_only - (theory_only.sum(1, keepdims=True) - theory_only) / (K - 1)
    ).reshape(-1)
    assert abs(-(advantages_no_kl[:, None] * log_pi).mean() - seen["loss"]) > 1e-2
    assert abs(-(returns[:, None] * log_pi).mean() - seen["loss"]) > 1e-2
    assert abs(loss) > 1e-2


# -- GRPO -------------------------------------------------------------------------------------
def hand_grpo(kl_in, beta, minibatches, permutation, *, sign=1.0, kl_in_return=True, clip=0.2):
    """Per-optimiser-step losses, clip fractions and gradients with respect to the policy's
    output bias of GRPO over two epochs, the bias moving by STEP after every step (the fake
    optimiser of the test); and the returns."""
    log_p = hand_log_p()
    old_log_pi = hand_log_pi(DELTA)
    returns = THEORY.sum(1)
    if kl_in == "reward" and kl_in_return:
        returns = returns - beta * (old_log_pi - log_p).sum(1)
    groups = returns.reshape(-1, K)
    std = groups.std(axis=1, ddof=1, keepdims=True)  # Bessel-corrected, as TRL
    advantages = sign * ((groups - groups.mean(1, keepdims=True)) / (std + 1e-4)).reshape(-1)
    n_groups = len(groups)
    per = n_groups // minibatches
    losses, clipped, grads, step = [], [], [], 0
    for order in (np.arange(n_groups), permutation):
        for m in range(minibatches):
            rows = (order[m * per : (m + 1) * per, None] * K + np.arange(K)).reshape(-1)
            log_pi_all = log_softmax(prior_logits() + DELTA + step * STEP)
            log_pi, log_pi_all = at_actions(log_pi_all)[rows], log_pi_all[rows]
            ratio = np.exp(log_pi - old_log_pi[rows])
            a = advantages[rows, None]
            unclipped, clipped_term = ratio * a, np.clip(ratio, 1 - clip, 1 + clip) * a
            loss_steps = -np.minimum(unclipped, clipped_term)
            # d loss_step / d log π: -ρ A where the unclipped term is the minimum, else 0
            d_log_pi = np.where(unclipped <= clipped_term, -unclipped, 0.0)
            if kl_in == "loss":
                log_ratio = log_p[rows] - log_pi  # k3 = p/π - log(p/π) - 1
                loss_steps = loss_steps + beta * (np.exp(log_ratio) - log_ratio - 1)
                d_log_pi = d_log_pi + beta * (1 - np.exp(log_ratio))
            losses.append(loss_steps.mean())
            clipped.append((np.abs(ratio - 1) > clip).mean())
            # d log π(a | s) / d bias_v = 1[a = v] - π(v | s)
            score = np.eye(VOCAB)[ACTIONS[rows]] - np.exp(log_pi_all)
            grads.append((d_log_pi[..., None] * score).mean(axis=(0, 1)))
            step += 1
    return np.array(losses), np.array(clipped), np.array(grads), returns


@pytest.mark.parametrize("minibatches", [1, 2])
@pytest.mark.parametrize("kl_in", ["reward", "loss"])
def test_grpo_losses_by_hand_over_two_epochs(monkeypatch, kl_in, minibatches):
    beta = 0.5
    config = GRPOConfig(
        group_size=K, num_primers=2, beta=beta, kl_in=kl_in, epochs=2, minibatches=minibatches
    )
    model = agent(GRPO, config)
    permutation = copy.deepcopy(model.rng).permutation(2)  # what epoch 2 will draw
    losses, grads = [], []

    def fake_step(loss):  # record the loss, then move the policy by a known step
        losses.append(loss.item())
        bias = model.actor.rnn.output.bias
        grads.append(torch.autograd.grad(loss, bias, retain_graph=True)[0].double().numpy())
        with torch.no_grad():
            bias.add_(torch.tensor(STEP, dtype=torch.float32))
        return 0.0

    monkeypatch.setattr(model, "_step", fake_step)
    stats = model.update(hand_batch())

    expected, clipped, expected_grads, returns = hand_grpo(kl_in, beta, minibatches, permutation)
    assert len(losses) == 2 * minibatches
    np.testing.assert_allclose(losses, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads, expected_grads, rtol=1e-4, atol=1e-6)
    assert stats["train/loss"] == pytest.approx(expected.mean(), rel=1e-5, abs=1e-6)
    assert stats["train/clip_fraction"] == pytest.approx(clipped.mean(), abs=1e-6)
    assert stats["train/return_mean"] == pytest.approx(returns.mean(), rel=1e-5)
    # the later steps have ratios != 1, some of them clipped
    assert 0 < clipped[-1] < 1
    # not vacuous: flipped advantages, no KL term, and no clipping each give other losses
    flipped, *_ = hand_grpo(kl_in, beta, minibatches, permutation, sign=-1.0)
    assert np.abs(flipped - expected).max() > 1e-2
    no_kl, *_ = hand_grpo(
        kl_in, 0.0 if kl_in == "loss" else beta, minibatches, permutation, kl_in_return=False
    )
    assert np.abs(no_kl - expected).max() > 1e-2
    unclipped, *_ = hand_grpo(kl_in, beta, minibatches, permutation, clip=1e9)
    assert np.abs(unclipped - expected).max() > 1e-3


# -- PPO-KL against SB3 -----------------------------------------------------------------------
def test_ppo_kl_train_matches_sb3_ppo_train(monkeypatch):
    """Our whole-composition ``train`` and SB3's per-transition ``PPO.train`` on the same rollout
    buffer, weights and minibatches (SB3's shuffle made to draw the same whole compositions) give
    the same losses, gradients and updated parameters."""
    length, n_envs, n_steps = 4, 2, 8  # 2 blocks x 2 envs = 4 whole compositions
    env = make_vec_env(lambda: ToyMelodyEnv(length), n_envs=n_envs, seed=0)
    config = PPOKLConfig(
        n_steps=n_steps, batch_size=8, n_epochs=3, learning_rate=0.5, ent_coef=0.01, beta=0.7
    )
    torch.manual_seed(0)
    model = PPOKL(env, config, note_rnn=build_note_rnn(NoteRNNConfig(hidden_size=16)), seed=0)
    with torch.no_grad():
        model.actor.rnn.output.bias.add_(torch.linspace(-2, 2, VOCAB))
    # the same optimiser for both; plain SGD so a rounding-level difference in a near-zero
    # gradient cannot be blown up by Adam's normalisation
    params = model.actor.trainable_parameters()
    model.policy.optimizer = torch.optim.SGD(params, lr=config.learning_rate)
    grads: list[list[torch.Tensor]] = []
    model.policy.optimizer.register_step_pre_hook(
        lambda *_: grads.append([p.grad.clone() for p in params])
    )
    model.train = lambda: None  # collect one rollout, train below
    model.learn(n_steps * n_envs)
    del model.train
    assert model._compositions is not None  # the whole-composition path
    start = copy.deepcopy(model.policy.state_dict())

    orders: list[np.ndarray] = []
    permutation = np.random.permutation

    def recording(n):
        orders.append(permutation(n))
        return orders[-1].copy()

    monkeypatch.setattr(np.random, "permutation", recording)
    PPOKL.train(model)
    ours_grads, grads[:] = list(grads), []
    ours_logs = dict(model.logger.name_to_value)
    ours_params = [p.detach().clone() for p in params]
    assert len(orders) == 3 and len(ours_grads) == 3 * 2  # 3 epochs x 2 minibatches

    # SB3: the flattened buffer holds env e, step s at e * n_steps + s; composition c (block
    # c // n_envs, env c % n_envs) is steps block * length .. + length - 1 of its env
    def transitions(order):
        block, env_index = order // n_envs, order % n_envs
        first = env_index * n_steps + block * length
        return (first[:, None] + np.arange(length)).reshape(-1)

    sb3_orders = iter([transitions(order) for order in orders])
    monkeypatch.setattr(np.random, "permutation", lambda n: next(sb3_orders))
    model.policy.load_state_dict(start)
    model.policy.optimizer.state.clear()
    PPO.train(model)
    sb3_logs = dict(model.logger.name_to_value)

    assert len(grads) == len(ours_grads)
    for ours_step, sb3_step in zip(ours_grads, grads):
        for a, b in zip(ours_step, sb3_step):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    for a, b in zip(ours_params, params):
        torch.testing.assert_close(a, b.detach(), rtol=1e-4, atol=1e-6)
    for key in ("policy_gradient_loss", "value_loss", "entropy_loss", "approx_kl", "loss"):
        assert ours_logs[f"train/{key}"] == pytest.approx(
            sb3_logs[f"train/{key}"], rel=1e-4, abs=1e-6
        )
    assert ours_logs["train/clip_fraction"] == pytest.approx(sb3_logs["train/clip_fraction"])
    # the updates did something: the policy and the critic moved, some ratios were clipped
    assert ours_logs["train/clip_fraction"] > 0
    assert not torch.equal(start["net.rnn.output.bias"], model.actor.rnn.output.bias)
    assert torch.count_nonzero(model.actor.value.weight) > 0
