"""``sequence-tutor benchmark``: run agents × seeds × env settings at equal step budgets.

Writes one results folder::

    OUT/benchmark.json            the command and the run list
    OUT/runs/<run>/metrics.json   one finished run (written last, atomically)
    OUT/runs/<run>/samples.jsonl  its evaluation compositions (sample-command format)
    OUT/runs/<run>/objective_samples.jsonl  the compositions J, KL and log p were measured on
    OUT/runs/<run>/tb/            TensorBoard logs (per-episode returns, reward terms, SB3 logs)
    OUT/runs.csv                  one row per run
    OUT/results.csv, results.md   one row per agent and setting: the objective's IQM over seeds
                                  with 95 % bootstrap intervals, P(J > J of psi), Table 1 means
    OUT/plots/*.png               learning curves, Table 1 bars, piano rolls, objective
                                  intervals, frontier (rule reward against KL)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
import traceback
from pathlib import Path
from typing import Any

HELP = "benchmark agents (built-in or your own) on SequenceTutor-v0, locally or on Ray"
DESCRIPTION = (
    "Train and evaluate agents x seeds x env settings with the same step budget and write one "
    "results folder: per-run TensorBoard logs and metrics, a CSV/Markdown table (Table 1 "
    "statistics, log p under the Note RNN, mean return, wall time, env steps/s) and plots. "
    "Your own agent plugs in as --agents package.module:make_agent, a factory make_agent(env) "
    "returning an object with learn(total_timesteps) and predict(obs, deterministic=False)."
)

DEFAULT_AGENTS = "random,note-rnn,q,psi,g,rloo,grpo,ppo-kl,dqn-mlp,ppo,maskable-ppo,recurrent-ppo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--agents",
        "--agent",
        dest="agents",
        action="append",
        metavar="LIST",
        help=f"comma-separated agents: built-in names ({DEFAULT_AGENTS}) and/or import paths "
        "package.module:make_agent; repeatable (default: all built-in agents)",
    )
    parser.add_argument(
        "--seeds", default="0", help="comma-separated seeds or ranges, e.g. 0,1 or 0-4"
    )
    parser.add_argument(
        "--steps", type=int, default=20_000, help="training budget in env steps per run"
    )
    parser.add_argument(
        "--env-kwargs",
        dest="env_kwargs",
        action="append",
        metavar="KWARGS",
        help="one env setting: a JSON object (or list of objects) or key=value[,key=value]; "
        "repeat for several settings (default: the env's defaults)",
    )
    parser.add_argument(
        "--reward-scales",
        default=None,
        metavar="LIST",
        help="comma-separated positive reward scales c (the env's reward_scale), e.g. "
        "0.1,0.5,2,8: every env setting is run at each (a sweep of the KL-reward trade-off; "
        "plots/frontier.png)",
    )
    parser.add_argument("--env-id", default="SequenceTutor-v0", help="registered Gymnasium id")
    parser.add_argument(
        "--eval-episodes",
        type=int,
        default=100,
        help="compositions sampled after training for the statistics (per run)",
    )
    parser.add_argument("--out", default="benchmark-results", help="results folder")
    parser.add_argument(
        "--no-plots", dest="plots", action="store_false", help="write the tables only, no figures"
    )
    parser.add_argument(
        "--backend", choices=("local", "ray"), default="local", help="where runs execute"
    )
    parser.add_argument(
        "--address",
        default=None,
        help="with --backend ray: join this cluster (host:port, ray://host:port or auto) "
        "instead of starting a local Ray",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="runs at once (local: worker processes, default 1; ray: CPUs of the local Ray, "
        "default all)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="skip runs whose metrics.json already exists in --out (continue an interrupted sweep)",
    )
    search = parser.add_argument_group("hyper-parameter search")
    search.add_argument(
        "--search",
        choices=("optuna",),
        default=None,
        help="tune c (reward_scale), gamma, learning rate and exploration of --algo with Optuna "
        "(through Ray Tune with --backend ray)",
    )
    search.add_argument("--algo", default="psi", help="the agent to tune in --search mode")
    search.add_argument("--trials", type=int, default=20, help="search trials")
    search.add_argument(
        "--metric",
        default="paper_return",
        help="objective to maximise: paper_return (return under c=0.5, w=1), mean_return or log_p_note_rnn",
    )


def _print(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from pretrain.atomic_write import ensure_writable_dir
    from sequence_tutor.benchmark.spec import (
        parse_agents,
        parse_env_kwargs,
        parse_seeds,
        with_reward_scales,
    )

    seeds = parse_seeds(args.seeds)
    settings = with_reward_scales(parse_env_kwargs(args.env_kwargs), args.reward_scales)
    if not args.search:  # an unknown agent fails before any folder or run
        parse_agents(args.agents or [DEFAULT_AGENTS])
    _check_backend(args)
    out = Path(args.out)
    # a read-only or full disk fails now, not after the first hour of runs
    ensure_writable_dir(out, what="--out folder")
    progress = _Progress()
    if args.search:
        runs, failures = _search(args, seeds, settings, out, progress)
    else:
        runs, failures = _sweep(args, seeds, settings, out, progress)
    _report(args, out, runs, failures)
    return 0


class _Progress:
    """Prints ``[done/total] run`` as runs finish (``total`` is set once the plan is known)."""

    def __init__(self) -> None:
        self.done = 0
        self.total = 0

    def __call__(self, metrics: dict[str, Any]) -> None:
        from sequence_tutor.benchmark.local_backend import describe_run

        self.done += 1
        _print(f"[{self.done}/{self.total}] {describe_run(metrics)}")


def _check_backend(args: argparse.Namespace) -> None:
    from pretrain.errors import SequenceTutorError

    if args.workers is not None and args.workers < 1:
        raise SequenceTutorError(f"--workers: {args.workers} must be at least 1")
    if args.address and args.backend != "ray":
        raise SequenceTutorError("--address: only meaningful with --backend ray")
    if args.backend == "ray":
        from sequence_tutor.benchmark.ray_backend import check_address, import_ray

        import_ray()
        if args.address:
            check_address(args.address)


_SEARCHED = ("reward_scale", "gamma", "learning_rate", "temperature", "exploration_final_eps")


def _search(
    args: argparse.Namespace, seeds: list[int], settings: list[dict], out: Path, progress: _Progress
) -> tuple[list[dict[str, Any]], list[Any]]:
    """``--search optuna``: tune one agent's settings; writes ``best.json``."""
    from pretrain.atomic_write import atomic_write_text
    from pretrain.errors import SequenceTutorError
    from sequence_tutor.benchmark.results_table import collect_runs
    from sequence_tutor.benchmark.search import check_search, run_search
    from sequence_tutor.benchmark.spec import RunSpec

    check_search(args.algo, args.trials, args.metric)
    if len(settings) > 1:
        raise SequenceTutorError("--env-kwargs: --search tunes one env setting; give one")
    base = RunSpec(
        agent=args.algo,
        seed=seeds[0],
        steps=args.steps,
        env_kwargs=settings[0],
        env_id=args.env_id,
        eval_episodes=args.eval_episodes,
    )
    progress.total = args.trials
    _write_plan(out, args, [base], atomic_write_text)
    _print(
        f"benchmark: {args.trials} Optuna trials of {args.algo} ({args.backend}), {args.steps} steps each"
    )
    _, failures, best = run_search(
        base,
        out,
        trials=args.trials,
        metric=args.metric,
        backend=args.backend,
        address=args.address,
        workers=args.workers,
        resume=args.resume,
        on_finished=progress,
    )
    if best is not None:
        spec = best["spec"]
        summary = {
            k: spec["env_kwargs"].get(k, spec["hyperparams"].get(k))
            for k in (*_SEARCHED, "ent_coef")
            if k in spec["env_kwargs"] or k in spec["hyperparams"]
        }
        record = {
            "metric": args.metric,
            "value": best[args.metric],
            "params": summary,
            "run_id": best["run_id"],
        }
        atomic_write_text(out / "best.json", json.dumps(record, indent=1) + "\n")
        _print(
            f"best {args.metric} = {best[args.metric]:.3f} with {summary} (run {best['run_id']})"
        )
    return [m for m in collect_runs(out) if m["agent"] == args.algo], failures


