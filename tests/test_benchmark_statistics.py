"""IQM, stratified bootstrap intervals, probability of improvement and the Pareto front
(sequence_tutor/benchmark/statistics.py) on hand numbers."""

from __future__ import annotations

import numpy as np
import pytest

from sequence_tutor.benchmark.statistics import (
    interval,
    iqm,
    pareto_front,
    probability_of_improvement,
    probability_of_improvement_ci,
    stratified_bootstrap_ci,
)


def test_iqm_on_hand_numbers():
    assert iqm([1, 2, 3, 4]) == 2.5  # cut one from each end: mean of 2, 3
    assert iqm([1, 2, 3, 4, 100, 5, 6, 7]) == 4.5  # sorted 1..7, 100: mean of 3, 4, 5, 6
    assert iqm([3, 1, 2]) == 2.0  # int(0.75) = 0 cut: the mean
    assert iqm([[1, 10], [2, 20], [3, 30], [4, 40]]) == pytest.approx(np.mean([3, 4, 10, 20]))


def test_bootstrap_interval_contains_the_iqm_and_shrinks_with_more_seeds():
    rng = np.random.default_rng(0)
    few, many = rng.normal(10, 2, 5), rng.normal(10, 2, 100)
    low_few, high_few = stratified_bootstrap_ci(few, seed=1)
    low_many, high_many = stratified_bootstrap_ci(many, seed=1)
    assert low_few <= iqm(few) <= high_few
    assert low_many <= iqm(many) <= high_many
    assert high_many - low_many < 0.75 * (high_few - low_few)


def test_bootstrap_is_deterministic_with_a_seed_and_degenerate_for_one_run():
    scores = np.random.default_rng(5).normal(0, 1, 20)
    assert stratified_bootstrap_ci(scores, seed=3) == stratified_bootstrap_ci(scores, seed=3)
    assert stratified_bootstrap_ci(scores, seed=3) != stratified_bootstrap_ci(scores, seed=4)
    assert stratified_bootstrap_ci([7.0]) == (7.0, 7.0)


def test_bootstrap_resamples_within_each_task():
    # task 0 is always 0, task 1 always 100: every resample has half of each, so the IQM of
    # [runs, 2] scores is 50 in every repetition, which a pooled bootstrap would not give.
    scores = np.array([[0.0, 100.0]] * 4)
    assert stratified_bootstrap_ci(scores, statistic=lambda s: float(s.mean())) == (50.0, 50.0)


def test_probability_of_improvement_counts_ties_as_half():
    assert probability_of_improvement([3, 4], [1, 2]) == 1.0
    assert probability_of_improvement([1, 2], [3, 4]) == 0.0
    # pairs (2,1) win, (2,2) tie, (2,3) lose; (3,1), (3,2) win, (3,3) tie: (3 + 2 * 0.5) / 6
    assert probability_of_improvement([2, 3], [1, 2, 3]) == pytest.approx(4 / 6)
    assert probability_of_improvement([5, 5], [5]) == 0.5
    low, high = probability_of_improvement_ci([2, 3, 4], [1, 2, 3], seed=0)
    assert 0.0 <= low <= probability_of_improvement([2, 3, 4], [1, 2, 3]) <= high <= 1.0


def test_interval_skips_missing_values():
    assert interval([None, float("nan")]) is None
    value, low, high = interval([1.0, None, 3.0])
    assert value == 2.0 and 1.0 <= low <= high <= 3.0


def test_pareto_front_keeps_the_undominated_points_sorted_by_cost():
    costs = [1.0, 2.0, 3.0, 2.5, 1.0]
    gains = [5.0, 8.0, 9.0, 7.0, 4.0]
    # (2.5, 7) is dominated by (2, 8); (1, 4) by (1, 5)
    assert pareto_front(costs, gains) == [0, 1, 2]
