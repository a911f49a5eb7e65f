"""The objective J, the exact KL and log p measured the same way for every kind of agent."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.agent_file import load_agent_policy, shipped_agent
from agents.policy import resolve_note_rnn
from agents.policy_gradient.actor import NoteRNNActor
from pretrain.errors import SequenceTutorError
from sequence_tutor.evaluation.objective import (
    action_distribution,
    check_probabilities,
    measure_objective,
    prior_log_probs,
)

torch.set_num_threads(1)
V = 38


class NoteRNNAgent:
    def __init__(self) -> None:
        self.actor = NoteRNNActor(None, pad=V)

    def action_probabilities(self, obs):
        return self.actor.action_probabilities(obs)


class UniformAgent:
    def action_probabilities(self, obs):
        return np.full((len(obs), V), 1.0 / V)


class PredictOnly:
    def predict(self, obs, deterministic=False):
        return np.full(len(obs), 14), None


def test_the_note_rnn_has_zero_kl_and_log_pi_equals_log_p():
    est = measure_objective(NoteRNNAgent(), 64, seed=0)
    assert est.kl == pytest.approx(0.0, abs=1e-6)
    assert est.log_pi == pytest.approx(est.log_p, abs=1e-3)
    assert est.J == pytest.approx(est.theory, abs=1e-5)
    assert est.samples.tokens.shape == (64, 32)


def test_exact_kl_of_a_uniform_agent_by_hand():
    est = measure_objective(UniformAgent(), 16, seed=1)
    log_p = prior_log_probs(resolve_note_rnn(None), est.samples.tokens, est.samples.primers)
    # KL(u || p) = sum_a (1/V) (log(1/V) - log p(a)), summed over the steps
    by_hand = ((np.log(1.0 / V) - log_p) / V).sum(axis=(1, 2))
    assert np.allclose(est.kl_per_composition, by_hand, atol=1e-9)
    assert est.log_pi == pytest.approx(32 * np.log(1.0 / V))
    assert est.J == pytest.approx(est.theory - est.kl)
    chosen = np.take_along_axis(log_p, est.samples.tokens[..., None], axis=2)[..., 0].sum(1)
    assert np.allclose(est.log_p_per_composition, chosen, atol=1e-4)  # env Reward RNN = Note RNN


def test_an_agent_without_a_distribution_has_no_kl():
    est = measure_objective(PredictOnly(), 8, seed=0, name="mine")
    assert np.isnan(est.kl) and np.isnan(est.J) and np.isnan(est.log_pi)
    assert (est.samples.tokens == 14).all() and np.isfinite(est.theory)
    assert est.as_dict()["kl"] is None


@pytest.mark.parametrize(
    ("probs", "match"),
    [
        (np.full((4, V - 1), 1.0 / (V - 1)), r"shape \(4, 37\)"),
        (np.full((3, V), 1.0 / V), r"shape \(3, 38\)"),
        (np.full((4, V), np.nan), "NaN"),
        (np.full((4, V), -1.0 / V), "negative"),
        (np.full((4, V), 0.5 / V), "summing to 1"),
        ("not numbers", "returned"),
    ],
)
def test_bad_user_probabilities_are_one_line_errors_naming_the_agent(probs, match):
    with pytest.raises(SequenceTutorError, match=match) as info:
        check_probabilities(probs, 4, V, "my_agent")
    assert str(info.value).startswith("my_agent.action_probabilities")
    assert "expected probabilities of shape (4, 38)" in str(info.value)
    assert "\n" not in str(info.value)


def test_a_bad_user_agent_fails_inside_measure_objective():
    class Broken:
        def action_probabilities(self, obs):
            return np.ones((len(obs), V))

    with pytest.raises(SequenceTutorError, match="broken.action_probabilities"):
        measure_objective(Broken(), 4, name="broken")
    with pytest.raises(SequenceTutorError, match="n "):
        measure_objective(UniformAgent(), 0)


def test_shipped_psi_agent_matches_the_design_numbers():
    policy, _ = load_agent_policy(shipped_agent("psi"))
    est = measure_objective(policy, 400, seed=0, name="psi")
    # DESIGN.md (2 000 compositions): KL 35.3, log pi -18.0, log p -53.1
    assert abs(est.kl - 35.3) < 4 * est.standard_error("kl") + 0.3
    assert est.log_pi == pytest.approx(-18.0, abs=1.5)
    assert est.log_p == pytest.approx(-53.1, abs=2.0)
    assert est.J == pytest.approx(est.theory - est.kl)


def test_sb3_actor_critic_baselines_expose_their_categorical_distribution():
    import gymnasium as gym
    from stable_baselines3 import PPO

    import envs  # noqa: F401

    model = PPO("MlpPolicy", gym.make("SequenceTutor-v0"), n_steps=64, seed=0, device="cpu")
    est = measure_objective(model, 8, seed=0, name="ppo")
    assert np.isfinite(est.kl) and est.kl > 0  # an untrained MLP is far from the Note RNN
    assert est.J == pytest.approx(est.theory - est.kl)


def test_maskable_ppo_exposes_its_categorical_distribution():
    import gymnasium as gym
    from sb3_contrib import MaskablePPO

    import envs  # noqa: F401

    env = gym.make("SequenceTutor-v0")
    model = MaskablePPO("MlpPolicy", env, n_steps=64, seed=0, device="cpu")
    obs, _ = env.reset(seed=0)
    probs = action_distribution(model)(obs[None])
    with torch.no_grad():
        logits = model.policy.action_net(
            model.policy.mlp_extractor.forward_actor(
                model.policy.extract_features(model.policy.obs_to_tensor(obs[None])[0])
            )
        )
    np.testing.assert_allclose(probs, torch.softmax(logits.double(), -1).numpy(), atol=1e-6)
    est = measure_objective(model, 8, seed=0, name="maskable-ppo")
    assert np.isfinite(est.kl) and est.kl > 0
    assert est.J == pytest.approx(est.theory - est.kl)


def test_recurrent_ppo_carries_its_lstm_state_along_each_composition():
    """The distribution of RecurrentPPO depends on its LSTM state: its argmax along a composition
    is the action RecurrentPPO's own deterministic predict takes with the state it carries."""
    import gymnasium as gym

    import envs  # noqa: F401
    from sequence_tutor.benchmark.agent_factories import _sb3_baseline

    env = gym.make("SequenceTutor-v0", melody_length=12)
    model = _sb3_baseline(  # the benchmark's recurrent-ppo
        "recurrent-ppo", env, seed=0, tensorboard_log=None, hyperparams={}, steps=32
    )
    with torch.no_grad():  # a visible dependence on the state
        for parameter in model.policy.lstm_actor.parameters():
            parameter.mul_(4.0)
    distribution = action_distribution(model)
    for episode in range(2):  # the state is reset at the second composition's first step
        obs, _ = env.reset(seed=episode)
        state, start = None, np.array([True])
        for _ in range(12):
            probs = distribution(obs[None])
            action, state = model.predict(obs, state=state, episode_start=start, deterministic=True)
            assert int(np.argmax(probs[0])) == int(action)
            obs, *_ = env.step(int(action))
            start = np.array([False])
    est = measure_objective(
        model, 8, seed=0, name="recurrent-ppo", env_kwargs={"melody_length": 12}
    )
    assert np.isfinite(est.kl) and est.kl > 0
    assert est.J == pytest.approx(est.theory - est.kl)
