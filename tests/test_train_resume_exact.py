"""``train --resume`` continues a run bit for bit: an interrupted and resumed run ends with the
same weights, optimiser state, replay buffer and samples as an uninterrupted run of the same seed.

The interruption is simulated the way a SIGKILL leaves the folder: the run went on past its last
periodic checkpoint (here to step 400, off a composition and ``train_freq`` boundary), then only
that checkpoint (step 320) is kept and named by ``latest.json``.
"""

from __future__ import annotations

import json
import shutil

import torch
from safetensors.torch import load_file

from sequence_tutor.cli import main

torch.set_num_threads(1)

COMMON = [
    "--learning-starts",
    "64",
    "--samples",
    "6",
    "--export",
    "0",
    "--checkpoint-every",
    "100",  # due at 100, 200, ...: written at the next composition + train_freq boundary
    "--no-progress",
    "--seed",
    "3",
]


def _train(out, steps, *extra):
    assert main(["train", "--out", str(out), "--steps", str(steps), *COMMON, *extra]) == 0


def test_resumed_run_is_bit_identical_to_an_uninterrupted_one(tmp_path, capsys):
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    _train(whole, 480)
    _train(resumed, 400)
    checkpoints = resumed / "checkpoints"
    # Periodic checkpoints waited for boundaries (every 160 steps: 32-step compositions,
    # train_freq 5); the end of the run is a checkpoint too, mid-composition.
    assert sorted(p.name for p in checkpoints.glob("step_*")) == [
        "step_000000320",
        "step_000000400",
    ]
    assert "exact_resume" in json.loads((checkpoints / "step_000000320/training.json").read_text())
    assert "exact_resume" not in json.loads(
        (checkpoints / "step_000000400/training.json").read_text()
    )
    # "Killed" after writing step 320: the later work is lost.
    shutil.rmtree(checkpoints / "step_000000400")
    (checkpoints / "latest.json").write_text(
        json.dumps({"checkpoint": "step_000000320", "num_timesteps": 320}) + "\n"
    )
    for name in ("agent.safetensors", "agent.json"):
        (resumed / name).unlink()
    capsys.readouterr()
    _train(resumed, 480, "--resume")
    assert "resuming" in capsys.readouterr().out

    expected = load_file(str(whole / "agent.safetensors"))
    found = load_file(str(resumed / "agent.safetensors"))
    assert expected.keys() == found.keys()
    for key in expected:
        assert torch.equal(expected[key], found[key]), key
    for name in ("agent", "training"):  # Adam's moments, the replay buffer, the RNG states
        a = load_file(str(whole / "checkpoints/step_000000480" / f"{name}.safetensors"))
        b = load_file(str(resumed / "checkpoints/step_000000480" / f"{name}.safetensors"))
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), (name, key)
    meta_a = json.loads((whole / "checkpoints/step_000000480/training.json").read_text())
    meta_b = json.loads((resumed / "checkpoints/step_000000480/training.json").read_text())
    assert meta_a == meta_b  # counters, env generators, observations
    for samples in ("psi.jsonl", "note_rnn.jsonl"):
        assert (whole / "samples" / samples).read_bytes() == (
            resumed / "samples" / samples
        ).read_bytes()
