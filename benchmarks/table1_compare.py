"""Count the Table 1 rows on which our agents match or beat the paper's Q / Ψ / G columns.

Compares each of the paper's nine statistics at the paper's own printed precision (our value is
rounded to as many decimals as the paper printed, then compared):

* notes excessively repeated, notes not in key: lower is better;
* autocorrelation (the three lags as one row): the mean |ρ| over lags 1-3, lower is better;
* starts with the tonic, leaps resolved, unique max / min note, notes in a (repeated) motif:
  higher is better.

Two sources of our values (usage from the repository root):

1. the ``evaluation.csv`` that ``sequence-tutor evaluate`` writes (one column per sample file)::

       python benchmarks/table1_compare.py t1/eval/evaluation.csv --column q=Q --column psi=Ψ

2. a benchmark's ``results.csv`` (``sequence-tutor benchmark --out OUT``): the ``statistics.*``
   columns of one agent's row, i.e. the mean of each statistic over its seeds; with
   ``--reward-scale C`` the row of that reward scale (needed when the benchmark swept
   ``--reward-scales``), compared with the paper's ``--paper`` column (default Ψ)::

       python benchmarks/table1_compare.py --results-csv OUT/results.csv --agent rloo \
           --reward-scale 0.5 --paper Ψ

Prints one Markdown table per compared column and the number of rows matched or beaten.
"""

from __future__ import annotations

import argparse
import csv
import math
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


def print_comparison(ours: dict[str, float], ours_name: str, paper_name: str) -> int:
    """Print the Markdown table of :func:`compare`; returns the rows matched or beaten."""
    rows = compare(ours, paper_name)
    print(f"\n{ours_name} against the paper's {paper_name}\n")
    print(f"| row | {ours_name} | paper {paper_name} | matched or beaten |")
    print("|---|---|---|---|")
    for label, mine, theirs, ok in rows:
        print(f"| {label} | {mine} | {theirs} | {'yes' if ok else 'no'} |")
    matched = sum(ok for *_, ok in rows)
    print(f"\n{matched} of {len(rows)} rows matched or beaten")
    return matched


def _paper_column(name: str) -> str | None:
    """The paper's column called ``name`` (``psi``/``Psi`` accepted for Ψ), or None."""
    aliases = {"psi": "Ψ", "q": "Q", "g": "G"}
    return name if name in PAPER_TABLE1 else aliases.get(name.lower())


STATISTICS_PREFIX = "statistics."


def results_row(
    rows: list[dict[str, str]], agent: str, reward_scale: float | None, path: Path
) -> dict[str, str]:
    """The one row of ``rows`` (a benchmark's results.csv) for ``agent`` (and ``reward_scale``);
    a ValueError naming the choices when there is none or more than one."""
    mine = [row for row in rows if row.get("agent") == agent]
    if not mine:
        agents = sorted({row.get("agent", "") for row in rows})
        raise ValueError(f"--agent: no row for {agent!r} in {path} (agents: {', '.join(agents)})")
    if reward_scale is not None:
        scales = sorted({row.get("reward_scale", "") for row in mine})
        mine = [row for row in mine if _close(row.get("reward_scale"), reward_scale)]
        if not mine:
            raise ValueError(
                f"--reward-scale: no row for {agent!r} at reward scale {reward_scale:g} in {path} "
                f"(its reward scales: {', '.join(scales)})"
            )
    if len(mine) > 1:
        settings = "; ".join(f"[{row.get('setting', '')}]" for row in mine)
        hint = "" if reward_scale is not None else "choose one with --reward-scale C; "
        raise ValueError(
            f"--agent: {len(mine)} rows for {agent!r} in {path} ({hint}settings: {settings})"
        )
    return mine[0]


def _close(cell: str | None, value: float) -> bool:
    try:
        return math.isclose(float(cell or "nan"), value, rel_tol=1e-9, abs_tol=1e-12)
    except ValueError:
        return False


def results_statistics(row: dict[str, str], path: Path) -> dict[str, float]:
    """The Table 1 statistics of a results.csv row (its ``statistics.*`` columns); a ValueError
    naming the first missing or empty one."""
    ours = {}
    for key, _, _ in TABLE1_ROWS:
        cell = row.get(STATISTICS_PREFIX + key)
        column = STATISTICS_PREFIX + key
        if cell is None:
            raise ValueError(
                f"--results-csv: no column {column!r} in {path} (a benchmark run without "
                "sequence_tutor.evaluation has no Table 1 statistics)"
            )
        if cell.strip() == "":
            raise ValueError(
                f"--results-csv: {column!r} of {row.get('agent')!r} is empty in {path} (not "
                "measurable on any seed's compositions, e.g. no leaps to resolve)"
            )
        ours[key] = float(cell)
    return ours


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Give either an evaluation.csv with --column, or --results-csv with --agent.",
    )
    parser.add_argument(
        "csv", type=Path, nargs="?", help="evaluation.csv written by sequence-tutor evaluate"
    )
    parser.add_argument(
        "--column",
        action="append",
        metavar="OURS=PAPER",
        help="with an evaluation.csv: our column name and the paper's column (Q, Ψ or G), "
        "e.g. psi=Ψ; repeatable",
    )
    results = parser.add_argument_group("from a benchmark's results.csv")
    results.add_argument(
        "--results-csv",
        type=Path,
        metavar="OUT/results.csv",
        help="results.csv written by sequence-tutor benchmark: compare one agent's statistics "
        "(the mean over its seeds)",
    )
    results.add_argument("--agent", help="the agent's name in results.csv (e.g. rloo, psi)")
    results.add_argument(
        "--reward-scale",
        type=float,
        metavar="C",
        help="the row of this reward scale (when the benchmark swept --reward-scales)",
    )
    results.add_argument(
        "--paper", default="Ψ", help="the paper's column to compare with: Q, Ψ or G (default Ψ)"
    )
    args = parser.parse_args(argv)
    if (args.csv is None) == (args.results_csv is None):
        parser.error("give either an evaluation.csv (with --column) or --results-csv, not both")
    if args.results_csv is not None:
        return _compare_results(parser, args)
    if not args.column:
        parser.error("--column OURS=PAPER is required with an evaluation.csv")
    if args.agent or args.reward_scale is not None:
        parser.error("--agent and --reward-scale go with --results-csv")
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
        print_comparison(ours, ours_name, paper_name)
    return 0


def _compare_results(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """``--results-csv``: one agent's row (mean over its seeds) against one paper column."""
    if not args.agent:
        parser.error("--results-csv needs --agent NAME")
    if args.column:
        parser.error("--column goes with an evaluation.csv; with --results-csv use --paper")
    paper = _paper_column(args.paper)
    if paper is None:
        parser.error(f"--paper {args.paper}: the paper has columns {', '.join(PAPER_TABLE1)}")
    try:
        with open(args.results_csv, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        parser.error(f"--results-csv: cannot read {args.results_csv} ({exc.strerror or exc})")
    try:
        row = results_row(rows, args.agent, args.reward_scale, args.results_csv)
        ours = results_statistics(row, args.results_csv)
    except ValueError as exc:
        parser.error(str(exc))
    seeds = row.get("seeds") or "?"
    name = f"{args.agent} [{row.get('setting', '')}], mean over {seeds} seeds"
    print_comparison(ours, name, paper)
    return 0


if __name__ == "__main__":
    sys.exit(main())
