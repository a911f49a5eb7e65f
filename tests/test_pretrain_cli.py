"""``sequence-tutor pretrain``: a small end-to-end run, and every bad input as one line, exit 2."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from pretrain.checkpoint import load_note_rnn
from pretrain.dtrnn import DTRNNNoteRNN
from pretrain.models import NoteRNNConfig, build_note_rnn
from sequence_tutor.cli import main

PHRASES = ["GABc d2B2|c2A2 B2G2", "ABcd e2d2|B2A2 G4", "c2e2 g2e2|f2d2 c4", "E2G2 A2G2|E2D2 C4"]


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("melodies")
    tunes = []
    for i in range(12):
        body = "|".join(PHRASES[(i + j) % 4] for j in range(3))
        tunes.append(f"X:{i + 1}\nT:Tune {i}\nM:4/4\nL:1/8\nK:C\n{body}|]\n")
    (folder / "tunes.abc").write_text("\n".join(tunes), encoding="utf-8")
    return folder


def _run(capsys, *argv):
    code = main(["pretrain", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _fingerprint(folder) -> dict:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def _small(data_folder, tmp_path):
    return [
        "--data", data_folder, "--cache-dir", tmp_path / "cache", "--workers", 1,
        "--hidden", 8, "--batch-size", 4, "--window", 16, "--steps-per-epoch", 2,
        "--no-progress", "--no-tensorboard",
    ]  # fmt: skip


def test_small_run_writes_checkpoint_and_protects_it(data_folder, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, *_small(data_folder, tmp_path), "--epochs", 2, "--out", out)
    assert code == 0, err
    assert f"wrote {out / 'note_rnn_lstm.safetensors'}" in stdout
    model, meta = load_note_rnn(out / "note_rnn_lstm")
    assert meta["config"].hidden_size == 8 and set(meta["metrics"]) >= {
        "accuracy", "nonhold_accuracy", "perplexity", "parameters", "train_tokens_per_second"
    }  # fmt: skip
    before = _fingerprint(out)
    # Run again without --resume: refused, nothing touched.
    code, _, err = _run(capsys, *_small(data_folder, tmp_path), "--out", out)
    assert (
        code == 2 and "already holds a training run" in err and len(err.strip().splitlines()) == 1
    )
    # Resume as another model: refused, nothing touched.
    code, _, err = _run(
        capsys, *_small(data_folder, tmp_path), "--out", out, "--resume", "--model", "rhn"
    )
    assert code == 2 and "not the requested RHN" in err and "Traceback" not in err
    assert _fingerprint(out) == before
    # Resume with more epochs continues.
    code, stdout, err = _run(
        capsys, "--data", data_folder, "--cache-dir", tmp_path / "cache", "--out", out,
        "--resume", "--epochs", 3, "--no-progress", "--no-tensorboard",
    )  # fmt: skip
    assert code == 0, err
    assert "resuming at step 4" in stdout and "stopped: epochs" in stdout


def test_pretrain_dtrnn_writes_a_checkpoint_and_micro_layer_logs(data_folder, tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "out"
    code = main(
        [
            "pretrain", "--model", "dtrnn", "--depth", "3", "--parameters", "5000",
            "--data", str(data_folder), "--cache-dir", str(tmp_path / "cache"), "--workers", "1",
            "--batch-size", "4", "--window", "16", "--steps-per-epoch", "4", "--epochs", "2",
            "--no-progress", "--out", str(out),
        ]
    )  # fmt: skip
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert f"wrote {out / 'note_rnn_dtrnn.safetensors'}" in printed.out
    assert "training DT-RNN depth 3 x 29 (4852 parameters)" in printed.out
    model, meta = load_note_rnn(out / "note_rnn_dtrnn")
    # 3 * 29^2 + (38 + 3 + 38) * 29 + 38 = 4852 <= 5000 < 5108 at 30 units
    assert isinstance(model, DTRNNNoteRNN) and meta["config"].hidden_size == 29
    wider = build_note_rnn(NoteRNNConfig(kind="dtrnn", hidden_size=30, depth=3))
    assert model.num_parameters() == 4852 and wider.num_parameters() == 5108
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {f"dtrnn/state_change_layer_{layer}" for layer in (1, 2, 3)} <= tags
    assert not any("transform_gate" in tag for tag in tags)
    values = [e.value for e in events.Scalars("dtrnn/state_change_layer_1")]
    assert values and all(np.isfinite(v) and v > 0 for v in values)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--hidden", "0"], "--hidden 0: expected an integer >= 1"),
        (["--epochs", "-1"], "--epochs -1: expected an integer >= 1"),
        (["--depth", "0", "--model", "rhn"], "--depth 0: expected an integer >= 1"),
        (["--dropout", "1.5"], "--dropout 1.5: expected a number in [0, 1)"),
        (["--lr", "0"], "--lr 0.0: expected a number > 0"),
        (["--max-minutes", "-2"], "--max-minutes -2.0: expected a number > 0"),
        (["--depth", "0", "--model", "dtrnn"], "--depth 0: expected an integer >= 1"),
        (["--depth", "2"], "--depth applies to --model rhn or dtrnn only"),
        (["--parameters", "5000"], "--parameters applies to --model rhn or dtrnn only"),
        (["--parameters", "0", "--model", "dtrnn"], "--parameters 0: expected an integer >= 1"),
        (
            ["--model", "rhn", "--depth", "10", "--parameters", "2000"],
            "--depth 10: too deep for a budget of 2000 parameters (a rhn of this depth would "
            "have 7 units, fewer than 8); lower --depth or raise --parameters",
        ),
        (
            ["--model", "dtrnn", "--depth", "64", "--parameters", "5000"],
            "--depth 64: too deep for a budget of 5000 parameters (a dtrnn of this depth would "
            "have 7 units, fewer than 8); lower --depth or raise --parameters",
        ),
        (
            ["--model", "dtrnn", "--hidden", "8", "--parameters", "5000"],
            "--hidden and --parameters: choose one (--parameters sizes --hidden)",
        ),
        (
            ["--model", "dtrnn", "--transform-bias", "-1"],
            "--transform-bias applies to --model rhn only (no gates here)",
        ),
        (
            ["--model", "dtrnn", "--layers", "2"],
            "--layers applies to --model lstm only (the dtrnn has --depth)",
        ),
        (["--model", "dtrnn", "--depth", "65"], "--depth 65: expected at most 64"),
        (["--model", "rhn", "--depth", "65"], "--depth 65: expected at most 64"),
        (["--resume", "--overwrite"], "--resume and --overwrite: choose one"),
    ],
)
def test_bad_option_values(argv, message, tmp_path, capsys):
    code, _, err = _run(capsys, *argv, "--out", tmp_path / "out")
    assert code == 2
    assert err.strip() == f"sequence-tutor pretrain: error: {message}"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lr-decay", "1.5"], "--lr-decay 1.5: expected a number in (0, 1]"),
        (["--clip", "inf"], "--clip inf: expected a number > 0"),
        (["--steps-per-epoch", "0"], "--steps-per-epoch 0: expected an integer >= 1"),
        (["--max-steps", "0"], "--max-steps 0: expected an integer >= 1"),
        (["--hidden", "5000"], "--hidden 5000: expected at most 4096"),
    ],
)
def test_more_bad_option_values(argv, message, tmp_path, capsys):
    code, _, err = _run(capsys, *argv, "--out", tmp_path / "out")
    assert code == 2 and err.strip() == f"sequence-tutor pretrain: error: {message}"
    assert not (tmp_path / "out").exists()


def test_training_flags_help_and_checks_come_from_training_config(capsys):
    import dataclasses

    from pretrain.config import flag_of
    from pretrain.errors import SequenceTutorError
    from pretrain.training import TrainingConfig
    from sequence_tutor.cli import build_parser
    from sequence_tutor.cli.pretrain import TRAINING_SKIPPED

    with pytest.raises(SystemExit):
        build_parser().parse_args(["pretrain", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for field in dataclasses.fields(TrainingConfig):
        if field.name in TRAINING_SKIPPED:
            assert flag_of(field) not in text
            continue
        default = "" if field.default is None else f" (default: {field.default})"
        assert f"{flag_of(field)} " in text and field.metadata["help"] + default in text
    with pytest.raises(SequenceTutorError, match="epochs must be >= 1, got 0"):
        TrainingConfig(epochs=0)
    with pytest.raises(SequenceTutorError, match="learning_rate must be finite"):
        TrainingConfig(learning_rate=float("nan"))


def test_out_is_a_file(tmp_path, capsys):
    (tmp_path / "file").write_text("keep me")
    code, _, err = _run(capsys, "--out", tmp_path / "file")
    assert code == 2 and f"--out {tmp_path / 'file'}: exists and is not a folder" in err
    assert (tmp_path / "file").read_text() == "keep me"


def test_missing_and_empty_data(tmp_path, capsys):
    code, _, err = _run(capsys, "--data", tmp_path / "nowhere", "--out", tmp_path / "out")
    assert code == 2 and f"--data {tmp_path / 'nowhere'}: folder not found" in err
    (tmp_path / "empty").mkdir()
    code, _, err = _run(
        capsys,
        "--data",
        tmp_path / "empty",
        "--cache-dir",
        tmp_path / "c",
        "--out",
        tmp_path / "out",
    )
    assert code == 2 and str(tmp_path / "empty") in err and len(err.strip().splitlines()) == 1


def test_resume_without_a_run(tmp_path, capsys):
    code, _, err = _run(capsys, "--resume", "--out", tmp_path / "out")
    assert code == 2
    assert f"{tmp_path / 'out' / 'resume.safetensors'}: no training state to resume" in err


def test_off_grid_option(tmp_path, capsys):
    folder = tmp_path / "triplets"
    folder.mkdir()
    tunes = [
        f"X:{i + 1}\nT:Triplets {i}\nM:4/4\nL:1/8\nK:C\n(3CDE F2 (3GAB c2|(3cBA G2 (3FED C2|]\n"
        for i in range(12)
    ]
    (folder / "t.abc").write_text("\n".join(tunes), encoding="utf-8")
    common = ["--data", folder, "--cache-dir", tmp_path / "cache", "--workers", 1]
    code, _, err = _run(
        capsys, *common, "--off-grid", "skip", "--out", tmp_path / "strict", "--no-progress"
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"no usable melody in {folder}" in err and "off-grid 12" in err
    assert "--off-grid round" in err
    code, _, err = _run(capsys, *common, "--off-grid", "nearest", "--out", tmp_path / "bad")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--off-grid nearest: expected round" in err and not (tmp_path / "bad").exists()
    small = ["--hidden", 8, "--batch-size", 4, "--window", 16, "--steps-per-epoch", 2]
    code, stdout, err = _run(
        capsys, *common, *small, "--epochs", 1, "--out", tmp_path / "ok",
        "--no-progress", "--no-tensorboard",
    )  # fmt: skip
    assert code == 0, err
    assert "12 of 12 tunes kept" in stdout and "12 kept tunes had notes rounded" in stdout


def test_corpus_flag_defaults_are_load_corpus_defaults(monkeypatch):
    import argparse
    import inspect

    from pretrain.corpus import load_corpus
    from sequence_tutor.cli import pretrain as pretrain_cli

    parser = argparse.ArgumentParser()
    pretrain_cli.add_arguments(parser)
    args = parser.parse_args([])
    signature = inspect.signature(load_corpus).parameters
    assert args.valid_fraction == signature["valid_fraction"].default == 0.1
    assert args.off_grid == signature["off_grid"].default == "round"
    # one source: a changed default in load_corpus moves the flag's default and its help
    monkeypatch.setattr(
        pretrain_cli, "_corpus_defaults", lambda: {"valid_fraction": 0.2, "off_grid": "skip"}
    )
    parser = argparse.ArgumentParser()
    pretrain_cli.add_arguments(parser)
    assert vars(parser.parse_args([]))["valid_fraction"] == 0.2
    assert "(default: skip)" in " ".join(parser.format_help().split())
