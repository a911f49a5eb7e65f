"""KL-control targets against hand-computed batches, and the training step around them."""
# ruff: noqa: NPY002  (SB3 samples with the global NumPy RNG, which these tests control)

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from stable_baselines3.common.env_util import make_vec_env

from agents.kl_control import SequenceTutorDQN, kl_control_targets
from pretrain.models import NoteRNNConfig, build_note_rnn
from tests.agents_toy_env import ToyMelodyEnv

REWARDS = torch.tensor([1.0, -2.0])
NEXT = torch.tensor([[1.0, 3.0, 2.0], [0.0, 0.0, 5.0]])
DONES = torch.tensor([0.0, 1.0])


def test_q_target_takes_the_max_and_masks_terminal_states():
    y = kl_control_targets("q", REWARDS, NEXT, DONES, 0.5)
    # 1 + 0.5 * max(1, 3, 2); the second s' is terminal: y = r.
    assert torch.allclose(y, torch.tensor([2.5, -2.0]))


def test_psi_target_takes_the_logsumexp():
    y = kl_control_targets("psi", REWARDS, NEXT, DONES, 0.5)
    lse = math.log(math.e + math.e**3 + math.e**2)  # 3.4076059...
    assert lse == pytest.approx(3.40760596, abs=1e-7)
    assert torch.allclose(y, torch.tensor([1 + 0.5 * lse, -2.0]))


def test_g_target_removes_log_p_from_the_reward_and_adds_it_inside_the_logsumexp():
    log_p = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.5, 0.25, 0.25]]))
    g_next = torch.tensor([[math.log(2.0), 0.0, 0.0], [0.0, 0.0, 0.0]])
    action_log_p = torch.log(torch.tensor([0.5, 0.25]))
    y = kl_control_targets(
        "g",
        REWARDS,
        g_next,
        DONES,
        0.5,
        next_log_prior=log_p,
        action_log_prior=action_log_p,
        note_rnn_weight=2.0,
    )
    # row 0: r_theory/c = 1 - 2 log .5; bootstrap = log(2 * .5 + .25 + .25) = log 1.5
    # row 1: terminal, r_theory/c = -2 - 2 log .25
    expected = [1 + 2 * math.log(2) + 0.5 * math.log(1.5), -2 + 2 * math.log(4)]
    assert torch.allclose(y, torch.tensor(expected))


def test_unknown_algo_and_missing_prior_are_errors():
    with pytest.raises(ValueError, match="unknown algo"):
        kl_control_targets("sarsa", REWARDS, NEXT, DONES, 0.5)
    with pytest.raises(ValueError, match="next_log_prior"):
        kl_control_targets("g", REWARDS, NEXT, DONES, 0.5)


def small_rnn(seed: int = 0):
    torch.manual_seed(seed)
    return build_note_rnn(NoteRNNConfig(hidden_size=12)).eval()


def make_model(algo: str, n_envs: int = 1, melody_length: int = 4, **kwargs):
    env = make_vec_env(lambda: ToyMelodyEnv(melody_length), n_envs=n_envs, seed=0)
    kwargs.setdefault("learning_starts", 20)
    return SequenceTutorDQN("NoteRNNPolicy", env, algo=algo, note_rnn=small_rnn(), seed=0, **kwargs)


@pytest.mark.parametrize("algo", ["q", "psi", "g"])
def test_whole_episode_td_equals_transition_by_transition(algo):
    model = make_model(algo, n_envs=2)
    model.learn(200)
    buffer = model.replay_buffer
    np.random.seed(1)
    batch = buffer.sample_episodes(3)
    current, target, mask = model._episode_td(batch)
    # The same transitions, one padded observation at a time (SB3's way).
    episodes = [
        int(np.flatnonzero((buffer.tokens == row.numpy()).all(1))[0]) for row in batch.tokens
    ]
    steps = np.tile(np.arange(4), 3)
    data = buffer.transitions(np.repeat(episodes, 4), steps)
    current_t, target_t = model._transition_td(data)
    assert mask.all()
    assert torch.allclose(current.reshape(-1), current_t, atol=1e-5)
    assert torch.allclose(target.reshape(-1), target_t, atol=1e-5)
    # Only the last step is terminal.
    assert batch.dones[:, -1].eq(1).all() and batch.dones[:, :-1].eq(0).all()


class _SoftMax(torch.nn.Module):
    """A target network whose max over actions is the soft bootstrap of Psi or G.

    SB3's ``DQN.train`` bootstraps with ``max_a' Q_target(s', a')``; returning the logsumexp in
    every action column turns that max into Psi's ``logsumexp_a' Psi_target(s', a')``, or G's
    ``logsumexp_a' (G_target(s', a') + log p(a' | s'))`` with ``log_prior`` given.
    """

    def __init__(self, target: torch.nn.Module, log_prior=None) -> None:
        super().__init__()
        self.target, self.log_prior = target, log_prior

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        values = self.target(obs)
        if self.log_prior is not None:
            values = values + self.log_prior(obs)
        return torch.logsumexp(values, dim=1, keepdim=True).expand_as(values)


