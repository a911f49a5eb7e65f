"""Every loading path of the command line with hostile inputs (issue 8).

Each case runs ``sequence-tutor ...`` through ``sequence_tutor.cli.main`` in a bounded forked child (see
:mod:`tests.security.cli_cases`): no code runs, nothing is written outside the output folder and
the corpus cache, memory stays under the ceiling, and the command ends with exit code 2 and one
line naming the input. A few representative cases run in the fast suite; the full sweep is slow
(and is what ``benchmarks/reliability.py`` tabulates).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.security import hostile
from tests.security.cli_cases import run_cli_case

PRETRAIN_TINY = ["--hidden", "4", "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "2",
                 "--window", "8", "--workers", "1", "--no-progress", "--no-tensorboard"]  # fmt: skip
FAST_MELODIES = {"musicxml-billion-laughs", "midi-huge-duration", "mxl-zip-bomb", "midi-fifo"}


def pretrain_data_case(tmp_path, case):
    sandbox = tmp_path / "sandbox"
    data = sandbox / "data"
    data.mkdir(parents=True)
    path = case.build(data, sandbox / hostile.MARKER_NAME)
    argv = ["pretrain", "--data", str(data), "--cache-dir", str(sandbox / "cache"),
            "--out", str(sandbox / "out"), *PRETRAIN_TINY]  # fmt: skip
    outcome = run_cli_case(argv, sandbox, allowed=["out", "cache"])
    return outcome, [str(data), path.name]


@pytest.mark.parametrize(
    "case",
    [pytest.param(h, marks=[] if h.name in FAST_MELODIES else [pytest.mark.slow])
     for h in hostile.MELODIES],
    ids=[h.name for h in hostile.MELODIES],
)  # fmt: skip
def test_pretrain_data_with_a_hostile_file(tmp_path, case):
    outcome, names = pretrain_data_case(tmp_path, case)
    assert outcome.problems(names) == []


# --------------------------------------------------------------------------- agents

TRAIN_TINY = ["--steps", "64", "--samples", "2", "--export", "0", "--checkpoint-every", "32",
              "--learning-starts", "16", "--no-progress"]  # fmt: skip
FAST_AGENT = {"agent:pickle-in-.safetensors", "agent:hidden-1e6", "agent:nan-weights",
              "agent:json-nested-100k", "agent:sb3-.zip"}  # fmt: skip
FAST_RUN = {"run:run.json-algo-../", "run:latest->..", "run:training-pickle",
            "run:agent-buffer-1e12"}  # fmt: skip
FAST_JSONL = {"jsonl:sparse-4GiB", "jsonl:nested-100k", "jsonl:random-bytes", "jsonl:agent-../"}
FAST_NOTE_RNN = {"pickle-in-.safetensors", "huge-config-1e6", "sb3-.zip"}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A tiny real ``sequence-tutor train`` run folder (agent, checkpoints, run.json)."""
    sandbox = tmp_path_factory.mktemp("trained") / "sandbox"
    outcome = run_cli_case(
        ["train", "--out", str(sandbox / "out"), *TRAIN_TINY], sandbox, allowed=["out"]
    )
    assert outcome.status == "returned" and outcome.code == 0, outcome.stderr or outcome.error
    return sandbox / "out"


def _marks(name, fast):
    return [] if name in fast else [pytest.mark.slow]


def _params(cases, fast):
    return [pytest.param(name, marks=_marks(name, fast), id=name) for name in cases]


@pytest.mark.parametrize("name", _params(hostile.agent_cases(), FAST_AGENT))
def test_sample_agent_with_a_hostile_checkpoint(tmp_path, trained_run, name):
    sandbox = tmp_path / "sandbox"
    agent = sandbox / "agent"
    shutil.copytree(trained_run, agent, ignore=shutil.ignore_patterns("checkpoints", "tensorboard"))
    path = hostile.agent_cases()[name](agent, sandbox / hostile.MARKER_NAME)
    argv = ["sample", "--agent", str(path), "--n", "2", "--out", str(sandbox / "out" / "s.jsonl"),
            "--no-progress"]  # fmt: skip
    outcome = run_cli_case(argv, sandbox, allowed=["out"])
    assert outcome.problems([str(agent)], name in hostile.TOLERATED_AGENT_CASES) == []


