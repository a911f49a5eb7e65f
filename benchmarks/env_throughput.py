"""Throughput of SequenceTutor-v0 against CartPole-v1 and the music21 reference, interleaved.

    python benchmarks/env_throughput.py            # about two minutes on 2 cores
    python benchmarks/env_throughput.py --quick    # a few seconds (smoke test)

Every round measures each contender once, in turn, for the same number of steps with actions
drawn beforehand (so action sampling is not timed); the tables report the median over rounds of
steps per second and the median of the per-round ratios, which keeps a busy shared machine from
favouring whichever contender happened to run while it was quiet. Two clocks: wall time, and the
CPU time of this process (what the step costs, less sensitive to other processes on the machine;
torch runs on one thread, so the two agree on an idle machine).

Contenders:

* ``CartPole-v1`` through ``gym.make`` (with its wrappers), random actions, resets included.
* ``SequenceTutor-v0`` through ``gym.make``: all rules and the shipped LSTM Reward RNN (numpy
  fused step), random actions, resets included.
* ``reference``: the music21 reference of the rules (``tests/reference_rules.py``), which reads
  the whole melody with music21 objects at every step (rules only, no Reward RNN).
* ``vector N``: ``gym.make_vec(..., vectorization_mode="vector_entry_point")`` with N
  compositions; its rate counts composition-steps (N per call).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import envs  # noqa: E402, F401 (registers SequenceTutor-v0)
from tests.reference_rules import ReferenceRules  # noqa: E402

MELODY_LENGTH = 32


def single_env_runner(env_id: str, steps: int, seed: int, **kwargs):
    env = gym.make(env_id, **kwargs)
    env.reset(seed=seed)
    actions = np.random.default_rng(seed).integers(0, env.action_space.n, steps).tolist()

    def run() -> float:
        start, cpu = time.perf_counter(), time.process_time()
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        return steps / (time.perf_counter() - start), steps / (time.process_time() - cpu)

    return run


def reference_runner(steps: int, seed: int):
    reference = ReferenceRules("C major")
    tokens = np.random.default_rng(seed).integers(0, 38, steps).tolist()

    def run() -> float:
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(steps):
            t = i % MELODY_LENGTH
            begin = i - t
            reference.terms(tokens[begin : i + 1], MELODY_LENGTH)
        return steps / (time.perf_counter() - start), steps / (time.process_time() - cpu)

    return run


def vector_runner(num_envs: int, steps: int, seed: int):
    venv = gym.make_vec(
        "SequenceTutor-v0", num_envs=num_envs, vectorization_mode="vector_entry_point"
    )
    venv.reset(seed=seed)
    actions = np.random.default_rng(seed).integers(0, 38, (steps, num_envs))

    def run() -> float:
        start, cpu = time.perf_counter(), time.process_time()
        for row in actions:
            venv.step(row)
        count = steps * num_envs
        return count / (time.perf_counter() - start), count / (time.process_time() - cpu)

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=6400, help="single-env steps per round")
    parser.add_argument("--reference-steps", type=int, default=64)
    parser.add_argument("--vector-steps", type=int, default=64, help="vector calls per round")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--quick", action="store_true", help="tiny run to check it works")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.steps, args.reference_steps, args.vector_steps = 2, 320, 8, 4
    torch.set_num_threads(1)

    runners = {
        "CartPole-v1": single_env_runner("CartPole-v1", args.steps, 0),
        "SequenceTutor-v0": single_env_runner("SequenceTutor-v0", args.steps, 0),
        "reference": reference_runner(args.reference_steps, 0),
    }
    for size in args.sizes:
        runners[f"vector {size}"] = vector_runner(size, args.vector_steps, 0)
    for run in runners.values():  # warm-up: caches, lazy imports, first allocations
        run()

    rates: dict[str, list[tuple[float, float]]] = {name: [] for name in runners}
    for _ in range(args.rounds):
        for name, run in runners.items():
            rates[name].append(run())

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
        f"gymnasium {gym.__version__}; {os.cpu_count()} CPUs, load average {load:.1f}; "
        f"{args.rounds} interleaved rounds, medians"
    )
    for clock, label in ((0, "wall clock"), (1, "process CPU time")):

        def rate(name: str, clock: int = clock) -> float:
            return statistics.median(r[clock] for r in rates[name])

        def ratio(a: str, b: str, clock: int = clock) -> float:
            return statistics.median(x[clock] / y[clock] for x, y in zip(rates[a], rates[b]))

        print(f"\n[{label}]")
        print(f"{'contender':<20}{'steps/s':>14}{'us/step':>10}")
        for name in rates:
            unit = "  composition-steps/s" if name.startswith("vector") else ""
            print(f"{name:<20}{rate(name):>14,.0f}{1e6 / rate(name):>10.2f}{unit}")
        print(
            f"SequenceTutor-v0 step time / CartPole-v1 step time: "
            f"{1 / ratio('SequenceTutor-v0', 'CartPole-v1'):.2f}x  (target <= 3)"
        )
        print(
            f"SequenceTutor-v0 / reference speed:                 "
            f"{ratio('SequenceTutor-v0', 'reference'):.0f}x  (target >= 150)"
        )
        for size in args.sizes:
            target = "  (target >= 2.5)" if size == 256 else ""
            print(
                f"vector {size:<5} / CartPole-v1 steps/s:              "
                f"{ratio(f'vector {size}', 'CartPole-v1'):.2f}x{target}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
