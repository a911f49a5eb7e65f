"""Training throughput of the KL-regularised policy gradients (RLOO, GRPO, PPO-KL) vs Ψ-learning.

Each contender learns on SequenceTutor-v0 with its default hyper-parameters: RLOO and GRPO on the
native vector env (32 compositions: 8 primers x k = 4), PPO-KL on SB3's ``make_vec_env`` (8 envs),
Ψ (``SequenceTutorDQN(algo="psi")``, the paper's hyper-parameters, 1 env) as
``benchmarks/agent_throughput.py`` runs it. Rounds are interleaved (rloo, grpo, ppo-kl, psi, ...)
so machine load hits all alike; the result is the median of the per-round ratios to Ψ, with
their range. Env steps are counted over all envs. Targets: rloo and grpo >= Ψ, ppo-kl >= 0.5 Ψ.

    python benchmarks/pg_throughput.py --steps 20000 --rounds 3
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import time

import torch


def build(name: str):
    if name == "rloo":
        from agents.policy_gradient.rloo import RLOO

        return RLOO(None, seed=0)
    if name == "grpo":
        from agents.policy_gradient.grpo import GRPO

        return GRPO(None, seed=0)
    if name == "ppo-kl":
        from agents.policy_gradient.ppo_kl import PPOKL

        return PPOKL(None, seed=0)
    from stable_baselines3.common.env_util import make_vec_env

    import envs  # noqa: F401  (registers SequenceTutor-v0)
    from agents import SequenceTutorDQN

    env = make_vec_env("SequenceTutor-v0", n_envs=1, seed=0)
    return SequenceTutorDQN("NoteRNNPolicy", env, algo="psi", seed=0)


def steps_per_second(name: str, steps: int) -> float:
    model = build(name)
    start = time.perf_counter()
    model.learn(steps)
    return model.num_timesteps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", default="", help="profile one extra run of this agent")
    parser.add_argument("--profile-steps", type=int, default=20_000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = ["rloo", "grpo", "ppo-kl", "psi"]
    rates: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(args.rounds):
        for name in names:
            rates[name].append(steps_per_second(name, args.steps))
        line = "   ".join(f"{n} {rates[n][-1]:7.0f}" for n in names)
        print(f"round {round_ + 1}: {line} steps/s")
    print(f"\nmedian over {args.rounds} rounds of {args.steps} env steps:")
    targets = {"rloo": 1.0, "grpo": 1.0, "ppo-kl": 0.5}
    for name in names:
        ratios = [r / p for r, p in zip(rates[name], rates["psi"])]
        line = f"  {name:7s} {statistics.median(rates[name]):7.0f} steps/s"
        if name != "psi":
            line += (
                f"   ratio to psi {statistics.median(ratios):5.2f} "
                f"(range {min(ratios):.2f}-{max(ratios):.2f}; target >= {targets[name]})"
            )
        print(line)
    if args.profile:
        model = build(args.profile)
        profiler = cProfile.Profile()
        profiler.enable()
        model.learn(args.profile_steps)
        profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(15)
        print(f"\nprofile of {args.profile}, {args.profile_steps} steps (tottime):")
        print("\n".join(line for line in text.getvalue().splitlines() if line.strip())[:5000])


if __name__ == "__main__":
    main()
