"""``sequence-tutor train``: tune the Note RNN with KL-control RL (Q, Ψ or G-learning) or a
KL-regularised policy gradient (RLOO, GRPO, PPO-KL).

Writes into ``--out`` (default ``runs/train-<algo>-seed<S>``):

* ``agent.safetensors`` + ``agent.json``: the tuned agent (``sequence-tutor sample --agent OUT``);
* ``checkpoints/step_N/`` + ``checkpoints/latest.json``: resumable checkpoints (``--resume``);
* ``tensorboard/``: SB3's curves plus ``reward/<term>``, the mean of each reward term per composition;
* ``samples/<agent>.jsonl`` and ``samples/note_rnn.jsonl``: compositions of the agent and of the
  Note RNN it started from; ``midi/`` and ``musicxml/``: a few of them to listen to;
* ``piano_roll.png`` and ``evaluation.md`` / ``evaluation.csv``: Table 1 statistics, agent vs Note RNN,
  and the objective of DESIGN.md (J, Σ r_theory/c, exact KL(π ‖ p), log p, log π) of both;
* ``run.json``: the settings, read again by ``--resume``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from agents.config import (
    ALL_ALGORITHMS,
    POLICY_GRADIENT_ALGORITHMS,
    KLControlConfig,
    check_algo,
)
from pretrain.config import flag_of, setting
from pretrain.errors import SequenceTutorError
from sequence_tutor.cli.options import (
    add_settings_arguments,
    add_shared_settings_arguments,
    check_stored,
    given_settings,
)

HELP = "tune the Note RNN with KL-control RL (Q, Psi, G) or a policy gradient (RLOO, GRPO, PPO-KL)"
DESCRIPTION = (
    "Fine-tune the Note RNN on SequenceTutor-v0 with a KL-control DQN (Jaques et al. 2017): "
    "Psi-learning from the shipped LSTM by default, or with a KL-regularised policy gradient "
    "(--algo rloo, grpo or ppo-kl). Shows a progress bar, logs to TensorBoard "
    "(OUT/tensorboard), writes resumable checkpoints (safetensors + JSON) to OUT/checkpoints, "
    "then samples the tuned agent and the Note RNN and writes MIDI, MusicXML, a piano roll and "
    "an evaluation table into OUT."
)

# The agent's w is the env's (--note-rnn-weight), not a second flag.
AGENT_ONLY = ("note_rnn_weight",)
# Policy-gradient fields the run settings give instead (PPO-KL's envs are --n-envs).
PG_SKIPPED = ("n_envs",)
DQN_LABEL = "q/psi/g"


def hyper_families() -> dict[str, type]:
    """``{label: hyper-parameter dataclass}``: the DQN family's and each policy gradient's."""
    from agents.policy_gradient.training import config_class  # noqa: PLC0415

    pg = {algo: config_class(algo) for algo in POLICY_GRADIENT_ALGORITHMS}
    return {DQN_LABEL: KLControlConfig, **pg}


def hyper_skip() -> dict[str, tuple[str, ...]]:
    return {DQN_LABEL: AGENT_ONLY, **{algo: PG_SKIPPED for algo in POLICY_GRADIENT_ALGORITHMS}}


def family_of(algo: str) -> str:
    """The label of ``algo``'s hyper-parameter family."""
    return algo if algo in POLICY_GRADIENT_ALGORITHMS else DQN_LABEL


