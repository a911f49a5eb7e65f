"""Where one composition-step of the native vector env goes, side by side with CartPole-v1.

    python benchmarks/env_vector_parts.py             # about a minute on 2 cores
    python benchmarks/env_vector_parts.py --quick     # a few seconds (smoke test)

The vector env's step at N compositions is the batched rules, the batched Reward RNN (one GEMM
over ``[h, 1]`` that gives the logits and the recurrent gates, then the gathered input rows, the
gate non-linearities and the log-softmax) and the env's own bookkeeping (observations, flags,
info, autoreset). Each part is timed on its own, on the same pre-drawn actions, in interleaved
rounds with CartPole-v1's step (through ``gym.make``), and reported in µs per composition-step
(medians over rounds):

* ``whole step``: ``gym.make_vec(..., vectorization_mode="vector_entry_point")``, SAME_STEP
  autoreset (resets included);
* ``rules``: the nine batched rules (``BatchTheoryReward``), reset every composition;
* ``Reward RNN``: the env's batched Reward RNN stream, primed every composition, ``log_prob``
  then ``feed`` at each step (the env's own calls);
* ``GEMM alone``: the one product of that stream, ``[V + 4H, H + 1] x [H + 1, N]``
  (``NumpyLSTM.project``, a ``torch.mm`` on one thread);
* ``bookkeeping``: the whole step with the rules and the Reward RNN replaced by stubs that
  return ready arrays (observations, flags, info, autoreset, primers);
* ``gates and log p``: Reward RNN minus GEMM; ``interplay``: whole step minus the three parts
  (what the parts cost more together than alone: caches they evict from each other, which
  grows with the load of the machine).

The last lines are the ratios to CartPole-v1's steps/s (the target is >= 2.5 at N = 256) of the
whole step and of the physical floor: a vector env whose step cost nothing but its GEMM.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import envs  # noqa: E402, F401 (registers SequenceTutor-v0)
from rewards.theory import BatchTheoryReward  # noqa: E402

MELODY_LENGTH = 32


def _timed(body: Callable[[], None]) -> float:
    start = time.process_time()
    body()
    return time.process_time() - start


def cartpole(steps: int, seed: int) -> Callable[[], float]:
    """Seconds of CPU per CartPole-v1 step."""
    env = gym.make("CartPole-v1")
    env.reset(seed=seed)
    actions = np.random.default_rng(seed).integers(0, 2, steps).tolist()

    def body() -> None:
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()

    return lambda: _timed(body) / steps


def vector_parts(num_envs: int, calls: int, seed: int) -> dict[str, Callable[[], float]]:
    """Seconds of CPU per composition-step of each part, on the same actions."""
    venv = gym.make_vec(
        "SequenceTutor-v0", num_envs=num_envs, vectorization_mode="vector_entry_point"
    )
    venv.reset(seed=seed)
    env = venv.unwrapped
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, env.single_action_space.n, (calls, num_envs))
    notes = env.tables.in_key_notes
    primers = np.ascontiguousarray(notes[rng.integers(0, len(notes), num_envs)][:, None])
    theory = BatchTheoryReward(num_envs, None, MELODY_LENGTH, env.tables, env.vocabulary)
    stream = env.reward_rnn.batch_stream(num_envs)
    count = calls * num_envs

    def whole() -> None:
        for row in actions:
            venv.step(row)

    def rules() -> None:
        for i, row in enumerate(actions):
            if i % MELODY_LENGTH == 0:
                theory.reset()
            theory.step(row)

    def reward_rnn() -> None:
        for i, row in enumerate(actions):
            t = i % MELODY_LENGTH
            if t == 0:
                stream.prime(primers)
            stream.log_prob(row)
            if t < MELODY_LENGTH - 1:
                stream.feed(row)

    def gemm() -> None:
        project, x, y = stream.kernel.project, stream.x, stream._y
        for _ in range(calls):
            project(x, y)

    bare = gym.make_vec(
        "SequenceTutor-v0", num_envs=num_envs, vectorization_mode="vector_entry_point"
    )
    _stub_rules_and_reward_rnn(bare.unwrapped)
    bare.reset(seed=seed)

    def bookkeeping() -> None:
        for row in actions:
            bare.step(row)

    return {
        "whole step": lambda: _timed(whole) / count,
        "bookkeeping": lambda: _timed(bookkeeping) / count,
        "rules": lambda: _timed(rules) / count,
        "Reward RNN": lambda: _timed(reward_rnn) / count,
        "GEMM alone": lambda: _timed(gemm) / count,
    }


class _ReadyScorer:
    """A Reward RNN stream that returns a ready array (for timing the env's own work)."""

    def __init__(self, num_envs: int) -> None:
        self.zeros = np.zeros(num_envs)

    def log_prob(self, tokens: np.ndarray) -> np.ndarray:
        return self.zeros

    def feed(self, tokens: np.ndarray) -> None:
        pass

    def prime(self, primers: object, rows: object = None) -> None:
        pass


def _stub_rules_and_reward_rnn(env: object) -> None:
    names = [rule.name for rule in env.theory.rules]
    terms = {name: np.zeros(env.num_envs) for name in names}
    env.theory.step = lambda actions: dict(terms)
    env._scorer = _ReadyScorer(env.num_envs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--num-envs", type=int, default=256)
    parser.add_argument("--calls", type=int, default=128, help="vector steps per round and part")
    parser.add_argument("--cartpole-steps", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="tiny run to check it works")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.calls, args.cartpole_steps = 2, 32, 1000
    torch.set_num_threads(1)  # as the env's own torch work runs (torch_threads=1)

    contenders = {"CartPole-v1": cartpole(args.cartpole_steps, 0)}
    contenders.update(vector_parts(args.num_envs, args.calls, 0))
    for measure in contenders.values():  # warm-up
        measure()
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.rounds):
        for name, measure in contenders.items():
            seconds[name].append(measure())

    rounds = range(args.rounds)
    derived = {
        "gates and log p": [seconds["Reward RNN"][r] - seconds["GEMM alone"][r] for r in rounds],
        "interplay": [
            seconds["whole step"][r]
            - seconds["rules"][r]
            - seconds["Reward RNN"][r]
            - seconds["bookkeeping"][r]
            for r in rounds
        ],
    }
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
        f"gymnasium {gym.__version__}; {os.cpu_count()} CPUs, load average {load:.1f}; "
        f"N = {args.num_envs}; {args.rounds} interleaved rounds, process CPU time, medians"
    )
    print(f"\n{'part':<22}{'us per step':>12}{'share':>8}  (vector parts: per composition-step)")
    whole = statistics.median(seconds["whole step"])
    rows = [
        ("CartPole-v1", seconds["CartPole-v1"]),
        ("whole step", seconds["whole step"]),
        ("  rules", seconds["rules"]),
        ("  Reward RNN", seconds["Reward RNN"]),
        ("    GEMM alone", seconds["GEMM alone"]),
        ("    gates and log p", derived["gates and log p"]),
        ("  bookkeeping", seconds["bookkeeping"]),
        ("  interplay", derived["interplay"]),
    ]
    for label, values in rows:
        value = statistics.median(values)
        share = "" if label == "CartPole-v1" else f"{value / whole:>7.0%}"
        print(f"{label:<22}{value * 1e6:>12.2f}{share:>8}")

    def ratio(part: str) -> list[float]:
        return [seconds["CartPole-v1"][r] / seconds[part][r] for r in rounds]

    for label, part in (("vector env", "whole step"), ("GEMM-only floor", "GEMM alone")):
        values = ratio(part)
        print(
            f"{label + ' / CartPole-v1 steps/s:':<36}{statistics.median(values):.2f}x "
            f"(rounds {min(values):.2f}-{max(values):.2f}; target >= 2.5 at N = 256)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
