"""The ``sequence-tutor`` command line.

Each subcommand lives in its own module exposing ``HELP`` (one line), ``add_arguments(parser)``
and ``run(args) -> int``. Modules import torch, music21 and SB3 inside ``run`` so that
``--help`` stays fast. Errors a user can cause are :class:`~pretrain.errors.SequenceTutorError`
(or an ``OSError`` on a path): printed as one line, exit code 2, no traceback. Any other exception
(one raised deep inside training, say) is printed the same way, as its type and message, with a
hint that ``SEQUENCE_TUTOR_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from pretrain.errors import SequenceTutorError

# name -> module implementing it, in the order a user meets them.
COMMANDS = {
    "pretrain": "sequence_tutor.cli.pretrain",
    "train": "sequence_tutor.cli.train",
    "sample": "sequence_tutor.cli.sample",
    "evaluate": "sequence_tutor.cli.evaluate",
    "benchmark": "sequence_tutor.cli.benchmark",
    "report": "sequence_tutor.cli.report",
}
# Set (to anything but "" or "0") to get the traceback of an unexpected exception.
DEBUG_ENV = "SEQUENCE_TUTOR_DEBUG"


def _available_commands() -> dict:
    modules = {}
    for name, module_name in COMMANDS.items():
        try:
            modules[name] = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:  # a real missing dependency: let it surface
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sequence-tutor",
        description="Sequence Tutor: pretrain a Note RNN, tune it with KL-control RL, "
        "sample, evaluate and benchmark melodies.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in _available_commands().items():
        sub = subparsers.add_parser(
            name,
            help=module.HELP,
            description=getattr(module, "DESCRIPTION", module.HELP),
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except SequenceTutorError as exc:
        print(f"sequence-tutor {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f" {exc.filename}:" if getattr(exc, "filename", None) else ""
        print(
            f"sequence-tutor {args.command}: error:{where} {exc.strerror or exc}", file=sys.stderr
        )
        return 2
    except ImportError as exc:  # an optional package missing, found only when it is needed
        print(f"sequence-tutor {args.command}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sequence-tutor {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # last resort: anything else, however deep in the run it was raised
        if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            raise
        detail = _one_line(str(exc))
        cause = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        print(
            f"sequence-tutor {args.command}: error: {cause} (set {DEBUG_ENV}=1 for the traceback)",
            file=sys.stderr,
        )
        return 2


def _one_line(message: str) -> str:
    return " ".join(message.split())
