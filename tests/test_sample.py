"""The sample command: JSON Lines format, reproducibility, agents from checkpoints, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from agents.sampling import note_rnn_sampler, read_jsonl, sample
from pretrain.models import NoteRNNConfig, build_note_rnn
from rewards.keys import key_tables
from sequence_tutor.cli import main

torch.set_num_threads(1)


def read_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_note_rnn_samples_follow_the_json_lines_format(tmp_path):
    out = tmp_path / "s.jsonl"
    assert (
        main(
            [
                "sample",
                "--agent",
                "note-rnn",
                "--n",
                "7",
                "--seed",
                "3",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    records = read_lines(out)
    assert len(records) == 7
    in_key = set(key_tables("C major").in_key_notes.tolist())
    for record in records:
        assert set(record) == {"tokens", "primer", "key", "agent", "seed"}
        assert len(record["tokens"]) == 32 and all(0 <= t < 38 for t in record["tokens"])
        assert len(record["primer"]) == 1 and record["primer"][0] in in_key
        assert record["key"] == "C major" and record["agent"] == "note_rnn" and record["seed"] == 3
    again = tmp_path / "again.jsonl"
    main(
        [
            "sample",
            "--agent",
            "note-rnn",
            "--n",
            "7",
            "--seed",
            "3",
            "--out",
            str(again),
            "--no-progress",
        ]
    )
    assert again.read_text() == out.read_text()
    other = tmp_path / "other.jsonl"
    main(
        [
            "sample",
            "--agent",
            "note-rnn",
            "--n",
            "7",
            "--seed",
            "4",
            "--out",
            str(other),
            "--no-progress",
        ]
    )
    assert other.read_text() != out.read_text()
    (group,) = read_jsonl(out)
    assert group.tokens.shape == (7, 32)


def test_sampling_follows_the_note_rnn_distribution():
    torch.manual_seed(0)
    rnn = build_note_rnn(NoteRNNConfig(hidden_size=8)).eval()
    with torch.no_grad():
        rnn.output.weight.zero_()
        rnn.output.bias.copy_(torch.log(torch.tensor([0.5, 0.3] + [0.2 / 36] * 36)))
    s = sample(note_rnn_sampler(rnn), 3000, agent="x", melody_length=4, batch_size=1000)
    freq = np.bincount(s.tokens.ravel(), minlength=38) / s.tokens.size
    assert freq[0] == pytest.approx(0.5, abs=0.02) and freq[1] == pytest.approx(0.3, abs=0.02)


def test_fixed_primer_and_listenable_files(tmp_path):
    out = tmp_path / "s.jsonl"
    code = main(
        [
            "sample",
            "--agent",
            "note-rnn",
            "--n",
            "3",
            "--primer",
            "14",
            "16",
            "--out",
            str(out),
            "--midi",
            str(tmp_path / "midi"),
            "--musicxml",
            str(tmp_path / "xml"),
            "--max-files",
            "2",
            "--no-progress",
        ]
    )
    assert code == 0
    assert all(r["primer"] == [14, 16] for r in read_lines(out))
    assert len(list((tmp_path / "midi").glob("*.mid"))) == 2
    assert len(list((tmp_path / "xml").glob("*.musicxml"))) == 2


def test_agent_checkpoint_sampling(tmp_path):
    from stable_baselines3.common.env_util import make_vec_env

    import envs  # noqa: F401
    from agents import SequenceTutorDQN, save_agent

    env = make_vec_env("SequenceTutor-v0", n_envs=1, env_kwargs={"melody_length": 8})
    model = SequenceTutorDQN("NoteRNNPolicy", env, algo="g", learning_starts=10_000)
    save_agent(model, tmp_path / "agent", env_kwargs={"melody_length": 8})
    out = tmp_path / "s.jsonl"
    assert (
        main(["sample", "--agent", str(tmp_path), "--n", "4", "--out", str(out), "--no-progress"])
        == 0
    )
    records = read_lines(out)
    assert all(len(r["tokens"]) == 8 and r["agent"] == "g" for r in records)


def test_bad_sample_inputs_are_one_line_errors(tmp_path, capsys):
    cases = [
        (
            ["--agent", str(tmp_path / "nope"), "--out", str(tmp_path / "a.jsonl")],
            "not note-rnn, psi",
        ),
        (["--agent", "note-rnn", "--n", "0", "--out", str(tmp_path / "a.jsonl")], "--n must be"),
        (["--agent", "note-rnn", "--out", str(tmp_path)], "is a folder"),
        (["--agent", "note-rnn", "--primer", "99", "--out", str(tmp_path / "a.jsonl")], "primer"),
    ]
    for argv, message in cases:
        assert main(["sample", *argv, "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err, err
    corrupt = tmp_path / "bad"
    corrupt.mkdir()
    (corrupt / "agent.json").write_text("{")
    (corrupt / "agent.safetensors").write_bytes(b"junk")
    assert main(["sample", "--agent", str(corrupt), "--out", str(tmp_path / "a.jsonl")]) == 2
    assert "not a readable JSON" in capsys.readouterr().err


def test_shipped_psi_agent_loads_and_has_learned_the_rules(tmp_path):
    from agents.agent_file import load_agent_policy, shipped_agent
    from sequence_tutor.evaluation.table1 import evaluate_samples

    policy, meta = load_agent_policy(shipped_agent("psi"))
    assert meta["algo"] == "psi" and meta["melody_length"] == 32
    out = tmp_path / "psi.jsonl"
    assert (
        main(
            [
                "sample",
                "--agent",
                "psi",
                "--n",
                "300",
                "--seed",
                "5",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    (samples,) = read_jsonl(out)
    stats = evaluate_samples(samples, None).values
    # The Note RNN starts on the tonic ~1 % of the time and repeats excessively ~3 % of steps.
    assert stats["starts_with_tonic"] > 0.5
    assert stats["excessively_repeated"] < 0.01
    assert stats["not_in_key"] < 0.01
