"""``sequence-tutor train``: tune the Note RNN with KL-control RL (Q, Ψ or G-learning).

Writes into ``--out`` (default ``runs/train-<algo>-seed<S>``):

* ``agent.safetensors`` + ``agent.json``: the tuned agent (``sequence-tutor sample --agent OUT``);
* ``checkpoints/step_N/`` + ``checkpoints/latest.json``: resumable checkpoints (``--resume``);
* ``tensorboard/``: SB3's curves plus ``reward/<term>``, the mean of each reward term per composition;
* ``samples/<agent>.jsonl`` and ``samples/note_rnn.jsonl``: compositions of the agent and of the
  Note RNN it started from; ``midi/`` and ``musicxml/``: a few of them to listen to;
* ``piano_roll.png`` and ``evaluation.md`` / ``evaluation.csv``: Table 1 statistics, agent vs Note RNN;
* ``run.json``: the settings, read again by ``--resume``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

from pretrain.errors import SequenceTutorError

HELP = "tune the Note RNN with KL-control RL (Q, Psi or G-learning)"
DESCRIPTION = (
    "Fine-tune the Note RNN on SequenceTutor-v0 with a KL-control DQN (Jaques et al. 2017): "
    "Psi-learning from the shipped LSTM by default. Shows a progress bar, logs to TensorBoard "
    "(OUT/tensorboard), writes resumable checkpoints (safetensors + JSON) to OUT/checkpoints, "
    "then samples the tuned agent and the Note RNN and writes MIDI, MusicXML, a piano roll and "
    "an evaluation table into OUT."
)

ALGOS = ("q", "psi", "g")
PRESETS = {
    # ~100k steps: the README's first command, minutes on 2 cores.
    "default": {"steps": 100_000},
    # rl_tuner / the paper: 1M steps, train every 5, batch 32, gamma 0.5, buffer 100k, tau 0.01.
    "paper": {"steps": 1_000_000},
}
HYPERPARAMETER_FLAGS = {
    "lr": "learning_rate",
    "buffer_size": "buffer_size",
    "batch_size": "batch_size",
    "gamma": "gamma",
    "tau": "tau",
    "train_freq": "train_freq",
    "learning_starts": "learning_starts",
    "loss": "loss",
    "exploration": "exploration",
    "temperature": "temperature",
}
ENV_FLAGS = {
    "key": "key",
    "melody_length": "melody_length",
    "reward_scale": "reward_scale",
    "note_rnn_weight": "note_rnn_weight",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--algo", default="psi", metavar="{q,psi,g}", help="Q-, Psi- or G-learning")
    parser.add_argument(
        "--note-rnn",
        type=Path,
        default=None,
        metavar="CKPT",
        help="Note RNN checkpoint to tune and to reward with (default: the shipped LSTM)",
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="env steps (default 100000; paper preset 1000000)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default runs/train-ALGO-seedS)"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its last checkpoint"
    )
    parser.add_argument(
        "--preset",
        default="default",
        metavar="{default,paper}",
        help="default: 100k steps; paper: 1M steps (every other setting is the paper's in both)",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        help="env steps between checkpoints (each waits for the next point where every "
        "composition has just started and a training round is done, so --resume is exact)",
    )
    parser.add_argument("--n-envs", type=int, default=1, help="parallel environments")
    parser.add_argument(
        "--samples", type=int, default=1000, help="compositions sampled per model for evaluation"
    )
    parser.add_argument(
        "--export", type=int, default=8, help="compositions written as MIDI and MusicXML per model"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    hyper = parser.add_argument_group("hyper-parameters (default: the paper's)")
    hyper.add_argument("--lr", type=float, default=None, help="Adam learning rate (1e-3)")
    hyper.add_argument("--buffer-size", type=int, default=None, help="replay transitions (100000)")
    hyper.add_argument("--batch-size", type=int, default=None, help="transitions per step (32)")
    hyper.add_argument("--gamma", type=float, default=None, help="discount (0.5)")
    hyper.add_argument("--tau", type=float, default=None, help="Polyak coefficient (0.01)")
    hyper.add_argument("--train-freq", type=int, default=None, help="env steps per update (5)")
    hyper.add_argument(
        "--learning-starts", type=int, default=None, help="steps before learning (1000)"
    )
    hyper.add_argument("--loss", default=None, metavar="{mse,huber}", help="TD loss (mse)")
    hyper.add_argument(
        "--exploration",
        default=None,
        metavar="{egreedy,boltzmann}",
        help="Q-learning's exploration (egreedy); Psi and G sample their Boltzmann policy",
    )
    hyper.add_argument("--temperature", type=float, default=None, help="Boltzmann temperature (1)")
    env = parser.add_argument_group("environment")
    env.add_argument("--key", default=None, help='key of the compositions ("C major")')
    env.add_argument("--melody-length", type=int, default=None, help="steps per composition (32)")
    env.add_argument("--reward-scale", type=float, default=None, help="c: rules / c (0.5)")
    env.add_argument("--note-rnn-weight", type=float, default=None, help="w: weight of log p (1)")


# -- settings ------------------------------------------------------------------------------------
def _check_positive(name: str, value: Any, minimum: float = 1) -> None:
    if value is not None and not value >= minimum:
        raise SequenceTutorError(f"{name} must be >= {minimum}, got {value}")


def settings_from_args(args: argparse.Namespace) -> dict:
    """The run's settings (what run.json stores), validated."""
    if args.algo not in ALGOS:
        raise SequenceTutorError(
            f"--algo: unknown algorithm {args.algo!r} (expected one of q, psi, g)"
        )
    if args.preset not in PRESETS:
        raise SequenceTutorError(
            f"--preset: unknown preset {args.preset!r} (expected one of {', '.join(PRESETS)})"
        )
    steps = args.steps if args.steps is not None else PRESETS[args.preset]["steps"]
    _check_positive("--steps", steps)
    _check_positive("--n-envs", args.n_envs)
    _check_positive("--checkpoint-every", args.checkpoint_every)
    _check_positive("--samples", args.samples)
    _check_positive("--export", args.export, 0)
    for flag in ("buffer_size", "batch_size", "train_freq", "melody_length"):
        _check_positive("--" + flag.replace("_", "-"), getattr(args, flag))
    _check_positive("--learning-starts", args.learning_starts, 0)
    for flag in ("lr", "temperature", "reward_scale"):
        value = getattr(args, flag)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise SequenceTutorError(f"--{flag.replace('_', '-')} must be > 0, got {value}")
    for flag in ("gamma", "tau"):
        value = getattr(args, flag)
        if value is not None and not 0 <= value <= 1:
            raise SequenceTutorError(f"--{flag} must be in [0, 1], got {value}")
    if args.loss is not None and args.loss not in ("mse", "huber"):
        raise SequenceTutorError(f"--loss: unknown loss {args.loss!r} (expected mse or huber)")
    if args.exploration is not None and args.exploration not in ("egreedy", "boltzmann"):
        raise SequenceTutorError(
            f"--exploration: unknown {args.exploration!r} (expected egreedy or boltzmann)"
        )
    if args.exploration == "egreedy" and args.algo != "q":
        raise SequenceTutorError("--exploration egreedy is for --algo q only")
    note_rnn = None
    if args.note_rnn is not None:
        from pretrain.checkpoint import checkpoint_paths, load_note_rnn  # noqa: PLC0415

        load_note_rnn(args.note_rnn)  # fail now, before an output folder exists
        weights, _ = checkpoint_paths(args.note_rnn)
        note_rnn = str(weights.resolve().with_suffix(""))
    hyper = {name: getattr(args, flag) for flag, name in HYPERPARAMETER_FLAGS.items()}
    env_kwargs = {name: getattr(args, flag) for flag, name in ENV_FLAGS.items()}
    return {
        "algo": args.algo,
        "note_rnn": note_rnn,
        "steps": int(steps),
        "seed": int(args.seed),
        "preset": args.preset,
        "n_envs": int(args.n_envs),
        "checkpoint_every": int(args.checkpoint_every or max(1000, steps // 20)),
        "hyperparameters": {k: v for k, v in hyper.items() if v is not None},
        "env_kwargs": {k: v for k, v in env_kwargs.items() if v is not None},
    }


def _output_folder(args: argparse.Namespace) -> Path:
    out = args.out if args.out is not None else Path("runs") / f"train-{args.algo}-seed{args.seed}"
    if out.exists() and not out.is_dir():
        raise SequenceTutorError(f"--out {out}: exists and is not a folder")
    return out


# -- the run -------------------------------------------------------------------------------------
def check_stored_settings(settings: Any) -> None:
    """Raise ``ValueError`` unless ``settings`` (read from run.json) has the shape
    :func:`settings_from_args` gives: it names output files (``algo``) and reaches SB3's
    constructor (``hyperparameters``), so nothing else may come from a file."""
    if not isinstance(settings, dict):
        raise ValueError("expected a JSON object")
    if settings.get("algo") not in ALGOS:
        raise ValueError(f"algo {settings.get('algo')!r} is not one of {ALGOS}")
    for name, top in (("steps", 10**12), ("n_envs", 1024), ("checkpoint_every", 10**12)):
        value = settings.get(name)
        if type(value) is not int or not 1 <= value <= top:
            raise ValueError(f"{name} must be an integer in 1..{top}, got {value!r}")
    if type(settings.get("seed")) is not int:
        raise ValueError(f"seed must be an integer, got {settings.get('seed')!r}")
    if settings.get("note_rnn") is not None and not isinstance(settings["note_rnn"], str):
        raise ValueError("note_rnn must be a checkpoint path or null")
    for name, known in (("hyperparameters", HYPERPARAMETER_FLAGS), ("env_kwargs", ENV_FLAGS)):
        value = settings.get(name)
        if not isinstance(value, dict) or set(value) - set(known.values()):
            raise ValueError(f"{name} must be an object with keys among {sorted(known.values())}")


def run(args: argparse.Namespace) -> int:
    out = _output_folder(args)
    run_file = out / "run.json"
    if args.resume and run_file.is_file():
        try:
            if run_file.stat().st_size > 1 << 20:
                raise ValueError("larger than 1 MiB")
            settings = json.loads(run_file.read_text(encoding="utf-8"))
            check_stored_settings(settings)
            settings["steps"] = int(args.steps or settings["steps"])
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
            raise SequenceTutorError(f"{run_file}: unreadable run settings ({exc})") from None
    else:
        settings = settings_from_args(args)
        if run_file.is_file():
            if _has_progress(out):
                raise SequenceTutorError(
                    f"--out {out}: holds a run already; pass --resume to continue it or choose "
                    "another --out"
                )
            # killed or crashed before its first checkpoint: nothing to keep, so start over
            print(f"{out}: an earlier start left no checkpoint; starting over")
    from pretrain.atomic_write import ensure_writable_dir, remove_stale_temporaries  # noqa: PLC0415

    ensure_writable_dir(out)  # a read-only or full disk fails now, not at the first checkpoint
    if args.resume:  # half-written files of a killed run; the checkpoints themselves are whole
        remove_stale_temporaries(out)
    return train(
        settings,
        out,
        resume=args.resume,
        progress=not args.no_progress,
        samples=args.samples,
        export=args.export,
    )


def _has_progress(out: Path) -> bool:
    """Whether the run in ``out`` got as far as a checkpoint or a finished agent."""
    from agents.training_state import latest_checkpoint  # noqa: PLC0415

    return (out / "agent.json").is_file() or latest_checkpoint(out / "checkpoints") is not None


def make_env(settings: dict, seed: int):
    """The SB3 VecEnv of ``SequenceTutor-v0`` for these settings."""
    from stable_baselines3.common.env_util import make_vec_env  # noqa: PLC0415

    import envs  # noqa: F401, PLC0415  (registers SequenceTutor-v0)

    env_kwargs = dict(settings["env_kwargs"])
    if settings.get("note_rnn"):
        env_kwargs["reward_rnn"] = settings["note_rnn"]
    try:
        return make_vec_env(
            "SequenceTutor-v0", n_envs=settings["n_envs"], seed=seed, env_kwargs=env_kwargs
        )
    except ValueError as exc:  # the env's own validation of key, length, c, w
        raise SequenceTutorError(f"environment: {exc}") from None


def train(
    settings: dict,
    out: Path,
    *,
    resume: bool = False,
    progress: bool = True,
    samples: int = 1000,
    export: int = 8,
) -> int:
    import torch  # noqa: PLC0415

    from agents.agent_file import save_agent  # noqa: PLC0415
    from agents.callbacks import CheckpointCallback  # noqa: PLC0415
    from agents.kl_control import SequenceTutorDQN, load_agent  # noqa: PLC0415
    from agents.training_state import latest_checkpoint, write_checkpoint  # noqa: PLC0415
    from pretrain.atomic_write import atomic_write_text  # noqa: PLC0415

    torch.set_num_threads(1)  # one thread per process: 2-thread LSTM calls stall on busy machines
    out.mkdir(parents=True, exist_ok=True)
    checkpoints = out / "checkpoints"
    latest = latest_checkpoint(checkpoints) if resume else None
    if latest is None:  # a fresh start (or a restart of one that left no checkpoint)
        atomic_write_text(out / "run.json", json.dumps(settings, indent=2, sort_keys=True) + "\n")
    agent_kwargs = {
        "env_kwargs": settings["env_kwargs"],
        "metadata": {"note_rnn": settings["note_rnn"], "seed": settings["seed"]},
    }
    tensorboard = str(out / "tensorboard")
    if latest is not None:
        done = json.loads((checkpoints / "latest.json").read_text())["num_timesteps"]
        env = make_env(settings, settings["seed"] + int(done))
        model = load_agent(
            latest / "agent",
            env,
            training_state=latest / "training",
            tensorboard_log=tensorboard,
            seed=settings["seed"],
        )
        print(
            f"resuming {out} from {latest.name} ({model.num_timesteps} of {settings['steps']} steps)"
        )
    else:
        if resume:
            print(f"no checkpoint in {checkpoints}: starting {out} from scratch")
        env = make_env(settings, settings["seed"])
        model = SequenceTutorDQN(
            "NoteRNNPolicy",
            env,
            algo=settings["algo"],
            note_rnn=settings["note_rnn"],
            tensorboard_log=tensorboard,
            seed=settings["seed"],
            **settings["hyperparameters"],
        )
    remaining = settings["steps"] - model.num_timesteps
    callback = CheckpointCallback(checkpoints, settings["checkpoint_every"], **agent_kwargs)
    started = time.perf_counter()
    if remaining > 0:
        try:
            model.learn(
                remaining,
                callback=callback,
                log_interval=100,
                tb_log_name="run",
                reset_num_timesteps=latest is None,
                progress_bar=progress,
            )
        except KeyboardInterrupt:
            # mid-rollout: resumable, but not bit-identical to an uninterrupted run
            write_checkpoint(model, checkpoints, exact_resume=False, **agent_kwargs)
            print(f"interrupted: checkpoint at step {model.num_timesteps}; continue with --resume")
            raise
        if callback.last_written != model.num_timesteps:  # the callback wrote it at the end
            write_checkpoint(model, checkpoints, **agent_kwargs)
    elapsed = time.perf_counter() - started
    save_agent(model, out / "agent", **agent_kwargs)
    trained = max(0, remaining)
    rate = f" ({trained / elapsed:.0f} steps/s)" if trained and elapsed > 0 else ""
    print(f"trained {settings['algo']} for {trained} steps in {elapsed:.0f} s{rate}")
    report(model.policy, settings, out, samples=samples, export=export, progress=progress)
    return 0


def report(policy, settings: dict, out: Path, *, samples: int, export: int, progress: bool) -> None:
    """Sample the agent and its Note RNN; write JSONL, MIDI, MusicXML, piano roll, tables."""
    from agents.policy import resolve_note_rnn  # noqa: PLC0415
    from agents.sampling import (  # noqa: PLC0415
        export_melodies,
        note_rnn_sampler,
        policy_sampler,
        sample,
        write_jsonl,
    )
    from sequence_tutor.evaluation.piano_roll import plot_piano_rolls  # noqa: PLC0415
    from sequence_tutor.evaluation.table1 import (  # noqa: PLC0415
        evaluate_samples,
        table_rows,
        text_table,
        write_tables,
    )

    env_kwargs = settings["env_kwargs"]
    common = {
        "seed": settings["seed"],
        "melody_length": int(env_kwargs.get("melody_length", 32)),
        "key": env_kwargs.get("key", "C major"),
        "progress": progress,
    }
    note_rnn = resolve_note_rnn(settings.get("note_rnn"))
    name = settings["algo"]
    agent_samples = sample(policy_sampler(policy), samples, agent=name, full_primer=False, **common)
    rnn_samples = sample(note_rnn_sampler(note_rnn), samples, agent="note_rnn", **common)
    written = []
    for s in (agent_samples, rnn_samples):
        written.append(write_jsonl(s, out / "samples" / f"{s.agent}.jsonl"))
        if export:
            export_melodies(s, out / "midi", "mid", count=export)
            export_melodies(s, out / "musicxml", "musicxml", count=export)
    weight = float(env_kwargs.get("note_rnn_weight", 1.0))
    scale = float(env_kwargs.get("reward_scale", 0.5))
    evaluations = [
        evaluate_samples(s, note_rnn, reward_scale=scale, note_rnn_weight=weight)
        for s in (rnn_samples, agent_samples)
    ]
    md, csv_path = write_tables(evaluations, out)
    figure = plot_piano_rolls(
        {"Note RNN": rnn_samples.tokens[:4], name: agent_samples.tokens[:4]}, out / "piano_roll.png"
    )
    header, rows = table_rows(evaluations)
    print(text_table(header, rows), end="")
    print(f"agent:       {out / 'agent.safetensors'} (+ .json)")
    print(f"samples:     {', '.join(str(p) for p in written)}")
    if export:
        print(f"listen:      {out / 'midi'}/, {out / 'musicxml'}/")
    print(f"piano roll:  {figure}")
    print(f"evaluation:  {md}, {csv_path}")
    print(f"tensorboard: tensorboard --logdir {out / 'tensorboard'}")
