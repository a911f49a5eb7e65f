"""Agent checkpoints: safetensors weights plus JSON, never pickle.

An agent named ``NAME`` is ``NAME.safetensors`` (the policy's tensors: ``q_net.*``,
``q_net_target.*`` and, for G-learning, the frozen ``prior.*``) and ``NAME.json``::

    {"format": "sequence-tutor-agent", "version": 1, "algo": "psi",
     "note_rnn_config": {...}, "vocabulary": {...}, "melody_length": 32,
     "hyperparameters": {...}, "num_timesteps": 100000, "env_kwargs": {...}, "metadata": {...}}

Loading builds the model from the JSON and copies the tensors in (SB3's ``DQN.load`` unpickles
and can run code from a foreign file; it is never used here).

For ``--resume`` a training checkpoint adds ``training.safetensors`` + ``training.json``: Adam's
state, the replay buffer's episodes, the RNG states and SB3's counters. A checkpoint taken where
every env has just started a composition and SB3 is about to collect a rollout (what
:class:`CheckpointCallback` waits for) also stores the envs' observations and their
``np_random`` states (``"exact_resume"``): resuming from it continues the run bit for bit.
A checkpoint *folder* (``step_000050000/``) holds both pairs; ``latest.json`` beside the folders
names the newest complete one and is written last, so a process killed mid-write leaves the
previous one valid.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from stable_baselines3.common.callbacks import BaseCallback

from pretrain.atomic_write import atomic_path, atomic_write_text
from pretrain.errors import SequenceTutorError
from pretrain.models import NoteRNNConfig
from pretrain.vocabulary import DEFAULT_VOCABULARY, Vocabulary

if TYPE_CHECKING:
    from agents.kl_control import SequenceTutorDQN
    from agents.policy import NoteRNNPolicy

FORMAT = "sequence-tutor-agent"
TRAINING_FORMAT = "sequence-tutor-agent-training"
FORMAT_VERSION = 1
MAX_BYTES = 1024 * 1024 * 1024
MAX_JSON_BYTES = 1024 * 1024
MAX_BUFFER_SIZE = 100_000_000
AGENT_DIR = Path(__file__).resolve().parent / "checkpoints"
SHIPPED_AGENTS = {"psi": "psi_agent"}
HYPERPARAMETERS = (
    "buffer_size",
    "learning_starts",
    "batch_size",
    "tau",
    "gamma",
    "gradient_steps",
    "loss_name",
    "exploration",
    "exploration_fraction",
    "exploration_initial_eps",
    "exploration_final_eps",
    "note_rnn_weight",
    "max_grad_norm",
)


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
def _hyperparameters(model: SequenceTutorDQN) -> dict[str, Any]:
    values = {name: getattr(model, name) for name in HYPERPARAMETERS}
    values["loss"] = values.pop("loss_name")
    values["learning_rate"] = float(model.lr_schedule(1.0))
    values["train_freq"] = [int(model.train_freq.frequency), model.train_freq.unit.value]
    values["temperature"] = model.policy.temperature
    return values


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
        "hyperparameters": _hyperparameters(model),
        "num_timesteps": int(model.num_timesteps),
        "env_kwargs": env_kwargs or {},
        "metadata": metadata or {},
    }
    atomic_write_text(config_path, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return weights_path, config_path


def save_training_state(
    model: SequenceTutorDQN, path: str | os.PathLike, *, exact_resume: bool = True
) -> tuple[Path, Path]:
    """Write what ``--resume`` needs beyond the weights: optimiser, replay buffer, RNGs, counters.

    :param exact_resume: the model is between rollouts (e.g. in ``on_rollout_start``); if every
        env is also at the start of a composition, store what a bit-identical resume needs.
    """
    weights_path, config_path = agent_paths(path)
    optimizer = model.policy.optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    for index, state in optimizer["state"].items():
        for key, value in state.items():
            tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value).detach().cpu().clone()
    buffer = model.replay_buffer
    if hasattr(buffer, "state_arrays"):
        for key, value in buffer.state_arrays().items():  # type: ignore[union-attr]
            tensors[f"replay.{key}"] = torch.from_numpy(np.ascontiguousarray(value))
    tensors["rng.torch"] = torch.get_rng_state()
    exact = _exact_resume_state(model) if exact_resume else None
    numpy_state = np.random.get_state()  # noqa: NPY002 (SB3 seeds the global RNG)
    tensors["rng.numpy"] = torch.from_numpy(np.asarray(numpy_state[1], dtype=np.int64))
    with atomic_path(weights_path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": TRAINING_FORMAT})
    meta = {
        "format": TRAINING_FORMAT,
        "version": FORMAT_VERSION,
        "param_groups": optimizer["param_groups"],
        "counters": {
            "num_timesteps": int(model.num_timesteps),
            "n_updates": int(model._n_updates),
            "episode_num": int(model._episode_num),
            "n_calls": int(model._n_calls),
        },
        "rng_numpy": [numpy_state[0], int(numpy_state[2]), int(numpy_state[3]), numpy_state[4]],
        "rng_python": _python_rng_state(),
    }
    if exact is not None:
        meta["exact_resume"] = exact
    atomic_write_text(config_path, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return weights_path, config_path


def at_episode_starts(model: SequenceTutorDQN) -> bool:
    """Whether every env has just started a composition (its observation holds only the
    primer), so no episode is in progress and no recurrent state is carried."""
    obs = getattr(model, "_last_obs", None)
    if not isinstance(obs, np.ndarray) or obs.ndim != 2 or model.env is None:
        return False
    return bool(((obs != model.policy.q_net.pad).sum(axis=1) == 1).all())


def _exact_resume_state(model: SequenceTutorDQN) -> dict | None:
    """What a bit-identical resume needs beyond the counters, weights and global RNGs: the
    envs' current observations (fresh primers) and generators, and ε. None mid-episode."""
    if not at_episode_starts(model):
        return None
    generators = model.env.get_attr("np_random")  # type: ignore[union-attr]
    return {
        "last_obs": np.asarray(model._last_obs).astype(np.int64).tolist(),
        "env_rng": [g.bit_generator.state for g in generators],
        "exploration_rate": float(model.exploration_rate),
    }


