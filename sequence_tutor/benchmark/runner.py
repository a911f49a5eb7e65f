"""One benchmark run, start to finish: build the env and agent, train, sample, measure, save.

Every agent trains on the same wrapped env (:class:`EpisodeRecorder`), which counts env steps and
records each training episode's return and reward terms, so learning curves and throughput are
measured the same way for SB3 algorithms, our KL-control agents and a user's agent alike. After
training the agent composes ``eval_episodes`` melodies with ``predict(obs, deterministic=False)``
(sampling, not greedy, as the paper evaluates) on a fresh env whose primers depend only on the
seed, so every agent of a seed is judged on the same primers.

The run's ``metrics.json`` is written last and atomically: its presence means the run finished.
A user agent's ``action_probabilities`` is checked on a batch of reset observations right after
the agent is built, before training, so a wrong shape or non-probabilities fail in seconds; a run
that fails (with any exception) removes its folder unless a finished ``metrics.json`` is in it,
so nothing half-written is left behind. A run killed outright (SIGKILL, power loss) leaves its
folder without ``metrics.json``; ``--resume`` redoes it.
"""

from __future__ import annotations

import datetime as _dt
import inspect
import json
import math
import os
import platform
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from agents.sampling import write_jsonl
from envs.config import EnvConfig
from pretrain.atomic_write import atomic_write_text
from pretrain.errors import SequenceTutorError
from sequence_tutor.benchmark.agent_factories import build_agent, composing_agent
from sequence_tutor.benchmark.spec import BUILTIN_AGENT_NAMES, RunSpec

__all__ = [
    "METRICS_FILE",
    "EpisodeRecorder",
    "check_user_probabilities",
    "discard_unfinished",
    "evaluate_agent",
    "execute_run",
    "load_metrics",
    "make_env",
    "run_dir",
]

METRICS_FILE = "metrics.json"
SAMPLES_FILE = "samples.jsonl"
# The compositions the objective (J, KL, log p) was measured on, sampled from the agent's policy.
OBJECTIVE_SAMPLES_FILE = "objective_samples.jsonl"
# Seed offset of the evaluation env: primers independent of the training episodes' primers.
EVAL_SEED_OFFSET = 1_000_003
# The paper's reward (c = 0.5, w = 1): a return comparable across runs that change c or w.
PAPER_REWARD_SCALE = 0.5
PAPER_NOTE_RNN_WEIGHT = 1.0
CURVE_POINTS = 200


def run_dir(out_dir: str | Path, spec: RunSpec) -> Path:
    """Folder of one run inside a benchmark's output folder."""
    return Path(out_dir) / "runs" / spec.run_id


