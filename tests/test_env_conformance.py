"""Gymnasium 1.4's own environment tests, adapted to ``SequenceTutor-v0``.

Each test names the Gymnasium test it mirrors (``tests/envs/...`` of the Gymnasium source) and
keeps its assertions; Gymnasium runs them over its registry, here they run over our env (and a few
of its configurations). Gymnasium tests that cannot apply are listed at the end with the reason.
"""

from __future__ import annotations

import dataclasses
import pickle
import re
import warnings

import dill
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.registration import EnvSpec
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env, data_equivalence
from gymnasium.wrappers import (
    FlattenObservation,
    NormalizeReward,
    OrderEnforcing,
    PassiveEnvChecker,
    RenderCollection,
    TimeAwareObservation,
    TimeLimit,
)

import envs  # noqa: F401 (registers SequenceTutor-v0)
from envs import SequenceTutorEnv

ENV_ID = "SequenceTutor-v0"
# configurations that change spaces, rules or the Reward RNN path
CONFIGURATIONS = {
    "default": {},
    "short A minor": {"melody_length": 8, "key": "A minor"},
    "torch backend": {"reward_rnn_backend": "torch", "melody_length": 12},
    "two rules": {"rules": ["key", "interval"], "note_rnn_weight": 0.0},
}
T = 32  # the default melody length
SEED = 0
NUM_STEPS = 50  # Gymnasium's value: more than one 32-step episode, so a reset is included


def spec_for(name: str) -> EnvSpec:
    return dataclasses.replace(gym.spec(ENV_ID), kwargs=dict(CONFIGURATIONS[name]))


def has_wrapper(env: gym.Env, wrapper_type: type) -> bool:
    """As ``tests/wrappers/utils.py::has_wrapper`` of Gymnasium."""
    while isinstance(env, gym.Wrapper):
        if isinstance(env, wrapper_type):
            return True
        env = env.env
    return False


# ---------------------------------------------------------------------------------------------
# tests/envs/test_envs.py
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_env_api(name):
    """Mirrors ``test_envs.py::test_all_env_api``: ``check_env`` with no warnings at all (none of
    Gymnasium's ignored ones apply: they are about Box spaces)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = spec_for(name).make().unwrapped
        check_env(env, skip_render_check=True)
        env.close()
    assert [str(w.message) for w in caught] == []


def test_passive_env_checker():
    """Mirrors ``test_envs.py::test_all_env_passive_env_checker``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = gym.make(ENV_ID)
        assert has_wrapper(env, PassiveEnvChecker)
        env.reset()
        env.step(env.action_space.sample())
        env.close()
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_env_determinism_rollout(name):
    """Mirrors ``test_envs.py::test_env_determinism_rollout``: two envs, same seed, same actions,
    exactly equal observations, rewards, flags and infos over ``NUM_STEPS`` steps."""
    env_spec = spec_for(name)
    assert env_spec.nondeterministic is False
    env_1 = env_spec.make(disable_env_checker=True)
    env_2 = env_spec.make(disable_env_checker=True)
    initial_obs_1, initial_info_1 = env_1.reset(seed=SEED)
    initial_obs_2, initial_info_2 = env_2.reset(seed=SEED)
    assert data_equivalence(initial_obs_1, initial_obs_2, exact=True)
    assert data_equivalence(initial_info_1, initial_info_2, exact=True)
    env_1.action_space.seed(SEED)
    for time_step in range(NUM_STEPS):
        action = env_1.action_space.sample()
        obs_1, rew_1, terminated_1, truncated_1, info_1 = env_1.step(action)
        obs_2, rew_2, terminated_2, truncated_2, info_2 = env_2.step(action)
        assert data_equivalence(obs_1, obs_2, exact=True), time_step
        assert env_1.observation_space.contains(obs_1)
        assert rew_1 == rew_2, f"[{time_step}] reward 1={rew_1}, reward 2={rew_2}"
        assert terminated_1 == terminated_2 and truncated_1 == truncated_2, time_step
        assert data_equivalence(info_1, info_2, exact=True), time_step
        if terminated_1 or truncated_1:
            env_1.reset(seed=SEED)
            env_2.reset(seed=SEED)
    env_1.close()
    env_2.close()


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_pickle_env(name):
    """Mirrors ``test_envs.py::test_pickle_env`` (on the unwrapped env, as Gymnasium's
    ``all_testing_initialised_envs``); ``tests/test_env_copy.py`` goes further (mid-episode
    copies, whole episodes, cloudpickle and dill, the vector env)."""
    env = spec_for(name).make(disable_env_checker=True).unwrapped
    action = env.action_space.sample()
    env_reset = env.reset(seed=123)
    env_step = env.step(action)
    pickled_env = pickle.loads(pickle.dumps(env))
    pickle_reset = pickled_env.reset(seed=123)
    pickle_step = pickled_env.step(action)
    assert data_equivalence(env_reset, pickle_reset)
    assert data_equivalence(env_step, pickle_step)
    env.close()
    pickled_env.close()