def _sweep(
    args: argparse.Namespace, seeds: list[int], settings: list[dict], out: Path, progress: _Progress
) -> tuple[list[dict[str, Any]], list[Any]]:
    """Agents x seeds x settings, locally or on Ray; finished runs are kept on an interrupt."""
    from pretrain.atomic_write import atomic_write_text
    from sequence_tutor.benchmark.agent_factories import load_agent_factory
    from sequence_tutor.benchmark.local_backend import pending_runs, run_local
    from sequence_tutor.benchmark.results_table import collect_runs, write_results
    from sequence_tutor.benchmark.spec import BUILTIN_AGENT_NAMES, expand_runs, parse_agents

    agents = parse_agents(args.agents or [DEFAULT_AGENTS])
    for agent in agents:  # fail on a bad import path before any run starts
        if agent not in BUILTIN_AGENT_NAMES:
            load_agent_factory(agent)
    specs = expand_runs(
        agents,
        seeds,
        settings,
        steps=args.steps,
        env_id=args.env_id,
        eval_episodes=args.eval_episodes,
    )
    todo = pending_runs(specs, out, args.resume)
    progress.total = len(todo)
    _write_plan(out, args, specs, atomic_write_text)
    skipped = len(specs) - len(todo)
    _print(
        f"benchmark: {len(specs)} runs ({len(agents)} agents x {len(seeds)} seeds x "
        f"{len(settings)} settings, {args.steps} steps each) on {args.backend}"
        + (f"; {skipped} already finished, skipped" if skipped else "")
    )
    try:
        if args.backend == "ray":
            from sequence_tutor.benchmark.ray_backend import run_ray

            _, failures = run_ray(
                todo, out, address=args.address, workers=args.workers, on_finished=progress
            )
        else:
            _, failures = run_local(todo, out, workers=args.workers or 1, on_finished=progress)
    except KeyboardInterrupt:
        # Finished runs are on disk already; leave a table of them before stopping.
        write_results(out, collect_runs(out, specs))
        _print(f"benchmark: interrupted; finished runs are in {out / 'results.md'} (--resume)")
        raise
    return collect_runs(out, specs), failures


