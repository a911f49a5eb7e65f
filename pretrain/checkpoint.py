"""Note RNN checkpoints: safetensors weights plus a small JSON config, never pickle.

A checkpoint named ``NAME`` is two files side by side: ``NAME.safetensors`` (tensors only) and
``NAME.json``::

    {"format": "sequence-tutor-note-rnn", "version": 1,
     "config": {...NoteRNNConfig...}, "vocabulary": {"min_pitch": 48, "num_pitches": 36, "size": 38},
     "corpus_hash": "...", "metrics": {...}}

Both are written atomically (JSON last, so a JSON file always describes complete weights).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from pretrain.atomic_write import atomic_path, atomic_write_text
from pretrain.errors import SequenceTutorError
from pretrain.models import NoteRNN, NoteRNNConfig, build_note_rnn
from pretrain.vocabulary import DEFAULT_VOCABULARY, Vocabulary

FORMAT = "sequence-tutor-note-rnn"
FORMAT_VERSION = 1
CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
DEFAULT_CHECKPOINTS = {"lstm": "note_rnn_lstm", "rhn": "note_rnn_rhn"}
MAX_CHECKPOINT_BYTES = 512 * 1024 * 1024
MAX_CONFIG_BYTES = 1024 * 1024  # a config is < 1 kB; refuse to slurp a huge or endless file
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle", ".zip")


def default_checkpoint(kind: str = "lstm") -> Path:
    """Path (without suffix) of the Note RNN shipped with the package."""
    if kind not in DEFAULT_CHECKPOINTS:
        raise SequenceTutorError(
            f"no shipped Note RNN of kind {kind!r} (expected one of {sorted(DEFAULT_CHECKPOINTS)})"
        )
    return CHECKPOINT_DIR / DEFAULT_CHECKPOINTS[kind]


def checkpoint_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """``(weights, config)`` paths for a checkpoint given as ``NAME``, ``NAME.json`` or
    ``NAME.safetensors``, or a folder holding exactly one checkpoint."""
    path = Path(path)
    if path.is_dir():
        configs = sorted(path.glob("*.json"))
        configs = [c for c in configs if c.with_suffix(".safetensors").exists()]
        if len(configs) != 1:
            raise SequenceTutorError(
                f"{path}: expected one Note RNN checkpoint (NAME.json + NAME.safetensors) "
                f"in the folder, found {len(configs)}"
            )
        path = configs[0]
    if path.suffix in (".json", ".safetensors"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".safetensors"), path.with_name(path.name + ".json")


def save_note_rnn(
    model: NoteRNN,
    path: str | os.PathLike,
    *,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    corpus_hash: str | None = None,
    metrics: dict | None = None,
) -> tuple[Path, Path]:
    """Write ``model`` as ``path.safetensors`` + ``path.json`` atomically; return both paths."""
    weights_path, config_path = checkpoint_paths(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(weights_path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT})
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "vocabulary": vocabulary.to_dict(),
        "corpus_hash": corpus_hash,
        "metrics": metrics or {},
    }
    atomic_write_text(config_path, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return weights_path, config_path


def read_checkpoint_meta(path: str | os.PathLike) -> dict:
    """The JSON side of a checkpoint, validated; raises :class:`SequenceTutorError`."""
    _, config_path = checkpoint_paths(path)
    if Path(path).suffix.lower() in PICKLE_SUFFIXES:
        raise SequenceTutorError(
            f"{path}: pickle-based checkpoints are never loaded (they can run code); "
            "expected a Note RNN checkpoint NAME.safetensors + NAME.json"
        )
    if not config_path.is_file():
        given = "" if Path(path) == config_path else f" (for {path})"
        raise SequenceTutorError(
            f"{config_path}: Note RNN checkpoint config not found{given}; a checkpoint is "
            "NAME.safetensors + NAME.json side by side"
        )
    if config_path.stat().st_size > MAX_CONFIG_BYTES:
        raise SequenceTutorError(f"{config_path}: larger than {MAX_CONFIG_BYTES} bytes")
    try:
        meta = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise SequenceTutorError(
            f"{config_path}: not a readable JSON checkpoint config ({exc})"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise SequenceTutorError(f"{config_path}: not a Sequence Tutor Note RNN config")
    try:
        if not isinstance(meta.get("config"), dict):
            raise ValueError("'config' must be a JSON object")
        sizes = {
            k: meta["config"].get(k, 1)
            for k in ("vocab_size", "hidden_size", "num_layers", "depth")
        }
        wrong = {k: v for k, v in sizes.items() if type(v) is not int}  # not bool, float or str
        if wrong:
            raise ValueError(f"sizes must be integers, got {wrong}")
        meta["config"] = NoteRNNConfig.from_dict(meta["config"])
        meta["vocabulary"] = Vocabulary.from_dict(
            meta.get("vocabulary", {})
            or {
                "min_pitch": DEFAULT_VOCABULARY.min_pitch,
                "num_pitches": meta["config"].vocab_size - 2,
            }
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SequenceTutorError(f"{config_path}: invalid Note RNN config ({exc})") from None
    if meta["vocabulary"].size != meta["config"].vocab_size:
        raise SequenceTutorError(
            f"{config_path}: vocabulary of {meta['vocabulary'].size} tokens does not match "
            f"the model's {meta['config'].vocab_size}"
        )
    return meta


def load_note_rnn(
    path: str | os.PathLike, *, vocabulary: Vocabulary | None = None
) -> tuple[NoteRNN, dict]:
    """Build a Note RNN from its JSON config and load its safetensors weights.

    Returns ``(model, meta)``; the model is in eval mode. Raises :class:`SequenceTutorError`
    naming the file when it is missing, corrupt, of another vocabulary than ``vocabulary``,
    or when the weights do not match the config.
    """
    weights_path, _ = checkpoint_paths(path)
    meta = read_checkpoint_meta(path)
    if vocabulary is not None and meta["vocabulary"] != vocabulary:
        raise SequenceTutorError(
            f"{weights_path}: Note RNN vocabulary {meta['vocabulary'].to_dict()} does not match "
            f"the expected {vocabulary.to_dict()}"
        )
    if not weights_path.is_file():
        raise SequenceTutorError(f"{weights_path}: Note RNN weights not found")
    if weights_path.stat().st_size > MAX_CHECKPOINT_BYTES:
        raise SequenceTutorError(f"{weights_path}: larger than {MAX_CHECKPOINT_BYTES} bytes")
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise SequenceTutorError(
            f"{weights_path}: not a readable safetensors file ({exc})"
        ) from None
    # Compare against a shape-only model first: a config asking for a huge model beside small
    # weights must not allocate that model.
    with torch.device("meta"):
        expected = build_note_rnn(meta["config"]).state_dict()
    problems = sorted(set(expected) ^ set(tensors))
    if not problems:
        problems = [
            f"{k}: {tuple(tensors[k].shape)} {tensors[k].dtype} != {tuple(v.shape)} {v.dtype}"
            for k, v in expected.items()
            if tensors[k].shape != v.shape or tensors[k].dtype != v.dtype
        ]
    if problems:
        raise SequenceTutorError(
            f"{weights_path}: weights do not match the config in its JSON ({', '.join(problems[:3])})"
        )
    model = build_note_rnn(meta["config"])
    model.load_state_dict(tensors)
    model.eval()
    return model, meta