def _python_rng_state() -> list:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _restore_exact_resume(model: SequenceTutorDQN, exact: dict) -> bool:
    """Put every env back at the stored primer with its stored generator and hand SB3 the stored
    observation (so ``learn`` does not reset the envs). False (and nothing changed) if the env
    cannot be reset to a given primer (``reset(options={"primer": ...})``)."""
    env = model.env
    last_obs = np.asarray(exact["last_obs"], dtype=np.int64)
    states = exact["env_rng"]
    if env is None or last_obs.shape != (env.num_envs, *model.observation_space.shape):
        raise ValueError(f"stored observations of shape {last_obs.shape} do not fit the env")
    if len(states) != env.num_envs:
        raise ValueError(f"{len(states)} env generator states for {env.num_envs} envs")
    generators = []
    for state in states:
        if not isinstance(state, dict) or state.get("bit_generator") not in ("PCG64", "PCG64DXSM"):
            raise ValueError("env generator state is not a NumPy PCG64 state")
        generator = np.random.Generator(getattr(np.random, state["bit_generator"])())
        generator.bit_generator.state = state
        generators.append(generator)
    for index in range(env.num_envs):
        primer = [int(last_obs[index, 0])]
        obs, _ = env.env_method("reset", options={"primer": primer}, indices=[index])[0]
        if not np.array_equal(np.asarray(obs), last_obs[index]):
            return False
    for index, generator in enumerate(generators):
        env.set_attr("np_random", generator, indices=[index])
    model._last_obs = last_obs.copy()  # type: ignore[assignment]
    model.exploration_rate = float(exact["exploration_rate"])
    return True


