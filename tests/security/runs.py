"""Small training runs that can be killed, for the fault tests and ``benchmarks/reliability.py``.

A run is started in a forked child (torch and the code are already imported, so a start costs
milliseconds instead of seconds), killed with SIGKILL at a random moment, inspected on disk, and
resumed. ``fingerprint`` reduces a finished run to what must not depend on interruptions.
"""

from __future__ import annotations

import os
import signal
import time
import types
from pathlib import Path

import numpy as np

from pretrain.vocabulary import DEFAULT_VOCABULARY

TINY_PRETRAIN = dict(
    epochs=16, batch_size=16, window=48, steps_per_epoch=4, seed=0, patience=100, lr_decay=0.5
)
TIMING_KEYS = {
    "train_tokens_per_second",
    "elapsed",
    "seconds",
    "tokens_per_second",
    "train_seconds",
    "train_cpu_seconds",
}


def tiny_corpus(seed: int = 0, tunes: int = 40, length: int = 96):
    """A CorpusLike of random token tunes (training needs only arrays, a vocabulary, a hash)."""
    rng = np.random.default_rng(seed)
    arrays = [
        rng.integers(0, DEFAULT_VOCABULARY.size, length).astype(np.int8) for _ in range(tunes)
    ]
    return types.SimpleNamespace(
        train=arrays[4:], valid=arrays[:4], vocabulary=DEFAULT_VOCABULARY, hash=f"tiny-{seed}"
    )


def run_pretrain(out: Path, log_path: Path | None = None, hidden: int = 48, **changes):
    """Train (or resume, if ``out`` holds a run) the tiny Note RNN in this process."""
    import torch  # noqa: PLC0415

    from pretrain.models import NoteRNNConfig  # noqa: PLC0415
    from pretrain.training import RESUME_FILE, TrainingConfig, train_note_rnn  # noqa: PLC0415

    torch.set_num_threads(1)
    resume = (Path(out) / RESUME_FILE).exists()
    settings = dict(TINY_PRETRAIN, **changes)

    def log(message: str) -> None:
        if log_path is not None:
            with open(log_path, "a") as handle:
                handle.write(message + "\n")

    return train_note_rnn(
        tiny_corpus(),
        out,
        model_config=None if resume else NoteRNNConfig(hidden_size=hidden),
        config=TrainingConfig(**settings),
        resume=resume,
        overrides=changes if resume else None,
        progress=False,
        tensorboard=False,
        log=log,
    )


_WARM = []


def warm_up() -> None:
    """Run one tiny training in this process, once: torch's first ops take seconds, and every
    forked child would pay that again unless the parent already did."""
    if not _WARM:
        import tempfile  # noqa: PLC0415

        with tempfile.TemporaryDirectory() as folder:
            run_pretrain(Path(folder) / "run", epochs=1)
        _WARM.append(True)


def fork_call(fn, *args, **kwargs) -> int:
    """Run ``fn`` in a forked child (exit code 0 on success, 1 on an exception); return its pid."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            fn(*args, **kwargs)
            code = 0
        except BaseException as exc:  # the parent reads the exit code; say why on stderr
            os.write(2, f"child failed: {type(exc).__name__}: {exc}\n".encode())
        finally:
            os._exit(code)
    return pid


def kill_at(pid: int, seconds: float) -> bool:
    """SIGKILL ``pid`` after ``seconds``; True if it was still running (so it was killed)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return False
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return True


def kill_after_epoch(pid: int, log_path: Path, epoch: int, jitter: float) -> bool:
    """SIGKILL ``pid`` ``jitter`` seconds after its log reaches ``epoch``; True if it was killed.

    Tied to the run's progress rather than to the clock, so a kill lands inside the run however
    fast or loaded the machine is (a wall-clock delay missed short runs on an idle machine)."""
    while last_logged_epoch(log_path) < epoch:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return False
        time.sleep(0.005)
    return kill_at(pid, jitter)


def kill_after_checkpoint(pid: int, out: Path, jitter: float = 0.0, timeout: float = 300) -> bool:
    """SIGKILL the ``train`` run ``pid`` ``jitter`` seconds after it writes a checkpoint (its
    ``checkpoints/latest.json`` names a later step than when it started); True if it was killed.

    Like :func:`kill_after_epoch`, tied to progress: right after the first checkpoint of a fresh
    run, the run is surely in its middle, with training left to do."""
    pointer = Path(out) / "checkpoints" / "latest.json"
    start = _pointer_step(pointer)
    deadline = time.monotonic() + timeout
    while _pointer_step(pointer) <= start:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return False
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise TimeoutError(f"child {pid} wrote no checkpoint in {timeout} s")
        time.sleep(0.005)
    return kill_at(pid, jitter)