def test_discrete_actions_out_of_bound():
    """Mirrors ``test_action_dim_check.py::test_discrete_actions_out_of_bound``."""
    env = gym.make(ENV_ID).unwrapped
    upper_bound = env.action_space.start + env.action_space.n - 1
    env.reset()
    with pytest.raises(ValueError, match="outside the action space"):
        env.step(upper_bound + 1)


# ---------------------------------------------------------------------------------------------
# tests/envs/test_rendering.py
# ---------------------------------------------------------------------------------------------


def check_rendered(rendered_frame, mode: str) -> None:
    """``test_rendering.py::check_rendered`` for our modes (and RenderCollection's lists)."""
    if mode.endswith("_list"):
        assert isinstance(rendered_frame, list)
        for frame in rendered_frame:
            check_rendered(frame, mode[: -len("_list")])
    elif mode == "rgb_array":
        assert isinstance(rendered_frame, np.ndarray)
        assert len(rendered_frame.shape) == 3
        assert rendered_frame.shape[2] == 3
        assert np.all(rendered_frame >= 0) and np.all(rendered_frame <= 255)
    elif mode == "ansi":
        assert isinstance(rendered_frame, str)
        assert len(rendered_frame) > 0
    else:
        raise AssertionError(f"unexpected render mode {mode}")


def test_render_modes():
    """Mirrors ``test_rendering.py::test_render_modes``: every declared mode renders after reset
    and after a step."""
    env = gym.spec(ENV_ID).make()
    assert "rgb_array" in env.metadata["render_modes"]
    assert env.metadata["render_modes"] == ["ansi", "rgb_array"]  # no "human": no window
    for mode in env.metadata["render_modes"]:
        new_env = gym.spec(ENV_ID).make(render_mode=mode)
        new_env.reset()
        check_rendered(new_env.render(), mode)
        new_env.step(new_env.action_space.sample())
        check_rendered(new_env.render(), mode)
        new_env.close()
    env.close()


# ---------------------------------------------------------------------------------------------
# tests/envs/registration/test_make.py
# ---------------------------------------------------------------------------------------------


def test_no_arguments():
    """Mirrors ``test_make.py::test_no_arguments``."""
    env_from_id = gym.make(ENV_ID)
    assert env_from_id.spec is not None and env_from_id.spec.id == ENV_ID
    assert isinstance(env_from_id.unwrapped, SequenceTutorEnv)
    env_from_spec = gym.make(gym.spec(ENV_ID))
    assert env_from_spec.spec is not None and env_from_spec.spec.id == ENV_ID
    assert isinstance(env_from_spec.unwrapped, SequenceTutorEnv)
    assert env_from_id.spec == env_from_spec.spec


def test_max_episode_steps():
    """Mirrors ``test_make.py::test_max_episode_steps`` for an env registered without
    ``max_episode_steps`` (Gymnasium's ``NoMaxEpisodeStepsEnv-v0`` case). Its first half, "use
    the spec's value", does not apply: none is registered on purpose (the env ends itself after
    T steps, and a TimeLimit at T would also mark that step truncated)."""
    for make_id in [ENV_ID, gym.spec(ENV_ID)]:
        env_spec = gym.spec(make_id) if isinstance(make_id, str) else make_id
        assert env_spec.max_episode_steps is None
        env = gym.make(make_id)
        assert env.spec is not None and env.spec.max_episode_steps is None
        assert has_wrapper(env, TimeLimit) is False

        env = gym.make(make_id, max_episode_steps=100)
        assert env.spec is not None and env.spec.max_episode_steps == 100
        assert has_wrapper(env, TimeLimit)

        env = gym.make(make_id, max_episode_steps=-1)
        assert env.spec is not None and env.spec.max_episode_steps is None
        assert has_wrapper(env, TimeLimit) is False
    # and the limit truncates (an addition: Gymnasium tests TimeLimit itself elsewhere)
    env = gym.make(ENV_ID, max_episode_steps=5)
    env.reset(seed=0)
    flags = [env.step(14)[2:4] for _ in range(5)]
    assert flags == [(False, False)] * 4 + [(False, True)]


