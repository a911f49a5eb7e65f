"""Faults (issue 8): kill -9 during pretraining, full disk, read-only output folder.

The kill tests fork a child that trains a tiny Note RNN (torch already imported, so starting is
instant), SIGKILL it at seeded random moments, check that every file on disk is a complete
checkpoint (the previous or the new one), resume, and require the resumed run to end bit-for-bit
where an uninterrupted run with the same seed ends (CPU training here is deterministic).
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time

import pytest

from pretrain.atomic_write import ensure_writable_dir
from pretrain.errors import SequenceTutorError
from pretrain.training import RESUME_FILE
from tests.security import runs
from tests.security.bounded import run_bounded

STEPS_PER_EPOCH = runs.TINY_PRETRAIN["steps_per_epoch"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "run"
    runs.run_pretrain(out)  # in this process: also warms torch up for the forked runs
    return runs.fingerprint(out)


@pytest.fixture(scope="module")
def reference_long(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference_long") / "run"
    runs.run_pretrain(out, epochs=60)
    return runs.fingerprint(out)


def kill_and_resume(
    out, log, rng, kills: int, max_delay: float = 1.4, by_epoch: bool = False, **changes
) -> list[dict]:
    """Kill the run ``kills`` times at random moments, checking the disk after each kill.

    ``by_epoch``: kill at a random moment inside a random later epoch (progress-based, so every
    kill lands inside the run); otherwise after a random wall-clock delay."""
    records = []
    epochs = changes.get("epochs", runs.TINY_PRETRAIN["epochs"])
    for _ in range(kills):
        pid = runs.fork_call(runs.run_pretrain, out, log, **changes)
        if by_epoch:
            target = min(runs.last_logged_epoch(log) + rng.randint(1, 8), epochs - 1)
            delay = rng.uniform(0.0, 0.03)  # a tiny epoch takes ~0.1 s
            killed = runs.kill_after_epoch(pid, log, target, delay)
        else:
            delay = rng.uniform(0.05, max_delay)  # a warm 16-epoch run takes ~1.6 s
            killed = runs.kill_at(pid, delay)
        found = runs.inspect_pretrain_out(out)  # raises on a torn or half-written file
        logged = runs.last_logged_epoch(log)
        if found["resume_step"] is not None:
            # saved at each epoch end, right after the epoch is logged: at most one epoch lost
            assert found["resume_step"] >= (logged - 1) * STEPS_PER_EPOCH
            assert found["resume_step"] % STEPS_PER_EPOCH == 0
        records.append(dict(found, killed=killed, delay=round(delay, 2), logged_epoch=logged))
    assert runs.wait(runs.fork_call(runs.run_pretrain, out, log, **changes)) == 0
    return records


def test_kill9_during_pretrain_then_resume_matches_uninterrupted(tmp_path, reference):
    out, log = tmp_path / "run", tmp_path / "log.txt"
    records = kill_and_resume(out, log, random.Random(1), kills=2)
    assert any(r["killed"] for r in records)
    assert runs.fingerprint(out) == reference


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5))
def test_kill9_many_times_during_pretrain(tmp_path, reference_long, seed):
    out, log = tmp_path / "run", tmp_path / "log.txt"
    records = kill_and_resume(
        out, log, random.Random(100 + seed), kills=5, by_epoch=True, epochs=60
    )
    assert sum(r["killed"] for r in records) >= 3
    assert runs.fingerprint(out) == reference_long


# --------------------------------------------------------------------------- full / read-only


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None and sys.platform == "linux"


@pytest.fixture
def tmpfs(tmp_path):
    """A 1 MiB tmpfs (root only): a disk that really fills up."""
    if not _can_mount():
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder this process cannot write: chmod for a normal user, a read-only bind for root."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    if not _can_mount():
        pytest.skip("root ignores permissions and cannot mount here")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True
    )
    if done.returncode:
        pytest.skip(f"cannot mount a read-only tmpfs: {done.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_read_only_output_fails_at_start(read_only_dir):
    with pytest.raises(SequenceTutorError, match=r"ro/run: output folder is not writable"):
        ensure_writable_dir(read_only_dir / "run")


def test_full_disk_fails_at_start(tmpfs):
    with pytest.raises(SequenceTutorError, match=r"small: output folder has only 1\.0 MiB free"):
        ensure_writable_dir(tmpfs)


def test_low_free_space_fails_at_start(tmp_path, monkeypatch):
    import shutil as shutil_module  # noqa: PLC0415

    usage = shutil_module.disk_usage(tmp_path)
    monkeypatch.setattr(shutil_module, "disk_usage", lambda path: usage._replace(free=5 * 2**20))
    with pytest.raises(SequenceTutorError, match=r"only 5\.0 MiB free; at least 16 MiB"):
        ensure_writable_dir(tmp_path / "out")


def test_pretrain_cli_checks_output_before_the_corpus(read_only_dir, tmp_path, capsys):
    """The command fails in its first second, before parsing any melody."""
    from sequence_tutor.cli import main  # noqa: PLC0415

    data = tmp_path / "data"
    data.mkdir()
    (data / "tune.abc").write_text("X:1\nK:C\nCDEF|]\n")
    code = main(
        [
            "pretrain",
            "--data",
            str(data),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--out",
            str(read_only_dir / "run"),
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "not writable" in err and "ro/run" in err
    assert not (tmp_path / "cache").exists()  # no corpus work was spent


def _resume_with_file_size_limit(out, limit: int) -> dict:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    try:
        runs.run_pretrain(out, epochs=4)
    except OSError as exc:
        return {"errno": exc.errno, "filename": exc.filename}
    return {"errno": None}


def test_disk_full_mid_run_keeps_the_last_checkpoint(tmp_path):
    """Writes start failing (EFBIG from RLIMIT_FSIZE, as a full disk would give ENOSPC) after a
    complete checkpoint exists: the error names the file and every file on disk is intact."""
    runs.warm_up()
    out = tmp_path / "run"
    assert runs.wait(runs.fork_call(runs.run_pretrain, out, epochs=2)) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    state_size = (out / RESUME_FILE).stat().st_size
    outcome = run_bounded(lambda: _resume_with_file_size_limit(out, state_size // 2), timeout_s=60)
    assert outcome.status == "returned", outcome.message
    assert outcome.value["errno"] == 27
    assert outcome.value["filename"].endswith(RESUME_FILE)  # names the file, not a temp name
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after[RESUME_FILE] == before[RESUME_FILE]  # the last resume state is untouched
    assert not [name for name in after if name.endswith(".tmp")]
    found = runs.inspect_pretrain_out(out)
    assert found["resume_step"] == 2 * STEPS_PER_EPOCH and found["checkpoint"]


def test_disk_fills_mid_run_on_a_real_tmpfs(tmpfs, tmp_path):
    """The run lives on a 1 MiB tmpfs; after its first checkpoint the disk is filled up."""
    runs.warm_up()
    out = tmpfs / "run"
    assert runs.wait(runs.fork_call(runs.run_pretrain, out, epochs=2)) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    fd = os.open(tmpfs / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError as exc:
        assert exc.errno == 28
    finally:
        os.close(fd)
    outcome = run_bounded(lambda: _resume_with_file_size_limit(out, 2**40), timeout_s=60)
    assert outcome.status == "returned", outcome.message
    assert outcome.value["errno"] == 28  # ENOSPC, as an OSError naming the target
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {k: v for k, v in after.items() if not k.endswith(".tmp")}.keys() <= before.keys()
    assert after[RESUME_FILE] == before[RESUME_FILE]
    assert runs.inspect_pretrain_out(out)["resume_step"] == 2 * STEPS_PER_EPOCH


# --------------------------------------------------------------------------- train


@pytest.mark.slow
def test_kill9_during_train_keeps_a_complete_checkpoint_and_resumes(tmp_path):
    """SIGKILL ``sequence-tutor train`` right after its first checkpoint, then at random moments:
    ``latest.json`` always names a complete checkpoint, at most one checkpoint interval is lost,
    and ``--resume`` finishes the run with exactly the weights of an uninterrupted run of the
    same seed."""
    from tests.security.cli_cases import warm_imports  # noqa: PLC0415

    warm_imports()
    reference = tmp_path / "reference"
    started = time.monotonic()
    assert runs.wait(runs.fork_call(runs.run_train, reference)) == 0
    # The first kill comes right after the run's first checkpoint, so one restart surely
    # continues from the middle of the run. The others come at random fractions of a whole run's
    # duration (measured here, so the kills land inside the run on a fast idle machine and on a
    # loaded one alike): the first of them always comes before the run could finish, later ones
    # may find it done.
    duration = time.monotonic() - started
    out = tmp_path / "run"
    rng = random.Random(7)
    killed = 0
    resumed_from = []  # the checkpoint step each restart continued from (None: from scratch)
    for attempt in range(5):
        pid = runs.fork_call(runs.run_train, out)
        if attempt == 0:
            killed += runs.kill_after_checkpoint(pid, out)
        else:
            killed += runs.kill_at(pid, rng.uniform(0.05, 0.4) * duration)
        found = runs.inspect_train_out(out)
        if found["latest"] is not None:
            assert found["newest"] - found["latest"] <= runs.TRAIN_INTERVAL
        resumed_from.append(found["latest"])
    assert killed >= 2
    assert runs.wait(runs.fork_call(runs.run_train, out)) == 0
    # A restart from a checkpoint before the end, with training left to do: else every restart
    # began from scratch or from the finished run, and bit-identity would prove nothing about
    # resuming mid-run.
    mid_run = [step for step in resumed_from if step is not None and 0 < step < runs.TRAIN_STEPS]
    assert mid_run, resumed_from
    import torch  # noqa: PLC0415
    from safetensors.torch import load_file  # noqa: PLC0415

    from agents.agent_file import load_agent_policy  # noqa: PLC0415

    _, meta = load_agent_policy(out)
    assert meta["num_timesteps"] >= runs.TRAIN_STEPS
    assert (out / "samples" / "psi.jsonl").is_file() and (out / "evaluation.md").is_file()
    assert not list(out.rglob("*.tmp"))  # --resume cleared what the kills left half-written
    expected = load_file(str(reference / "agent.safetensors"))
    found = load_file(str(out / "agent.safetensors"))
    assert expected.keys() == found.keys()
    assert all(torch.equal(expected[k], found[k]) for k in expected)
    assert (out / "samples" / "psi.jsonl").read_bytes() == (
        reference / "samples" / "psi.jsonl"
    ).read_bytes()


def test_checkpoint_files_get_normal_permissions(tmp_path):
    """safetensors' save_file replaces the temporary file with a new 0600 one; the written
    checkpoint must still be readable like any file (0666 minus the umask)."""
    runs.warm_up()
    out = tmp_path / "run"
    runs.run_pretrain(out, epochs=1)
    umask = os.umask(0)
    os.umask(umask)
    for path in out.iterdir():
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path.name


def test_stale_temporaries_of_a_killed_writer_are_removed_and_nothing_else(tmp_path):
    from pretrain.atomic_write import atomic_path, remove_stale_temporaries

    (tmp_path / "checkpoints" / "step_1").mkdir(parents=True)
    stale = [
        tmp_path / ".resume.safetensors.k2j_9xq1.tmp",
        tmp_path / "checkpoints" / "step_1" / ".agent.safetensors.abcdefgh.tmp",
        tmp_path / ".write-test.Z0Z0Z0Z0.tmp",
    ]
    kept = [
        tmp_path / "notes.tmp",
        tmp_path / ".hidden.tmp",
        tmp_path / "resume.safetensors",
        tmp_path / ".x.toolongsuffix.tmp",
    ]
    for path in stale + kept:
        path.write_bytes(b"partial")
    with atomic_path(tmp_path / "live.json") as tmp:  # the name a real writer uses matches
        assert remove_stale_temporaries(tmp_path.parent / "absent") == []
        assert tmp.name.startswith(".live.json.") and tmp.name.endswith(".tmp")
        tmp.write_text("{}")
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted(stale)
    assert all(p.exists() for p in kept) and not any(p.exists() for p in stale)
    assert (tmp_path / "live.json").read_text() == "{}"


def test_pretrain_resume_clears_temporaries_left_by_a_kill(tmp_path, capsys):
    from sequence_tutor.cli import main

    folder = tmp_path / "melodies"
    folder.mkdir()
    tunes = [f"X:{i}\nT:T{i}\nM:4/4\nL:1/8\nK:C\nCDEF GABc|cBAG FEDC|]\n" for i in range(1, 9)]
    (folder / "t.abc").write_text("\n".join(tunes))
    args = [
        "pretrain", "--data", str(folder), "--cache-dir", str(tmp_path / "cache"),
        "--workers", "1", "--hidden", "8", "--batch-size", "2", "--window", "8",
        "--steps-per-epoch", "1", "--no-progress", "--no-tensorboard", "--out", str(tmp_path / "o"),
    ]  # fmt: skip
    assert main([*args, "--epochs", "1"]) == 0
    stale = tmp_path / "o" / f".{RESUME_FILE}.a1b2c3d4.tmp"
    stale.write_bytes(b"half a state")
    assert main([*args, "--resume", "--epochs", "2"]) == 0, capsys.readouterr().err
    assert not stale.exists()
    assert not [p.name for p in (tmp_path / "o").iterdir() if p.name.endswith(".tmp")]
