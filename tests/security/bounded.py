"""Run a function in a forked child with a memory ceiling and a deadline (Linux).

``RLIMIT_AS`` caps the child's address space at its size when forked plus ``headroom_mb``, so a
loader that tries to allocate gigabytes fails inside the child (MemoryError or a refused mmap)
instead of taking the machine down; ``alarm`` turns a hang (a FIFO, an endless file) into a
reported timeout. The result travels back as JSON (never pickle).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import traceback
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Outcome:
    """What happened in the child: ``status`` is "returned", "raised", "timeout" or "killed"."""

    status: str
    value: object = None  #: the JSON-able return value
    error_type: str = ""
    message: str = ""
    seconds: float = 0.0

    @property
    def one_line(self) -> bool:
        return "\n" not in self.message


def _vm_size_bytes() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def run_bounded(
    fn: Callable[[], object], *, headroom_mb: int = 1024, timeout_s: int = 60
) -> Outcome:
    """Call ``fn()`` in a forked child under a memory ceiling and a deadline."""
    import time  # noqa: PLC0415

    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        status = 1
        try:
            os.close(read_fd)
            limit = _vm_size_bytes() + headroom_mb * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(timeout_s)
            start = time.perf_counter()
            try:
                value = fn()
                result = {"status": "returned", "value": value}
            except BaseException as exc:  # report every failure, typed
                result = {
                    "status": "raised",
                    "error_type": type(exc).__name__,
                    "message": str(exc),
                    "traceback": traceback.format_exc(limit=-3),
                }
            result["seconds"] = time.perf_counter() - start
            data = json.dumps(result, default=str).encode()
            with os.fdopen(write_fd, "wb") as handle:
                handle.write(data)
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as handle:
        data = handle.read()
    _, wait_status = os.waitpid(pid, 0)
    if not data:
        if os.WIFSIGNALED(wait_status) and os.WTERMSIG(wait_status) == signal.SIGALRM:
            return Outcome("timeout", message=f"no answer within {timeout_s} s")
        return Outcome("killed", message=f"child ended with wait status {wait_status}")
    result = json.loads(data)
    return Outcome(
        result["status"],
        result.get("value"),
        result.get("error_type", ""),
        result.get("message", ""),
        result.get("seconds", 0.0),
    )
