"""What one benchmark run is, and how the command line's lists become runs.

A benchmark is the product *agents × env settings × seeds*; every run gets the same step budget.
A run's folder name carries a short hash of everything that changes its outcome (env id and
kwargs, budget, evaluation size, hyper-parameters), so ``--resume`` never mistakes a run made
with other settings for a finished one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from agents.config import ALL_ALGORITHMS
from pretrain.errors import SequenceTutorError

__all__ = [
    "BUILTIN_AGENT_NAMES",
    "DEFAULT_ENV_ID",
    "RunSpec",
    "expand_runs",
    "parse_agents",
    "parse_env_kwargs",
    "parse_reward_scales",
    "parse_seeds",
    "with_reward_scales",
]

DEFAULT_ENV_ID = "SequenceTutor-v0"

# Built-in agents, in the order the results table lists them (baselines first).
BUILTIN_AGENT_NAMES = (
    "random",
    "note-rnn",
    *ALL_ALGORITHMS,  # ours: q, psi, g, rloo, grpo, ppo-kl (agents.config)
    "dqn-mlp",
    "ppo",
    "maskable-ppo",
    "recurrent-ppo",
)

_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class RunSpec:
    """One benchmark run: an agent trained for ``steps`` env steps on one env setting, one seed.

    :param agent: a built-in name (see ``BUILTIN_AGENT_NAMES``) or ``"package.module:factory"``.
    :param seed: seeds the agent, the env and the global RNGs (Python, NumPy, torch).
    :param steps: training budget in env steps, passed to ``agent.learn``.
    :param env_kwargs: keyword arguments of ``gym.make(env_id, **env_kwargs)``.
    :param env_id: the registered Gymnasium id.
    :param eval_episodes: compositions sampled after training for the statistics.
    :param hyperparams: constructor overrides for built-in agents (the search mode sets these).
    :param setting: index of the env setting in the benchmark (for labels only).
    """

    agent: str
    seed: int
    steps: int
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    env_id: str = DEFAULT_ENV_ID
    eval_episodes: int = 100
    hyperparams: dict[str, Any] = field(default_factory=dict)
    setting: int = 0

    @property
    def config_hash(self) -> str:
        """Eight hex digits over everything but the agent, seed and setting label."""
        payload = json.dumps(
            {
                "env_id": self.env_id,
                "env_kwargs": self.env_kwargs,
                "steps": self.steps,
                "eval_episodes": self.eval_episodes,
                "hyperparams": self.hyperparams,
            },
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:8]

    @property
    def agent_label(self) -> str:
        """The agent as the table shows it: built-in name, or the factory's ``module:name``."""
        return self.agent

    @property
    def run_id(self) -> str:
        """Folder name of the run, unique within a benchmark and stable across restarts."""
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.agent)
        return f"{slug}__seed{self.seed}__{self.config_hash}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (goes into ``metrics.json`` and across process/Ray boundaries)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


