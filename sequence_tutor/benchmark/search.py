"""Hyper-parameter search for one algorithm: Optuna alone (local) or Optuna inside Ray Tune.

Tuned: the reward scale c (an env argument), the discount γ, the learning rate and the
exploration of the algorithm (Boltzmann temperature for Ψ/G, ε for Q and SB3 DQN, the entropy
coefficient for the PPO family). Each trial is an ordinary benchmark run (its folder, metrics,
TensorBoard logs), so the results table lists every trial with its parameters.

The objective defaults to ``paper_return``: the evaluation return under the paper's reward
(c = 0.5, w = 1) whatever c the trial trained with, since returns under different c are not
comparable. Optuna's study lives in ``OUT/optuna.db`` (SQLite), so ``--resume`` continues it;
with Ray, Tune's experiment in ``OUT/ray_results`` is restored instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pretrain.errors import SequenceTutorError
from sequence_tutor.benchmark.local_backend import RunFailure
from sequence_tutor.benchmark.runner import execute_run
from sequence_tutor.benchmark.spec import RunSpec

__all__ = [
    "OBJECTIVES",
    "SEARCH_SPACES",
    "Param",
    "check_search",
    "import_optuna",
    "run_search",
    "search_space",
]

OPTUNA_EXTRA_HINT = "pip install 'sequence-tutor-gym[optuna]'"
OBJECTIVES = ("paper_return", "mean_return", "log_p_note_rnn")


@dataclass(frozen=True)
class Param:
    """One tuned parameter: where it goes (``env`` kwargs or agent ``hyperparams``) and its range."""

    name: str
    target: str  # "env" | "agent"
    low: float
    high: float
    log: bool = False


_C = Param("reward_scale", "env", 0.1, 10.0, log=True)
_GAMMA = Param("gamma", "agent", 0.3, 0.99)
_LR = Param("learning_rate", "agent", 1e-5, 1e-2, log=True)

SEARCH_SPACES: dict[str, tuple[Param, ...]] = {
    "q": (_C, _GAMMA, _LR, Param("exploration_final_eps", "agent", 0.0, 0.2)),
    "psi": (_C, _GAMMA, _LR, Param("temperature", "agent", 0.1, 3.0, log=True)),
    "g": (_C, _GAMMA, _LR, Param("temperature", "agent", 0.1, 3.0, log=True)),
    "dqn-mlp": (_C, _GAMMA, _LR, Param("exploration_final_eps", "agent", 0.0, 0.2)),
    "ppo": (_C, _GAMMA, _LR, Param("ent_coef", "agent", 1e-4, 0.1, log=True)),
    "maskable-ppo": (_C, _GAMMA, _LR, Param("ent_coef", "agent", 1e-4, 0.1, log=True)),
    "recurrent-ppo": (_C, _GAMMA, _LR, Param("ent_coef", "agent", 1e-4, 0.1, log=True)),
}


def search_space(algo: str) -> tuple[Param, ...]:
    """The tuned parameters of ``algo``; a one-line error for an agent without one."""
    if algo not in SEARCH_SPACES:
        raise SequenceTutorError(
            f"--algo: {algo!r} has no search space; choose one of {', '.join(SEARCH_SPACES)}"
        )
    return SEARCH_SPACES[algo]


def spec_for(base: RunSpec, values: dict[str, float]) -> RunSpec:
    """``base`` with the sampled values placed into env kwargs or agent hyper-parameters."""
    env_kwargs, hyperparams = dict(base.env_kwargs), dict(base.hyperparams)
    for param in search_space(base.agent):
        if param.name in values:
            (env_kwargs if param.target == "env" else hyperparams)[param.name] = float(
                values[param.name]
            )
    return RunSpec(
        agent=base.agent,
        seed=base.seed,
        steps=base.steps,
        env_kwargs=env_kwargs,
        env_id=base.env_id,
        eval_episodes=base.eval_episodes,
        hyperparams=hyperparams,
        setting=base.setting,
    )


def import_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise SequenceTutorError(
            f"--search optuna needs Optuna, which is not installed; install it with: {OPTUNA_EXTRA_HINT}"
        ) from None
    return optuna


def _objective_value(metrics: dict[str, Any], metric: str) -> float:
    value = metrics.get(metric)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise SequenceTutorError(
            f"--metric: run {metrics['run_id']} has no {metric!r} (the env reports no reward terms?)"
        )
    return float(value)


def check_search(algo: str, trials: int, metric: str) -> tuple[Param, ...]:
    """Validate the search options (and that Optuna is installed); returns the search space."""
    if trials < 1:
        raise SequenceTutorError(f"--trials: {trials} must be at least 1")
    if metric not in OBJECTIVES:
        raise SequenceTutorError(f"--metric: {metric!r} is not one of {', '.join(OBJECTIVES)}")
    params = search_space(algo)
    import_optuna()
    return params


def run_search(
    base: RunSpec,
    out_dir: str | Path,
    *,
    trials: int,
    metric: str = "paper_return",
    backend: str = "local",
    address: str | None = None,
    workers: int | None = None,
    resume: bool = False,
    on_finished: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], list[RunFailure], dict[str, Any] | None]:
    """Run ``trials`` Optuna trials of ``base.agent``; returns (finished runs, failures, best run)."""
    params = check_search(base.agent, trials, metric)
    out = Path(out_dir).resolve()
    if backend == "ray":
        finished, failures = _search_ray(
            base, params, out, trials, metric, address, workers, resume, on_finished
        )
    else:
        finished, failures = _search_local(base, params, out, trials, metric, resume, on_finished)
    best = max(finished, key=lambda m: _objective_value(m, metric)) if finished else None
    return finished, failures, best


def _search_local(
    base: RunSpec,
    params: tuple[Param, ...],
    out: Path,
    trials: int,
    metric: str,
    resume: bool,
    on_finished: Callable[[dict[str, Any]], None] | None,
) -> tuple[list[dict[str, Any]], list[RunFailure]]:
    optuna = import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out.mkdir(parents=True, exist_ok=True)
    db = out / "optuna.db"
    if db.exists() and not resume:
        raise SequenceTutorError(
            f"--out: {db} holds an earlier search; pass --resume to continue it or choose another --out"
        )
    storage = f"sqlite:///{db}"
    name = f"{base.agent}-{base.config_hash}"
    earlier = 0
    if db.exists():
        for summary in optuna.get_all_study_summaries(storage):
            if summary.study_name == name:
                earlier = summary.n_trials
    # A resumed sampler seeded as at the start would redraw the first trials' parameters.
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=base.seed + earlier),
        load_if_exists=True,
    )
    finished: list[dict[str, Any]] = []
    failures: list[RunFailure] = []
    done = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)

    def objective(trial: Any) -> float:
        values = {p.name: trial.suggest_float(p.name, p.low, p.high, log=p.log) for p in params}
        spec = spec_for(base, values)
        trial.set_user_attr("run_id", spec.run_id)
        metrics = execute_run(spec, out)
        finished.append(metrics)
        if on_finished is not None:
            on_finished(metrics)
        return _objective_value(metrics, metric)

    remaining = max(0, trials - done)
    try:
        study.optimize(objective, n_trials=remaining, catch=())
    except SequenceTutorError as exc:
        failures.append(RunFailure(base, str(exc), exc))
    return finished, failures


def _search_ray(
    base: RunSpec,
    params: tuple[Param, ...],
    out: Path,
    trials: int,
    metric: str,
    address: str | None,
    workers: int | None,
    resume: bool,
    on_finished: Callable[[dict[str, Any]], None] | None,
) -> tuple[list[dict[str, Any]], list[RunFailure]]:
    from sequence_tutor.benchmark import ray_backend

    _, tune = ray_backend.import_ray()
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    space = {
        p.name: (tune.loguniform(p.low, p.high) if p.log else tune.uniform(p.low, p.high))
        for p in params
    }
    trainable = tune.with_resources(
        _make_search_trial(base.to_dict(), str(out), metric), {"cpu": 1}
    )
    storage = out / "ray_results"
    name = f"search-{base.agent}-{base.config_hash}"
    with ray_backend.ray_session(address, workers):
        if resume and tune.Tuner.can_restore(str(storage / name)):
            tuner = tune.Tuner.restore(
                str(storage / name), trainable=trainable, resume_errored=True
            )
        else:
            searcher = ConcurrencyLimiter(
                OptunaSearch(metric=metric, mode="max", seed=base.seed),
                max_concurrent=max(1, workers or 2),
            )
            tuner = tune.Tuner(
                trainable,
                param_space=space,
                tune_config=tune.TuneConfig(search_alg=searcher, num_samples=trials),
                run_config=tune.RunConfig(
                    name=name,
                    storage_path=str(storage),
                    verbose=0,
                    callbacks=[ray_backend._progress_callback(on_finished)],
                ),
            )
        grid = tuner.fit()
        finished, failures = [], []
        for result in grid:
            reported = result.metrics or {}
            if result.error is not None or reported.get("failed"):
                message = reported.get("error") or ray_backend.error_line(result.error)
                failures.append(RunFailure(spec_for(base, dict(result.config or {})), message))
            elif reported.get("metrics_json"):
                finished.append(ray_backend.keep_reported_run(reported, out))
        return finished, failures


def _make_search_trial(
    base: dict[str, Any], out: str, metric: str
) -> Callable[[dict[str, Any]], None]:
    def trial(config: dict[str, Any]) -> None:
        from sequence_tutor.benchmark import ray_backend

        spec = spec_for(RunSpec.from_dict(base), config)
        ray_backend._trial({"spec": spec.to_dict(), "out": out, "objective": metric})

    return trial
