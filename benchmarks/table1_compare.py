"""Count the Table 1 rows on which our agents match or beat the paper's Q / Ψ columns.

Reads the ``evaluation.csv`` that ``sequence-tutor evaluate`` writes and compares each of the
paper's nine statistics at the paper's own printed precision (our value is rounded to as many
decimals as the paper printed, then compared):

* notes excessively repeated, notes not in key: lower is better;
* autocorrelation (the three lags as one row): the mean |ρ| over lags 1-3, lower is better;
* starts with the tonic, leaps resolved, unique max / min note, notes in a (repeated) motif:
  higher is better.

Usage (from the repository root)::

    python benchmarks/table1_compare.py t1/eval/evaluation.csv --column q=Q --column psi=Ψ

Prints one Markdown table per compared column and the number of rows matched or beaten.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sequence_tutor.evaluation.table1 import PAPER_TABLE1, TABLE1_ROWS  # noqa: E402

LAGS = ("autocorrelation_lag1", "autocorrelation_lag2", "autocorrelation_lag3")
LOWER_IS_BETTER = {"excessively_repeated", "not_in_key"}
# Decimals the paper printed, in percent for rates and as is for correlations.
PRINTED_DECIMALS = {
    "Q": {"excessively_repeated": 1, "in_repeated_motif": 2},
    "Ψ": {"excessively_repeated": 2, "in_repeated_motif": 2},
    "G": {"excessively_repeated": 2, "in_repeated_motif": 2},
}
DEFAULT_DECIMALS = 1  # every other rate is printed as 12.3 %
CORRELATION_DECIMALS = 2


def compare(ours: dict[str, float], paper_column: str) -> list[tuple[str, str, str, bool]]:
    """``(row label, ours, paper, matched or beaten)`` for the paper's nine rows."""
    paper = PAPER_TABLE1[paper_column]
    decimals = PRINTED_DECIMALS.get(paper_column, {})
    rows = []
    for key, label, _ in TABLE1_ROWS:
        if key in LAGS[1:]:
            continue
        if key == LAGS[0]:
            mine = sum(abs(round(ours[lag], CORRELATION_DECIMALS)) for lag in LAGS) / 3
            theirs = sum(abs(paper[lag]) for lag in LAGS) / 3
            rows.append(
                (
                    "mean autocorrelation, lags 1-3 (mean \\|ρ\\|)",
                    f"{mine:.3f}",
                    f"{theirs:.3f}",
                    mine <= theirs + 1e-12,
                )
            )
            continue
        places = decimals.get(key, DEFAULT_DECIMALS)
        mine = round(100 * ours[key], places)
        theirs = round(100 * paper[key], places)
        better = mine <= theirs if key in LOWER_IS_BETTER else mine >= theirs
        rows.append((label, f"{mine:.{places}f} %", f"{theirs:.{places}f} %", better))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path, help="evaluation.csv written by sequence-tutor evaluate")
    parser.add_argument(
        "--column",
        action="append",
        required=True,
        metavar="OURS=PAPER",
        help="our column name and the paper's column (Q, Ψ or G), e.g. psi=Ψ; repeatable",
    )
    args = parser.parse_args(argv)
    with open(args.csv, newline="", encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    header, body = table[0], table[1:]
    values = {row[0]: row[1:] for row in body}
    for pair in args.column:
        ours_name, _, paper_name = pair.partition("=")
        if ours_name not in header[1:]:
            parser.error(f"--column {pair}: no column {ours_name!r} in {args.csv}")
        if paper_name not in PAPER_TABLE1:
            parser.error(f"--column {pair}: the paper has columns {', '.join(PAPER_TABLE1)}")
        index = header.index(ours_name) - 1
        ours = {key: float(cells[index]) for key, cells in values.items() if cells[index]}
        rows = compare(ours, paper_name)
        print(f"\n{ours_name} against the paper's {paper_name}\n")
        print(f"| row | {ours_name} | paper {paper_name} | matched or beaten |")
        print("|---|---|---|---|")
        for label, mine, theirs, ok in rows:
            print(f"| {label} | {mine} | {theirs} | {'yes' if ok else 'no'} |")
        print(f"\n{sum(ok for *_, ok in rows)} of {len(rows)} rows matched or beaten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
