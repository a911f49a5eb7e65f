"""``sequence-tutor pretrain``: train a Note RNN (LSTM, RHN or DT-RNN) on a melody corpus.

Writes into ``--out`` (default ``runs/pretrain-<model>``): the best model as
``note_rnn_<model>.safetensors`` + ``.json`` (kind, sizes, vocabulary, corpus hash, validation
metrics), the resume state ``resume.safetensors`` and TensorBoard logs in ``tensorboard/``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from pretrain.errors import SequenceTutorError
from pretrain.sizing import (
    LSTM_REFERENCE_HIDDEN,
    MIN_HIDDEN,
    hidden_for_parameters,
    lstm_parameters,
)

HELP = "pretrain a Note RNN (LSTM, RHN or DT-RNN) on melodies"
DESCRIPTION = (
    "Pretrain a Note RNN by maximum likelihood on a melody corpus: music21's bundled folk tunes "
    "by default, or a folder of MIDI / MusicXML / ABC files (--data). Shows a progress bar, logs "
    "to TensorBoard (OUT/tensorboard), validates every epoch, stops early, and writes the best "
    "model as OUT/note_rnn_<model>.safetensors + .json. Ctrl-C stops at the next step and saves "
    "a state that --resume continues exactly."
)

# Options whose default is None say their default in the text; "%(default).0s" prints nothing and
# stops ArgumentDefaultsHelpFormatter from appending "(default: None)".
_DEFAULT_IN_TEXT = "%(default).0s"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model",
        choices=("lstm", "rhn", "dtrnn"),
        default=None,
        help="Note RNN kind: lstm (default), rhn (Recurrent Highway Network) or dtrnn (the "
        "RHN's deep transition without highway gates)" + _DEFAULT_IN_TEXT,
    )
    model.add_argument(
        "--hidden",
        type=int,
        default=None,
        help="recurrent units (default: 100 for the LSTM; for the RHN and the DT-RNN, the "
        "largest size within --parameters at this depth)" + _DEFAULT_IN_TEXT,
    )
    model.add_argument(
        "--parameters",
        type=int,
        default=None,
        help="parameter budget that sizes the RHN or DT-RNN when --hidden is not given "
        "(default: the 1x100 LSTM's 59838)" + _DEFAULT_IN_TEXT,
    )
    model.add_argument(
        "--depth",
        type=int,
        default=None,
        help="RHN / DT-RNN micro-layers per step (default 3)" + _DEFAULT_IN_TEXT,
    )
    model.add_argument(
        "--layers",
        type=int,
        default=None,
        help="stacked LSTM layers (default 1)" + _DEFAULT_IN_TEXT,
    )
    model.add_argument(
        "--dropout",
        type=float,
        default=None,
        help="variational dropout (RHN, DT-RNN; default 0)" + _DEFAULT_IN_TEXT,
    )
    model.add_argument(
        "--transform-bias",
        type=float,
        default=None,
        help="initial RHN transform-gate bias (default -2)" + _DEFAULT_IN_TEXT,
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder of melody files (default: music21's folk tunes)" + _DEFAULT_IN_TEXT,
    )
    data.add_argument(
        "--cache-dir", type=Path, default=None, help="corpus cache folder" + _DEFAULT_IN_TEXT
    )
    data.add_argument(
        "--valid-fraction", type=float, default=0.1, help="tunes held out for validation"
    )
    data.add_argument(
        "--off-grid",
        default="round",
        metavar="{round,skip}",
        help="tunes with notes between sixteenth-grid steps (triplets, 32nds): round their "
        "notes onto the grid (default) or skip them",
    )
    data.add_argument(
        "--workers",
        type=int,
        default=None,
        help="corpus parsing processes (default: all cores)" + _DEFAULT_IN_TEXT,
    )
    train = parser.add_argument_group("training")
    train.add_argument(
        "--epochs", type=int, default=None, help="maximum epochs (default 20)" + _DEFAULT_IN_TEXT
    )
    train.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="windows per step (default 64)" + _DEFAULT_IN_TEXT,
    )
    train.add_argument(
        "--window",
        type=int,
        default=None,
        help="tokens per training window (default 128)" + _DEFAULT_IN_TEXT,
    )
    train.add_argument(
        "--lr",
        type=float,
        default=None,
        help="Adam learning rate (default 3e-3; with --resume: set the current one)"
        + _DEFAULT_IN_TEXT,
    )
    train.add_argument(
        "--clip",
        type=float,
        default=None,
        help="gradient-norm clipping (default 5)" + _DEFAULT_IN_TEXT,
    )
    train.add_argument(
        "--patience",
        type=int,
        default=None,
        help="epochs without improvement before stopping (default 3)" + _DEFAULT_IN_TEXT,
    )
    train.add_argument(
        "--lr-decay",
        type=float,
        default=None,
        help="learning-rate factor after an epoch without improvement (default 0.5)"
        + _DEFAULT_IN_TEXT,
    )
    train.add_argument(
        "--steps-per-epoch",
        type=int,
        default=None,
        help="default: one pass over the tokens" + _DEFAULT_IN_TEXT,
    )
    train.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="stop (resumably) after this many minutes of training" + _DEFAULT_IN_TEXT,
    )
    train.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="stop (resumably) after this many steps" + _DEFAULT_IN_TEXT,
    )
    train.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of weights, batches and dropout (default 0)" + _DEFAULT_IN_TEXT,
    )
    run_group = parser.add_argument_group("output")
    run_group.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default runs/pretrain-<model>)" + _DEFAULT_IN_TEXT,
    )
    run_group.add_argument("--resume", action="store_true", help="continue the run stored in --out")
    run_group.add_argument(
        "--overwrite", action="store_true", help="start again even if --out holds a run"
    )
    run_group.add_argument("--no-progress", action="store_true", help="no progress bars")
    run_group.add_argument(
        "--no-tensorboard", action="store_true", help="do not write TensorBoard logs"
    )


def _check(condition: bool, option: str, value: object, expected: str) -> None:
    if not condition:
        raise SequenceTutorError(f"{option} {value}: expected {expected}")


def _validate(args: argparse.Namespace) -> None:
    for option, value in (
        ("--hidden", args.hidden),
        ("--depth", args.depth),
        ("--layers", args.layers),
        ("--steps-per-epoch", args.steps_per_epoch),
        ("--max-steps", args.max_steps),
        ("--workers", args.workers),
        ("--parameters", args.parameters),
    ):
        if value is not None:
            _check(value >= 1, option, value, "an integer >= 1")
    for option, value in (
        ("--epochs", args.epochs),
        ("--batch-size", args.batch_size),
        ("--window", args.window),
        ("--patience", args.patience),
    ):
        if value is not None:
            _check(value >= 1, option, value, "an integer >= 1")
    _validate_numbers(args)
    _validate_limits_and_paths(args)


def _validate_numbers(args: argparse.Namespace) -> None:
    if args.dropout is not None:
        _check(0 <= args.dropout < 1, "--dropout", args.dropout, "a number in [0, 1)")
    if args.transform_bias is not None:
        _check(
            math.isfinite(args.transform_bias),
            "--transform-bias",
            args.transform_bias,
            "a finite number",
        )
    if args.lr is not None:
        _check(math.isfinite(args.lr) and args.lr > 0, "--lr", args.lr, "a number > 0")
    if args.clip is not None:
        _check(math.isfinite(args.clip) and args.clip > 0, "--clip", args.clip, "a number > 0")
    if args.lr_decay is not None:
        _check(0 < args.lr_decay <= 1, "--lr-decay", args.lr_decay, "a number in (0, 1]")
    _check(
        0 < args.valid_fraction < 1, "--valid-fraction", args.valid_fraction, "a number in (0, 1)"
    )
    if args.max_minutes is not None:
        _check(
            math.isfinite(args.max_minutes) and args.max_minutes > 0,
            "--max-minutes",
            args.max_minutes,
            "a number > 0",
        )


def _validate_limits_and_paths(args: argparse.Namespace) -> None:
    if args.hidden is not None:
        _check(args.hidden <= 4096, "--hidden", args.hidden, "at most 4096")
    if args.depth is not None:
        _check(args.depth <= 64, "--depth", args.depth, "at most 64")
    if args.layers is not None:
        _check(args.layers <= 16, "--layers", args.layers, "at most 16")
    if args.resume and args.overwrite:
        raise SequenceTutorError("--resume and --overwrite: choose one")
    if args.off_grid not in ("round", "skip"):
        raise SequenceTutorError(
            f"--off-grid {args.off_grid}: expected round (round such notes onto the sixteenth "
            "grid) or skip (leave such tunes out)"
        )
    if args.data is not None and args.data.exists() and not args.data.is_dir():
        raise SequenceTutorError(f"--data {args.data}: not a folder")
    if args.data is not None and not args.data.exists():
        raise SequenceTutorError(f"--data {args.data}: folder not found")


def _model_config(args: argparse.Namespace, vocab_size: int):
    from pretrain.models import NoteRNNConfig  # noqa: PLC0415

    kind = args.model or "lstm"
    if kind == "lstm":
        for option, value in (
            ("--depth", args.depth),
            ("--transform-bias", args.transform_bias),
            ("--parameters", args.parameters),
        ):
            if value is not None:
                raise SequenceTutorError(f"{option} applies to --model rhn or dtrnn only")
        return NoteRNNConfig(
            kind="lstm",
            vocab_size=vocab_size,
            hidden_size=args.hidden or LSTM_REFERENCE_HIDDEN,
            num_layers=args.layers or 1,
            dropout=args.dropout or 0.0,
        )
    if args.layers is not None:
        raise SequenceTutorError(f"--layers applies to --model lstm only (the {kind} has --depth)")
    if kind == "dtrnn" and args.transform_bias is not None:
        raise SequenceTutorError("--transform-bias applies to --model rhn only (no gates here)")
    if args.hidden is not None and args.parameters is not None:
        raise SequenceTutorError(
            "--hidden and --parameters: choose one (--parameters sizes --hidden)"
        )
    depth = args.depth or 3
    hidden = args.hidden
    if hidden is None:
        budget = args.parameters or lstm_parameters(LSTM_REFERENCE_HIDDEN, vocab_size)
        hidden = hidden_for_parameters(kind, budget, depth, vocab_size)
        if hidden < MIN_HIDDEN:
            raise SequenceTutorError(
                f"--depth {depth}: too deep for a budget of {budget} parameters (a {kind} of "
                f"this depth would have {hidden} units, fewer than {MIN_HIDDEN}); lower --depth "
                "or raise --parameters"
            )
    return NoteRNNConfig(
        kind=kind,
        vocab_size=vocab_size,
        hidden_size=hidden,
        depth=depth,
        dropout=args.dropout or 0.0,
        transform_bias=-2.0 if args.transform_bias is None else args.transform_bias,
    )


def _model_options_given(args: argparse.Namespace) -> bool:
    return any(
        getattr(args, name) is not None
        for name in (
            "model",
            "hidden",
            "parameters",
            "depth",
            "layers",
            "dropout",
            "transform_bias",
        )
    )


def run(args: argparse.Namespace) -> int:
    _validate(args)
    kind = args.model or "lstm"
    out = args.out if args.out is not None else Path("runs") / f"pretrain-{kind}"
    if out.exists() and not out.is_dir():
        raise SequenceTutorError(f"--out {out}: exists and is not a folder")
    from pretrain.vocabulary import DEFAULT_VOCABULARY  # noqa: PLC0415

    model_config = None
    if not args.resume or _model_options_given(args):
        model_config = _model_config(args, DEFAULT_VOCABULARY.size)
    if args.resume:
        # Fail before the (possibly slow) corpus build when there is nothing to resume.
        from pretrain.training import RESUME_FILE, read_training_state  # noqa: PLC0415

        read_training_state(out / RESUME_FILE)
    from pretrain.atomic_write import ensure_writable_dir, remove_stale_temporaries  # noqa: PLC0415

    ensure_writable_dir(out)  # a read-only or full disk fails now, not at the first checkpoint
    if args.resume:  # half-written files of a killed run; the checkpoints themselves are whole
        remove_stale_temporaries(out)

    import torch  # noqa: PLC0415

    from pretrain.corpus import load_corpus  # noqa: PLC0415
    from pretrain.training import TrainingConfig, train_note_rnn  # noqa: PLC0415

    torch.set_num_threads(1)
    corpus = load_corpus(
        args.data,
        cache_dir=args.cache_dir,
        valid_fraction=args.valid_fraction,
        workers=args.workers,
        progress=not args.no_progress,
        off_grid=args.off_grid,
    )
    print(corpus.summary())
    if not corpus.train or not corpus.valid:  # name the input, not just "no validation tunes"
        source = f"--data {args.data}" if args.data is not None else "the default corpus"
        raise SequenceTutorError(
            f"{source}: {corpus.report.kept} usable tune(s) give {len(corpus.train)} training and "
            f"{len(corpus.valid)} validation tunes; both must be non-empty (add tunes or change "
            "--valid-fraction)"
        )
    # Only options given on the command line count: a resumed run keeps its stored ones.
    options = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "window": args.window,
        "learning_rate": args.lr,
        "clip": args.clip,
        "seed": args.seed,
        "patience": args.patience,
        "lr_decay": args.lr_decay,
        "steps_per_epoch": args.steps_per_epoch,
        "max_minutes": args.max_minutes,
        "max_steps": args.max_steps,
    }
    given = {k: v for k, v in options.items() if v is not None}
    try:
        config = TrainingConfig(**given)
    except ValueError as exc:
        raise SequenceTutorError(str(exc)) from None
    result = train_note_rnn(
        corpus,
        out,
        model_config=model_config,
        config=config,
        resume=args.resume,
        overrides=given,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        tensorboard=not args.no_tensorboard,
    )
    metrics = result.metrics
    print(
        f"wrote {result.checkpoint} (+ {result.checkpoint.with_suffix('.json').name}): "
        f"validation accuracy {metrics['accuracy']:.4f}, non-hold accuracy "
        f"{metrics['nonhold_accuracy']:.4f}, perplexity {metrics['perplexity']:.3f}, "
        f"{metrics['parameters']} parameters; stopped: {result.stopped}"
    )
    if not args.no_tensorboard:
        print(f"TensorBoard logs: tensorboard --logdir {out / 'tensorboard'}")
    if result.stopped in ("time limit", "step limit", "interrupted"):
        print(f"continue with: sequence-tutor pretrain --resume --out {out}")
    return 0
