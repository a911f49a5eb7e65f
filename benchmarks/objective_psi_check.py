"""The shipped Ψ agent measured with ``sequence_tutor/evaluation/objective.py``: J, its parts, log π and log p.

DESIGN.md ("One objective") reports, over 2 000 compositions: KL(π ‖ p) = 35.3 nats per
composition, log π(composition) = −18.0, log p = −53.1.

    python benchmarks/objective_psi_check.py --n 2000 --seed 0
"""

from __future__ import annotations

import argparse

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from agents.agent_file import load_agent_policy, shipped_agent
    from sequence_tutor.evaluation.objective import measure_objective

    policy, _ = load_agent_policy(shipped_agent("psi"))
    est = measure_objective(policy, args.n, seed=args.seed, name="psi (shipped)")
    print(f"{est.name}, {est.compositions} compositions, seed {args.seed}:")
    for key in ("J", "theory", "kl", "log_p"):
        print(f"  {key:7s} {getattr(est, key):8.2f}  (s.e. {est.standard_error(key):.2f})")
    print(f"  log_pi  {est.log_pi:8.2f}")


if __name__ == "__main__":
    main()
