"""Gymnasium 1.4's own vector-env and vector-wrapper tests, adapted to the native
``SequenceTutorVectorEnv`` (``gym.make_vec("SequenceTutor-v0", vectorization_mode=
"vector_entry_point")``).

Each test names the Gymnasium test it mirrors (``tests/vector/...``, ``tests/wrappers/vector/...``,
``tests/envs/registration/test_make_vec.py``) and keeps its assertions. Where Gymnasium compares
two of its vectorisers exactly, the native env is compared with ``SyncVectorEnv`` of the single
env: exactly, except the Reward RNN's float32 term, to the README's 5e-5
(``tests/vector_checks.py``). Gymnasium tests that do not apply are listed at the end with the
reason.
"""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import VectorizeMode, wrappers
from gymnasium.error import ResetNeeded
from gymnasium.spaces import Box, Discrete, MultiDiscrete
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv, VectorWrapper
from gymnasium.vector.utils import batch_space

import envs  # noqa: F401 (registers SequenceTutor-v0)
from envs import SequenceTutorEnv, SequenceTutorVectorEnv
from tests.vector_checks import (
    REWARD_RNN_ATOL,
    assert_info_matches,
    assert_step_matches,
    make_native,
    make_sync,
)

ENV_ID = "SequenceTutor-v0"
T = 6  # short melodies: many episode ends in a few steps
MODES = [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP]


def make_single(**kwargs: Any):
    return lambda: gym.make(ENV_ID, melody_length=T, **kwargs)


# ---------------------------------------------------------------------------------------------
# tests/vector/test_vector_env.py
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("autoreset_mode", MODES)
def test_vector_env_equal_sync_native(autoreset_mode):
    """Mirrors ``test_vector_env.py::test_vector_env_equal`` for ``SyncVectorEnv`` against the
    native env: same spaces, then 100 steps of sampled actions with equal results."""
    num_steps = 100
    native = make_native(4, melody_length=T, autoreset_mode=autoreset_mode)
    sync_env = SyncVectorEnv([make_single()] * 4, autoreset_mode=autoreset_mode)
    assert native.num_envs == sync_env.num_envs
    assert native.observation_space == sync_env.observation_space
    assert native.single_observation_space == sync_env.single_observation_space
    assert native.action_space == sync_env.action_space
    assert native.single_action_space == sync_env.single_action_space
    native_obs, native_infos = native.reset(seed=0)
    sync_obs, sync_infos = sync_env.reset(seed=0)
    assert np.all(native_obs == sync_obs)
    assert data_equivalence(native_infos, sync_infos)
    native.action_space.seed(0)
    for _ in range(num_steps):
        actions = native.action_space.sample()
        assert actions in sync_env.action_space
        assert_step_matches(native.step(actions), sync_env.step(actions))
    native.close()
    sync_env.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("shared_memory", "autoreset_mode"),
    [(True, AutoresetMode.NEXT_STEP), (False, AutoresetMode.SAME_STEP)],
)
def test_vector_env_equal_async_sync_native(shared_memory, autoreset_mode):
    """Mirrors ``test_vector_env.py::test_vector_env_equal`` itself (async against sync,
    exactly), and the native env against both. ``AsyncVectorEnv`` by id: the workers import
    ``envs`` through ``"envs:SequenceTutor-v0"``. The ``forkserver`` context keeps this test
    independent of what torch did earlier in the test process (the default ``fork`` is tested in
    a fresh process below)."""
    num_steps = 100
    env_fns = [lambda: gym.make("envs:SequenceTutor-v0", melody_length=T)] * 4
    async_env = AsyncVectorEnv(
        env_fns,
        shared_memory=shared_memory,
        autoreset_mode=autoreset_mode,
        context="forkserver",
    )
    sync_env = SyncVectorEnv(env_fns, autoreset_mode=autoreset_mode)
    native = make_native(4, melody_length=T, autoreset_mode=autoreset_mode)
    try:
        assert async_env.observation_space == sync_env.observation_space == native.observation_space
        assert async_env.action_space == sync_env.action_space == native.action_space
        async_obs, async_infos = async_env.reset(seed=0)
        sync_obs, sync_infos = sync_env.reset(seed=0)
        native_obs, _ = native.reset(seed=0)
        assert np.all(async_obs == sync_obs) and np.all(native_obs == sync_obs)
        assert data_equivalence(async_infos, sync_infos)
        async_env.action_space.seed(0)
        for _ in range(num_steps):
            actions = async_env.action_space.sample()
            async_step, sync_step = async_env.step(actions), sync_env.step(actions)
            for got, expected in zip(async_step, sync_step, strict=True):
                assert data_equivalence(got, expected)  # exactly: the same single envs
            assert_step_matches(native.step(actions), sync_step)
    finally:
        async_env.close()
        sync_env.close()


