"""KL to the prior: exact categorical KL, the k3 estimator, and KL-coefficient controllers.

The prior ``p`` is the frozen Note RNN. Along a composition the KL-regularised objective of
Jaques et al. (2017, Sec. 3) charges ``β · Σ_t KL(π(· | s_t) ‖ p(· | s_t))``; the policy-gradient
agents either fold it into the reward (``−β (log π(a_t | s_t) − log p(a_t | s_t))`` per step,
whose expectation is the KL) or add the k3 estimator to the loss (GRPO, Shao et al. 2024):

    k3 = p(a | s) / π(a | s) − log(p(a | s) / π(a | s)) − 1      (≥ 0, unbiased for KL(π ‖ p))

The adaptive controller is TRL's (Ziegler et al. 2019, https://arxiv.org/abs/1909.08593,
Sec. 2.2): after each batch of ``n`` compositions whose mean KL per composition is ``KL``,

    e = clip(KL / target − 1, −0.2, 0.2),     β ← β · (1 + e · n / horizon).
"""

from __future__ import annotations

import math

import torch

from pretrain.errors import SequenceTutorError


def categorical_kl(log_pi: torch.Tensor, log_p: torch.Tensor) -> torch.Tensor:
    """``KL(π ‖ p) = Σ_a π(a) (log π(a) − log p(a))`` over the last dimension (log-probabilities)."""
    return (log_pi.exp() * (log_pi - log_p)).sum(dim=-1)


def kl_shaped_rewards(
    theory: torch.Tensor, log_pi: torch.Tensor, log_p: torch.Tensor, beta: float
) -> torch.Tensor:
    """Per-step ``r_theory / c − β (log π(a | s) − log p(a | s))`` (any matching shapes)."""
    return theory - beta * (log_pi - log_p)


def k3_kl(log_pi_action: torch.Tensor, log_p_action: torch.Tensor) -> torch.Tensor:
    """The k3 estimator ``p/π − log(p/π) − 1`` at the sampled actions (elementwise)."""
    log_ratio = log_p_action - log_pi_action
    return log_ratio.exp() - log_ratio - 1.0


def check_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    """``value`` as a float, or a one-line :class:`SequenceTutorError` naming ``name``."""
    bound = ">= 0" if allow_zero else "> 0"
    if isinstance(value, bool):
        raise SequenceTutorError(f"{name} must be a number {bound}, got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise SequenceTutorError(f"{name} must be a number {bound}, got {value!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise SequenceTutorError(f"{name} must be a finite number {bound}, got {value}")
    return value


class FixedKLController:
    """A constant KL coefficient ``β``.

    :param kl_coef: β (>= 0; 0 for an env without the Note RNN term, ``w = 0``).
    """

    def __init__(self, kl_coef: float) -> None:
        self.value = check_positive("beta", kl_coef, allow_zero=True)

    def update(self, current: float, n_steps: int) -> None:
        """Nothing to adapt."""

    def state(self) -> dict:
        return {"value": self.value}

    def load_state(self, state: dict) -> None:
        self.value = float(state["value"])


class AdaptiveKLController(FixedKLController):
    """TRL's adaptive KL coefficient (module docstring): β follows the KL towards ``target``.

    :param init_kl_coef: initial β (TRL: 0.2).
    :param target: KL per composition to track, in nats (TRL: 6).
    :param horizon: compositions over which a ±20 % error changes β by ±20 % (TRL: 10 000).
    """

    def __init__(self, init_kl_coef: float = 0.2, target: float = 6.0, horizon: int = 10_000):
        self.value = check_positive("init_kl_coef (beta)", init_kl_coef)
        self.target = check_positive("kl_target", target)
        self.horizon = check_positive("kl_horizon", horizon)

    def update(self, current: float, n_steps: int) -> None:
        """Adapt β after ``n_steps`` compositions whose mean KL per composition was ``current``."""
        error = min(max(float(current) / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_steps / self.horizon


def kl_controller(
    beta: float, adaptive: bool, target: float, horizon: int
) -> FixedKLController | AdaptiveKLController:
    """A fixed controller at ``beta``, or an adaptive one starting at ``beta``."""
    if adaptive:
        return AdaptiveKLController(beta, target, horizon)
    return FixedKLController(beta)


__all__ = [
    "AdaptiveKLController",
    "FixedKLController",
    "categorical_kl",
    "check_positive",
    "k3_kl",
    "kl_controller",
    "kl_shaped_rewards",
]