# -- reading ---------------------------------------------------------------------------------
def _read_json(path: Path, expected_format: str, what: str) -> dict:
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


def _read_tensors(path: Path, what: str) -> dict[str, torch.Tensor]:
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
    meta = _read_json(config_path, FORMAT, "agent")
    from agents.policy import ALGORITHMS  # noqa: PLC0415

    try:
        if meta["algo"] not in ALGORITHMS:
            raise ValueError(f"algo {meta['algo']!r} is not one of {ALGORITHMS}")
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
            from rewards.keys import key_tables  # noqa: PLC0415

            key_tables(str(env_kwargs["key"]))
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise SequenceTutorError(f"{config_path}: invalid agent config ({exc})") from None
    return meta


_SIZES = ("vocab_size", "hidden_size", "num_layers", "depth")
_KNOWN_HYPERPARAMETERS = {n for n in HYPERPARAMETERS if n != "loss_name"} | {
    "loss", "learning_rate", "train_freq", "temperature"
}  # fmt: skip


def _check_hyperparameters(hyper: dict) -> None:
    """Raise ``ValueError`` for a hyper-parameter a file must not set (only those written by
    :func:`save_agent` reach SB3's constructor) or a value that would crash or exhaust memory."""
    unknown = sorted(set(hyper) - _KNOWN_HYPERPARAMETERS)
    if unknown:
        raise ValueError(f"unknown hyper-parameters {unknown}")
    for name in ("learning_rate", "temperature"):
        if name in hyper:
            value = hyper[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value}")
    for name, top in (("buffer_size", MAX_BUFFER_SIZE), ("batch_size", MAX_BUFFER_SIZE)):
        if name in hyper and (type(hyper[name]) is not int or not 1 <= hyper[name] <= top):
            raise ValueError(f"{name} must be an integer in 1..{top}, got {hyper[name]!r}")


def _check_note_rnn_tensors(meta: dict, tensors: dict[str, torch.Tensor], where: Path) -> None:
    """Compare the file's Q-network weights with the config on a shape-only model first, so a
    config asking for a huge Note RNN fails here instead of allocating it."""
    from pretrain.models import build_note_rnn  # noqa: PLC0415

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


def _load_policy_tensors(policy: NoteRNNPolicy, tensors: dict[str, torch.Tensor], where: Path):
    expected = policy.state_dict()
    problems = sorted(set(expected) ^ set(tensors))
    if not problems:
        problems = [
            f"{k}: {tuple(tensors[k].shape)} != {tuple(v.shape)}"
            for k, v in expected.items()
            if tensors[k].shape != v.shape or tensors[k].dtype != v.dtype
        ]
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
    from agents.policy import NoteRNNPolicy  # noqa: PLC0415

    weights_path, _ = agent_paths(path)
    meta = read_agent_meta(path)
    tensors = _read_tensors(weights_path, "agent")
    _check_note_rnn_tensors(meta, tensors, weights_path)
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
    _load_policy_tensors(policy, tensors, weights_path)
    policy.set_training_mode(False)
    return policy, meta


def load_agent(
    path: str | os.PathLike,
    env: Any,
    *,
    training_state: str | os.PathLike | None = None,
    **overrides: Any,
) -> SequenceTutorDQN:
    """Build a :class:`SequenceTutorDQN` on ``env`` from an agent checkpoint.

    :param training_state: a training-state checkpoint (``training``) to resume from as well.
    :param overrides: constructor arguments replacing the stored hyper-parameters.
    """
    from agents.kl_control import SequenceTutorDQN  # noqa: PLC0415

    weights_path, _ = agent_paths(path)
    meta = read_agent_meta(path)
    tensors = _read_tensors(weights_path, "agent")
    _check_note_rnn_tensors(meta, tensors, weights_path)
    hyper = dict(meta.get("hyperparameters", {}))
    if "train_freq" in hyper:
        hyper["train_freq"] = tuple(hyper["train_freq"])
    hyper.update(overrides)
    try:
        model = SequenceTutorDQN(
            "NoteRNNPolicy", env, algo=meta["algo"], note_rnn=meta["note_rnn_config"], **hyper
        )
    except TypeError as exc:
        raise SequenceTutorError(f"{path}: invalid agent hyper-parameters ({exc})") from None
    if model.melody_length != meta["melody_length"]:
        raise SequenceTutorError(
            f"{weights_path}: agent trained on melodies of {meta['melody_length']} steps, "
            f"the env has {model.melody_length}"
        )
    _load_policy_tensors(model.policy, tensors, weights_path)
    model.num_timesteps = int(meta.get("num_timesteps", 0))
    if training_state is not None:
        load_training_state(model, training_state)
    return model


