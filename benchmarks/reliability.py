"""Reliability table: every hostile input and fault of issue 8, tried for real, in one command.

    python benchmarks/reliability.py                 # full run (~10 minutes on 2 cores)
    python benchmarks/reliability.py --quick         # a few cases per row (~3 minutes)
    python benchmarks/reliability.py --out benchmarks/reliability.md
    python benchmarks/reliability.py --gpu-determinism   # on a CUDA machine: GPU repeatability

Hostile inputs come from ``tests/security/hostile.py``; each command runs through the console
script's ``main`` in a forked child under a 1.5 GiB address-space ceiling and a deadline, with
HOME/TMPDIR/cache moved into a sandbox (see ``tests/security/cli_cases.py``). A case passes when
no code ran (the pickle payload's marker file never appeared), nothing outside the output folder
and the corpus cache changed, and the command ended with exit code 2 and one stderr line naming
the input (or, for inputs marked tolerated, succeeded without writing anywhere else).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ROWS: list[tuple[str, str, str, str]] = []


def row(what: str, path: str, cases: int | str, result: str) -> None:
    ROWS.append((what, path, str(cases), result))
    print(f"| {what} | {path} | {cases} | {result} |", flush=True)


def summarise(outcomes: list[tuple[str, list[str]]]) -> str:
    failed = [(name, problems) for name, problems in outcomes if problems]
    n = len(outcomes)
    if not failed:
        return f"{n}/{n} pass: no code ran, no write outside, one-line error naming the file"
    detail = "; ".join(f"{name}: {problems[0]}" for name, problems in failed[:3])
    return f"**{n - len(failed)}/{n} pass**; failures: {detail}"


def pick(items: list, quick: bool, keep: int = 4) -> list:
    if not quick or len(items) <= keep:
        return list(items)
    return random.Random(0).sample(list(items), keep)


# --------------------------------------------------------------------------- hostile inputs


def hostile_rows(root: Path, quick: bool) -> None:
    """Every loading path fed the crafted hostile files of ``tests/security/hostile.py``."""
    from tests.security.cli_cases import warm_imports  # noqa: PLC0415

    warm_imports()
    _library_checkpoint_row(root, quick)
    _note_rnn_cli_rows(root, quick)
    _melody_rows(root, quick)
    run_folder = _trained_run(root)
    _agent_and_run_rows(root, quick, run_folder)
    _resume_state_row(root, quick)
    _sample_file_rows(root, quick, run_folder)
    _console_script_row(root)


def _sandbox(root: Path, label: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="case-", dir=root)) / "sandbox"
    folder.mkdir(parents=True)
    return folder


def _cli_rows(root, label, path_label, cases, argv_for, allowed, names_for, tolerated=()) -> None:
    """One table row: every case through the CLI in a sandbox, summarised."""
    from tests.security.cli_cases import run_cli_case  # noqa: PLC0415

    outcomes = []
    accepted = 0
    for name, build in cases:
        sandbox = _sandbox(root, name)
        argv, names = argv_for(sandbox, build)
        outcome = run_cli_case(argv, sandbox, allowed=allowed)
        problems = outcome.problems(names, name in tolerated)
        accepted += not problems and outcome.code == 0
        outcomes.append((name, problems))
    result = summarise(outcomes)
    if accepted:
        result += (f"; {accepted} harmless input(s) (a ../ name field, a corrupt optional "
                   "file) accepted: ran and wrote only into the output folder")  # fmt: skip
    row(label, path_label, len(outcomes), result)


def _library_checkpoint_row(root: Path, quick: bool) -> None:
    from tests.security import hostile  # noqa: PLC0415
    from tests.security.bounded import run_bounded  # noqa: PLC0415

    # Note RNN checkpoints, library loader
    outcomes = []
    for case in pick(hostile.CHECKPOINTS, quick):
        sandbox = _sandbox(root, case.name)
        (sandbox / "in").mkdir()
        marker = sandbox / hostile.MARKER_NAME
        path = case.build(sandbox / "in", marker)
        before = hostile.snapshot(sandbox)

        def load(path=path):
            from pretrain.checkpoint import load_note_rnn  # noqa: PLC0415
            from pretrain.errors import SequenceTutorError  # noqa: PLC0415

            try:
                load_note_rnn(path)
            except SequenceTutorError as exc:
                return str(exc)
            return None

        result = run_bounded(load, headroom_mb=1536, timeout_s=60)
        problems = []
        if marker.exists():
            problems.append("CODE RAN")
        if hostile.snapshot(sandbox) != before:
            problems.append("wrote files")
        if result.status != "returned":
            problems.append(f"{result.status} {result.error_type}")
        elif result.value is None and case.name != "../-names-in-json":
            problems.append("loaded")
        elif result.value is not None and (
            "\n" in result.value or str(sandbox) not in result.value
        ):
            problems.append("error not one line naming the file")
        outcomes.append((case.name, problems))
    row("Note RNN checkpoints: pickle as .pt / SB3 .zip / inside .safetensors, wrong shapes and "
        "dtypes, 2^62-byte header, 4 TiB tensor, 10^6-unit config, float/str sizes, JSON nested "
        "100k deep, 4 GiB sparse JSON, truncated, /dev/zero, ../ names",
        "`load_note_rnn` (library)", len(outcomes), summarise(outcomes))  # fmt: skip


def _note_rnn_cli_rows(root: Path, quick: bool) -> None:
    from tests.security import hostile  # noqa: PLC0415

    checkpoint_cases = [(c.name, c) for c in pick(hostile.CHECKPOINTS, quick)]

    def train_note_rnn(sandbox, case):
        (sandbox / "in").mkdir()
        path = case.build(sandbox / "in", sandbox / hostile.MARKER_NAME)
        argv = ["train", "--note-rnn", str(path), "--out", str(sandbox / "out"), "--steps", "64",
                "--samples", "2", "--export", "0", "--learning-starts", "16", "--no-progress"]  # fmt: skip
        return argv, [str(sandbox / "in")]

    _cli_rows(root, "the same Note RNN checkpoints", "`train --note-rnn`", checkpoint_cases,
             train_note_rnn, ["out"], None, {"../-names-in-json"})  # fmt: skip

    def sample_note_rnn(sandbox, case):
        (sandbox / "in").mkdir()
        path = case.build(sandbox / "in", sandbox / hostile.MARKER_NAME)
        argv = ["sample", "--agent", "note-rnn", "--note-rnn", str(path), "--n", "2",
                "--out", str(sandbox / "out" / "s.jsonl"), "--no-progress"]  # fmt: skip
        return argv, [str(sandbox / "in")]

    _cli_rows(root, "the same Note RNN checkpoints", "`sample --agent note-rnn --note-rnn`",
             checkpoint_cases, sample_note_rnn, ["out"], None, {"../-names-in-json"})  # fmt: skip


def _melody_rows(root: Path, quick: bool) -> None:
    from tests.security import hostile  # noqa: PLC0415
    from tests.security.bounded import run_bounded  # noqa: PLC0415

    melody_cases = [(c.name, c) for c in pick(hostile.MELODIES, quick)]

    def pretrain_data(sandbox, case):
        data = sandbox / "data"
        data.mkdir()
        path = case.build(data, sandbox / hostile.MARKER_NAME)
        argv = ["pretrain", "--data", str(data), "--cache-dir", str(sandbox / "cache"),
                "--out", str(sandbox / "out"), "--hidden", "4", "--epochs", "1",
                "--steps-per-epoch", "1", "--batch-size", "2", "--window", "8", "--workers", "1",
                "--no-progress", "--no-tensorboard"]  # fmt: skip
        return argv, [str(data), path.name]

    _cli_rows(root, "melody files: truncated / random-byte MIDI, MusicXML, ABC; XML billion laughs, XXE, "
             "200k-deep XML, .mxl zip bomb (1 GiB) and zip slip, notes of 10^9 beats, 4 GiB sparse "
             "files, FIFO, /dev/zero, 65535 declared tracks, tuplet bombs",
             "`pretrain --data` (file alone in the folder)", melody_cases, pretrain_data,
             ["out", "cache"], None)  # fmt: skip

    # the same melodies among good tunes: skipped and counted, the good tune kept
    outcomes = []
    for case in pick(hostile.MELODIES, quick):
        sandbox = _sandbox(root, case.name)
        data = sandbox / "data"
        data.mkdir()
        case.build(data, sandbox / hostile.MARKER_NAME)
        (data / "good.abc").write_text(hostile.ABC_GOOD)

        def load(data=data, sandbox=sandbox):
            from pretrain.corpus import load_corpus  # noqa: PLC0415

            corpus = load_corpus(data, cache_dir=sandbox / "cache", workers=1, progress=False)
            return corpus.report.kept

        result = run_bounded(load, headroom_mb=1536, timeout_s=90)
        problems = [] if result.status == "returned" and result.value >= 1 else [
            f"{result.status} {result.error_type} {result.message[:80]}"]  # fmt: skip
        outcomes.append((case.name, problems))
    row("the same melody files among good tunes", "`load_corpus` (pretrain's loader)",
        len(outcomes), summarise(outcomes).replace(
            "one-line error naming the file", "hostile file skipped and counted, good tune kept"))  # fmt: skip


def _trained_run(root: Path) -> Path:
    from tests.security.cli_cases import run_cli_case  # noqa: PLC0415

    base = root / "trained"
    trained = run_cli_case(
        ["train", "--out", str(base / "sandbox" / "out"), "--steps", "64", "--samples", "2",
         "--export", "0", "--checkpoint-every", "32", "--learning-starts", "16", "--no-progress"],
        base / "sandbox", allowed=["out"],
    )  # fmt: skip
    assert trained.code == 0, trained.stderr or trained.error
    run_folder = base / "sandbox" / "out"
    return run_folder


def _agent_and_run_rows(root: Path, quick: bool, run_folder: Path) -> None:
    from tests.security import hostile  # noqa: PLC0415

    agent_cases = [(n, f) for n, f in pick(list(hostile.agent_cases().items()), quick)]

    def sample_agent(sandbox, mutate):
        agent = sandbox / "agent"
        shutil.copytree(
            run_folder, agent, ignore=shutil.ignore_patterns("checkpoints", "tensorboard")
        )
        path = mutate(agent, sandbox / hostile.MARKER_NAME)
        argv = ["sample", "--agent", str(path), "--n", "2",
                "--out", str(sandbox / "out" / "s.jsonl"), "--no-progress"]  # fmt: skip
        return argv, [str(agent)]

    _cli_rows(root, "agent checkpoints: pickles (.pt, SB3 .zip, inside .safetensors), wrong shapes, NaN "
             "weights, 10^6-unit config, float/str sizes, temperature 0/NaN/str, melody length "
             "10^9, ../ algo and key, deep and 4 GiB JSON, /dev/zero, FIFO",
             "`sample --agent CKPT`", agent_cases, sample_agent, ["out"], None,
             hostile.TOLERATED_AGENT_CASES)  # fmt: skip

    run_cases = [(n, f) for n, f in pick(list(hostile.run_cases().items()), quick)]

    def train_resume(sandbox, mutate):
        run = sandbox / "out"
        shutil.copytree(run_folder, run)
        mutate(run, sandbox / hostile.MARKER_NAME)
        argv = ["train", "--resume", "--out", str(run), "--samples", "2", "--export", "0",
                "--no-progress"]  # fmt: skip
        return argv, [str(run)]

    _cli_rows(root, "train run folders: run.json with ../ algo, foreign SB3 kwargs, 10^9 envs, deep JSON; "
             "latest.json naming .., /tmp, ../../x; pickled or shrunk agent/training tensors; "
             "10^6-unit config; 10^12-transition buffer; 1e400 counters",
             "`train --resume`", run_cases, train_resume, ["out"], None)  # fmt: skip


def _resume_state_row(root: Path, quick: bool) -> None:
    from tests.security import hostile  # noqa: PLC0415
    from tests.security.test_hostile_resume import tiny_run  # noqa: PLC0415
    from tests.test_determinism import write_data  # noqa: PLC0415

    resume_base = root / "pretrained" / "run"
    tiny_run(resume_base)
    resume_cases = [(n, f) for n, f in pick(
        list(hostile.resume_cases(resume_base / "resume.safetensors").items()), quick)]  # fmt: skip

    def pretrain_resume(sandbox, mutate):
        out = sandbox / "out"
        shutil.copytree(resume_base, out)
        mutate(out / "resume.safetensors", sandbox / hostile.MARKER_NAME)
        data = write_data(sandbox / "data")
        argv = ["pretrain", "--resume", "--out", str(out), "--data", str(data),
                "--cache-dir", str(sandbox / "cache"), "--no-progress", "--no-tensorboard"]  # fmt: skip
        return argv, [str(out)]

    _cli_rows(root, "pretrain resume states: pickles, truncated, 2^62 header, state JSON nested 100k deep, "
             "10^6 / 8.5 / \"16\" hidden size, missing / misshapen / float64 tensors, ../ strings, "
             "FIFO, /dev/zero", "`pretrain --resume`", resume_cases, pretrain_resume,
             ["out", "cache"], None, {"resume:float64"})  # fmt: skip


def _sample_file_rows(root: Path, quick: bool, run_folder: Path) -> None:
    from tests.security import hostile  # noqa: PLC0415

    jsonl_cases = [(n, f) for n, f in pick(list(hostile.jsonl_cases().items()), quick)]

    def evaluate(sandbox, build):
        (sandbox / "in").mkdir()
        path = build(sandbox / "in")
        return ["evaluate", str(path), "--out", str(sandbox / "out")], [str(path)]

    _cli_rows(root, "sample files: random bytes, truncated, nested 100k deep, 4 GiB without a newline, "
             "seed 1e400 / NaN, tokens out of range / float / nested / 100k long, unknown key, "
             "../ agent and key, FIFO, /dev/zero", "`evaluate FILE`", jsonl_cases, evaluate,
             ["out"], None, hostile.TOLERATED_JSONL_CASES)  # fmt: skip

    report_cases = [(n, f) for n, f in pick(list(hostile.report_cases().items()), quick)]

    def report(sandbox, mutate):
        run = sandbox / "run"
        shutil.copytree(run_folder, run)
        mutate(run)
        argv = ["report", str(run), "--out", str(sandbox / "out"), "--no-audio",
                "--n-compositions", "1"]  # fmt: skip
        return argv, [str(run)]

    _cli_rows(root, "train run folders for the report page: corrupt TensorBoard event files (random, "
             "2^62-byte record), sample lines nested 100k deep or with seed 1e400, ../ agent "
             "names, a 4 GiB sparse CSV, a FIFO named .csv", "`report RUN`", report_cases,
             report, ["out"], None, hostile.TOLERATED_REPORT_CASES)  # fmt: skip


def _console_script_row(root: Path) -> None:
    from tests.security import hostile  # noqa: PLC0415

    # one real console-script process per loading path
    outcomes = []
    for argv_tail, label in (
        (["sample", "--agent", "note-rnn", "--note-rnn", "{ckpt}", "--n", "1", "--out", "{out}/s.jsonl"], "sample"),
        (["train", "--note-rnn", "{ckpt}", "--out", "{out}/run", "--steps", "64"], "train"),
        (["evaluate", "{ckpt}", "--out", "{out}/eval"], "evaluate"),
    ):  # fmt: skip
        folder = Path(tempfile.mkdtemp(dir=root))
        marker = folder / hostile.MARKER_NAME
        ckpt = hostile.ckpt_pickle_as_safetensors(folder, marker)
        argv = [a.format(ckpt=ckpt, out=folder) for a in argv_tail]
        done = subprocess.run([sys.executable, "-m", "sequence_tutor.cli", *argv], capture_output=True,
                              text=True, timeout=600, cwd=REPO)  # fmt: skip
        problems = []
        if marker.exists():
            problems.append("CODE RAN")
        if done.returncode != 2 or done.stderr.count("\n") != 1 or "Traceback" in done.stderr:
            problems.append(f"exit {done.returncode}, stderr {done.stderr[-120:]!r}")
        outcomes.append((label, problems))
    row("a pickle inside m.safetensors, through the real console script (a new process)",
        "`python -m sequence_tutor.cli sample / train / evaluate`", len(outcomes),
        summarise(outcomes).replace("no code ran, no write outside, one-line error naming the "
                                    "file", "exit 2, one stderr line, no traceback"))  # fmt: skip


# --------------------------------------------------------------------------- faults


def fault_rows(root: Path, quick: bool) -> None:
    from tests.security import runs  # noqa: PLC0415

    runs.warm_up()
    # kill -9 during pretrain
    reference = root / "pretrain-reference"
    start = time.perf_counter()
    runs.run_pretrain(reference, epochs=80)
    duration = time.perf_counter() - start  # kills land inside the first half of a run's time
    expected = runs.fingerprint(reference)
    n_runs, kills_per_run = (1, 3) if quick else (3, 5)
    kills = identical = 0
    worst_lost = 0
    files_checked = 0
    leftovers = 0
    for r in range(n_runs):
        out, log = root / f"pretrain-killed-{r}", root / f"pretrain-log-{r}.txt"
        rng = random.Random(1000 + r)
        for _ in range(kills_per_run):
            pid = runs.fork_call(runs.run_pretrain, out, log, epochs=80)
            if runs.kill_at(pid, rng.uniform(0.05, 0.5 * duration)):
                kills += 1
            found = runs.inspect_pretrain_out(out)  # raises on a torn file
            files_checked += 1
            leftovers = max(leftovers, found["temp_files"])
            logged = runs.last_logged_epoch(log)
            if found["resume_step"] is not None:
                lost = logged * runs.TINY_PRETRAIN["steps_per_epoch"] - found["resume_step"]
                worst_lost = max(worst_lost, lost)
        assert runs.wait(runs.fork_call(runs.run_pretrain, out, log, epochs=80)) == 0
        identical += runs.fingerprint(out) == expected
    interval = runs.TINY_PRETRAIN["steps_per_epoch"]
    row("SIGKILL at random moments during `pretrain`, then `--resume`", "`pretrain --resume`",
        f"{kills} kills in {n_runs} runs",
        f"all {files_checked} inspections found complete files (checkpoint + resume state load); "
        f"resume state at most {worst_lost} steps behind the last finished epoch (so less than one "
        f"checkpoint interval of {interval} steps lost); resumed runs bit-identical to "
        f"the uninterrupted run: {identical}/{n_runs}; at most {leftovers} orphaned .tmp file(s) "
        "of an interrupted write left in the folder (never read)")  # fmt: skip

    train_fault_row(root, quick)

    # read-only and full output folders
    row_read_only(root)
    row_full_disk(root)
    row_disk_fills(root)


def train_fault_row(root: Path, quick: bool) -> None:
    """kill -9 during ``train``, then ``--resume``: compared with an uninterrupted run."""
    from tests.security import runs  # noqa: PLC0415
    from tests.security.cli_cases import warm_imports  # noqa: PLC0415

    warm_imports()
    reference = root / "train-reference"
    start = time.perf_counter()
    assert runs.wait(runs.fork_call(runs.run_train, reference)) == 0
    duration = time.perf_counter() - start
    out = root / "train-killed"
    rng = random.Random(7)
    train_kills = 0
    worst = 0
    inspections = 0
    resumed_from = []  # non-zero checkpoint steps that a restart continued from
    for _ in range(2 if quick else 5):
        pid = runs.fork_call(runs.run_train, out)
        train_kills += runs.kill_at(pid, rng.uniform(0.2, 0.6) * duration)
        found = runs.inspect_train_out(out)
        inspections += 1
        if found["latest"] is not None:
            worst = max(worst, found["newest"] - found["latest"])
            if found["latest"] not in resumed_from:
                resumed_from.append(found["latest"])
    assert runs.wait(runs.fork_call(runs.run_train, out)) == 0
    other_seed = root / "train-seed4"
    assert runs.wait(runs.fork_call(runs.run_train, other_seed, "--seed", "4")) == 0
    drift = _policy_distance(out, reference)
    noise = _policy_distance(other_seed, reference)
    row("SIGKILL at random moments during `train`, then `--resume`", "`train --resume`",
        f"{train_kills} kills",
        f"latest.json named a complete checkpoint in {inspections}/{inspections} inspections; "
        f"newest step folder at most {worst} steps past it (interval {runs.TRAIN_INTERVAL}); "
        f"resumed run finished; resumed vs uninterrupted policy: mean absolute Δ log π {drift:.3f} nats "
        f"(another seed: {noise:.3f}); weights bit-identical to the uninterrupted run: "
        f"{'yes' if _same_weights(out, reference) else 'no'} (resumed from steps "
        f"{', '.join(map(str, resumed_from)) or 'none: every restart began from scratch'})")  # fmt: skip


def _same_weights(a: Path, b: Path) -> bool:
    import torch  # noqa: PLC0415
    from safetensors.torch import load_file  # noqa: PLC0415

    wa, wb = load_file(str(a / "agent.safetensors")), load_file(str(b / "agent.safetensors"))
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def _policy_distance(a: Path, b: Path) -> float:
    """Mean absolute difference of the two agents' log-policies over 64 random prefixes."""
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415

    from agents.agent_file import load_agent_policy  # noqa: PLC0415

    pa, meta = load_agent_policy(a)
    pb, _ = load_agent_policy(b)
    rng = np.random.default_rng(0)
    T = meta["melody_length"]
    obs = np.full((64, T + 1), 38, dtype=np.int64)
    for i in range(64):
        t = int(rng.integers(1, T + 1))
        obs[i, :t] = rng.integers(0, 38, t)
    with torch.no_grad():
        qa = pa.q_net(torch.as_tensor(obs))
        qb = pb.q_net(torch.as_tensor(obs))
    la, lb = torch.log_softmax(qa, -1), torch.log_softmax(qb, -1)
    return float((la - lb).abs().mean())


