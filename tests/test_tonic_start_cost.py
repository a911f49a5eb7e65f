"""benchmarks/tonic_start_cost.py: the reward terms of a composition as played and tonic-first."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "tonic_start_cost.py"
_SPEC = importlib.util.spec_from_file_location("tonic_start_cost", _PATH)
tonic_start_cost = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(tonic_start_cost)

TOKENS = [1, 16, 1, 18, 19, 1, 21, 1, 18, 16, 1, 14, 1, 1, 16, 18]


@pytest.fixture(scope="module")
def env():
    return gym.make("SequenceTutor-v0", melody_length=len(TOKENS)).unwrapped


def test_term_sums_add_up_to_the_env_reward(env):
    sums = tonic_start_cost.term_sums(env, [21], np.array(TOKENS))
    env.reset(seed=0, options={"primer": [21]})
    total = sum(env.step(a)[1] for a in TOKENS)
    theory = sum(v for k, v in sums.items() if k != "note_rnn")
    assert total == pytest.approx(theory / env.reward_scale + sums["note_rnn"])
    # the first note is a hold, not the tonic at step 0: only the step T - 3 rules can pay
    moved = tonic_start_cost.term_sums(env, [21], np.array([14] + TOKENS[1:]))
    assert moved["tonic"] - sums["tonic"] == 3.0


def test_prints_each_term_and_the_tonic_share(tmp_path, monkeypatch, capsys):
    path = tmp_path / "agent.jsonl"
    records = [{"tokens": TOKENS, "primer": [21], "agent": "a"}] * 2
    records.append({"tokens": [14] + TOKENS[1:], "primer": [21], "agent": "a"})
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    monkeypatch.setattr(sys, "argv", ["tonic_start_cost.py", str(path), "--limit", "2"])
    tonic_start_cost.main()
    out = capsys.readouterr().out
    assert "a (C major): 2 compositions re-scored; 33.3% of the file's 3 start on the tonic" in out
    tonic_line = next(line for line in out.splitlines() if line.startswith("tonic "))
    assert tonic_line.split()[1:] == ["+3.000", "0.000"]
