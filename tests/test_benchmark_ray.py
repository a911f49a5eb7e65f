"""``--backend ray`` on one machine: a local Ray with 2 CPUs, tiny budgets: built-in, SB3,
policy-gradient and user agents, a reward-scale sweep, resuming, and an Optuna search.

Slow (starting Ray and importing torch/SB3 in its workers takes ~30-60 s on 2 cores), so marked.
The fast suite covers Ray's bad-input paths (unreachable address, missing extra) without it.
"""

from __future__ import annotations

import csv
import json
import os

import pytest

from sequence_tutor.benchmark.ray_backend import keep_reported_run, ray_session
from sequence_tutor.benchmark.results_table import OBJECTIVE_COLUMNS, collect_runs
from sequence_tutor.benchmark.runner import execute_run
from sequence_tutor.benchmark.spec import RunSpec
from sequence_tutor.cli import main

pytest.importorskip("ray")
pytest.importorskip("optuna")

pytestmark = pytest.mark.slow

T = 8


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray (2 CPUs) for the module; the backend reuses it instead of starting its own."""
    with ray_session(None, 2) as ray:
        yield ray


def _samples(out, run_id):
    return (out / "runs" / run_id / "samples.jsonl").read_text()


def test_ray_runs_the_same_runs_as_the_local_backend(local_ray, tmp_path, capsys):
    out = tmp_path / "ray"
    argv = [
        "benchmark", "--backend", "ray", "--agents",
        "random,ppo,tests.test_benchmark:make_agent,tests.test_benchmark:make_bad_agent",
        "--seeds", "0", "--steps", "32", "--eval-episodes", "3",
        "--env-kwargs", f"melody_length={T}", "--out", str(out),
    ]  # fmt: skip
    code = main(argv)
    err = capsys.readouterr().err
    # The bad factory fails in its trial: one-line error, the other trials' results kept.
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert "tests.test_benchmark:make_bad_agent" in last and "without learn() and predict()" in last
    runs = {m["agent"]: m for m in collect_runs(out)}
    assert set(runs) == {"random", "ppo", "tests.test_benchmark:make_agent"}
    header = (out / "results.md").read_text().splitlines()[0]
    assert "ppo" in header and "random" in header
    assert runs["ppo"]["train_steps"] == 32
    assert os.getpid() not in {m["pid"] for m in runs.values()}  # ran in Ray workers
    # Each trial is exactly the local run of the same spec.
    for agent in ("random", "ppo", "tests.test_benchmark:make_agent"):
        spec = RunSpec.from_dict(runs[agent]["spec"])
        local = execute_run(spec, tmp_path / "local")
        assert _samples(out, spec.run_id) == _samples(tmp_path / "local", spec.run_id)
        assert local["mean_return"] == runs[agent]["mean_return"]
    # --resume: nothing left to run for the good agents.
    code = main([*argv[:4], "random,ppo", *argv[5:], "--resume"])
    assert code == 0
    assert "2 already finished, skipped" in capsys.readouterr().err


def test_ray_sweeps_reward_scales_with_a_policy_gradient_agent(local_ray, tmp_path, capsys):
    out = tmp_path / "ray"
    code = main(
        [
            "benchmark",
            "--backend",
            "ray",
            "--agents",
            "random,rloo",
            "--seeds",
            "0",
            "--steps",
            "64",
            "--eval-episodes",
            "4",
            "--env-kwargs",
            f"melody_length={T}",
            "--reward-scales",
            "0.5,2",
            "--out",
            str(out),
            "--no-plots",
        ]  # fmt: skip
    )
    assert code == 0, capsys.readouterr().err
    # results.csv: one row per agent and reward scale, each with the objective and its interval
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted((r["agent"], float(r["reward_scale"])) for r in rows) == [
        ("random", 0.5), ("random", 2.0), ("rloo", 0.5), ("rloo", 2.0),
    ]  # fmt: skip
    for row in rows:
        assert row["seeds"] == "1"
        for name in OBJECTIVE_COLUMNS:
            low, value, high = (float(row[k]) for k in (f"{name}_low", name, f"{name}_high"))
            assert low <= value <= high
        assert float(row["kl_to_prior"]) >= -1e-9 and float(row["log_p_note_rnn"]) < 0
    table = (out / "results.md").read_text()
    assert "rloo [melody_length=8, reward_scale=2]" in table and "IQM [95 % CI]" in table
    runs = collect_runs(out)
    assert len(runs) == 4 and os.getpid() not in {m["pid"] for m in runs}  # ran in Ray workers
    assert all(m["train_steps"] >= 64 for m in runs if m["agent"] == "rloo")
    for m in runs:
        assert m["reward_scale"] == m["env_kwargs"]["reward_scale"]
        assert m["objective"] == pytest.approx(
            m["rule_reward"] / m["reward_scale"] - m["note_rnn_weight"] * m["kl_to_prior"]
        )
    # What each trial reported to Tune is what a driver without the workers' disk writes: the
    # run folder rebuilt from it has every file the tables and report read, byte for byte.
    reports = sorted((out / "ray_results").rglob("result.json"))
    assert len(reports) == 4
    for path in reports:
        reported = json.loads(path.read_text().splitlines()[-1])
        metrics = keep_reported_run(reported, tmp_path / "driver")
        for name in ("samples.jsonl", "objective_samples.jsonl"):
            theirs = tmp_path / "driver" / "runs" / metrics["run_id"] / name
            assert theirs.read_text() == (out / "runs" / metrics["run_id"] / name).read_text()
    assert len(collect_runs(tmp_path / "driver")) == 4


def test_optuna_search_through_ray_tune(local_ray, tmp_path, capsys):
    code = main(
        [
            "benchmark",
            "--backend",
            "ray",
            "--search",
            "optuna",
            "--algo",
            "dqn-mlp",
            "--trials",
            "2",
            "--steps",
            "32",
            "--eval-episodes",
            "3",
            "--env-kwargs",
            f"melody_length={T}",
            "--out",
            str(tmp_path),
        ]  # fmt: skip
    )
    assert code == 0, capsys.readouterr().err
    runs = collect_runs(tmp_path)
    assert len(runs) == 2
    for metrics in runs:
        assert 0.1 <= metrics["spec"]["env_kwargs"]["reward_scale"] <= 10
        assert 0.0 <= metrics["spec"]["hyperparams"]["exploration_final_eps"] <= 0.2
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["value"] == max(m["paper_return"] for m in runs)
