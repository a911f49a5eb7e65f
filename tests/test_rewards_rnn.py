"""The Reward RNN: numpy and torch paths agree, batching, checkpoints and their errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pretrain.checkpoint import default_checkpoint, save_note_rnn
from pretrain.errors import SequenceTutorError
from pretrain.models import NoteRNNConfig, build_note_rnn
from pretrain.vocabulary import DEFAULT_VOCABULARY, Vocabulary
from rewards import RewardRNN


def random_model(kind: str = "lstm", **config):
    torch.manual_seed(0)
    model = build_note_rnn(NoteRNNConfig(kind=kind, **config))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.uniform_(-0.6, 0.6)  # larger than the init: exercises saturation
    return model.eval()


def torch_log_probs(model, sequences: np.ndarray) -> np.ndarray:
    """log p(x_{t+1} | x_{<=t}) from the model's own whole-sequence forward."""
    with torch.no_grad():
        logits, _ = model(torch.as_tensor(sequences))
        log_probs = torch.log_softmax(logits, -1)[:, :-1]
        targets = torch.as_tensor(sequences[:, 1:])
        return log_probs.gather(-1, targets[..., None])[..., 0].numpy()


SEQUENCES = np.random.default_rng(0).integers(0, 38, (4, 40))


@pytest.mark.parametrize("config", [{}, {"num_layers": 2, "hidden_size": 24}])
def test_numpy_and_torch_paths_agree(config):
    model = random_model(**config)
    expected = torch_log_probs(model, SEQUENCES)
    for backend in ("numpy", "torch"):
        rnn = RewardRNN(model, backend=backend)
        np.testing.assert_allclose(rnn.log_probs_of(SEQUENCES), expected, atol=1e-5)


@pytest.mark.parametrize("config", [{}, {"num_layers": 2, "hidden_size": 24}])
def test_stream_equals_the_model(config):
    model = random_model(**config)
    expected = torch_log_probs(model, SEQUENCES)
    for backend in ("numpy", "torch"):
        stream = RewardRNN(model, backend=backend).stream()
        for row, sequence in enumerate(SEQUENCES.tolist()):
            stream.prime(sequence[:1])
            for t, token in enumerate(sequence[1:]):
                if t % 7 == 0:  # the whole distribution, without disturbing the stream
                    full = stream.log_probs()
                    assert full.shape == (38,)
                    assert np.exp(full.astype(np.float64)).sum() == pytest.approx(1, abs=1e-5)
                    assert full[token] == pytest.approx(expected[row, t], abs=1e-5)
                assert stream.log_prob(token) == pytest.approx(expected[row, t], abs=1e-5)
                stream.feed(token)


def test_primer_melody_primes_the_state():
    model = random_model()
    expected = torch_log_probs(model, SEQUENCES[:1])[0]
    stream = RewardRNN(model).stream()
    stream.prime(SEQUENCES[0, :5])
    assert stream.log_prob(int(SEQUENCES[0, 5])) == pytest.approx(expected[4], abs=1e-5)
    stream.prime([SEQUENCES[0, 0]])  # priming again starts over from the zero state
    assert stream.log_prob(int(SEQUENCES[0, 1])) == pytest.approx(expected[0], abs=1e-5)


def test_batched_steps_equal_single_streams():
    rnn = RewardRNN(random_model())
    primers = [[5], [9], [14, 16], [2]]  # different lengths are primed in groups
    log_probs, state = rnn.prime(primers)
    streams = [rnn.stream() for _ in primers]
    for stream, primer in zip(streams, primers):
        stream.prime(primer)
    for tokens in SEQUENCES[:, :12].T:
        for i, stream in enumerate(streams):
            assert log_probs[i, tokens[i]] == pytest.approx(
                stream.log_prob(int(tokens[i])), abs=1e-5
            )
            stream.feed(int(tokens[i]))
        log_probs, state = rnn.step(tokens, state)
    assert log_probs.shape == (4, 38) and log_probs.dtype == np.float32


def test_state_helpers_select_and_replace():
    for backend in ("numpy", "torch"):
        rnn = RewardRNN(random_model(), backend=backend)
        _, state = rnn.prime([[3], [4], [5]])
        one = rnn.select(state, 1)
        _, alone = rnn.prime([[4]])
        for a, b in zip(one, alone):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
        replaced = rnn.replace(state, 0, one)
        _, expected = rnn.prime([[4], [4], [5]])
        for a, b in zip(replaced, expected):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_shipped_checkpoint_is_the_default():
    rnn = RewardRNN()
    assert rnn.backend == "numpy" and rnn.kind == "lstm"
    assert rnn.vocabulary == DEFAULT_VOCABULARY
    stream = rnn.stream()
    stream.prime([14])
    assert stream.log_prob(16) < 0
    with pytest.raises(ValueError, match="backend"):
        RewardRNN(backend="jax")


@pytest.mark.parametrize("kind", ["rhn", "dtrnn"])
def test_deep_transition_reward_rnn_uses_torch(kind, tmp_path):
    model = random_model(kind, hidden_size=20, depth=2)
    save_note_rnn(model, tmp_path / kind)
    rnn = RewardRNN(tmp_path / kind)
    assert rnn.backend == "torch" and rnn.kind == kind
    np.testing.assert_allclose(
        rnn.log_probs_of(SEQUENCES), torch_log_probs(model, SEQUENCES), atol=1e-5
    )
    with pytest.raises(ValueError, match="numpy backend runs LSTMs only"):
        RewardRNN(model, backend="numpy")


