"""``sequence-tutor evaluate``: the paper's Table 1 and more, side by side for sample files."""

from __future__ import annotations

import argparse
from pathlib import Path

from pretrain.errors import SequenceTutorError
from sequence_tutor.cli.options import add_settings_arguments, given_settings

# The reward's c and w are flags of the env's settings (envs.config.EnvConfig); the samples
# carry their own key and length.
ENV_SKIPPED = ("key", "melody_length")

HELP = "Table 1 statistics, log p and corpus metrics of sampled compositions"
DESCRIPTION = (
    "Evaluate JSON Lines files written by `sequence-tutor sample` (or `train`): the paper's "
    "Table 1 statistics, mean log p under the Note RNN, mean reward terms and MusPy-style corpus "
    "metrics, one column per agent. Prints the table and writes OUT/evaluation.md, "
    "OUT/evaluation.csv and a piano roll of a few compositions per agent (OUT/piano_roll.png)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from envs.config import EnvConfig  # noqa: PLC0415

    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="JSON Lines samples")
    parser.add_argument(
        "--out", type=Path, default=Path("runs/evaluate"), help="folder for the tables and figure"
    )
    parser.add_argument(
        "--note-rnn",
        type=Path,
        default=None,
        metavar="CKPT",
        help="Note RNN for log p and the reward (default: the shipped LSTM)",
    )
    parser.add_argument(
        "--paper", action="store_true", help="add the paper's Table 1 columns (Note RNN, Q, Psi, G)"
    )
    parser.add_argument(
        "--per-agent", type=int, default=4, help="compositions per agent in the figure"
    )
    add_settings_arguments(
        parser.add_argument_group("reward (of the environment)"), EnvConfig, skip=ENV_SKIPPED
    )


def run(args: argparse.Namespace) -> int:
    from envs.config import EnvConfig  # noqa: PLC0415

    if args.out.exists() and not args.out.is_dir():
        raise SequenceTutorError(f"--out {args.out}: exists and is not a folder")
    env = EnvConfig(**given_settings(EnvConfig, args, skip=ENV_SKIPPED))
    import torch  # noqa: PLC0415

    from agents.policy import resolve_note_rnn  # noqa: PLC0415
    from agents.sampling import read_jsonl  # noqa: PLC0415
    from pretrain.atomic_write import atomic_write_text  # noqa: PLC0415
    from sequence_tutor.evaluation.piano_roll import plot_piano_rolls  # noqa: PLC0415
    from sequence_tutor.evaluation.table1 import (  # noqa: PLC0415
        PAPER_TABLE1,
        evaluate_samples,
        markdown_table,
        table_rows,
        text_table,
        write_tables,
    )

    torch.set_num_threads(1)
    groups = []
    for path in args.files:
        for samples in read_jsonl(path):
            groups.append((path, samples))
    names = [s.agent for _, s in groups]
    note_rnn = resolve_note_rnn(args.note_rnn)
    evaluations = []
    for path, samples in groups:
        name = (
            samples.agent if names.count(samples.agent) == 1 else f"{samples.agent} ({path.stem})"
        )
        evaluations.append(
            evaluate_samples(
                samples,
                note_rnn,
                reward_scale=env.reward_scale,
                note_rnn_weight=env.note_rnn_weight,
                name=name,
            )
        )
    md, csv_path = write_tables(evaluations, args.out)
    header, rows = table_rows(evaluations, list(PAPER_TABLE1) if args.paper else [])
    if args.paper:
        atomic_write_text(md, markdown_table(header, rows))
    print(text_table(header, rows), end="")
    figure = plot_piano_rolls(
        {e.name: s.tokens[: args.per_agent] for e, (_, s) in zip(evaluations, groups)},
        args.out / "piano_roll.png",
        per_agent=max(1, args.per_agent),
    )
    print(f"tables: {md}, {csv_path}")
    print(f"piano roll: {figure}")
    return 0