@pytest.mark.parametrize(
    ("make_disabled", "if_disabled"), [(False, False), (True, True), (None, False)]
)
def test_disable_env_checker(make_disabled, if_disabled):
    """Mirrors ``test_make.py::test_disable_env_checker`` (registered with the default
    ``disable_env_checker=False``; registering our env again with other values is not ours to
    test)."""
    env = gym.make(ENV_ID, disable_env_checker=make_disabled)
    assert has_wrapper(env, PassiveEnvChecker) is not if_disabled
    env = gym.make(gym.spec(ENV_ID), disable_env_checker=make_disabled)
    assert has_wrapper(env, PassiveEnvChecker) is not if_disabled


def test_order_enforcing():
    """Mirrors ``test_make.py::test_order_enforcing`` (plus the error it exists for)."""
    assert gym.spec(ENV_ID).order_enforce is True
    for make_id in [ENV_ID, gym.spec(ENV_ID)]:
        env = gym.make(make_id)
        assert has_wrapper(env, OrderEnforcing)
        with pytest.raises(ResetNeeded):
            env.step(14)


def test_make_with_render_mode():
    """Mirrors ``test_make.py::test_make_with_render_mode``. Unlike CartPole, which only warns,
    our env also refuses a mode it does not have, naming it."""
    env = gym.make(ENV_ID, render_mode=None)
    assert env.render_mode is None
    env.close()
    assert "rgb_array" in env.metadata["render_modes"]
    env = gym.make(ENV_ID, render_mode="rgb_array")
    assert env.render_mode == "rgb_array"
    env.close()
    with pytest.warns(UserWarning, match=re.escape("render_mode='no-render-mode'")):
        with pytest.raises(ValueError, match="render_mode 'no-render-mode' is unknown"):
            gym.make(ENV_ID, render_mode="no-render-mode")


@pytest.mark.parametrize("mode", ["rgb_array", "ansi"])
def test_make_render_collection(mode):
    """Mirrors ``test_make.py::test_make_render_collection`` (and the same for ``ansi``)."""
    env = gym.make(ENV_ID, render_mode=f"{mode}_list")
    assert has_wrapper(env, RenderCollection)
    assert env.render_mode == f"{mode}_list" and env.unwrapped.render_mode == mode
    env.reset()
    env.step(14)
    renders = env.render()
    check_rendered(renders, f"{mode}_list")
    assert len(renders) == 2  # the reset frame and the step frame
    env.close()


def test_make_kwargs():
    """Mirrors ``test_make.py::test_make_kwargs``: make's kwargs reach the constructor and the
    spec."""
    env = gym.make(ENV_ID, melody_length=12, key="D dorian", reward_scale=2.0)
    assert env.spec is not None
    assert env.spec.kwargs == {"melody_length": 12, "key": "D dorian", "reward_scale": 2.0}
    unwrapped = env.unwrapped
    assert unwrapped.melody_length == 12 and unwrapped.key == "D dorian"
    assert unwrapped.reward_scale == 2.0


# ---------------------------------------------------------------------------------------------
# tests/envs/registration/test_env_spec.py
# ---------------------------------------------------------------------------------------------


def test_full_integration():
    """Mirrors ``test_env_spec.py::test_full_integration``: a wrapped env's spec survives JSON and
    rebuilds the same stack, which steps identically. ``TimeAwareObservation`` needs a time limit
    and none is registered (see the end of this file), so the env is made with
    ``max_episode_steps=T``, which changes nothing but the flags of the last step."""
    env = gym.make(ENV_ID, render_mode="rgb_array", max_episode_steps=T)
    env = TimeAwareObservation(env)
    env = NormalizeReward(env, gamma=0.8)
    env_spec = env.spec
    assert isinstance(env_spec, EnvSpec)
    assert len(env_spec.additional_wrappers) == 2
    env_spec_json = env_spec.to_json()
    assert isinstance(env_spec_json, str)
    recreate_env_spec = EnvSpec.from_json(env_spec_json)
    assert env_spec.additional_wrappers == recreate_env_spec.additional_wrappers
    assert recreate_env_spec == env_spec
    recreated_env = gym.make(recreate_env_spec)
    assert recreated_env.render_mode == "rgb_array"
    assert isinstance(recreated_env, NormalizeReward)
    assert recreated_env.gamma == 0.8
    assert isinstance(recreated_env.env, TimeAwareObservation)
    assert isinstance(recreated_env.unwrapped, SequenceTutorEnv)

    obs, info = env.reset(seed=42)
    recreated_obs, recreated_info = recreated_env.reset(seed=42)
    assert data_equivalence(obs, recreated_obs)
    assert data_equivalence(info, recreated_info)
    action = env.action_space.sample()
    for got, expected in zip(recreated_env.step(action), env.step(action), strict=True):
        assert data_equivalence(got, expected)
    assert env_spec.pprint(disable_print=True) == recreate_env_spec.pprint(disable_print=True)


