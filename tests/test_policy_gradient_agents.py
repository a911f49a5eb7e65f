"""RLOO, GRPO and PPO-KL on SequenceTutor-v0: π = p at the start, the shaped reward, the frozen
prior, learning, save/load, and exact resume (losses by hand: test_policy_gradient_losses.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from stable_baselines3.common.env_util import make_vec_env

import envs  # noqa: F401  (registers SequenceTutor-v0)
from agents.policy import resolve_note_rnn
from agents.policy_gradient.grpo import GRPO, GRPOConfig
from agents.policy_gradient.ppo_kl import PPOKL, PPOKLConfig
from agents.policy_gradient.rloo import RLOO, RLOOConfig
from envs.vector import SequenceTutorVectorEnv, step_info
from pretrain.errors import SequenceTutorError
from pretrain.models import NoteRNNConfig, build_note_rnn
from sequence_tutor.evaluation.objective import measure_objective
from tests.agents_toy_env import ToyMelodyEnv

torch.set_num_threads(1)

SMALL = {"group_size": 2, "num_primers": 2}


def real_observations(n: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Observations of random compositions at every step, and the env's log p of each action."""
    env = SequenceTutorVectorEnv(num_envs=n)
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    observations, log_probs = [], []
    for _ in range(env.melody_length):
        actions = rng.integers(0, 38, n)
        observations.append(obs.copy())
        obs, _, _, _, info = env.step(actions)
        log_probs.append((actions, step_info(info)["log_prob"]))
    return np.concatenate(observations), log_probs


@torch.no_grad()
def note_rnn_probabilities(obs: np.ndarray) -> np.ndarray:
    rnn = resolve_note_rnn(None)
    rows = []
    for row in obs:
        prefix = row[row != 38]
        logits, _ = rnn(torch.as_tensor(prefix)[None])
        rows.append(torch.softmax(logits[0, -1].double(), dim=-1).numpy())
    return np.stack(rows)


def make(algo: str, **kwargs):
    if algo == "rloo":
        return RLOO(None, RLOOConfig(**SMALL, **kwargs), seed=0)
    if algo == "grpo":
        return GRPO(None, GRPOConfig(**SMALL, **kwargs), seed=0)
    return PPOKL(None, PPOKLConfig(n_envs=2, n_steps=32, batch_size=32, **kwargs), seed=0)


@pytest.mark.parametrize("algo", ["rloo", "grpo", "ppo-kl"])
def test_policy_equals_the_note_rnn_before_training(algo):
    obs, _ = real_observations()
    model = make(algo)
    expected = note_rnn_probabilities(obs)
    assert np.abs(model.action_probabilities(obs) - expected).max() < 1e-6
    prior = model.actor.observation_prior_log_probs(torch.as_tensor(obs)).double().exp().numpy()
    assert np.abs(prior - expected).max() < 1e-6
    if algo == "ppo-kl":  # the critic starts at zero
        assert torch.count_nonzero(model.policy.predict_values(torch.as_tensor(obs))) == 0


def test_prior_is_the_env_reward_rnn():
    obs, steps = real_observations(n=4)
    model = make("rloo")
    log_p = model.actor.observation_prior_log_probs(torch.as_tensor(obs)).numpy()
    actions = np.concatenate([a for a, _ in steps])
    env_log_p = np.concatenate([lp for _, lp in steps])
    assert np.abs(log_p[np.arange(len(actions)), actions] - env_log_p).max() < 1e-4


@pytest.mark.parametrize("n_steps", [8, 6])  # whole compositions of 4 steps, and not
def test_ppo_kl_stores_the_kl_shaped_reward(n_steps):
    env = make_vec_env(lambda: ToyMelodyEnv(4), n_envs=2, seed=0)
    rnn = build_note_rnn(NoteRNNConfig(hidden_size=16))
    model = PPOKL(env, PPOKLConfig(n_steps=n_steps, batch_size=8, beta=0.7), note_rnn=rnn, seed=0)
    with torch.no_grad():  # make pi differ from p so the penalty is not zero
        model.actor.rnn.output.bias.add_(torch.linspace(-2, 2, 38))
    captured = {}
    original = model.train

    def capture():
        buffer = model.rollout_buffer
        captured["whole"] = model._compositions is not None
        captured["rewards"] = buffer.rewards.copy()
        captured["obs"] = buffer.observations.astype(np.int64).copy()
        captured["actions"] = buffer.actions[..., 0].astype(np.int64).copy()
        captured["log_pi"] = buffer.log_probs.copy()
        original()

    model.train = capture
    model.learn(n_steps * 2)
    assert captured["whole"] == (n_steps == 8)
    obs = torch.as_tensor(captured["obs"].reshape(-1, 5))
    actions = captured["actions"].reshape(-1)
    log_p = model.actor.observation_prior_log_probs(obs).numpy()[np.arange(len(actions)), actions]
    theory = np.where(actions % 2 == 0, 1.0, -1.0)  # the toy env's whole reward
    expected = theory - 0.7 * (captured["log_pi"].reshape(-1) - log_p)
    assert np.abs(captured["rewards"].reshape(-1) - expected).max() < 1e-5
    assert np.abs(captured["log_pi"].reshape(-1) - log_p).max() > 0.1


