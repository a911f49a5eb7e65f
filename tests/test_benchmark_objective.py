"""The benchmark measures the objective of every run (J, Σ r_theory, exact KL, log p), with IQM
intervals over seeds, sweeps reward scales and draws the frontier; the policy-gradient agents
run in it. Plug-in factories: ``tests.test_benchmark_objective:make_...``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from sequence_tutor.cli import main

T = 8
ENV = f"melody_length={T}"


class UniformAgent:
    """Exposes ``action_probabilities``: uniform over the 38 actions."""

    def __init__(self, env):
        self.env = env

    def learn(self, total_timesteps):
        return self

    def action_probabilities(self, obs):
        return np.full((len(np.atleast_2d(obs)), 38), 1 / 38)

    def predict(self, obs, deterministic=False):
        return self.env.action_space.sample(), None


# The bad agents' learn() calls, by agent class: a bad action_probabilities must fail the run
# before training (the local backend runs it in this process).
LEARN_CALLS: list[str] = []


class WrongShapeAgent(UniformAgent):
    def learn(self, total_timesteps):
        LEARN_CALLS.append(type(self).__name__)
        return self

    def action_probabilities(self, obs):
        return np.full((len(np.atleast_2d(obs)), 37), 1 / 37)


class NotProbabilitiesAgent(WrongShapeAgent):
    def action_probabilities(self, obs):
        return np.full((len(np.atleast_2d(obs)), 38), 0.5)


class RaisingProbabilitiesAgent(WrongShapeAgent):
    def action_probabilities(self, obs):
        raise RuntimeError("no network before learn()\nsecond line")


def make_uniform(env):
    return UniformAgent(env)


def make_wrong_shape(env):
    return WrongShapeAgent(env)


def make_not_probabilities(env):
    return NotProbabilitiesAgent(env)


def make_raising_probabilities(env):
    return RaisingProbabilitiesAgent(env)


def _run(out: Path, capsys, *argv: str) -> tuple[int, str, str]:
    code = main(
        ["benchmark", "--env-kwargs", ENV, "--eval-episodes", "6", "--out", str(out), *argv]
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _metrics(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*/metrics.json"))]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("objective")
    code = main(
        [
            "benchmark",
            "--agents",
            "psi,rloo,ppo-kl,tests.test_benchmark_objective:make_uniform,dqn-mlp",
            "--seeds",
            "0,1",
            "--steps",
            "64",
            "--eval-episodes",
            "6",
            "--env-kwargs",
            ENV,
            "--reward-scales",
            "0.5,2",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    return out


def test_every_run_has_the_objective_and_keeps_its_compositions(sweep):
    runs = _metrics(sweep)
    assert len(runs) == 5 * 2 * 2
    for m in runs:
        c = m["env_kwargs"]["reward_scale"]
        assert m["reward_scale"] == c and c in (0.5, 2)
        if m["agent"] == "dqn-mlp":  # predict only: KL and J not available
            assert m["objective"] is None and m["kl_to_prior"] is None
            assert m["rule_reward"] is not None and m["log_p_note_rnn"] < 0
            continue
        assert m["objective"] == pytest.approx(
            m["rule_reward"] / c - m["note_rnn_weight"] * m["kl_to_prior"]
        )
        assert m["rule_reward_scaled"] == pytest.approx(m["rule_reward"] / c)
        assert m["kl_to_prior"] >= -1e-9 and m["log_p_note_rnn"] < 0
        folder = sweep / "runs" / m["run_id"]
        lines = (folder / "objective_samples.jsonl").read_text().splitlines()
        assert len(lines) == 6
        record = json.loads(lines[0])
        assert set(record) == {"tokens", "primer", "key", "agent", "seed"}
        assert len(record["tokens"]) == T and record["agent"] == m["agent"]
        assert len((folder / "samples.jsonl").read_text().splitlines()) == 6
    uniform = [m for m in runs if m["agent"].endswith("make_uniform")]
    # uniform π: KL(u ‖ p) = Σ_t (−log 38 − mean_a log p(a|s_t)) > 0 and log π = T · (−log 38)
    assert all(m["kl_to_prior"] > 1 for m in uniform)
    assert all(m["log_pi"] == pytest.approx(-T * np.log(38)) for m in uniform)
    policy_gradient = [m for m in runs if m["agent"] in ("rloo", "ppo-kl")]
    assert all(m["train_steps"] >= 64 for m in policy_gradient)
    # their curves come from what they logged (one point per batch / rollout of their own envs)
    for m in policy_gradient:
        assert m["curve"]["steps"] == [m["train_steps"]] and len(m["curve"]["returns"]) == 1


def test_results_have_iqm_intervals_per_agent_and_scale(sweep):
    rows = list(csv.DictReader((sweep / "results.csv").open()))
    assert len(rows) == 5 * 2
    for row in rows:
        for name in ("objective", "kl_to_prior", "rule_reward", "log_p_note_rnn"):
            if row["agent"] == "dqn-mlp" and name in ("objective", "kl_to_prior"):
                assert row[name] == row[f"{name}_low"] == ""
                continue
            low, value, high = (float(row[k]) for k in (f"{name}_low", name, f"{name}_high"))
            assert low <= value <= high
    runs = _metrics(sweep)
    psi = sorted(m["kl_to_prior"] for m in runs if m["agent"] == "psi" and m["reward_scale"] == 2)
    row = next(r for r in rows if r["agent"] == "psi" and float(r["reward_scale"]) == 2)
    assert float(row["kl_to_prior"]) == pytest.approx(np.mean(psi))  # IQM of 2 = the mean
    assert row["p_improvement_over_psi"] == ""
    others = [r for r in rows if r["agent"] == "rloo"]
    assert all(0 <= float(r["p_improvement_over_psi"]) <= 1 for r in others)
    table = (sweep / "results.md").read_text()
    assert "IQM [95 % CI]" in table and "P(J > J of psi)" in table and "n/a" in table
    assert "psi [melody_length=8, reward_scale=0.5]" in table


def test_plots_show_intervals_and_the_frontier(sweep):
    for name in ("frontier.png", "objective_intervals.png"):
        assert (sweep / "plots" / name).read_bytes()[:4] == b"\x89PNG"


BAD_PROBABILITIES = [
    ("make_wrong_shape", "returned shape (6, 37)"),
    ("make_not_probabilities", "returned rows summing to 1"),
    (
        "make_raising_probabilities",
        "failed on 6 reset observations of shape (6, 9), before training "
        "(RuntimeError: no network before learn())",
    ),
]


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "error" in line.lower()]


@pytest.mark.parametrize(("factory", "message"), BAD_PROBABILITIES)
def test_bad_probabilities_fail_the_run_naming_the_agent(factory, message, tmp_path, capsys):
    agent = f"tests.test_benchmark_objective:{factory}"
    LEARN_CALLS.clear()
    code, _, err = _run(tmp_path, capsys, "--agents", f"random,{agent}", "--steps", "16")
    assert code == 2
    # one line, the last, naming the agent and what it returned; no traceback
    (line,) = _error_lines(err)
    assert line == err.strip().splitlines()[-1] and "Traceback" not in err
    assert line.startswith("sequence-tutor benchmark: error: run ")
    assert f"{agent}.action_probabilities {message}" in line
    assert LEARN_CALLS == []  # failed right after it was built, before training
    finished = _metrics(tmp_path)
    assert [m["agent"] for m in finished] == ["random"]  # the finished run's table is kept
    assert "random" in (tmp_path / "results.md").read_text()
    (kept,) = (tmp_path / "runs").iterdir()  # nothing of the failed run is left
    assert kept.name == finished[0]["run_id"]
    assert {p.name for p in kept.iterdir()} >= {"metrics.json", "samples.jsonl", "tb"}


@pytest.mark.parametrize(("factory", "message"), BAD_PROBABILITIES[:1])
def test_a_sweep_where_nothing_finished_leaves_no_tables_or_run_folders(
    factory, message, tmp_path, capsys
):
    agent = f"tests.test_benchmark_objective:{factory}"
    LEARN_CALLS.clear()
    code, out, err = _run(tmp_path, capsys, "--agents", agent, "--steps", "16")
    assert code == 2 and out == "" and "Traceback" not in err and LEARN_CALLS == []
    (line,) = _error_lines(err)
    assert f"{agent}.action_probabilities {message}" in line and "no run finished" in line
    # the plan (benchmark.json, complete) is all there is: no runs/, no empty tables
    assert sorted(p.name for p in tmp_path.iterdir()) == ["benchmark.json"]


def test_a_good_user_agent_learns_after_the_probe(tmp_path, capsys):
    calls = []

    class Probed(UniformAgent):
        def learn(self, total_timesteps):
            calls.append("learn")
            return self

        def action_probabilities(self, obs):
            calls.append(np.asarray(obs).shape)
            return super().action_probabilities(obs)

    from sequence_tutor.benchmark.runner import check_user_probabilities
    from sequence_tutor.benchmark.spec import RunSpec

    agent = Probed(None)
    spec = RunSpec("tests.x:make", 0, 16, env_kwargs={"melody_length": T}, eval_episodes=6)
    check_user_probabilities(agent, spec)
    assert calls == [(6, 1 + T)]
    calls.clear()
    check_user_probabilities(agent, RunSpec("random", 0, 16, env_kwargs={"melody_length": T}))
    assert calls == []  # built-in agents are not probed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--reward-scales", ""], "--reward-scales: the list '' is empty"),
        (
            ["--reward-scales", "0.5,-1"],
            "--reward-scales: '-1' in '0.5,-1' must be a finite number > 0",
        ),
        (["--reward-scales", "0.5,x"], "--reward-scales: 'x' in '0.5,x' is not a number"),
        (["--agents", "psi,sac"], "--agents: 'sac' is neither a built-in agent"),
    ],
)
def test_bad_sweep_input_is_one_line_before_any_run(argv, message, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = _run(out, capsys, *argv, "--steps", "0")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