def _pointer_step(pointer: Path) -> int:
    """The step ``latest.json`` names, 0 if there is none (it is replaced atomically)."""
    import json  # noqa: PLC0415

    try:
        return int(json.loads(pointer.read_text())["num_timesteps"])
    except FileNotFoundError:
        return 0


def wait(pid: int, timeout: float = 300) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise TimeoutError(f"child {pid} still running after {timeout} s")


def last_logged_epoch(log_path: Path) -> int:
    if not log_path.exists():
        return 0
    epochs = [
        int(line.split()[1].rstrip(":"))
        for line in log_path.read_text().splitlines()
        if line.startswith("epoch ")
    ]
    return max(epochs, default=0)


def inspect_pretrain_out(out: Path) -> dict:
    """Load every checkpoint file the run left; raise AssertionError on any damaged one."""
    from safetensors.torch import load_file  # noqa: PLC0415

    from pretrain.checkpoint import load_note_rnn  # noqa: PLC0415
    from pretrain.training import RESUME_FILE, read_training_state  # noqa: PLC0415

    result = {"resume_step": None, "checkpoint": False, "temp_files": 0}
    for path in sorted(Path(out).iterdir()) if Path(out).exists() else []:
        if path.name.startswith(".") and path.name.endswith(".tmp"):
            result["temp_files"] += 1  # an interrupted atomic write: never read by anyone
            continue
        if path.suffix == ".safetensors":
            load_file(str(path))  # raises on a torn file
    state_path = Path(out) / RESUME_FILE
    if state_path.exists():
        _, state = read_training_state(state_path)
        result["resume_step"] = int(state["step"])
    checkpoints = sorted(Path(out).glob("note_rnn_*.json"))
    for config in checkpoints:
        load_note_rnn(config)
        result["checkpoint"] = True
    return result


def fingerprint(out: Path) -> dict:
    """What an interrupted-and-resumed run must share with an uninterrupted one."""
    import json  # noqa: PLC0415

    from pretrain.training import RESUME_FILE, read_training_state  # noqa: PLC0415

    tensors, state = read_training_state(Path(out) / RESUME_FILE)
    weights = {k: v.numpy().tobytes() for k, v in sorted(tensors.items()) if k.startswith("model.")}
    history = [
        {k: v for k, v in epoch.items() if k not in TIMING_KEYS} for epoch in state["history"]
    ]
    best = {}
    for config in sorted(Path(out).glob("note_rnn_*.json")):
        metrics = json.loads(config.read_text())["metrics"]
        best = {k: v for k, v in metrics.items() if k not in TIMING_KEYS}
    return {
        "step": state["step"],
        "weights": weights,
        "history": history,
        "best": best,
        "finished": state["finished"],
    }


TRAIN_STEPS = 768
TINY_TRAIN = ["--steps", str(TRAIN_STEPS), "--checkpoint-every", "160", "--samples", "4",
              "--export", "0", "--learning-starts", "32", "--no-progress", "--seed", "3"]  # fmt: skip
# 160 = 5 compositions of 32 steps = 32 rounds of train_freq 5: checkpoints land on time (a due
# checkpoint waits for such a boundary, where resuming is bit-identical).
TRAIN_INTERVAL = 160


def run_train(out: Path, *extra: str) -> None:
    """``sequence-tutor train --out OUT`` (``--resume`` if OUT holds a run) in this process."""
    import contextlib  # noqa: PLC0415
    import io  # noqa: PLC0415

    from sequence_tutor.cli import main  # noqa: PLC0415

    resume = ["--resume"] if (Path(out) / "run.json").exists() else []
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["train", "--out", str(out), *TINY_TRAIN, *resume, *extra])
    if code:
        raise SystemExit(code)


def inspect_train_out(out: Path) -> dict:
    """Check that ``latest.json`` names a complete checkpoint (agent and training state load);
    return its step and the newest step folder present (possibly a half-written one)."""
    import json  # noqa: PLC0415

    from safetensors.torch import load_file  # noqa: PLC0415

    from agents.agent_file import load_agent_policy  # noqa: PLC0415
    from agents.training_state import latest_checkpoint  # noqa: PLC0415

    folder = Path(out) / "checkpoints"
    steps = [int(p.name.split("_")[1]) for p in folder.glob("step_*")] if folder.exists() else []
    latest = latest_checkpoint(folder) if folder.exists() else None
    if latest is None:
        return {"latest": None, "newest": max(steps, default=None), "folders": len(steps)}
    _, meta = load_agent_policy(latest / "agent")  # raises on a torn file
    load_file(str(latest / "training.safetensors"))
    json.loads((latest / "training.json").read_text())
    return {"latest": int(meta["num_timesteps"]), "newest": max(steps), "folders": len(steps)}
