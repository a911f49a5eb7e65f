"""The same runs as Ray Tune trials: local Ray by default, an existing cluster with ``--address``.

Each trial executes one :class:`~sequence_tutor.benchmark.spec.RunSpec` with one CPU, so Tune runs as
many at once as the cluster has CPUs (or ``--workers`` on a local Ray). A trial writes the run's
folder into the benchmark's output folder like the local backend does and also reports its whole
metrics dictionary and its sample files (``samples.jsonl``, ``objective_samples.jsonl``) to Tune;
the driver writes any run whose ``metrics.json`` did not reach its disk (a worker node without a
shared file system), so the results table, plots and report are built the same way. (The
TensorBoard logs stay on the worker; the learning curve is in ``metrics.json``.)
Interrupted sweeps resume by skipping runs whose ``metrics.json`` exists (``--resume``).

Ray is an optional extra: ``pip install 'sequence-tutor-gym[ray]'``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pretrain.atomic_write import atomic_write_text
from pretrain.errors import SequenceTutorError
from sequence_tutor.benchmark.local_backend import RunFailure
from sequence_tutor.benchmark.runner import (
    METRICS_FILE,
    OBJECTIVE_SAMPLES_FILE,
    SAMPLES_FILE,
    execute_run,
    run_dir,
)
from sequence_tutor.benchmark.spec import RunSpec

__all__ = [
    "check_address",
    "import_ray",
    "error_line",
    "keep_reported_run",
    "ray_session",
    "run_ray",
]

RAY_EXTRA_HINT = "pip install 'sequence-tutor-gym[ray]'"
ADDRESS_TIMEOUT_S = 3.0


def import_ray() -> tuple[Any, Any]:
    """``(ray, ray.tune)`` or a one-line error naming the extra to install."""
    try:
        import ray
        from ray import tune
    except ImportError:
        raise SequenceTutorError(
            f"--backend ray needs Ray Tune, which is not installed; install it with: {RAY_EXTRA_HINT}"
        ) from None
    return ray, tune


def check_address(address: str, timeout: float = ADDRESS_TIMEOUT_S) -> None:
    """Fail fast (one line) if ``host:port`` or ``ray://host:port`` does not accept connections.

    ``ray.init`` would otherwise retry for a minute or more before giving up.
    """
    if address == "auto":
        return
    parsed = urlparse(address if "://" in address else f"ray://{address}")
    try:
        host, port = parsed.hostname, parsed.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise SequenceTutorError(
            f"--address: {address!r} is not host:port, ray://host:port or 'auto'"
        )
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SequenceTutorError(
            f"--address: cannot reach a Ray cluster at {address!r} within {timeout:g} s ({reason})"
        ) from None


@contextlib.contextmanager
def ray_session(address: str | None, workers: int | None) -> Iterator[Any]:
    """Connect to (or start) Ray for the duration of the block; shut down what we started."""
    ray, _ = import_ray()
    if address:
        check_address(address)
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address:
        kwargs["address"] = address
    else:
        if workers:
            kwargs["num_cpus"] = int(workers)
        # Local workers import the same code as this process (a test's or a user's factory module).
        paths = [p for p in sys.path if p and os.path.isdir(p)]
        kwargs["runtime_env"] = {"env_vars": {"PYTHONPATH": os.pathsep.join([os.getcwd(), *paths])}}
    try:
        ray.init(**kwargs)
    except ConnectionError as exc:
        raise SequenceTutorError(
            f"--address: cannot connect to Ray at {address!r} ({exc})"
        ) from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _trial(config: dict[str, Any]) -> None:
    """One Tune trial: execute the run, report its metrics (or its one-line error).

    ``config["objective"]`` names a metric a search algorithm needs in every result; a failed
    run reports it as NaN, which Optuna records as a failed trial.
    """
    from ray import tune

    out = Path(config["out"])
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError:  # a node without the driver's folder: keep the run in the trial's folder
        out = Path(tune.get_context().get_trial_dir())
    try:
        metrics = execute_run(config["spec"], out)
    except SequenceTutorError as exc:
        objective = config.get("objective")
        tune.report(
            {"error": str(exc), "failed": 1, **({objective: math.nan} if objective else {})}
        )
        return
    tune.report(_reportable(metrics, out))


def error_line(error: BaseException) -> str:
    """The last line of a trial's error (Ray wraps it in a traceback): ``Type: message``."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


