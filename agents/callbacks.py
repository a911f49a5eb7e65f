"""SB3 callbacks of the KL-control agents: periodic resumable checkpoints."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from agents.training_state import write_checkpoint


class CheckpointCallback(BaseCallback):
    """Write a resumable checkpoint about every ``save_freq`` env steps (safetensors + JSON, no
    pickle).

    A checkpoint is due once ``save_freq`` steps have passed, and is written at the first moment
    after that where SB3 is about to collect a rollout (training on the previous one done) and
    every env has just started a composition, and at the end of ``learn``. Resuming from such a
    point replays exactly what the uninterrupted run does (same rollout and training-step
    timing, no episode in progress). With 32-step compositions and ``train_freq=5`` those points
    come every 160 steps per env, so a checkpoint is up to that much later than due.

    :param folder: where the ``step_N/`` folders and ``latest.json`` go.
    :param save_freq: env steps between checkpoints (counted over all envs).
    :param agent_kwargs: passed to :func:`save_agent` (vocabulary, env_kwargs, metadata).
    """

    def __init__(self, folder: str | os.PathLike, save_freq: int, **agent_kwargs: Any) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.save_freq = int(save_freq)
        self.agent_kwargs = agent_kwargs
        self._next = 0
        self.last_written: int | None = None  # num_timesteps of the newest checkpoint written

    def _on_training_start(self) -> None:
        self._next = (self.model.num_timesteps // self.save_freq + 1) * self.save_freq

    def _write(self) -> None:
        write_checkpoint(self.model, self.folder, **self.agent_kwargs)  # type: ignore[arg-type]
        self.last_written = int(self.model.num_timesteps)
        self._next = (self.model.num_timesteps // self.save_freq + 1) * self.save_freq

    def _on_rollout_start(self) -> None:
        if self.model.num_timesteps >= self._next and self.model.at_composition_starts():  # type: ignore[attr-defined]
            self._write()

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        if self.model.num_timesteps >= self._next:
            self._write()


__all__ = ["CheckpointCallback"]
