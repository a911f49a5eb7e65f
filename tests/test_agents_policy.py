"""The Note RNN policy: initialisation equals the Note RNN, raw-token reading, carried state."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from agents.policy import NoteRNNPolicy, RecurrentActor, observation_prefix, sample_actions
from pretrain.errors import SequenceTutorError
from pretrain.models import NoteRNNConfig, build_note_rnn

torch.set_num_threads(1)

V, T = 38, 6
PAD = V
OBS_SPACE = spaces.MultiDiscrete(np.full(1 + T, V + 1))
ACT_SPACE = spaces.Discrete(V)


def note_rnn(kind: str = "lstm"):
    torch.manual_seed(0)
    model = build_note_rnn(NoteRNNConfig(kind=kind, hidden_size=10, depth=2)).eval()
    with torch.no_grad():  # sharper than the init so p is far from uniform
        model.output.weight.mul_(8)
    return model


def make_policy(algo: str, kind: str = "lstm") -> tuple[NoteRNNPolicy, torch.nn.Module]:
    rnn = note_rnn(kind)
    return NoteRNNPolicy(OBS_SPACE, ACT_SPACE, lambda _: 1e-3, note_rnn=rnn, algo=algo), rnn


def observation(tokens: list[int]) -> np.ndarray:
    obs = np.full(1 + T, PAD, dtype=np.int64)
    obs[: len(tokens)] = tokens
    return obs


PREFIXES = [[14], [14, 1], [3, 20, 1, 0], [14, 2, 3, 4, 5, 6, 7]]


@torch.no_grad()
def note_rnn_log_probs(rnn, prefix: list[int]) -> torch.Tensor:
    logits, _ = rnn(torch.tensor([prefix]))
    return torch.log_softmax(logits[0, -1], dim=-1)


@pytest.mark.parametrize("kind", ["lstm", "rhn", "dtrnn"])
@pytest.mark.parametrize("algo", ["q", "psi", "g"])
def test_boltzmann_policy_equals_the_note_rnn_before_training(algo, kind):
    policy, rnn = make_policy(algo, kind)
    obs = torch.as_tensor(np.stack([observation(p) for p in PREFIXES]))
    log_pi = torch.log_softmax(policy.observation_logits(obs), dim=-1)
    for row, prefix in enumerate(PREFIXES):
        assert torch.allclose(log_pi[row], note_rnn_log_probs(rnn, prefix), atol=1e-5)
    values = policy.q_net(obs)
    if algo == "g":  # G starts at zero: softmax(G + log p) = p (a copied head would give p^2)
        assert torch.count_nonzero(values) == 0
    else:  # Q and Psi start as the Note RNN's logits
        logits = torch.stack([rnn(torch.tensor([p]))[0][0, -1] for p in PREFIXES])
        assert torch.allclose(values, logits, atol=1e-5)


def test_target_is_a_copy_and_the_prior_is_frozen_and_not_optimised():
    policy, _ = make_policy("g")
    for (name, p), q in zip(policy.q_net.named_parameters(), policy.q_net_target.parameters()):
        assert torch.equal(p, q) and p.data_ptr() != q.data_ptr(), name
        assert not q.requires_grad
    assert all(not p.requires_grad for p in policy.prior.parameters())
    optimised = {id(p) for group in policy.optimizer.param_groups for p in group["params"]}
    assert optimised == {id(p) for p in policy.q_net.parameters()}
    policy.set_training_mode(True)
    assert policy.q_net.training and not policy.q_net.rnn.training  # no dropout in TD learning


def test_observation_prefix_reads_raw_tokens_and_position():
    obs = torch.as_tensor(np.stack([observation([14]), observation([3, 20, 1, 0])]))
    tokens, position = observation_prefix(obs, PAD)
    assert position.tolist() == [0, 3]
    assert tokens.tolist() == [[14, 0, 0, 0], [3, 20, 1, 0]]
    with pytest.raises(ValueError, match="no token"):
        observation_prefix(torch.full((1, 1 + T), PAD), PAD)


def test_padded_forward_equals_the_unpadded_prefix_and_sequence_values():
    policy, _ = make_policy("psi")
    prefix = [3, 20, 1, 0]
    values = policy.q_net(torch.as_tensor(observation(prefix))[None])[0]
    all_prefixes = policy.q_net.sequence_values(torch.tensor([prefix]))[0]
    assert torch.allclose(values, all_prefixes[-1], atol=1e-6)
    first = policy.q_net(torch.as_tensor(observation(prefix[:2]))[None])[0]
    assert torch.allclose(first, all_prefixes[1], atol=1e-6)


@pytest.mark.parametrize("kind", ["lstm", "rhn", "dtrnn"])
@pytest.mark.parametrize("algo", ["psi", "g"])
def test_recurrent_actor_matches_rereading_the_melody(algo, kind):
    policy, _ = make_policy(algo, kind)
    actor = RecurrentActor(policy)
    rng = np.random.default_rng(0)
    episodes = [[14, *rng.integers(0, V, T).tolist()], [5, *rng.integers(0, V, T).tolist()]]
    # two envs stepping in lockstep, then a new episode in env 0 only (auto-reset)
    for t in range(1, T + 1):
        obs = np.stack([observation(e[:t]) for e in episodes])
        expected = policy.observation_logits(torch.as_tensor(obs)).detach()
        assert np.allclose(actor.logits(obs), expected.numpy(), atol=1e-5)
    obs = np.stack([observation([9]), observation(episodes[1][: T + 1])])
    assert np.allclose(
        actor.logits(obs),
        policy.observation_logits(torch.as_tensor(obs)).detach().numpy(),
        atol=1e-5,
    )
    # an unrelated observation is recomputed, not stepped
    obs = np.stack([observation([9, 9]), observation([1, 2, 3])])
    assert np.allclose(
        actor.logits(obs),
        policy.observation_logits(torch.as_tensor(obs)).detach().numpy(),
        atol=1e-5,
    )


def test_numpy_sampler_follows_softmax():
    logits = np.log(np.array([[0.1, 0.6, 0.3]] * 30000))
    freq = np.bincount(sample_actions(logits, np.random.default_rng(0)), minlength=3) / 30000
    assert np.abs(freq - [0.1, 0.6, 0.3]).max() < 0.01


def test_sampling_follows_the_boltzmann_policy():
    policy, rnn = make_policy("psi")
    obs = torch.as_tensor(observation([14, 2, 3]))[None].repeat(20000, 1)
    torch.manual_seed(0)
    actions = policy._predict(obs, deterministic=False).numpy()
    freq = np.bincount(actions, minlength=V) / len(actions)
    p = note_rnn_log_probs(rnn, [14, 2, 3]).exp().numpy()
    assert np.abs(freq - p).max() < 0.02
    assert policy._predict(obs[:1], deterministic=True).item() == int(p.argmax())


def test_incompatible_note_rnn_and_unknown_algo_are_one_line_errors():
    small = build_note_rnn(NoteRNNConfig(vocab_size=20, hidden_size=4))
    with pytest.raises(SequenceTutorError, match="does not fit"):
        NoteRNNPolicy(OBS_SPACE, ACT_SPACE, lambda _: 1e-3, note_rnn=small)
    with pytest.raises(SequenceTutorError, match="unknown algo"):
        NoteRNNPolicy(OBS_SPACE, ACT_SPACE, lambda _: 1e-3, note_rnn=note_rnn(), algo="sarsa")
    with pytest.raises(SequenceTutorError, match="MultiDiscrete"):
        NoteRNNPolicy(spaces.Discrete(5), ACT_SPACE, lambda _: 1e-3, note_rnn=note_rnn())