def test_dtrnn_reward_rnn_streams_batches_and_states():
    model = random_model("dtrnn", hidden_size=12, depth=3)
    expected = torch_log_probs(model, SEQUENCES)
    rnn = RewardRNN(model)
    stream = rnn.stream()
    stream.prime(SEQUENCES[1, :1].tolist())
    for t, token in enumerate(SEQUENCES[1, 1:].tolist()):
        assert stream.log_prob(token) == pytest.approx(expected[1, t], abs=1e-5)
        stream.feed(token)
    log_probs, state = rnn.prime(SEQUENCES[:, :1].tolist())
    for t in range(1, 12):
        rows = np.arange(4)
        np.testing.assert_allclose(log_probs[rows, SEQUENCES[:, t]], expected[:, t - 1], atol=1e-5)
        log_probs, state = rnn.step(SEQUENCES[:, t], state)
    one = rnn.select(state, 2)
    assert one[0].shape == (1, 12)
    replaced = rnn.replace(state, 0, one)
    np.testing.assert_allclose(np.asarray(replaced[0][0]), np.asarray(state[0][2]), atol=1e-7)


def test_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(SequenceTutorError, match="nowhere"):
        RewardRNN(tmp_path / "nowhere")


def test_corrupt_checkpoint_names_the_file(tmp_path):
    weights, config = (default_checkpoint("lstm").with_suffix(s) for s in (".safetensors", ".json"))
    (tmp_path / "bad.json").write_text(config.read_text())
    (tmp_path / "bad.safetensors").write_bytes(weights.read_bytes()[:100])
    with pytest.raises(SequenceTutorError, match="bad.safetensors"):
        RewardRNN(tmp_path / "bad")
    (tmp_path / "worse.json").write_text("{not json")
    with pytest.raises(SequenceTutorError, match="worse.json"):
        RewardRNN(tmp_path / "worse")


def test_wrong_vocabulary_is_refused(tmp_path):
    small = Vocabulary(min_pitch=48, num_pitches=24)
    model = build_note_rnn(NoteRNNConfig(vocab_size=small.size, hidden_size=8))
    save_note_rnn(model, tmp_path / "small", vocabulary=small)
    with pytest.raises(SequenceTutorError, match="vocabulary"):
        RewardRNN(tmp_path / "small")
    with pytest.raises(SequenceTutorError, match="26 tokens"):
        RewardRNN(model)
    meta = json.loads((tmp_path / "small.json").read_text())
    assert meta["vocabulary"]["size"] == 26
    assert RewardRNN(tmp_path / "small", vocabulary=small).vocab_size == 26


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_batch_stream_equals_the_model(backend):
    model = random_model()
    rnn = RewardRNN(model, backend=backend)
    primers = [[int(s[0])] for s in SEQUENCES]
    expected = torch_log_probs(model, SEQUENCES)
    stream = rnn.batch_stream(len(SEQUENCES))
    stream.prime(primers)
    for t in range(1, SEQUENCES.shape[1]):
        log_prob = stream.log_prob(SEQUENCES[:, t])
        assert log_prob.dtype == np.float64 and log_prob.shape == (len(SEQUENCES),)
        np.testing.assert_allclose(log_prob, expected[:, t - 1], atol=1e-5)
        stream.feed(SEQUENCES[:, t])
    # primers of different lengths
    stream.prime([SEQUENCES[0, :3], SEQUENCES[1, :1], SEQUENCES[2, :2], SEQUENCES[3, :1]])
    got = stream.log_prob(
        np.array([SEQUENCES[0, 3], SEQUENCES[1, 1], SEQUENCES[2, 2], SEQUENCES[3, 1]])
    )
    np.testing.assert_allclose(
        got, [expected[0, 2], expected[1, 0], expected[2, 1], expected[3, 0]], atol=1e-5
    )
    with pytest.raises(ValueError, match="primers for 4"):
        stream.prime([[1]])


@pytest.mark.parametrize(
    ("backend", "config"),
    [("numpy", {}), ("torch", {}), ("numpy", {"num_layers": 2, "hidden_size": 24})],
)
def test_batch_stream_restarts_some_rows(backend, config):
    """``prime(primers, rows=...)`` restarts those rows; the others go on untouched (the vector
    env's partial resets). Fused one-layer stream, generic numpy and torch streams."""
    model = random_model(**config)
    rnn = RewardRNN(model, backend=backend)
    expected = torch_log_probs(model, SEQUENCES)
    stream = rnn.batch_stream(len(SEQUENCES))
    stream.prime([[int(s[0])] for s in SEQUENCES])
    for t in range(1, 5):
        stream.feed(SEQUENCES[:, t])
    untouched = stream.log_prob(SEQUENCES[:, 5])
    stream.prime([SEQUENCES[1, :3], SEQUENCES[3, :1]], rows=[1, 3])
    got = stream.log_prob(np.array([SEQUENCES[0, 5], SEQUENCES[1, 3], SEQUENCES[2, 5], 0]))
    assert got[[0, 2]].tolist() == untouched[[0, 2]].tolist()  # exactly: rows independent
    np.testing.assert_allclose(got[1], expected[1, 2], atol=1e-5)
    np.testing.assert_allclose(stream.log_prob(SEQUENCES[:, 1])[3], expected[3, 0], atol=1e-5)
    with pytest.raises(ValueError, match="got 1 primers for 2 rows"):
        stream.prime([[1]], rows=[0, 1])
    with pytest.raises(ValueError, match="rows must lie in 0..3"):
        stream.prime([[1]], rows=[4])