FORK_SCRIPT = """
KWARGS = {}
import gymnasium as gym, numpy as np, torch
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import AsyncVectorEnv, SyncVectorEnv

torch.set_num_threads(2)  # a multi-core machine's default
agent = torch.nn.LSTM(38, 256)  # the user's own torch work, multi-threaded, before the fork
agent(torch.zeros(64, 8, 38))
fns = [lambda: gym.make("envs:SequenceTutor-v0", melody_length=6, **KWARGS)] * 2
native = gym.make_vec("envs:SequenceTutor-v0", num_envs=16, vectorization_mode="vector_entry_point")
native.reset(seed=0)
for _ in range(40):  # the parent steps a native vector env (torch GEMMs) before forking
    native.step(np.full(16, 14))
async_env, sync_env = AsyncVectorEnv(fns), SyncVectorEnv(fns)  # default context: fork
assert data_equivalence(async_env.reset(seed=0), sync_env.reset(seed=0))
for actions in np.random.default_rng(0).integers(0, 38, (14, 2)):
    assert data_equivalence(async_env.step(actions), sync_env.step(actions))
async_env.close()
assert torch.get_num_threads() == 2
print("ok")
"""


@pytest.mark.slow
def test_async_vector_env_by_id_forks_from_a_fresh_process():
    """The issue's passing case, kept passing: ``AsyncVectorEnv`` by id with the default
    ``fork`` context, from a fresh script that has run torch on 2 threads. libgomp's threads do
    not survive ``fork``, so a child that runs torch multi-threaded deadlocks: the env runs its
    own torch work on one thread (``torch_threads=1``; it used to pin the whole process)."""
    result = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,  # a deadlocked child would otherwise hang CI
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"


def test_final_obs_info():
    """Mirrors ``test_vector_env.py::test_final_obs_info`` (same-step autoreset): the ending
    step returns the next episode's first observation, the last one under ``final_obs`` and the
    step's info under ``final_info``; the next step's info is the new episode's."""
    native = make_native(1, melody_length=3)
    obs, info = native.reset(seed=0)
    assert info == {} and obs[0, 1:].tolist() == [38] * 3
    for action, step in ((14, 0), (16, 1)):
        obs, _, termination, _, info = native.step([action])
        assert termination.tolist() == [False] and info["step"].tolist() == [step]
    obs, _, termination, _, info = native.step([18])
    assert termination.tolist() == [True] and obs[0, 1:].tolist() == [38] * 3
    assert info["final_obs"][0][1:].tolist() == [14, 16, 18] and info["_final_obs"].tolist() == [
        True
    ]
    assert info["final_info"]["step"].tolist() == [2] and "step" not in info
    obs, _, termination, _, info = native.step([20])
    assert termination.tolist() == [False] and info["step"].tolist() == [0]
    assert obs[0, 1] == 20


@pytest.mark.parametrize("seed", [42, 0])
def test_seeding_basics(seed):
    """Adapts ``test_vector_env.py::test_random_seeding_basics``: Sync reports the sub-envs'
    seeds ``seed + i``; the native env's ``np_random_seed`` is its own generator's (an int, as
    for Gymnasium's ``CartPoleVectorEnv``), and its compositions are seeded ``seed + i``
    (same primers as Sync's envs)."""
    native = make_native(3, melody_length=T)
    sync_env = make_sync(3, melody_length=T)
    native_obs, _ = native.reset(seed=seed)
    sync_obs, _ = sync_env.reset(seed=seed)
    assert sync_env.np_random_seed == tuple(seed + i for i in range(3))
    assert native.np_random_seed == seed
    np.testing.assert_array_equal(native_obs, sync_obs)
    native.reset(seed=None)  # as Sync: seed=None keeps the seed
    assert native.np_random_seed == seed


@pytest.mark.parametrize("vectoriser", ["native", "sync"])
def test_partial_reset(vectoriser):
    """Mirrors ``test_vector_env.py::test_partial_reset`` (``AutoresetMode.DISABLED``)."""
    make = make_native if vectoriser == "native" else make_sync
    envs_ = make(3, autoreset_mode=AutoresetMode.DISABLED)
    reset_obs, _ = envs_.reset(seed=[0, 1, 2])
    envs_.action_space.seed(123)
    envs_.step(envs_.action_space.sample())
    envs_.step(envs_.action_space.sample())
    step_obs, *_ = envs_.step(envs_.action_space.sample())
    reset_mask_obs, _ = envs_.reset(
        seed=[0, 1, 0], options={"reset_mask": np.array([True, True, False])}
    )
    assert np.all(reset_mask_obs[:2] == reset_obs[:2])
    assert np.all(reset_mask_obs[2] == step_obs[2])
    envs_.close()


