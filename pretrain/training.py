"""Maximum-likelihood pretraining of a Note RNN on a tokenised melody corpus.

One readable loop (:func:`train_note_rnn`): random windows of ``window + 1`` tokens from the
training tunes (shorter tunes padded, padding ignored by the loss), Adam, gradient-norm clipping,
validation on whole validation tunes after every epoch, learning-rate halving on a plateau and
early stopping, TensorBoard logs (including, per micro-layer of the RHN and the DT-RNN, the
mean transform gate and the relative state change on the training batch).

Everything a run needs to continue is in one file, ``OUT/resume.safetensors``, written atomically:
the model weights, the Adam moments (flattened to named tensors), the torch RNG state, and a
JSON document in the safetensors metadata with the step, epoch, best validation loss, learning
rate and history. No pickle anywhere. The batch sampler and the dropout masks of step ``k`` are
drawn from generators seeded with ``(seed, k)``, so an interrupted run that is resumed gives
the same weights, bit for bit on CPU, as one that was never interrupted.

The best model (lowest validation loss) is written as a Note RNN checkpoint,
``OUT/note_rnn_<kind>.safetensors`` + ``.json`` (see :mod:`pretrain.checkpoint`).
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from pretrain.atomic_write import atomic_path
from pretrain.checkpoint import save_note_rnn
from pretrain.config import check_settings, setting
from pretrain.errors import SequenceTutorError
from pretrain.models import NoteRNN, NoteRNNConfig, build_note_rnn
from pretrain.vocabulary import NO_EVENT, Vocabulary

RESUME_FILE = "resume.safetensors"
RESUME_FORMAT = "sequence-tutor-pretrain-state"
RESUME_VERSION = 1
IGNORE = -100  # target value of padding, skipped by the loss and the metrics

# Training options that may change when a run is resumed (they do not change what one step does).
# ``learning_rate`` on resume sets the current learning rate (e.g. to anneal a long run by hand).
RESUMABLE_OVERRIDES = (
    "epochs",
    "max_minutes",
    "max_steps",
    "patience",
    "checkpoint_seconds",
    "learning_rate",
)


class CorpusLike(Protocol):
    """What training needs from :class:`pretrain.corpus.Corpus`."""

    train: Sequence[np.ndarray]
    valid: Sequence[np.ndarray]
    vocabulary: Vocabulary
    hash: str


@dataclass
class TrainingConfig:
    """Hyper-parameters of one pretraining run (stored in the resume state).

    Each field is a :func:`~pretrain.config.setting` with its default, help and bounds:
    ``sequence-tutor pretrain`` derives its training flags, their help and their checks from
    them, and an invalid value raises :class:`SequenceTutorError` naming the field. One epoch is
    ``steps_per_epoch`` steps; ``window + 1`` tokens are drawn per window (inputs and targets);
    ``seed`` seeds the initial weights, the batch sampler and the dropout masks.
    """

    epochs: int = setting(20, "maximum epochs", minimum=1)
    batch_size: int = setting(64, "windows per step", minimum=1)
    window: int = setting(128, "tokens per training window", minimum=1)
    learning_rate: float = setting(
        3e-3,
        "Adam learning rate (with --resume: sets the current one)",
        flag="--lr",
        above=0,
    )
    clip: float = setting(5.0, "gradient-norm clipping", above=0)
    seed: int = setting(0, "seed of weights, batches and dropout")
    patience: int = setting(3, "epochs without improvement before stopping", minimum=1)
    lr_decay: float = setting(
        0.5, "learning-rate factor after an epoch without improvement", above=0, maximum=1
    )
    steps_per_epoch: int | None = setting(
        None, "steps per epoch (default: one pass over the training tokens)", minimum=1
    )
    max_minutes: float | None = setting(
        None, "stop (resumably) after this many minutes of training in this session", above=0
    )
    max_steps: int | None = setting(
        None, "stop (resumably) after this many optimizer steps in total", minimum=1
    )
    checkpoint_seconds: float = setting(
        60.0, "write the resume state at least this often", minimum=0
    )
    log_every: int = setting(20, "steps between TensorBoard training scalars", minimum=1)

    def __post_init__(self) -> None:
        check_settings(self)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainingConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class TrainingResult:
    """What :func:`train_note_rnn` returns."""

    model: NoteRNN  #: the model after the last step (not necessarily the best one)
    checkpoint: Path  #: the best model's checkpoint (``.safetensors``; ``.json`` beside it)
    metrics: dict  #: validation metrics of the best model and training statistics
    stopped: str  #: why training ended: "epochs", "early stopping", "time limit", "step limit", "interrupted"
    history: list = field(default_factory=list)  #: per-epoch validation metrics


class WindowSampler:
    """Random training windows of ``window + 1`` tokens from whole tunes.

    A tune is drawn with probability proportional to its number of targets, then a start
    uniformly among the windows that fit in it; tunes shorter than a window are taken whole
    and padded (inputs with NO_EVENT, targets with :data:`IGNORE`).
    """

    def __init__(self, tunes: Sequence[np.ndarray], window: int) -> None:
        tunes = [np.asarray(t) for t in tunes if len(t) >= 2]
        if not tunes:
            raise ValueError("no training tune has two or more tokens")
        self.window = window
        self.lengths = np.array([len(t) for t in tunes], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        self.flat = np.concatenate(tunes).astype(np.int64)
        weights = (self.lengths - 1).astype(np.float64)
        self.probabilities = weights / weights.sum()
        self.num_targets = int(weights.sum())

    def sample(
        self, rng: np.random.Generator, batch_size: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(inputs, targets)``, both ``LongTensor[batch_size, window]``."""
        span = self.window + 1
        tune = rng.choice(len(self.lengths), size=batch_size, p=self.probabilities)
        room = np.maximum(self.lengths[tune] - span, 0)
        start = self.offsets[tune] + (rng.random(batch_size) * (room + 1)).astype(np.int64)
        position = np.arange(span)
        inside = position[None, :] < self.lengths[tune][:, None]
        index = np.where(inside, start[:, None] + position[None, :], 0)
        tokens = np.where(inside, self.flat[index], NO_EVENT)
        targets = np.where(inside[:, 1:], tokens[:, 1:], IGNORE)
        return torch.from_numpy(tokens[:, :-1].copy()), torch.from_numpy(targets.copy())


