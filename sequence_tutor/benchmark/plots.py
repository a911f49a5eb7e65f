"""The benchmark's figures: learning curves (spread over seeds), Table 1 bars, piano rolls.

All figures are drawn with matplotlib's Agg backend and written atomically as PNG.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pretrain.atomic_write import atomic_write_bytes
from sequence_tutor.benchmark.results_table import setting_label
from sequence_tutor.benchmark.runner import SAMPLES_FILE
from sequence_tutor.benchmark.spec import RunSpec

__all__ = [
    "plot_frontier",
    "plot_objective_intervals",
    "plot_learning_curves",
    "plot_piano_rolls",
    "plot_table1_bars",
    "write_plots",
]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _groups(runs: Sequence[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Runs grouped by (agent, setting label), in the order of ``runs``."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for metrics in runs:
        key = (metrics["agent"], setting_label(metrics["spec"]))
        groups.setdefault(key, []).append(metrics)
    return groups


def _label(agent: str, setting: str, many_settings: bool) -> str:
    return f"{agent} [{setting}]" if many_settings else agent


def _moving_average(values: Sequence[float], window: int) -> list[float]:
    """Trailing mean over up to ``window`` points (shorter at the start), same length."""
    array = np.asarray(values, dtype=float)
    sums = np.cumsum(np.insert(array, 0, 0.0))
    index = np.arange(1, len(array) + 1)
    start = np.maximum(index - window, 0)
    return ((sums[index] - sums[start]) / (index - start)).tolist()


def seed_band(
    curves: Sequence[dict[str, list]], points: int = 100, smooth: int = 1
) -> tuple[np.ndarray, ...] | None:
    """Common step grid and the mean, min and max over seeds of the episode-return curves,
    each first smoothed by a trailing mean over ``smooth`` points.

    The grid spans the steps every seed covers, so the band is never extrapolated.
    """
    curves = [c for c in curves if len(c.get("steps", [])) >= 1]
    if not curves:
        return None
    if smooth > 1:
        curves = [
            {"steps": c["steps"], "returns": _moving_average(c["returns"], smooth)} for c in curves
        ]
    low = max(c["steps"][0] for c in curves)
    high = min(c["steps"][-1] for c in curves)
    grid = np.linspace(low, high, points) if high > low else np.array([float(high)])
    values = np.stack([np.interp(grid, c["steps"], c["returns"]) for c in curves])
    return grid, values.mean(axis=0), values.min(axis=0), values.max(axis=0)


def plot_learning_curves(runs: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """Mean training-episode return against env steps per agent; shaded min–max over seeds."""
    groups = {k: v for k, v in _groups(runs).items() if any(m["curve"]["steps"] for m in v)}
    if not groups:
        return None
    settings = list(dict.fromkeys(setting for _, setting in groups))
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(settings), figsize=(6.5 * len(settings), 4.2), squeeze=False)
    for ax, setting in zip(axes[0], settings):
        lowest = 0.0
        for (agent, group_setting), members in groups.items():
            if group_setting != setting:
                continue
            points = max(len(m["curve"]["steps"]) for m in members)
            band = seed_band([m["curve"] for m in members], smooth=max(1, points // 20))
            if band is None:
                continue
            grid, mean, low, high = band
            lowest = min(lowest, float(low.min()))
            seeds = f"{len(members)} seed" + ("s" if len(members) > 1 else "")
            (line,) = ax.plot(grid, mean, label=f"{agent} ({seeds})")
            if len(members) > 1:
                ax.fill_between(grid, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_title(f"training episodes — {setting}" if len(settings) > 1 else "training episodes")
        ax.set_xlabel("env steps")
        ax.set_ylabel("episode return (smoothed)")
        if lowest < -1000:  # repetition penalties of -100 per step dwarf everything else
            ax.set_yscale("symlog", linthresh=100)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_table1_bars(runs: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """One panel per Table 1 statistic: a bar per agent (mean over seeds), dots for each seed."""
    groups = _groups(runs)
    keys: list[str] = []
    for metrics in runs:
        keys += [k for k in metrics.get("table1", {}) if k not in keys]
    extra = [
        k for k in ("log_p_note_rnn", "mean_return") if any(m.get(k) is not None for m in runs)
    ]
    panels = keys + extra
    if not panels:
        return None
    titles = {"log_p_note_rnn": "log p under the Note RNN", "mean_return": "mean return"}
    kinds: dict[str, str] = {}
    try:
        from sequence_tutor.evaluation.table1 import TABLE1_ROWS
    except ModuleNotFoundError:
        TABLE1_ROWS = []  # noqa: N806
    for key, label, kind in TABLE1_ROWS:
        titles[key], kinds[key] = label, kind
    from matplotlib.ticker import PercentFormatter

    settings = list(dict.fromkeys(setting for _, setting in groups))
    many = len(settings) > 1
    # Settings can be long (a search trial's parameters): number them and list them below.
    labels = [f"{agent} #{settings.index(setting)}" if many else agent for agent, setting in groups]
    plt = _pyplot()
    cols = min(4, len(panels))
    rows = int(np.ceil(len(panels) / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.6 * cols, 2.9 * rows), squeeze=False, layout="constrained"
    )
    x = np.arange(len(groups))
    for ax, key in zip(axes.flat, panels):
        for i, members in enumerate(groups.values()):
            values = [
                (m.get("table1", {}).get(key) if key in keys else m.get(key)) for m in members
            ]
            values = [v for v in values if v is not None]
            if not values:
                continue
            ax.bar(i, np.mean(values), color=f"C{i % 10}", alpha=0.75)
            ax.plot([i] * len(values), values, "k.", markersize=4)
        kind = kinds.get(key, "num")
        if kind.startswith("pct"):
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_title(titles.get(key, key.replace("_", " ")), fontsize=9)
        ax.set_xticks(x, labels, rotation=60, ha="right", fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    if many:
        fig.supxlabel(
            "\n".join(f"#{i}: {setting}" for i, setting in enumerate(settings)), fontsize=7
        )
    return _save(fig, path)


def _read_samples(run_folder: Path, count: int) -> list[dict[str, Any]]:
    try:
        lines = (run_folder / SAMPLES_FILE).read_text().splitlines()
    except OSError:
        return []
    return [json.loads(line) for line in lines[:count] if line.strip()]


def plot_piano_rolls(
    runs: Sequence[dict[str, Any]], out_dir: Path, path: Path, per_agent: int = 3
) -> Path | None:
    """The first ``per_agent`` compositions of each agent's lowest seed, drawn by the env's
    piano roll (:func:`envs.rendering.piano_roll`: primer left of the divider, out-of-key notes
    red). Within a seed every agent composed from the same primers, so columns compare."""
    from envs.rendering import piano_roll
    from rewards.keys import key_tables

    groups = _groups(runs)
    many = len({setting for _, setting in groups}) > 1
    rows = []
    for (agent, setting), members in groups.items():
        first = min(members, key=lambda m: m["seed"])
        samples = _read_samples(
            out_dir / "runs" / RunSpec.from_dict(first["spec"]).run_id, per_agent
        )
        if samples:
            rows.append((_label(agent, setting, many), first["seed"], samples))
    if not rows:
        return None
    plt = _pyplot()
    cols = max(len(samples) for _, _, samples in rows)
    fig, axes = plt.subplots(
        len(rows), cols, figsize=(3.2 * cols, 1.5 * len(rows) + 0.5), squeeze=False
    )
    for r, (label, seed, samples) in enumerate(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(samples):
                ax.axis("off")
                continue
            sample = samples[c]
            tables = key_tables(sample.get("key", "C major"))
            image = piano_roll(
                sample["tokens"], len(sample["tokens"]), tables, primer=sample.get("primer", ())
            )
            ax.imshow(image, aspect="auto", interpolation="nearest")
            if c == 0:
                ax.set_ylabel(
                    f"{label}\nseed {seed}", fontsize=7, rotation=0, ha="right", va="center"
                )
    fig.suptitle("sampled compositions (one column per primer; red = out of key)", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def _error_bars(rows: Sequence[dict[str, Any]], name: str) -> tuple[np.ndarray, np.ndarray]:
    """IQMs and the ``[2, n]`` distances to the interval's ends, for ``plt.errorbar``."""
    values = np.array([r[name] for r in rows], dtype=float)
    low = np.array([r[f"{name}_low"] for r in rows], dtype=float)
    high = np.array([r[f"{name}_high"] for r in rows], dtype=float)
    return values, np.stack([np.maximum(values - low, 0), np.maximum(high - values, 0)])


