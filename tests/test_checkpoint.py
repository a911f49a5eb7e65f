import json

import pytest
import torch

from pretrain.checkpoint import load_note_rnn, save_note_rnn
from pretrain.errors import SequenceTutorError
from pretrain.models import LSTMNoteRNN, NoteRNNConfig


def test_lstm_round_trip(tmp_path):
    torch.manual_seed(0)
    model = LSTMNoteRNN(NoteRNNConfig(hidden_size=16))
    save_note_rnn(model, tmp_path / "m", metrics={"accuracy": 0.5}, corpus_hash="abc")
    loaded, meta = load_note_rnn(tmp_path / "m.json")
    tokens = torch.randint(0, 38, (2, 9))
    assert torch.equal(model(tokens)[0], loaded(tokens)[0])
    assert meta["metrics"] == {"accuracy": 0.5} and meta["corpus_hash"] == "abc"


def test_step_matches_forward():
    torch.manual_seed(0)
    model = LSTMNoteRNN(NoteRNNConfig(hidden_size=8, num_layers=2))
    tokens = torch.randint(0, 38, (3, 7))
    full, _ = model(tokens)
    state = model.initial_state(3)
    for t in range(7):
        logits, state = model.step(tokens[:, t], state)
        torch.testing.assert_close(logits, full[:, t])


def test_mismatched_config_names_the_file(tmp_path):
    save_note_rnn(LSTMNoteRNN(NoteRNNConfig(hidden_size=16)), tmp_path / "m")
    meta = json.loads((tmp_path / "m.json").read_text())
    meta["config"]["hidden_size"] = 32
    (tmp_path / "m.json").write_text(json.dumps(meta))
    with pytest.raises(SequenceTutorError, match=r"m\.safetensors: weights do not match"):
        load_note_rnn(tmp_path / "m")


def test_corrupt_weights_name_the_file(tmp_path):
    save_note_rnn(LSTMNoteRNN(NoteRNNConfig(hidden_size=16)), tmp_path / "m")
    (tmp_path / "m.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(SequenceTutorError, match=r"m\.safetensors: not a readable safetensors"):
        load_note_rnn(tmp_path / "m")


def test_missing_checkpoint(tmp_path):
    with pytest.raises(
        SequenceTutorError, match="nothere.json: Note RNN checkpoint config not found"
    ):
        load_note_rnn(tmp_path / "nothere")


def test_missing_config_names_the_file_the_user_gave(tmp_path):
    given = tmp_path / "x.safetensors"
    given.write_bytes(b"")
    with pytest.raises(SequenceTutorError) as error:
        load_note_rnn(given)
    assert str(error.value).startswith(f"{tmp_path / 'x.json'}: Note RNN checkpoint config not")
    assert f"(for {given})" in str(error.value)
