"""GRPO: group-relative advantages over ``k`` compositions per primer, clipped ratio objective.

Shao et al. 2024, *DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open Language
Models* (https://arxiv.org/abs/2402.03300), Sec. 4.1, with the KL to the frozen Note RNN either
in the reward (as RLOO and PPO-KL) or in the loss with the k3 estimator, as in the paper.
"""

from __future__ import annotations

import dataclasses

import torch

from agents.policy_gradient.base import (
    GroupConfig,
    GroupPolicyGradient,
    batch_terms,
    gather_actions,
)
from agents.policy_gradient.kl import check_positive, k3_kl, kl_shaped_rewards
from agents.policy_gradient.rollout import CompositionBatch
from pretrain.config import setting
from pretrain.errors import SequenceTutorError

KL_PLACES = ("reward", "loss")


@dataclasses.dataclass
class GRPOConfig(GroupConfig):
    """GRPO's hyper-parameters: :class:`~agents.policy_gradient.base.GroupConfig` and these."""

    kl_in: str = setting(
        "reward",
        "where the KL goes: reward (-beta (log pi - log p) per step) or loss (beta * k3)",
        choices=KL_PLACES,
    )
    epochs: int = setting(
        2, "optimiser passes over each batch (ratio 1 on the first, clipped afterwards)", minimum=1
    )
    minibatches: int = setting(
        1, "minibatches per epoch (whole groups; must divide num_primers)", minimum=1
    )
    clip_range: float = setting(0.2, "epsilon of the clipped ratio", above=0)
    std_eps: float = setting(1e-4, "added to the group's standard deviation (TRL: 1e-4)", above=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kl_in not in KL_PLACES:
            raise SequenceTutorError(f"kl_in must be one of {KL_PLACES}, got {self.kl_in!r}")
        for name in ("epochs", "minibatches"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SequenceTutorError(f"{name} must be an integer >= 1, got {value!r}")
        if self.num_primers % self.minibatches:
            raise SequenceTutorError(
                f"minibatches ({self.minibatches}) must divide num_primers ({self.num_primers})"
            )
        check_positive("clip_range", self.clip_range)
        check_positive("std_eps", self.std_eps)


def group_advantages(returns: torch.Tensor, group_size: int, eps: float = 1e-4) -> torch.Tensor:
    """``A_i = (R_i − mean_g R) / (std_g R + eps)`` per group (``std`` with Bessel's correction,
    as TRL's GRPO)."""
    groups = returns.reshape(-1, group_size)
    mean = groups.mean(dim=1, keepdim=True)
    std = groups.std(dim=1, keepdim=True)
    return ((groups - mean) / (std + eps)).reshape(-1)


def clipped_surrogate(
    log_pi: torch.Tensor, old_log_pi: torch.Tensor, advantages: torch.Tensor, clip_range: float
) -> torch.Tensor:
    """Per-step ``−min(ρ A, clip(ρ, 1 − ε, 1 + ε) A)`` with ``ρ = π / π_old`` (``[N, T]``)."""
    ratio = (log_pi - old_log_pi).exp()
    advantages = advantages[:, None]
    return -torch.min(ratio * advantages, ratio.clamp(1 - clip_range, 1 + clip_range) * advantages)


class GRPO(GroupPolicyGradient):
    """Group Relative Policy Optimization from the Note RNN, prior frozen.

    For each primer, ``k`` compositions with returns ``R_i`` get the advantage
    ``A_i = (R_i − mean(R)) / (std(R) + eps)`` at every step, and the loss is

    .. math::

        -\\frac{1}{k T} \\sum_{i, t} \\Big[ \\min\\big(\\rho_{i,t} A_i,
        \\mathrm{clip}(\\rho_{i,t}, 1-\\epsilon, 1+\\epsilon) A_i\\big)
        - \\beta\\, \\mathbb{1}[\\text{kl\\_in} = \\text{loss}]\\, k3_{i,t} \\Big],
        \\quad \\rho_{i,t} = \\frac{\\pi(a_t | s_t)}{\\pi_{old}(a_t | s_t)},

    with ``k3 = p / π − log(p / π) − 1``. With ``kl_in="reward"``, ``R`` is the KL-regularised
    return (:mod:`agents.policy_gradient.base`); with ``"loss"`` it is ``Σ_t r_theory / c``.
    ``epochs`` passes over each batch, ``minibatches`` of whole groups each. Paper: Shao et al.
    2024, https://arxiv.org/abs/2402.03300.

    :param env: see :class:`~agents.policy_gradient.base.GroupPolicyGradient`.
    :param config: :class:`GRPOConfig`.
    """

    algo = "grpo"
    config_class = GRPOConfig
    config: GRPOConfig

    def returns(self, theory: torch.Tensor, sampled_kl: torch.Tensor) -> torch.Tensor:
        """Per-composition return: with the KL in the reward, or the theory part alone."""
        if self.config.kl_in == "reward":
            return kl_shaped_rewards(theory, sampled_kl, 0.0, self.beta)
        return theory

    def update(self, batch: CompositionBatch) -> dict[str, float]:
        config = self.config
        k = batch.group_size
        terms = batch_terms(self.actor, batch)
        old_log_pi = terms.log_pi.detach()
        returns = self.returns(terms.theory, (old_log_pi - terms.log_p).sum(dim=1))
        advantages = group_advantages(returns, k, config.std_eps)
        stats = self._objective_stats(terms)
        groups = batch.num_compositions // k
        per_minibatch = groups // config.minibatches
        losses, clipped, norms = [], [], []
        for epoch in range(config.epochs):
            order = (
                torch.from_numpy(self.rng.permutation(groups)) if epoch else torch.arange(groups)
            )
            for m in range(config.minibatches):
                chosen = order[m * per_minibatch : (m + 1) * per_minibatch]
                rows = (chosen[:, None] * k + torch.arange(k)).reshape(-1)
                if epoch == 0 and config.minibatches == 1:
                    log_pi = terms.log_pi  # the pass above: ratio 1, no second forward
                else:
                    log_pi_all, _ = self.actor.sequence_log_probs(batch.inputs[rows])
                    log_pi = gather_actions(log_pi_all, batch.actions[rows])
                loss_steps = clipped_surrogate(
                    log_pi, old_log_pi[rows], advantages[rows], config.clip_range
                )
                if config.kl_in == "loss":
                    loss_steps = loss_steps + self.beta * k3_kl(log_pi, terms.log_p[rows])
                loss = loss_steps.mean()
                norms.append(self._step(loss))
                losses.append(loss.item())
                with torch.no_grad():
                    ratio = (log_pi.detach() - old_log_pi[rows]).exp()
                    clipped.append(float(((ratio - 1).abs() > config.clip_range).float().mean()))
        self.kl_ctl.update(stats["objective/kl"], batch.num_compositions)
        stats.update(
            {
                "train/loss": sum(losses) / len(losses),
                "train/clip_fraction": sum(clipped) / len(clipped),
                "train/grad_norm": sum(norms) / len(norms),
                "train/return_mean": float(returns.mean()),
            }
        )
        return stats


__all__ = ["GRPO", "GRPOConfig", "clipped_surrogate", "group_advantages"]
