"""``sequence-tutor pretrain``: train a Note RNN (LSTM, RHN or DT-RNN) on a melody corpus.

Writes into ``--out`` (default ``runs/pretrain-<model>``): the best model as
``note_rnn_<model>.safetensors`` + ``.json`` (kind, sizes, vocabulary, corpus hash, validation
metrics), the resume state ``resume.safetensors`` and TensorBoard logs in ``tensorboard/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import math
from pathlib import Path
from typing import Any

from pretrain.config import allowed_text, check_value, flag_of
from pretrain.corpus import OFF_GRID_CHOICES, load_corpus
from pretrain.errors import SequenceTutorError
from pretrain.sizing import (
    LSTM_REFERENCE_HIDDEN,
    MIN_HIDDEN,
    hidden_for_parameters,
    lstm_parameters,
)
from sequence_tutor.cli.options import DEFAULT_IN_TEXT, add_settings_arguments

HELP = "pretrain a Note RNN (LSTM, RHN or DT-RNN) on melodies"
DESCRIPTION = (
    "Pretrain a Note RNN by maximum likelihood on a melody corpus: music21's bundled folk tunes "
    "by default, or a folder of MIDI / MusicXML / ABC files (--data). Shows a progress bar, logs "
    "to TensorBoard (OUT/tensorboard), validates every epoch, stops early, and writes the best "
    "model as OUT/note_rnn_<model>.safetensors + .json. Ctrl-C stops at the next step and saves "
    "a state that --resume continues exactly."
)

# TrainingConfig fields that are no flags: how often the run saves and logs.
TRAINING_SKIPPED = ("checkpoint_seconds", "log_every")


def _corpus_defaults() -> dict[str, Any]:
    """``load_corpus``'s keyword defaults: the flags' defaults, written once."""
    return {
        name: parameter.default
        for name, parameter in inspect.signature(load_corpus).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from pretrain.models import NoteRNNConfig  # noqa: PLC0415
    from pretrain.training import TrainingConfig  # noqa: PLC0415
    from pretrain.vocabulary import DEFAULT_VOCABULARY  # noqa: PLC0415

    model = parser.add_argument_group("model")
    model.add_argument(
        "--model",
        choices=("lstm", "rhn", "dtrnn"),
        default=None,
        help="Note RNN kind: lstm (default), rhn (Recurrent Highway Network) or dtrnn (the "
        "RHN's deep transition without highway gates)" + DEFAULT_IN_TEXT,
    )
    model.add_argument(
        "--hidden",
        type=int,
        default=None,
        help=f"recurrent units (default: {LSTM_REFERENCE_HIDDEN} for the LSTM; for the RHN and "
        "the DT-RNN, the largest size within --parameters at this depth)" + DEFAULT_IN_TEXT,
    )
    model.add_argument(
        "--parameters",
        type=int,
        default=None,
        help="parameter budget that sizes the RHN or DT-RNN when --hidden is not given "
        f"(default: the 1x{LSTM_REFERENCE_HIDDEN} LSTM's "
        f"{lstm_parameters(LSTM_REFERENCE_HIDDEN, DEFAULT_VOCABULARY.size)})" + DEFAULT_IN_TEXT,
    )
    model.add_argument(
        "--depth",
        type=int,
        default=None,
        help=f"RHN / DT-RNN micro-layers per step (default {NoteRNNConfig.depth})"
        + DEFAULT_IN_TEXT,
    )
    model.add_argument(
        "--layers",
        type=int,
        default=None,
        help=f"stacked LSTM layers (default {NoteRNNConfig.num_layers})" + DEFAULT_IN_TEXT,
    )
    model.add_argument(
        "--dropout",
        type=float,
        default=None,
        help=f"variational dropout (RHN, DT-RNN; default {NoteRNNConfig.dropout:g})"
        + DEFAULT_IN_TEXT,
    )
    model.add_argument(
        "--transform-bias",
        type=float,
        default=None,
        help=f"initial RHN transform-gate bias (default {NoteRNNConfig.transform_bias:g})"
        + DEFAULT_IN_TEXT,
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder of melody files (default: music21's folk tunes)" + DEFAULT_IN_TEXT,
    )
    data.add_argument(
        "--cache-dir", type=Path, default=None, help="corpus cache folder" + DEFAULT_IN_TEXT
    )
    corpus_defaults = _corpus_defaults()
    data.add_argument(
        "--valid-fraction",
        type=float,
        default=corpus_defaults["valid_fraction"],
        help="fraction of the tunes held out for validation (default: %(default)s)",
    )
    data.add_argument(
        "--off-grid",
        default=corpus_defaults["off_grid"],
        metavar="{" + ",".join(OFF_GRID_CHOICES) + "}",
        help="tunes with notes between sixteenth-grid steps (triplets, 32nds): round their "
        "notes onto the grid or skip them (default: %(default)s)",
    )
    data.add_argument(
        "--workers",
        type=int,
        default=None,
        help="corpus parsing processes (default: all cores)" + DEFAULT_IN_TEXT,
    )
    add_settings_arguments(
        parser.add_argument_group("training"), TrainingConfig, skip=TRAINING_SKIPPED
    )
    run_group = parser.add_argument_group("output")
    run_group.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default runs/pretrain-<model>)" + DEFAULT_IN_TEXT,
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


# Model and data flags that are no settings field: integers >= 1, some with an upper limit.
_POSITIVE_INTEGERS = ("hidden", "depth", "layers", "workers", "parameters")
_AT_MOST = {"hidden": 4096, "depth": 64, "layers": 16}


def _validate(args: argparse.Namespace) -> dict[str, Any]:
    """Check every flag before anything is read or written; returns the given
    :class:`~pretrain.training.TrainingConfig` fields (``{field: value}``)."""
    for name in _POSITIVE_INTEGERS:
        value = getattr(args, name)
        if value is not None:
            _check(value >= 1, "--" + name, value, "an integer >= 1")
    given = _given_training(args)
    _validate_numbers(args)
    _validate_limits_and_paths(args)
    return given


def _given_training(args: argparse.Namespace) -> dict[str, Any]:
    """The training flags given, each checked against its TrainingConfig field (only options
    given on the command line count: a resumed run keeps its stored ones)."""
    from pretrain.training import TrainingConfig  # noqa: PLC0415

    given = {}
    for field in dataclasses.fields(TrainingConfig):
        value = getattr(args, field.name, None)
        if value is None:
            continue
        try:
            check_value(field, value, flag_of(field))
        except SequenceTutorError:
            raise SequenceTutorError(
                f"{flag_of(field)} {value}: expected {allowed_text(field)}"
            ) from None
        given[field.name] = value
    return given


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
    _check(
        0 < args.valid_fraction < 1, "--valid-fraction", args.valid_fraction, "a number in (0, 1)"
    )


def _validate_limits_and_paths(args: argparse.Namespace) -> None:
    for name, limit in _AT_MOST.items():
        value = getattr(args, name)
        if value is not None:
            _check(value <= limit, "--" + name, value, f"at most {limit}")
    if args.resume and args.overwrite:
        raise SequenceTutorError("--resume and --overwrite: choose one")
    if args.off_grid not in OFF_GRID_CHOICES:
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
            **_given(num_layers=args.layers, dropout=args.dropout),
        )
    if args.layers is not None:
        raise SequenceTutorError(f"--layers applies to --model lstm only (the {kind} has --depth)")
    if kind == "dtrnn" and args.transform_bias is not None:
        raise SequenceTutorError("--transform-bias applies to --model rhn only (no gates here)")
    if args.hidden is not None and args.parameters is not None:
        raise SequenceTutorError(
            "--hidden and --parameters: choose one (--parameters sizes --hidden)"
        )
    depth = args.depth or NoteRNNConfig.depth
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
        **_given(dropout=args.dropout, transform_bias=args.transform_bias),
    )


def _given(**values: Any) -> dict[str, Any]:
    """The values that are not None (a flag not given keeps the NoteRNNConfig default)."""
    return {name: value for name, value in values.items() if value is not None}


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
    given = _validate(args)
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
    config = TrainingConfig(**given)  # checked by _validate
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