def _mount(target: Path, options: str) -> bool:
    if os.geteuid() != 0:
        return False
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
                          capture_output=True)  # fmt: skip
    return done.returncode == 0


def _umount(target: Path) -> None:
    subprocess.run(["umount", "-l", str(target)], check=False, capture_output=True)


def _cli_timed(argv: list[str], sandbox: Path, allowed: list[str]):
    from tests.security.cli_cases import run_cli_case  # noqa: PLC0415

    start = time.perf_counter()
    outcome = run_cli_case(argv, sandbox, allowed=allowed)
    return outcome, time.perf_counter() - start


def _start_check_rows(root: Path, label: str, mount_options: str, expect: str) -> None:
    results = []
    for command in ("pretrain", "train"):
        sandbox = root / f"{label}-{command}" / "sandbox"
        sandbox.mkdir(parents=True)
        target = sandbox / "mnt"
        if os.geteuid() != 0:
            target.mkdir()
            if "ro" in mount_options:
                target.chmod(0o555)
            else:
                results.append((command, None, "needs root for a small tmpfs"))
                continue
        elif not _mount(target, mount_options):
            results.append((command, None, "mount failed"))
            continue
        try:
            if command == "pretrain":
                argv = ["pretrain", "--out", str(target / "run"), "--no-progress",
                        "--cache-dir", str(sandbox / "cache")]  # fmt: skip
            else:
                argv = ["train", "--out", str(target / "run"), "--no-progress"]
            outcome, seconds = _cli_timed(argv, sandbox, allowed=["mnt", "cache"])
            cache = sandbox / "cache"
            untouched = not cache.exists() or not any(cache.iterdir())  # no corpus work spent
            one_line = "\n" not in outcome.stderr.strip()
            ok = outcome.code == 2 and expect in outcome.stderr and one_line and untouched
            message = outcome.stderr.strip()
            message = "output folder" + message.split(": output folder", 1)[-1]
            results.append((command, ok, f"after {seconds:.1f} s: {message}"))
        finally:
            if os.geteuid() == 0:
                _umount(target)
    passed = [c for c, ok, _ in results if ok]
    detail = "; ".join(f"{c} {'ok' if ok else 'FAIL' if ok is False else 'skipped'} ({d})"
                       for c, ok, d in results)  # fmt: skip
    what = "read-only output folder" if label == "ro" else "full disk (1 MiB tmpfs)"
    row(what, "`pretrain --out`, `train --out`", len(results),
        f"{len(passed)}/{len(results)} fail at start, before the corpus or env is built, with "
        f"one line: {detail}")  # fmt: skip


