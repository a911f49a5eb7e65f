"""``sequence-tutor sample``: compositions from the Note RNN or a tuned agent, as JSON Lines.

One line per composition: ``{"tokens": [...], "primer": [...], "key": ..., "agent": ..., "seed": S}``
(DESIGN.md); ``--midi DIR`` / ``--musicxml DIR`` also write the first compositions as files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pretrain.config import check_value, field_of, flag_of
from pretrain.errors import SequenceTutorError
from sequence_tutor.cli.options import DEFAULT_IN_TEXT

HELP = "sample compositions from the Note RNN or a tuned agent"
DESCRIPTION = (
    "Sample compositions from the Note RNN (--agent note-rnn), the shipped tuned Psi agent "
    "(--agent psi) or an agent checkpoint (--agent PATH: a train output folder or NAME.json, "
    "of any --algo: q, psi, g, rloo, grpo, ppo-kl), "
    "following the stochastic policy. Writes JSON Lines to --out and, optionally, MIDI and "
    "MusicXML files."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from envs.config import EnvConfig  # noqa: PLC0415

    parser.add_argument(
        "--agent",
        default="psi",
        metavar="{note-rnn,psi,CKPT}",
        help="note-rnn, the shipped psi agent, or an agent checkpoint",
    )
    parser.add_argument("--n", type=int, default=100, help="number of compositions")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--out", type=Path, required=True, help="JSON Lines file to write")
    parser.add_argument("--midi", type=Path, default=None, help="folder for MIDI files")
    parser.add_argument("--musicxml", type=Path, default=None, help="folder for MusicXML files")
    parser.add_argument(
        "--max-files", type=int, default=20, help="compositions written to --midi / --musicxml"
    )
    parser.add_argument(
        "--note-rnn",
        type=Path,
        default=None,
        metavar="CKPT",
        help="Note RNN checkpoint for --agent note-rnn (default: the shipped LSTM)",
    )
    # The env's settings, with "not given" meaning: an agent's own (note-rnn: the env's default).
    for name, kind in (("key", str), ("melody_length", int)):
        field = field_of(EnvConfig, name)
        text = f"{field.metadata['help']} (note-rnn: default {field.default!r}; agents: their own)"
        parser.add_argument(
            flag_of(field), type=kind, default=None, help=text.replace("%", "%%") + DEFAULT_IN_TEXT
        )
    parser.add_argument(
        "--primer",
        type=int,
        nargs="+",
        default=None,
        help="primer tokens (default: a random in-key note per composition)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def load_source(agent: str, note_rnn: Path | None = None):
    """``(sampler, name, key, melody_length, full_primer)`` for an --agent value."""
    from agents.agent_file import agent_paths, load_agent_policy, shipped_agent  # noqa: PLC0415
    from agents.policy import resolve_note_rnn  # noqa: PLC0415
    from agents.sampling import note_rnn_sampler, policy_sampler  # noqa: PLC0415

    if agent == "note-rnn":
        return note_rnn_sampler(resolve_note_rnn(note_rnn)), "note_rnn", None, None, True
    path = shipped_agent("psi") if agent == "psi" else Path(agent)
    if agent != "psi" and not path.exists() and not agent_paths(path)[1].exists():
        raise SequenceTutorError(
            f"--agent {agent}: not note-rnn, psi, or an agent checkpoint (folder, NAME.json or "
            "NAME.safetensors)"
        )
    from agents.policy_gradient.training import is_pg_agent_file, load_pg_sampler  # noqa: PLC0415

    if is_pg_agent_file(path):  # an rloo / grpo / ppo-kl run folder or agent file
        sampler, meta = load_pg_sampler(path)
        key = (meta.get("metadata") or {}).get("env_kwargs", {}).get("key")
        return sampler, meta["algo"], key, meta["melody_length"], False
    policy, meta = load_agent_policy(path)
    name = "psi" if agent == "psi" else meta["algo"]
    env_kwargs = meta.get("env_kwargs", {})
    return (
        policy_sampler(policy),
        name,
        env_kwargs.get("key"),
        meta["melody_length"],
        False,
    )


def run(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise SequenceTutorError(f"--n must be >= 1, got {args.n}")
    if args.max_files < 0:
        raise SequenceTutorError(f"--max-files must be >= 0, got {args.max_files}")
    if args.out.is_dir():
        raise SequenceTutorError(f"--out {args.out}: is a folder; expected a .jsonl file")
    for flag, folder in (("--midi", args.midi), ("--musicxml", args.musicxml)):
        if folder is not None and folder.exists() and not folder.is_dir():
            raise SequenceTutorError(f"{flag} {folder}: exists and is not a folder")
    import torch  # noqa: PLC0415

    from agents.sampling import export_melodies, sample, write_jsonl  # noqa: PLC0415
    from envs.config import EnvConfig  # noqa: PLC0415

    torch.set_num_threads(1)
    sampler, name, key, length, full_primer = load_source(args.agent, args.note_rnn)
    if length is not None and args.melody_length not in (None, length):
        raise SequenceTutorError(
            f"--melody-length {args.melody_length}: this agent composes {length} steps"
        )
    check_value(field_of(EnvConfig, "melody_length"), args.melody_length, "--melody-length")
    samples = sample(
        sampler,
        args.n,
        agent=name,
        seed=args.seed,
        melody_length=length or args.melody_length or EnvConfig.melody_length,
        key=args.key or key or EnvConfig.key,
        primer=args.primer,
        full_primer=full_primer,
        progress=not args.no_progress,
    )
    path = write_jsonl(samples, args.out)
    print(f"{len(samples)} compositions from {name}: {path}")
    if args.midi is not None:
        files = export_melodies(samples, args.midi, "mid", count=args.max_files)
        print(f"MIDI: {len(files)} files in {args.midi}")
    if args.musicxml is not None:
        files = export_melodies(samples, args.musicxml, "musicxml", count=args.max_files)
        print(f"MusicXML: {len(files)} files in {args.musicxml}")
    return 0
