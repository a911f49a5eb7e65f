"""The agent file format: ``NAME.safetensors`` (weights) + ``NAME.json`` (config), never pickle.

An agent named ``NAME`` is ``NAME.safetensors`` (the policy's tensors: ``q_net.*``,
``q_net_target.*`` and, for G-learning, the frozen ``prior.*``) and ``NAME.json``::

    {"format": "sequence-tutor-agent", "version": 1, "algo": "psi",
     "note_rnn_config": {...}, "vocabulary": {...}, "melody_length": 32,
     "hyperparameters": {...}, "num_timesteps": 100000, "env_kwargs": {...}, "metadata": {...}}

What to save comes from the agent (:meth:`SequenceTutorDQN.hyperparameters`, its policy's
``state_dict``); this module only writes and validates files, so it never imports the agent
class. Loading builds the policy from the JSON and copies the tensors in (SB3's ``DQN.load``
unpickles and can run code from a foreign file; it is never used here).
:meth:`SequenceTutorDQN.load` builds a whole agent on an env the same way.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from agents.config import KLControlConfig, check_algo
from agents.policy import NoteRNNPolicy
from pretrain.atomic_write import atomic_path, atomic_write_text
from pretrain.config import check_value
from pretrain.errors import SequenceTutorError
from pretrain.models import NoteRNNConfig, build_note_rnn
from pretrain.vocabulary import DEFAULT_VOCABULARY, Vocabulary
from rewards.keys import key_tables

if TYPE_CHECKING:
    from agents.kl_control import SequenceTutorDQN

FORMAT = "sequence-tutor-agent"
FORMAT_VERSION = 1
MAX_BYTES = 1024 * 1024 * 1024
MAX_JSON_BYTES = 1024 * 1024
AGENT_DIR = Path(__file__).resolve().parent / "checkpoints"
SHIPPED_AGENTS = {"psi": "psi_agent"}

#: What an agent file's "hyperparameters" may hold: the fields of KLControlConfig.
HYPERPARAMETERS = tuple(f.name for f in dataclasses.fields(KLControlConfig))


def shipped_agent(name: str = "psi") -> Path:
    """Path (without suffix) of an agent shipped with the package."""
    if name not in SHIPPED_AGENTS:
        raise SequenceTutorError(
            f"no shipped agent {name!r} (expected one of {sorted(SHIPPED_AGENTS)})"
        )
    return AGENT_DIR / SHIPPED_AGENTS[name]


def agent_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """``(weights, config)`` for an agent given as ``NAME``, ``NAME.json``, ``NAME.safetensors``
    or a folder holding ``agent.json`` + ``agent.safetensors``."""
    path = Path(path)
    if path.is_dir():
        path = path / "agent"
    if path.suffix in (".json", ".safetensors"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".safetensors"), path.with_name(path.name + ".json")


# -- writing ---------------------------------------------------------------------------------
def save_agent(
    model: SequenceTutorDQN,
    path: str | os.PathLike,
    *,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    env_kwargs: dict | None = None,
    metadata: dict | None = None,
) -> tuple[Path, Path]:
    """Write the agent's weights (safetensors) and config (JSON) atomically; return both paths."""
    weights_path, config_path = agent_paths(path)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.policy.state_dict().items()}
    with atomic_path(weights_path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT})
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "algo": model.algo,
        "note_rnn_config": model.policy.note_rnn_config.to_dict(),
        "vocabulary": vocabulary.to_dict(),
        "melody_length": model.melody_length,
        "hyperparameters": model.hyperparameters(),
        "num_timesteps": int(model.num_timesteps),
        "env_kwargs": env_kwargs or {},
        "metadata": metadata or {},
    }
    atomic_write_text(config_path, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return weights_path, config_path


# -- reading ---------------------------------------------------------------------------------
def read_json(path: Path, expected_format: str, what: str) -> dict:
    """The JSON object at ``path``, checked for size, ``format`` and ``version``."""
    if not path.is_file():
        raise SequenceTutorError(f"{path}: {what} config not found")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise SequenceTutorError(f"{path}: larger than {MAX_JSON_BYTES} bytes")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise SequenceTutorError(f"{path}: not a readable JSON {what} config ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != expected_format:
        raise SequenceTutorError(f"{path}: not a Sequence Tutor {what} config")
    if meta.get("version") != FORMAT_VERSION:
        raise SequenceTutorError(
            f"{path}: {what} format version {meta.get('version')!r} is not supported "
            f"(expected {FORMAT_VERSION})"
        )
    return meta


def read_tensors(path: Path, what: str) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, or a one-line error naming it."""
    if not path.is_file():
        raise SequenceTutorError(f"{path}: {what} weights not found")
    if path.stat().st_size > MAX_BYTES:
        raise SequenceTutorError(f"{path}: larger than {MAX_BYTES} bytes")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise SequenceTutorError(f"{path}: not a readable safetensors file ({exc})") from None


def read_agent_meta(path: str | os.PathLike) -> dict:
    """The validated JSON of an agent checkpoint (``note_rnn_config``/``vocabulary`` as objects)."""
    _, config_path = agent_paths(path)
    meta = read_json(config_path, FORMAT, "agent")

    try:
        check_algo(meta["algo"])
        sizes = {k: meta["note_rnn_config"].get(k, 1) for k in _SIZES}
        if any(type(v) is not int for v in sizes.values()):
            raise ValueError(f"Note RNN sizes must be integers, got {sizes}")
        meta["note_rnn_config"] = NoteRNNConfig.from_dict(meta["note_rnn_config"])
        meta["vocabulary"] = Vocabulary.from_dict(meta["vocabulary"])
        meta["melody_length"] = int(meta["melody_length"])
        if not 1 <= meta["melody_length"] <= 100_000:
            raise ValueError(f"melody_length {meta['melody_length']} is out of range")
        if meta["vocabulary"].size != meta["note_rnn_config"].vocab_size:
            raise ValueError("vocabulary and Note RNN sizes differ")
        if not isinstance(meta.get("hyperparameters", {}), dict):
            raise ValueError("hyperparameters must be an object")
        _check_hyperparameters(meta.get("hyperparameters", {}))
        env_kwargs = meta.get("env_kwargs", {})
        if not isinstance(env_kwargs, dict):
            raise ValueError("env_kwargs must be an object")
        if "key" in env_kwargs:
            key_tables(str(env_kwargs["key"]))
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise SequenceTutorError(f"{config_path}: invalid agent config ({exc})") from None
    return meta


_SIZES = ("vocab_size", "hidden_size", "num_layers", "depth")


def _check_hyperparameters(hyper: dict) -> None:
    """Raise ``ValueError`` for a hyper-parameter a file must not set (only the fields of
    :class:`KLControlConfig` reach SB3's constructor) or a value out of its bounds (a huge
    buffer would exhaust memory)."""
    fields = {f.name: f for f in dataclasses.fields(KLControlConfig)}
    unknown = sorted(set(hyper) - set(fields))
    if unknown:
        raise ValueError(f"unknown hyper-parameters {unknown}")
    for name, value in hyper.items():
        if name == "train_freq" and isinstance(value, list) and value:
            value = value[0]  # SB3's [frequency, unit]
        check_value(fields[name], value, name)


def check_note_rnn_tensors(meta: dict, tensors: dict[str, torch.Tensor], where: Path) -> None:
    """Compare the file's Q-network weights with the config on a shape-only model first, so a
    config asking for a huge Note RNN fails here instead of allocating it."""
    with torch.device("meta"):
        expected = build_note_rnn(meta["note_rnn_config"]).state_dict()
    problems = []
    for name, value in expected.items():
        found = tensors.get(f"q_net.rnn.{name}")
        if found is None or found.shape != value.shape:
            shape = "missing" if found is None else tuple(found.shape)
            problems.append(f"q_net.rnn.{name}: {shape} != {tuple(value.shape)}")
    if problems:
        raise SequenceTutorError(
            f"{where}: weights do not match the agent config ({', '.join(problems[:3])})"
        )
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise SequenceTutorError(f"{where}: weights hold NaN or infinity ({', '.join(bad[:3])})")


def state_dict_problems(
    expected: dict[str, torch.Tensor], tensors: dict[str, torch.Tensor]
) -> list[str]:
    """What keeps ``tensors`` from loading into a module with state ``expected``: missing or
    extra names, else shape or dtype mismatches (empty when they fit)."""
    problems = sorted(set(expected) ^ set(tensors))
    if not problems:
        problems = [
            f"{k}: {tuple(tensors[k].shape)} != {tuple(v.shape)}"
            for k, v in expected.items()
            if tensors[k].shape != v.shape or tensors[k].dtype != v.dtype
        ]
    return problems


def load_policy_tensors(
    policy: NoteRNNPolicy, tensors: dict[str, torch.Tensor], where: Path
) -> None:
    """Copy ``tensors`` into ``policy`` after checking names, shapes and dtypes."""
    problems = state_dict_problems(policy.state_dict(), tensors)
    if problems:
        raise SequenceTutorError(
            f"{where}: weights do not match the agent config ({', '.join(problems[:3])})"
        )
    policy.load_state_dict(tensors)


def observation_spaces(melody_length: int, vocabulary: Vocabulary):
    """The Sequence Tutor observation and action spaces (to build a policy without an env)."""
    from gymnasium import spaces  # noqa: PLC0415

    observation = spaces.MultiDiscrete(np.full(1 + melody_length, vocabulary.size + 1))
    return observation, spaces.Discrete(vocabulary.size)


def load_agent_policy(path: str | os.PathLike) -> tuple[NoteRNNPolicy, dict]:
    """Build an agent's policy from its JSON and load its safetensors weights (no env needed)."""

    weights_path, _ = agent_paths(path)
    meta = read_agent_meta(path)
    tensors = read_tensors(weights_path, "agent")
    check_note_rnn_tensors(meta, tensors, weights_path)
    observation_space, action_space = observation_spaces(meta["melody_length"], meta["vocabulary"])
    hyper = meta.get("hyperparameters", {})
    policy = NoteRNNPolicy(
        observation_space,
        action_space,
        lambda _: float(hyper.get("learning_rate", 1e-3)),
        note_rnn=meta["note_rnn_config"],
        algo=meta["algo"],
        boltzmann=True,
        temperature=float(hyper.get("temperature", 1.0)),
    )
    load_policy_tensors(policy, tensors, weights_path)
    policy.set_training_mode(False)
    return policy, meta


__all__ = [
    "FORMAT",
    "HYPERPARAMETERS",
    "agent_paths",
    "check_note_rnn_tensors",
    "load_agent_policy",
    "load_policy_tensors",
    "observation_spaces",
    "read_agent_meta",
    "read_json",
    "read_tensors",
    "save_agent",
    "shipped_agent",
    "state_dict_problems",
]
