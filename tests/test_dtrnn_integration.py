"""A DT-RNN checkpoint everywhere a Note RNN goes: Reward RNN in the env, the policy of
``train --note-rnn``, ``sample``; and a checkpoint whose config does not match its weights.
(Pretraining one: tests/test_pretrain_cli.py.)"""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from agents.agent_file import load_agent_policy
from agents.policy_gradient.training import load_pg_sampler
from envs import SequenceTutorEnv  # importing envs registers SequenceTutor-v0
from pretrain.checkpoint import save_note_rnn
from pretrain.dtrnn import DTRNNNoteRNN
from pretrain.models import NoteRNNConfig, build_note_rnn
from sequence_tutor.cli import main

torch.set_num_threads(1)


def dtrnn_checkpoint(path, hidden=12, depth=2):
    torch.manual_seed(0)
    model = build_note_rnn(NoteRNNConfig(kind="dtrnn", hidden_size=hidden, depth=depth))
    save_note_rnn(model, path)
    return model


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


def test_vector_env_with_a_dtrnn_reward_rnn_equals_single_envs(tmp_path):
    dtrnn_checkpoint(tmp_path / "dt", depth=3)
    kwargs = {"melody_length": 8, "reward_rnn": tmp_path / "dt"}
    venv = gym.make_vec(
        "SequenceTutor-v0", num_envs=3, vectorization_mode="vector_entry_point", **kwargs
    )
    singles = [gym.make("SequenceTutor-v0", **kwargs) for _ in range(3)]
    obs, _ = venv.reset(seed=5)
    for i, env in enumerate(singles):
        np.testing.assert_array_equal(obs[i], env.reset(seed=5 + i)[0])
    rng = np.random.default_rng(0)
    for _ in range(20):  # past the end of the first episodes: autoreset
        actions = rng.integers(0, 38, 3)
        _, _, terminated, _, info = venv.step(actions)
        for i, env in enumerate(singles):
            _, _, term, _, single = env.step(int(actions[i]))
            # a finishing step's terms are under final_info, as with Gymnasium's SyncVectorEnv
            terms = (info["final_info"] if terminated[i] else info)["reward_terms"]
            assert terms["note_rnn"][i] == pytest.approx(
                single["reward_terms"]["note_rnn"], abs=1e-5
            )
            if term:
                env.reset()


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


# Each algorithm's smallest run: melodies of 8 steps, a few dozen env steps, no MIDI export.
TINY_T = 8
TINY_RUNS = {
    "q": ["--steps", "48", "--learning-starts", "16", "--batch-size", "8"],
    "g": ["--steps", "48", "--learning-starts", "16", "--batch-size", "8"],
    "rloo": ["--steps", "32", "--k", "2", "--num-primers", "2"],  # 4 x 8 = 32 steps a batch
    "grpo": ["--steps", "32", "--k", "2", "--num-primers", "2"],
    "ppo-kl": ["--steps", "32", "--n-envs", "2", "--n-steps", "16", "--batch-size", "16"],
}


@pytest.mark.parametrize("algo", sorted(TINY_RUNS))
def test_every_algo_trains_a_dtrnn_note_rnn_then_samples(algo, tmp_path, capsys):
    dtrnn_checkpoint(tmp_path / "dt", hidden=8, depth=2)
    out = tmp_path / "run"
    argv = [
        "train", "--algo", algo, "--note-rnn", str(tmp_path / "dt.safetensors"),
        "--melody-length", str(TINY_T), "--samples", "4", "--export", "0", "--no-progress",
        "--out", str(out), *TINY_RUNS[algo],
    ]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    steps = TINY_RUNS[algo][1]
    assert f"trained {algo} for {steps} steps" in capsys.readouterr().out
    saved = json.loads((out / "agent.json").read_text())
    assert saved["algo"] == algo and saved["note_rnn_config"]["kind"] == "dtrnn"
    assert saved["note_rnn_config"]["depth"] == 2 and saved["note_rnn_config"]["hidden_size"] == 8
    if algo in ("q", "g"):
        policy, _ = load_agent_policy(out)
        rnn = policy.q_net.rnn
    else:
        rnn = load_pg_sampler(out)[0].actor.rnn
    assert isinstance(rnn, DTRNNNoteRNN) and rnn.config.depth == 2
    samples = tmp_path / "s.jsonl"
    assert main(["sample", "--agent", str(out), "--n", "3", "--out", str(samples)]) == 0
    lines = [json.loads(line) for line in samples.read_text().splitlines()]
    assert [line["agent"] for line in lines] == [algo] * 3
    assert all(len(line["tokens"]) == TINY_T for line in lines)
    assert all(0 <= t < 38 for line in lines for t in line["tokens"])


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
