"""The native vector environment: equal to N single environments in every autoreset mode,
with time limits and partial resets; its info layout and its errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.vector import AutoresetMode

import envs  # noqa: F401 (registers SequenceTutor-v0)
import rewards
from envs import SequenceTutorVectorEnv
from tests.vector_checks import REWARD_RNN_ATOL, assert_step_matches, make_sync


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
        ({"reward_rnn_backend": "torch"}, 10),
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
            # the README's tolerance: rules exact, the Reward RNN's float32 term to 5e-5
            assert reward[i] == pytest.approx(r, abs=REWARD_RNN_ATOL)
            assert terminated[i] == term and truncated[i] == trunc
            # same-step autoreset: the finishing step's info is under final_info only
            step_info = info["final_info"] if term else info
            assert ("reward_terms" in info) is not term
            for name, value in inf["reward_terms"].items():
                got = step_info["reward_terms"][name][i]
                if name == "note_rnn":
                    assert got == pytest.approx(value, abs=REWARD_RNN_ATOL)
                else:
                    assert got == value, name
            assert step_info["step"][i] == inf["step"]
            if term:
                np.testing.assert_array_equal(info["final_obs"][i], o)
                o, _ = env.reset()  # same-step autoreset, RNG carried on
            np.testing.assert_array_equal(obs[i], o)


@pytest.mark.parametrize(("num_envs", "length"), [(256, 32), (64, 256)])
def test_rewards_equal_single_envs_at_scale(num_envs, length):
    """The stated tolerance at the README's N = 256 and at a long melody (the difference grows
    along the recurrence and with the batch's GEMM blocking, so small tests cannot show it)."""
    venv = make_vec(num_envs, melody_length=length)
    singles = [gym.make("SequenceTutor-v0", melody_length=length) for _ in range(num_envs)]
    venv.reset(seed=3)
    for i, env in enumerate(singles):
        env.reset(seed=3 + i)
    rng = np.random.default_rng(3)
    for _ in range(length):
        actions = rng.integers(0, 38, num_envs)
        _, reward, *_ = venv.step(actions)
        single = np.array([env.step(int(a))[1] for env, a in zip(singles, actions)])
        np.testing.assert_allclose(reward, single, rtol=0, atol=REWARD_RNN_ATOL)


@pytest.mark.parametrize("mode", ["SameStep", "NextStep", "Disabled"])
@pytest.mark.parametrize("max_episode_steps", [None, 4, 6])
def test_equals_sync_vector_env_in_every_mode(mode, max_episode_steps):
    """Observations, flags, rewards and the whole info layout (keys, masks, dtypes) against
    ``SyncVectorEnv`` in the same autoreset mode, across time limits and a partial reset."""
    kwargs = {"melody_length": 6, "max_episode_steps": max_episode_steps}
    venv = make_vec(3, autoreset_mode=mode, **kwargs)
    sync = make_sync(3, autoreset_mode=mode, **kwargs)
    assert venv.metadata["autoreset_mode"] == sync.metadata["autoreset_mode"] == AutoresetMode(mode)
    obs, info = venv.reset(seed=4)
    sync_obs, sync_info = sync.reset(seed=4)
    np.testing.assert_array_equal(obs, sync_obs)
    assert info == sync_info == {}
    for t, actions in enumerate(np.random.default_rng(1).integers(0, 38, (30, 3))):
        if t == 3:
            mask = np.array([True, False, True])
            obs, _ = venv.reset(options={"reset_mask": mask})
            sync_obs, _ = sync.reset(options={"reset_mask": mask.copy()})
            np.testing.assert_array_equal(obs, sync_obs)
        result = venv.step(actions)
        assert_step_matches(result, sync.step(actions))
        ended = result[2] | result[3]
        if mode == "Disabled" and ended.any():
            venv.reset(options={"reset_mask": ended})
            sync.reset(options={"reset_mask": ended.copy()})


def test_same_step_info_has_no_top_level_terms_on_the_finishing_step():
    venv = make_vec(2, melody_length=2)
    venv.reset(seed=0)
    venv.step(np.array([14, 16]))
    _, _, terminated, _, info = venv.step(np.array([1, 1]))
    assert terminated.all()
    assert set(info) == {"final_obs", "_final_obs", "final_info", "_final_info"}
    assert set(info["final_info"]) == {
        "reward_terms",
        "_reward_terms",
        "step",
        "_step",
        "log_prob",
        "_log_prob",
    }
    assert info["final_info"]["step"].tolist() == [1, 1]
    assert info["_final_obs"] is not info["_final_info"]  # every mask its own array


def test_next_step_mode_resets_on_the_step_after_the_end():
    venv = make_vec(2, melody_length=2, autoreset_mode=AutoresetMode.NEXT_STEP)
    assert venv.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    assert SequenceTutorVectorEnv.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    venv.reset(seed=0)
    venv.step(np.array([14, 16]))
    obs, _, terminated, _, info = venv.step(np.array([1, 0]))
    assert terminated.all() and "final_obs" not in info
    assert obs[:, 1:].tolist() == [[14, 1], [16, 0]]  # the last observation itself
    assert info["step"].tolist() == [1, 1]
    obs, reward, terminated, truncated, info = venv.step(np.array([20, 20]))  # ignored
    assert reward.tolist() == [0.0, 0.0] and not terminated.any() and not truncated.any()
    assert info == {} and (obs[:, 1:] == 38).all()
    assert venv.final_compositions.tolist() == [[14, 1], [16, 0]]
    _, _, _, _, info = venv.step(np.array([20, 21]))
    assert info["step"].tolist() == [0, 0] and venv.compositions.tolist() == [[20], [21]]