@pytest.mark.parametrize("name", _params(hostile.run_cases(), FAST_RUN))
def test_train_resume_with_a_hostile_run_folder(tmp_path, trained_run, name):
    sandbox = tmp_path / "sandbox"
    run = sandbox / "out"
    shutil.copytree(trained_run, run)
    hostile.run_cases()[name](run, sandbox / hostile.MARKER_NAME)
    argv = ["train", "--resume", "--out", str(run), "--samples", "2", "--export", "0",
            "--no-progress"]  # fmt: skip
    outcome = run_cli_case(argv, sandbox, allowed=["out"])
    assert outcome.problems([str(run)]) == []


@pytest.mark.parametrize("name", _params(hostile.jsonl_cases(), FAST_JSONL))
def test_evaluate_with_a_hostile_samples_file(tmp_path, name):
    sandbox = tmp_path / "sandbox"
    (sandbox / "in").mkdir(parents=True)
    path = hostile.jsonl_cases()[name](sandbox / "in")
    outcome = run_cli_case(["evaluate", str(path), "--out", str(sandbox / "out")], sandbox,
                           allowed=["out"])  # fmt: skip
    assert outcome.problems([str(path)], name in hostile.TOLERATED_JSONL_CASES) == []


@pytest.mark.parametrize(
    "case",
    [pytest.param(h, marks=_marks(h.name, FAST_NOTE_RNN), id=h.name) for h in hostile.CHECKPOINTS],
)
def test_train_note_rnn_with_a_hostile_checkpoint(tmp_path, case):
    sandbox = tmp_path / "sandbox"
    (sandbox / "in").mkdir(parents=True)
    path = case.build(sandbox / "in", sandbox / hostile.MARKER_NAME)
    argv = ["train", "--note-rnn", str(path), "--out", str(sandbox / "out"), *TRAIN_TINY]
    outcome = run_cli_case(argv, sandbox, allowed=["out"])
    assert outcome.problems([str(sandbox / "in")], case.name == "../-names-in-json") == []


def test_real_console_script_exit_code_and_stderr(tmp_path):
    """One case through a real ``python -m sequence_tutor.cli`` process: exit 2, one stderr line."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    marker = tmp_path / hostile.MARKER_NAME
    path = hostile.ckpt_pickle_as_safetensors(tmp_path, marker)
    done = subprocess.run(
        [sys.executable, "-m", "sequence_tutor.cli", "sample", "--agent", "note-rnn", "--note-rnn",
         str(path), "--n", "1", "--out", str(tmp_path / "s.jsonl"), "--no-progress"],
        capture_output=True, text=True, timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "m.safetensors" in done.stderr
    assert "Traceback" not in done.stderr and not marker.exists()


FAST_REPORT = {"report:samples-nested-100k", "report:csv-sparse-4GiB"}


@pytest.mark.parametrize("name", _params(hostile.report_cases(), FAST_REPORT))
def test_report_with_a_hostile_run_folder(tmp_path, trained_run, name):
    sandbox = tmp_path / "sandbox"
    run = sandbox / "run"
    shutil.copytree(trained_run, run)
    hostile.report_cases()[name](run)
    argv = ["report", str(run), "--out", str(sandbox / "out"), "--no-audio",
            "--n-compositions", "1"]  # fmt: skip
    outcome = run_cli_case(argv, sandbox, allowed=["out"], timeout_s=120)
    assert outcome.problems([str(run)], name in hostile.TOLERATED_REPORT_CASES) == []
