"""Throughput of the native vector env in each autoreset mode, bare and under Gymnasium's vector
``FlattenObservation``, against ``SyncVectorEnv`` of the single env, interleaved.

    python benchmarks/env_vector_modes.py              # about a minute on 2 cores
    python benchmarks/env_vector_modes.py --quick      # a few seconds (smoke test)

Every round runs each contender once, in turn, for the same number of ``step`` calls with actions
drawn beforehand; the table reports the median over rounds of composition-steps per second
(N per call, NEXT_STEP's reset calls included: they are part of what an agent pays) and of the
per-round ratio to ``SyncVectorEnv`` in the same mode. torch runs on one thread.

Contenders, for each N:

* ``native SAME_STEP`` / ``native NEXT_STEP``: ``gym.make_vec(..., vectorization_mode=
  "vector_entry_point", autoreset_mode=...)``.
* ``native NEXT_STEP + FlattenObservation``: wrapped by ``gym.wrappers.vector.FlattenObservation``
  (one-hot tokens; Gymnasium's observation wrappers need NEXT_STEP or DISABLED).
* ``sync ...``: the same through ``SyncVectorEnv`` of N ``gym.make("SequenceTutor-v0")``.
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


def make(kind: str, mode: str, num_envs: int, flatten: bool) -> gym.vector.VectorEnv:
    if kind == "native":
        venv = gym.make_vec(
            "SequenceTutor-v0",
            num_envs=num_envs,
            vectorization_mode="vector_entry_point",
            autoreset_mode=mode,
        )
    else:
        venv = gym.make_vec(
            "SequenceTutor-v0",
            num_envs=num_envs,
            vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": mode},
        )
    return gym.wrappers.vector.FlattenObservation(venv) if flatten else venv


def runner(venv: gym.vector.VectorEnv, calls: int, seed: int):
    venv.reset(seed=seed)
    actions = np.random.default_rng(seed).integers(0, 38, (calls, venv.num_envs))

    def run() -> float:
        start = time.perf_counter()
        for row in actions:
            venv.step(row)
        return calls * venv.num_envs / (time.perf_counter() - start)

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=66, help="step calls per round")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--quick", action="store_true", help="tiny run to check it works")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.calls, args.sizes = 2, 8, [8]
    torch.set_num_threads(1)

    contenders = [
        ("SameStep", False),
        ("NextStep", False),
        ("NextStep", True),
    ]
    runners = {}
    for size in args.sizes:
        for mode, flatten in contenders:
            for kind in ("native", "sync"):
                name = (kind, size, mode, flatten)
                runners[name] = runner(make(kind, mode, size, flatten), args.calls, 0)
    for run in runners.values():  # warm-up
        run()
    rates: dict[tuple, list[float]] = {name: [] for name in runners}
    for _ in range(args.rounds):
        for name, run in runners.items():
            rates[name].append(run())

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
        f"gymnasium {gym.__version__}; {os.cpu_count()} CPUs, load average {load:.1f}; "
        f"{args.rounds} interleaved rounds of {args.calls} calls, medians"
    )
    print(f"\n{'N':>5}  {'mode':<9}{'wrapper':<20}{'native':>12}{'sync':>12}{'native/sync':>13}")
    for size in args.sizes:
        for mode, flatten in contenders:
            native, sync = (
                rates[("native", size, mode, flatten)],
                rates[("sync", size, mode, flatten)],
            )
            ratio = statistics.median(a / b for a, b in zip(native, sync))
            wrapper = "FlattenObservation" if flatten else "-"
            print(
                f"{size:>5}  {mode:<9}{wrapper:<20}{statistics.median(native):>12,.0f}"
                f"{statistics.median(sync):>12,.0f}{ratio:>12.1f}x"
            )
    print("\n(composition-steps per second)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