def load_training_state(model: SequenceTutorDQN, path: str | os.PathLike) -> None:
    """Restore what :func:`save_training_state` wrote into a freshly loaded agent."""
    weights_path, config_path = agent_paths(path)
    meta = _read_json(config_path, TRAINING_FORMAT, "training state")
    tensors = _read_tensors(weights_path, "training state")
    try:
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("optimizer."):
                _, index, name = key.split(".", 2)
                state.setdefault(int(index), {})[name] = value
        model.policy.optimizer.load_state_dict(
            {"state": state, "param_groups": meta["param_groups"]}
        )
        replay = {
            k[len("replay.") :]: v.numpy() for k, v in tensors.items() if k.startswith("replay.")
        }
        if replay and hasattr(model.replay_buffer, "load_state_arrays"):
            model.replay_buffer.load_state_arrays(replay)  # type: ignore[union-attr]
        counters = meta["counters"]
        model.num_timesteps = int(counters["num_timesteps"])
        model._n_updates = int(counters["n_updates"])
        model._episode_num = int(counters["episode_num"])
        model._n_calls = int(counters["n_calls"])
        torch.set_rng_state(tensors["rng.torch"])
        name, pos, has_gauss, cached = meta["rng_numpy"]
        keys = tensors["rng.numpy"].numpy().astype(np.uint32)
        np.random.set_state((name, keys, int(pos), int(has_gauss), float(cached)))  # noqa: NPY002
        if "rng_python" in meta:  # absent from checkpoints written before exact resume
            version, internal, gauss = meta["rng_python"]
            random.setstate((int(version), tuple(int(v) for v in internal), gauss))
        if isinstance(meta.get("exact_resume"), dict):
            _restore_exact_resume(model, meta["exact_resume"])
    except (KeyError, TypeError, ValueError, RuntimeError, OverflowError) as exc:
        raise SequenceTutorError(
            f"{weights_path}: training state does not fit this agent ({exc})"
        ) from None


# -- periodic checkpoints ----------------------------------------------------------------------
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
    folder = Path(folder)
    name = f"step_{int(model.num_timesteps):09d}"
    target = folder / name
    target.mkdir(parents=True, exist_ok=True)
    save_training_state(model, target / "training", exact_resume=exact_resume)
    save_agent(model, target / "agent", **agent_kwargs)
    pointer = {"checkpoint": name, "num_timesteps": int(model.num_timesteps)}
    atomic_write_text(folder / "latest.json", json.dumps(pointer) + "\n")
    old = sorted(p for p in folder.glob("step_*") if p.is_dir() and p.name != name)
    for stale in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(stale, ignore_errors=True)
    return target


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
        if self.model.num_timesteps >= self._next and at_episode_starts(self.model):  # type: ignore[arg-type]
            self._write()

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        if self.model.num_timesteps >= self._next:
            self._write()


__all__ = [
    "CheckpointCallback",
    "agent_paths",
    "at_episode_starts",
    "latest_checkpoint",
    "load_agent",
    "load_agent_policy",
    "load_training_state",
    "read_agent_meta",
    "save_agent",
    "save_training_state",
    "shipped_agent",
    "write_checkpoint",
]
