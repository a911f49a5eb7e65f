"""Gather finished runs into the benchmark's tables: ``runs.csv`` (one row per run) and
``results.csv`` / ``results.md`` (one entry per agent and setting, means over seeds; the Markdown
is laid out like the paper's Table 1, one column per agent).

Rows are grouped by agent and run configuration (env kwargs, budget, hyper-parameters), so each
trial of a hyper-parameter search is a row of its own and a plain benchmark has one row per agent
and env setting.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pretrain.atomic_write import atomic_write_text
from sequence_tutor.benchmark.runner import METRICS_FILE, load_metrics
from sequence_tutor.benchmark.spec import BUILTIN_AGENT_NAMES, RunSpec

# The objective's columns of results.csv: the IQM over seeds, each with _low / _high (95 % CI).
OBJECTIVE_COLUMNS = ("objective", "kl_to_prior", "rule_reward", "log_p_note_rnn")
OBJECTIVE_LABELS = {
    "objective": "J = Σ r_theory/c − w Σ KL(π‖p)",
    "kl_to_prior": "exact KL(π‖p) per composition (nats)",
    "rule_reward": "Σ r_theory per composition (raw, before 1/c)",
    "log_p_note_rnn": "log p(composition) under the Note RNN",
}
BASELINE_AGENT = "psi"

__all__ = ["aggregate", "collect_runs", "markdown_table", "setting_label", "write_results"]


def collect_runs(
    out_dir: str | Path, specs: Sequence[RunSpec] | None = None
) -> list[dict[str, Any]]:
    """Metrics of finished runs under ``out_dir/runs``.

    With ``specs``: the runs made with the same budget, env setting and evaluation size as one of
    ``specs`` (any agent, any seed), so a folder can gather seeds or agents over several
    commands (e.g. an expensive agent with fewer seeds) into one table.
    """
    root = Path(out_dir) / "runs"
    runs = [m for m in (load_metrics(p) for p in sorted(root.glob(f"*/{METRICS_FILE}"))) if m]
    if specs is not None:
        wanted = {_setting_key(spec.to_dict()) for spec in specs}
        runs = [m for m in runs if _setting_key(m.get("spec", {})) in wanted]
    return sorted(runs, key=_agent_order)


def _setting_key(spec: dict[str, Any]) -> str:
    """Everything of a run but its agent and seed (and agent hyper-parameters)."""
    keys = ("env_id", "env_kwargs", "steps", "eval_episodes")
    return json.dumps({k: spec.get(k) for k in keys}, sort_keys=True, default=str)


def _agent_order(metrics: dict[str, Any]) -> tuple:
    agent = metrics["agent"]
    rank = (
        BUILTIN_AGENT_NAMES.index(agent)
        if agent in BUILTIN_AGENT_NAMES
        else len(BUILTIN_AGENT_NAMES)
    )
    return (
        metrics.get("setting", 0),
        rank,
        agent,
        json.dumps(metrics["spec"].get("hyperparams", {}), sort_keys=True),
        metrics["seed"],
    )


def setting_label(spec: dict[str, Any]) -> str:
    """Short text for an env setting plus hyper-parameters, e.g. ``reward_scale=1, gamma=0.9``."""
    items = {**spec.get("env_kwargs", {}), **spec.get("hyperparams", {})}
    if not items:
        return "default"
    return ", ".join(f"{k}={_short_number(v)}" for k, v in items.items())


def _short_number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _mean(values: Iterable[Any]) -> float | None:
    numbers = [
        float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))
    ]
    return float(np.mean(numbers)) if numbers else None


def _std(values: Iterable[Any]) -> float | None:
    numbers = [float(v) for v in values if v is not None]
    return float(np.std(numbers)) if len(numbers) > 1 else None


def aggregate(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (agent, configuration): means over seeds, plus the spread of the return.

    ``statistics`` and ``reward_terms`` hold the means of the runs' dictionaries of those names.
    """
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for metrics in runs:
        key = (metrics["agent"], RunSpec.from_dict(dict(metrics["spec"])).config_hash)
        groups.setdefault(key, []).append(metrics)
    many_settings = len({setting_label(m["spec"]) for m in runs}) > 1
    rows = []
    for (agent, _), members in groups.items():
        spec = members[0]["spec"]
        setting = setting_label(spec)
        rows.append(
            {
                "agent": agent,
                "label": f"{agent} [{setting}]" if many_settings else agent,
                "setting": setting,
                "seeds": len(members),
                "budget": spec["steps"],
                "train_steps": _mean(m["train_steps"] for m in members),
                "statistics": _mean_dicts(
                    m.get("statistics") or m.get("table1", {}) for m in members
                ),
                "reward_terms": _mean_dicts(m.get("reward_terms", {}) for m in members),
                "reward_scale": _mean(m.get("reward_scale") for m in members),
                **_intervals(members),
                "paper_return": _mean(m.get("paper_return") for m in members),
                "mean_return": _mean(m["mean_return"] for m in members),
                "mean_return_std_over_seeds": _std(m["mean_return"] for m in members),
                "train_wall_s": _mean(m["train_wall_s"] for m in members),
                "steps_per_s": _mean(m.get("steps_per_s") for m in members),
                "eval_episodes": spec["eval_episodes"],
            }
        )
    _add_improvement_over(rows, groups, BASELINE_AGENT)
    return rows


