"""How far the native vector env's rewards are from N single envs' (the README's tolerance).

    python benchmarks/env_vector_tolerance.py     # about a minute on 2 cores

Observations, flags and the rules' terms of the native vector env equal those of N single
``SequenceTutor-v0`` envs seeded ``seed + i`` exactly (tested); the Reward RNN's float32 term
differs by rounding, because the batched GEMM sums in another order than the single env's
mat-vec and the difference is carried along the recurrence. This prints the largest absolute
reward difference per step over whole episodes of random actions, for several N and T and two
seeds each; ``tests/vector_checks.py`` holds the stated bound (``REWARD_RNN_ATOL``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

import envs  # noqa: E402, F401 (registers SequenceTutor-v0)
from tests.vector_checks import REWARD_RNN_ATOL  # noqa: E402


def largest_difference(num_envs: int, length: int, seed: int) -> float:
    """Max |native − single| reward over one episode of random actions."""
    venv = gym.make_vec(
        "SequenceTutor-v0",
        num_envs=num_envs,
        vectorization_mode="vector_entry_point",
        melody_length=length,
    )
    singles = [gym.make("SequenceTutor-v0", melody_length=length) for _ in range(num_envs)]
    venv.reset(seed=seed)
    for i, env in enumerate(singles):
        env.reset(seed=seed + i)
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(length):
        actions = rng.integers(0, 38, num_envs)
        _, rewards, *_ = venv.step(actions)
        single = np.array([env.step(int(a))[1] for env, a in zip(singles, actions)])
        worst = max(worst, float(np.abs(rewards - single).max()))
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--cases", nargs="+", default=["64x32", "256x32", "64x256", "256x256"])
    args = parser.parse_args(argv)
    print(f"{'N':>5} {'T':>5}  largest |reward difference| per step (seeds {args.seeds})")
    for case in args.cases:
        num_envs, length = (int(v) for v in case.split("x"))
        worst = max(largest_difference(num_envs, length, seed) for seed in args.seeds)
        print(f"{num_envs:>5} {length:>5}  {worst:.1e}")
    print(f"stated bound (tests/vector_checks.py REWARD_RNN_ATOL): {REWARD_RNN_ATOL:.0e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
