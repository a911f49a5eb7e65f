"""A Note RNN's validation scores per collection, and on the tunes that needed grid rounding.

Prints the tables of ``benchmarks/pretrain.md``: the checkpoint's accuracy, non-hold accuracy and
perplexity on the validation tunes of each music21 collection, then on the validation tunes that
were kept as they are against those whose triplets or 32nds were rounded onto the sixteenth grid
(the tunes that ``--off-grid skip`` leaves out).

    python benchmarks/pretrain_per_collection.py [--checkpoint PATH] [--off-grid round|skip]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def row(name: str, model, tunes: list) -> str:
    from pretrain.training import evaluate_note_rnn  # noqa: PLC0415

    m = evaluate_note_rnn(model, tunes)
    return (
        f"| {name} | {len(tunes)} | {m['tokens']:,} | {m['accuracy']:.3f} | "
        f"{m['nonhold_accuracy']:.3f} | {m['perplexity']:.2f} |".replace(",", " ")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the shipped LSTM")
    parser.add_argument("--off-grid", choices=("round", "skip"), default="round")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from pretrain.checkpoint import default_checkpoint, load_note_rnn  # noqa: PLC0415
    from pretrain.corpus import load_corpus  # noqa: PLC0415

    model, _ = load_note_rnn(args.checkpoint or default_checkpoint("lstm"))
    corpus = load_corpus(off_grid=args.off_grid, progress=False)
    valid = list(zip(corpus.valid_names, corpus.valid))
    header = (
        "| {} | tunes | targets | accuracy | non-hold | perplexity |\n|---|---|---|---|---|---|"
    )
    print(f"validation tunes of the --off-grid {args.off_grid} corpus, {args.checkpoint or 'lstm'}")
    print(header.format("collection"))
    print(row("all", model, [t for _, t in valid]))
    for collection in sorted({n.split("/")[0] for n, _ in valid}, key=lambda c: c.lower()):
        print(row(collection, model, [t for n, t in valid if n.split("/")[0] == collection]))
    if args.off_grid == "round":
        grid = load_corpus(off_grid="skip", progress=False)
        on_grid = {*grid.train_names, *grid.valid_names}
        print()
        print(header.format("validation tunes"))
        print(row("on the grid as written", model, [t for n, t in valid if n in on_grid]))
        print(row("rounded onto the grid", model, [t for n, t in valid if n not in on_grid]))


if __name__ == "__main__":
    main()