def parse_agents(texts: Iterable[str]) -> list[str]:
    """Split comma-separated agent lists; each entry is a built-in name or ``module:factory``.

    Raises :class:`SequenceTutorError` naming an entry that is neither, and for an empty list.
    """
    agents: list[str] = []
    for text in texts:
        for entry in (part.strip() for part in text.split(",")):
            if not entry:
                continue
            if entry not in BUILTIN_AGENT_NAMES and not _IMPORT_PATH.match(entry):
                raise SequenceTutorError(
                    f"--agents: {entry!r} is neither a built-in agent "
                    f"({', '.join(BUILTIN_AGENT_NAMES)}) nor an import path 'package.module:factory'"
                )
            if entry not in agents:
                agents.append(entry)
    if not agents:
        raise SequenceTutorError("--agents: the agent list is empty; name at least one agent")
    return agents


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` or ranges ``"0-4"`` (inclusive) -> sorted unique seeds; empty is an error."""
    seeds: list[int] = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        match = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        try:
            if match:
                low, high = int(match.group(1)), int(match.group(2))
                if high < low:
                    raise ValueError
                seeds.extend(range(low, high + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise SequenceTutorError(
                f"--seeds: {part!r} is not a non-negative integer or a range like 0-4"
            ) from None
    if not seeds:
        raise SequenceTutorError(
            f"--seeds: the seed list {text!r} is empty; give integers such as --seeds 0,1"
        )
    if any(seed < 0 for seed in seeds):
        raise SequenceTutorError(f"--seeds: {text!r} holds a negative seed; seeds must be >= 0")
    return sorted(set(seeds))


def parse_env_kwargs(texts: Sequence[str] | None) -> list[dict[str, Any]]:
    """Each ``--env-kwargs`` is one env setting: a JSON object, a JSON list of objects, or
    ``key=value[,key=value...]`` with each value read as JSON when it parses (``0.5``, ``true``)
    and as a string otherwise (``key=A minor``). No ``--env-kwargs`` means one default setting.
    """
    if not texts:
        return [{}]
    settings: list[dict[str, Any]] = []
    for text in texts:
        stripped = text.strip()
        if stripped.startswith(("{", "[")):
            try:
                value = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise SequenceTutorError(
                    f"--env-kwargs: {text!r} is not valid JSON ({exc.msg})"
                ) from None
            items = value if isinstance(value, list) else [value]
            for item in items:
                if not isinstance(item, dict):
                    raise SequenceTutorError(
                        f"--env-kwargs: {text!r} must be a JSON object or a list of objects"
                    )
                settings.append(dict(item))
            continue
        setting: dict[str, Any] = {}
        for pair in (p for p in stripped.split(",") if p.strip()):
            key, sep, raw = pair.partition("=")
            key = key.strip()
            if not sep or not key.isidentifier():
                raise SequenceTutorError(
                    f"--env-kwargs: {pair.strip()!r} in {text!r} is not key=value "
                    "(or give a JSON object)"
                )
            try:
                setting[key] = json.loads(raw.strip())
            except json.JSONDecodeError:
                setting[key] = raw.strip()
        settings.append(setting)
    return settings


def parse_reward_scales(text: str) -> list[float]:
    """``"0.1,0.5,2,8"`` -> the reward scales c, in the given order (duplicates dropped).

    Each must be a finite number > 0; an empty list is an error naming the input.
    """
    scales: list[float] = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        try:
            value = float(part)
        except ValueError:
            raise SequenceTutorError(
                f"--reward-scales: {part!r} in {text!r} is not a number; give positive numbers "
                "such as 0.5,2"
            ) from None
        if not (value > 0 and value < float("inf")):
            raise SequenceTutorError(
                f"--reward-scales: {part!r} in {text!r} must be a finite number > 0 "
                "(the env divides r_theory by c)"
            )
        if value not in scales:
            scales.append(value)
    if not scales:
        raise SequenceTutorError(
            f"--reward-scales: the list {text!r} is empty; give positive numbers such as 0.5,2"
        )
    return scales


def with_reward_scales(
    settings: Sequence[dict[str, Any]], reward_scales: str | None
) -> list[dict[str, Any]]:
    """Every env setting at each of ``--reward-scales`` (None: the settings unchanged)."""
    if reward_scales is None:
        return [dict(s) for s in settings]
    scales = parse_reward_scales(reward_scales)
    for setting in settings:
        if "reward_scale" in setting:
            raise SequenceTutorError(
                "--reward-scales: an --env-kwargs setting sets reward_scale already "
                f"({setting['reward_scale']!r}); give c in one of the two"
            )
    return [{**setting, "reward_scale": scale} for setting in settings for scale in scales]


def expand_runs(
    agents: Sequence[str],
    seeds: Sequence[int],
    env_settings: Sequence[dict[str, Any]],
    *,
    steps: int,
    env_id: str = DEFAULT_ENV_ID,
    eval_episodes: int = 100,
    hyperparams: dict[str, dict[str, Any]] | None = None,
) -> list[RunSpec]:
    """The run list, ordered seed-major so an interrupted sweep has every agent at low seeds."""
    if steps < 0:
        raise SequenceTutorError(f"--steps: {steps} is negative; give a step budget >= 0")
    if eval_episodes < 1:
        raise SequenceTutorError(f"--eval-episodes: {eval_episodes} must be at least 1")
    if not seeds:
        raise SequenceTutorError("--seeds: the seed list is empty; give integers such as 0,1")
    hyperparams = hyperparams or {}
    runs = []
    for seed in seeds:
        for index, env_kwargs in enumerate(env_settings):
            for agent in agents:
                runs.append(
                    RunSpec(
                        agent=agent,
                        seed=int(seed),
                        steps=int(steps),
                        env_kwargs=dict(env_kwargs),
                        env_id=env_id,
                        eval_episodes=int(eval_episodes),
                        hyperparams=dict(hyperparams.get(agent, {})),
                        setting=index,
                    )
                )
    return runs
