"""Copies are exact: ``copy.deepcopy``, ``pickle``, ``cloudpickle`` and ``dill`` of the single env,
the native vector env and both Reward RNN backends continue bit-identically to the original.

Lookahead and tree search copy envs, Ray and ``AsyncVectorEnv`` send built envs to workers: a
copy that drifts would give silently wrong rewards (the fused numpy streams once kept views into
buffers that a deep copy turned into separate arrays).
"""

from __future__ import annotations

import copy
import pickle

import cloudpickle
import dill
import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import data_equivalence

import envs  # noqa: F401 (registers SequenceTutor-v0)
import pretrain.rhn  # noqa: F401 (ours: an import error in it must fail these tests, not skip them)
from pretrain.checkpoint import save_note_rnn
from pretrain.models import NoteRNNConfig, build_note_rnn
from rewards import RewardRNN

COPIERS = {
    "deepcopy": copy.deepcopy,
    "pickle": lambda obj: pickle.loads(pickle.dumps(obj)),
    "cloudpickle": lambda obj: cloudpickle.loads(cloudpickle.dumps(obj)),
    "dill": lambda obj: dill.loads(dill.dumps(obj)),
}
BACKENDS = ["numpy", "torch"]


def assert_same_step(got: tuple, expected: tuple) -> None:
    """Bit-identical: observations, rewards (``==``, no tolerance), flags and info."""
    assert data_equivalence(got, expected, exact=True), (got[1], expected[1])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("copier", sorted(COPIERS))
def test_issue_example_copy_then_reset_and_step(copier, backend):
    env = gym.make("SequenceTutor-v0", reward_rnn_backend=backend).unwrapped
    clone = COPIERS[copier](env)
    assert data_equivalence(env.reset(seed=123), clone.reset(seed=123), exact=True)
    assert_same_step(clone.step(5), env.step(5))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("copier", sorted(COPIERS))
@pytest.mark.parametrize("wrapped", [False, True], ids=["unwrapped", "gym.make"])
def test_single_env_copies_continue_bit_identically(copier, backend, wrapped):
    """Copied mid-episode, the copy and the original agree on every step of the rest of that
    episode and of a whole next one (reset by hand, RNG carried on)."""
    env = gym.make("SequenceTutor-v0", reward_rnn_backend=backend)
    env = env if wrapped else env.unwrapped
    rng = np.random.default_rng(0)
    env.reset(seed=5)
    for _ in range(11):
        env.step(int(rng.integers(38)))
    clone = COPIERS[copier](env)
    assert clone is not env and clone.unwrapped.reward_rnn is not env.unwrapped.reward_rnn
    episodes = 0
    while episodes < 2:
        action = int(rng.integers(38))
        expected = env.step(action)
        assert_same_step(clone.step(action), expected)
        if expected[2]:
            episodes += 1
            assert data_equivalence(clone.reset(), env.reset(), exact=True)
    np.testing.assert_array_equal(clone.unwrapped.primer, env.unwrapped.primer)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_copy_is_independent_of_its_original(backend):
    env = gym.make("SequenceTutor-v0", reward_rnn_backend=backend).unwrapped
    env.reset(seed=2)
    env.step(14)
    twin, clone = copy.deepcopy(env), copy.deepcopy(env)
    for action in (0, 1, 37, 2):  # the clone wanders off
        clone.step(action)
    for action in (16, 1, 18):  # the original is unaffected: it matches its untouched twin
        assert_same_step(env.step(action), twin.step(action))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("copier", sorted(COPIERS))
@pytest.mark.parametrize("mode", ["SameStep", "NextStep"])
def test_vector_env_copies_continue_bit_identically(copier, backend, mode):
    venv = gym.make_vec(
        "SequenceTutor-v0",
        num_envs=4,
        vectorization_mode="vector_entry_point",
        melody_length=8,
        autoreset_mode=mode,
        reward_rnn_backend=backend,
    )
    rng = np.random.default_rng(1)
    venv.reset(seed=3)
    for _ in range(3):
        venv.step(rng.integers(0, 38, 4))
    clone = COPIERS[copier](venv)
    assert clone.metadata["autoreset_mode"] == venv.metadata["autoreset_mode"]
    for t in range(30):  # three episodes and more, with a partial reset (groups) on the way
        if t == 12:
            mask = np.array([False, True, True, False])
            options = {"reset_mask": mask}
            assert data_equivalence(
                clone.reset(options={"reset_mask": mask.copy()}),
                venv.reset(options=options),
                exact=True,
            )
        if t == 14:  # copy again while the compositions are out of step
            clone = COPIERS[copier](venv)
        actions = rng.integers(0, 38, 4)
        assert_same_step(clone.step(actions), venv.step(actions))