@dataclass(frozen=True)
class RunSettings:
    """The run itself: how long, which seed, how many envs, how often to checkpoint."""

    steps: int | None = setting(None, "env steps (default: the preset's)", minimum=1)
    seed: int = setting(0, "random seed")
    n_envs: int = setting(1, "parallel environments", minimum=1, maximum=1024)
    checkpoint_every: int | None = setting(
        None,
        "env steps between checkpoints (default: steps / 20, at least 1000); each waits for the "
        "next point where every composition has just started and a training round is done, so "
        "--resume is exact",
        minimum=1,
    )

    #: ``--preset NAME``: the fields each preset sets; every other setting is the paper's in both.
    presets: ClassVar[Mapping[str, Mapping[str, Any]]] = MappingProxyType(
        {
            # ~100k steps: the README's first command, minutes on 2 cores.
            "default": MappingProxyType({"steps": 100_000}),
            # rl_tuner / the paper: 1M steps; every other default already is the paper's.
            "paper": MappingProxyType({"steps": 1_000_000}),
        }
    )

    @classmethod
    def preset(cls, name: Any) -> Mapping[str, Any]:
        """The settings of preset ``name``, or a one-line error naming ``--preset``."""
        if name not in cls.presets:
            raise SequenceTutorError(
                f"--preset: unknown preset {name!r} (expected one of {', '.join(cls.presets)})"
            )
        return cls.presets[name]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from envs.config import EnvConfig  # noqa: PLC0415

    parser.add_argument(
        "--algo",
        default="psi",
        metavar="{" + ",".join(ALL_ALGORITHMS) + "}",
        help="Q-, Psi- or G-learning (KL-control DQN), or RLOO, GRPO, PPO-KL (policy gradient)",
    )
    parser.add_argument(
        "--note-rnn",
        type=Path,
        default=None,
        metavar="CKPT",
        help="Note RNN checkpoint to tune and to reward with (default: the shipped LSTM)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default runs/train-ALGO-seedS)"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its last checkpoint"
    )
    presets = ", ".join(
        f"{name}: {values['steps']} steps" for name, values in RunSettings.presets.items()
    )
    parser.add_argument(
        "--preset",
        default="default",
        metavar="{" + ",".join(RunSettings.presets) + "}",
        help=f"{presets} (every other setting is the paper's in both)",
    )
    add_settings_arguments(parser, RunSettings)
    parser.add_argument(
        "--samples", type=int, default=1000, help="compositions sampled per model for evaluation"
    )
    parser.add_argument(
        "--export", type=int, default=8, help="compositions written as MIDI and MusicXML per model"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    hyper = parser.add_argument_group(
        "hyper-parameters (only the chosen --algo's apply; the DQN family's defaults are the paper's)"
    )
    add_shared_settings_arguments(hyper, hyper_families(), skip=hyper_skip())
    add_settings_arguments(parser.add_argument_group("environment"), EnvConfig)


# -- settings ------------------------------------------------------------------------------------
def settings_from_args(args: argparse.Namespace) -> dict:
    """The run's settings (what run.json stores), validated."""
    from envs.config import EnvConfig  # noqa: PLC0415

    check_algo(args.algo, allowed=ALL_ALGORITHMS, name="--algo")
    run = {**RunSettings.preset(args.preset), **given_settings(RunSettings, args)}
    steps = run["steps"]
    for flag, value, minimum in (("--samples", args.samples, 1), ("--export", args.export, 0)):
        if not value >= minimum:
            raise SequenceTutorError(f"{flag} must be >= {minimum}, got {value}")
    hyper = algo_hyperparameters(args)
    n_envs = int(run.get("n_envs", RunSettings.n_envs))
    if args.algo in POLICY_GRADIENT_ALGORITHMS:
        n_envs, hyper = pg_envs(args.algo, hyper, run.get("n_envs"))
    note_rnn = None
    if args.note_rnn is not None:
        from pretrain.checkpoint import checkpoint_paths, load_note_rnn  # noqa: PLC0415

        load_note_rnn(args.note_rnn)  # fail now, before an output folder exists
        weights, _ = checkpoint_paths(args.note_rnn)
        note_rnn = str(weights.resolve().with_suffix(""))
    return {
        "algo": args.algo,
        "note_rnn": note_rnn,
        "steps": int(steps),
        "seed": int(run.get("seed", RunSettings.seed)),
        "preset": args.preset,
        "n_envs": n_envs,
        "checkpoint_every": int(run.get("checkpoint_every") or max(1000, steps // 20)),
        "hyperparameters": hyper,
        "env_kwargs": given_settings(EnvConfig, args),
    }


def algo_hyperparameters(args: argparse.Namespace) -> dict:
    """The given hyper-parameter flags of ``args.algo``'s family, validated by its dataclass; a
    flag of another family is a one-line error naming it."""
    families, skip = hyper_families(), hyper_skip()
    family = family_of(args.algo)
    own = {f.name for f in dataclasses.fields(families[family])} - set(skip[family])
    for label, cls in families.items():
        for field in dataclasses.fields(cls):
            if field.name in own or field.name in skip[label] or not hasattr(args, field.name):
                continue
            users = [
                name
                for name, other in families.items()
                if field.name in {f.name for f in dataclasses.fields(other)}
            ]
            raise SequenceTutorError(
                f"{flag_of(field)}: a hyper-parameter of --algo {' / '.join(users)}, not of "
                f"--algo {args.algo}"
            )
    hyper = given_settings(families[family], args, skip=skip[family])
    if hyper.get("exploration") == "egreedy" and args.algo != "q":
        raise SequenceTutorError("--exploration egreedy is for --algo q only")
    if args.algo in POLICY_GRADIENT_ALGORITHMS:
        from agents.policy_gradient.training import config_class  # noqa: PLC0415

        config_class(args.algo)(**hyper)  # combinations (--minibatches must divide ...) now
    return hyper


def pg_envs(algo: str, hyper: dict, given_n_envs: int | None) -> tuple[int, dict]:
    """``(envs stepped at once, hyper-parameters)`` of a policy gradient: RLOO and GRPO step
    k * num_primers compositions; PPO-KL steps --n-envs envs (default its 8)."""
    from agents.policy_gradient.training import config_class  # noqa: PLC0415

    config = config_class(algo)(**hyper)
    if algo == "ppo-kl":
        n_envs = int(given_n_envs if given_n_envs is not None else config.n_envs)
        return n_envs, {**hyper, "n_envs": n_envs}
    if given_n_envs is not None:
        raise SequenceTutorError(
            f"--n-envs: --algo {algo} steps k * num_primers compositions at once "
            f"({config.num_envs}); set --k and --num-primers instead"
        )
    return config.num_envs, hyper


def _output_folder(args: argparse.Namespace) -> Path:
    seed = getattr(args, "seed", RunSettings.seed)
    out = args.out if args.out is not None else Path("runs") / f"train-{args.algo}-seed{seed}"
    if out.exists() and not out.is_dir():
        raise SequenceTutorError(f"--out {out}: exists and is not a folder")
    return out


# -- the run -------------------------------------------------------------------------------------
def check_stored_settings(settings: Any) -> None:
    """Raise ``ValueError`` unless ``settings`` (read from run.json) has the shape
    :func:`settings_from_args` gives: it names output files (``algo``) and reaches SB3's
    constructor (``hyperparameters``), so nothing else may come from a file."""
    from envs.config import EnvConfig  # noqa: PLC0415

    if not isinstance(settings, dict):
        raise ValueError("expected a JSON object")
    check_algo(settings.get("algo"), allowed=ALL_ALGORITHMS)
    for name, top in (("steps", 10**12), ("n_envs", 1024), ("checkpoint_every", 10**12)):
        value = settings.get(name)
        if type(value) is not int or not 1 <= value <= top:
            raise ValueError(f"{name} must be an integer in 1..{top}, got {value!r}")
    if type(settings.get("seed")) is not int:
        raise ValueError(f"seed must be an integer, got {settings.get('seed')!r}")
    if settings.get("note_rnn") is not None and not isinstance(settings["note_rnn"], str):
        raise ValueError("note_rnn must be a checkpoint path or null")
    family = family_of(settings["algo"])
    check_stored(hyper_families()[family], settings.get("hyperparameters"), "hyperparameters")
    if settings["algo"] in POLICY_GRADIENT_ALGORITHMS:
        from agents.policy_gradient.training import config_class  # noqa: PLC0415

        try:
            config_class(settings["algo"])(**settings["hyperparameters"])
        except (SequenceTutorError, TypeError) as exc:
            raise ValueError(f"hyperparameters: {exc}") from None
    check_stored(EnvConfig, settings.get("env_kwargs"), "env_kwargs")


def run(args: argparse.Namespace) -> int:
    out = _output_folder(args)
    run_file = out / "run.json"
    if args.resume and run_file.is_file():
        try:
            if run_file.stat().st_size > 1 << 20:
                raise ValueError("larger than 1 MiB")
            settings = json.loads(run_file.read_text(encoding="utf-8"))
            check_stored_settings(settings)
            settings["steps"] = int(getattr(args, "steps", None) or settings["steps"])
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
    if settings["algo"] in POLICY_GRADIENT_ALGORITHMS:
        return train_policy_gradient(
            settings, out, resume=resume, progress=progress, samples=samples, export=export
        )
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
    from agents.sampling import policy_sampler  # noqa: PLC0415

    report(
        policy_sampler(model.policy),
        model,
        settings,
        out,
        samples=samples,
        export=export,
        progress=progress,
    )
    return 0


def _pg_env_kwargs(settings: dict) -> dict | None:
    env_kwargs = dict(settings["env_kwargs"])
    if settings.get("note_rnn"):
        env_kwargs["reward_rnn"] = settings["note_rnn"]
    return env_kwargs or None


def _build_policy_gradient(settings: dict, latest: Path | None, tensorboard: str) -> Any:
    """A fresh RLOO / GRPO / PPO-KL from the Note RNN, or the one of checkpoint ``latest``."""
    from agents.policy_gradient.training import agent_class, config_class  # noqa: PLC0415

    cls = agent_class(settings["algo"])
    common = {
        "seed": settings["seed"],
        "tensorboard_log": tensorboard,
        "env_kwargs": _pg_env_kwargs(settings),
    }
    if latest is None:
        config = config_class(settings["algo"])(**settings["hyperparameters"])
        return cls(None, config, note_rnn=settings["note_rnn"], **common)
    model = cls.load(latest / "agent", None, **common)
    model.load_training_state(latest / "training")
    return model


def train_policy_gradient(
    settings: dict, out: Path, *, resume: bool, progress: bool, samples: int, export: int
) -> int:
    """:func:`train` for ``--algo rloo|grpo|ppo-kl``: the same folder, checkpoints and report."""
    from agents.policy_gradient.training import (  # noqa: PLC0415
        ActorSampler,
        PolicyGradientCheckpointCallback,
        write_pg_checkpoint,
    )
    from agents.training_state import latest_checkpoint  # noqa: PLC0415
    from pretrain.atomic_write import atomic_write_text  # noqa: PLC0415

    out.mkdir(parents=True, exist_ok=True)
    checkpoints = out / "checkpoints"
    latest = latest_checkpoint(checkpoints) if resume else None
    if latest is None:
        atomic_write_text(out / "run.json", json.dumps(settings, indent=2, sort_keys=True) + "\n")
        if resume:
            print(f"no checkpoint in {checkpoints}: starting {out} from scratch")
    metadata = {
        "note_rnn": settings["note_rnn"],
        "seed": settings["seed"],
        "env_kwargs": settings["env_kwargs"],
    }
    model = _build_policy_gradient(settings, latest, str(out / "tensorboard"))
    if latest is not None:
        print(
            f"resuming {out} from {latest.name} ({model.num_timesteps} of {settings['steps']} steps)"
        )
    remaining = settings["steps"] - model.num_timesteps
    callback = PolicyGradientCheckpointCallback(checkpoints, settings["checkpoint_every"], metadata)
    started = time.perf_counter()
    if remaining > 0:
        model.learn(
            remaining,
            callback=callback,
            tb_log_name="run",
            reset_num_timesteps=latest is None,
            progress_bar=progress,
        )
        if callback.last_written != model.num_timesteps:
            write_pg_checkpoint(model, checkpoints, metadata=metadata)
    elapsed = time.perf_counter() - started
    model.save(out / "agent", metadata=metadata)
    trained = max(0, model.num_timesteps - (settings["steps"] - remaining))
    rate = f" ({trained / elapsed:.0f} steps/s)" if trained and elapsed > 0 else ""
    print(f"trained {settings['algo']} for {trained} steps in {elapsed:.0f} s{rate}")
    report(
        ActorSampler(model.actor),
        model,
        settings,
        out,
        samples=samples,
        export=export,
        progress=progress,
    )
    return 0


def objective_rows(estimates: list[Any]) -> tuple[list[str], list[list[str]]]:
    """The objective's rows (J ± s.e., its parts, log p, log π) of each estimate, formatted."""

    def cell(estimate: Any, key: str) -> str:
        value = getattr(estimate, key)
        if value != value:  # NaN: no action distribution
            return "n/a"
        if key in ("log_pi",):
            return f"{value:.2f}"
        return f"{value:.2f} ± {estimate.standard_error(key):.2f}"

    labels = {
        "J": "J = Σ r_theory/c − w Σ KL(π‖p) (± s.e.)",
        "theory": "Σ r_theory / c per composition",
        "kl": "exact KL(π‖p) per composition (nats)",
        "log_p": "log p(composition) under the Note RNN",
        "log_pi": "log π(composition) under the agent",
    }
    header = ["objective", *[e.name for e in estimates]]
    return header, [[label, *[cell(e, key) for e in estimates]] for key, label in labels.items()]


def write_objective(estimates: list[Any], md: Path, csv_path: Path) -> None:
    """Append the objective to ``evaluation.md`` (a second table) and ``evaluation.csv``
    (rows ``objective/J`` ...), atomically."""
    from pretrain.atomic_write import atomic_write_text  # noqa: PLC0415

    header, rows = objective_rows(estimates)
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * len(estimates)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    atomic_write_text(md, md.read_text(encoding="utf-8") + "\n" + "\n".join(lines) + "\n")
    csv_rows = [
        ",".join([f"objective/{key}", *[repr(float(getattr(e, key))) for e in estimates]])
        for key in ("J", "theory", "kl", "log_p", "log_pi")
    ]
    text = csv_path.read_text(encoding="utf-8")
    atomic_write_text(csv_path, text + "\n".join(csv_rows) + "\n")


def measure_both(model: Any, note_rnn: Any, settings: dict, n: int) -> list[Any]:
    """The objective of the Note RNN and of the agent over ``n`` compositions each."""
    from sequence_tutor.evaluation.objective import (  # noqa: PLC0415
        NoteRNNDistribution,
        measure_objective,
    )

    common = {"seed": settings["seed"], "env_kwargs": _pg_env_kwargs(settings)}
    return [
        measure_objective(NoteRNNDistribution(note_rnn), n, name="note_rnn", **common),
        measure_objective(model, n, name=settings["algo"], **common),
    ]


def report(
    sampler: Any,
    model: Any,
    settings: dict,
    out: Path,
    *,
    samples: int,
    export: int,
    progress: bool,
) -> None:
    """Sample the agent (``sampler``) and its Note RNN; write JSONL, MIDI, MusicXML, piano roll,
    tables, and the objective of the Note RNN and of ``model``."""
    from agents.policy import resolve_note_rnn  # noqa: PLC0415
    from agents.sampling import (  # noqa: PLC0415
        export_melodies,
        note_rnn_sampler,
        sample,
        write_jsonl,
    )
    from envs.config import EnvConfig  # noqa: PLC0415
    from sequence_tutor.evaluation.piano_roll import plot_piano_rolls  # noqa: PLC0415
    from sequence_tutor.evaluation.table1 import (  # noqa: PLC0415
        evaluate_samples,
        table_rows,
        text_table,
        write_tables,
    )

    env = EnvConfig(**settings["env_kwargs"])  # the run's env settings, the defaults filled in
    common = {
        "seed": settings["seed"],
        "melody_length": int(env.melody_length),
        "key": env.key,
        "progress": progress,
    }
    note_rnn = resolve_note_rnn(settings.get("note_rnn"))
    name = settings["algo"]
    agent_samples = sample(sampler, samples, agent=name, full_primer=False, **common)
    rnn_samples = sample(note_rnn_sampler(note_rnn), samples, agent="note_rnn", **common)
    written = []
    for s in (agent_samples, rnn_samples):
        written.append(write_jsonl(s, out / "samples" / f"{s.agent}.jsonl"))
        if export:
            export_melodies(s, out / "midi", "mid", count=export)
            export_melodies(s, out / "musicxml", "musicxml", count=export)
    evaluations = [
        evaluate_samples(
            s,
            note_rnn,
            reward_scale=float(env.reward_scale),
            note_rnn_weight=float(env.note_rnn_weight),
        )
        for s in (rnn_samples, agent_samples)
    ]
    md, csv_path = write_tables(evaluations, out)
    estimates = measure_both(model, note_rnn, settings, samples)
    write_objective(estimates, md, csv_path)
    figure = plot_piano_rolls(
        {"Note RNN": rnn_samples.tokens[:4], name: agent_samples.tokens[:4]}, out / "piano_roll.png"
    )
    header, rows = table_rows(evaluations)
    print(text_table(header, rows), end="")
    print(text_table(*objective_rows(estimates)), end="")
    print(f"agent:       {out / 'agent.safetensors'} (+ .json)")
    print(f"samples:     {', '.join(str(p) for p in written)}")
    if export:
        print(f"listen:      {out / 'midi'}/, {out / 'musicxml'}/")
    print(f"piano roll:  {figure}")
    print(f"evaluation:  {md}, {csv_path}")
    print(f"tensorboard: tensorboard --logdir {out / 'tensorboard'}")
