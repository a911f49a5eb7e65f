"""Print the objective of a ``sequence-tutor benchmark`` results folder, one row per agent (and
reward scale): IQM over seeds [95 % stratified bootstrap CI] of J, the exact KL(π ‖ p), the raw
Σ r_theory and log p, and P(J > J of psi); with ``--copy-to``, rewrite the folder's tables and
plots from its runs (the benchmark's code) and copy the small files into the docs.

    python benchmarks/pg_benchmark_summary.py /work/bench-final/main --copy-to docs/benchmark
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from sequence_tutor.benchmark.results_table import aggregate, collect_runs, interval_cell

SMALL_FILES = ("results.md", "results.csv", "runs.csv")
PLOTS = (
    "objective_intervals.png",
    "frontier.png",
    "learning_curves.png",
    "table1_bars.png",
    "piano_rolls.png",
)


def summary(folder: Path) -> str:
    """The Markdown table of the objective per agent and setting."""
    rows = aggregate(collect_runs(folder))
    header = [
        "agent",
        "c",
        "seeds",
        "J (IQM [95 % CI])",
        "KL(π‖p) nats",
        "Σ r_theory (raw)",
        "log p",
        "P(J > J of psi)",
        "train s/run",
    ]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for r in rows:
        cells = [
            r["agent"],
            f"{r['reward_scale']:g}",
            str(r["seeds"]),
            *(
                interval_cell(r[name], r[f"{name}_low"], r[f"{name}_high"])
                for name in ("objective", "kl_to_prior", "rule_reward", "log_p_note_rnn")
            ),
            "–"
            if r.get("p_improvement_over_psi") is None
            else interval_cell(
                r["p_improvement_over_psi"],
                r["p_improvement_over_psi_low"],
                r["p_improvement_over_psi_high"],
                2,
            ),
            f"{r['train_wall_s']:.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a benchmark --out folder")
    parser.add_argument("--copy-to", type=Path, default=None, help="copy tables and plots here")
    args = parser.parse_args()
    text = summary(args.folder)
    print(text, end="")
    if args.copy_to is not None:
        # the folder's tables and figures, (re)written from its runs by the benchmark's own code
        from sequence_tutor.benchmark.plots import write_plots
        from sequence_tutor.benchmark.results_table import write_results

        runs = collect_runs(args.folder)
        write_results(args.folder, runs)
        write_plots(args.folder, runs)
        args.copy_to.mkdir(parents=True, exist_ok=True)
        for name in SMALL_FILES:
            shutil.copyfile(args.folder / name, args.copy_to / name)
        for name in PLOTS:
            if (args.folder / "plots" / name).is_file():
                shutil.copyfile(args.folder / "plots" / name, args.copy_to / name)
        (args.copy_to / "summary.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
