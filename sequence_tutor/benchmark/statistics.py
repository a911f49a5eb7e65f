"""Aggregate statistics over seeds (Agarwal et al., NeurIPS 2021, "Deep RL at the edge of the
statistical precipice"), in NumPy: rliable fails to import here with pandas 3 (DESIGN.md).

* :func:`iqm`: the interquartile mean, the mean of the middle 50 % of the scores (25 % cut from
  each end, as ``scipy.stats.trim_mean(x, 0.25)``, which rliable uses);
* :func:`stratified_bootstrap_ci`: a percentile bootstrap interval of a statistic, resampling the
  runs (seeds) *within* each task (env setting) with replacement, as rliable's
  ``StratifiedBootstrap``;
* :func:`probability_of_improvement`: P(X > Y) for a random run of X and one of Y, ties counted
  1/2 (the Mann-Whitney U statistic over n·m), averaged over tasks; with a bootstrap interval
  by :func:`probability_of_improvement_ci`.

Scores are ``[runs, tasks]`` arrays (a 1-D array is one task).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

DEFAULT_REPETITIONS = 2000
DEFAULT_CONFIDENCE = 0.95

__all__ = [
    "interval",
    "iqm",
    "pareto_front",
    "probability_of_improvement",
    "probability_of_improvement_ci",
    "stratified_bootstrap_ci",
]


def _as_runs_by_tasks(scores: np.ndarray | list) -> np.ndarray:
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"expected scores of shape [runs, tasks], got {array.shape}")
    return array


def iqm(scores: np.ndarray | list) -> float:
    """Interquartile mean of all scores: sort, cut ``int(0.25 · n)`` from each end, average."""
    values = np.sort(_as_runs_by_tasks(scores).reshape(-1))
    cut = int(0.25 * len(values))
    return float(values[cut : len(values) - cut].mean())


def stratified_bootstrap_ci(
    scores: np.ndarray | list,
    statistic: Callable[[np.ndarray], float] = iqm,
    *,
    repetitions: int = DEFAULT_REPETITIONS,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float]:
    """``(low, high)``: the percentile bootstrap interval of ``statistic(scores)``.

    Each repetition draws, for every task (column), as many runs as it has, with replacement
    from that task's runs, and evaluates ``statistic`` on the resampled ``[runs, tasks]`` array.
    Deterministic for a given ``seed``. One run per task gives the degenerate interval
    ``(statistic, statistic)``.
    """
    array = _as_runs_by_tasks(scores)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    runs, tasks = array.shape
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, runs, size=(repetitions, runs, tasks))
    columns = np.arange(tasks)[None, None, :]
    values = np.array([statistic(array[picks[r], columns[0]]) for r in range(repetitions)])
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def probability_of_improvement(x: np.ndarray | list, y: np.ndarray | list) -> float:
    """P(X > Y) + 1/2 P(X = Y) for runs of X and Y on the same tasks, averaged over tasks."""
    xs, ys = _as_runs_by_tasks(x), _as_runs_by_tasks(y)
    if xs.shape[1] != ys.shape[1]:
        raise ValueError(f"x has {xs.shape[1]} tasks, y has {ys.shape[1]}")
    per_task = []
    for task in range(xs.shape[1]):
        a, b = xs[:, task][:, None], ys[:, task][None, :]
        per_task.append(float(((a > b) + 0.5 * (a == b)).mean()))
    return float(np.mean(per_task))


def probability_of_improvement_ci(
    x: np.ndarray | list,
    y: np.ndarray | list,
    *,
    repetitions: int = DEFAULT_REPETITIONS,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of :func:`probability_of_improvement`, resampling the runs
    of X and of Y independently within each task."""
    xs, ys = _as_runs_by_tasks(x), _as_runs_by_tasks(y)
    rng = np.random.default_rng(seed)
    cols_x, cols_y = np.arange(xs.shape[1])[None, :], np.arange(ys.shape[1])[None, :]
    values = []
    for _ in range(repetitions):
        px = xs[rng.integers(0, len(xs), size=xs.shape), cols_x]
        py = ys[rng.integers(0, len(ys), size=ys.shape), cols_y]
        values.append(probability_of_improvement(px, py))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def interval(values: list[float | None], *, seed: int = 0) -> tuple[float, float, float] | None:
    """``(iqm, low, high)`` of the finite ``values`` (one per seed), or None if there are none."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return None
    low, high = stratified_bootstrap_ci(finite, seed=seed)
    return iqm(finite), low, high


def pareto_front(costs: list[float], gains: list[float]) -> list[int]:
    """Indices of the points no other point dominates (cost ≤ and gain ≥, one strictly), sorted
    by cost: the front of low KL and high rule reward."""
    if len(costs) != len(gains):
        raise ValueError(f"{len(costs)} costs and {len(gains)} gains")
    front = []
    for i, (cost, gain) in enumerate(zip(costs, gains)):
        dominated = any(
            c <= cost and g >= gain and (c < cost or g > gain)
            for j, (c, g) in enumerate(zip(costs, gains))
            if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (costs[i], -gains[i]))