def test_partial_reset_failure():
    """Mirrors ``test_vector_env.py::test_partial_reset_failure``: Gymnasium's exact messages."""
    envs_ = make_native(3, autoreset_mode=AutoresetMode.DISABLED)
    envs_.reset(options={"reset_mask": np.array([True, True, True])})
    for mask, shape in (([True], "(1,)"), ([True, True, False, False], "(4,)")):
        with pytest.raises(
            ValueError,
            match=re.escape(f"`options['reset_mask']` must have shape `(3,)`, got {shape}"),
        ):
            envs_.reset(options={"reset_mask": np.array(mask)})
    with pytest.raises(
        ValueError, match=re.escape("`options['reset_mask']` must have shape `(3,)`, got (1, 3)")
    ):
        envs_.reset(options={"reset_mask": np.array([[True, True, True]])})
    with pytest.raises(
        ValueError,
        match=re.escape(
            "`options['reset_mask']` must contain a boolean array with at least one True value, "
            "got reset_mask=[False False False]"
        ),
    ):
        envs_.reset(options={"reset_mask": np.array([False, False, False])})
    for mask, dtype in (([1, 1, 0], "int64"), ([1.0, 1.0, 0.0], "float64")):
        with pytest.raises(
            TypeError,
            match=re.escape(f"`options['reset_mask']` must have `dtype=np.bool_`, got {dtype}"),
        ):
            envs_.reset(options={"reset_mask": np.array(mask)})


def test_action_count_compatibility():
    """Mirrors ``test_vector_env.py::test_action_count_compatibility``."""
    num_envs = 4
    envs_ = make_native(num_envs, autoreset_mode=AutoresetMode.DISABLED)
    envs_.reset()
    correct_actions = envs_.action_space.sample()
    assert len(correct_actions) == num_envs
    obs, rewards, terminations, truncations, infos = envs_.step(correct_actions)
    assert len(obs) == len(rewards) == len(terminations) == len(truncations) == num_envs
    with pytest.raises(ValueError):
        envs_.step(correct_actions[: num_envs - 1])
    with pytest.raises(ValueError):
        envs_.step(np.concatenate([correct_actions, correct_actions[:1]]))
    with pytest.raises(TypeError):
        envs_.step(0)
    envs_.close()


# ---------------------------------------------------------------------------------------------
# tests/vector/test_sync_vector_env.py (what applies to any vector env)
# ---------------------------------------------------------------------------------------------


def test_metadata_vector_env():
    """Mirrors ``test_sync_vector_env.py::test_metadata_sync_vector_env``: the instance's
    metadata holds its mode and the class-level dict is not mutated."""
    envs_1 = make_native(1, autoreset_mode=AutoresetMode.NEXT_STEP)
    envs_2 = make_native(1, autoreset_mode=AutoresetMode.SAME_STEP)
    assert envs_1.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert envs_2.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert SequenceTutorVectorEnv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert "autoreset_mode" not in SequenceTutorEnv.metadata


@pytest.mark.parametrize("use_single_action_space", [True, False])
def test_reset_and_step_vector_env(use_single_action_space):
    """Mirrors ``test_sync_vector_env.py::test_reset_sync_vector_env`` and
    ``test_step_sync_vector_env``: types, dtypes and shapes."""
    env = make_native(8)
    observations, infos = env.reset()
    # Gymnasium batches a MultiDiscrete space into an integer Box (its test env is Discrete)
    assert env.observation_space == batch_space(env.single_observation_space, 8)
    assert isinstance(env.observation_space, Box) and infos == {}
    assert isinstance(observations, np.ndarray)
    assert observations.dtype == env.observation_space.dtype
    assert observations.shape == (8,) + env.single_observation_space.shape
    assert observations.shape == env.observation_space.shape
    assert isinstance(env.single_action_space, Discrete)
    assert isinstance(env.action_space, MultiDiscrete)
    if use_single_action_space:
        actions = [env.single_action_space.sample() for _ in range(8)]
    else:
        actions = env.action_space.sample()
    observations, rewards, terminations, truncations, _ = env.step(actions)
    assert observations.dtype == env.observation_space.dtype
    assert observations.shape == env.observation_space.shape
    assert isinstance(rewards, np.ndarray) and isinstance(rewards[0], (float, np.floating))
    assert rewards.ndim == 1 and rewards.size == 8
    for flags in (terminations, truncations):
        assert isinstance(flags, np.ndarray) and flags.dtype == np.bool_
        assert flags.ndim == 1 and flags.size == 8


def test_render_vector():
    """Mirrors ``test_sync_vector_env.py::test_render_sync_vector``."""
    envs_ = make_native(3, render_mode="rgb_array")
    assert envs_.render_mode == "rgb_array"
    envs_.reset()
    rendered_frames = envs_.render()
    assert isinstance(rendered_frames, tuple)
    assert len(rendered_frames) == envs_.num_envs
    assert all(isinstance(frame, np.ndarray) for frame in rendered_frames)
    assert make_native(3).render_mode is None


