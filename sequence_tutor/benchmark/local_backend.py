"""Run a benchmark's runs on this machine: one after another, or in N worker processes.

Without Ray this is the whole story. Each run writes its own ``metrics.json`` atomically when it
finishes, so a crash or Ctrl-C loses only the runs in progress, and ``--resume`` skips the rest.
On the first failing run no new runs start; those already running finish, and the caller still
writes the results table of every finished run before reporting the failure.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pretrain.errors import SequenceTutorError
from sequence_tutor.benchmark.runner import METRICS_FILE, execute_run, load_metrics, run_dir
from sequence_tutor.benchmark.spec import RunSpec

__all__ = ["RunFailure", "describe_run", "pending_runs", "run_local"]


@dataclass
class RunFailure:
    """A run that raised: the run, a one-line message, and the exception when we hold it."""

    spec: RunSpec
    message: str
    exception: BaseException | None = None

    @property
    def is_user_error(self) -> bool:
        return self.exception is None or isinstance(self.exception, SequenceTutorError)


def pending_runs(specs: Sequence[RunSpec], out_dir: str | Path, resume: bool) -> list[RunSpec]:
    """The runs still to do: all of them, or with ``resume`` those without a finished metrics file.

    A finished run counts whatever its env setting's position in the list (``setting`` is a
    label, not part of the run): a sweep extended with more ``--reward-scales`` or
    ``--env-kwargs`` keeps the runs it already has."""
    if not resume:
        return list(specs)
    todo = []
    for spec in specs:
        metrics = load_metrics(run_dir(out_dir, spec) / METRICS_FILE)
        if metrics is None or _without_label(metrics.get("spec")) != _without_label(spec.to_dict()):
            todo.append(spec)
    return todo


def _without_label(spec: Any) -> Any:
    return {k: v for k, v in spec.items() if k != "setting"} if isinstance(spec, dict) else spec


def describe_run(metrics: dict[str, Any]) -> str:
    """One progress line for a finished run."""
    rate = metrics.get("steps_per_s")
    rate_text = f", {rate:,.0f} steps/s" if rate else ""
    log_p = metrics.get("log_p_note_rnn")
    log_p_text = f", log p {log_p:.1f}" if log_p is not None else ""
    return (
        f"{metrics['agent']} seed {metrics['seed']} (setting {metrics['setting']}): "
        f"return {metrics['mean_return']:.2f}{log_p_text}{rate_text}, "
        f"{metrics['train_wall_s'] + metrics['eval_wall_s']:.0f} s"
    )


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text if isinstance(exc, SequenceTutorError) else f"{type(exc).__name__}: {text}"


def run_local(
    specs: Sequence[RunSpec],
    out_dir: str | Path,
    *,
    workers: int = 1,
    on_finished: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], list[RunFailure]]:
    """Execute ``specs``; returns (metrics of runs finished now, failures)."""
    finished: list[dict[str, Any]] = []
    failures: list[RunFailure] = []
    report = on_finished or (lambda metrics: None)
    if workers <= 1:
        for spec in specs:
            try:
                metrics = execute_run(spec, out_dir)
            except Exception as exc:  # noqa: BLE001 - recorded, re-raised by the caller
                failures.append(RunFailure(spec, _one_line(exc), exc))
                break
            finished.append(metrics)
            report(metrics)
        return finished, failures

    # spawn, not fork: torch and Ray state do not survive fork, and workers start clean.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        queue = list(specs)
        running: dict[Future, RunSpec] = {}
        while queue or running:
            while queue and len(running) < workers and not failures:
                spec = queue.pop(0)
                running[pool.submit(execute_run, spec.to_dict(), str(out_dir))] = spec
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                spec = running.pop(future)
                try:
                    metrics = future.result()
                except Exception as exc:  # noqa: BLE001
                    failures.append(RunFailure(spec, _one_line(exc), exc))
                    continue
                finished.append(metrics)
                report(metrics)
    if failures and len(specs) > len(finished) + len(failures):
        print(
            f"benchmark: stopped after a failure; {len(specs) - len(finished) - len(failures)} "
            "runs did not start",
            file=sys.stderr,
        )
    return finished, failures