@pytest.mark.parametrize("algo", ["rloo", "grpo", "ppo-kl"])
def test_learning_leaves_the_prior_bit_identical(algo):
    model = make(algo)
    prior = {k: v.clone() for k, v in model.actor.prior.state_dict().items()}
    policy = {k: v.clone() for k, v in model.actor.rnn.state_dict().items()}
    optimizer = model.optimizer if algo != "ppo-kl" else model.policy.optimizer
    optimised = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert not any(id(p) in optimised or p.requires_grad for p in model.actor.prior.parameters())
    model.learn(128 if algo != "ppo-kl" else 64)  # one batch (4 x 32 steps) / rollout (2 x 32)
    after = model.actor.prior.state_dict()
    assert after.keys() == prior.keys()
    assert all(torch.equal(prior[k], after[k]) for k in prior)
    changed = [k for k, v in model.actor.rnn.state_dict().items() if not torch.equal(policy[k], v)]
    assert "output.bias" in changed and "lstm.weight_hh_l0" in changed, changed


@pytest.mark.parametrize("algo", ["rloo", "grpo", "ppo-kl"])
def test_a_short_run_raises_the_objective(algo):
    lr = {"rloo": 1e-3, "grpo": 1e-3, "ppo-kl": 3e-4}[algo]
    if algo == "ppo-kl":
        model = PPOKL(None, PPOKLConfig(learning_rate=lr), seed=0)
    else:
        cls, config = (RLOO, RLOOConfig) if algo == "rloo" else (GRPO, GRPOConfig)
        model = cls(None, config(learning_rate=lr), seed=0)
    before = measure_objective(model, 256, seed=3)
    model.learn(6144)
    after = measure_objective(model, 256, seed=3)
    assert before.kl == pytest.approx(0.0, abs=1e-6)
    assert after.J > before.J + 40, (before.J, after.J)
    assert after.kl > 0.1


@pytest.mark.parametrize("algo", ["rloo", "grpo", "ppo-kl"])
def test_save_load_round_trip_gives_identical_probabilities(algo, tmp_path):
    model = make(algo)
    model.learn(256)
    model.save(tmp_path / "agent")
    loaded = type(model).load(tmp_path / "agent")
    obs, _ = real_observations(n=2)
    assert np.array_equal(model.action_probabilities(obs), loaded.action_probabilities(obs))
    assert loaded.num_timesteps == model.num_timesteps
    assert not (tmp_path / "agent.zip").exists()
    with pytest.raises(SequenceTutorError, match="not 'rloo'" if algo != "rloo" else "not 'grpo'"):
        (GRPO if algo == "rloo" else RLOO).load(tmp_path / "agent")


def parameters(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.actor.parameters()]


@pytest.mark.parametrize("algo", ["rloo", "grpo", "ppo-kl"])
def test_exact_resume_continues_bit_identically(algo, tmp_path):
    kwargs = {"adaptive_kl": True}
    steps = 128 if algo != "ppo-kl" else 64  # one batch / rollout
    reference = make(algo, **kwargs)
    reference.learn(3 * steps)
    first = make(algo, **kwargs)
    first.learn(steps)
    first.save(tmp_path / "agent")
    first.save_training_state(tmp_path / "training")
    resumed = type(first).load(tmp_path / "agent")
    resumed.load_training_state(tmp_path / "training")
    resumed.learn(2 * steps, reset_num_timesteps=False)
    assert resumed.num_timesteps == reference.num_timesteps == 3 * steps
    for a, b in zip(parameters(reference), parameters(resumed)):
        assert torch.equal(a, b)
    assert resumed.beta == reference.beta != 0.2  # the adaptive beta moved and resumed


def test_group_size_must_divide_the_env():
    env = SequenceTutorVectorEnv(num_envs=6)
    with pytest.raises(SequenceTutorError, match="multiple of group_size"):
        RLOO(env, RLOOConfig(group_size=4, num_primers=1))
    with pytest.raises(SequenceTutorError, match="RLOOConfig"):
        RLOO(env, GRPOConfig())


def test_groups_share_their_primer():
    model = make("rloo")
    batch = model.sampler.sample()
    primers = batch.tokens[:, 0].reshape(-1, 2)
    assert torch.equal(primers[:, 0], primers[:, 1])
    assert batch.tokens.shape == (4, 33)