def test_vector_determinism():
    """Mirrors ``test_sync_vector_env.py::test_sync_vector_determinism`` and extends it to the
    steps: two native envs with the same seeds agree exactly."""
    env_1, env_2 = make_native(3, melody_length=T), make_native(3, melody_length=T)
    env_1.action_space.seed(123)
    env_2.action_space.seed(123)
    assert data_equivalence(env_1.reset(seed=123), env_2.reset(seed=123), exact=True)
    for _ in range(20):
        actions = env_1.action_space.sample()
        assert np.all(actions == env_2.action_space.sample())
        assert data_equivalence(env_1.step(actions), env_2.step(actions), exact=True)


# ---------------------------------------------------------------------------------------------
# tests/vector/test_autoreset_mode.py
# ---------------------------------------------------------------------------------------------
# Gymnasium's counting env ends its sub-envs at different steps (max_count [2, 3, 3]). Our
# compositions all have T steps; a partial reset after one step puts composition 0 one step
# ahead, which gives the same pattern with T = 3: composition 0 ends one call before 1 and 2.


def staggered(mode: AutoresetMode) -> SequenceTutorVectorEnv:
    envs_ = make_native(3, melody_length=3, autoreset_mode=mode)
    assert envs_.metadata["autoreset_mode"] == mode
    envs_.reset(seed=0)
    envs_.step([1, 2, 3])
    obs, info = envs_.reset(options={"reset_mask": np.array([False, True, True])})
    assert info == {} and obs[0, 1:].tolist() == [1, 38, 38] and (obs[1:, 1:] == 38).all()
    return envs_


def test_autoreset_next_step():
    """Mirrors ``test_autoreset_mode.py::test_autoreset_next_step``."""
    envs_ = staggered(AutoresetMode.NEXT_STEP)
    obs, rewards, terminations, truncations, info = envs_.step([1, 2, 3])
    assert terminations.tolist() == [False, False, False] and not truncations.any()
    assert info["_step"].tolist() == [True, True, True]
    obs, rewards, terminations, truncations, info = envs_.step([1, 2, 3])
    assert terminations.tolist() == [True, False, False]
    assert obs[0, 1:].tolist() == [1, 1, 1]  # the last observation, no reset yet
    assert "final_obs" not in info
    obs, rewards, terminations, truncations, info = envs_.step([1, 2, 3])
    assert terminations.tolist() == [False, True, True]
    assert rewards[0] == 0.0 and (obs[0, 1:] == 38).all()  # composition 0 resets
    assert info["_step"].tolist() == [False, True, True]
    obs, rewards, terminations, truncations, info = envs_.step([1, 2, 3])
    assert terminations.tolist() == [False, False, False]
    assert rewards[1:].tolist() == [0.0, 0.0] and (obs[1:, 1:] == 38).all()
    assert obs[0, 1:].tolist() == [1, 38, 38]
    assert info["_step"].tolist() == [True, False, False]


def test_autoreset_within_step():
    """Mirrors ``test_autoreset_mode.py::test_autoreset_within_step``."""
    envs_ = staggered(AutoresetMode.SAME_STEP)
    envs_.step([1, 2, 3])
    obs, rewards, terminations, truncations, info = envs_.step([1, 2, 3])
    assert terminations.tolist() == [True, False, False]
    assert (obs[0, 1:] == 38).all() and obs[1, 1:].tolist() == [2, 2, 38]
    assert info["final_obs"][0][1:].tolist() == [1, 1, 1]
    assert info["final_obs"][1] is None and info["final_obs"][2] is None
    assert info["_final_obs"].tolist() == [True, False, False]
    assert info["_final_info"].tolist() == [True, False, False]
    assert info["final_info"]["_step"].tolist() == [True, False, False]
    assert info["_step"].tolist() == [False, True, True]
    obs, rewards, terminations, truncations, info = envs_.step([1, 2, 3])
    assert terminations.tolist() == [False, True, True]
    assert obs[0, 1:].tolist() == [1, 38, 38] and (obs[1:, 1:] == 38).all()
    assert info["_final_obs"].tolist() == [False, True, True]
    assert info["final_obs"][0] is None
    obs, rewards, terminations, truncations, info = envs_.step([1, 2, 3])
    assert terminations.tolist() == [False, False, False]
    obs, rewards, terminations, truncations, info = envs_.step([1, 2, 3])
    assert terminations.tolist() == [True, False, False]


def test_autoreset_disabled():
    """Mirrors ``test_autoreset_mode.py::test_autoreset_disabled``."""
    envs_ = staggered(AutoresetMode.DISABLED)
    envs_.step([1, 2, 3])
    obs, rewards, terminations, truncations, info = envs_.step([1, 2, 3])
    assert terminations.tolist() == [True, False, False] and "final_obs" not in info
    with pytest.raises(ResetNeeded, match="reset_mask"):
        envs_.step([1, 2, 3])
    obs, info = envs_.reset(options={"reset_mask": terminations})
    assert info == {} and (obs[0, 1:] == 38).all() and obs[1, 1:].tolist() == [2, 2, 38]
    obs, rewards, terminations, truncations, info = envs_.step([1, 2, 3])
    assert terminations.tolist() == [False, True, True]
    obs, info = envs_.reset(options={"reset_mask": terminations})
    assert obs[0, 1:].tolist() == [1, 38, 38] and (obs[1:, 1:] == 38).all()
    obs, rewards, terminations, truncations, info = envs_.step([1, 2, 3])
    assert terminations.tolist() == [False, False, False]
    assert obs[0, 1:].tolist() == [1, 1, 38]


