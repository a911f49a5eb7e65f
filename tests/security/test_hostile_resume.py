"""Hostile ``--resume`` states for ``sequence-tutor pretrain`` (issue 8).

A valid resume file is spoiled in many ways (pickles, truncation, a 2**62-byte header, a state
JSON nested 100 000 deep, a config asking for a 10**6-unit model, missing or misshapen tensors,
``../`` strings, a FIFO, /dev/zero). Resuming must end in one error naming the file, in a forked
child under a memory ceiling, without running code or writing anything.
"""

from __future__ import annotations

import shutil
import types

import numpy as np
import pytest
import torch

from pretrain.errors import SequenceTutorError
from pretrain.models import NoteRNNConfig
from pretrain.training import RESUME_FILE, TrainingConfig, read_training_state, train_note_rnn
from pretrain.vocabulary import DEFAULT_VOCABULARY
from tests.security import hostile
from tests.security.bounded import run_bounded

TOLERATED = {"resume:float64"}  # weights that cast exactly to float32: resuming is fine


def tiny_corpus(seed: int = 0, tunes: int = 12, length: int = 48):
    rng = np.random.default_rng(seed)
    arrays = [
        rng.integers(0, DEFAULT_VOCABULARY.size, length).astype(np.int8) for _ in range(tunes)
    ]
    return types.SimpleNamespace(
        train=arrays[2:], valid=arrays[:2], vocabulary=DEFAULT_VOCABULARY, hash=f"tiny-{seed}"
    )


def tiny_config(**changes) -> TrainingConfig:
    base = dict(epochs=2, batch_size=4, window=16, steps_per_epoch=3, seed=0, patience=10)
    base.update(changes)
    return TrainingConfig(**base)


def tiny_run(out, resume: bool = False, **changes):
    torch.set_num_threads(1)
    return train_note_rnn(
        tiny_corpus(),
        out,
        model_config=None if resume else NoteRNNConfig(hidden_size=8),
        config=tiny_config(**changes),
        resume=resume,
        overrides=changes,
        progress=False,
        tensorboard=False,
        log=None,
    )


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("base") / "run"
    tiny_run(out)
    return out


CASES = sorted(hostile.resume_cases(__import__("pathlib").Path("unused")))


@pytest.mark.parametrize("name", CASES)
def test_hostile_resume_state_is_refused(tmp_path, base_run, name):
    out = tmp_path / "run"
    shutil.copytree(base_run, out)
    marker = tmp_path / hostile.MARKER_NAME
    hostile.resume_cases(out / RESUME_FILE)[name](out / RESUME_FILE, marker)
    before = hostile.snapshot(tmp_path)

    def resume():
        try:
            read_training_state(out / RESUME_FILE)
            result = tiny_run(out, resume=True, epochs=3)
        except SequenceTutorError as exc:
            return {"error": str(exc)}
        return {"epochs": len(result.history)}

    outcome = run_bounded(resume, headroom_mb=1024, timeout_s=60)
    assert outcome.status == "returned", f"{outcome.status} {outcome.error_type}: {outcome.message}"
    assert not marker.exists()
    assert not list(tmp_path.rglob(hostile.ESCAPE_NAME))
    if name in TOLERATED:
        assert outcome.value == {"epochs": 3}
        return
    message = outcome.value.get("error", "")
    assert str(out / RESUME_FILE) in message and "\n" not in message, outcome.value
    assert hostile.snapshot(tmp_path) == before  # refused before anything was written


def test_resume_cli_error_is_one_line(tmp_path, base_run, capsys):
    """Through the command line: exit code 2, one stderr line naming the file, no traceback."""
    from sequence_tutor.cli import main  # noqa: PLC0415

    out = tmp_path / "run"
    shutil.copytree(base_run, out)
    hostile.resume_cases(out / RESUME_FILE)["resume:torch-pickle"](
        out / RESUME_FILE, tmp_path / hostile.MARKER_NAME
    )
    code = main(["pretrain", "--resume", "--out", str(out), "--no-progress", "--no-tensorboard"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and str(out / RESUME_FILE) in err and "Traceback" not in err
    assert not (tmp_path / hostile.MARKER_NAME).exists()
