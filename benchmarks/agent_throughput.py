"""Training throughput: our KL-control Psi agent vs plain SB3 DQN (MLP), side by side.

Both learn on SequenceTutor-v0 (1 env, train_freq 5, batch 32, the paper's hyper-parameters for
ours; SB3's MlpPolicy with the same train_freq / batch / buffer for the baseline). Runs are
interleaved (ours, MLP, ours, MLP, ...) so machine load hits both alike; the result is the
median of the per-round ratios, with their range (as ``env_throughput.py`` reports). A cProfile summary of one extra run of ours shows where the time goes.

    python benchmarks/agent_throughput.py --steps 20000 --rounds 3
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import time

import torch


def make_env(n_envs: int = 1):
    from stable_baselines3.common.env_util import make_vec_env

    import envs  # noqa: F401  (registers SequenceTutor-v0)

    return make_vec_env("SequenceTutor-v0", n_envs=n_envs, seed=0)


def ours(algo: str, train_freq: int):
    from agents import SequenceTutorDQN

    return SequenceTutorDQN(
        "NoteRNNPolicy", make_env(), algo=algo, train_freq=train_freq, learning_starts=1000, seed=0
    )


def mlp(train_freq: int):
    from stable_baselines3 import DQN

    return DQN(
        "MlpPolicy",
        make_env(),
        train_freq=train_freq,
        batch_size=32,
        buffer_size=100_000,
        learning_starts=1000,
        gamma=0.5,
        learning_rate=1e-3,
        seed=0,
        device="cpu",
    )


def steps_per_second(model, steps: int) -> float:
    start = time.perf_counter()
    model.learn(steps)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--train-freq", type=int, default=5)
    parser.add_argument("--algo", default="psi")
    parser.add_argument("--profile-steps", type=int, default=10_000)
    args = parser.parse_args()
    torch.set_num_threads(1)

    ours_rates, mlp_rates = [], []
    for round_ in range(args.rounds):
        ours_rates.append(steps_per_second(ours(args.algo, args.train_freq), args.steps))
        mlp_rates.append(steps_per_second(mlp(args.train_freq), args.steps))
        print(
            f"round {round_ + 1}: ours ({args.algo}) {ours_rates[-1]:7.0f} steps/s   "
            f"SB3 DQN MLP {mlp_rates[-1]:7.0f} steps/s   ratio {ours_rates[-1] / mlp_rates[-1]:.2f}"
        )
    ours_median, mlp_median = statistics.median(ours_rates), statistics.median(mlp_rates)
    ratios = [o / m for o, m in zip(ours_rates, mlp_rates)]
    print(
        f"median over {args.rounds} rounds of {args.steps} steps, train_freq {args.train_freq}: "
        f"ours {ours_median:.0f} steps/s, SB3 DQN MLP {mlp_median:.0f} steps/s; "
        f"ratio (median of per-round ratios) {statistics.median(ratios):.2f} "
        f"(range {min(ratios):.2f}-{max(ratios):.2f})"
    )
    print(f"1M steps at this rate: ours {1e6 / ours_median / 60:.1f} min")

    if args.profile_steps:
        model = ours(args.algo, args.train_freq)
        profiler = cProfile.Profile()
        profiler.enable()
        model.learn(args.profile_steps)
        profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(25)
        print(f"\nprofile of ours, {args.profile_steps} steps (cumulative):")
        print("\n".join(line for line in text.getvalue().splitlines() if line.strip())[:6000])


if __name__ == "__main__":
    main()
