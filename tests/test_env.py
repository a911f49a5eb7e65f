"""SequenceTutor-v0: registration, spaces, rewards, episodes, errors, render, export, SB3."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env

import envs
import rewards
from envs import SequenceTutorEnv
from pretrain.checkpoint import save_note_rnn
from pretrain.errors import SequenceTutorError
from pretrain.models import NoteRNNConfig, build_note_rnn

T = 32
PAD = 38


def rhn_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = build_note_rnn(NoteRNNConfig(kind="rhn", hidden_size=16, depth=2))
    save_note_rnn(model, tmp_path / "rhn")
    return tmp_path / "rhn"


@rewards.rule
def likes_high_notes(composition, action):
    return 0.5 if action > 30 else 0.0


CONFIGURATIONS = {
    "default": {},
    "w=0": {"note_rnn_weight": 0.0},
    "rules=[]": {"rules": []},
    "custom rule": {"rules": [*rewards.default_rules(), likes_high_notes]},
    "rule names": {"rules": ["key", "tonic"]},
    "A minor": {"key": "A minor"},
    "F# dorian": {"key": "F# dorian", "melody_length": 16, "reward_scale": 1.0},
    "torch LSTM": {"reward_rnn_backend": "torch"},
}


def random_episode(env, seed=0, steps=None):
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    out = []
    for _ in range(steps or env.unwrapped.melody_length):
        out.append(env.step(int(rng.integers(0, 38))))
        if out[-1][2]:
            break
    return obs, out


def test_registered_both_ways():
    spec = gym.spec("SequenceTutor-v0")
    assert spec.max_episode_steps is None
    assert spec.vector_entry_point == "envs.vector:SequenceTutorVectorEnv"
    assert isinstance(gym.make("SequenceTutor-v0").unwrapped, SequenceTutorEnv)
    assert isinstance(gym.make("envs:SequenceTutor-v0").unwrapped, SequenceTutorEnv)
    assert envs.__all__ == ["SequenceTutorEnv", "SequenceTutorVectorEnv"]


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_check_env_passes(name):
    env = gym.make("SequenceTutor-v0", **CONFIGURATIONS[name])
    check_env(env.unwrapped, skip_render_check=True)
    _, steps = random_episode(env)
    assert steps[-1][2] is True


def test_check_env_with_rhn_reward_rnn_and_render_modes(tmp_path):
    env = SequenceTutorEnv(reward_rnn=rhn_checkpoint(tmp_path), render_mode="ansi")
    assert env.reward_rnn.kind == "rhn"
    check_env(env)
    check_env(SequenceTutorEnv(render_mode="rgb_array"))


def test_the_docstring_is_a_gymnasium_manual():
    for section in (
        "Description",
        "Action Space",
        "Observation Space",
        "Starting State",
        "Rewards",
        "Episode End",
        "Arguments",
        "References",
        "Version History",
    ):
        assert f"## {section}" in SequenceTutorEnv.__doc__


def test_spaces_and_observations():
    env = gym.make("SequenceTutor-v0")
    assert env.action_space == gym.spaces.Discrete(38)
    assert env.observation_space.shape == (1 + T,)
    assert env.observation_space.dtype == np.int64
    assert (env.observation_space.nvec == PAD + 1).all()
    obs, info = env.reset(seed=3)
    primer = env.unwrapped.primer
    assert info == {}
    assert obs[0] == primer[-1] and (obs[1:] == PAD).all()
    assert rewards.key_tables("C major").in_key[obs[0]] and obs[0] >= 2
    actions = [14, 1, 16, 0, 18]
    for t, action in enumerate(actions):
        obs, reward, terminated, truncated, info = env.step(action)
        assert obs[1 + t] == action and (obs[2 + t :] == PAD).all()
        assert info["step"] == t and not terminated and truncated is False
        assert type(reward) is float and type(terminated) is bool
    assert env.unwrapped.composition.tolist() == actions
    assert env.unwrapped.action_masks().tolist() == [True] * 38
    obs[1] = 99  # observations are copies
    assert env.unwrapped.composition[0] == 14


def test_reward_combines_its_terms_exactly():
    for weight, scale in ((1.0, 0.5), (0.3, 2.0), (0.0, 0.1)):
        env = gym.make("SequenceTutor-v0", note_rnn_weight=weight, reward_scale=scale)
        _, steps = random_episode(env, seed=5)
        for _, reward, _, _, info in steps:
            terms = info["reward_terms"]
            assert list(terms) == [*rewards.DEFAULT_RULE_NAMES, "note_rnn"]
            rule_sum = sum(v for k, v in terms.items() if k != "note_rnn")
            assert reward == rule_sum / scale + terms["note_rnn"]
            assert terms["note_rnn"] == weight * info["log_prob"]
            assert info["log_prob"] < 0


def test_reward_rnn_term_is_the_models_log_prob():
    env = SequenceTutorEnv()
    env.reset(options={"primer": [14, 16]})
    melody = [18, 1, 19, 21, 0]
    expected = env.reward_rnn.log_probs_of(np.array([[14, 16, *melody]]))[0, 1:]
    got = [env.step(a)[4]["log_prob"] for a in melody]
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_episode_ends_after_t_actions_and_needs_a_reset():
    # rl_tuner's targets ignored episode ends; here the end is explicit: terminated at step T,
    # never truncated, and stepping on is an error (agents mask terminal targets on this flag).
    env = SequenceTutorEnv(melody_length=4)
    with pytest.raises(ResetNeeded, match="reset"):
        env.step(14)
    env.reset(seed=0)
    flags = [env.step(14)[2:4] for _ in range(4)]
    assert flags == [(False, False)] * 3 + [(True, False)]
    with pytest.raises(ResetNeeded, match="ended after 4 steps"):
        env.step(14)
    env.reset()
    assert env.step(14)[2] is False


def test_reset_mid_episode_starts_over():
    env = SequenceTutorEnv()
    env.reset(seed=1)
    first = [env.step(a)[1] for a in (14, 16, 18)]
    env.step(20)
    env.reset(seed=1)
    assert [env.step(a)[1] for a in (14, 16, 18)] == first
    assert env.composition.tolist() == [14, 16, 18]


def test_primer_options_and_seeding():
    env = SequenceTutorEnv()
    obs, _ = env.reset(options={"primer": 30})
    assert obs[0] == 30 and env.primer.tolist() == [30]
    obs, _ = env.reset(options={"primer": [14, 16, 18]})
    assert obs[0] == 18 and env.primer.tolist() == [14, 16, 18]
    primers = {int(env.reset(seed=s)[0][0]) for s in range(40)}
    assert len(primers) > 5
    assert all(rewards.key_tables("C major").in_key[p] and p >= 2 for p in primers)
    assert env.reset(seed=7)[0][0] == env.reset(seed=7)[0][0]
    dorian = SequenceTutorEnv(key="F# dorian")
    assert all(
        rewards.key_tables("F# dorian").in_key[dorian.reset(seed=s)[0][0]] for s in range(20)
    )


@pytest.mark.parametrize(
    ("action", "match"),
    [
        (38, "action 38 is outside the action space Discrete\\(38\\)"),
        (-1, "action -1 is outside"),
        (1.5, "not in the action space"),
        ("14", "not in the action space"),
        (True, "not in the action space"),
        (np.array([1, 2]), "not in the action space"),
    ],
)
def test_bad_actions(action, match):
    env = SequenceTutorEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(action)
    assert env.step(np.int64(14))[4]["step"] == 0  # numpy integers and 0-d arrays are fine
    assert env.step(np.array(16))[4]["step"] == 1


@pytest.mark.parametrize(
    ("primer", "match"),
    [
        (40, "primer token 40 is outside the vocabulary"),
        ([14, -2], "-2"),
        ([], "empty"),
        ("C4", "not a token"),
    ],
)
def test_bad_primers(primer, match):
    with pytest.raises(ValueError, match=match):
        SequenceTutorEnv().reset(options={"primer": primer})


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"key": "H major"}, rewards.UnknownKeyError, "H major"),
        # a user's bad setting is the one user-error type (a ValueError, as Gymnasium's are)
        ({"melody_length": 0}, SequenceTutorError, "melody_length"),
        ({"melody_length": 2.5}, SequenceTutorError, "melody_length"),
        ({"reward_scale": 0}, SequenceTutorError, "reward_scale"),
        ({"note_rnn_weight": float("nan")}, SequenceTutorError, "note_rnn_weight"),
        ({"render_mode": "pixels"}, SequenceTutorError, "render_mode 'pixels'"),
        ({"rules": ["no_such_rule"]}, SequenceTutorError, "no_such_rule"),
        ({"reward_rnn": "/no/such/checkpoint"}, SequenceTutorError, "/no/such/checkpoint"),
        ({"reward_rnn": 3}, SequenceTutorError, "reward_rnn"),
        ({"rules": [42]}, TypeError, "not a rule"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        gym.make("SequenceTutor-v0", **kwargs)


def test_unknown_key_is_a_sequence_tutor_error():
    with pytest.raises(SequenceTutorError):
        SequenceTutorEnv(key="C nonsense")


def test_render_ansi_and_rgb_array():
    env = gym.make("SequenceTutor-v0", render_mode="ansi")
    env.reset(options={"primer": 21})
    for action in (14, 1, 15, 0):
        env.step(action)
    text = env.render()
    assert "C major" in text and "step 4/32" in text and "primer: G4" in text
    assert "C4" in text and "C#4*" in text  # out of key marked
    assert text.count("_") == T - 4
    env = gym.make("SequenceTutor-v0", render_mode="rgb_array")
    env.reset(seed=0)
    blank = env.render()
    assert blank.dtype == np.uint8 and blank.ndim == 3 and blank.shape[2] == 3
    env.step(14)
    env.step(1)
    drawn = env.render()
    assert drawn.shape == blank.shape and (drawn != blank).any()


def test_render_without_mode_warns():
    env = SequenceTutorEnv()
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert env.render() is None


@pytest.mark.parametrize("suffix", [".mid", ".musicxml"])
def test_export_round_trip(tmp_path, suffix):
    from pretrain.tokenizer import canonical_tokens, read_melody

    env = SequenceTutorEnv(key="A minor")
    env.reset(seed=0)
    melody = [21, 1, 1, 23, 24, 1, 0, 1, 26, 28, 1, 1, 1, 1, 0, 21]
    for action in melody:
        env.step(action)
    path = env.export(tmp_path / f"tune{suffix}")
    assert path.exists()
    assert read_melody(path).tolist() == canonical_tokens(melody).tolist()


def test_export_needs_notes(tmp_path):
    env = SequenceTutorEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="empty"):
        env.export(tmp_path / "x.mid")


def test_sb3_vec_envs_and_checker():
    from stable_baselines3.common.env_checker import check_env as sb3_check_env
    from stable_baselines3.common.vec_env import DummyVecEnv

    sb3_check_env(gym.make("SequenceTutor-v0", melody_length=8))
    venv = DummyVecEnv([lambda: gym.make("SequenceTutor-v0", melody_length=8)] * 2)
    venv.seed(0)
    obs = venv.reset()
    assert obs.shape == (2, 9) and obs.dtype == np.int64
    for t in range(8):
        obs, reward, done, info = venv.step(np.array([14, 16]))
        assert reward.shape == (2,) and np.isfinite(reward).all()
    assert done.all() and info[0]["terminal_observation"][1:].tolist() == [14] * 8
    assert (obs[:, 1:] == PAD).all()  # auto-reset


@pytest.mark.slow
def test_sb3_subproc_vec_env():
    from stable_baselines3.common.vec_env import SubprocVecEnv

    # worker processes start fresh: "envs:" makes gym.make import the package there
    venv = SubprocVecEnv([lambda: gym.make("envs:SequenceTutor-v0", melody_length=4)] * 2)
    try:
        venv.reset()
        for _ in range(4):
            _, reward, done, _ = venv.step(np.array([14, 16]))
        assert done.all() and np.isfinite(reward).all()
    finally:
        venv.close()


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_the_env_changes_no_process_wide_torch_setting(backend):
    """``gym.make`` once called ``torch.set_num_threads(1)`` for the whole process, silently
    halving an agent trained next to it; the env now pins only its own torch work."""
    saved = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        env = gym.make("SequenceTutor-v0", reward_rnn_backend=backend, melody_length=4)
        venv = gym.make_vec(
            "SequenceTutor-v0",
            num_envs=9,
            vectorization_mode="vector_entry_point",
            reward_rnn_backend=backend,
            melody_length=4,
        )
        env.reset(seed=0)
        venv.reset(seed=0)
        for _ in range(4):  # a whole episode, autoreset included
            env.step(14)
            venv.step(np.full(9, 14))
        env.reset()
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(saved)


def test_torch_threads_scope():
    from rewards.reward_rnn import TorchThreads

    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        scope = TorchThreads(1)
        with scope:
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with scope:  # reusable
            assert torch.get_num_threads() == 1
        with TorchThreads(None):
            assert torch.get_num_threads() == 2
        with pytest.raises(ValueError, match="torch_threads must be None or an integer >= 1"):
            SequenceTutorEnv(torch_threads=0)
        with pytest.raises(ValueError, match="got True"):
            TorchThreads(True)
        assert SequenceTutorEnv(torch_threads=None).torch_threads.threads is None
    finally:
        torch.set_num_threads(saved)