def row_read_only(root: Path) -> None:
    _start_check_rows(root, "ro", "ro,size=1m", "not writable")


def row_full_disk(root: Path) -> None:
    _start_check_rows(root, "full", "size=1m", "free")


def row_disk_fills(root: Path) -> None:
    """Disk fills after the first checkpoint: EFBIG (RLIMIT_FSIZE) and a real ENOSPC (tmpfs)."""
    import resource  # noqa: PLC0415
    import signal  # noqa: PLC0415

    from tests.security import runs  # noqa: PLC0415
    from tests.security.bounded import run_bounded  # noqa: PLC0415

    def attempt(out: Path, limit: int | None) -> dict:
        def child():
            if limit is not None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
            try:
                runs.run_pretrain(out, epochs=6)
            except OSError as exc:
                return {"errno": exc.errno, "file": Path(exc.filename or "").name}
            return {"errno": None}

        return run_bounded(child, timeout_s=120).value or {}

    results = []
    out = root / "fills-rlimit" / "run"
    runs.run_pretrain(out, epochs=2)
    before = (out / "resume.safetensors").read_bytes()
    got = attempt(out, (out / "resume.safetensors").stat().st_size // 2)
    intact = (out / "resume.safetensors").read_bytes() == before
    runs.inspect_pretrain_out(out)
    results.append(f"RLIMIT_FSIZE: errno {got.get('errno')} naming {got.get('file')}, "
                   f"previous state intact: {intact}")  # fmt: skip
    target = root / "fills-tmpfs"
    if _mount(target, "size=1m"):
        try:
            out = target / "run"
            runs.run_pretrain(out, epochs=2)
            before = (out / "resume.safetensors").read_bytes()
            fd = os.open(target / "filler", os.O_WRONLY | os.O_CREAT)
            try:
                while os.write(fd, b"\0" * 4096):
                    pass
            except OSError:
                pass
            finally:
                os.close(fd)
            got = attempt(out, None)
            intact = (out / "resume.safetensors").read_bytes() == before
            runs.inspect_pretrain_out(out)
            results.append(f"tmpfs: errno {got.get('errno')} naming {got.get('file')}, "
                           f"previous state intact: {intact}")  # fmt: skip
        finally:
            _umount(target)
    row("disk fills after the first checkpoint (EFBIG via RLIMIT_FSIZE; ENOSPC on a full tmpfs)",
        "`pretrain` checkpoint writes", len(results), "; ".join(results))  # fmt: skip


# --------------------------------------------------------------------------- properties, determinism


def property_rows(quick: bool) -> None:
    tests = ["tests/test_properties.py"]
    marker = "not slow" if quick else ""
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests]
    if marker:
        args += ["-m", marker]
    done = subprocess.run(args, capture_output=True, text=True, cwd=REPO, timeout=1800)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-200:]
    row("hypothesis property tests: random action sequences, invalid actions, resets mid-episode, "
        "21 tonics x 9 music21 modes, T = 1..10 000, extreme c and w; random note lists with "
        "tuplets, ties, rests, out-of-range pitches; random ABC tunes and folders",
        "env, tokenizer, ABC reader, `load_corpus`", summary.split(" in ")[0],
        "no crash other than the documented errors; invariants hold" if done.returncode == 0
        else f"**FAILED**: {summary}")  # fmt: skip