def load_metrics(path: str | Path) -> dict[str, Any] | None:
    """A finished run's metrics, or None if the file is missing or unreadable (unfinished)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def make_env(spec: RunSpec) -> Any:
    """``gym.make(spec.env_id, **spec.env_kwargs)``, with a one-line error for bad kwargs."""
    import envs  # noqa: F401 - registers SequenceTutor-v0

    try:
        return gym.make(spec.env_id, **spec.env_kwargs)
    except gym.error.Error as exc:
        raise SequenceTutorError(f"--env-id: cannot make {spec.env_id!r} ({exc})") from None
    except (TypeError, ValueError) as exc:
        raise SequenceTutorError(
            f"--env-kwargs: {json.dumps(spec.env_kwargs)} not accepted by {spec.env_id} ({exc})"
        ) from None


class EpisodeRecorder(gym.Wrapper):
    """Counts env steps and records every finished episode (end step, return, reward terms).

    Passes ``action_masks()`` through for MaskablePPO. With ``writer`` (a TensorBoard
    ``SummaryWriter``) each episode is also logged under ``benchmark/episode_return`` and
    ``benchmark/reward_terms/<name>``.
    """

    def __init__(self, env: Any, writer: Any = None) -> None:
        super().__init__(env)
        self.writer = writer
        self.total_steps = 0
        self.episode_ends: list[int] = []
        self.episode_returns: list[float] = []
        self._return = 0.0
        self._terms: dict[str, float] = {}

    def reset(self, **kwargs: Any) -> Any:
        self._return = 0.0
        self._terms = {}
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> Any:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.total_steps += 1
        self._return += float(reward)
        for name, value in (info.get("reward_terms") or {}).items():
            self._terms[name] = self._terms.get(name, 0.0) + float(value)
        if terminated or truncated:
            self.episode_ends.append(self.total_steps)
            self.episode_returns.append(self._return)
            if self.writer is not None:
                self.writer.add_scalar("benchmark/episode_return", self._return, self.total_steps)
                for name, value in self._terms.items():
                    self.writer.add_scalar(
                        f"benchmark/reward_terms/{name}", value, self.total_steps
                    )
            self._return = 0.0
            self._terms = {}
        return obs, reward, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        return self.env.get_wrapper_attr("action_masks")()


def _predict_caller(agent: Any) -> Callable[[Any, Any, Any, bool, Any], tuple[Any, Any]]:
    """Adapt to the agent's ``predict``: SB3 (state, episode_start, action_masks) or plain."""
    try:
        params = inspect.signature(agent.predict).parameters
    except (TypeError, ValueError):
        params = {}
    takes_state = "state" in params and "episode_start" in params
    takes_masks = "action_masks" in params

    def call(
        obs: Any, state: Any, episode_start: Any, deterministic: bool, env: Any
    ) -> tuple[Any, Any]:
        kwargs: dict[str, Any] = {"deterministic": deterministic}
        if takes_state:
            kwargs.update(state=state, episode_start=episode_start)
        if takes_masks:
            kwargs["action_masks"] = env.get_wrapper_attr("action_masks")()
        result = agent.predict(obs, **kwargs)
        if isinstance(result, tuple) and len(result) == 2:
            return result[0], result[1]
        return result, None

    return call


def evaluate_agent(agent: Any, env: Any, episodes: int, seed: int) -> dict[str, Any]:
    """Compose ``episodes`` melodies with ``agent.predict(..., deterministic=False)``.

    Returns the compositions (``tokens``), primers, per-episode returns, per-episode sums of
    ``info["log_prob"]`` (log p of the composition under the env's Reward RNN, i.e. the Note RNN)
    and of each reward term, and the return under the paper's reward (c = 0.5, w = 1).
    """
    predict = _predict_caller(agent)
    unwrapped = env.unwrapped
    compositions, primers, returns, log_probs, paper_returns = [], [], [], [], []
    rule_sums: list[float] = []
    term_sums: dict[str, list[float]] = {}
    obs, _ = env.reset(seed=seed)
    for episode in range(episodes):
        if episode:
            obs, _ = env.reset()
        primer = getattr(unwrapped, "primer", None)
        primer = [int(t) for t in np.atleast_1d(primer)] if primer is not None else [int(obs[0])]
        state, episode_start = None, np.ones((1,), dtype=bool)
        total, log_p, rule_sum, terms = 0.0, 0.0, 0.0, {}
        has_log_p = False
        taken: list[int] = []
        while True:
            action, state = predict(obs, state, episode_start, False, env)
            action = int(np.asarray(action).reshape(-1)[0])
            episode_start = np.zeros((1,), dtype=bool)
            obs, reward, terminated, truncated, info = env.step(action)
            taken.append(action)
            total += float(reward)
            if "log_prob" in info:
                has_log_p = True
                log_p += float(info["log_prob"])
            for name, value in (info.get("reward_terms") or {}).items():
                terms[name] = terms.get(name, 0.0) + float(value)
                if name != "note_rnn":
                    rule_sum += float(value)
            if terminated or truncated:
                break
        composition = getattr(unwrapped, "composition", None)
        tokens = [int(t) for t in (composition if composition is not None else taken)]
        compositions.append(tokens)
        rule_sums.append(rule_sum)
        primers.append(primer)
        returns.append(total)
        if has_log_p:
            log_probs.append(log_p)
            paper_returns.append(rule_sum / PAPER_REWARD_SCALE + PAPER_NOTE_RNN_WEIGHT * log_p)
        for name, value in terms.items():
            term_sums.setdefault(name, []).append(value)
    return {
        "compositions": compositions,
        "primers": primers,
        "returns": returns,
        "log_probs": log_probs,
        "paper_returns": paper_returns,
        "rule_sums": rule_sums,
        "reward_scale": float(getattr(unwrapped, "reward_scale", PAPER_REWARD_SCALE)),
        "note_rnn_weight": float(getattr(unwrapped, "note_rnn_weight", PAPER_NOTE_RNN_WEIGHT)),
        "reward_terms": term_sums,
    }


