"""Test helpers: compare the native vector env with N single envs (``SyncVectorEnv``).

The README's tolerance: observations, flags and the rules' terms are exactly equal; the Reward
RNN's term (``note_rnn``, ``log_prob``, hence the reward) to ``REWARD_RNN_ATOL`` per step (the
batched float32 GEMM sums in another order than the single env's mat-vec).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

import envs  # noqa: F401 (registers SequenceTutor-v0)

# measured by benchmarks/env_vector_tolerance.py: <= 8e-6 at N = 256, T = 32 and 1.2e-5 at
# N = 256, T = 256; the bound leaves room for other BLAS builds' summation orders
REWARD_RNN_ATOL = 5e-5
APPROXIMATE_KEYS = {"note_rnn", "log_prob"}  # the Reward RNN's values; everything else is exact


def make_native(num_envs: int, **kwargs: Any) -> gym.vector.VectorEnv:
    return gym.make_vec(
        "SequenceTutor-v0", num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs
    )


def make_sync(
    num_envs: int, autoreset_mode: Any = "SameStep", mode: str = "sync", **kwargs: Any
) -> gym.vector.VectorEnv:
    return gym.make_vec(
        "SequenceTutor-v0",
        num_envs=num_envs,
        vectorization_mode=mode,
        vector_kwargs={"autoreset_mode": autoreset_mode},
        **kwargs,
    )


def assert_info_matches(native: Any, reference: Any, path: str = "info") -> None:
    """``native`` has exactly ``reference``'s structure (keys, dtypes, shapes, masks) and its
    values, the Reward RNN's to ``REWARD_RNN_ATOL``."""
    if isinstance(reference, dict):
        assert isinstance(native, dict), path
        assert set(native) == set(reference), f"{path}: {sorted(native)} != {sorted(reference)}"
        for key, value in reference.items():
            assert_info_matches(native[key], value, f"{path}[{key!r}]")
        return
    if reference is None:
        assert native is None, path
        return
    native, reference = np.asarray(native), np.asarray(reference)
    assert native.dtype == reference.dtype, f"{path}: {native.dtype} != {reference.dtype}"
    assert native.shape == reference.shape, f"{path}: {native.shape} != {reference.shape}"
    if reference.dtype == object:
        for i, (a, b) in enumerate(zip(native, reference)):
            assert_info_matches(a, b, f"{path}[{i}]")
    elif any(f"[{key!r}]" in path for key in APPROXIMATE_KEYS):
        np.testing.assert_allclose(native, reference, rtol=0, atol=REWARD_RNN_ATOL, err_msg=path)
    else:
        np.testing.assert_array_equal(native, reference, err_msg=path)


def assert_step_matches(native_step: tuple, reference_step: tuple) -> None:
    """One ``step()`` result of the native env against ``SyncVectorEnv``'s."""
    obs, reward, terminated, truncated, info = native_step
    ref_obs, ref_reward, ref_terminated, ref_truncated, ref_info = reference_step
    np.testing.assert_array_equal(obs, ref_obs)
    assert obs.dtype == ref_obs.dtype and reward.dtype == ref_reward.dtype
    np.testing.assert_allclose(reward, ref_reward, rtol=0, atol=REWARD_RNN_ATOL)
    np.testing.assert_array_equal(terminated, ref_terminated)
    np.testing.assert_array_equal(truncated, ref_truncated)
    assert terminated.dtype == truncated.dtype == np.bool_
    assert_info_matches(info, ref_info)
