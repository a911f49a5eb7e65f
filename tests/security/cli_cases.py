"""Run one ``sequence-tutor`` command on a hostile input and judge what happened.

The command runs through :func:`sequence_tutor.cli.main` in a forked child (the console script's own
code path, without paying the imports again) with:

* an address-space ceiling (``RLIMIT_AS`` = the parent's size + ``headroom_mb``) and a deadline;
* ``HOME``, ``TMPDIR``, ``SEQUENCE_TUTOR_CACHE``, ``MPLCONFIGDIR`` and the working directory moved
  into a sandbox folder, so a write to any default location shows up in the sandbox;
* stderr captured.

A case passes when the pickle marker never appears, nothing outside the allowed folders of the
sandbox changed, no ``ESCAPED_FILE`` exists anywhere near, the exit code is 2 (or 0 where the
input is tolerated), stderr is one line naming the input and holds no traceback, and that line is
not ``main``'s last resort for an exception nothing expected (a bug, as an escaped one was).
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from sequence_tutor.cli import DEBUG_ENV
from tests.security import hostile
from tests.security.bounded import run_bounded


@dataclass
class CliOutcome:
    status: str  #: "returned", "raised" (an exception escaped main), "timeout", "killed"
    code: int | None = None
    stderr: str = ""
    error: str = ""
    seconds: float = 0.0
    marker: bool = False
    outside_writes: list[str] = field(default_factory=list)
    escaped: list[str] = field(default_factory=list)

    def problems(self, names: list[str], tolerated: bool = False) -> list[str]:
        """Why this outcome fails the contract (empty when it passes)."""
        found = []
        if self.marker:
            found.append("CODE RAN (marker file created)")
        if self.escaped:
            found.append(f"wrote outside via ../: {self.escaped}")
        if self.outside_writes:
            found.append(f"wrote outside its folders: {self.outside_writes[:3]}")
        if self.status != "returned":
            found.append(f"{self.status}: {self.error[:200]}")
            return found
        if tolerated and self.code == 0:
            return found
        if self.code == 0:
            found.append("accepted (exit 0)")
        lines = self.stderr.strip().splitlines()
        if "Traceback" in self.stderr:
            found.append("traceback on stderr")
        last = lines[-1] if lines else ""
        if not last.startswith("sequence-tutor ") or ": error: " not in last:
            found.append(f"no one-line error (stderr: {self.stderr.strip()[-200:]!r})")
        elif DEBUG_ENV in last:  # main's last resort: an exception nothing expected escaped
            found.append(f"unexpected exception: {last[:200]!r}")
        elif not any(name in last for name in names):
            found.append(f"error does not name the input: {last[:200]!r}")
        return found


SANDBOX_ENV = {"HOME": "home", "TMPDIR": "tmp", "SEQUENCE_TUTOR_CACHE": "cache",
               "MPLCONFIGDIR": "home/mpl", "XDG_CACHE_HOME": "home/.cache"}  # fmt: skip


def _child_main(argv: list[str], sandbox: Path) -> list:
    for name, sub in SANDBOX_ENV.items():
        os.environ[name] = str(sandbox / sub)
    os.chdir(sandbox / "cwd")
    import tempfile  # noqa: PLC0415

    tempfile.tempdir = None  # re-read TMPDIR
    from sequence_tutor.cli import main  # noqa: PLC0415

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse errors
            code = exc.code if isinstance(exc.code, int) else 2
    return [int(code), err.getvalue()]


_WARM: list = []


def warm_imports() -> None:
    """Import what the commands import, once, in the parent: every forked child then starts in
    milliseconds instead of re-importing torch, music21 and SB3 (seconds each)."""
    if _WARM:
        return
    import importlib  # noqa: PLC0415

    for name in ("torch", "music21", "pretrain.corpus", "pretrain.training", "pretrain.tokenizer",
                 "pretrain.abc_reader", "sequence_tutor.cli", "stable_baselines3", "envs"):  # fmt: skip
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    import torch  # noqa: PLC0415

    torch.set_num_threads(1)
    from sequence_tutor.cli import build_parser  # noqa: PLC0415

    build_parser()  # imports every command module
    _WARM.append(True)


def run_cli_case(
    argv: list[str],
    sandbox: Path,
    *,
    allowed: list[str],
    marker: Path | None = None,
    headroom_mb: int = 1536,
    timeout_s: int = 180,
) -> CliOutcome:
    """Run ``sequence-tutor ARGV`` in a bounded child; ``allowed`` are sandbox-relative folders
    the command may write (its output folder, the corpus cache)."""
    warm_imports()
    for sub in [*SANDBOX_ENV.values(), "cwd"]:
        (sandbox / sub).mkdir(parents=True, exist_ok=True)
    marker = marker or sandbox / hostile.MARKER_NAME
    watch = sandbox.parent
    before = hostile.snapshot(watch)
    outcome = run_bounded(lambda: _child_main(argv, sandbox), headroom_mb=headroom_mb,
                          timeout_s=timeout_s)  # fmt: skip
    after = hostile.snapshot(watch)
    prefix = f"{sandbox.name}/"
    allowed_full = [prefix + a for a in allowed] + [prefix + "tmp", prefix + "cwd"]
    changed = hostile.changed(before, after, allowed_full)
    result = CliOutcome(
        status=outcome.status,
        seconds=outcome.seconds,
        error=f"{outcome.error_type}: {outcome.message}" if outcome.error_type else outcome.message,
        marker=marker.exists(),
        outside_writes=[c for c in changed if not c.startswith(prefix + "home/mpl")],
        escaped=[str(p) for p in watch.parent.rglob(hostile.ESCAPE_NAME)]
        + [str(p) for p in Path("/tmp").glob(hostile.ESCAPE_NAME)],
    )
    if outcome.status == "returned":
        result.code, result.stderr = outcome.value
    return result
