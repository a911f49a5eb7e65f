"""Deprecated: split by job into :mod:`agents.agent_file` (the file format),
:mod:`agents.training_state` (``--resume`` state and checkpoint folders) and
:mod:`agents.callbacks`; ``load_agent`` is :meth:`agents.kl_control.SequenceTutorDQN.load`.
Every old name still works from here for one release, with a ``DeprecationWarning``."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

_MOVED = {
    "CheckpointCallback": "agents.callbacks",
    "agent_paths": "agents.agent_file",
    "load_agent_policy": "agents.agent_file",
    "read_agent_meta": "agents.agent_file",
    "save_agent": "agents.agent_file",
    "shipped_agent": "agents.agent_file",
    "observation_spaces": "agents.agent_file",
    "HYPERPARAMETERS": "agents.agent_file",
    "FORMAT": "agents.agent_file",
    "latest_checkpoint": "agents.training_state",
    "load_training_state": "agents.training_state",
    "save_training_state": "agents.training_state",
    "write_checkpoint": "agents.training_state",
    "TRAINING_FORMAT": "agents.training_state",
    "load_agent": "agents.kl_control",
}

__all__ = sorted(_MOVED)


def __getattr__(name: str) -> Any:
    if name not in _MOVED:
        raise AttributeError(f"module 'agents.agent_checkpoint' has no attribute {name!r}")
    warnings.warn(
        f"agents.agent_checkpoint.{name} moved to {_MOVED[name]}.{name}; import it from there "
        "(the old path goes in the next release)",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(_MOVED[name]), name)
