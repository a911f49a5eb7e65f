"""``sequence-tutor train --algo rloo|grpo|ppo-kl``: the DQN family's output folder, resume, the
objective in the evaluation, ``sample --agent RUN``, and one-line errors for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from agents.policy_gradient.training import load_pg_sampler
from agents.training_state import latest_checkpoint
from sequence_tutor.cli import main

torch.set_num_threads(1)

T = 8
COMMON = ["--melody-length", str(T), "--samples", "12", "--export", "1", "--no-progress"]
SMALL = {
    "rloo": ["--k", "2", "--num-primers", "2"],  # 4 compositions x 8 steps = 32 steps a batch
    "grpo": ["--k", "2", "--num-primers", "2"],
    "ppo-kl": ["--n-envs", "2", "--n-steps", "16", "--batch-size", "16"],  # 32 steps a rollout
}


@pytest.mark.parametrize("algo", ["rloo", "grpo", "ppo-kl"])
def test_tiny_run_writes_everything_and_resume_reports_zero_steps(algo, tmp_path, capsys):
    out = tmp_path / algo
    argv = ["train", "--algo", algo, "--out", str(out), "--steps", "96"]
    argv += ["--checkpoint-every", "32", *SMALL[algo], *COMMON]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"trained {algo} for 96 steps" in printed
    assert "exact KL(π‖p) per composition (nats)" in printed
    meta = json.loads((out / "agent.json").read_text())
    assert meta["algo"] == algo and meta["num_timesteps"] == 96 and meta["melody_length"] == T
    assert meta["metadata"]["env_kwargs"] == {"melody_length": T}
    assert latest_checkpoint(out / "checkpoints").name == "step_000000096"
    assert len(list((out / "checkpoints").glob("step_*"))) == 2  # the newest two are kept
    for name in (algo, "note_rnn"):
        lines = (out / "samples" / f"{name}.jsonl").read_text().splitlines()
        assert len(lines) == 12 and json.loads(lines[0])["agent"] == name
        assert len(json.loads(lines[0])["tokens"]) == T
        assert (out / "midi" / f"{name}_00000.mid").is_file()
        assert (out / "musicxml" / f"{name}_00000.musicxml").is_file()
    assert (out / "piano_roll.png").read_bytes()[:4] == b"\x89PNG"
    assert list((out / "tensorboard").rglob("events.out.tfevents.*"))
    table = (out / "evaluation.md").read_text()
    assert f"| statistic | note_rnn | {algo} |" in table
    assert f"| objective | note_rnn | {algo} |" in table and "J = Σ r_theory/c" in table
    rows = {
        line.split(",")[0]: line.split(",")[1:]
        for line in (out / "evaluation.csv").read_text().splitlines()
    }
    note_rnn_kl, agent_kl = (float(v) for v in rows["objective/kl"])
    assert abs(note_rnn_kl) < 1e-9 and agent_kl > 0  # the Note RNN is its own prior
    j, theory, kl = (float(rows[f"objective/{k}"][1]) for k in ("J", "theory", "kl"))
    assert j == pytest.approx(theory - 1.0 * kl)
    settings = json.loads((out / "run.json").read_text())
    assert settings["algo"] == algo and settings["steps"] == 96
    # finished: --resume only reports
    assert main(["train", "--out", str(out), "--resume", *COMMON]) == 0
    assert f"trained {algo} for 0 steps" in capsys.readouterr().out
    # sample --agent RUN reads the run folder: the agent's policy, its key and length
    samples = tmp_path / "s.jsonl"
    assert main(["sample", "--agent", str(out), "--n", "3", "--out", str(samples)]) == 0
    first = json.loads(samples.read_text().splitlines()[0])
    assert first["agent"] == algo and len(first["tokens"]) == T


def test_resume_from_a_middle_checkpoint_is_exact(tmp_path, capsys):
    base = ["train", "--algo", "rloo", *SMALL["rloo"], *COMMON, "--adaptive-kl", "true"]
    base += ["--checkpoint-every", "32"]
    assert main([*base, "--steps", "96", "--out", str(tmp_path / "whole")]) == 0
    assert main([*base, "--steps", "64", "--out", str(tmp_path / "half")]) == 0
    resume = ["train", "--out", str(tmp_path / "half"), "--resume", "--steps", "96", *COMMON]
    assert main(resume) == 0
    assert "resuming" in capsys.readouterr().out
    whole, _ = load_pg_sampler(tmp_path / "whole")
    half, _ = load_pg_sampler(tmp_path / "half")
    for a, b in zip(whole.actor.parameters(), half.actor.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--algo", "rloo", "--k", "1"], "--k must be >= 2, got 1"),
        (["--algo", "grpo", "--k", "1"], "--k must be >= 2, got 1"),
        (
            ["--algo", "rloo", "--buffer-size", "10"],
            "--buffer-size: a hyper-parameter of --algo q/psi/g, not of --algo rloo",
        ),
        (
            ["--algo", "psi", "--clip-range", "0.1"],
            "--clip-range: a hyper-parameter of --algo grpo / ppo-kl, not of --algo psi",
        ),
        (["--algo", "rloo", "--n-envs", "4"], "--n-envs: --algo rloo steps k * num_primers"),
        (["--algo", "grpo", "--minibatches", "3"], "minibatches (3) must divide num_primers (8)"),
        (["--algo", "ppo-kl", "--gamma", "0"], "--gamma must be > 0"),
        (["--algo", "a2c"], "--algo: unknown algorithm 'a2c'"),
    ],
)
def test_bad_input_is_a_one_line_error_and_writes_nothing(argv, message, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *argv, "--out", str(out), "--steps", "32"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_a_stored_run_with_bad_policy_gradient_settings_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--algo", "rloo", "--out", str(out), "--steps", "32", *SMALL["rloo"], *COMMON]
    assert main(argv) == 0
    settings = json.loads((out / "run.json").read_text())
    capsys.readouterr()
    for key, value in (("group_size", 1), ("adaptive_kl", "yes"), ("clip_range", 0.1)):
        bad = {**settings, "hyperparameters": {**settings["hyperparameters"], key: value}}
        (out / "run.json").write_text(json.dumps(bad))
        assert main(["train", "--out", str(out), "--resume", *COMMON]) == 2
        err = capsys.readouterr().err
        assert "unreadable run settings" in err and key in err  # clip_range: not rloo's


def test_the_pg_sampler_draws_from_the_saved_policy(tmp_path):
    out = tmp_path / "run"
    argv = ["train", "--algo", "grpo", "--out", str(out), "--steps", "32", *SMALL["grpo"], *COMMON]
    assert main(argv) == 0
    sampler, meta = load_pg_sampler(out)
    assert meta["algo"] == "grpo"
    obs = np.full((2, T + 1), 38)
    obs[:, 0] = [14, 20]
    probs = sampler.actor.action_probabilities(obs)
    assert probs.shape == (2, 38) and np.allclose(probs.sum(axis=1), 1.0)