def test_disabled_mode_needs_a_masked_reset():
    venv = make_vec(2, melody_length=2, autoreset_mode="Disabled")
    venv.reset(seed=0)
    venv.step(np.array([14, 16]))
    assert venv.step(np.array([1, 1]))[2].all()
    with pytest.raises(ResetNeeded, match="compositions \\[0, 1\\] ended.*reset_mask"):
        venv.step(np.array([1, 1]))
    obs, _ = venv.reset(options={"reset_mask": np.array([True, True])})
    assert (obs[:, 1:] == 38).all()
    assert venv.step(np.array([14, 16]))[4]["step"].tolist() == [0, 0]


def test_max_episode_steps_truncates_like_time_limit():
    venv = make_vec(2, melody_length=4, max_episode_steps=3)
    venv.reset(seed=0)
    flags = [venv.step(np.array([14, 16]))[2:4] for _ in range(3)]
    assert [(t.tolist(), u.tolist()) for t, u in flags] == [
        ([False, False], [False, False]),
        ([False, False], [False, False]),
        ([False, False], [True, True]),
    ]
    assert venv.final_compositions.tolist() == [[14, 14, 14], [16, 16, 16]]
    at_length = make_vec(1, melody_length=2, max_episode_steps=2)  # TimeLimit marks both
    at_length.reset(seed=0)
    at_length.step(np.array([14]))
    _, _, terminated, truncated, _ = at_length.step(np.array([14]))
    assert terminated.tolist() == truncated.tolist() == [True]
    assert make_vec(1).max_episode_steps is None


def test_reset_mask_restarts_only_those_compositions():
    venv = make_vec(3, melody_length=5)
    venv.reset(seed=0)
    for _ in range(2):
        venv.step(np.array([14, 16, 18]))
    mask = np.array([True, False, True])
    obs, info = venv.reset(seed=[7, None, 9], options={"reset_mask": mask})
    assert info == {} and mask.tolist() == [True, False, True]  # the caller's mask untouched
    assert (obs[[0, 2], 1:] == 38).all() and obs[1, 1:3].tolist() == [16, 16]
    assert [venv.composition(i).tolist() for i in range(3)] == [[], [16, 16], []]
    with pytest.raises(ValueError, match="different steps.*composition\\(i\\)"):
        venv.compositions  # noqa: B018 (a property)
    # seeds apply to the masked compositions only: 0 and 2 restart as fresh envs seeded 7, 9
    fresh = make_vec(3, melody_length=5)
    np.testing.assert_array_equal(fresh.reset(seed=[7, 8, 9])[0][[0, 2]], obs[[0, 2]])
    # the groups finish at their own steps and go on
    for _ in range(3):
        _, _, terminated, _, _ = venv.step(np.array([20, 21, 22]))
    assert terminated.tolist() == [False, True, False]
    assert venv.final_composition(1).tolist() == [16, 16, 21, 21, 21]
    assert venv.final_composition(0) is None and venv.final_compositions is None


def test_primers_with_a_reset_mask():
    venv = make_vec(3, melody_length=4)
    venv.reset(seed=0)
    obs, _ = venv.reset(
        options={"reset_mask": np.array([False, True, True]), "primers": [[2], [14], [16, 18]]}
    )
    assert obs[1:, 0].tolist() == [14, 18]
    assert [p.tolist() for p in venv.primers][1:] == [[14], [16, 18]]


def test_stepping_before_every_composition_was_reset():
    venv = make_vec(2)
    venv.reset(seed=0, options={"reset_mask": np.array([True, False])})
    with pytest.raises(ResetNeeded, match="compositions \\[1\\] were never reset"):
        venv.step(np.array([14, 16]))


@pytest.mark.parametrize(
    ("mask", "error", "match"),
    [
        ([True, True], TypeError, "must be a numpy array"),
        (np.array([True]), ValueError, "must have shape `\\(2,\\)`, got \\(1,\\)"),
        (np.array([1, 0]), TypeError, "must have `dtype=np.bool_`, got int64"),
        (np.array([False, False]), ValueError, "at least one True value"),
    ],
)
def test_bad_reset_masks(mask, error, match):
    with pytest.raises(error, match=match):
        make_vec(2).reset(options={"reset_mask": mask})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"autoreset_mode": "next_step"}, "autoreset_mode 'next_step' is unknown.*NextStep"),
        ({"autoreset_mode": 3}, "autoreset_mode 3 is unknown"),
        ({"max_episode_steps": 0}, "max_episode_steps must be None or an integer >= 1, got 0"),
        ({"max_episode_steps": 2.5}, "max_episode_steps"),
        ({"torch_threads": 0}, "torch_threads must be None or an integer >= 1, got 0"),
    ],
)
def test_bad_vector_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_vec(2, **kwargs)


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
    infos = [venv.step(np.array([14, 16]))[4] for _ in range(4)]
    infos[-1] = infos[-1]["final_info"]  # the finishing step (same-step autoreset)
    seen = [info["reward_terms"]["counter"].tolist() for info in infos]
    assert seen == [[0, 0], [1, 0], [2, 0], [3, 0]]
    assert venv.step(np.array([14, 14]))[4]["reward_terms"]["counter"].tolist() == [0, 0]


@pytest.mark.parametrize(
    ("actions", "match"),
    [
        (np.array([14]), "shape \\(2,\\)"),
        (np.array([[14, 16]]), "shape \\(2,\\)"),
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
    with pytest.raises(TypeError, match="got the scalar 14"):  # SyncVectorEnv: TypeError too
        venv.step(14)


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
