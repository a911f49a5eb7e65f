"""Property tests over SequenceTutor-v0: random actions, resets mid-episode, keys, extreme T."""

from __future__ import annotations

import functools
import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envs import SequenceTutorEnv
from rewards import RewardRNN

KEYS = ["C major", "A minor", "F# dorian", "Bb mixolydian", "E locrian", "G lydian"]
LENGTHS = [1, 2, 4, 32, 256]


@functools.lru_cache(maxsize=1)
def shared_reward_rnn() -> RewardRNN:
    return RewardRNN()


@functools.cache
def make_env(key: str, length: int, weight: float, scale: float) -> SequenceTutorEnv:
    return SequenceTutorEnv(
        melody_length=length,
        key=key,
        note_rnn_weight=weight,
        reward_scale=scale,
        reward_rnn=shared_reward_rnn(),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=st.sampled_from(KEYS),
    length=st.sampled_from(LENGTHS),
    weight=st.sampled_from([0.0, 1.0, 0.25]),
    scale=st.sampled_from([0.5, 1.0, 3.0]),
    seed=st.integers(0, 2**31 - 1),
    plan=st.lists(
        st.one_of(
            st.integers(0, 37),
            st.just("reset"),
            st.lists(st.integers(0, 37), min_size=1, max_size=3),
        ),
        min_size=1,
        max_size=300,
    ),
)
def test_random_play_keeps_the_invariants(key, length, weight, scale, seed, plan):
    env = make_env(key, length, weight, scale)
    obs, _ = env.reset(seed=seed)
    assert env.observation_space.contains(obs)
    step = 0
    for item in plan:
        if item == "reset" or isinstance(item, list) or step == length:
            primer = item if isinstance(item, list) else None
            obs, _ = env.reset(options={"primer": primer} if primer else None)
            assert env.observation_space.contains(obs)
            assert (obs[1:] == 38).all() and (primer is None or obs[0] == primer[-1])
            step = 0
            if item == "reset" or isinstance(item, list):
                continue
        obs, reward, terminated, truncated, info = env.step(item)
        assert env.observation_space.contains(obs)
        assert isinstance(reward, float) and math.isfinite(reward)
        terms = info["reward_terms"]
        rule_sum = sum(v for k, v in terms.items() if k != "note_rnn")
        assert reward == rule_sum / scale + terms["note_rnn"]
        assert all(math.isfinite(v) for v in terms.values())
        assert info["step"] == step and obs[1 + step] == item
        assert int((obs[1:] != 38).sum()) == step + 1
        step += 1
        assert terminated is (step == length) and truncated is False
    np.testing.assert_array_equal(env.composition, obs[1 : 1 + step])
