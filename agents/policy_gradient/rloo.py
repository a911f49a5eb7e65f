"""RLOO: REINFORCE with a leave-one-out baseline over ``k`` compositions per primer.

Ahmadian et al. 2024, *Back to Basics: Revisiting REINFORCE-Style Optimization for Learning from
Human Feedback in LLMs* (https://arxiv.org/abs/2402.14740), Sec. 3.4, on Sequence Tutor's
KL-regularised return ``R`` (:mod:`agents.policy_gradient.base`).
"""

from __future__ import annotations

import dataclasses

import torch

from agents.policy_gradient.base import GroupConfig, GroupPolicyGradient, batch_terms
from agents.policy_gradient.kl import kl_shaped_rewards
from agents.policy_gradient.rollout import CompositionBatch


@dataclasses.dataclass
class RLOOConfig(GroupConfig):
    """RLOO's hyper-parameters: those of :class:`~agents.policy_gradient.base.GroupConfig`."""


def rloo_advantages(returns: torch.Tensor, group_size: int) -> torch.Tensor:
    """``A_i = R_i − mean_{j ≠ i} R_j`` within each group of ``group_size`` consecutive rows."""
    groups = returns.reshape(-1, group_size)
    baseline = (groups.sum(dim=1, keepdim=True) - groups) / (group_size - 1)
    return (groups - baseline).reshape(-1)


class RLOO(GroupPolicyGradient):
    """REINFORCE with a leave-one-out baseline from the Note RNN, prior frozen.

    For each primer the agent samples ``k`` compositions ``y_1 .. y_k`` and, with the
    KL-regularised return ``R(y) = Σ_t r_theory / c − β Σ_t (log π(a_t | s_t) − log p(a_t | s_t))``
    (``log π`` detached: its score-function term has zero mean), ascends

    .. math::

        \\frac{1}{k} \\sum_{i=1}^{k} \\Big[ R(y_i) - \\frac{1}{k-1} \\sum_{j \\ne i} R(y_j) \\Big]
        \\nabla \\log \\pi(y_i),

    one Adam step per batch of ``k · num_primers`` compositions (the loss averages
    ``A_i · log π(a_t | s_t)`` over compositions and steps). Paper: Ahmadian et al. 2024,
    https://arxiv.org/abs/2402.14740.

    :param env: see :class:`~agents.policy_gradient.base.GroupPolicyGradient`.
    :param config: :class:`RLOOConfig`.
    """

    algo = "rloo"
    config_class = RLOOConfig

    def update(self, batch: CompositionBatch) -> dict[str, float]:
        terms = batch_terms(self.actor, batch)
        sampled_kl = (terms.log_pi.detach() - terms.log_p).sum(dim=1)
        returns = kl_shaped_rewards(terms.theory, sampled_kl, 0.0, self.beta)
        advantages = rloo_advantages(returns, batch.group_size)
        loss = -(advantages[:, None] * terms.log_pi).mean()
        grad_norm = self._step(loss)
        stats = self._objective_stats(terms)
        self.kl_ctl.update(stats["objective/kl"], batch.num_compositions)
        stats.update(
            {
                "train/loss": loss.item(),
                "train/grad_norm": grad_norm,
                "train/return_mean": float(returns.mean()),
            }
        )
        return stats


__all__ = ["RLOO", "RLOOConfig", "rloo_advantages"]
