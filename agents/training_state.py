"""What ``--resume`` needs beyond the agent file, and the checkpoint folders that hold both.

A training state ``NAME`` is ``NAME.safetensors`` + ``NAME.json``: Adam's state, the replay
buffer's episodes, the RNG states and SB3's counters, as the agent names them
(:meth:`SequenceTutorDQN.training_state`). One taken where every env has just started a
composition and SB3 is about to collect a rollout (what :class:`~agents.callbacks.CheckpointCallback`
waits for) also stores the envs' observations and their ``np_random`` states (``"exact_resume"``):
resuming from it continues the run bit for bit.

A checkpoint *folder* (``step_000050000/``) holds an agent file and a training state;
``latest.json`` beside the folders names the newest complete one and is written last, so a
process killed mid-write leaves the previous one valid.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors.torch import save_file

from agents.agent_file import FORMAT_VERSION, agent_paths, read_json, read_tensors, save_agent
from pretrain.atomic_write import atomic_path, atomic_write_text
from pretrain.errors import SequenceTutorError

if TYPE_CHECKING:
    from agents.kl_control import SequenceTutorDQN

TRAINING_FORMAT = "sequence-tutor-agent-training"


def save_training_state(
    model: SequenceTutorDQN, path: str | os.PathLike, *, exact_resume: bool = True
) -> tuple[Path, Path]:
    """Write what ``--resume`` needs beyond the weights: optimiser, replay buffer, RNGs, counters.

    :param exact_resume: the model is between rollouts (e.g. in ``on_rollout_start``); if every
        env is also at the start of a composition, store what a bit-identical resume needs.
    """
    weights_path, config_path = agent_paths(path)
    tensors, state = model.training_state(exact_resume=exact_resume)
    with atomic_path(weights_path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": TRAINING_FORMAT})
    meta = {"format": TRAINING_FORMAT, "version": FORMAT_VERSION, **state}
    atomic_write_text(config_path, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return weights_path, config_path


def load_training_state(model: SequenceTutorDQN, path: str | os.PathLike) -> None:
    """Restore what :func:`save_training_state` wrote into a freshly loaded agent."""
    weights_path, config_path = agent_paths(path)
    meta = read_json(config_path, TRAINING_FORMAT, "training state")
    tensors = read_tensors(weights_path, "training state")
    try:
        model.restore_training_state(tensors, meta)
    except (KeyError, TypeError, ValueError, RuntimeError, OverflowError) as exc:
        raise SequenceTutorError(
            f"{weights_path}: training state does not fit this agent ({exc})"
        ) from None


def latest_checkpoint(folder: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint folder under ``folder`` (per ``latest.json``), or None."""
    pointer = Path(folder) / "latest.json"
    if not pointer.is_file():
        return None
    try:
        name = json.loads(pointer.read_text(encoding="utf-8"))["checkpoint"]
    except (
        OSError,
        UnicodeDecodeError,
        json.JSONDecodeError,
        KeyError,
        TypeError,
        RecursionError,
    ) as exc:
        raise SequenceTutorError(f"{pointer}: unreadable checkpoint pointer ({exc})") from None
    path = Path(folder) / str(name)
    # a bare name of a folder beside latest.json: never "..", "/abs" or "a/../b"
    if Path(str(name)).name != name or name in (".", "..") or not path.is_dir():
        raise SequenceTutorError(f"{pointer}: names a missing checkpoint {name!r}")
    return path


def write_checkpoint(
    model: SequenceTutorDQN,
    folder: str | os.PathLike,
    *,
    keep: int = 2,
    exact_resume: bool = True,
    **agent_kwargs: Any,
) -> Path:
    """Write ``folder/step_N/`` (agent + training state), point ``latest.json`` at it, prune.

    :param exact_resume: see :func:`save_training_state` (False when interrupted mid-rollout).
    """

    def write(target: Path) -> None:
        save_training_state(model, target / "training", exact_resume=exact_resume)
        save_agent(model, target / "agent", **agent_kwargs)

    return checkpoint_folder(folder, int(model.num_timesteps), write, keep=keep)


def checkpoint_folder(
    folder: str | os.PathLike, num_timesteps: int, write: Callable[[Path], None], *, keep: int = 2
) -> Path:
    """The checkpoint-folder protocol of every agent: ``write(folder/step_N)`` fills the new
    folder, then ``latest.json`` points at it (written last, so a kill mid-write leaves the
    previous checkpoint named), then all but the ``keep`` newest folders go."""
    folder = Path(folder)
    name = f"step_{num_timesteps:09d}"
    target = folder / name
    target.mkdir(parents=True, exist_ok=True)
    write(target)
    pointer = {"checkpoint": name, "num_timesteps": num_timesteps}
    atomic_write_text(folder / "latest.json", json.dumps(pointer) + "\n")
    old = sorted(p for p in folder.glob("step_*") if p.is_dir() and p.name != name)
    for stale in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(stale, ignore_errors=True)
    return target


__all__ = [
    "TRAINING_FORMAT",
    "checkpoint_folder",
    "latest_checkpoint",
    "load_training_state",
    "save_training_state",
    "write_checkpoint",
]
