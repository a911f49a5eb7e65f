"""Cross-cutting property tests (issue 8): the environment and the melody readers under
arbitrary input. Nothing may crash except with the documented errors, and the invariants hold:
the observation is inside its space and spells the episode so far, the reward is finite and
equals its terms combined as documented, the episode ends exactly after T actions.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import envs  # noqa: F401  (registers SequenceTutor-v0)
from pretrain.errors import SequenceTutorError
from pretrain.tokenizer import MelodyError, build_melody, melody_tokens
from pretrain.vocabulary import DEFAULT_VOCABULARY

V = DEFAULT_VOCABULARY.size
PAD = V
TONICS = ["C", "C#", "Db", "D", "D#", "Eb", "E", "E#", "Fb", "F", "F#", "Gb", "G", "G#", "Ab",
          "A", "A#", "Bb", "B", "B#", "Cb"]  # fmt: skip


def music21_modes() -> list[str]:
    from music21 import key  # noqa: PLC0415

    return sorted(key.modeSharpsAlter)


MODES = music21_modes()
FAST = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

_ENVS: dict = {}


def make_env(**kwargs):
    """Envs are cached per configuration: building one loads the Reward RNN."""
    key = tuple(sorted(kwargs.items()))
    if key not in _ENVS:
        _ENVS[key] = gym.make("SequenceTutor-v0", **kwargs).unwrapped
    return _ENVS[key]


def check_step(env, obs, reward, terminated, truncated, info, actions, primer_last):
    T = env.melody_length
    assert env.observation_space.contains(obs) and obs.dtype == np.int64
    assert obs[0] == primer_last
    assert obs[1 : 1 + len(actions)].tolist() == actions
    assert (obs[1 + len(actions) :] == PAD).all()
    assert type(reward) is float and math.isfinite(reward)
    assert type(terminated) is bool and truncated is False
    assert terminated == (len(actions) == T)
    assert info["step"] == len(actions) - 1
    terms = info["reward_terms"]
    assert all(math.isfinite(v) for v in terms.values())
    rules = sum(v for k, v in terms.items() if k != "note_rnn")
    assert math.isclose(
        reward, rules / env.reward_scale + terms["note_rnn"], rel_tol=1e-12, abs_tol=1e-12
    )
    assert info["log_prob"] <= 0 and math.isfinite(info["log_prob"])
    assert math.isclose(
        terms["note_rnn"], env.note_rnn_weight * info["log_prob"], rel_tol=1e-12, abs_tol=1e-15
    )


@FAST
@given(
    seed=st.integers(0, 2**31 - 1),
    length=st.sampled_from([1, 2, 3, 5, 8, 32, 33]),
    data=st.data(),
)
def test_random_episodes_keep_the_invariants(seed, length, data):
    env = make_env(melody_length=length)
    obs, info = env.reset(seed=seed)
    assert env.observation_space.contains(obs)
    primer_last = int(obs[0])
    actions: list[int] = []
    for _ in range(length):
        action = data.draw(st.integers(0, V - 1))
        actions.append(action)
        out = env.step(action)
        check_step(env, *out, actions, primer_last)
    assert env.composition.tolist() == actions
    with pytest.raises(ResetNeeded):
        env.step(0)


INVALID_ACTIONS = [-1, V, V + 1, 2**63, -(2**63), 1.0, 2.5, float("nan"), "3", None, True,
                   np.bool_(True), np.array([1, 2]), np.float32(3), [3], (3,), object()]  # fmt: skip


@pytest.mark.parametrize("action", INVALID_ACTIONS, ids=repr)
def test_invalid_action_is_a_value_error_and_changes_nothing(action):
    env = make_env(melody_length=8)
    twin = make_env(melody_length=8, key="C major")  # a different cached instance
    assert env is not twin
    for e in (env, twin):
        e.reset(seed=3)
        e.step(5)
    with pytest.raises(ValueError, match="action"):
        env.step(action)
    a = env.step(7)
    b = twin.step(7)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1] and a[4] == b[4]


@FAST
@given(seed=st.integers(0, 2**31 - 1), cut=st.integers(0, 8), data=st.data())
def test_reset_mid_episode_starts_afresh(seed, cut, data):
    env = make_env(melody_length=8)
    env.reset(seed=seed)
    for _ in range(cut):
        env.step(data.draw(st.integers(0, V - 1)))
    primer = data.draw(st.lists(st.integers(0, V - 1), min_size=1, max_size=6))
    obs, _ = env.reset(options={"primer": primer})
    assert obs[0] == primer[-1] and (obs[1:] == PAD).all()
    assert env.composition.size == 0
    actions = [data.draw(st.integers(0, V - 1)) for _ in range(8)]
    fresh = make_env(melody_length=8, key="C major")
    fresh.reset(options={"primer": primer})
    for t, action in enumerate(actions):
        a, b = env.step(action), fresh.step(action)
        check_step(env, *a, actions[: t + 1], primer[-1])
        assert a[1] == b[1] and a[4]["reward_terms"] == b[4]["reward_terms"]


@pytest.mark.parametrize("primer", [[], [-1], [V], [1.5], "C", [2**40], [True], {"a": 1}], ids=repr)
def test_invalid_primer_is_a_value_error(primer):
    env = make_env(melody_length=4)
    with pytest.raises(ValueError, match="primer"):
        env.reset(options={"primer": primer})


@pytest.mark.parametrize("mode", MODES)
def test_every_music21_mode_and_tonic_is_accepted_or_refused_cleanly(mode):
    """Every tonic spelling with every mode music21 knows: the env either builds and keeps its
    invariants over a random episode, or refuses the key with a ValueError naming it."""
    rng = np.random.default_rng(0)
    built = 0
    for tonic in TONICS:
        name = f"{tonic} {mode}"
        try:
            env = make_env(melody_length=6, key=name)
        except ValueError as exc:
            assert tonic.replace("b", "-") in str(exc) or tonic in str(exc), exc
            continue
        built += 1
        obs, _ = env.reset(seed=int(rng.integers(1000)))
        assert env.tables.is_note[obs[0]] and env.tables.in_key[obs[0]]  # a note of the key
        actions = []
        for _ in range(6):
            actions.append(int(rng.integers(V)))
            check_step(env, *env.step(actions[-1]), actions, int(obs[0]))
    assert built >= 15, f"only {built} tonics of {mode} were accepted"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"melody_length": 0},
        {"melody_length": -1},
        {"melody_length": 10_001},
        {"melody_length": 2.0},
        {"melody_length": True},
        {"reward_scale": 0},
        {"reward_scale": -1},
        {"reward_scale": float("nan")},
        {"reward_scale": float("inf")},
        {"note_rnn_weight": float("nan")},
        {"note_rnn_weight": "x"},
        {"key": "H major"},
        {"key": "C blues"},
        {"key": ""},
        {"key": "C major minor"},
        {"render_mode": "text"},
    ],
    ids=repr,
)
def test_bad_arguments_are_value_errors(kwargs):
    with pytest.raises(ValueError):
        gym.make("SequenceTutor-v0", **kwargs)


@pytest.mark.parametrize("length", [1, 10_000])
def test_extreme_melody_lengths(length):
    env = make_env(melody_length=length)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (1 + length,)
    rng = np.random.default_rng(length)
    rewards = []
    for t in range(length):
        obs, reward, terminated, truncated, info = env.step(int(rng.integers(V)))
        rewards.append(reward)
        assert terminated == (t == length - 1) and not truncated
    assert np.isfinite(rewards).all()
    assert env.observation_space.contains(obs) and (obs[1:] != PAD).all()


@pytest.mark.parametrize("weights", [(1e-9, 0.0), (1e9, 1e9), (0.5, -5.0)])
def test_extreme_reward_weights_stay_finite(weights):
    c, w = weights
    env = make_env(melody_length=32, reward_scale=c, note_rnn_weight=w)
    env.reset(seed=1)
    rng = np.random.default_rng(1)
    actions = []
    for _ in range(32):
        actions.append(int(rng.integers(V)))
        out = env.step(actions[-1])
        assert math.isfinite(out[1])


def test_same_seed_same_episode():
    a, b = make_env(melody_length=16), make_env(melody_length=16, key="C major")
    rng = np.random.default_rng(5)
    actions = rng.integers(0, V, 16).tolist()
    oa, _ = a.reset(seed=11)
    ob, _ = b.reset(seed=11)
    assert np.array_equal(oa, ob)
    for action in actions:
        ra, rb = a.step(action), b.step(action)
        assert ra[1] == rb[1] and ra[4]["reward_terms"] == rb[4]["reward_terms"]


# --------------------------------------------------------------------------- melodies

note_events = st.lists(
    st.tuples(
        st.floats(0, 64, allow_nan=False),  # onset (quarters)
        st.one_of(
            st.sampled_from([0.25, 0.5, 1.0, 1.5, 2.0, 4.0, 1 / 3, 2 / 3, 1 / 6, 0.125, 0.0]),
            st.floats(0, 8, allow_nan=False),
        ),  # duration: grid, tuplets, 32nds, zero, arbitrary
        st.integers(0, 127),  # any MIDI pitch, most outside the vocabulary
        st.booleans(),  # tied to the previous note
    ),
    max_size=40,
)

REASONS = {"empty", "polyphonic", "off-grid", "out-of-range", "unpitched", "too-long"}


@settings(max_examples=200, deadline=None)
@given(events=note_events, end=st.floats(0, 100, allow_nan=False))
def test_note_lists_tokenise_or_give_a_documented_reason(events, end):
    events = sorted(events, key=lambda e: e[0])
    try:
        melody = build_melody(events, end, source="random")
        tokens = melody_tokens(melody, DEFAULT_VOCABULARY, 4, source="random")
    except MelodyError as exc:
        assert exc.reason in REASONS and "random" in str(exc) and "\n" not in str(exc)
        return
    assert tokens.dtype == np.int64 and tokens.ndim == 1 and len(tokens) >= 1
    assert ((tokens >= 0) & (tokens < V)).all()
    assert tokens[0] >= 2 or tokens[0] == 0  # starts with a note or a rest, never a hold
    notes = tokens[tokens >= 2] + DEFAULT_VOCABULARY.min_pitch - 2
    pitches = {p for _, _, p, _ in events}
    assert set(notes.tolist()) <= pitches


ABC_NOTE = st.builds(
    lambda acc, name, octave, length: acc + name + octave + length,
    st.sampled_from(["", "^", "_", "=", "^^", "__"]),
    st.sampled_from(list("CDEFGABcdefgab") + ["z", "x"]),
    st.sampled_from(["", ",", "'", ",,", "''"]),
    st.sampled_from(["", "2", "3", "4", "/", "/2", "3/2", "//", "8", "16", "0"]),
)
ABC_ITEM = st.one_of(
    ABC_NOTE,
    st.builds(lambda a, b: f"{a}-{b}", ABC_NOTE, ABC_NOTE),  # ties
    st.builds(lambda n, xs: f"({n}" + "".join(xs), st.sampled_from([2, 3, 4, 5, 6, 7, 9]),
              st.lists(ABC_NOTE, min_size=1, max_size=4)),  # tuplets
    st.builds(lambda xs: "[" + "".join(xs) + "]", st.lists(ABC_NOTE, min_size=1, max_size=3)),
    st.sampled_from(["|", "||", "|:", ":|", "|]", ">", "<", " ", "{g}", '"C"', "!trill!", "~"]),
)  # fmt: skip


def check_random_abc_tune(items, meter, unit, key):
    from pretrain.abc_reader import abc_tune_melody, split_abc_tunes  # noqa: PLC0415
    from pretrain.corpus import normalise_melody  # noqa: PLC0415

    text = f"X:1\nT:random\nM:{meter}\nL:{unit}\nK:{key}\n{''.join(items)}|]\n"
    tunes = split_abc_tunes(text)
    assert len(tunes) == 1
    try:
        melody = abc_tune_melody(tunes[0], source="random.abc#0")
    except MelodyError as exc:
        assert exc.reason in REASONS | {"unreadable"}, exc.reason
        assert "random.abc#0" in str(exc) and "\n" not in str(exc)
        return
    try:
        melody = normalise_melody(melody, DEFAULT_VOCABULARY).trimmed()
        tokens = melody_tokens(melody, DEFAULT_VOCABULARY, 4, source="random.abc#0")
    except MelodyError as exc:  # the corpus counts these by reason
        assert exc.reason in REASONS, exc.reason
        return
    assert ((tokens >= 0) & (tokens < V)).all() and len(tokens) >= 1


abc_tunes = dict(
    items=st.lists(ABC_ITEM, max_size=30),
    meter=st.sampled_from(["4/4", "3/4", "6/8", "2/2", "C", "C|", "5/4", "none"]),
    unit=st.sampled_from(["1/8", "1/4", "1/16", "1/2"]),
    key=st.sampled_from(["C", "G", "Dm", "Bb", "F#m", "Ador", "Emix", "none", "HP"]),
)


@settings(max_examples=12, deadline=None)
@given(**abc_tunes)
def test_random_abc_tunes_read_or_give_a_documented_reason(items, meter, unit, key):
    check_random_abc_tune(items, meter, unit, key)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(**abc_tunes)
def test_many_random_abc_tunes_read_or_give_a_documented_reason(items, meter, unit, key):
    check_random_abc_tune(items, meter, unit, key)


@settings(max_examples=15, deadline=None)
@given(tunes=st.lists(st.lists(ABC_ITEM, min_size=1, max_size=12), min_size=1, max_size=6))
def test_random_abc_folder_loads_or_refuses_cleanly(tmp_path_factory, tunes):
    from pretrain.corpus import load_corpus  # noqa: PLC0415

    folder = tmp_path_factory.mktemp("abc")
    text = "".join(
        f"X:{i + 1}\nT:t{i}\nM:4/4\nL:1/8\nK:C\n{''.join(items)}|]\n\n"
        for i, items in enumerate(tunes)
    )
    (folder / "tunes.abc").write_text(text)
    try:
        corpus = load_corpus(folder, cache_dir=folder / "cache", workers=1, progress=False)
    except SequenceTutorError as exc:
        assert "no usable melody" in str(exc) and "\n" not in str(exc)
        return
    report = corpus.report
    assert report.kept + sum(report.skipped.values()) == len(tunes)
    for tune in corpus.train + corpus.valid:
        assert ((tune >= 0) & (tune < V)).all()
    assume(report.kept > 0)