@pytest.mark.parametrize("autoreset_mode", list(AutoresetMode))
def test_autoreset_metadata(autoreset_mode):
    """Mirrors ``test_autoreset_mode.py::test_autoreset_metadata``: the enum or its value."""
    assert (
        make_native(2, autoreset_mode=autoreset_mode).metadata["autoreset_mode"] == autoreset_mode
    )
    envs_ = make_native(2, autoreset_mode=autoreset_mode.value)
    assert envs_.metadata["autoreset_mode"] == autoreset_mode


@pytest.mark.parametrize("autoreset_mode", list(AutoresetMode))
def test_make_vec_autoreset(autoreset_mode):
    """Adapts ``test_autoreset_mode.py::test_make_vec_autoreset``: for ``vector_entry_point``
    Gymnasium passes constructor arguments as kwargs (``vector_kwargs`` is refused by make_vec
    itself for this mode), so ``autoreset_mode`` is a kwarg, as for ``CartPoleVectorEnv``."""
    envs_ = make_native(2, autoreset_mode=autoreset_mode)
    assert envs_.metadata["autoreset_mode"] == autoreset_mode
    assert envs_.spec.kwargs["autoreset_mode"] == autoreset_mode
    with pytest.raises(gym.error.Error, match="vector_kwargs"):
        gym.make_vec(
            ENV_ID,
            vectorization_mode="vector_entry_point",
            vector_kwargs={"autoreset_mode": autoreset_mode},
        )


def test_same_step_final_obs():
    """Mirrors ``test_autoreset_mode.py::test_same_step_final_obs``."""
    envs_ = staggered(AutoresetMode.SAME_STEP)
    envs_.step([1, 2, 3])
    _, _, _, _, info = envs_.step([1, 2, 3])
    assert info["final_obs"][0] in envs_.single_observation_space
    _, _, _, _, info = envs_.step([1, 2, 3])
    assert info["final_obs"][1] in envs_.single_observation_space
    assert info["final_obs"][2] in envs_.single_observation_space


# ---------------------------------------------------------------------------------------------
# tests/vector/test_vector_env_info.py
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("autoreset_mode", list(AutoresetMode))
def test_vector_return_info(autoreset_mode):
    """Adapts ``test_vector_env_info.py::test_vector_return_info``: the reset and step infos
    have the keys, masks and dtypes ``SyncVectorEnv`` builds with ``_add_info`` from the single
    envs' infos, also on steps where some compositions end (staggered as above)."""
    native = make_native(3, melody_length=3, autoreset_mode=autoreset_mode)
    sync_env = make_sync(3, autoreset_mode=autoreset_mode, melody_length=3)
    assert native.reset(seed=0)[1] == sync_env.reset(seed=0)[1] == {}
    actions = [1, 2, 3]
    assert_step_matches(native.step(actions), sync_env.step(actions))
    mask = np.array([False, True, True])
    native.reset(options={"reset_mask": mask})
    sync_env.reset(options={"reset_mask": mask.copy()})
    for _ in range(6):
        native_step, sync_step = native.step(actions), sync_env.step(actions)
        assert_step_matches(native_step, sync_step)
        ended = native_step[2] | native_step[3]
        if autoreset_mode is AutoresetMode.DISABLED and ended.any():
            native.reset(options={"reset_mask": ended})
            sync_env.reset(options={"reset_mask": ended.copy()})


# ---------------------------------------------------------------------------------------------
# tests/vector/test_vector_wrapper.py
# ---------------------------------------------------------------------------------------------


class DummyVectorWrapper(VectorWrapper):
    """As in Gymnasium's test: counts resets."""

    def __init__(self, env):
        super().__init__(env)
        self.counter = 0

    def reset(self, *, seed=None, options=None):
        self.counter += 1
        return super().reset(seed=seed, options=options)


def test_vector_env_wrapper_inheritance():
    """Mirrors ``test_vector_wrapper.py::test_vector_env_wrapper_inheritance``."""
    wrapped = DummyVectorWrapper(make_native(2))
    wrapped.reset()
    assert wrapped.counter == 1


