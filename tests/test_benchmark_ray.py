"""``--backend ray`` on one machine: a local Ray with 2 CPUs, tiny budgets.

Slow (starting Ray and importing torch/SB3 in its workers takes ~30-60 s on 2 cores), so marked.
The fast suite covers Ray's bad-input paths (unreachable address, missing extra) without it.
"""

from __future__ import annotations

import json
import os

import pytest

from sequence_tutor.benchmark.ray_backend import ray_session
from sequence_tutor.benchmark.results_table import collect_runs
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
