"""Policy-gradient agent checkpoints: safetensors + JSON, never pickle.

An agent ``NAME`` is ``NAME.safetensors`` (the network: ``rnn.*``, the frozen ``prior.*`` and, for
PPO-KL, the critic ``value.*``) and ``NAME.json``::

    {"format": "sequence-tutor-pg-agent", "version": 1, "algo": "rloo", "config": {...},
     "note_rnn_config": {...}, "vocabulary": {...}, "melody_length": 32, "num_timesteps": 0,
     "kl_controller": {"value": 1.0}, "metadata": {...}}

A training state ``NAME.safetensors`` + ``NAME.json`` (format ``sequence-tutor-pg-training``)
holds the optimiser's tensors and param groups, the agent's NumPy generator (primers and
actions), torch's RNG and the counters: loading it into an agent built from the same checkpoint
continues training bit for bit (the env is reset with the agent's own primers at every batch, so
no env state is needed). Readers and size limits are those of :mod:`agents.agent_file`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from agents.agent_file import agent_paths, read_json, read_tensors, state_dict_problems
from pretrain.atomic_write import atomic_path, atomic_write_text
from pretrain.errors import SequenceTutorError
from pretrain.models import NoteRNNConfig
from pretrain.vocabulary import DEFAULT_VOCABULARY, Vocabulary

FORMAT = "sequence-tutor-pg-agent"
TRAINING_FORMAT = "sequence-tutor-pg-training"
FORMAT_VERSION = 1


def write_weights(path: Path, tensors: dict[str, torch.Tensor], fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": fmt})


def save_pg_agent(
    path: str | os.PathLike,
    *,
    algo: str,
    network: torch.nn.Module,
    config: dict,
    note_rnn_config: NoteRNNConfig,
    melody_length: int,
    num_timesteps: int,
    kl_controller: dict,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    metadata: dict | None = None,
) -> tuple[Path, Path]:
    """Write the network (safetensors) and everything to rebuild it (JSON); return both paths."""
    weights_path, config_path = agent_paths(path)
    write_weights(weights_path, network.state_dict(), FORMAT)
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "algo": algo,
        "config": config,
        "note_rnn_config": note_rnn_config.to_dict(),
        "vocabulary": vocabulary.to_dict(),
        "melody_length": int(melody_length),
        "num_timesteps": int(num_timesteps),
        "kl_controller": kl_controller,
        "metadata": metadata or {},
    }
    atomic_write_text(config_path, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return weights_path, config_path


def read_pg_agent(path: str | os.PathLike, algo: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """The validated JSON (``note_rnn_config`` as an object) and the tensors of an agent file."""
    weights_path, config_path = agent_paths(path)
    meta = read_json(config_path, FORMAT, "policy-gradient agent")
    try:
        if meta["algo"] != algo:
            raise ValueError(f"the file holds a {meta['algo']!r} agent, not {algo!r}")
        if not isinstance(meta["config"], dict) or not isinstance(meta["kl_controller"], dict):
            raise ValueError("config and kl_controller must be objects")
        meta["note_rnn_config"] = NoteRNNConfig.from_dict(meta["note_rnn_config"])
        meta["vocabulary"] = Vocabulary.from_dict(meta["vocabulary"])
        meta["melody_length"] = int(meta["melody_length"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SequenceTutorError(f"{config_path}: invalid agent config ({exc})") from None
    return meta, read_tensors(weights_path, "agent")


def load_network(network: torch.nn.Module, tensors: dict[str, torch.Tensor], where: Any) -> None:
    """Copy ``tensors`` into ``network``; one-line error if names, shapes or values do not fit."""
    problems = state_dict_problems(network.state_dict(), tensors)
    if not problems:
        problems = [
            k for k, v in tensors.items() if v.is_floating_point() and not v.isfinite().all()
        ]
    if problems:
        raise SequenceTutorError(
            f"{where}: weights do not match the agent config ({', '.join(problems[:3])})"
        )
    network.load_state_dict(tensors)


def save_training_state(
    path: str | os.PathLike,
    *,
    optimizer: torch.optim.Optimizer,
    rng: np.random.Generator | None,
    counters: dict[str, int],
    extra: dict | None = None,
) -> tuple[Path, Path]:
    """Write the optimiser, the agent's generator (if any), torch's and NumPy's global RNGs and
    the counters (``extra``: JSON-ready state of the algorithm's own)."""
    weights_path, config_path = agent_paths(path)
    state = optimizer.state_dict()
    tensors = {"rng.torch": torch.get_rng_state()}
    for index, values in state["state"].items():
        for key, value in values.items():
            tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value).detach().clone()
    numpy_state = np.random.get_state()  # noqa: NPY002 (SB3 seeds and samples the global RNG)
    tensors["rng.numpy"] = torch.from_numpy(np.asarray(numpy_state[1], dtype=np.int64))
    write_weights(weights_path, tensors, TRAINING_FORMAT)
    meta = {
        "format": TRAINING_FORMAT,
        "version": FORMAT_VERSION,
        "param_groups": state["param_groups"],
        "rng": rng.bit_generator.state if rng is not None else None,
        "rng_numpy": [numpy_state[0], int(numpy_state[2]), int(numpy_state[3]), numpy_state[4]],
        "counters": {k: int(v) for k, v in counters.items()},
        "extra": extra or {},
    }
    atomic_write_text(config_path, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return weights_path, config_path


def load_training_state(
    path: str | os.PathLike, optimizer: torch.optim.Optimizer, rng: np.random.Generator | None
) -> dict:
    """Restore what :func:`save_training_state` wrote; returns ``{"counters", "extra"}``."""
    weights_path, config_path = agent_paths(path)
    meta = read_json(config_path, TRAINING_FORMAT, "training state")
    tensors = read_tensors(weights_path, "training state")
    try:
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("optimizer."):
                _, index, name = key.split(".", 2)
                state.setdefault(int(index), {})[name] = value
        optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
        if rng is not None:
            generator_state = meta["rng"]
            if generator_state.get("bit_generator") != type(rng.bit_generator).__name__:
                raise ValueError(f"generator {generator_state.get('bit_generator')!r} != PCG64")
            rng.bit_generator.state = generator_state
        torch.set_rng_state(tensors["rng.torch"])
        name, pos, has_gauss, cached = meta["rng_numpy"]
        keys = tensors["rng.numpy"].numpy().astype(np.uint32)
        np.random.set_state((name, keys, int(pos), int(has_gauss), float(cached)))  # noqa: NPY002
        counters = {k: int(v) for k, v in meta["counters"].items()}
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise SequenceTutorError(
            f"{weights_path}: training state does not fit this agent ({exc})"
        ) from None
    return {"counters": counters, "extra": meta.get("extra", {})}


__all__ = [
    "FORMAT",
    "TRAINING_FORMAT",
    "load_network",
    "load_training_state",
    "read_pg_agent",
    "save_pg_agent",
    "save_training_state",
]
