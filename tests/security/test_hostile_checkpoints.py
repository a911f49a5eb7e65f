"""Hostile Note RNN checkpoints against ``pretrain.checkpoint.load_note_rnn`` (issue 8).

Every crafted file must end in one :class:`SequenceTutorError` whose one-line message names the
file, without running code (the pickle traps' marker never appears) and without building a model
the size a config asks for before the weights are checked.
"""

from __future__ import annotations

import pickle
import resource

import pytest
import torch

from pretrain.checkpoint import load_note_rnn
from pretrain.errors import SequenceTutorError
from tests.security import hostile

REFUSED = [h for h in hostile.CHECKPOINTS if h.name != "../-names-in-json"]


def test_traps_are_real(tmp_path):
    """The payloads do run code when unpickled the unsafe way, so their absence means something."""
    marker = tmp_path / "marker"
    pickle.loads(hostile.pickle_payload(marker))
    assert marker.exists()
    marker.unlink()
    path = hostile.ckpt_pt(tmp_path, marker)
    torch.load(path, weights_only=False)
    assert marker.exists()
    marker.unlink()
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    assert not marker.exists()


@pytest.mark.parametrize("case", REFUSED, ids=[h.name for h in REFUSED])
def test_hostile_checkpoint_is_refused(tmp_path, case):
    folder = tmp_path / "in"
    folder.mkdir()
    marker = tmp_path / hostile.MARKER_NAME
    path = case.build(folder, marker)
    before = hostile.snapshot(tmp_path)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(SequenceTutorError) as info:
        load_note_rnn(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(folder) in message  # names the file it refused
    assert not marker.exists()
    assert hostile.snapshot(tmp_path) == before  # a loader writes nothing
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert grown_mb < 200, f"peak memory grew by {grown_mb:.0f} MB"


def test_pickle_suffixes_get_a_helpful_message(tmp_path):
    path = hostile.ckpt_pt(tmp_path, tmp_path / "marker")
    with pytest.raises(
        SequenceTutorError, match=r"note_rnn\.pt: pickle-based checkpoints are never"
    ):
        load_note_rnn(path)


def test_traversal_names_in_config_are_inert(tmp_path):
    """``../`` in name-like JSON fields is data, never a path: loading writes nothing anywhere."""
    folder = tmp_path / "a" / "b"
    folder.mkdir(parents=True)
    path = hostile.ckpt_traversal_names(folder)
    before = hostile.snapshot(tmp_path)
    model, meta = load_note_rnn(path)
    assert model.config.extra["name"].startswith("../")
    assert hostile.snapshot(tmp_path) == before
    assert not list(tmp_path.rglob(hostile.ESCAPE_NAME))


def test_huge_config_is_checked_before_it_is_built(tmp_path, monkeypatch):
    """A config asking for 16 TB of weights fails on the shape check, never on allocation."""
    import pretrain.checkpoint as checkpoint  # noqa: PLC0415

    built = []
    real = checkpoint.build_note_rnn

    def spy(config):
        built.append(torch.empty(0).device.type)  # the default device while building
        return real(config)

    monkeypatch.setattr(checkpoint, "build_note_rnn", spy)
    with pytest.raises(SequenceTutorError, match="weights do not match the config"):
        load_note_rnn(hostile.ckpt_huge_config(tmp_path))
    assert built == ["meta"]
