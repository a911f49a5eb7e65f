"""KL pieces of the policy gradients against hand-computed numbers: exact KL, k3, TRL's controller,
the KL-shaped reward, RLOO and GRPO advantages, GRPO's clipped surrogate."""

from __future__ import annotations

import math

import pytest
import torch

from agents.policy_gradient.grpo import GRPOConfig, clipped_surrogate, group_advantages
from agents.policy_gradient.kl import (
    AdaptiveKLController,
    FixedKLController,
    categorical_kl,
    k3_kl,
    kl_shaped_rewards,
)
from agents.policy_gradient.ppo_kl import PPOKLConfig
from agents.policy_gradient.rloo import RLOOConfig, rloo_advantages
from pretrain.errors import SequenceTutorError

torch.set_num_threads(1)


def test_categorical_kl_by_hand():
    log_pi = torch.tensor([0.5, 0.5]).log()
    log_p = torch.tensor([0.25, 0.75]).log()
    expected = 0.5 * math.log(2) + 0.5 * math.log(0.5 / 0.75)  # 0.143841
    assert categorical_kl(log_pi, log_p).item() == pytest.approx(expected, abs=1e-7)
    assert categorical_kl(log_p, log_p).item() == pytest.approx(0.0, abs=1e-7)


def test_k3_by_hand_and_unbiased_for_the_kl():
    # p / pi = 0.5: 0.5 - log 0.5 - 1
    value = k3_kl(torch.tensor(0.5).log(), torch.tensor(0.25).log())
    assert value.item() == pytest.approx(0.5 + math.log(2) - 1, abs=1e-7)
    assert k3_kl(torch.tensor(-1.3), torch.tensor(-1.3)).item() == 0.0
    pi = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    p = torch.tensor([0.6, 0.1, 0.3], dtype=torch.float64)
    expectation = (pi * k3_kl(pi.log(), p.log())).sum()  # E_pi[k3] = KL(pi || p) exactly
    assert expectation.item() == pytest.approx(categorical_kl(pi.log(), p.log()).item(), abs=1e-12)


def test_trl_adaptive_controller_on_hand_numbers():
    ctl = AdaptiveKLController(0.2, target=6.0, horizon=10_000)
    ctl.update(9.0, 32)  # error 0.5 clipped to 0.2: beta *= 1 + 0.2 * 32 / 10000
    assert ctl.value == pytest.approx(0.2 * 1.00064, rel=1e-12)
    ctl.update(5.4, 100)  # error -0.1: beta *= 1 - 0.1 * 100 / 10000
    assert ctl.value == pytest.approx(0.2 * 1.00064 * 0.999, rel=1e-12)
    ctl.update(0.0, 10_000)  # error clipped to -0.2 over a whole horizon: -20 %
    assert ctl.value == pytest.approx(0.2 * 1.00064 * 0.999 * 0.8, rel=1e-12)
    fixed = FixedKLController(1.0)
    fixed.update(100.0, 1000)
    assert fixed.value == 1.0


def test_kl_shaped_reward_by_hand():
    theory = torch.tensor([[2.0, -1.0, 0.5]])
    log_pi = torch.tensor([[-0.5, -2.0, -1.0]])
    log_p = torch.tensor([[-1.0, -1.5, -1.0]])
    shaped = kl_shaped_rewards(theory, log_pi, log_p, beta=2.0)
    assert torch.allclose(shaped, torch.tensor([[2.0 - 1.0, -1.0 + 1.0, 0.5]]))


def test_rloo_advantages_by_hand():
    returns = torch.tensor([1.0, 2.0, 3.0, 6.0])
    expected = torch.tensor([1 - 11 / 3, 2 - 10 / 3, 3 - 3, 6 - 2])
    assert torch.allclose(rloo_advantages(returns, 4), expected)
    assert torch.allclose(
        rloo_advantages(torch.tensor([1.0, 3.0, 10.0, 0.0]), 2), torch.tensor([-2.0, 2, 10, -10])
    )
    assert rloo_advantages(returns, 4).sum().abs() < 1e-6  # leave-one-out: zero mean per group


def test_grpo_advantages_by_hand():
    returns = torch.tensor([1.0, 2.0, 3.0, 6.0, 5.0, 5.0, 5.0, 5.0])
    std = math.sqrt(14 / 3)  # Bessel-corrected, as TRL
    advantages = group_advantages(returns, 4, eps=1e-4)
    assert torch.allclose(advantages[:4], torch.tensor([-2.0, -1, 0, 3]) / (std + 1e-4))
    assert torch.equal(advantages[4:], torch.zeros(4))  # equal returns: no signal


def test_clipped_surrogate_by_hand():
    old = torch.zeros(4, 1)
    log_pi = torch.tensor([[math.log(1.5)], [math.log(1.5)], [math.log(0.5)], [math.log(0.5)]])
    advantages = torch.tensor([1.0, -1.0, 1.0, -1.0])
    loss = clipped_surrogate(log_pi, old, advantages, 0.2)
    assert torch.allclose(loss[:, 0], torch.tensor([-1.2, 1.5, -0.5, 0.8]))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: RLOOConfig(group_size=1), "group_size"),
        (lambda: GRPOConfig(group_size=1), "group_size"),
        (lambda: RLOOConfig(beta=0.0), "beta"),
        (lambda: GRPOConfig(beta=-1.0), "beta"),
        (lambda: RLOOConfig(kl_target=0.0), "kl_target"),
        (lambda: PPOKLConfig(beta=0.0), "beta"),
        (lambda: PPOKLConfig(kl_target=-6.0), "kl_target"),
        (lambda: GRPOConfig(kl_in="advantage"), "kl_in"),
        (lambda: GRPOConfig(num_primers=3, minibatches=2), "minibatches"),
        (lambda: AdaptiveKLController(0.2, target=0.0), "kl_target"),
        (lambda: AdaptiveKLController(0.0), "beta"),
        (lambda: RLOOConfig(learning_rate=float("nan")), "learning_rate"),
    ],
)
def test_bad_hyper_parameters_are_one_line_errors(make, match):
    with pytest.raises(SequenceTutorError, match=match) as info:
        make()
    assert "\n" not in str(info.value)