@pytest.mark.parametrize("algo", ["q", "psi", "g"])
def test_whole_episode_td_equals_sb3s_own_dqn_target_code(algo, monkeypatch):
    """Our one-pass episode targets against SB3's ``DQN.train`` on the same transitions.

    SB3's code computes ``y = r + (1 - done) * gamma * max_a' Q_target(s', a')`` and the Huber
    loss between ``Q(s, a)`` and ``y``; its arguments are recorded, so the reference is SB3's
    own code path, not ours (Psi and G swap in the soft bootstrap through ``_SoftMax``, and G
    takes ``w * log p(a | s)`` out of the reward as the paper's G-learning does).
    """
    import stable_baselines3.dqn.dqn as sb3_dqn
    from stable_baselines3 import DQN

    model = make_model(algo, n_envs=2)
    model.learn(200)
    buffer = model.replay_buffer
    np.random.seed(1)
    batch = buffer.sample_episodes(3)
    current, target, _ = model._episode_td(batch)
    episodes = [
        int(np.flatnonzero((buffer.tokens == row.numpy()).all(1))[0]) for row in batch.tokens
    ]
    data = buffer.transitions(np.repeat(episodes, 4), np.tile(np.arange(4), 3))
    if algo == "g":
        with torch.no_grad():
            action_log_p = model._prior_log_probs(data.observations).gather(1, data.actions.long())
        data = data._replace(rewards=data.rewards - model.note_rnn_weight * action_log_p)
    if algo != "q":
        prior = model._prior_log_probs if algo == "g" else None
        monkeypatch.setattr(model, "q_net_target", _SoftMax(model.q_net_target, prior))
    recorded = {}
    smooth_l1_loss = torch.nn.functional.smooth_l1_loss

    def huber(input, target, *args, **kwargs):
        recorded["current"], recorded["target"] = input.detach(), target.detach()
        return smooth_l1_loss(input, target, *args, **kwargs)

    monkeypatch.setattr(sb3_dqn.F, "smooth_l1_loss", huber)
    monkeypatch.setattr(buffer, "sample", lambda *args, **kwargs: data)
    DQN.train(model, gradient_steps=1, batch_size=len(data.rewards))
    assert torch.allclose(current.reshape(-1), recorded["current"][:, 0], atol=1e-5)
    assert torch.allclose(target.reshape(-1), recorded["target"][:, 0], atol=1e-5)


def test_polyak_update_after_each_gradient_step():
    model = make_model("psi", learning_rate=0.0, tau=0.1)
    model.learn(100)  # fills the buffer; lr 0 keeps the online net fixed
    online = [p.detach().clone() for p in model.q_net.parameters()]
    with torch.no_grad():
        for p in model.q_net_target.parameters():
            p.add_(1.0)
    model.train(gradient_steps=3)
    for p, q in zip(online, model.q_net_target.parameters()):
        # target = online + 0.9^3 (target0 - online), target0 - online = 1
        assert torch.allclose(q, p + 0.9**3, atol=1e-5)


def test_learn_applies_polyak_once_per_optimiser_step_not_per_env_step():
    model = make_model("q", learning_rate=0.0, tau=0.1, train_freq=5)
    with torch.no_grad():
        for p in model.q_net_target.parameters():
            p.add_(1.0)
    model.learn(200)
    updates = model._n_updates
    assert 0 < updates < 200 / 4  # one per 5 env steps after learning_starts
    offset = next(iter(model.q_net_target.parameters())) - next(iter(model.q_net.parameters()))
    assert torch.allclose(offset, torch.full_like(offset, 0.9**updates), atol=1e-5)


def test_train_moves_q_of_the_taken_action_towards_the_target():
    model = make_model("psi", learning_rate=1e-2)
    model.learn(100)
    np.random.seed(3)
    batch = model.replay_buffer.sample_episodes(1)
    before = model._loss(*model._episode_td(batch)).item()
    for _ in range(20):
        np.random.seed(3)
        model.train(gradient_steps=1)
    after = model._loss(*model._episode_td(batch)).item()
    assert after < before


def test_huber_and_mse_losses():
    model = make_model("q", loss="huber")
    current, target = torch.tensor([0.0, 0.0]), torch.tensor([0.5, 3.0])
    # Huber(δ=1): 0.5 * 0.25 and 3 - 0.5
    assert model._loss(current, target, None).item() == pytest.approx((0.125 + 2.5) / 2)
    model.loss_name = "mse"
    mask = torch.tensor([1.0, 0.0])
    assert model._loss(current, target, mask).item() == pytest.approx(0.25)
