"""First look: RLOO, GRPO, PPO-KL and Ψ trained for the same env-step budget, measured alike.

Each agent trains with its default hyper-parameters on SequenceTutor-v0 (c = 0.5, w = 1) for
``--steps`` env steps (seed ``--seed``), then composes ``--samples`` melodies from its own policy
(the same primers for every agent): the objective ``J = E[Σ r_theory / c] − w E[Σ KL(π ‖ p)]``
with the exact KL (:func:`sequence_tutor.evaluation.objective.measure_objective`), ``log π`` and ``log p`` of the
compositions, and the paper's Table 1 statistics of those compositions
(:func:`sequence_tutor.evaluation.table1.evaluate_samples`). The Note RNN (untrained, π = p) is the first column.
Trained agents are written under ``--out`` (safetensors + JSON), so ``--reuse`` re-measures
without training.

    python benchmarks/pg_first_look.py --steps 100000 --seed 0 --samples 1000 --out /tmp/pg_first_look
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

AGENTS = ("rloo", "grpo", "ppo-kl", "psi")


def train(name: str, steps: int, seed: int, out: Path, reuse: bool):
    """The trained agent (its policy for measuring) and the training seconds."""
    path = out / f"{name}_seed{seed}"
    from stable_baselines3.common.env_util import make_vec_env

    import envs  # noqa: F401  (registers SequenceTutor-v0)
    from agents.policy_gradient.grpo import GRPO
    from agents.policy_gradient.ppo_kl import PPOKL
    from agents.policy_gradient.rloo import RLOO

    classes = {"rloo": RLOO, "grpo": GRPO, "ppo-kl": PPOKL}
    if name == "psi":
        from agents import SequenceTutorDQN

        env = make_vec_env("SequenceTutor-v0", n_envs=1, seed=seed)
        if reuse and path.with_suffix(".json").is_file():
            return SequenceTutorDQN.load(path, env=env), json.loads(
                path.with_suffix(".time").read_text()
            )
        model = SequenceTutorDQN("NoteRNNPolicy", env, algo="psi", seed=seed)
    else:
        cls = classes[name]
        if reuse and path.with_suffix(".json").is_file():
            return cls.load(path), json.loads(path.with_suffix(".time").read_text())
        model = cls(None, seed=seed)
    start = time.perf_counter()
    model.learn(steps)
    seconds = time.perf_counter() - start
    model.save(path)
    path.with_suffix(".time").write_text(json.dumps(seconds))
    return model, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--agents", default=",".join(AGENTS))
    parser.add_argument("--out", default="/tmp/pg_first_look")
    parser.add_argument("--reuse", action="store_true", help="measure agents already under --out")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from agents.policy import resolve_note_rnn
    from sequence_tutor.evaluation.objective import measure_objective
    from sequence_tutor.evaluation.table1 import evaluate_samples, markdown_table, table_rows

    note_rnn = resolve_note_rnn(None)

    class NoteRNNAgent:  # π = p: the untrained starting point of every agent
        def __init__(self) -> None:
            from agents.policy_gradient.actor import NoteRNNActor

            self.actor = NoteRNNActor(None, pad=38)

        def action_probabilities(self, obs):
            return self.actor.action_probabilities(obs)

    contenders = [("Note RNN", NoteRNNAgent(), 0.0)]
    for name in args.agents.split(","):
        model, seconds = train(name, args.steps, args.seed, out, args.reuse)
        print(f"trained {name}: {args.steps} steps in {seconds:.0f} s", flush=True)
        contenders.append((name, model, seconds))

    estimates, evaluations = [], []
    for name, agent, _ in contenders:
        est = measure_objective(agent, args.samples, seed=args.seed + 12345, name=name)
        estimates.append(est)
        evaluations.append(evaluate_samples(est.samples, note_rnn, name=name))
    header = ["", *[e.name for e in estimates]]
    rows = [
        ["J = Σ r_theory/c − w Σ KL (± s.e.)"]
        + [f"{e.J:.1f} ± {e.standard_error('J'):.1f}" for e in estimates],
        ["Σ r_theory / c"] + [f"{e.theory:.1f}" for e in estimates],
        ["exact KL(π ‖ p) per composition (nats)"] + [f"{e.kl:.2f}" for e in estimates],
        ["log π(composition)"] + [f"{e.log_pi:.2f}" for e in estimates],
        ["log p(composition) under the Note RNN"] + [f"{e.log_p:.2f}" for e in estimates],
        ["training seconds (shared 2-core machine)"] + [f"{s:.0f}" for _, _, s in contenders],
    ]
    print(f"\n{args.steps} env steps, seed {args.seed}, {args.samples} compositions each\n")
    print(markdown_table(header, rows))
    t_header, t_rows = table_rows(evaluations)
    print(markdown_table(t_header, t_rows))


if __name__ == "__main__":
    main()