def _step_seed(seed: int, step: int) -> int:
    return int(np.random.SeedSequence([seed, step]).generate_state(1, np.uint64)[0]) >> 1


def _tune_batches(
    tunes: Sequence[np.ndarray], max_batch_tokens: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Whole tunes (two or more tokens) in batches of similar length, padded with NO_EVENT:
    ``(tokens [B, L], lengths [B])`` with at most about ``max_batch_tokens`` tokens per batch."""
    order = sorted((np.asarray(t, dtype=np.int64) for t in tunes if len(t) >= 2), key=len)
    start = 0
    while start < len(order):
        stop = start + 1
        while stop < len(order) and len(order[stop]) * (stop - start + 1) <= max_batch_tokens:
            stop += 1
        batch = order[start:stop]
        lengths = np.array([len(t) for t in batch], dtype=np.int64)
        tokens = np.full((len(batch), int(lengths.max())), NO_EVENT, dtype=np.int64)
        for i, tune in enumerate(batch):
            tokens[i, : len(tune)] = tune
        yield tokens, lengths
        start = stop


@torch.no_grad()
def evaluate_note_rnn(
    model: NoteRNN, tunes: Sequence[np.ndarray], *, max_batch_tokens: int = 65536
) -> dict:
    """Validation metrics over whole tunes, each run from the zero state.

    Returns ``loss`` (mean negative log-likelihood per predicted token, nats), ``perplexity``
    (``exp(loss)``), ``accuracy`` (argmax == next token), ``nonhold_accuracy`` (accuracy on the
    targets that are not NO_EVENT) and ``tokens`` (number of predicted tokens).
    """
    was_training = model.training
    model.eval()
    nll = correct = count = nonhold_correct = nonhold_count = 0.0
    for tokens, lengths in _tune_batches(tunes, max_batch_tokens):
        targets = np.where(
            np.arange(1, tokens.shape[1])[None, :] < lengths[:, None], tokens[:, 1:], IGNORE
        )
        logits, _ = model(torch.from_numpy(tokens[:, :-1]))
        target = torch.from_numpy(targets)
        mask = target != IGNORE
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        picked = log_probs.gather(-1, target.clamp(min=0)[..., None])[..., 0]
        hit = (logits.argmax(-1) == target) & mask
        nonhold = mask & (target != NO_EVENT)
        nll -= float(picked[mask].double().sum())
        correct += float(hit.sum())
        count += float(mask.sum())
        nonhold_correct += float((hit & nonhold).sum())
        nonhold_count += float(nonhold.sum())
    model.train(was_training)
    if count == 0:
        raise ValueError("no validation tune has two or more tokens")
    loss = nll / count
    return {
        "loss": loss,
        "perplexity": math.exp(loss),
        "accuracy": correct / count,
        "nonhold_accuracy": nonhold_correct / max(nonhold_count, 1.0),
        "tokens": int(count),
    }


@torch.no_grad()
def micro_layer_statistics(
    model: NoteRNN, tunes: Sequence[np.ndarray], *, max_batch_tokens: int = 16384
) -> dict[str, list[float]] | None:
    """Per micro-layer of a deep-transition Note RNN (RHN, DT-RNN) over whole tunes, each run
    from the zero state: the mean relative state change ``state_change`` and, for the RHN, the
    mean transform gate ``transform_gate`` (see
    :meth:`pretrain.deep_transition.DeepTransitionNoteRNN.micro_layer_stats`), and ``steps``.
    ``None`` for a model without micro-layers (the LSTM)."""
    stats_of = getattr(model, "micro_layer_stats", None)
    if stats_of is None:
        return None
    sums: dict[str, np.ndarray] = {}
    total = 0
    for tokens, lengths in _tune_batches(tunes, max_batch_tokens):
        stats = stats_of(torch.from_numpy(tokens), torch.from_numpy(lengths))
        steps = int(stats["steps"])
        total += steps
        for key, value in stats.items():
            if key != "steps":
                sums[key] = sums.get(key, 0.0) + value.double().numpy() * steps
    if total == 0:
        raise ValueError("no tune has two or more tokens")
    result: dict = {key: (value / total).tolist() for key, value in sums.items()}
    result["steps"] = total
    return result


# --------------------------------------------------------------------------- resume state


def _flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict, meta: dict) -> dict:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    for name, value in meta.get("scalars", {}).items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_training_state(
    path: Path, model: NoteRNN, optimizer: torch.optim.Optimizer, state: dict
) -> None:
    """Write the resume state (weights, optimizer, RNG, counters) as one safetensors file, atomically."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    optimizer_tensors, optimizer_meta = _flatten_optimizer(optimizer)
    tensors.update(optimizer_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    document = dict(state, optimizer=optimizer_meta)
    with atomic_path(path) as tmp:
        save_file(
            tensors,
            str(tmp),
            metadata={
                "format": RESUME_FORMAT,
                "version": str(RESUME_VERSION),
                "state": json.dumps(document),
            },
        )


def read_training_state(path: Path) -> tuple[dict, dict]:
    """``(tensors, state)`` of a resume file; raises :class:`SequenceTutorError` naming it."""
    from safetensors import safe_open  # noqa: PLC0415

    if not path.is_file():
        raise SequenceTutorError(
            f"{path}: no training state to resume (run without --resume first)"
        )
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(str(path))
        if metadata.get("format") != RESUME_FORMAT:
            raise ValueError("not a Sequence Tutor pretraining state")
        if int(metadata.get("version", -1)) != RESUME_VERSION:
            raise ValueError(f"state version {metadata.get('version')} is not {RESUME_VERSION}")
        state = json.loads(metadata["state"])
        state["model_config"] = NoteRNNConfig.from_dict(state["model_config"])
        state["training_config"] = TrainingConfig.from_dict(state["training_config"])
        _check_state_tensors(tensors, state["model_config"])
    except (SafetensorError, OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise SequenceTutorError(f"{path}: unreadable training state ({exc})") from None
    return tensors, state


def _check_state_tensors(tensors: dict, model_config: NoteRNNConfig) -> None:
    """Raise ``ValueError`` unless the stored weights fit the stored architecture.

    The model is built on the meta device (shapes only), so a state asking for a huge model
    beside small weights fails here instead of allocating that model.
    """
    sizes = {k: getattr(model_config, k) for k in ("hidden_size", "num_layers", "depth")}
    if any(type(v) is not int for v in sizes.values()):
        raise ValueError(f"model sizes must be integers, got {sizes}")
    with torch.device("meta"):
        expected = build_note_rnn(model_config).state_dict()
    stored = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    problems = sorted(set(expected) ^ set(stored)) or [
        f"{k}: {tuple(stored[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if stored[k].shape != v.shape
    ]
    if problems:
        raise ValueError(
            f"model weights do not match the stored config ({', '.join(problems[:3])})"
        )
    rng = tensors.get("rng.torch")
    if rng is None or rng.dtype != torch.uint8 or rng.dim() != 1:
        raise ValueError("no valid random-number-generator state")


# --------------------------------------------------------------------------- training


class _StopFlag:
    """Turns the first Ctrl-C into a request to stop at the next step boundary."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> _StopFlag:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: leave signals alone
            self._previous = None
        return self

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested:  # second Ctrl-C: give up at once
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _gate_activity(model: NoteRNN) -> list[float] | None:
    activity = getattr(model, "gate_activity", None)
    if activity is None:
        return None
    values = activity()
    return None if values is None else [float(v) for v in values]


def _log_micro_layers(writer: Any, model: NoteRNN, inputs: torch.Tensor, step: int) -> None:
    """TensorBoard scalars per micro-layer: the transform gates of the last training batch
    (RHN) and the relative state change on that batch without dropout (RHN, DT-RNN)."""
    kind = model.config.kind
    for layer, value in enumerate(_gate_activity(model) or []):
        writer.add_scalar(f"{kind}/transform_gate_layer_{layer + 1}", value, step)
    stats_of = getattr(model, "micro_layer_stats", None)
    if stats_of is None:
        return
    for layer, value in enumerate(stats_of(inputs)["state_change"].tolist()):
        writer.add_scalar(f"{kind}/state_change_layer_{layer + 1}", value, step)


def train_note_rnn(
    corpus: CorpusLike,
    out_dir: str | os.PathLike,
    *,
    model_config: NoteRNNConfig | None = None,
    config: TrainingConfig | None = None,
    resume: bool = False,
    overrides: dict | None = None,
    overwrite: bool = False,
    progress: bool = True,
    tensorboard: bool = True,
    log: Callable[[str], None] | None = print,
    name: str | None = None,
) -> TrainingResult:
    """Train a Note RNN on ``corpus.train``, validating on ``corpus.valid`` after every epoch.

    :param corpus: tunes as integer arrays (see :class:`CorpusLike`).
    :param out_dir: folder for the best checkpoint, the resume state and TensorBoard logs.
    :param model_config: architecture (ignored on resume, where the stored one is used).
    :param config: hyper-parameters of a new run (ignored on resume).
    :param resume: continue the run stored in ``out_dir`` with its stored hyper-parameters.
    :param overrides: on resume, new values for some of :data:`RESUMABLE_OVERRIDES`.
    :param overwrite: start afresh even if ``out_dir`` holds a run (otherwise an error).
    :param name: checkpoint name (default ``note_rnn_<kind>``).

    Loss: :math:`-\\frac{1}{N}\\sum_t \\log p_\\theta(x_{t+1} \\mid x_{\\le t})` over non-padding targets.
    """
    torch.set_num_threads(1)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SequenceTutorError(f"{out}: output path exists and is not a folder")
    if not corpus.train:
        raise SequenceTutorError("the corpus has no training tunes")
    if not corpus.valid:
        raise SequenceTutorError("the corpus has no validation tunes")
    state_path = out / RESUME_FILE
    if resume:
        stored_tensors, state, model_config, config = _resumed_run(
            corpus, state_path, model_config, overrides or {}
        )
    else:
        if state_path.exists() and not overwrite:
            raise SequenceTutorError(
                f"{out}: already holds a training run; pass --resume to continue it, "
                "--overwrite to start again, or another --out"
            )
        stored_tensors, state = None, _new_run_state()
        model_config = model_config or NoteRNNConfig(vocab_size=corpus.vocabulary.size)
        config = config or TrainingConfig()
    if model_config.vocab_size != corpus.vocabulary.size:
        raise SequenceTutorError(
            f"model vocabulary size {model_config.vocab_size} does not match the corpus's "
            f"{corpus.vocabulary.size}"
        )
    run = _Run(corpus, out, model_config, config, state, name=name, log=log)
    run.restore(stored_tensors, state_path, overrides if resume else None)
    out.mkdir(parents=True, exist_ok=True)
    return run.train(progress=progress, tensorboard=tensorboard, resume=resume)


def _new_run_state() -> dict:
    return {
        "step": 0,
        "best_loss": None,
        "bad_epochs": 0,
        "history": [],
        "elapsed": 0.0,
        "train_seconds": 0.0,
        "train_cpu_seconds": 0.0,
        "train_tokens": 0,
        "finished": None,
        "stop_validation": None,
    }


def _resumed_run(
    corpus: CorpusLike, state_path: Path, model_config: NoteRNNConfig | None, overrides: dict
) -> tuple[dict, dict, NoteRNNConfig, TrainingConfig]:
    """The stored run of ``state_path``, checked against this corpus and request."""
    stored_tensors, state = read_training_state(state_path)
    if state["corpus_hash"] != corpus.hash:
        raise SequenceTutorError(
            f"{state_path}: was trained on corpus {state['corpus_hash']}, "
            f"not on this one ({corpus.hash}); use the same --data and --off-grid"
        )
    split = state.get("split")
    if split is not None and split != _split_signature(corpus):
        raise SequenceTutorError(
            f"{state_path}: was trained on another train/validation split "
            f"({split[0]} / {split[1]} tunes, not {len(corpus.train)} / {len(corpus.valid)}); "
            "use the same --valid-fraction"
        )
    if state["vocabulary"] != corpus.vocabulary.to_dict():
        raise SequenceTutorError(
            f"{state_path}: vocabulary {state['vocabulary']} does not match the corpus"
        )
    if model_config is not None and model_config.to_dict() != state["model_config"].to_dict():
        raise SequenceTutorError(
            f"{state_path}: holds a {_describe(state['model_config'])} run, "
            f"not the requested {_describe(model_config)}"
        )
    stored = state["training_config"].to_dict()
    changed = sorted(
        k for k, v in overrides.items() if k not in RESUMABLE_OVERRIDES and stored.get(k) != v
    )
    if changed:
        raise SequenceTutorError(
            f"{state_path}: a resumed run keeps its training options "
            f"({', '.join(f'{k}={stored.get(k)}' for k in changed)}); only "
            f"{', '.join(RESUMABLE_OVERRIDES)} may change"
        )
    config = TrainingConfig.from_dict(dict(stored, **overrides))
    return stored_tensors, state, state["model_config"], config


class _Run:
    """One pretraining run: the model, its optimiser and the resumable ``state`` dict."""

    def __init__(
        self,
        corpus: CorpusLike,
        out: Path,
        model_config: NoteRNNConfig,
        config: TrainingConfig,
        state: dict,
        *,
        name: str | None,
        log: Callable[[str], None] | None,
    ) -> None:
        self.corpus, self.out, self.config, self.state, self.log = corpus, out, config, state, log
        self.model_config = model_config
        self.name = name or f"note_rnn_{model_config.kind}"
        self.checkpoint_path = out / f"{self.name}.safetensors"
        self.state_path = out / RESUME_FILE
        self.sampler = WindowSampler(corpus.train, config.window)
        self.steps_per_epoch = config.steps_per_epoch or max(
            1, math.ceil(self.sampler.num_targets / (config.batch_size * config.window))
        )
        self.total_steps = self.steps_per_epoch * config.epochs
        torch.manual_seed(config.seed)
        self.model = build_note_rnn(model_config)
        self.model.train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.learning_rate)
        self.writer: Any = None
        self.bar: Any = None

    def restore(self, tensors: dict | None, state_path: Path, overrides: dict | None) -> None:
        """Load the stored weights, optimiser and RNG (on resume) and record the run's setup."""
        state, vocabulary = self.state, self.corpus.vocabulary
        if tensors is not None:
            try:
                self.model.load_state_dict(
                    {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
                )
                self.optimizer.load_state_dict(_unflatten_optimizer(tensors, state["optimizer"]))
                torch.set_rng_state(tensors["rng.torch"])
            except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
                raise SequenceTutorError(
                    f"{state_path}: unreadable training state ({exc})"
                ) from None
            if overrides and "learning_rate" in overrides:
                for group in self.optimizer.param_groups:
                    group["lr"] = overrides["learning_rate"]
        state.update(
            model_config=self.model_config.to_dict(),
            training_config=self.config.to_dict(),
            corpus_hash=self.corpus.hash,
            split=_split_signature(self.corpus),
            vocabulary=vocabulary.to_dict(),
            steps_per_epoch=self.steps_per_epoch,
            parameters=self.model.num_parameters(),
        )
        if state.get("finished") == "epochs" and state["step"] < self.total_steps:
            state["finished"] = None  # more epochs were asked for

    # -- output ----------------------------------------------------------------------------------
    def say(self, message: str) -> None:
        if self.bar is not None:
            self.bar.write(message)
        elif self.log is not None:
            self.log(message)

    def save_state(self) -> None:
        state = {k: v for k, v in self.state.items() if k != "optimizer"}
        save_training_state(self.state_path, self.model, self.optimizer, state)

    def validate_and_checkpoint(self, at_epoch_end: bool) -> dict:
        state, config = self.state, self.config
        metrics = evaluate_note_rnn(self.model, self.corpus.valid)
        metrics.update(
            epoch=state["step"] / self.steps_per_epoch,
            step=state["step"],
            train_tokens=state["train_tokens"],
            train_seconds=state.get("train_seconds"),
            train_cpu_seconds=state.get("train_cpu_seconds"),
        )
        if self.writer is not None:
            for key in ("loss", "perplexity", "accuracy", "nonhold_accuracy"):
                self.writer.add_scalar(f"valid/{key}", metrics[key], state["step"])
        improved = state["best_loss"] is None or metrics["loss"] < state["best_loss"]
        if at_epoch_end:
            state["history"].append(metrics)
            if improved:
                state["best_loss"] = metrics["loss"]
                state["bad_epochs"] = 0
            else:
                state["bad_epochs"] += 1
                for group in self.optimizer.param_groups:
                    group["lr"] *= config.lr_decay
        if improved or not self.checkpoint_path.exists():
            summary = dict(
                metrics,
                parameters=self.model.num_parameters(),
                train_tokens=state["train_tokens"],
                train_tokens_per_second=state["train_tokens"] / max(state["elapsed"], 1e-9),
                training_config=config.to_dict(),
            )
            save_note_rnn(
                self.model,
                self.checkpoint_path,
                vocabulary=self.corpus.vocabulary,
                corpus_hash=self.corpus.hash,
                metrics=summary,
            )
        return metrics

    # -- the loop --------------------------------------------------------------------------------
    def stop_reason(self, stop: _StopFlag, session_start: float) -> str | None:
        """Why the loop stops before the next step, or None to go on."""
        step, config = self.state["step"], self.config
        if step >= self.total_steps:
            return "epochs"
        if config.max_steps is not None and step >= config.max_steps:
            return "step limit"
        if (
            config.max_minutes is not None
            and time.monotonic() - session_start >= 60 * config.max_minutes
        ):
            return "time limit"
        if stop.requested:
            return "interrupted"
        return None

    def train_step(
        self, elapsed_before: float, session_start: float
    ) -> tuple[Any, float, int, int, float]:
        """One optimiser step on a sampled batch; ``(inputs, loss, tokens, correct, tick)``."""
        state, config, model = self.state, self.config, self.model
        step = state["step"]
        tick, cpu_tick = time.monotonic(), time.process_time()
        rng = np.random.default_rng([config.seed, step])
        torch.manual_seed(_step_seed(config.seed, step))
        inputs, targets = self.sampler.sample(rng, config.batch_size)
        logits, _ = model(inputs)
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        self.optimizer.step()
        mask = targets != IGNORE
        tokens = int(mask.sum())
        with torch.no_grad():
            correct = int(((logits.argmax(-1) == targets) & mask).sum())
        state["step"] = step + 1
        state["train_tokens"] += tokens
        state["elapsed"] = elapsed_before + time.monotonic() - session_start
        # Optimiser steps only (no validation, no checkpoints): the time axis of a learning
        # curve. Runs resumed from before these existed start them at 0.
        state["train_seconds"] = state.get("train_seconds", 0.0) + time.monotonic() - tick
        state["train_cpu_seconds"] = (
            state.get("train_cpu_seconds", 0.0) + time.process_time() - cpu_tick
        )
        return inputs, loss.item(), tokens, correct, tick

    def log_window(self, window: list[float], inputs: Any, tokens: int, tick: float) -> None:
        """Progress-bar postfix and TensorBoard scalars of the steps since the last log."""
        step = self.state["step"]
        train_loss = window[0] / max(window[2], 1)
        train_accuracy = window[1] / max(window[2], 1)
        rate = tokens / max(time.monotonic() - tick, 1e-9)
        if self.bar is not None:
            self.bar.set_postfix(
                loss=f"{train_loss:.3f}", acc=f"{train_accuracy:.3f}", tok_s=f"{rate:.0f}"
            )
        if self.writer is not None:
            self.writer.add_scalar("train/loss", train_loss, step)
            self.writer.add_scalar("train/accuracy", train_accuracy, step)
            self.writer.add_scalar(
                "train/learning_rate", self.optimizer.param_groups[0]["lr"], step
            )
            self.writer.add_scalar("train/tokens_per_second", rate, step)
            _log_micro_layers(self.writer, self.model, inputs, step)

    def end_epoch(self) -> str | None:
        """Validate, report and save; ``"early stopping"`` once patience runs out."""
        metrics = self.validate_and_checkpoint(at_epoch_end=True)
        epoch = self.state["step"] // self.steps_per_epoch
        self.say(
            f"epoch {epoch}: valid loss {metrics['loss']:.4f} accuracy {metrics['accuracy']:.4f} "
            f"non-hold {metrics['nonhold_accuracy']:.4f} perplexity {metrics['perplexity']:.3f}"
        )
        stopped = "early stopping" if self.state["bad_epochs"] >= self.config.patience else None
        self.save_state()
        return stopped

    def loop(self, stop: _StopFlag) -> str:
        state, config = self.state, self.config
        stopped = state.get("finished")
        last_save = time.monotonic()
        window = [0.0, 0.0, 0.0]  # loss * tokens, correct, tokens since the last log
        session_start = time.monotonic()
        elapsed_before = state["elapsed"]
        while stopped is None:
            stopped = self.stop_reason(stop, session_start)
            if stopped is not None:
                break
            inputs, loss, tokens, correct, tick = self.train_step(elapsed_before, session_start)
            window[0] += loss * tokens
            window[1] += correct
            window[2] += tokens
            if self.bar is not None:
                self.bar.update(1)
            if state["step"] % config.log_every == 0 or state["step"] == self.total_steps:
                self.log_window(window, inputs, tokens, tick)
                window = [0.0, 0.0, 0.0]
            if state["step"] % self.steps_per_epoch == 0:
                stopped = self.end_epoch()
                last_save = time.monotonic()
            elif time.monotonic() - last_save >= config.checkpoint_seconds:
                self.save_state()
                last_save = time.monotonic()
        return stopped

    def train(self, *, progress: bool, tensorboard: bool, resume: bool) -> TrainingResult:
        state = self.state
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415 (slow import)

            self.writer = SummaryWriter(
                str(self.out / "tensorboard"), purge_step=state["step"] or None
            )
        start_step = state["step"]
        if progress and state.get("finished") is None:
            from tqdm.auto import tqdm  # noqa: PLC0415

            self.bar = tqdm(
                total=self.total_steps,
                initial=start_step,
                unit="step",
                dynamic_ncols=True,
                desc=self.name,
            )
        if self.log is not None:
            self.log(
                f"training {_describe(self.model_config)} ({self.model.num_parameters()} parameters) on "
                f"{self.sampler.num_targets} tokens, {self.steps_per_epoch} steps per epoch"
                + (f", resuming at step {start_step}" if resume else "")
            )
        try:
            with _StopFlag() as stop:
                stopped = self.loop(stop)
                if stopped in ("epochs", "early stopping"):
                    state["finished"] = stopped
                if not self.checkpoint_path.exists() or (
                    stopped not in ("epochs", "early stopping")
                    and state["step"] % self.steps_per_epoch
                ):
                    # Stopped between epochs: make sure a usable checkpoint exists without
                    # touching the early-stopping bookkeeping (so a resumed run stays identical).
                    self.validate_and_checkpoint(at_epoch_end=False)
                self.save_state()
        finally:
            if self.bar is not None:
                self.bar.close()
            if self.writer is not None:
                self.writer.close()
        return self.result(stopped)

    def result(self, stopped: str) -> TrainingResult:
        from pretrain.checkpoint import read_checkpoint_meta  # noqa: PLC0415

        best = read_checkpoint_meta(self.checkpoint_path)["metrics"]
        if self.log is not None:
            self.log(
                f"stopped after step {self.state['step']} ({stopped}); best checkpoint "
                f"{self.checkpoint_path}: valid accuracy {best['accuracy']:.4f}, non-hold "
                f"{best['nonhold_accuracy']:.4f}, perplexity {best['perplexity']:.3f}"
            )
        return TrainingResult(
            model=self.model,
            checkpoint=self.checkpoint_path,
            metrics=best,
            stopped=stopped,
            history=self.state["history"],
        )


def _describe(config: NoteRNNConfig) -> str:
    if config.kind == "lstm":
        return f"LSTM {config.num_layers}x{config.hidden_size}"
    return (
        f"{'RHN' if config.kind == 'rhn' else 'DT-RNN'} depth {config.depth} x {config.hidden_size}"
    )


def _split_signature(corpus: CorpusLike) -> list[int]:
    """Tune and token counts of both sides (the corpus hash does not cover the split)."""
    return [
        len(corpus.train),
        len(corpus.valid),
        int(sum(len(t) for t in corpus.train)),
        int(sum(len(t) for t in corpus.valid)),
    ]