def composition_statistics(
    compositions: list[list[int]],
    primers: list[list[int]],
    key: str,
    agent: str,
    note_rnn: str | None = None,
) -> tuple[dict[str, float | None], dict[str, float]]:
    """``(statistics, reward_terms)`` of the compositions, from :mod:`sequence_tutor.evaluation.table1`.

    The statistics are the paper's Table 1 rows, log p under the Note RNN (``note_rnn``, default
    the shipped one), the mean total reward under c = 0.5, w = 1, and the MusPy metrics, computed
    by the same code as ``sequence-tutor evaluate`` so the two can never disagree. Empty when
    that module is not installed.
    """
    try:
        from agents.sampling import Samples
        from sequence_tutor.evaluation.table1 import evaluate_samples
    except ModuleNotFoundError as exc:
        if exc.name not in ("sequence_tutor.evaluation.table1", "agents.sampling"):
            raise
        return {}, {}
    from pretrain.checkpoint import default_checkpoint, load_note_rnn

    model, _ = load_note_rnn(note_rnn if note_rnn is not None else default_checkpoint("lstm"))
    samples = Samples(np.asarray(compositions, dtype=np.int64), primers, key=key, agent=agent)
    evaluation = evaluate_samples(samples, model)
    return (
        {k: _finite_or_none(v) for k, v in evaluation.values.items()},
        {k: float(v) for k, v in evaluation.reward_terms.items()},
    )


def _finite_or_none(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _binned_curve(
    ends: list[int], returns: list[float], points: int = CURVE_POINTS
) -> dict[str, list]:
    """Mean episode return over consecutive windows, at most ``points`` points (x = last step)."""
    if not ends:
        return {"steps": [], "returns": []}
    size = max(1, math.ceil(len(ends) / points))
    steps, means = [], []
    for start in range(0, len(ends), size):
        steps.append(int(ends[min(start + size, len(ends)) - 1]))
        means.append(float(np.mean(returns[start : start + size])))
    return {"steps": steps, "returns": means}


CURVE_TAG = "rollout/ep_rew_mean"


def tensorboard_curve(folder: Path, tag: str = CURVE_TAG) -> dict[str, list]:
    """The learning curve an agent logged itself (``tag``: SB3's mean episode return per
    rollout) under ``folder``, for agents that step envs of their own (the policy gradients),
    which :class:`EpisodeRecorder` does not see; empty when none was logged."""
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:  # pragma: no cover - tensorboard comes with the torch extra
        return {"steps": [], "returns": []}
    steps: list[int] = []
    values: list[float] = []
    for run in sorted(p for p in folder.glob("*") if p.is_dir()):
        events = EventAccumulator(str(run), size_guidance={"scalars": 0})
        events.Reload()
        if tag in events.Tags().get("scalars", []):
            for event in events.Scalars(tag):
                steps.append(int(event.step))
                values.append(float(event.value))
    order = np.argsort(steps, kind="stable")
    return _binned_curve([steps[i] for i in order], [values[i] for i in order])


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - a user's agent may draw from the global RNG
    torch.manual_seed(seed)


def _versions() -> dict[str, str]:
    import gymnasium
    import stable_baselines3
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gymnasium": gymnasium.__version__,
        "stable_baselines3": stable_baselines3.__version__,
    }


