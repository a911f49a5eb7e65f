"""``autocorrelation``: −3 Σ|ρ_lag| over lags 1–3 where |ρ_lag| > 0.15."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from rewards.composition import BatchComposition, Composition
from rewards.rules.base import BatchRule, Rule


class AutocorrelationRule(Rule):
    """``autocorrelation``: ``-weight * sum(|rho_lag|)`` over ``lags`` (1, 2, 3) where
    ``|rho_lag| > threshold`` (0.15), with rl_tuner's coefficient of the token numbers
    ``s`` = composition + [action] (length n, mean m)::

        rho_lag = sum_{i >= lag} (s_i - m)(s_{i-lag} - m) / n / var(s)      (undefined if var = 0)

    Kept as integer running sums (sum, sum of squares, lagged products; the first and last
    ``lags`` tokens are read from the composition), so each step is O(1) and the threshold test is exact: with
    ``D = n * sum(s^2) - sum(s)^2`` and ``Q = n^2 P - n S (A + B) + (n - lag) S^2``
    (``P`` the lagged product sum, ``A``/``B`` the sums of the overlapping windows),
    ``rho_lag = Q / (n D)``.
    """

    name = "autocorrelation"

    def __init__(
        self, weight: float = 3.0, lags: Sequence[int] = (1, 2, 3), threshold: float = 0.15
    ) -> None:
        self.weight = float(weight)
        self.lags = tuple(sorted({int(lag) for lag in lags}))
        if not self.lags or min(self.lags) < 1:
            raise ValueError(f"autocorrelation lags must be >= 1, got {lags}")
        self.threshold = float(threshold)
        # |rho| > threshold  <=>  |Q| * den > num * n * D, in integers
        fraction = Fraction(str(threshold))
        self._num, self._den = fraction.numerator, fraction.denominator
        self._max_lag = max(self.lags)
        self.reset(None)

    def reset(self, composition: Composition | None) -> None:
        self.total = 0
        self.squares = 0
        self.products = [0] * len(self.lags)  # sum_i s_i s_{i - lag}, per lag
        self.head_sums = [0] * len(self.lags)  # sum of the first `lag` tokens, per lag

    def _penalty(
        self, tokens: list[int], action: int, total: int, squares: int, commit: bool
    ) -> float:
        """The term for ``tokens + [action]``; with ``commit``, keeps the new running sums."""
        n = len(tokens) + 1
        spread = n * squares - total * total  # n^2 var
        n_spread = n * spread
        limit = self._num * n_spread
        n2, n_total, total2 = n * n, n * total, total * total
        penalty = 0.0
        products, head_sums = self.products, self.head_sums
        tail, covered = action, 0  # tail: sum of the last `lag` tokens of tokens + [action]
        for k, lag in enumerate(self.lags):
            if n <= lag:
                break  # lags ascend: no overlapping pairs from here on (rho = 0)
            product = products[k] + action * tokens[-lag]
            head = head_sums[k] if n > lag + 1 else sum(tokens[:lag])
            if commit:
                products[k] = product
                head_sums[k] = head
            if spread == 0:
                continue  # rl_tuner: nan coefficient, skipped
            while covered < lag - 1:
                covered += 1
                tail += tokens[-covered]
            # A = total - head, B = total - tail
            q = n2 * product - n_total * (2 * total - head - tail) + (n - lag) * total2
            if q < 0:
                q = -q
            if q * self._den > limit:
                penalty += q / n_spread
        return -self.weight * penalty if penalty else 0.0

    def reward(self, composition: Composition, action: int) -> float:
        return self._penalty(
            composition.tokens, action, self.total + action, self.squares + action * action, False
        )

    def update(self, composition: Composition, action: int) -> None:
        self.step(composition, action)

    def step(self, composition: Composition, action: int) -> float:
        self.total += action
        self.squares += action * action
        return self._penalty(composition.tokens, action, self.total, self.squares, True)

    def batch(self, num_envs: int) -> BatchRule:
        return _AutocorrelationBatch(self, num_envs)


class _AutocorrelationBatch(BatchRule):
    """All compositions share n, so the lagged, first and last tokens are columns of the token
    array, and all lags are computed together as ``[lags, N]`` arrays (few numpy calls)."""

    def __init__(self, parent: AutocorrelationRule, num_envs: int) -> None:
        self.name = parent.name
        self.parent = parent
        self.lags = np.array(parent.lags, dtype=np.int64)
        self.num_envs = num_envs
        self.reset(None)

    def reset(self, composition: BatchComposition | None) -> None:
        size = (len(self.lags), self.num_envs)
        self.total = np.zeros(self.num_envs, dtype=np.int64)
        self.squares = np.zeros(self.num_envs, dtype=np.int64)
        self.products = np.zeros(size, dtype=np.int64)  # sum_i s_i s_{i - lag}, per lag
        self.heads = np.zeros(size, dtype=np.int64)  # sum of the first `lag` tokens, per lag

    def _penalty(self, composition: BatchComposition, actions: np.ndarray, commit: bool):
        p = self.parent
        before = composition.tokens
        step = composition.step
        n = step + 1
        total = self.total + actions
        squares = self.squares + actions * actions
        if commit:
            self.total, self.squares = total, squares
        active = sum(1 for lag in p.lags if lag < n)  # lags with overlapping pairs
        if active == 0:
            return np.zeros(actions.shape)
        lags = self.lags[:active]
        product = self.products[:active] + actions * before[:, step - lags].T
        if step > p._max_lag:
            head = self.heads[:active]
        else:
            head = np.cumsum(before[:, :step], axis=1)[:, lags - 1].T
        # tail: sum of the last `lag` tokens of composition + [action]
        longest = int(lags[-1]) - 1
        if longest > 0:
            recent = np.zeros((self.num_envs, longest + 1), dtype=np.int64)
            np.cumsum(before[:, step - longest : step][:, ::-1], axis=1, out=recent[:, 1:])
            tail = actions + recent[:, lags - 1].T
        else:
            tail = actions[None, :]
        if commit:
            self.products[:active] = product
            self.heads[:active] = head
        n_spread = n * (n * squares - total * total)  # n^3 var; 0 means rho undefined
        q = n * n * product - (n * total) * (2 * total - head - tail)
        q += (n - lags)[:, None] * (total * total)
        np.abs(q, out=q)
        over = q * p._den > p._num * n_spread  # never true when the spread is 0 (then q = 0)
        penalty = np.divide(q, n_spread, where=over, out=np.zeros(q.shape)).sum(axis=0)
        return np.where(penalty > 0, -p.weight * penalty, 0.0)

    def reward(self, composition: BatchComposition, actions: np.ndarray) -> np.ndarray:
        return self._penalty(composition, actions, False)

    def update(self, composition: BatchComposition, actions: np.ndarray) -> None:
        self._penalty(composition, actions, True)

    def step(self, composition: BatchComposition, actions: np.ndarray) -> np.ndarray:
        return self._penalty(composition, actions, True)


# --------------------------------------------------------------------------------------------
# motifs
# --------------------------------------------------------------------------------------------