@pytest.mark.parametrize(
    "make_spec",
    [
        lambda: gym.spec(ENV_ID),
        lambda: gym.make(ENV_ID).unwrapped.spec,
        lambda: gym.make(ENV_ID).spec,
        lambda: gym.make(ENV_ID, melody_length=8, key="A minor").spec,
        lambda: NormalizeReward(gym.make(ENV_ID)).spec,
    ],
    ids=["spec", "unwrapped", "make", "make kwargs", "wrapped"],
)
def test_env_spec_to_from_json(make_spec):
    """Mirrors ``test_env_spec.py::test_env_spec_to_from_json``."""
    env_spec = make_spec()
    assert EnvSpec.from_json(env_spec.to_json()) == env_spec


def test_pickling_env_stack():
    """Mirrors ``test_env_spec.py::test_pickling_env_stack`` (dill, a stack of wrappers;
    ``max_episode_steps=T`` for ``TimeAwareObservation`` as in test_full_integration)."""
    env = gym.make(ENV_ID, render_mode="rgb_array", max_episode_steps=T)
    env = FlattenObservation(env)
    env = TimeAwareObservation(env)
    env = NormalizeReward(env, gamma=0.8)
    pickled_env = dill.loads(dill.dumps(env))
    obs, info = env.reset(seed=123)
    pickled_obs, pickled_info = pickled_env.reset(seed=123)
    assert data_equivalence(obs, pickled_obs)
    assert data_equivalence(info, pickled_info)
    action = env.action_space.sample()
    for got, expected in zip(pickled_env.step(action), env.step(action), strict=True):
        assert data_equivalence(got, expected)
    env.close()
    pickled_env.close()


def test_make_with_env_spec():
    """Mirrors the first part of ``test_make.py::test_make_with_env_spec``: an env made from the
    spec of a wrapped env has the same spec (the rest registers other entry points)."""
    id_env = gym.make(ENV_ID)
    spec_env = gym.make(gym.spec(ENV_ID))
    assert id_env.spec == spec_env.spec
    env_2 = NormalizeReward(
        TimeAwareObservation(
            FlattenObservation(gym.make(ENV_ID, render_mode="rgb_array", max_episode_steps=T))
        ),
        gamma=0.8,
    )
    env_2_recreated = gym.make(env_2.spec)
    assert env_2.spec == env_2_recreated.spec


# ---------------------------------------------------------------------------------------------
# Gymnasium env tests that do not apply, and why
# ---------------------------------------------------------------------------------------------
# * test_make.py::test_max_episode_steps, first half ("use the spec's value"): no
#   max_episode_steps is registered (the env terminates itself after T steps; see
#   envs/__init__.py). For the same reason TimeAwareObservation, which needs a time limit, is
#   given max_episode_steps=T in test_full_integration, test_pickling_env_stack and
#   test_make_with_env_spec (our observation already tells the step: its non-PAD count).
# * test_make.py::test_make_human_rendering, test_rendering.py::test_pygame_selective_init: no
#   "human" mode (no window, no pygame); render_mode="human" is refused by name.
# * test_make.py::test_import_module_during_make, test_make_errors, test_wrapped_env_entry_point,
#   test_make_with_env_spec_levels, test_register.py, test_spec.py, test_pprint_registry.py: they
#   test Gymnasium's registry with envs they register themselves; our registration is covered by
#   tests/test_env.py::test_registered_both_ways ("envs:SequenceTutor-v0" included).
# * test_action_dim_check.py::test_mujoco_action_dimensions, test_box_actions_out_of_bound: Box
#   actions only (ours is Discrete: test_discrete_actions_out_of_bound above).
# * test_env_implementation.py, toy_text/, mujoco/, functional/ (jax): tests of Gymnasium's own
#   environments' physics and rendering, or of the functional/jax API we do not implement.