def plot_objective_intervals(runs: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """J, KL, Σ r_theory and log p per agent (and setting): the IQM over seeds with its 95 %
    stratified bootstrap interval, and a dot per seed."""
    from sequence_tutor.benchmark.results_table import (
        OBJECTIVE_COLUMNS,
        OBJECTIVE_LABELS,
        aggregate,
    )

    rows = aggregate(runs)
    if not rows:
        return None
    groups = list(_groups(runs).values())
    plt = _pyplot()
    fig, axes = plt.subplots(
        1,
        len(OBJECTIVE_COLUMNS),
        figsize=(4.2 * len(OBJECTIVE_COLUMNS), 3.6),
        squeeze=False,
        layout="constrained",
    )
    x = np.arange(len(rows))
    for ax, name in zip(axes[0], OBJECTIVE_COLUMNS):
        shown = [i for i, r in enumerate(rows) if r.get(name) is not None]
        for i in shown:
            values, errors = _error_bars([rows[i]], name)
            ax.errorbar(i, values, yerr=errors, fmt="o", color=f"C{i % 10}", capsize=4)
            seeds = [m.get(name) for m in groups[i] if m.get(name) is not None]
            ax.plot([i + 0.15] * len(seeds), seeds, "k.", markersize=3)
        ax.set_title(OBJECTIVE_LABELS[name], fontsize=8)
        ax.set_xticks(x, [r["label"] for r in rows], rotation=60, ha="right", fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("IQM over seeds, 95 % stratified bootstrap interval; dots: seeds", fontsize=9)
    return _save(fig, path)


def plot_frontier(runs: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """Σ r_theory per composition against KL(π ‖ p): a point per agent and reward scale (IQM over
    seeds, 95 % interval bars both ways), the Pareto front (low KL, high rule reward) drawn."""
    from sequence_tutor.benchmark.results_table import aggregate
    from sequence_tutor.benchmark.statistics import pareto_front

    rows = [
        r
        for r in aggregate(runs)
        if r.get("kl_to_prior") is not None and r.get("rule_reward") is not None
    ]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.6))
    kl, kl_err = _error_bars(rows, "kl_to_prior")
    rule, rule_err = _error_bars(rows, "rule_reward")
    agents = list(dict.fromkeys(r["agent"] for r in rows))
    for i, row in enumerate(rows):
        color = f"C{agents.index(row['agent']) % 10}"
        ax.errorbar(
            kl[i],
            rule[i],
            xerr=kl_err[:, i : i + 1],
            yerr=rule_err[:, i : i + 1],
            fmt="o",
            color=color,
            capsize=3,
            label=row["agent"] if row["agent"] not in [r["agent"] for r in rows[:i]] else None,
        )
        scale = row.get("reward_scale")
        if scale is not None:
            ax.annotate(
                f"c={scale:g}",
                (kl[i], rule[i]),
                fontsize=7,
                xytext=(4, 4),
                textcoords="offset points",
            )
    front = pareto_front(kl.tolist(), rule.tolist())
    ax.step(
        kl[front],
        rule[front],
        where="post",
        color="k",
        alpha=0.5,
        linestyle="--",
        label="Pareto front",
    )
    ax.set_xlabel("exact KL(π ‖ p) per composition (nats)")
    ax.set_ylabel("Σ r_theory per composition (raw)")
    ax.set_title("rule reward against KL to the Note RNN (IQM over seeds, 95 % CI)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def write_plots(
    out_dir: str | Path, runs: Sequence[dict[str, Any]], plot_dir: str | Path | None = None
) -> list[Path]:
    """All figures into ``plot_dir`` (default ``out_dir/plots``); returns the files written."""
    out = Path(out_dir)
    folder = Path(plot_dir) if plot_dir is not None else out / "plots"
    written = [
        plot_learning_curves(runs, folder / "learning_curves.png"),
        plot_table1_bars(runs, folder / "table1_bars.png"),
        plot_piano_rolls(runs, out, folder / "piano_rolls.png"),
        plot_objective_intervals(runs, folder / "objective_intervals.png"),
        plot_frontier(runs, folder / "frontier.png"),
    ]
    return [p for p in written if p is not None]