# The files of a run folder the results table, plots and report read besides metrics.json, and
# the keys they travel under in a trial's result. (The TensorBoard logs stay on the worker: the
# learning curve is in metrics.json.)
REPORTED_FILES = {SAMPLES_FILE: "samples_jsonl", OBJECTIVE_SAMPLES_FILE: "objective_samples_jsonl"}


def _reportable(metrics: dict[str, Any], out: Path) -> dict[str, Any]:
    """Scalars for Tune, plus the run's metrics and its sample files (those it wrote:
    ``objective_samples.jsonl`` only for an agent with an action distribution) as text for the
    driver's disk."""
    scalars = {
        k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    folder = run_dir(out, RunSpec.from_dict(metrics["spec"]))
    files = {
        key: (folder / name).read_text()
        for name, key in REPORTED_FILES.items()
        if (folder / name).exists()
    }
    return {**scalars, "failed": 0, "metrics_json": json.dumps(metrics), **files}


def _trial_name(trial: Any) -> str:
    spec = trial.config.get("spec")
    return RunSpec.from_dict(spec).run_id if isinstance(spec, dict) else f"trial_{trial.trial_id}"


def _progress_callback(on_finished: Callable[[dict[str, Any]], None] | None) -> Any:
    from ray.tune import Callback

    class _Progress(Callback):
        def on_trial_result(
            self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
        ) -> None:
            if on_finished is not None and result.get("metrics_json"):
                on_finished(json.loads(result["metrics_json"]))

    return _Progress()


def run_ray(
    specs: Sequence[RunSpec],
    out_dir: str | Path,
    *,
    address: str | None = None,
    workers: int | None = None,
    on_finished: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], list[RunFailure]]:
    """Execute ``specs`` as Ray Tune trials; returns (metrics of finished runs, failures)."""
    _, tune = import_ray()
    out_dir = Path(out_dir).resolve()
    if not specs:
        return [], []
    with ray_session(address, workers):
        tuner = tune.Tuner(
            tune.with_resources(_trial, {"cpu": 1}),
            param_space={
                "spec": tune.grid_search([spec.to_dict() for spec in specs]),
                "out": str(out_dir),
            },
            tune_config=tune.TuneConfig(
                max_concurrent_trials=workers or None,
                trial_dirname_creator=_trial_name,
                trial_name_creator=_trial_name,
            ),
            run_config=tune.RunConfig(
                name="benchmark",
                storage_path=str(out_dir / "ray_results"),
                verbose=0,
                callbacks=[_progress_callback(on_finished)],
            ),
        )
        grid = tuner.fit()
        return _gather(grid, out_dir)


def _gather(grid: Any, out_dir: Path) -> tuple[list[dict[str, Any]], list[RunFailure]]:
    finished: list[dict[str, Any]] = []
    failures: list[RunFailure] = []
    for result in grid:
        spec = RunSpec.from_dict(result.config["spec"])
        reported = result.metrics or {}
        if result.error is not None:
            failures.append(RunFailure(spec, error_line(result.error)))
        elif reported.get("failed"):
            failures.append(RunFailure(spec, str(reported.get("error"))))
        elif reported.get("metrics_json"):
            finished.append(keep_reported_run(reported, out_dir))
    return finished, failures


def keep_reported_run(reported: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """The metrics a trial reported; written under ``out_dir`` if the trial ran on a node that
    does not share this disk, with the sample files it reported (``samples.jsonl`` for the
    piano rolls and report, ``objective_samples.jsonl``: the compositions J and KL were measured
    on), ``metrics.json`` last as the local backend writes it."""
    metrics = json.loads(reported["metrics_json"])
    folder = run_dir(out_dir, RunSpec.from_dict(metrics["spec"]))
    if not (folder / METRICS_FILE).exists():
        atomic_write_text(folder / SAMPLES_FILE, reported.get("samples_jsonl", ""))
        for name, key in REPORTED_FILES.items():
            if name != SAMPLES_FILE and reported.get(key) is not None:
                atomic_write_text(folder / name, reported[key])
        atomic_write_text(folder / METRICS_FILE, json.dumps(metrics, indent=1) + "\n")
    return metrics