def test_vector_env_wrapper_metadata_and_attributes():
    """Mirrors ``test_vector_wrapper.py::test_vector_env_metadata``; for
    ``test_vector_env_wrapper_attributes`` (``call``/``get_attr``/``set_attr`` reach sub-envs,
    which a native vector env does not have) the native env's own attributes are reached
    through ``unwrapped``, as Gymnasium's ``VectorWrapper`` forwards none."""
    env = make_native(3, autoreset_mode="NextStep")
    wrapped = DummyVectorWrapper(make_native(3, autoreset_mode="NextStep"))
    assert env.metadata == wrapped.metadata
    env.metadata = {"render_modes": ["rgb_array"]}
    assert env.metadata != wrapped.metadata
    assert wrapped.unwrapped.melody_length == 32 and wrapped.unwrapped.max_episode_steps is None
    assert wrapped.unwrapped.compositions.shape == (3, 0)


# ---------------------------------------------------------------------------------------------
# tests/wrappers/vector/test_vector_wrappers.py and every gymnasium.wrappers.vector wrapper
# ---------------------------------------------------------------------------------------------

# the observation/action/reward wrappers that fit MultiDiscrete observations and Discrete
# actions, with the single-env twin Gymnasium compares them with
EQUIVALENT_WRAPPERS = [
    ("FlattenObservation", {}),
    ("DtypeObservation", {"dtype": np.int32}),
    ("ClipReward", {"min_reward": -0.25, "max_reward": 0.75}),
]


@pytest.mark.parametrize("autoreset_mode", MODES)
@pytest.mark.parametrize("num_envs", (1, 3))
@pytest.mark.parametrize(("wrapper_name", "kwargs"), EQUIVALENT_WRAPPERS)
def test_vector_wrapper_equivalence(autoreset_mode, num_envs, wrapper_name, kwargs):
    """Mirrors ``test_vector_wrappers.py::test_vector_wrapper_equivalence``: the vector wrapper
    on the vector env equals the single-env wrapper inside ``SyncVectorEnv`` (Gymnasium's case,
    exactly), and on the native env (the Reward RNN to 1e-5). Unlike Gymnasium's test, which
    declares ``autoreset_mode`` but never passes it, the mode reaches the envs: observation
    wrappers refuse ``SAME_STEP`` (Gymnasium's ``VectorObservationWrapper`` accepts NEXT_STEP
    or DISABLED only), so there the refusal is what is checked."""
    num_steps = 50
    vector_wrapper = getattr(wrappers.vector, wrapper_name)
    env_wrapper = getattr(wrappers, wrapper_name)
    native = make_native(num_envs, melody_length=T, autoreset_mode=autoreset_mode)
    if wrapper_name.endswith("Observation") and autoreset_mode is AutoresetMode.SAME_STEP:
        # Gymnasium >= 1.2 raises this ValueError; 1.1 (our floor) asserts the same condition
        with pytest.raises((ValueError, AssertionError), match="NEXT_STEP|autoreset|^$"):
            vector_wrapper(native, **kwargs)
        return
    wrapper_vector_env = vector_wrapper(native, **kwargs)
    wrapper_sync_env = vector_wrapper(
        make_sync(num_envs, autoreset_mode=autoreset_mode, melody_length=T), **kwargs
    )
    vector_wrapper_env = gym.make_vec(
        ENV_ID,
        num_envs=num_envs,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": autoreset_mode},
        wrappers=(lambda env: env_wrapper(env, **kwargs),),
        melody_length=T,
    )
    for env in (wrapper_vector_env, wrapper_sync_env):
        assert env.action_space == vector_wrapper_env.action_space
        assert env.observation_space == vector_wrapper_env.observation_space
        assert env.single_action_space == vector_wrapper_env.single_action_space
        assert env.single_observation_space == vector_wrapper_env.single_observation_space
        assert env.num_envs == vector_wrapper_env.num_envs
    expected_obs, expected_info = vector_wrapper_env.reset(seed=123)
    for env in (wrapper_vector_env, wrapper_sync_env):
        obs, info = env.reset(seed=123)
        assert data_equivalence(obs, expected_obs) and data_equivalence(info, expected_info)
    wrapper_vector_env.action_space.seed(0)
    for _ in range(num_steps):
        action = wrapper_vector_env.action_space.sample()
        expected = vector_wrapper_env.step(action)
        for got, want in zip(wrapper_sync_env.step(action), expected, strict=True):
            assert data_equivalence(got, want)
        native_step = wrapper_vector_env.step(action)
        assert data_equivalence(native_step[0], expected[0], exact=True)
        np.testing.assert_allclose(native_step[1], expected[1], rtol=0, atol=REWARD_RNN_ATOL)
        assert data_equivalence(native_step[2:4], expected[2:4], exact=True)
        assert_info_matches(native_step[4], expected[4])