@pytest.mark.parametrize("copier", sorted(COPIERS))
def test_rhn_reward_rnn_copies(copier, tmp_path):
    torch.manual_seed(0)
    save_note_rnn(
        build_note_rnn(NoteRNNConfig(kind="rhn", hidden_size=16, depth=2)), tmp_path / "r"
    )
    env = gym.make("SequenceTutor-v0", reward_rnn=tmp_path / "r", melody_length=6).unwrapped
    assert env.reward_rnn.backend == "torch"
    env.reset(seed=0)
    env.step(14)
    clone = COPIERS[copier](env)
    for action in (16, 1, 0, 18, 20):
        assert_same_step(clone.step(action), env.step(action))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("copier", sorted(COPIERS))
def test_reward_rnn_streams_copy_exactly(copier, backend):
    rnn = RewardRNN(backend=backend)
    tokens = np.random.default_rng(2).integers(0, 38, (3, 20))
    single, batch = rnn.stream(), rnn.batch_stream(3)
    single.prime(tokens[0, :2])
    batch.prime(tokens[:, :2])
    for t in range(2, 6):
        single.feed(int(tokens[0, t]))
        batch.feed(tokens[:, t])
    single_copy, batch_copy = COPIERS[copier](single), COPIERS[copier](batch)
    for t in range(6, 20):
        assert single_copy.log_prob(int(tokens[0, t])) == single.log_prob(int(tokens[0, t]))
        assert single_copy.log_probs().tolist() == single.log_probs().tolist()
        np.testing.assert_array_equal(
            batch_copy.log_prob(tokens[:, t]), batch.log_prob(tokens[:, t])
        )
        for stream in (single, single_copy):
            stream.feed(int(tokens[0, t]))
        for stream in (batch, batch_copy):
            stream.feed(tokens[:, t])


def test_the_fused_copy_owns_its_buffers():
    """The views are rebound to the copy's own buffers (the cause of the wrong rewards)."""
    stream = copy.deepcopy(RewardRNN(backend="numpy").stream())
    batch = pickle.loads(pickle.dumps(RewardRNN(backend="numpy").batch_stream(8)))
    for copied in (stream, batch):
        assert np.shares_memory(copied._h, copied.x)
        assert np.shares_memory(copied._logits, copied.buffer)
        assert np.shares_memory(copied._y, copied.buffer)
        assert all(np.shares_memory(v, copied.buffer) for v in copied._views[:6])
        assert np.shares_memory(copied._views.product, copied.product)


class TonicCounter:
    """A stateful user rule (reward, then update) defined at module level, so it pickles."""

    name = "tonic_counter"

    def reset(self, composition):
        self.count = 0

    def reward(self, composition, action):
        return float(self.count)

    def update(self, composition, action):
        self.count += int(action == composition.key.tonic_token)


@pytest.mark.parametrize("copier", sorted(COPIERS))
def test_stateful_user_rules_are_copied_with_the_env(copier):
    """The copy steps its own copy of a user rule: the steppers are bound to the copy's rules,
    not (as closures were) to the original's."""
    env = gym.make("SequenceTutor-v0", rules=[TonicCounter(), "key"], melody_length=8).unwrapped
    env.reset(seed=0)
    env.step(14)
    env.step(14)
    clone = COPIERS[copier](env)
    for _ in range(3):  # the clone counts on alone
        clone.step(14)
    got = [env.step(a)[4]["reward_terms"]["tonic_counter"] for a in (14, 16, 14)]
    assert got == [2.0, 3.0, 3.0]  # the original's count is untouched by the clone's steps
    assert clone.step(16)[4]["reward_terms"]["tonic_counter"] == 5.0
