"""SequenceTutorDQN inside SB3's learn(): several envs, logging, acting from the first step."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure

from agents.kl_control import SequenceTutorDQN
from pretrain.errors import SequenceTutorError
from pretrain.models import NoteRNNConfig, build_note_rnn
from tests.agents_toy_env import ToyMelodyEnv

torch.set_num_threads(1)


def even_fraction(model, env, steps: int = 40) -> float:
    obs = env.reset()
    even = total = 0
    for _ in range(steps):
        action, _ = model.predict(obs)
        even += int((action % 2 == 0).sum())
        total += len(action)
        obs, *_ = env.step(action)
    return even / total


@pytest.mark.parametrize("algo", ["q", "psi", "g"])
def test_each_algorithm_learns_the_toy_reward_with_two_envs(algo, tmp_path):
    torch.manual_seed(0)
    env = make_vec_env(lambda: ToyMelodyEnv(4), n_envs=2, seed=0)
    model = SequenceTutorDQN(
        "NoteRNNPolicy",
        env,
        algo=algo,
        note_rnn=build_note_rnn(NoteRNNConfig(hidden_size=16)),
        learning_starts=40,
        learning_rate=1e-2,
        exploration="boltzmann",
        seed=0,
    )
    model.set_logger(configure(str(tmp_path), ["csv"]))
    before = even_fraction(model, env)
    model.learn(1500, log_interval=10)
    after = even_fraction(model, env)
    assert after > max(0.75, before + 0.15), (before, after)
    log = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    assert "reward/even" in log and "reward/note_rnn" in log and "train/loss" in log


def test_warm_up_acts_with_the_policy_not_uniformly():
    torch.manual_seed(0)
    rnn = build_note_rnn(NoteRNNConfig(hidden_size=8))
    with torch.no_grad():  # a Note RNN that always plays token 7
        rnn.output.weight.zero_()
        rnn.output.bias.fill_(-30.0)
        rnn.output.bias[7] = 30.0
    env = make_vec_env(lambda: ToyMelodyEnv(4), n_envs=1, seed=0)
    model = SequenceTutorDQN(
        "NoteRNNPolicy", env, algo="psi", note_rnn=rnn, learning_starts=10_000, seed=0
    )
    model.learn(40)
    assert model._n_updates == 0
    buffer = model.replay_buffer
    assert buffer.num_episodes == 10
    assert (buffer.tokens[:10, 1:] == 7).all()


def test_q_uses_epsilon_greedy_by_default_and_psi_never_explores_uniformly():
    env = make_vec_env(lambda: ToyMelodyEnv(4), n_envs=1, seed=0)
    rnn = build_note_rnn(NoteRNNConfig(hidden_size=4))
    q = SequenceTutorDQN("NoteRNNPolicy", env, algo="q", note_rnn=rnn)
    assert q.exploration == "egreedy" and q.exploration_initial_eps == 1.0
    psi = SequenceTutorDQN("NoteRNNPolicy", env, algo="psi", note_rnn=rnn)
    assert psi.exploration_initial_eps == psi.exploration_final_eps == 0.0
    with pytest.raises(SequenceTutorError, match="Q only"):
        SequenceTutorDQN("NoteRNNPolicy", env, algo="psi", note_rnn=rnn, exploration="egreedy")
    with pytest.raises(SequenceTutorError, match="unknown algo"):
        SequenceTutorDQN("NoteRNNPolicy", env, algo="z", note_rnn=rnn)
    with pytest.raises(SequenceTutorError, match="unknown loss"):
        SequenceTutorDQN("NoteRNNPolicy", env, note_rnn=rnn, loss="l1")
    assert np.isclose(psi.note_rnn_weight, 1.0)  # read from the env
