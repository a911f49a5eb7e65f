"""Parsing the benchmark's command-line lists into runs (no training here)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pretrain.errors import SequenceTutorError
from sequence_tutor.benchmark.spec import (
    BUILTIN_AGENT_NAMES,
    RunSpec,
    expand_runs,
    parse_agents,
    parse_env_kwargs,
    parse_seeds,
)


def test_seeds_lists_and_ranges():
    assert parse_seeds("0,1") == [0, 1]
    assert parse_seeds("3, 1,1") == [1, 3]
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]


@pytest.mark.parametrize("text", ["", " , ", ","])
def test_empty_seed_list_is_a_one_line_error(text):
    with pytest.raises(SequenceTutorError, match="--seeds: the seed list .* is empty") as info:
        parse_seeds(text)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["a", "1.5", "4-2", "-1"])
def test_bad_seed_names_the_entry(text):
    with pytest.raises(SequenceTutorError, match="--seeds"):
        parse_seeds(text)


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=20))
def test_seed_lists_round_trip(seeds):
    assert parse_seeds(",".join(map(str, seeds))) == sorted(set(seeds))


def test_agents_builtin_and_import_paths():
    assert parse_agents(["random,ppo", "mypkg.mod:make_agent", "ppo"]) == [
        "random",
        "ppo",
        "mypkg.mod:make_agent",
    ]
    with pytest.raises(SequenceTutorError, match="'nope' is neither a built-in agent"):
        parse_agents(["random,nope"])
    with pytest.raises(SequenceTutorError, match="agent list is empty"):
        parse_agents([" , "])


def test_env_kwargs_forms():
    assert parse_env_kwargs(None) == [{}]
    assert parse_env_kwargs(['{"reward_scale": 1.0}']) == [{"reward_scale": 1.0}]
    assert parse_env_kwargs(['[{"melody_length": 8}, {"melody_length": 16}]']) == [
        {"melody_length": 8},
        {"melody_length": 16},
    ]
    assert parse_env_kwargs(["reward_scale=0.5,melody_length=8,key=A minor"]) == [
        {"reward_scale": 0.5, "melody_length": 8, "key": "A minor"}
    ]
    with pytest.raises(SequenceTutorError, match="--env-kwargs: .* not valid JSON"):
        parse_env_kwargs(["{bad"])
    with pytest.raises(SequenceTutorError, match="not key=value"):
        parse_env_kwargs(["reward_scale"])


@given(
    st.dictionaries(
        st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True),
        st.one_of(st.integers(-1000, 1000), st.floats(0.01, 100, allow_nan=False)),
        min_size=1,
        max_size=4,
    )
)
def test_key_value_settings_keep_numbers(setting):
    text = ",".join(f"{k}={v!r}" for k, v in setting.items())
    assert parse_env_kwargs([text]) == [setting]


def test_runs_are_the_full_product_with_unique_stable_ids():
    runs = expand_runs(["random", "ppo"], [0, 1, 2], [{}, {"reward_scale": 1.0}], steps=100)
    assert len(runs) == 2 * 3 * 2
    assert len({r.run_id for r in runs}) == len(runs)
    assert all(r.steps == 100 for r in runs)
    again = expand_runs(["random", "ppo"], [0, 1, 2], [{}, {"reward_scale": 1.0}], steps=100)
    assert [r.run_id for r in runs] == [r.run_id for r in again]
    # Seed-major: an interrupted sweep has every agent at seed 0 first.
    assert [r.seed for r in runs[:4]] == [0, 0, 0, 0]


def test_run_id_changes_with_anything_that_changes_the_outcome():
    base = RunSpec("psi", 0, 100)
    changed = [
        RunSpec("psi", 0, 200),
        RunSpec("psi", 0, 100, env_kwargs={"reward_scale": 1.0}),
        RunSpec("psi", 0, 100, hyperparams={"gamma": 0.9}),
        RunSpec("psi", 0, 100, eval_episodes=5),
        RunSpec("psi", 1, 100),
        RunSpec("q", 0, 100),
    ]
    assert len({base.run_id, *(c.run_id for c in changed)}) == len(changed) + 1
    assert RunSpec.from_dict(base.to_dict()) == base


def test_bad_budgets():
    with pytest.raises(SequenceTutorError, match="--steps"):
        expand_runs(["random"], [0], [{}], steps=-1)
    with pytest.raises(SequenceTutorError, match="--eval-episodes"):
        expand_runs(["random"], [0], [{}], steps=1, eval_episodes=0)


def test_builtin_names_cover_the_issue():
    assert set(BUILTIN_AGENT_NAMES) == {
        "random",
        "note-rnn",
        "q",
        "psi",
        "g",
        "rloo",
        "grpo",
        "ppo-kl",
        "dqn-mlp",
        "ppo",
        "maskable-ppo",
        "recurrent-ppo",
    }