def _intervals(members: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """IQM over seeds and its 95 % stratified bootstrap interval, per objective column."""
    from sequence_tutor.benchmark.statistics import interval

    values: dict[str, float | None] = {}
    for name in OBJECTIVE_COLUMNS:
        result = interval([m.get(name) for m in members])
        iqm, low, high = result if result is not None else (None, None, None)
        values.update({name: iqm, f"{name}_low": low, f"{name}_high": high})
    return values


def _add_improvement_over(
    rows: list[dict[str, Any]], groups: dict[tuple, list[dict[str, Any]]], baseline: str
) -> None:
    """``p_improvement_over_<baseline>`` (+ ``_low``/``_high``): P(J of the agent > J of the
    baseline) over seeds, ties 1/2, for rows whose setting has a baseline row."""
    from sequence_tutor.benchmark.statistics import (
        probability_of_improvement,
        probability_of_improvement_ci,
    )

    def objectives(members: list[dict[str, Any]]) -> list[float]:
        return [float(m["objective"]) for m in members if m.get("objective") is not None]

    members_of = list(groups.values())
    base = {
        row["setting"]: objectives(members)
        for row, members in zip(rows, members_of)
        if row["agent"] == baseline
    }
    column = f"p_improvement_over_{baseline}"
    for row, members in zip(rows, members_of):
        x, y = objectives(members), base.get(row["setting"], [])
        value = low = high = None
        if x and y and row["agent"] != baseline:
            value = probability_of_improvement(x, y)
            low, high = probability_of_improvement_ci(x, y)
        row.update({column: value, f"{column}_low": low, f"{column}_high": high})


def _mean_dicts(dicts: Iterable[dict[str, Any]]) -> dict[str, float | None]:
    dicts = list(dicts)
    keys: list[str] = []
    for d in dicts:
        keys += [k for k in d if k not in keys]
    return {k: _mean(d.get(k) for d in dicts) for k in keys}


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in row.items() if not isinstance(v, dict)}
    for name in ("statistics", "table1", "reward_terms"):
        flat.update({f"{name}.{k}": v for k, v in row.get(name, {}).items()})
    return flat


def _run_row(metrics: dict[str, Any]) -> dict[str, Any]:
    row = {
        "run_id": metrics["run_id"],
        "agent": metrics["agent"],
        "seed": metrics["seed"],
        "setting": setting_label(metrics["spec"]),
        "budget": metrics["spec"]["steps"],
        "train_steps": metrics["train_steps"],
        "train_episodes": metrics["train_episodes"],
        "train_wall_s": metrics["train_wall_s"],
        "steps_per_s": metrics.get("steps_per_s"),
        "eval_wall_s": metrics["eval_wall_s"],
        "mean_return": metrics["mean_return"],
        "paper_return": metrics.get("paper_return"),
        "log_p_note_rnn": metrics.get("log_p_note_rnn"),
        "objective": metrics.get("objective"),
        "rule_reward": metrics.get("rule_reward"),
        "kl_to_prior": metrics.get("kl_to_prior"),
        "reward_scale": metrics.get("reward_scale"),
        "statistics": metrics.get("statistics") or metrics.get("table1", {}),
        "reward_terms": metrics.get("reward_terms", {}),
    }
    return _flat(row)