def determinism_rows(root: Path) -> None:
    from pretrain.corpus import load_corpus  # noqa: PLC0415
    from tests.security import runs  # noqa: PLC0415
    from tests.test_determinism import write_data  # noqa: PLC0415

    data = write_data(root / "det-data")
    copy = root / "det-copy" / "data"
    shutil.copytree(data, copy)
    builds = [
        load_corpus(data, cache_dir=root / "det-c1", workers=1, progress=False),
        load_corpus(data, cache_dir=root / "det-c2", workers=1, progress=False, rebuild=True),
        load_corpus(copy, cache_dir=root / "det-c3", workers=2, progress=False),
    ]
    caches = {Path(b.report.cache_path).read_bytes() for b in builds}
    row("same inputs, rebuilt, and copied elsewhere (1 and 2 workers)", "corpus cache (.npz)",
        len(builds), f"{'identical bytes' if len(caches) == 1 else '**DIFFER**'} "
        f"({builds[0].report.kept} tunes)")  # fmt: skip

    outs = [root / f"det-pretrain-{i}" for i in range(2)]
    for out in outs:
        runs.run_pretrain(out, epochs=4)
    same = runs.fingerprint(outs[0]) == runs.fingerprint(outs[1])
    done = []
    for hash_seed in ("1", "2"):
        out = root / f"det-cli-{hash_seed}"
        argv = [sys.executable, "-m", "sequence_tutor.cli", "pretrain", "--data", str(data),
                "--cache-dir", str(root / f"det-cc{hash_seed}"), "--out", str(out), "--hidden", "16",
                "--epochs", "3", "--steps-per-epoch", "4", "--batch-size", "8", "--window", "32",
                "--no-progress", "--no-tensorboard"]  # fmt: skip
        subprocess.run(argv, cwd=REPO, env=dict(os.environ, PYTHONHASHSEED=hash_seed),
                       capture_output=True, timeout=600, check=True)  # fmt: skip
        done.append((out / "note_rnn_lstm.safetensors").read_bytes())
    row("same seed, twice in one process and in two processes with different hash seeds",
        "`pretrain` (weights, per-epoch validation metrics)", 4,
        f"{'identical' if same and done[0] == done[1] else '**DIFFER**'} weights and metrics")  # fmt: skip

    files = []
    for i in range(2):
        out = root / f"det-samples-{i}.jsonl"
        subprocess.run([sys.executable, "-m", "sequence_tutor.cli", "sample", "--agent", "note-rnn",
                        "--n", "200", "--seed", "3", "--out", str(out), "--no-progress"],
                       cwd=REPO, capture_output=True, timeout=600, check=True)  # fmt: skip
        files.append(out.read_bytes())
    lines = files[0].count(b"\n")
    row("same seed, two processes", "`sample --agent note-rnn --n 200`", 2,
        f"{'identical JSONL bytes' if files[0] == files[1] else '**DIFFER**'} ({lines} "
        "compositions)")  # fmt: skip


