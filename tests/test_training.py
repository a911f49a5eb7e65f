"""Pretraining: batches, metrics, determinism, exact resume, safe state files."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from safetensors import safe_open

from pretrain.checkpoint import load_note_rnn
from pretrain.errors import SequenceTutorError
from pretrain.models import NoteRNNConfig
from pretrain.training import (
    IGNORE,
    RESUME_FILE,
    TrainingConfig,
    WindowSampler,
    evaluate_note_rnn,
    train_note_rnn,
)
from pretrain.vocabulary import DEFAULT_VOCABULARY, NO_EVENT


@dataclass
class TinyCorpus:
    train: list
    valid: list
    vocabulary: object = DEFAULT_VOCABULARY
    hash: str = "tiny"


def _tunes(count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    tunes = []
    for _ in range(count):
        notes = rng.integers(2, 38, size=rng.integers(5, 25))
        tune = np.repeat(notes, 2)
        tune[1::2] = NO_EVENT
        tunes.append(tune.astype(np.int8))
    return tunes


CORPUS = TinyCorpus(_tunes(30, 0), _tunes(6, 1))
SMALL = dict(batch_size=4, window=16, steps_per_epoch=3, epochs=3, checkpoint_seconds=0.0)


def _train(out, model=None, resume=False, corpus=CORPUS, **options):
    return train_note_rnn(
        corpus,
        out,
        model_config=model or NoteRNNConfig(hidden_size=8),
        config=None if resume else TrainingConfig(**dict(SMALL, **options)),
        resume=resume,
        overrides=options if resume else None,
        progress=False,
        tensorboard=False,
        log=None,
    )


def _weights(model) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_window_sampler_draws_windows_inside_one_tune():
    tunes = [np.arange(2, 30) % 38, np.array([5, 1, 1, 0])]
    sampler = WindowSampler(tunes, window=6)
    inputs, targets = sampler.sample(np.random.default_rng(0), 200)
    assert inputs.shape == targets.shape == (200, 6)
    for row_in, row_target in zip(inputs.numpy(), targets.numpy()):
        valid = row_target != IGNORE
        assert np.array_equal(row_in[1:][valid[:-1]], row_target[:-1][valid[:-1]])
        if valid.all():  # a window of the long tune: consecutive tokens
            assert np.all(np.diff(row_in) == 1)
        else:  # the short tune, padded: 3 targets, then padding
            assert list(row_in[:4]) == [5, 1, 1, 0] and valid.sum() == 3
            assert np.all(row_in[4:] == NO_EVENT)
    # Tunes are drawn in proportion to their targets (27 vs 3).
    short = (targets == IGNORE).any(1).float().mean().item()
    assert 0.02 < short < 0.25


class _FixedModel(torch.nn.Module):
    """Predicts NO_EVENT with probability 1/2, every other token uniformly."""

    def forward(self, tokens, state=None):
        logits = torch.full((*tokens.shape, 38), math.log(0.5 / 37))
        logits[..., NO_EVENT] = math.log(0.5)
        return logits, state


def test_evaluate_metrics_are_exact():
    tunes = [np.array([5, 1, 1, 7, 1]), np.array([9, 0, 1])]
    metrics = evaluate_note_rnn(_FixedModel(), tunes)
    # Targets: 1 1 7 1 | 0 1  -> 4 holds of 6.
    assert metrics["tokens"] == 6
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["nonhold_accuracy"] == 0.0
    expected = -(4 * math.log(0.5) + 2 * math.log(0.5 / 37)) / 6
    assert metrics["loss"] == pytest.approx(expected)
    assert metrics["perplexity"] == pytest.approx(math.exp(expected))


def test_training_learns_and_writes_a_loadable_checkpoint(tmp_path):
    result = _train(tmp_path / "run", epochs=4, learning_rate=0.03)
    assert result.stopped == "epochs" and len(result.history) == 4
    model, meta = load_note_rnn(result.checkpoint)
    assert meta["corpus_hash"] == "tiny"
    assert meta["metrics"]["accuracy"] == pytest.approx(
        min(result.history, key=lambda m: m["loss"])["accuracy"]
    )
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    # Untrained, the loss is about log(38) = 3.6; the hold-every-other-step pattern is learnable.
    assert result.history[-1]["loss"] < 3.3


def test_same_seed_gives_identical_weights(tmp_path):
    a = _weights(_train(tmp_path / "a").model)
    b = _weights(_train(tmp_path / "b").model)
    _assert_same(a, b)
    c = _weights(_train(tmp_path / "c", seed=1).model)
    assert not torch.equal(a["output.weight"], c["output.weight"])


@pytest.mark.parametrize(
    "model",
    [
        NoteRNNConfig(hidden_size=8),
        NoteRNNConfig(kind="rhn", hidden_size=8, depth=2, dropout=0.25),
        NoteRNNConfig(kind="dtrnn", hidden_size=8, depth=3, dropout=0.25),
    ],
    ids=["lstm", "rhn-dropout", "dtrnn-dropout"],
)
def test_resume_after_interruption_gives_identical_weights(tmp_path, model):
    straight = _train(tmp_path / "straight", model=model)
    first = _train(tmp_path / "split", model=model, max_steps=4)  # stops inside epoch 2
    assert first.stopped == "step limit"
    load_note_rnn(first.checkpoint)  # an interrupted run already has a usable checkpoint
    resumed = _train(tmp_path / "split", model=model, resume=True, max_steps=None)
    assert resumed.stopped == "epochs"
    _assert_same(_weights(straight.model), _weights(resumed.model))
    assert [m["loss"] for m in straight.history] == [m["loss"] for m in resumed.history]


def test_resume_state_is_safetensors_with_json(tmp_path):
    _train(tmp_path / "run", epochs=1)
    path = tmp_path / "run" / RESUME_FILE
    with safe_open(str(path), framework="pt") as handle:
        keys = set(handle.keys())
        state = json.loads(handle.metadata()["state"])
    assert {"optimizer.0.exp_avg", "optimizer.0.exp_avg_sq", "rng.torch"} <= keys
    assert any(k.startswith("model.") for k in keys)
    assert state["step"] == 3 and state["finished"] == "epochs"
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(3e-3)
    assert path.read_bytes()[:1] != b"\x80"  # not a pickle


def test_existing_run_is_not_overwritten(tmp_path):
    _train(tmp_path / "run", epochs=1)
    before = (tmp_path / "run" / RESUME_FILE).read_bytes()
    with pytest.raises(SequenceTutorError, match="already holds a training run; pass --resume"):
        _train(tmp_path / "run", epochs=1)
    assert (tmp_path / "run" / RESUME_FILE).read_bytes() == before


def test_resume_rejects_missing_or_incompatible_state(tmp_path):
    with pytest.raises(
        SequenceTutorError, match=r"resume\.safetensors: no training state to resume"
    ):
        _train(tmp_path / "none", resume=True)
    _train(tmp_path / "run", epochs=1)
    with pytest.raises(SequenceTutorError, match="holds a LSTM 1x8 run, not the requested RHN"):
        _train(tmp_path / "run", model=NoteRNNConfig(kind="rhn", hidden_size=8), resume=True)
    other = TinyCorpus(CORPUS.train, CORPUS.valid, hash="other")
    with pytest.raises(SequenceTutorError, match="was trained on corpus tiny, not on this one"):
        _train(tmp_path / "run", corpus=other, resume=True)
    resplit = TinyCorpus(CORPUS.train[:-1], CORPUS.valid + CORPUS.train[-1:])
    with pytest.raises(SequenceTutorError, match="another train/validation split"):
        _train(tmp_path / "run", corpus=resplit, resume=True)
    with pytest.raises(SequenceTutorError, match="keeps its training options"):
        _train(tmp_path / "run", resume=True, window=32)
    (tmp_path / "run" / RESUME_FILE).write_bytes(b"garbage")
    with pytest.raises(SequenceTutorError, match="unreadable training state"):
        _train(tmp_path / "run", resume=True)


def test_out_must_be_a_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SequenceTutorError, match="not a folder"):
        _train(tmp_path / "file")


def test_resume_can_set_the_learning_rate(tmp_path):
    _train(tmp_path / "run", epochs=1)
    _train(tmp_path / "run", resume=True, epochs=2, learning_rate=1e-4)
    with safe_open(str(tmp_path / "run" / RESUME_FILE), framework="pt") as handle:
        state = json.loads(handle.metadata()["state"])
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1e-4)
    assert state["training_config"]["learning_rate"] == pytest.approx(1e-4)
    assert state["step"] == 6
