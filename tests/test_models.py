"""All Note RNNs: one interface, whole-sequence == step-by-step, sizes, checkpoints."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pretrain.checkpoint import load_note_rnn, save_note_rnn
from pretrain.dtrnn import DTRNNNoteRNN
from pretrain.models import LSTMNoteRNN, NoteRNNConfig, build_note_rnn
from pretrain.rhn import RHNNoteRNN
from pretrain.sizing import hidden_for_parameters, lstm_parameters, transition_parameters

CONFIGS = {
    "lstm": NoteRNNConfig(kind="lstm", hidden_size=12, num_layers=2),
    "rhn": NoteRNNConfig(kind="rhn", hidden_size=12, depth=3),
    "dtrnn": NoteRNNConfig(kind="dtrnn", hidden_size=12, depth=3),
}
CLASSES = {"lstm": LSTMNoteRNN, "rhn": RHNNoteRNN, "dtrnn": DTRNNNoteRNN}


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_forward_log_probs_equal_step_by_step(kind):
    torch.manual_seed(0)
    model = build_note_rnn(CONFIGS[kind]).eval()
    tokens = torch.randint(0, 38, (5, 13))
    with torch.no_grad():
        full, final = model(tokens)
        state = model.initial_state(5)
        for t in range(tokens.shape[1]):
            logits, state = model.step(tokens[:, t], state)
            torch.testing.assert_close(
                F.log_softmax(logits, -1), F.log_softmax(full[:, t], -1), rtol=1e-5, atol=1e-6
            )
    for a, b in zip(state, final):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_interface_shapes(kind):
    model = build_note_rnn(CONFIGS[kind])
    assert type(model) is CLASSES[kind]
    logits, state = model(torch.zeros(3, 4, dtype=torch.long))
    assert logits.shape == (3, 4, 38)
    assert isinstance(state, tuple)
    if kind != "lstm":
        assert len(state) == 1 and state[0].shape == (3, 12)
    logits, _ = model.step(torch.zeros(3, dtype=torch.long), model.initial_state(3))
    assert logits.shape == (3, 38)
    assert model.output.weight.shape == (38, 12)


@pytest.mark.parametrize("kind", ["rhn", "dtrnn"])
@pytest.mark.parametrize("depth", [1, 3, 5, 10])
def test_deep_transition_sizing_matches_the_lstm_parameter_count(kind, depth):
    target = lstm_parameters(100, 38)
    assert target == build_note_rnn(NoteRNNConfig(kind="lstm")).num_parameters() == 59_838
    hidden = hidden_for_parameters(kind, target, depth, 38)
    params = build_note_rnn(
        NoteRNNConfig(kind=kind, hidden_size=hidden, depth=depth)
    ).num_parameters()
    bigger = build_note_rnn(
        NoteRNNConfig(kind=kind, hidden_size=hidden + 1, depth=depth)
    ).num_parameters()
    assert params == transition_parameters(kind, hidden, depth, 38)
    assert params <= target < bigger
    assert abs(params - target) / target < 0.02


def test_study_sizes_at_the_lstm_budget():
    """The widths of benchmarks/rhn_study.md (RHN paper: equal parameters across depths)."""
    sizes = {
        (kind, depth): hidden_for_parameters(kind, 59_838, depth, 38)
        for kind in ("rhn", "dtrnn")
        for depth in (1, 3, 5, 10)
    }
    assert sizes == {
        ("rhn", 1): 146, ("rhn", 3): 90, ("rhn", 5): 71, ("rhn", 10): 51,
        ("dtrnn", 1): 209, ("dtrnn", 3): 128, ("dtrnn", 5): 101, ("dtrnn", 10): 73,
    }  # fmt: skip


@pytest.mark.parametrize("kind", ["rhn", "dtrnn"])
def test_deep_transition_checkpoint_round_trip(kind, tmp_path):
    torch.manual_seed(0)
    model = build_note_rnn(NoteRNNConfig(kind=kind, hidden_size=9, depth=2, transform_bias=-3.0))
    save_note_rnn(model, tmp_path / "r", metrics={"accuracy": 0.1})
    loaded, meta = load_note_rnn(tmp_path / "r")
    assert type(loaded) is CLASSES[kind] and meta["config"].depth == 2
    tokens = torch.randint(0, 38, (2, 6))
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(tokens)[0], loaded(tokens)[0])


def test_config_rejects_bad_sizes():
    with pytest.raises(ValueError, match="hidden_size must be >= 1"):
        NoteRNNConfig(kind="rhn", hidden_size=0)
    with pytest.raises(ValueError, match="unknown"):
        NoteRNNConfig(kind="gru")
    with pytest.raises(ValueError, match="needs kind 'rhn'"):
        RHNNoteRNN(NoteRNNConfig(kind="lstm"))
    with pytest.raises(ValueError, match="needs kind 'dtrnn'"):
        DTRNNNoteRNN(NoteRNNConfig(kind="rhn"))


def test_kneser_ney_distributions_sum_to_one_and_learn_a_pattern():
    import numpy as np

    from pretrain.ngram import KneserNeyModel

    rng = np.random.default_rng(0)
    train = []
    for _ in range(40):
        notes = rng.integers(2, 38, size=20)
        tune = np.repeat(notes, 2)
        tune[1::2] = 1  # every note held one step: a perfectly predictable hold
        train.append(tune)
    model = KneserNeyModel(order=3).fit(train)
    tokens, real = model._padded(train[:3])
    probs = model.distribution(tokens, np.flatnonzero(real))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)
    metrics = model.evaluate(train[:5])
    # Every hold (half of the targets) is certain after a note-on; note-ons are near uniform.
    assert metrics["accuracy"] >= 0.5 and metrics["nonhold_accuracy"] < 0.3
    assert metrics["perplexity"] < 38
    with pytest.raises(ValueError, match="too large"):
        KneserNeyModel(order=13, vocab_size=38)


@pytest.mark.parametrize("kind", ["lstm", "rhn"])
def test_shipped_checkpoints_are_small_trained_models(kind):
    from pretrain.checkpoint import default_checkpoint

    path = default_checkpoint(kind)
    assert path.with_suffix(".safetensors").stat().st_size < 5 * 1024 * 1024
    model, meta = load_note_rnn(path)
    assert meta["config"].kind == kind and 55_000 < model.num_parameters() < 61_000
    metrics = meta["metrics"]
    # Trained on the default corpus, better than the Kneser-Ney 9-gram on the same split
    # (0.713 / 2.61, benchmarks/pretrain.md).
    assert metrics["accuracy"] > 0.72 and metrics["perplexity"] < 2.4
    assert meta["corpus_hash"] and metrics["tokens"] > 100_000


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["lstm", "rhn"])
def test_shipped_checkpoint_metrics_reproduce_on_the_default_corpus(kind):
    from pretrain.checkpoint import default_checkpoint
    from pretrain.corpus import load_corpus
    from pretrain.training import evaluate_note_rnn

    model, meta = load_note_rnn(default_checkpoint(kind))
    corpus = load_corpus(progress=False)
    assert corpus.hash == meta["corpus_hash"]
    metrics = evaluate_note_rnn(model, corpus.valid)
    for key in ("accuracy", "nonhold_accuracy", "perplexity"):
        assert metrics[key] == pytest.approx(meta["metrics"][key], rel=1e-4)