def _csv(rows: Sequence[dict[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buffer.getvalue()


def _number(value: Any, digits: int = 1, thousands: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if thousands else f"{value:.{digits}f}"


def _statistic_rows(rows: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Table 1, log p and the other statistics, formatted by :mod:`sequence_tutor.evaluation.table1`."""
    try:
        from sequence_tutor.evaluation.table1 import Evaluation, table_rows
    except ModuleNotFoundError:
        return [
            ["mean log p(composition) under the Note RNN"]
            + [_number(r["log_p_note_rnn"]) for r in rows]
        ]
    evaluations = [
        Evaluation(
            r["label"],
            {k: (math.nan if v is None else v) for k, v in r["statistics"].items()},
            {k: (math.nan if v is None else v) for k, v in r["reward_terms"].items()},
        )
        for r in rows
    ]
    return table_rows(evaluations)[1]


def interval_cell(value: Any, low: Any, high: Any, digits: int = 1) -> str:
    """``IQM [low, high]``, or "n/a" (not available) when there is no value."""
    if value is None:
        return "n/a"

    def tidy(number: float) -> float:  # no "-0.0" for a KL of -1e-17
        return 0.0 if abs(number) < 0.5 * 10**-digits else number

    value, low, high = (
        tidy(value),
        None if low is None else tidy(low),
        None if high is None else tidy(high),
    )
    if low is None or high is None:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _objective_rows(rows: Sequence[dict[str, Any]]) -> list[list[str]]:
    """The objective's rows: IQM over seeds [95 % stratified bootstrap CI]."""
    body = [
        [f"{OBJECTIVE_LABELS[name]}, IQM [95 % CI]"]
        + [interval_cell(r.get(name), r.get(f"{name}_low"), r.get(f"{name}_high")) for r in rows]
        for name in OBJECTIVE_COLUMNS
    ]
    column = f"p_improvement_over_{BASELINE_AGENT}"
    if any(r.get(column) is not None for r in rows):
        body.append(
            [f"P(J > J of {BASELINE_AGENT}) over seeds [95 % CI]"]
            + [
                interval_cell(r.get(column), r.get(f"{column}_low"), r.get(f"{column}_high"), 2)
                if r.get(column) is not None
                else "–"
                for r in rows
            ]
        )
    return body


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """The README-ready table, laid out like the paper's Table 1: one column per agent (and
    setting), one row per statistic, then the return, budget and throughput rows."""
    if not rows:
        return "_no finished runs_\n"
    header = ["statistic", *[r["label"] for r in rows]]
    body = _objective_rows(rows) + _statistic_rows(rows)
    spread = any(r["mean_return_std_over_seeds"] is not None for r in rows)

    def return_cell(r: dict[str, Any]) -> str:
        if r["mean_return_std_over_seeds"] is None:
            return _number(r["mean_return"])
        return f"{r['mean_return']:.1f} ± {r['mean_return_std_over_seeds']:.1f}"

    body += [
        ["mean return (env setting" + ("; ± std over seeds)" if spread else ")")]
        + [return_cell(r) for r in rows],
        ["seeds"] + [str(r["seeds"]) for r in rows],
        ["env steps trained (mean per run)"]
        + [_number(r["train_steps"], thousands=True) for r in rows],
        ["training wall time (s, mean per run)"] + [_number(r["train_wall_s"], 0) for r in rows],
        ["env steps/s (training)"] + [_number(r["steps_per_s"], thousands=True) for r in rows],
    ]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * len(rows)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def write_results(out_dir: str | Path, runs: Sequence[dict[str, Any]]) -> dict[str, Path]:
    """Write ``runs.csv``, ``results.csv`` and ``results.md`` atomically; returns their paths."""
    out = Path(out_dir)
    rows = aggregate(runs)
    paths = {
        "runs_csv": out / "runs.csv",
        "results_csv": out / "results.csv",
        "results_md": out / "results.md",
    }
    atomic_write_text(paths["runs_csv"], _csv([_run_row(m) for m in runs]))
    atomic_write_text(paths["results_csv"], _csv([_flat(r) for r in rows]))
    atomic_write_text(paths["results_md"], markdown_table(rows))
    return paths