# --------------------------------------------------------------------------- GPU


def gpu_determinism(steps: int = 60) -> list[dict]:
    """Train the LSTM and RHN Note RNNs twice on CUDA with one seed and compare the weights."""
    import torch  # noqa: PLC0415
    import torch.nn.functional as F  # noqa: PLC0415

    from pretrain.models import NoteRNNConfig, build_note_rnn  # noqa: PLC0415

    def train(kind: str, device: str, deterministic: bool) -> tuple[torch.Tensor, float]:
        torch.use_deterministic_algorithms(deterministic, warn_only=False)
        torch.manual_seed(0)
        config = NoteRNNConfig(kind=kind, hidden_size=100 if kind == "lstm" else 90)
        model = build_note_rnn(config).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        generator = torch.Generator().manual_seed(1)
        data = torch.randint(0, 38, (steps, 64, 129), generator=generator)
        loss = torch.zeros(())
        for step in range(steps):
            batch = data[step].to(device)
            logits, _ = model(batch[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, 38), batch[:, 1:].reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
        flat = torch.cat([p.detach().reshape(-1).cpu().double() for p in model.parameters()])
        return flat, float(loss.detach())

    results = []
    for kind in ("lstm", "rhn"):
        cpu, cpu_loss = train(kind, "cpu", False)
        for deterministic in (False, True):
            try:
                a, loss_a = train(kind, "cuda", deterministic)
                b, loss_b = train(kind, "cuda", deterministic)
            except RuntimeError as exc:  # an op without a deterministic CUDA kernel
                results.append({"model": kind, "deterministic": deterministic,
                                "error": str(exc).splitlines()[0][:160]})  # fmt: skip
                continue
            results.append({
                "model": kind,
                "deterministic": deterministic,
                "run_vs_run_max_abs": float((a - b).abs().max()),
                "bit_identical": bool(torch.equal(a, b)),
                "gpu_vs_cpu_max_abs": float((a - cpu).abs().max()),
                "loss_gpu": loss_a,
                "loss_cpu": cpu_loss,
            })  # fmt: skip
        torch.use_deterministic_algorithms(False)
    # sampling: the same seed on the GPU
    probs = torch.softmax(torch.randn(256, 38, generator=torch.Generator().manual_seed(2)), -1)
    draws = []
    for _ in range(2):
        g = torch.Generator(device="cuda").manual_seed(5)
        draws.append(torch.multinomial(probs.cuda(), 32, replacement=True, generator=g).cpu())
    results.append({"model": "multinomial sampling", "bit_identical": bool(torch.equal(*draws))})
    for r in results:
        print(json.dumps(r))
    return results


# --------------------------------------------------------------------------- main


GPU_NOTE = """\
### GPU nondeterminism

Everything above runs on CPU, where the same seed gives the same bytes (the tests check it). On
CUDA, kernels may add floating-point numbers in a different order from run to run (atomic adds in
backward passes, cuBLAS split-K reductions), so two trainings with one seed can drift apart in
the last bits, and training amplifies the drift. `torch.use_deterministic_algorithms(True)` with
`CUBLAS_WORKSPACE_CONFIG=:4096:8` selects reproducible kernels where PyTorch has them (and raises
for an op without one). GPU and CPU results agree only to rounding, never bit for bit, so a
checkpoint trained on a GPU is reproducible on that GPU type and software stack at best.
Measured with `python benchmarks/reliability.py --gpu-determinism` on one NVIDIA H100
(PyTorch 2.11, CUDA 13): our LSTM and RHN Note RNNs trained for 60 Adam steps (B = 64, T = 128)
twice with one seed. The cuDNN LSTM happened to repeat bit for bit; the RHN (our fused
hand-written backward) did not until deterministic algorithms were switched on; GPU vs CPU
weights differ by up to 1e-3 (LSTM) and 8e-5 (RHN) after 60 steps. Sampling with a seeded CUDA
generator repeated exactly.
"""


TESTS_NOTE = """\
### Where this is tested

`python -m pytest -m "not slow" tests/security tests/test_faults.py tests/test_determinism.py
tests/test_properties.py` (about 80 s on 2 cores) runs every hostile checkpoint, melody and resume
state against its library loader, a representative few through each command, one real
console-script process, a kill -9 / resume cycle of `pretrain`, the read-only / full-disk /
disk-fills-mid-run cases and the determinism and property tests. The slow tests
(`-m slow`) sweep every hostile file through every command (the rows above), kill `pretrain` 25
more times and `train` 4 times, and compare two `pretrain` processes with different hash seeds.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few cases per row")
    parser.add_argument("--out", type=Path, default=None, help="also write this Markdown file")
    parser.add_argument("--gpu-determinism", action="store_true", help="only the CUDA check")
    parser.add_argument("--gpu-results", type=Path, default=None,
                        help="JSON lines of an earlier --gpu-determinism run to include")  # fmt: skip
    args = parser.parse_args()
    if args.gpu_determinism:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        gpu_determinism()
        return 0
    import torch  # noqa: PLC0415

    torch.set_num_threads(1)
    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="reliability-"))
    print("| fault / hostile input | loading path | cases | result |")
    print("|---|---|---|---|")
    try:
        hostile_rows(root, args.quick)
        fault_rows(root, args.quick)
        property_rows(args.quick)
        determinism_rows(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    minutes = (time.perf_counter() - started) / 60
    print(f"\n({minutes:.1f} minutes)")
    if args.out is not None:
        write_markdown(args, minutes)
    return 0


def write_markdown(args: argparse.Namespace, minutes: float) -> None:
    command = "python benchmarks/reliability.py" + (" --quick" if args.quick else "") + (
        f" --gpu-results {args.gpu_results}" if args.gpu_results else "") + f" --out {args.out}"  # fmt: skip
    lines = [
        "## Reliability",
        "",
        f"Produced by `{command}` ({minutes:.1f} minutes on 2 CPU cores, shared). Every row is a "
        "real run: hostile files are crafted by `tests/security/hostile.py`; each command runs "
        "in a forked child under a 1.5 GiB address-space ceiling with HOME, TMPDIR and the "
        "cache inside a sandbox whose every file is compared before and after.",
        "",
        "| fault / hostile input | loading path | cases | result |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in ROWS],
        "",
        TESTS_NOTE,
        GPU_NOTE,
    ]
    if args.gpu_results is not None and args.gpu_results.exists():
        lines += ["| model | deterministic algorithms | run vs run (max abs weight diff) | "
                  "bit-identical | GPU vs CPU (max abs) |", "|---|---|---|---|---|"]  # fmt: skip
        for line in args.gpu_results.read_text().splitlines():
            r = json.loads(line)
            if "error" in r:
                lines.append(f"| {r['model']} | {r['deterministic']} | error: {r['error']} | | |")
            elif "run_vs_run_max_abs" in r:
                lines.append(f"| {r['model']} | {r['deterministic']} | {r['run_vs_run_max_abs']:.3g} | "
                             f"{r['bit_identical']} | {r['gpu_vs_cpu_max_abs']:.3g} |")  # fmt: skip
            else:
                lines.append(f"| {r['model']} | | | {r['bit_identical']} | |")
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
