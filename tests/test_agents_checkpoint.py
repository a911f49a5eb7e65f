"""Agent checkpoints: safetensors + JSON round trips, resumable training state, bad files."""
# ruff: noqa: NPY002  (SB3 samples with the global NumPy RNG, which these tests control)

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from stable_baselines3.common.env_util import make_vec_env

from agents.agent_file import load_agent_policy, save_agent
from agents.callbacks import CheckpointCallback
from agents.kl_control import SequenceTutorDQN, load_agent
from agents.training_state import latest_checkpoint, write_checkpoint
from pretrain.errors import SequenceTutorError
from pretrain.models import NoteRNNConfig, build_note_rnn
from tests.agents_toy_env import ToyMelodyEnv

torch.set_num_threads(1)


def toy_env():
    return make_vec_env(lambda: ToyMelodyEnv(4), n_envs=1, seed=0)


def trained(algo: str = "g", hidden: int = 8, steps: int = 120):
    torch.manual_seed(0)
    rnn = build_note_rnn(NoteRNNConfig(hidden_size=hidden))
    model = SequenceTutorDQN(
        "NoteRNNPolicy", toy_env(), algo=algo, note_rnn=rnn, learning_starts=8, seed=0
    )
    model.learn(steps)
    return model


@pytest.fixture(scope="module")
def model():
    return trained()


def test_agent_round_trip_without_pickle(model, tmp_path):
    weights, config = save_agent(model, tmp_path / "agent", metadata={"note": "x"})
    assert weights.read_bytes()[:8] != b"PK\x03\x04"  # not SB3's zip of pickles
    meta = json.loads(config.read_text())
    assert meta["algo"] == "g" and meta["melody_length"] == 4 and meta["num_timesteps"] == 120
    loaded = load_agent(tmp_path / "agent", toy_env())
    for (k, v), v2 in zip(model.policy.state_dict().items(), loaded.policy.state_dict().values()):
        assert torch.equal(v, v2), k
    policy, meta = load_agent_policy(tmp_path / "agent.json")  # no env needed
    obs = torch.as_tensor(np.array([[14, 2, 38, 38, 38]]))
    assert torch.allclose(
        policy.observation_logits(obs), model.policy.observation_logits(obs), atol=1e-6
    )
    assert meta["metadata"] == {"note": "x"}


def test_training_state_restores_optimizer_buffer_counters_and_rng(model, tmp_path):
    folder = write_checkpoint(model, tmp_path)
    assert latest_checkpoint(tmp_path) == folder
    expected_draw = torch.rand(3)  # what the RNG gives right after the checkpoint
    expected_np = np.random.rand(3)
    restored = load_agent(folder / "agent", toy_env(), training_state=folder / "training")
    assert restored.num_timesteps == model.num_timesteps
    assert restored._n_updates == model._n_updates > 0
    buf, buf2 = model.replay_buffer, restored.replay_buffer
    assert buf2.num_episodes == buf.num_episodes and np.array_equal(buf2.tokens, buf.tokens)
    assert np.array_equal(buf2.rewards, buf.rewards)
    state = model.policy.optimizer.state_dict()["state"]
    state2 = restored.policy.optimizer.state_dict()["state"]
    for index in state:
        for key in state[index]:
            assert torch.equal(
                torch.as_tensor(state[index][key]), torch.as_tensor(state2[index][key])
            )
    assert torch.equal(torch.rand(3), expected_draw)
    assert np.array_equal(np.random.rand(3), expected_np)


def test_checkpoints_are_pruned_and_latest_points_at_the_newest(tmp_path):
    m = trained(algo="psi", steps=40)
    callback = CheckpointCallback(tmp_path, save_freq=20)
    m.learn(60, callback=callback, reset_num_timesteps=False)
    folders = sorted(p.name for p in tmp_path.glob("step_*"))
    assert folders == ["step_000000080", "step_000000100"]
    assert latest_checkpoint(tmp_path).name == "step_000000100"


def test_missing_corrupt_and_incompatible_checkpoints_are_one_line_errors(model, tmp_path):
    with pytest.raises(SequenceTutorError, match="not found"):
        load_agent_policy(tmp_path / "nothing")
    save_agent(model, tmp_path / "agent")
    weights = tmp_path / "agent.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(b"\x00" * 100)
    with pytest.raises(SequenceTutorError, match="not a readable safetensors"):
        load_agent_policy(tmp_path / "agent")
    weights.write_bytes(good)
    (tmp_path / "agent.json").write_text("{not json")
    with pytest.raises(SequenceTutorError, match="not a readable JSON"):
        load_agent_policy(tmp_path / "agent")
    (tmp_path / "agent.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(SequenceTutorError, match="not a Sequence Tutor agent"):
        load_agent_policy(tmp_path / "agent")
    other = trained(algo="g", hidden=5, steps=10)
    save_agent(other, tmp_path / "agent")
    weights.write_bytes(good)  # weights of hidden 8 under a config of hidden 5
    with pytest.raises(SequenceTutorError, match="do not match the agent config"):
        load_agent_policy(tmp_path / "agent")
    (tmp_path / "latest.json").write_text(json.dumps({"checkpoint": "../../etc"}))
    with pytest.raises(SequenceTutorError, match="missing checkpoint"):
        latest_checkpoint(tmp_path)


def test_save_and_load_methods_use_safetensors_and_refuse_sb3_zips(model, tmp_path):
    model.save(tmp_path / "agent")
    assert (tmp_path / "agent.safetensors").is_file() and not (tmp_path / "agent.zip").exists()
    loaded = SequenceTutorDQN.load(tmp_path / "agent", env=toy_env())
    assert loaded.algo == "g"
    for v, v2 in zip(model.policy.state_dict().values(), loaded.policy.state_dict().values()):
        assert torch.equal(v, v2)
    (tmp_path / "evil.zip").write_bytes(b"PK")
    with pytest.raises(SequenceTutorError, match="pickles"):
        SequenceTutorDQN.load(tmp_path / "evil.zip", env=toy_env())
