"""Reward-term learning curves of a train run, read from its TensorBoard event files (or CSV).

Stable-Baselines3 writes event files under ``RUN/<ALGO>_<n>/`` and, with the CSV logger,
``progress.csv``. The report plots the scalars that name a reward term (``reward/<term>``, as ``sequence-tutor
train`` logs them, or ``.../reward_terms/<term>``) and the episode return; if there are none,
every scalar with "reward" in its tag.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

MAX_CSV_BYTES = 64 * 1024 * 1024

__all__ = ["Curve", "find_curves", "plot_curves"]

STEP_COLUMNS = ("time/total_timesteps", "step", "timesteps", "global_step")


@dataclass(frozen=True)
class Curve:
    """One scalar over training steps."""

    tag: str
    steps: tuple[float, ...]
    values: tuple[float, ...]


def _is_term(tag: str) -> bool:
    lower = tag.lower()
    return "reward_term" in lower or lower.startswith("reward/")


def _select(tags: list[str]) -> list[str]:
    """Reward-term curves (``reward/<term>`` as ``sequence-tutor train`` logs them, or
    ``.../reward_terms/<term>``), then the episode return; else anything about reward."""
    terms = sorted(t for t in tags if _is_term(t))
    returns = [t for t in tags if "ep_rew" in t.lower()]
    if terms:
        return terms + returns
    return [t for t in tags if "reward" in t.lower() or "ep_rew" in t.lower()]


def _from_event_files(run_dir: Path) -> list[Curve]:
    folders = sorted({p.parent for p in run_dir.rglob("events.out.tfevents.*") if p.is_file()})
    if not folders:
        return []
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    curves: dict[str, Curve] = {}
    for folder in folders:
        accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0})
        accumulator.Reload()
        for tag in _select(accumulator.Tags().get("scalars", [])):
            events = accumulator.Scalars(tag)
            label = tag if len(folders) == 1 else f"{folder.relative_to(run_dir)}: {tag}"
            curves[label] = Curve(
                label, tuple(float(e.step) for e in events), tuple(float(e.value) for e in events)
            )
    return list(curves.values())


def _from_csv(run_dir: Path) -> list[Curve]:
    curves = []
    for path in sorted(run_dir.rglob("*.csv")):
        if not path.is_file() or path.stat().st_size > MAX_CSV_BYTES:
            continue  # never slurp a huge (or sparse, or endless) file into the page
        with open(path, newline="", encoding="utf-8", errors="replace") as handle:
            rows = list(csv.DictReader(handle))
        if not rows:
            continue
        step_column = next((c for c in STEP_COLUMNS if c in rows[0]), None)
        if step_column is None:  # e.g. the evaluation table: not a curve
            continue
        for tag in _select([c for c in rows[0] if c != step_column]):
            points = []
            for row in rows:
                try:
                    points.append((float(row[step_column]), float(row[tag])))
                except (TypeError, ValueError):
                    continue  # SB3 leaves a column empty on rows that did not log it
            if points:
                steps, values = zip(*points)
                curves.append(Curve(tag, steps, values))
    return curves


def find_curves(run_dir: Path) -> list[Curve]:
    """The run's reward curves (event files preferred over CSV); empty when it logged none."""
    return _from_event_files(run_dir) or _from_csv(run_dir)


def _short(tag: str) -> str:
    return tag.rsplit("/", 1)[-1] if _is_term(tag) else tag


def _steps_label(value: float, _position: object) -> str:
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if abs(value) >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def plot_curves(curves: list[Curve], title: str = "") -> bytes:
    """Small multiples, one panel per curve, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    columns = min(4, len(curves))
    rows = math.ceil(len(curves) / columns)
    height = 2.3 * rows + 0.5
    figure = Figure(figsize=(3.2 * columns, height), dpi=100)
    # fixed margins: constrained layout costs ~0.4 s per panel
    axes = figure.subplots(
        rows,
        columns,
        squeeze=False,
        gridspec_kw={
            "left": 0.06,
            "right": 0.99,
            "top": 1 - 0.3 / height,
            "bottom": 0.5 / height,
            "wspace": 0.28,
            "hspace": 0.42,
        },
    )
    for ax, curve in zip(axes.flat, curves):
        ax.plot(curve.steps, curve.values, color="#2a6fb0", linewidth=1.2)
        ax.set_title(_short(curve.tag), fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_formatter(FuncFormatter(_steps_label))
        ax.xaxis.set_major_locator(MaxNLocator(5))
    for ax in list(axes.flat)[len(curves) :]:
        ax.set_visible(False)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.supxlabel("environment steps", fontsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
