"""The train command on the real env: outputs, resume, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from agents.agent_file import load_agent_policy
from agents.training_state import latest_checkpoint
from sequence_tutor.cli import main

torch.set_num_threads(1)

TINY = [
    "--steps",
    "320",
    "--learning-starts",
    "64",
    "--samples",
    "20",
    "--export",
    "1",
    "--checkpoint-every",
    "160",
    "--no-progress",
]


def test_tiny_train_run_writes_agent_samples_figure_and_table(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--algo", "g", "--seed", "1", "--out", str(out), *TINY]) == 0
    printed = capsys.readouterr().out
    assert "trained g for 320 steps" in printed and str(out / "evaluation.md") in printed
    policy, meta = load_agent_policy(out)
    assert meta["algo"] == "g" and meta["num_timesteps"] == 320 and policy.prior is not None
    assert meta["hyperparameters"]["gamma"] == 0.5 and meta["hyperparameters"]["tau"] == 0.01
    assert latest_checkpoint(out / "checkpoints").name == "step_000000320"
    for name in ("g", "note_rnn"):
        lines = (out / "samples" / f"{name}.jsonl").read_text().splitlines()
        assert len(lines) == 20 and json.loads(lines[0])["agent"] == name
        assert (out / "midi" / f"{name}_00000.mid").is_file()
        assert (out / "musicxml" / f"{name}_00000.musicxml").is_file()
    assert (out / "piano_roll.png").read_bytes()[:4] == b"\x89PNG"
    table = (out / "evaluation.md").read_text()
    assert "| statistic | note_rnn | g |" in table and "notes excessively repeated" in table
    assert list((out / "tensorboard").rglob("events.out.tfevents.*"))
    settings = json.loads((out / "run.json").read_text())
    assert settings["algo"] == "g" and settings["steps"] == 320
    # A second run into the same folder needs --resume; with it, a finished run only reports.
    assert main(["train", "--out", str(out), *TINY]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "--out", str(out), "--resume", *TINY]) == 0
    assert "trained g for 0 steps" in capsys.readouterr().out


def test_a_crash_before_the_first_checkpoint_is_one_line_and_the_same_command_starts_over(
    tmp_path, capsys, monkeypatch
):
    import stable_baselines3.common.callbacks as callbacks

    out = tmp_path / "run"
    argv = ["train", "--algo", "psi", "--out", str(out), *TINY[:-1]]  # with the progress bar
    monkeypatch.setattr(callbacks, "tqdm", None)  # as on a fresh install without rich
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sequence-tutor train: error: You must install tqdm and rich"), err
    assert "\n" not in err and "Traceback" not in err
    assert (out / "run.json").is_file() and not (out / "checkpoints" / "latest.json").exists()
    monkeypatch.undo()
    assert main(argv) == 0  # the same command again, progress bar on
    captured = capsys.readouterr()
    assert "an earlier start left no checkpoint; starting over" in captured.out
    assert "trained psi for 320 steps" in captured.out
    assert latest_checkpoint(out / "checkpoints").name == "step_000000320"


def _train_raises_from(monkeypatch, step: int) -> None:
    """Make every SGD round of the DQN family raise RuntimeError once ``step`` steps are done."""
    from agents.kl_control import SequenceTutorDQN

    original = SequenceTutorDQN.train

    def train(self, *args, **kwargs):
        if self.num_timesteps >= step:
            raise RuntimeError(f"boom at step {self.num_timesteps}\nsecond line")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SequenceTutorDQN, "train", train)


def _one_unexpected_error_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    line = err.strip()
    assert line.startswith("sequence-tutor train: error: RuntimeError: boom at step "), line
    assert line.endswith("second line (set SEQUENCE_TUTOR_DEBUG=1 for the traceback)"), line
    return line


def test_an_exception_inside_training_is_one_line_and_the_same_command_starts_over(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("SEQUENCE_TUTOR_DEBUG", raising=False)
    out = tmp_path / "run"
    argv = ["train", "--algo", "psi", "--out", str(out), *TINY]
    _train_raises_from(monkeypatch, 0)  # the first SGD round, after --learning-starts 64
    assert main(argv) == 2
    _one_unexpected_error_line(capsys.readouterr().err)
    assert (out / "run.json").is_file() and not (out / "checkpoints" / "latest.json").exists()
    monkeypatch.undo()
    assert main(argv) == 0  # the same command again
    captured = capsys.readouterr()
    assert "an earlier start left no checkpoint; starting over" in captured.out
    assert "trained psi for 320 steps" in captured.out
    assert latest_checkpoint(out / "checkpoints").name == "step_000000320"


def test_an_exception_after_a_checkpoint_is_one_line_and_resume_continues(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("SEQUENCE_TUTOR_DEBUG", raising=False)
    out = tmp_path / "run"
    argv = ["train", "--algo", "psi", "--out", str(out), *TINY]
    _train_raises_from(monkeypatch, 240)  # after the checkpoint at 160, before the one at 320
    assert main(argv) == 2
    _one_unexpected_error_line(capsys.readouterr().err)
    assert latest_checkpoint(out / "checkpoints").name == "step_000000160"
    assert not (out / "agent.json").exists()
    monkeypatch.undo()
    assert main(argv) == 2  # a checkpoint is worth keeping: the same command asks for --resume
    assert "pass --resume" in capsys.readouterr().err
    assert main([*argv, "--resume"]) == 0
    captured = capsys.readouterr()
    assert f"resuming {out} from step_000000160 (160 of 320 steps)" in captured.out
    assert "trained psi for 160 steps" in captured.out
    assert load_agent_policy(out)[1]["num_timesteps"] == 320


def test_with_sequence_tutor_debug_set_the_unexpected_exception_keeps_its_traceback(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("SEQUENCE_TUTOR_DEBUG", "1")
    _train_raises_from(monkeypatch, 0)
    with pytest.raises(RuntimeError, match="boom at step"):
        main(["train", "--algo", "psi", "--out", str(tmp_path / "run"), *TINY])


def test_keyboard_interrupt_inside_training_still_checkpoints_and_exits_130(
    tmp_path, capsys, monkeypatch
):
    from agents.kl_control import SequenceTutorDQN

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(SequenceTutorDQN, "train", interrupted)
    out = tmp_path / "run"
    assert main(["train", "--algo", "psi", "--out", str(out), *TINY]) == 130
    captured = capsys.readouterr()
    assert captured.err.strip() == "sequence-tutor train: interrupted"
    assert "continue with --resume" in captured.out
    assert latest_checkpoint(out / "checkpoints") is not None


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--algo", "sarsa"], "--algo: unknown algorithm 'sarsa'"),
        (["--steps", "0"], "--steps must be >= 1"),
        (["--preset", "huge"], "--preset: unknown preset"),
        (["--gamma", "1.5"], "--gamma must be in [0, 1]"),
        (["--algo", "psi", "--exploration", "egreedy"], "egreedy is for --algo q"),
    ],
)
def test_bad_options_are_one_line_errors(argv, message, tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "o"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err, err


def test_out_that_is_a_file_and_a_bad_note_rnn_are_one_line_errors(tmp_path, capsys):
    file = tmp_path / "file"
    file.write_text("x")
    assert main(["train", "--out", str(file)]) == 2
    err = capsys.readouterr().err.strip()
    assert "exists and is not a folder" in err and "\n" not in err
    bad = tmp_path / "rnn"
    (tmp_path / "rnn.json").write_text("{oops")
    (tmp_path / "rnn.safetensors").write_bytes(b"x")
    assert main(["train", "--note-rnn", str(bad), "--out", str(tmp_path / "o"), *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert "rnn.json" in err and "\n" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_resume_after_sigkill_continues_from_the_last_checkpoint(tmp_path):
    out = tmp_path / "run"
    argv = [
        sys.executable,
        "-m",
        "sequence_tutor.cli",
        "train",
        "--out",
        str(out),
        "--steps",
        "4000",
        "--checkpoint-every",
        "500",
        "--samples",
        "10",
        "--export",
        "0",
        "--no-progress",
    ]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    pointer = out / "checkpoints" / "latest.json"
    while time.time() < deadline:
        if pointer.is_file() and json.loads(pointer.read_text())["num_timesteps"] >= 1000:
            break
        assert process.poll() is None, process.stdout.read().decode()
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = json.loads(pointer.read_text())["num_timesteps"]
    assert 1000 <= killed_at < 4000
    assert not (out / "agent.json").exists()  # it never finished
    result = subprocess.run([*argv, "--resume"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"resuming {out} from step_{killed_at:09d}" in result.stdout
    assert f"trained psi for {4000 - killed_at} steps" in result.stdout
    _, meta = load_agent_policy(out)
    assert meta["num_timesteps"] == 4000


def test_algorithm_names_are_typed_once_and_checked_by_one_function():
    from agents import config
    from agents.policy_gradient.training import PG_ALGORITHMS
    from pretrain.config import check_settings
    from pretrain.errors import SequenceTutorError
    from sequence_tutor.benchmark.agent_factories import POLICY_GRADIENT_AGENTS
    from sequence_tutor.benchmark.spec import BUILTIN_AGENT_NAMES
    from sequence_tutor.cli.train import RunSettings, check_stored_settings

    assert PG_ALGORITHMS is config.POLICY_GRADIENT_ALGORITHMS is POLICY_GRADIENT_AGENTS
    assert config.ALGORITHMS is config.KL_CONTROL_ALGORITHMS == ("q", "psi", "g")
    assert config.ALL_ALGORITHMS == config.KL_CONTROL_ALGORITHMS + PG_ALGORITHMS
    assert BUILTIN_AGENT_NAMES[2:8] == config.ALL_ALGORITHMS
    assert config.check_algo("rloo", allowed=config.ALL_ALGORITHMS) == "rloo"
    with pytest.raises(SequenceTutorError, match=r"^algo: unknown algorithm 'rloo' \(expected"):
        config.check_algo("rloo")  # the DQN family's by default
    # run.json names the same choices in the same words
    with pytest.raises(ValueError, match="algo: unknown algorithm 'a2c' .*q, psi, g, rloo"):
        check_stored_settings({"algo": "a2c"})
    assert RunSettings.preset("paper")["steps"] == 1_000_000
    for values in RunSettings.presets.values():  # each preset sets fields of RunSettings
        check_settings(RunSettings(**values))
    with pytest.raises(SequenceTutorError, match="--preset: unknown preset 'fast'"):
        RunSettings.preset("fast")
