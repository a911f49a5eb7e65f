"""The native vector environment equals N single environments."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import envs  # noqa: F401 (registers SequenceTutor-v0)
import rewards
from envs import SequenceTutorEnv, SequenceTutorVectorEnv


def make_vec(num_envs, **kwargs):
    return gym.make_vec(
        "SequenceTutor-v0", num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs
    )


def test_make_vec_builds_the_native_vector_env():
    venv = make_vec(3, melody_length=8, key="A minor")
    assert isinstance(venv, SequenceTutorVectorEnv)
    assert venv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert venv.num_envs == 3 and venv.melody_length == 8 and venv.key == "A minor"
    assert venv.single_action_space == gym.spaces.Discrete(38)
    assert venv.observation_space.shape == (3, 9)
    obs, info = venv.reset(seed=0)
    assert obs.shape == (3, 9) and obs.dtype == np.int64 and info == {}
    assert venv.observation_space.contains(obs)


@pytest.mark.parametrize(
    ("kwargs", "length"),
    [
        ({}, 32),
        ({"key": "F# dorian", "note_rnn_weight": 0.5, "reward_scale": 2.0}, 12),
        ({"rules": ["key", "motif", "repeated_motif"]}, 20),
    ],
)
def test_equals_n_single_envs_with_the_same_seeds(kwargs, length):
    num_envs, seed = 5, 11
    venv = make_vec(num_envs, melody_length=length, **kwargs)
    singles = [
        gym.make("SequenceTutor-v0", melody_length=length, **kwargs) for _ in range(num_envs)
    ]
    rng = np.random.default_rng(0)
    obs, _ = venv.reset(seed=seed)
    single_obs = [env.reset(seed=seed + i)[0] for i, env in enumerate(singles)]
    np.testing.assert_array_equal(obs, single_obs)
    for step in range(2 * length + 3):  # three episodes: autoreset twice
        pool = rng.choice(38, 4)
        actions = rng.choice(pool, num_envs) if step % 3 else rng.integers(0, 38, num_envs)
        obs, reward, terminated, truncated, info = venv.step(actions)
        for i, env in enumerate(singles):
            o, r, term, trunc, inf = env.step(int(actions[i]))
            assert reward[i] == pytest.approx(r, abs=1e-5)
            assert terminated[i] == term and truncated[i] == trunc
            for name, value in inf["reward_terms"].items():
                if name == "note_rnn":
                    assert info["reward_terms"][name][i] == pytest.approx(value, abs=1e-5)
                else:
                    assert info["reward_terms"][name][i] == value, name
            assert info["step"][i] == inf["step"]
            if term:
                np.testing.assert_array_equal(info["final_obs"][i], o)
                o, _ = env.reset()  # same-step autoreset, RNG carried on
            np.testing.assert_array_equal(obs[i], o)


def test_equals_sync_vector_env_in_same_step_mode():
    venv = make_vec(3, melody_length=6)
    sync = SyncVectorEnv(
        [lambda: SequenceTutorEnv(melody_length=6)] * 3, autoreset_mode=AutoresetMode.SAME_STEP
    )
    obs, _ = venv.reset(seed=4)
    sync_obs, _ = sync.reset(seed=4)
    np.testing.assert_array_equal(obs, sync_obs)
    for actions in np.random.default_rng(1).integers(0, 38, (13, 3)):
        obs, reward, terminated, _, info = venv.step(actions)
        sync_obs, sync_reward, sync_terminated, _, sync_info = sync.step(actions)
        np.testing.assert_array_equal(obs, sync_obs)
        np.testing.assert_allclose(reward, sync_reward, atol=1e-5)
        np.testing.assert_array_equal(terminated, sync_terminated)
        if terminated.any():
            for i in range(3):
                np.testing.assert_array_equal(info["final_obs"][i], sync_info["final_obs"][i])
            assert info["_final_info"].all()


def test_info_layout_and_final_compositions():
    venv = make_vec(2, melody_length=3)
    venv.reset(seed=0)
    _, _, _, _, info = venv.step(np.array([14, 16]))
    assert info["_reward_terms"].all() and info["reward_terms"]["_key"].all()
    assert set(info["reward_terms"]) >= {*rewards.DEFAULT_RULE_NAMES, "note_rnn"}
    assert info["step"].tolist() == [0, 0] and info["log_prob"].dtype == np.float64
    assert venv.compositions.tolist() == [[14], [16]]
    venv.step(np.array([1, 1]))
    obs, _, terminated, _, info = venv.step(np.array([0, 18]))
    assert terminated.all() and "final_obs" in info and "final_info" in info
    assert venv.final_compositions.tolist() == [[14, 1, 0], [16, 1, 18]]
    assert (obs[:, 1:] == 38).all() and venv.compositions.shape == (2, 0)


def test_primers_options():
    venv = make_vec(3, melody_length=4)
    obs, _ = venv.reset(options={"primer": [14, 21]})
    assert obs[:, 0].tolist() == [21, 21, 21]
    obs, _ = venv.reset(options={"primers": [[14], 16, [2, 3]]})
    assert obs[:, 0].tolist() == [14, 16, 3]
    assert [p.tolist() for p in venv.primers] == [[14], [16], [2, 3]]
    with pytest.raises(ValueError, match="primers for 3"):
        venv.reset(options={"primers": [[14]]})
    with pytest.raises(ValueError, match="outside the vocabulary"):
        venv.reset(options={"primer": 99})


def test_custom_rules_without_a_batch_twin():
    class Counter:
        name = "counter"

        def reset(self, composition):
            self.count = 0

        def reward(self, composition, action):
            return float(self.count)

        def update(self, composition, action):
            self.count += int(action == composition.key.tonic_token)

    venv = make_vec(2, melody_length=4, rules=[Counter(), "key"])
    venv.reset(seed=0)
    seen = [venv.step(np.array([14, 16]))[4]["reward_terms"]["counter"].tolist() for _ in range(4)]
    assert seen == [[0, 0], [1, 0], [2, 0], [3, 0]]
    assert venv.step(np.array([14, 14]))[4]["reward_terms"]["counter"].tolist() == [0, 0]


@pytest.mark.parametrize(
    ("actions", "match"),
    [
        (np.array([14]), "shape \\(2,\\)"),
        (np.array([14.0, 2.0]), "integer"),
        (np.array([14, 38]), "action 38 is outside"),
    ],
)
def test_bad_actions(actions, match):
    venv = make_vec(2)
    with pytest.raises(ResetNeeded):
        venv.step(np.array([14, 14]))
    venv.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        venv.step(actions)


def test_render_and_export(tmp_path):
    venv = make_vec(2, melody_length=4, render_mode="ansi")
    venv.reset(seed=0)
    venv.step(np.array([14, 16]))
    frames = venv.render()
    assert len(frames) == 2 and "C4" in frames[0] and "D4" in frames[1]
    assert venv.export(1, tmp_path / "one.mid").exists()
    rgb = make_vec(2, melody_length=4, render_mode="rgb_array")
    rgb.reset(seed=0)
    assert all(frame.dtype == np.uint8 and frame.ndim == 3 for frame in rgb.render())
    assert rgb.action_masks().shape == (2, 38)


def test_bad_num_envs():
    with pytest.raises(ValueError, match="num_envs"):
        SequenceTutorVectorEnv(num_envs=0)
