"""The rule protocol, the base classes of a rule and of its vectorised twin, and :func:`rule`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from pretrain.errors import SequenceTutorError
from rewards.composition import BatchComposition, Composition


@runtime_checkable
class RuleLike(Protocol):
    """What the environment needs from a rule (``reset``, ``update``, ``batch`` are optional)."""

    name: str

    def reward(self, composition: Composition, action: int) -> float: ...


class Rule:
    """Base class of the built-in rules: no-op ``reset`` / ``update``, no batched twin."""

    name: str = ""

    def reset(self, composition: Composition) -> None:
        """A new composition starts."""

    def reward(self, composition: Composition, action: int) -> float:
        """The term for playing ``action`` at ``composition.step`` (does not change state)."""
        raise NotImplementedError

    def update(self, composition: Composition, action: int) -> None:
        """``action`` was played (``composition`` does not hold it yet)."""

    def step(self, composition: Composition, action: int) -> float:
        """``reward`` then ``update`` in one call (what the environment calls; built-in rules
        override it to share work between the two)."""
        term = self.reward(composition, action)
        self.update(composition, action)
        return term

    def batch(self, num_envs: int) -> BatchRule | None:
        """A vectorised twin for ``num_envs`` compositions, or None (the vector env then keeps
        one copy of this rule per composition)."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class BatchRule:
    """Vectorised twin of a rule: the same API over a :class:`BatchComposition` and
    ``int64[N]`` actions, returning ``float64[N]`` terms equal to the scalar rule's."""

    name: str = ""

    def reset(self, composition: BatchComposition) -> None:
        """New compositions start (all of them: a fixed-length batch resets together)."""

    def reward(self, composition: BatchComposition, actions: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def update(self, composition: BatchComposition, actions: np.ndarray) -> None:
        """``actions`` were played (not yet appended to ``composition``)."""

    def step(self, composition: BatchComposition, actions: np.ndarray) -> np.ndarray:
        """``reward`` then ``update`` (override to share work)."""
        terms = self.reward(composition, actions)
        self.update(composition, actions)
        return terms


class FunctionRule(Rule):
    """A stateless rule made from a function ``f(composition, action) -> float``."""

    def __init__(self, function: Callable[[Composition, int], float], name: str | None = None):
        self.function = function
        self.name = name or getattr(function, "__name__", "")
        if not self.name or self.name == "<lambda>":
            raise SequenceTutorError("a rule made from a lambda needs a name: rule(f, name='...')")

    def reward(self, composition: Composition, action: int) -> float:
        return float(self.function(composition, action))


def rule(function: Callable[[Composition, int], float] | None = None, *, name: str | None = None):
    """Make a rule from a function (usable as ``@rule`` or ``@rule(name=...)``)."""
    if function is None:
        return lambda f: FunctionRule(f, name)
    return FunctionRule(function, name)


# --------------------------------------------------------------------------------------------
# key, tonic
# --------------------------------------------------------------------------------------------
