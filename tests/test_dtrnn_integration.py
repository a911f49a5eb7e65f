"""A DT-RNN checkpoint everywhere a Note RNN goes: pretrain, Reward RNN in the env, the policy of
``train --note-rnn``, ``sample``; and a checkpoint whose config does not match its weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from agents.agent_checkpoint import load_agent_policy
from agents.cli import main
from envs import SequenceTutorEnv
from pretrain.checkpoint import load_note_rnn, save_note_rnn
from pretrain.dtrnn import DTRNNNoteRNN
from pretrain.models import NoteRNNConfig, build_note_rnn

torch.set_num_threads(1)

PHRASES = ["GABc d2B2|c2A2 B2G2", "ABcd e2d2|B2A2 G4", "c2e2 g2e2|f2d2 c4", "E2G2 A2G2|E2D2 C4"]


def dtrnn_checkpoint(path, hidden=12, depth=2):
    torch.manual_seed(0)
    model = build_note_rnn(NoteRNNConfig(kind="dtrnn", hidden_size=hidden, depth=depth))
    save_note_rnn(model, path)
    return model


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("melodies")
    tunes = []
    for i in range(12):
        body = "|".join(PHRASES[(i + j) % 4] for j in range(3))
        tunes.append(f"X:{i + 1}\nT:Tune {i}\nM:4/4\nL:1/8\nK:C\n{body}|]\n")
    (folder / "tunes.abc").write_text("\n".join(tunes), encoding="utf-8")
    return folder


def test_pretrain_dtrnn_writes_a_checkpoint_and_micro_layer_logs(data_folder, tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "out"
    code = main(
        [
            "pretrain", "--model", "dtrnn", "--depth", "3", "--parameters", "5000",
            "--data", str(data_folder), "--cache-dir", str(tmp_path / "cache"), "--workers", "1",
            "--batch-size", "4", "--window", "16", "--steps-per-epoch", "4", "--epochs", "2",
            "--no-progress", "--out", str(out),
        ]
    )  # fmt: skip
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert f"wrote {out / 'note_rnn_dtrnn.safetensors'}" in printed.out
    assert "training DT-RNN depth 3 x 29 (4852 parameters)" in printed.out
    model, meta = load_note_rnn(out / "note_rnn_dtrnn")
    # 3 * 29^2 + (38 + 3 + 38) * 29 + 38 = 4852 <= 5000 < 5108 at 30 units
    assert isinstance(model, DTRNNNoteRNN) and meta["config"].hidden_size == 29
    wider = build_note_rnn(NoteRNNConfig(kind="dtrnn", hidden_size=30, depth=3))
    assert model.num_parameters() == 4852 and wider.num_parameters() == 5108
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {f"dtrnn/state_change_layer_{layer}" for layer in (1, 2, 3)} <= tags
    assert not any("transform_gate" in tag for tag in tags)
    values = [e.value for e in events.Scalars("dtrnn/state_change_layer_1")]
    assert values and all(np.isfinite(v) and v > 0 for v in values)


def test_env_steps_with_a_dtrnn_reward_rnn(tmp_path):
    model = dtrnn_checkpoint(tmp_path / "dt").eval()
    env = SequenceTutorEnv(reward_rnn=tmp_path / "dt")
    assert env.reward_rnn.kind == "dtrnn"
    check_env(env)
    obs, _ = env.reset(seed=0, options={"primer": [14]})
    played = [14]
    for action in [16, 1, 1, 18, 0]:
        with torch.no_grad():
            logits, _ = model(torch.tensor([played]))
        expected = torch.log_softmax(logits[0, -1], -1)[action].item()
        obs, _, _, _, info = env.step(action)
        assert info["log_prob"] == pytest.approx(expected, abs=1e-5)
        played.append(action)


def test_train_with_a_dtrnn_note_rnn_then_sample(tmp_path, capsys):
    dtrnn_checkpoint(tmp_path / "dt")
    out = tmp_path / "run"
    argv = [
        "train", "--algo", "psi", "--note-rnn", str(tmp_path / "dt.safetensors"),
        "--steps", "320", "--learning-starts", "64", "--samples", "10", "--export", "0",
        "--checkpoint-every", "160", "--no-progress", "--out", str(out),
    ]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    assert "trained psi for 320 steps" in capsys.readouterr().out
    policy, meta = load_agent_policy(out)
    assert meta["note_rnn_config"].kind == "dtrnn" and meta["num_timesteps"] == 320
    assert isinstance(policy.q_net.rnn, DTRNNNoteRNN)
    samples = tmp_path / "s.jsonl"
    assert main(["sample", "--agent", str(out), "--n", "5", "--out", str(samples)]) == 0
    lines = [json.loads(line) for line in samples.read_text().splitlines()]
    assert len(lines) == 5 and all(len(line["tokens"]) == 32 for line in lines)
    assert all(0 <= t < 38 for line in lines for t in line["tokens"])
    note_rnn_samples = tmp_path / "n.jsonl"
    assert (
        main(
            [
                "sample",
                "--agent",
                "note-rnn",
                "--note-rnn",
                str(tmp_path / "dt"),
                "--n",
                "5",
                "--out",
                str(note_rnn_samples),
            ]
        )  # fmt: skip
        == 0
    )
    assert len(note_rnn_samples.read_text().splitlines()) == 5


@pytest.mark.parametrize(
    "config, problem",
    [
        ({"depth": 3}, "recurrent_weight: (2, 12, 12)"),  # depth in the JSON, not in the weights
        ({"hidden_size": 10}, "input_weight: (38, 12)"),
        ({"kind": "rhn"}, "input_weight: (38, 12)"),  # an RHN needs [V, 2H]
    ],
)
def test_dtrnn_checkpoint_whose_config_does_not_match_its_weights(
    config, problem, tmp_path, capsys
):
    dtrnn_checkpoint(tmp_path / "dt", hidden=12, depth=2)
    meta = json.loads((tmp_path / "dt.json").read_text())
    meta["config"].update(config)
    (tmp_path / "dt.json").write_text(json.dumps(meta))
    argv = ["train", "--note-rnn", str(tmp_path / "dt"), "--out", str(tmp_path / "o")]
    assert main([*argv, "--steps", "10", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert f"{tmp_path / 'dt.safetensors'}: weights do not match the config in its JSON" in err
    assert problem in err
    assert not (tmp_path / "o").exists()