def _report(
    args: argparse.Namespace, out: Path, runs: list[dict[str, Any]], failures: list[Any]
) -> None:
    """Tables and plots of the finished runs; the first failure as a one-line error."""
    from sequence_tutor.benchmark.results_table import markdown_table, write_results

    if failures and not runs:
        # Nothing finished: no empty tables, no empty runs/ (the failed runs removed theirs).
        with contextlib.suppress(OSError):
            (out / "runs").rmdir()
        _raise_failure(failures[0], "no run finished")
    paths = write_results(out, runs)
    plots = []
    if args.plots:
        try:
            from sequence_tutor.benchmark.plots import write_plots

            plots = write_plots(out, runs)
        except Exception as exc:  # noqa: BLE001 - a plotting problem must not hide the table
            _print(f"benchmark: plots skipped ({type(exc).__name__}: {exc})")
    print(markdown_table(_rows(runs)), end="")
    _print(
        f"benchmark: {len(runs)} finished runs; table {paths['results_md']}, CSV {paths['results_csv']}"
        + (f", plots in {plots[0].parent}" if plots else "")
    )
    if failures:
        _raise_failure(failures[0], f"the {len(runs)} finished runs are in {paths['results_md']}")


def _raise_failure(first: Any, finished: str) -> None:
    """The first failure as a one-line error (a traceback first for a bug, not a user error)."""
    from pretrain.errors import SequenceTutorError

    if not first.is_user_error and first.exception is not None:
        traceback.print_exception(first.exception, file=sys.stderr)
    raise SequenceTutorError(
        f"run {first.spec.run_id} ({first.spec.agent}, seed {first.spec.seed}) failed: "
        f"{first.message}; {finished} (fix the input and rerun with --resume)"
    )


def _rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from sequence_tutor.benchmark.results_table import aggregate

    return aggregate(runs)


def _write_plan(out: Path, args: argparse.Namespace, specs: list[Any], write: Any) -> None:
    command = (
        "sequence-tutor benchmark " + " ".join(shlex.quote(a) for a in sys.argv[2:])
        if len(sys.argv) > 1 and sys.argv[1] == "benchmark"
        else None
    )
    plan = {
        "command": command,
        "arguments": {k: v for k, v in vars(args).items() if not k.startswith("_")},
        "runs": [spec.to_dict() | {"run_id": spec.run_id} for spec in specs],
    }
    write(out / "benchmark.json", json.dumps(plan, indent=1, default=str) + "\n")
