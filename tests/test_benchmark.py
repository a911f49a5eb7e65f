"""``sequence-tutor benchmark`` on the real SequenceTutor-v0 with tiny budgets (8-step melodies).

The factories below are the plug-in example: ``--agents tests.test_benchmark:make_agent``.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pretrain.errors import SequenceTutorError
from sequence_tutor.benchmark.plots import seed_band
from sequence_tutor.benchmark.results_table import aggregate, collect_runs, markdown_table
from sequence_tutor.benchmark.runner import EpisodeRecorder, evaluate_agent, execute_run, make_env
from sequence_tutor.benchmark.spec import RunSpec, expand_runs
from sequence_tutor.cli import main

# Table 1 statistics come from the agents' evaluation module (sequence_tutor/evaluation/table1.py).
needs_evaluation = pytest.mark.skipif(
    importlib.util.find_spec("sequence_tutor.evaluation.table1") is None,
    reason="sequence_tutor.evaluation.table1 not installed",
)

T = 8
ENV = f"melody_length={T}"
TONIC = 14  # C4 in C major


class TonicAgent:
    """Learns by stepping its env with random actions (so the budget is observable); always
    composes the tonic, so its statistics are known exactly."""

    def __init__(self, env):
        self.env = env
        self.learned_steps = 0

    def learn(self, total_timesteps):
        self.env.reset()
        for _ in range(total_timesteps):
            _, _, terminated, truncated, _ = self.env.step(self.env.action_space.sample())
            self.learned_steps += 1
            if terminated or truncated:
                self.env.reset()
        return self

    def predict(self, obs, deterministic=False):
        return TONIC


def make_agent(env):
    return TonicAgent(env)


def make_bad_agent(env):
    return object()


def make_agent_without_predict(env):
    class LearnsOnly:
        def learn(self, total_timesteps):
            return self

    return LearnsOnly()


NOT_CALLABLE = 3


def _cli(capsys, *argv, plots=False):
    # Figures cost seconds each on a busy machine; the shared fixture below checks them.
    code = main(["benchmark", *argv, *([] if plots else ["--no-plots"])])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _metrics(out: Path) -> dict[str, dict]:
    runs = {}
    for path in sorted((out / "runs").glob("*/metrics.json")):
        metrics = json.loads(path.read_text())
        runs[(metrics["agent"], metrics["seed"])] = metrics
    return runs


@pytest.fixture(scope="module")
def benchmark_out(tmp_path_factory):
    """One small benchmark shared by the tests that read its results folder."""
    out = tmp_path_factory.mktemp("bench")
    code = main(
        [
            "benchmark",
            "--agents",
            "random,note-rnn,ppo,tests.test_benchmark:make_agent",
            "--seeds",
            "0,1",
            "--steps",
            "64",
            "--eval-episodes",
            "6",
            "--env-kwargs",
            ENV,
            "--out",
            str(out),
        ]
    )
    assert code == 0
    return out


def test_every_run_finished_with_the_same_budget(benchmark_out):
    runs = _metrics(benchmark_out)
    assert set(runs) == {
        (agent, seed)
        for agent in ("random", "note-rnn", "ppo", "tests.test_benchmark:make_agent")
        for seed in (0, 1)
    }
    for (agent, _), metrics in runs.items():
        trained = agent in ("ppo", "tests.test_benchmark:make_agent")
        assert metrics["train_steps"] == (64 if trained else 0)
        assert metrics["train_episodes"] == (64 // T if trained else 0)
        assert metrics["eval_episodes"] == 6
        if trained:
            assert metrics["curve"]["steps"][-1] == 64
            assert metrics["steps_per_s"] > 0


@needs_evaluation
def test_plugin_agent_is_evaluated_through_its_predict(benchmark_out):
    metrics = _metrics(benchmark_out)[("tests.test_benchmark:make_agent", 0)]
    folder = benchmark_out / "runs" / metrics["run_id"]
    samples = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 6
    assert all(s["tokens"] == [TONIC] * T for s in samples)
    assert all(s["key"] == "C major" and s["seed"] == 0 for s in samples)
    assert metrics["table1"]["starts_with_tonic"] == 1.0
    assert metrics["table1"]["not_in_key"] == 0.0


def test_env_return_agrees_with_the_evaluation_module(benchmark_out):
    # Two independent computations of the same number: the env's summed rewards during
    # sampling, and sequence_tutor.evaluation.table1's reward (c = 0.5, w = 1, the env's defaults).
    for metrics in _metrics(benchmark_out).values():
        assert metrics["paper_return"] == pytest.approx(metrics["mean_return"], rel=1e-6, abs=1e-6)
        assert metrics["log_p_note_rnn"] < 0


def test_agents_of_one_seed_compose_from_the_same_primers(benchmark_out):
    runs = _metrics(benchmark_out)

    def primers(agent, seed):
        folder = benchmark_out / "runs" / runs[(agent, seed)]["run_id"]
        return [json.loads(line)["primer"] for line in (folder / "samples.jsonl").open()]

    assert primers("random", 0) == primers("ppo", 0) == primers("note-rnn", 0)
    assert primers("random", 0) != primers("random", 1)


def test_results_folder_has_tables_logs_and_plots(benchmark_out):
    md = (benchmark_out / "results.md").read_text()
    header = md.splitlines()[0]
    for agent in ("random", "note-rnn", "ppo", "tests.test_benchmark:make_agent"):
        assert agent in header
    assert "env steps/s (training)" in md
    assert len((benchmark_out / "runs.csv").read_text().splitlines()) == 1 + 8
    assert len((benchmark_out / "results.csv").read_text().splitlines()) == 1 + 4
    plan = json.loads((benchmark_out / "benchmark.json").read_text())
    assert len(plan["runs"]) == 8
    for name in ("learning_curves.png", "table1_bars.png", "piano_rolls.png"):
        data = (benchmark_out / "plots" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    for metrics in _metrics(benchmark_out).values():
        events = list(
            (benchmark_out / "runs" / metrics["run_id"] / "tb").rglob("events.out.tfevents.*")
        )
        assert events, metrics["run_id"]


def test_resume_skips_finished_runs_and_reruns_only_missing_ones(benchmark_out, tmp_path, capsys):
    args = [
        "--agents", "random,tests.test_benchmark:make_agent", "--seeds", "0,1", "--steps", "16",
        "--eval-episodes", "3", "--env-kwargs", ENV, "--out", str(tmp_path),
    ]  # fmt: skip
    assert _cli(capsys, *args)[0] == 0
    before = _metrics(tmp_path)
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*/metrics.json")}
    victim = tmp_path / "runs" / before[("random", 1)]["run_id"] / "metrics.json"
    victim.unlink()
    code, _, err = _cli(capsys, *args, "--resume")
    assert code == 0
    assert "3 already finished, skipped" in err
    assert "[1/1] random seed 1" in err
    for path, mtime in mtimes.items():
        if path != victim:
            assert path.stat().st_mtime_ns == mtime
    after = _metrics(tmp_path)
    redone = after[("random", 1)]
    assert redone["mean_return"] == before[("random", 1)]["mean_return"]  # same seed, same run
    assert len(collect_runs(tmp_path)) == 4


def test_resume_keeps_finished_runs_when_more_reward_scales_are_added(tmp_path, capsys):
    """A sweep extended with a reward scale in front keeps the runs it has (their setting index
    moved from 0 to 1, a label only)."""
    base = ["--agents", "random", "--seeds", "0", "--steps", "16", "--eval-episodes", "3",
            "--env-kwargs", ENV, "--out", str(tmp_path), "--no-plots"]  # fmt: skip
    assert _cli(capsys, *base, "--reward-scales", "0.5")[0] == 0
    (finished,) = (tmp_path / "runs").glob("*/metrics.json")
    mtime = finished.stat().st_mtime_ns
    code, _, err = _cli(capsys, *base, "--reward-scales", "0.1,0.5", "--resume")
    assert code == 0
    assert "1 already finished, skipped" in err
    assert finished.stat().st_mtime_ns == mtime
    assert len(collect_runs(tmp_path)) == 2


REPO = Path(__file__).resolve().parents[1]


def _kill_mid_sweep(args: list[str], out: Path, timeout: float = 120.0) -> tuple[set, set]:
    """Start ``sequence-tutor benchmark`` in a process of its own and SIGKILL it once a run has
    finished and another is under way; returns (run ids finished, run ids killed mid-run)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    log = out.parent / "killed.log"
    with open(log, "w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "sequence_tutor.cli", "benchmark", *args],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=handle, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            folders = list((out / "runs").glob("*")) if (out / "runs").is_dir() else []
            done = [f for f in folders if (f / "metrics.json").exists()]
            if done and len(done) < len(folders):
                os.kill(process.pid, signal.SIGKILL)  # no cleanup, no KeyboardInterrupt
                break
            time.sleep(0.01)
        else:
            pytest.fail(f"the sweep ended (or hung) before the kill: {log.read_text()}")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    folders = list((out / "runs").iterdir())
    finished = {f.name for f in folders if (f / "metrics.json").exists()}
    return finished, {f.name for f in folders} - finished


# ~10 s on 2 busy cores: a fresh interpreter importing torch, three short trainings after it
def test_a_sweep_killed_mid_run_resumes_without_retraining(tmp_path, capsys):
    out = tmp_path / "out"
    # rloo trains 20k env steps (~1-3 s): the kill lands while it is under way
    args = [
        "--agents", "random,rloo", "--seeds", "0,1", "--steps", "20000", "--eval-episodes", "3",
        "--env-kwargs", ENV, "--out", str(out), "--no-plots",
    ]  # fmt: skip
    finished, killed = _kill_mid_sweep(args, out)
    # seed-major order: random seed 0 finished in no time, rloo seed 0 was killed while training
    assert [name.split("__")[:2] for name in finished] == [["random", "seed0"]]
    assert [name.split("__")[:2] for name in killed] == [["rloo", "seed0"]]
    assert not (out / "runs" / next(iter(killed)) / "metrics.json").exists()
    assert not (out / "results.csv").exists()  # killed outright: no table written
    plan = [run["run_id"] for run in json.loads((out / "benchmark.json").read_text())["runs"]]
    assert len(plan) == 4 and finished | killed <= set(plan)
    mtimes = {r: (out / "runs" / r / "metrics.json").stat().st_mtime_ns for r in finished}

    code, _, err = _cli(capsys, *args, "--resume")
    assert code == 0, err
    assert f"{len(finished)} already finished, skipped" in err
    redone = [line for line in err.splitlines() if line.startswith("[")]
    assert len(redone) == 4 - len(finished)
    for run_id in finished:  # skipped, not retrained
        assert (out / "runs" / run_id / "metrics.json").stat().st_mtime_ns == mtimes[run_id]
    runs = {m["run_id"]: m for m in collect_runs(out)}
    assert set(runs) == set(plan)
    for run_id in killed:  # redone from scratch, in this process
        assert runs[run_id]["pid"] == os.getpid()
        assert (out / "runs" / run_id / "objective_samples.jsonl").exists()
    with open(out / "runs.csv", newline="") as handle:
        assert sorted(row["run_id"] for row in csv.DictReader(handle)) == sorted(plan)
    with open(out / "results.csv", newline="") as handle:
        rows = {row["agent"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {"random", "rloo"} and all(row["seeds"] == "2" for row in rows.values())
    assert all(row["objective"] != "" for row in rows.values())


def test_same_spec_same_compositions(tmp_path):
    spec = RunSpec("note-rnn", seed=3, steps=0, env_kwargs={"melody_length": T}, eval_episodes=4)
    first = execute_run(spec, tmp_path / "a")
    second = execute_run(spec.to_dict(), tmp_path / "b")
    read = lambda root: (root / "runs" / spec.run_id / "samples.jsonl").read_text()  # noqa: E731
    assert read(tmp_path / "a") == read(tmp_path / "b")
    assert first["statistics"] == second["statistics"]


def test_recorder_counts_steps_and_episode_returns():
    env = EpisodeRecorder(make_env(RunSpec("random", 0, 0, env_kwargs={"melody_length": 4})))
    env.reset(seed=0)
    rewards = []
    for step in range(10):
        _, reward, terminated, _, _ = env.step(step % 38)
        rewards.append(reward)
        if terminated:
            env.reset()
    assert env.total_steps == 10
    assert env.episode_ends == [4, 8]
    assert env.episode_returns == pytest.approx([sum(rewards[:4]), sum(rewards[4:8])])
    assert env.action_masks().shape == (38,)


class RecurrentProbe:
    """Records how the evaluation loop drives a recurrent SB3-style predict."""

    def __init__(self):
        self.calls = []

    def learn(self, total_timesteps):
        return self

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        self.calls.append(
            (None if state is None else int(state), bool(episode_start[0]), deterministic)
        )
        return np.array([TONIC]), (0 if state is None else int(state)) + 1


def test_evaluation_threads_recurrent_state_and_samples_stochastically():
    probe = RecurrentProbe()
    env = make_env(RunSpec("random", 0, 0, env_kwargs={"melody_length": 3}))
    result = evaluate_agent(probe, env, episodes=2, seed=5)
    assert result["compositions"] == [[TONIC] * 3, [TONIC] * 3]
    # Fresh state and episode_start=True at each episode's first step, state carried after.
    assert probe.calls == [
        (None, True, False), (1, False, False), (2, False, False),
        (None, True, False), (1, False, False), (2, False, False),
    ]  # fmt: skip


def test_seed_band_is_mean_min_max_over_common_steps():
    curves = [
        {"steps": [0, 10, 20], "returns": [0.0, 10.0, 20.0]},
        {"steps": [5, 15, 30], "returns": [2.0, 2.0, 2.0]},
    ]
    grid, mean, low, high = seed_band(curves, points=3)
    assert grid.tolist() == [5.0, 12.5, 20.0]
    assert mean.tolist() == pytest.approx([3.5, 7.25, 11.0])
    assert low.tolist() == [2.0, 2.0, 2.0] and high.tolist() == [5.0, 12.5, 20.0]


@needs_evaluation
def test_markdown_table_one_column_per_agent_with_return_spread():
    def run(agent, seed, ret):
        spec = RunSpec(agent, seed, 10).to_dict()
        return {
            "run_id": f"{agent}{seed}", "spec": spec, "agent": agent, "seed": seed, "setting": 0,
            "train_steps": 10, "train_wall_s": 2.0, "steps_per_s": 5.0, "mean_return": ret,
            "statistics": {"not_in_key": 0.25, "excessively_repeated": 0.0},
            "reward_terms": {"key": -1.0}, "log_p_note_rnn": -50.0, "paper_return": ret,
        }  # fmt: skip

    rows = aggregate([run("ppo", 0, 1.0), run("ppo", 1, 3.0), run("random", 0, -1.0)])
    table = markdown_table(rows)
    lines = table.splitlines()
    assert lines[0] == "| statistic | random | ppo |" or lines[0] == "| statistic | ppo | random |"
    columns = [c.strip() for c in lines[0].strip("|").split("|")]
    ppo = columns.index("ppo")
    cells = {line.split("|")[1].strip(): line.strip("|").split("|") for line in lines[2:]}
    assert cells["notes not in key"][ppo].strip() == "25.0 %"
    assert cells["mean return (env setting; ± std over seeds)"][ppo].strip() == "2.0 ± 1.0"
    assert cells["seeds"][ppo].strip() == "2"


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("agent", "message"),
    [
        ("no_such_pkg.mod:make_agent", "cannot import module 'no_such_pkg.mod'"),
        ("tests.test_benchmark:no_such_factory", "has no attribute 'no_such_factory'"),
        ("tests.test_benchmark:NOT_CALLABLE", "is a int, not a callable"),
    ],
)
def test_agent_path_that_does_not_import_fails_before_any_run(agent, message, tmp_path, capsys):
    code, _, err = _cli(
        capsys, "--agents", f"random,{agent}", "--out", str(tmp_path), "--steps", "8"
    )
    assert code == 2
    assert err.count("\n") == 1 and message in err and agent in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("factory", "missing"),
    [
        ("make_bad_agent", "without learn() and predict()"),
        ("make_agent_without_predict", "without predict()"),
    ],
)
def test_factory_returning_the_wrong_thing_keeps_finished_runs(factory, missing, tmp_path, capsys):
    path = f"tests.test_benchmark:{factory}"
    code, out, err = _cli(
        capsys, "--agents", f"random,{path}", "--seeds", "0", "--steps", "8",
        "--eval-episodes", "2", "--env-kwargs", ENV, "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("sequence-tutor benchmark: error:")
    assert path in last and missing in last and "--resume" in last
    assert [m["agent"] for m in collect_runs(tmp_path)] == ["random"]
    assert "random" in (tmp_path / "results.md").read_text().splitlines()[0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seeds", ""], "--seeds: the seed list '' is empty"),
        (["--agents", "random,bogus"], "'bogus' is neither a built-in agent"),
        (["--env-kwargs", "melody_length=0"], '--env-kwargs: {"melody_length": 0} not accepted'),
        (["--workers", "0"], "--workers: 0 must be at least 1"),
        (["--address", "127.0.0.1:1"], "--address: only meaningful with --backend ray"),
        (["--search", "optuna", "--algo", "random"], "--algo: 'random' has no search space"),
    ],
)
def test_bad_input_is_one_line(argv, message, tmp_path, capsys):
    code, _, err = _cli(capsys, "--agents", "random", "--steps", "8", "--out", str(tmp_path), *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert message in lines[-1] and lines[-1].startswith("sequence-tutor benchmark: error:")


def test_missing_extras_name_the_pip_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)
    code, _, err = _cli(capsys, "--agents", "random", "--backend", "ray", "--out", str(tmp_path))
    assert code == 2 and "pip install 'sequence-tutor-gym[ray]'" in err and err.count("\n") == 1
    monkeypatch.setitem(sys.modules, "optuna", None)
    code, _, err = _cli(capsys, "--search", "optuna", "--algo", "ppo", "--out", str(tmp_path))
    assert code == 2 and "pip install 'sequence-tutor-gym[optuna]'" in err and err.count("\n") == 1


def test_unreachable_ray_address_fails_fast(tmp_path, capsys):
    pytest.importorskip("ray")
    import socket
    import time

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.perf_counter()
    code, _, err = _cli(
        capsys, "--agents", "random", "--backend", "ray", "--address", f"127.0.0.1:{port}",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 2 and time.perf_counter() - start < 10
    assert f"cannot reach a Ray cluster at '127.0.0.1:{port}'" in err and err.count("\n") == 1
    code, _, err = _cli(capsys, "--backend", "ray", "--address", "nonsense", "--out", str(tmp_path))
    assert code == 2 and "--address: 'nonsense' is not host:port" in err


def test_expand_runs_rejects_an_empty_seed_list():
    with pytest.raises(SequenceTutorError, match="--seeds"):
        expand_runs(["random"], [], [{}], steps=1)


# -- hyper-parameter search ----------------------------------------------------------------------
def test_optuna_search_runs_trials_within_the_space_and_resumes(tmp_path, capsys):
    pytest.importorskip("optuna")
    args = [
        "--search", "optuna", "--algo", "ppo", "--steps", "32", "--eval-episodes", "3",
        "--env-kwargs", ENV, "--out", str(tmp_path),
    ]  # fmt: skip
    code, _, err = _cli(capsys, *args, "--trials", "2")
    assert code == 0, err
    runs = collect_runs(tmp_path)
    assert len(runs) == 2
    for metrics in runs:
        assert 0.1 <= metrics["spec"]["env_kwargs"]["reward_scale"] <= 10
        hyper = metrics["spec"]["hyperparams"]
        assert 0.3 <= hyper["gamma"] <= 0.99 and 1e-5 <= hyper["learning_rate"] <= 1e-2
        assert 1e-4 <= hyper["ent_coef"] <= 0.1
    assert runs[0]["spec"]["hyperparams"] != runs[1]["spec"]["hyperparams"]
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["value"] == max(m["paper_return"] for m in runs)
    # Without --resume an earlier study is not silently extended; with it, it is.
    code, _, err = _cli(capsys, *args, "--trials", "3")
    assert code == 2 and "--resume" in err
    code, _, err = _cli(capsys, *args, "--trials", "3", "--resume")
    assert code == 0, err
    assert len(collect_runs(tmp_path)) == 3
    assert len((tmp_path / "results.md").read_text().splitlines()[0].split("|")) == 3 + 3


def test_results_gather_runs_of_the_same_budget_across_commands(tmp_path, capsys):
    common = ["--steps", "8", "--eval-episodes", "2", "--env-kwargs", ENV, "--out", str(tmp_path)]
    assert _cli(capsys, "--agents", "random", "--seeds", "0,1", *common)[0] == 0
    assert (
        _cli(capsys, "--agents", "tests.test_benchmark:make_agent", "--seeds", "0", *common)[0] == 0
    )
    # Another budget in the same folder is a different experiment: not in this table.
    assert _cli(capsys, "--agents", "random", "--steps", "4", "--out", str(tmp_path),
                "--eval-episodes", "2", "--env-kwargs", ENV)[0] == 0  # fmt: skip
    assert _cli(capsys, "--agents", "tests.test_benchmark:make_agent", "--seeds", "0", *common,
                "--resume")[0] == 0  # fmt: skip
    header = (tmp_path / "results.md").read_text().splitlines()[0]
    assert header == "| statistic | random | tests.test_benchmark:make_agent |"
    seeds_row = next(
        line for line in (tmp_path / "results.md").read_text().splitlines() if "| seeds |" in line
    )
    assert seeds_row == "| seeds | 2 | 1 |"


@pytest.mark.slow
def test_worker_processes_give_the_same_runs_as_sequential(tmp_path, capsys):
    common = ["--agents", "random,ppo", "--seeds", "0,1", "--steps", "16", "--eval-episodes", "2",
              "--env-kwargs", ENV]  # fmt: skip
    assert _cli(capsys, *common, "--out", str(tmp_path / "seq"))[0] == 0
    assert _cli(capsys, *common, "--workers", "2", "--out", str(tmp_path / "par"))[0] == 0
    sequential, parallel = _metrics(tmp_path / "seq"), _metrics(tmp_path / "par")
    assert set(sequential) == set(parallel) and len(parallel) == 4
    # Ran in worker processes (which worker takes which run is up to the pool).
    assert os.getpid() not in {m["pid"] for m in parallel.values()}
    for key, metrics in sequential.items():
        assert parallel[key]["mean_return"] == metrics["mean_return"]
        assert parallel[key]["statistics"] == metrics["statistics"]


def test_user_module_in_the_current_folder_plugs_in(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_bench_agent.py").write_text(
        "class Hold:\n"
        "    def learn(self, total_timesteps):\n"
        "        return self\n"
        "    def predict(self, obs, deterministic=False):\n"
        "        return 1, None\n"
        "def make_agent(env):\n"
        "    return Hold()\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "my_bench_agent", raising=False)
    code, _, err = _cli(capsys, "--agents", "my_bench_agent:make_agent", "--steps", "8",
                        "--eval-episodes", "2", "--env-kwargs", ENV, "--out", "out")  # fmt: skip
    assert code == 0, err
    (metrics,) = _metrics(tmp_path / "out").values()
    assert metrics["agent"] == "my_bench_agent:make_agent"
    sample = json.loads(
        (tmp_path / "out" / "runs" / metrics["run_id"] / "samples.jsonl").open().readline()
    )
    assert sample["tokens"] == [1] * T  # NO_EVENT throughout: its predict was used


def test_a_trial_from_a_node_without_our_disk_is_written_by_the_driver(tmp_path):
    from sequence_tutor.benchmark.ray_backend import keep_reported_run

    spec = RunSpec("random", 0, 0)
    metrics = {"run_id": spec.run_id, "spec": spec.to_dict(), "mean_return": -1.0}
    reported = {
        "metrics_json": json.dumps(metrics),
        "samples_jsonl": '{"tokens": [1]}\n',
        "objective_samples_jsonl": '{"tokens": [2]}\n',
    }
    assert keep_reported_run(reported, tmp_path) == metrics
    folder = tmp_path / "runs" / spec.run_id
    assert json.loads((folder / "metrics.json").read_text()) == metrics
    assert (folder / "samples.jsonl").read_text() == '{"tokens": [1]}\n'
    assert (folder / "objective_samples.jsonl").read_text() == '{"tokens": [2]}\n'
    # A run the trial wrote itself (shared disk) is left as it is.
    (folder / "metrics.json").write_text('{"kept": true}')
    keep_reported_run(reported, tmp_path)
    assert json.loads((folder / "metrics.json").read_text()) == {"kept": True}


def test_what_a_ray_trial_reports_rebuilds_the_run_folder_on_the_driver(tmp_path):
    """A node without our disk: the driver gets every file the tables, plots and report read."""
    from sequence_tutor.benchmark.ray_backend import _reportable, keep_reported_run

    spec = RunSpec("random", 0, 0, env_kwargs={"melody_length": T}, eval_episodes=3)
    metrics = execute_run(spec, tmp_path / "worker")
    reported = json.loads(json.dumps(_reportable(metrics, tmp_path / "worker")))  # as Tune ships
    assert keep_reported_run(reported, tmp_path / "driver") == metrics
    worker, driver = (
        root / "runs" / spec.run_id for root in (tmp_path / "worker", tmp_path / "driver")
    )
    names = ("metrics.json", "samples.jsonl", "objective_samples.jsonl")
    assert {p.name for p in driver.iterdir()} == set(names)
    for name in names[1:]:
        assert (driver / name).read_text() == (worker / name).read_text()
    (run,) = collect_runs(tmp_path / "driver")
    assert run["objective"] is not None and run["kl_to_prior"] is not None


def test_note_rnn_sampler_carries_state_exactly():
    import torch

    from sequence_tutor.benchmark.agent_factories import NoteRNNSampler

    env = make_env(RunSpec("note-rnn", 0, 0, env_kwargs={"melody_length": 12}))
    sampler = NoteRNNSampler(env, seed=0)
    for episode in range(2):
        obs, _ = env.reset(seed=episode)
        for _ in range(12):
            action, _ = sampler.predict(obs)
            prefix = torch.as_tensor([[int(t) for t in obs[obs != sampler.pad]]])
            full, _ = sampler.model(prefix)
            assert torch.allclose(sampler._logits, full[0, -1], atol=1e-5)
            obs, *_ = env.step(action)
    # A batch of observations is read from the start, row by row.
    batch = np.stack([env.reset(seed=s)[0] for s in range(3)])
    assert sampler.predict(batch, deterministic=True)[0].shape == (3,)


def test_error_line_takes_the_message_out_of_a_ray_traceback():
    from sequence_tutor.benchmark.ray_backend import error_line

    wrapped = RuntimeError(
        'ray::ImplicitFunc.train() (pid=1, ip=127.0.0.1)\n  File "x.py", line 3, in f\n'
        "    raise ValueError('bad')\nValueError: bad\n"
    )
    assert error_line(wrapped) == "ValueError: bad"


@pytest.mark.slow  # building SequenceTutorDQN imports torch's fused-Adam machinery: ~15-30 s here
def test_kl_control_agents_compose_with_their_boltzmann_policy(tmp_path):
    from sequence_tutor.benchmark.agent_factories import build_agent, composing_agent

    env = make_env(RunSpec("q", 0, 0, env_kwargs={"melody_length": T}))
    model = build_agent("q", env, seed=0)
    assert model.exploration == "egreedy" and not model.policy.boltzmann  # trains ε-greedy
    policy = composing_agent("q", model)
    assert policy is model.policy and policy.boltzmann  # composes from softmax(Q), as `sample`
    other = TonicAgent(env)
    assert composing_agent("tests.test_benchmark:make_agent", other) is other
    metrics = execute_run(
        RunSpec("q", 0, 0, env_kwargs={"melody_length": T}, eval_episodes=3), tmp_path
    )
    assert len(metrics["curve"]["steps"]) == 0 and metrics["statistics"]["compositions"] == 3


def test_out_that_is_a_file_fails_before_any_run(tmp_path, capsys):
    target = tmp_path / "results"
    target.write_text("keep me")
    code, out, err = _cli(capsys, "--agents", "random", "--steps", "8", "--out", str(target))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{target}: --out folder exists and is not a folder" in err
    assert target.read_text() == "keep me" and "[1/" not in out