def wrapper_cases() -> dict[str, Any]:
    """Every ``gymnasium.wrappers.vector`` wrapper that fits our spaces, with arguments."""
    return {
        "VectorizeTransformObservation": lambda e: wrappers.vector.VectorizeTransformObservation(
            e, wrappers.DtypeObservation, dtype=np.int16
        ),
        "VectorizeTransformAction": lambda e: wrappers.vector.VectorizeTransformAction(
            e, wrappers.TransformAction, func=lambda a: a, action_space=e.single_action_space
        ),
        "VectorizeTransformReward": lambda e: wrappers.vector.VectorizeTransformReward(
            e, wrappers.TransformReward, func=lambda r: 2 * r
        ),
        "DictInfoToList": wrappers.vector.DictInfoToList,
        "TransformObservation": lambda e: wrappers.vector.TransformObservation(
            e, lambda o: 38 - o, e.observation_space
        ),
        "FlattenObservation": wrappers.vector.FlattenObservation,
        "DtypeObservation": lambda e: wrappers.vector.DtypeObservation(e, np.int32),
        "NormalizeObservation": wrappers.vector.NormalizeObservation,
        "TransformAction": lambda e: wrappers.vector.TransformAction(
            e, lambda a: 37 - a, e.action_space
        ),
        "TransformReward": lambda e: wrappers.vector.TransformReward(e, lambda r: r / 10),
        "ClipReward": lambda e: wrappers.vector.ClipReward(e, -1.0, 1.0),
        "NormalizeReward": wrappers.vector.NormalizeReward,
        "RecordEpisodeStatistics": wrappers.vector.RecordEpisodeStatistics,
        "NumpyToTorch": wrappers.vector.NumpyToTorch,
    }


NOT_APPLICABLE = {
    # Box or Dict spaces, images: our observations are MultiDiscrete tokens, actions Discrete
    "FilterObservation": "Dict observations",
    "GrayscaleObservation": "RGB image observations",
    "ResizeObservation": "image observations",
    "ReshapeObservation": "Box observations",
    "RescaleObservation": "Box observations",
    "ClipAction": "Box actions",
    "RescaleAction": "Box actions",
    # rendering to a window or a video file, other array libraries
    "HumanRendering": "a window (pygame); rgb_array frames are tested in test_render_vector",
    "RecordVideo": "moviepy and video files",
    "ArrayConversion": "its subclasses' libraries; NumpyToTorch is tested",
    "JaxToNumpy": "jax",
    "JaxToTorch": "jax",
}


def test_every_vector_wrapper_is_covered():
    # Every wrapper the installed Gymnasium has is tested or listed with its reason (older
    # releases, such as the 1.1 floor, lack some of them, e.g. ArrayConversion).
    available = set(wrappers.vector.__all__)
    assert available <= set(wrapper_cases()) | set(NOT_APPLICABLE)
    assert {"FlattenObservation", "NormalizeReward", "RecordEpisodeStatistics"} <= available


@pytest.mark.parametrize("name", sorted(wrapper_cases()))
def test_every_vector_wrapper_accepts_next_step(name):
    """The issue's check: every ``gymnasium.wrappers.vector`` wrapper that fits our spaces wraps
    the native env in ``NEXT_STEP`` mode and runs two whole episodes."""
    if name == "NumpyToTorch":
        pytest.importorskip("array_api_compat")
        import torch  # noqa: PLC0415

    env = wrapper_cases()[name](make_native(3, melody_length=4, autoreset_mode="NextStep"))
    env.reset(seed=0)
    env.action_space.seed(0)
    ends = 0
    for _ in range(10):  # two episodes of 4 steps and their reset steps
        action = env.action_space.sample()
        if name == "NumpyToTorch":
            action = torch.as_tensor(action)
        _, reward, terminated, _, info = env.step(action)
        ends += int(np.asarray(terminated).all())
        assert np.isfinite(np.asarray(reward, dtype=np.float64)).all()
    assert ends == 2
    if name == "RecordEpisodeStatistics":
        assert len(env.return_queue) == 6 and list(env.length_queue) == [4] * 6


# ---------------------------------------------------------------------------------------------
# tests/envs/registration/test_make_vec.py
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("num_envs", [1, 3, 10])
@pytest.mark.parametrize("vectorization_mode", ["vector_entry_point", "sync"])
def test_make_vec_num_envs(num_envs, vectorization_mode):
    """Mirrors ``test_make_vec.py::test_make_vec_num_envs`` (async: the slow test above)."""
    env = gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode=vectorization_mode)
    assert env.num_envs == num_envs
    env.close()


def test_make_vec_vectorization_mode():
    """Mirrors ``test_make_vec.py::test_make_vec_vectorization_mode``: with a vector entry
    point the default is the native env."""
    assert gym.spec(ENV_ID).vector_entry_point is not None
    assert isinstance(gym.make_vec(ENV_ID), SequenceTutorVectorEnv)
    env = gym.make_vec(ENV_ID, vectorization_mode=VectorizeMode.VECTOR_ENTRY_POINT)
    assert isinstance(env, SequenceTutorVectorEnv)
    assert isinstance(gym.make_vec(ENV_ID, vectorization_mode=VectorizeMode.SYNC), SyncVectorEnv)


