"""What starting on the tonic would change in an agent's compositions, rule by rule.

Re-scores each composition of a samples file twice in the env, as played and with its first
action replaced by the tonic (C4 in C major, the rest unchanged), and prints the mean change of
every reward term. It explains why the policy-gradient agents, which maximise the undiscounted J,
almost never start on the tonic while Ψ (γ = 0.5) does in 42 % of its compositions: the +3
``tonic`` bonus is paid once, while the ``autocorrelation`` rule scores token numbers over the
whole composition at every later step, and a note (token 14) in place of the usual first hold
(token 1) raises that penalty for the rest of the composition.

    sequence-tutor train --algo ppo-kl --steps 100000 --seed 0 --samples 10000 --export 0 --out runs/ppo-kl-seed0
    python benchmarks/tonic_start_cost.py runs/ppo-kl-seed0/samples/ppo-kl.jsonl --limit 300

The change is that of the same continuation; an agent that started on the tonic would continue
differently, so the numbers are the cost of the start for these compositions, not an optimum.
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np

import envs  # noqa: F401  (registers SequenceTutor-v0)
from agents.sampling import read_jsonl


def term_sums(env, primer: list[int], tokens: np.ndarray) -> dict[str, float]:
    """Sum of every reward term over one composition played from ``primer``."""
    env.reset(seed=0, options={"primer": primer})
    sums: dict[str, float] = {}
    for action in tokens:
        _, _, _, _, info = env.step(int(action))
        for name, value in info["reward_terms"].items():
            sums[name] = sums.get(name, 0.0) + float(value)
    return sums


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("samples", help="a samples JSON Lines file (train's samples/<agent>.jsonl)")
    parser.add_argument("--limit", type=int, default=300, help="compositions to re-score")
    args = parser.parse_args()
    for group in read_jsonl(args.samples):
        env = gym.make(
            "SequenceTutor-v0", key=group.key, melody_length=group.tokens.shape[1]
        ).unwrapped
        tonic = env.tables.tonic_token
        count = min(args.limit, len(group))
        starts = float(np.mean(group.tokens[:, 0] == tonic))
        changes: dict[str, list[float]] = {}
        for tokens, primer in zip(group.tokens[:count], group.primers[:count]):
            played = term_sums(env, primer, tokens)
            moved = term_sums(env, primer, np.concatenate([[tonic], tokens[1:]]))
            for name in sorted(set(played) | set(moved)):
                changes.setdefault(name, []).append(moved.get(name, 0) - played.get(name, 0))
        print(
            f"{group.agent} ({group.key}): {count} compositions re-scored; "
            f"{starts:.1%} of the file's {len(group)} start on the tonic (token {tonic})"
        )
        print("term                 mean change (raw)  s.e.")
        theory = np.zeros(count)
        for name, values in changes.items():
            values_array = np.asarray(values)
            if name != "note_rnn":
                theory += values_array
            print(
                f"{name:20s} {values_array.mean():+17.3f}  "
                f"{values_array.std(ddof=1) / np.sqrt(count):.3f}"
            )
        print(
            f"{'r_theory (all rules)':20s} {theory.mean():+17.3f}  "
            f"{theory.std(ddof=1) / np.sqrt(count):.3f}"
        )


if __name__ == "__main__":
    main()