def execute_run(spec: RunSpec | dict[str, Any], out_dir: str | Path) -> dict[str, Any]:
    """Train and evaluate one run; write ``runs/<run_id>/metrics.json``; return the metrics.

    Safe to call in a worker process or a Ray trial (``spec`` may be a dict).
    """
    import torch

    if isinstance(spec, dict):
        spec = RunSpec.from_dict(spec)
    torch.set_num_threads(1)  # several runs share the machine; more threads stall LSTM calls
    folder = run_dir(out_dir, spec)
    # A rerun (an interrupted run, or no --resume) replaces the run: no stale curves in its logs.
    shutil.rmtree(folder / "tb", ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return _execute(spec, folder)
    except Exception:
        discard_unfinished(folder)
        raise


def discard_unfinished(folder: Path) -> None:
    """Remove a failed run's folder (TensorBoard logs, samples) unless it holds a finished
    ``metrics.json`` (of an earlier run of the same id, kept)."""
    if not (folder / METRICS_FILE).exists():
        shutil.rmtree(folder, ignore_errors=True)


def _execute(spec: RunSpec, folder: Path) -> dict[str, Any]:
    """:func:`execute_run` in the run's (created) folder."""
    from torch.utils.tensorboard import SummaryWriter

    _seed_everything(spec.seed)

    writer = SummaryWriter(log_dir=str(folder / "tb" / "episodes"))
    try:
        env = EpisodeRecorder(make_env(spec), writer=writer)
        env.reset(seed=spec.seed)
        agent = build_agent(
            spec.agent,
            env,
            seed=spec.seed,
            tensorboard_log=folder / "tb",
            hyperparams=spec.hyperparams,
            steps=spec.steps,
            note_rnn=_checkpoint_path(spec.env_kwargs.get("reward_rnn")),
            env_kwargs=spec.env_kwargs,
        )
        check_user_probabilities(agent, spec)  # before training: fail in seconds, not hours
        start = time.perf_counter()
        if spec.steps > 0:  # random and note-rnn learn nothing: their learn() returns at once
            agent.learn(spec.steps)
        train_wall = time.perf_counter() - start
        env.close()
    finally:
        writer.close()

    eval_env = make_env(spec)
    start = time.perf_counter()
    evaluation = evaluate_agent(
        composing_agent(spec.agent, agent),
        eval_env,
        spec.eval_episodes,
        seed=spec.seed + EVAL_SEED_OFFSET,
    )
    eval_wall = time.perf_counter() - start
    eval_env.close()
    # Before anything of the evaluation is written: a bad action_probabilities fails the run here.
    objective, objective_samples = objective_metrics(agent, spec, evaluation)
    if objective_samples is not None:
        write_jsonl(objective_samples, folder / OBJECTIVE_SAMPLES_FILE)

    key = str(spec.env_kwargs.get("key", EnvConfig.key))
    lines = [
        json.dumps(
            {"tokens": tokens, "primer": primer, "key": key, "agent": spec.agent, "seed": spec.seed}
        )
        for tokens, primer in zip(evaluation["compositions"], evaluation["primers"])
    ]
    atomic_write_text(folder / SAMPLES_FILE, "\n".join(lines) + "\n")

    returns = np.asarray(evaluation["returns"], dtype=float)
    note_rnn = _checkpoint_path(spec.env_kwargs.get("reward_rnn"))
    statistics, reward_terms = composition_statistics(
        evaluation["compositions"], evaluation["primers"], key, spec.agent, note_rnn
    )
    table1 = {k: statistics[k] for k in _table1_keys() if k in statistics}
    metrics: dict[str, Any] = {
        "run_id": spec.run_id,
        "spec": spec.to_dict(),
        "agent": spec.agent,
        "seed": spec.seed,
        "setting": spec.setting,
        "env_kwargs": spec.env_kwargs,
        # the policy-gradient agents step vector envs of their own, counted by themselves
        "train_steps": env.total_steps or int(getattr(agent, "num_timesteps", 0)),
        "train_episodes": len(env.episode_returns),
        "train_wall_s": train_wall,
        "steps_per_s": _rate(env.total_steps or getattr(agent, "num_timesteps", 0), train_wall),
        "eval_episodes": spec.eval_episodes,
        "eval_wall_s": eval_wall,
        "mean_return": float(returns.mean()),
        "std_return": float(returns.std()),
        # Both from sequence_tutor.evaluation.table1 when installed; else from the env's per-step info.
        "paper_return": statistics.get("reward", _mean_or_none(evaluation["paper_returns"])),
        **objective,
        "reward_terms": reward_terms
        or {k: float(np.mean(v)) for k, v in evaluation["reward_terms"].items()},
        "table1": table1,
        "statistics": statistics,
        "curve": _binned_curve(env.episode_ends, env.episode_returns)
        if env.episode_ends
        else tensorboard_curve(folder / "tb"),
        "versions": _versions(),
        "host": platform.node(),
        "pid": os.getpid(),
        "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_text(folder / METRICS_FILE, json.dumps(metrics, indent=1) + "\n")
    return metrics


def check_user_probabilities(agent: Any, spec: RunSpec) -> None:
    """A user agent's ``action_probabilities`` on the reset observations the objective will
    start from (:func:`sequence_tutor.evaluation.objective.check_action_probabilities`): a
    wrong shape, non-probabilities or an exception is a one-line error naming the agent. The
    built-in agents' distributions are covered by the test suite and are not probed."""
    if spec.agent in BUILTIN_AGENT_NAMES:
        return
    from sequence_tutor.evaluation.objective import check_action_probabilities

    check_action_probabilities(
        agent,
        spec.eval_episodes,
        seed=spec.seed + EVAL_SEED_OFFSET,
        name=spec.agent,
        env_kwargs=spec.env_kwargs,
    )


def _predict_only_metrics(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The objective's parts that need no action distribution, from the evaluation episodes
    (``predict`` compositions): KL and J are not available (None)."""
    scale = evaluation["reward_scale"]
    rule = _mean_or_none(evaluation["rule_sums"])
    return {
        "objective": None,
        "rule_reward": rule,
        "rule_reward_scaled": None if rule is None else rule / scale,
        "kl_to_prior": None,
        "log_p_note_rnn": _mean_or_none(evaluation["log_probs"]),
        "log_pi": None,
        "reward_scale": scale,
        "note_rnn_weight": evaluation["note_rnn_weight"],
        "objective_standard_errors": {},
    }


def objective_metrics(
    agent: Any, spec: RunSpec, evaluation: dict[str, Any]
) -> tuple[dict[str, Any], Any]:
    """The objective of DESIGN.md over ``spec.eval_episodes`` compositions of ``agent``
    (:func:`sequence_tutor.evaluation.objective.measure_objective`, primers of the evaluation
    seed), and those compositions.

    ``objective`` is J = Σ r_theory/c − w Σ KL, ``rule_reward`` the raw Σ r_theory per
    composition (comparable across reward scales c), ``rule_reward_scaled`` Σ r_theory/c,
    ``kl_to_prior`` the exact Σ_t KL(π ‖ p), ``log_p_note_rnn`` log p(composition) under the
    Note RNN; for an agent with no action distribution (``predict`` only) KL and J are None
    (not available), the rest comes from the ``evaluation`` episodes, and there are no extra
    compositions (None).
    """
    from sequence_tutor.evaluation.objective import action_distribution, measure_objective

    composer = composing_agent(spec.agent, agent)
    if action_distribution(composer) is None:
        return _predict_only_metrics(evaluation), None
    estimate = measure_objective(
        composer,
        spec.eval_episodes,
        seed=spec.seed + EVAL_SEED_OFFSET,
        name=spec.agent,
        env_kwargs=spec.env_kwargs,
    )
    values = estimate.as_dict()
    scaled = values["theory"]
    metrics = {
        "objective": values["J"],
        "rule_reward": None if scaled is None else scaled * estimate.reward_scale,
        "rule_reward_scaled": scaled,
        "kl_to_prior": values["kl"],
        "log_p_note_rnn": values["log_p"],
        "log_pi": values["log_pi"],
        "reward_scale": estimate.reward_scale,
        "note_rnn_weight": estimate.note_rnn_weight,
        "objective_standard_errors": {
            key: _finite_or_none(estimate.standard_error(key))
            for key in ("J", "theory", "kl", "log_p")
        },
    }
    return metrics, estimate.samples


def _rate(steps: int, seconds: float) -> float | None:
    return steps / seconds if steps and seconds > 0 else None


def _table1_keys() -> list[str]:
    try:
        from sequence_tutor.evaluation.table1 import TABLE1_ROWS
    except ModuleNotFoundError:
        return []
    return [key for key, _, _ in TABLE1_ROWS]


def _checkpoint_path(value: Any) -> str | None:
    return str(value) if isinstance(value, (str, os.PathLike)) else None


def _mean_or_none(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None