def test_make_vec_render_mode():
    """Mirrors ``test_make_vec.py::test_make_vec_render_mode``."""
    assert gym.make_vec(ENV_ID, vectorization_mode="vector_entry_point").render_mode is None
    envs_ = gym.make_vec(ENV_ID, render_mode="rgb_array", vectorization_mode="vector_entry_point")
    assert envs_.render_mode == "rgb_array"


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"num_envs": 3},
        {"vectorization_mode": "sync"},
        {"vectorization_mode": "vector_entry_point"},
        {"vectorization_mode": "sync", "vector_kwargs": {"copy": False}},
        {"render_mode": "rgb_array"},
        {"vectorization_mode": "sync", "max_episode_steps": 5},
        {"vectorization_mode": "vector_entry_point", "max_episode_steps": 5},
        {"vectorization_mode": "vector_entry_point", "autoreset_mode": "NextStep"},
        {"vectorization_mode": "sync", "vector_kwargs": {"autoreset_mode": "NextStep"}},
        {"melody_length": 8, "key": "A minor"},
        {"vectorization_mode": "sync", "melody_length": 8},
    ],
)
@pytest.mark.parametrize("from_spec", [False, True])
def test_make_vec_with_spec(kwargs, from_spec):
    """Mirrors ``test_make_vec.py::test_make_vec_with_spec``: ``make_vec(envs.spec)`` rebuilds
    an equal env (and, an addition, one that steps identically)."""
    envs_ = gym.make_vec(gym.spec(ENV_ID) if from_spec else ENV_ID, **kwargs)
    assert envs_.spec is not None
    recreated_envs = gym.make_vec(envs_.spec)
    assert envs_.spec == recreated_envs.spec
    assert envs_.num_envs == recreated_envs.num_envs
    assert type(envs_) is type(recreated_envs)
    assert envs_.observation_space == recreated_envs.observation_space
    assert envs_.single_observation_space == recreated_envs.single_observation_space
    assert envs_.action_space == recreated_envs.action_space
    assert envs_.single_action_space == recreated_envs.single_action_space
    assert envs_.render_mode == recreated_envs.render_mode
    assert envs_.metadata["autoreset_mode"] == recreated_envs.metadata["autoreset_mode"]
    assert data_equivalence(envs_.reset(seed=1), recreated_envs.reset(seed=1), exact=True)
    actions = envs_.action_space.sample()
    assert data_equivalence(envs_.step(actions), recreated_envs.step(actions), exact=True)
    envs_.close()
    recreated_envs.close()


def test_make_vec_max_episode_steps():
    """Gymnasium's ``CartPoleVectorEnv`` takes ``max_episode_steps`` (make_vec passes it for
    ``vector_entry_point``); so does ours, and it truncates as ``TimeLimit`` does in Sync."""
    native = gym.make_vec(
        ENV_ID, num_envs=2, vectorization_mode="vector_entry_point", max_episode_steps=10
    )
    assert native.max_episode_steps == 10 and native.spec.kwargs["max_episode_steps"] == 10
    sync_env = make_sync(2, autoreset_mode="SameStep", max_episode_steps=10)
    assert native.reset(seed=0)[1] == sync_env.reset(seed=0)[1]
    for _ in range(12):
        assert_step_matches(native.step([14, 16]), sync_env.step([14, 16]))


# ---------------------------------------------------------------------------------------------
# Gymnasium vector tests that do not apply, and why
# ---------------------------------------------------------------------------------------------
# * test_vector_env.py::test_vector_obs_action_spaces, tests/vector/utils/, test_shared_memory:
#   they test the vectorisers over Gymnasium's catalogue of spaces (GenericTestEnv), not an env.
# * test_vector_env.py::test_random_seeds_set_at_retrieval, the tuple in
#   test_random_seeding_basics: Sync reports its sub-envs' seeds; a native vector env has no
#   sub-envs and reports its own generator's seed (as CartPoleVectorEnv); per-composition seeding
#   is tested through equality with Sync (test_seeding_basics).
# * test_vector_env_info.py::test_vector_add_info: a unit test of VectorEnv._add_info.
# * test_sync_vector_env.py / test_async_vector_env.py tests of call, set_attr, get_attr,
#   custom spaces, context, errors in workers, closing, shared memory: machinery of the two
#   vectorisers around sub-envs; our single env inside both is tested above
#   (test_vector_env_equal_async_sync_native, test_vector_wrapper_equivalence).
# * test_observation_mode.py: observation_mode="different" batches differing sub-env spaces;
#   our compositions share one space.
# * test_make_vec.py::test_async_with_dynamically_registered_env,
#   test_make_vec_with_spec_additional_wrappers, test_missing_autoreset_mode_metadata: they test
#   make_vec with envs they register themselves (our metadata check: test_autoreset_metadata).
# * tests/wrappers/vector/ for wrappers listed in NOT_APPLICABLE above (their spaces or
#   libraries), and the per-wrapper unit tests (normalisation statistics, video files, ...):
#   they test the wrappers; test_every_vector_wrapper_accepts_next_step checks each one fits.
